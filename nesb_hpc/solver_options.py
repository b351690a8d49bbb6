"""PETSc options of the solvers: the nesb_ prefix, precedence, and a probe of the input's options.

Every solver has the prefix ``nesb_``. Precedence: command line (-nesb_ksp_type ...) > the input's
[solver.petsc_options] > the route's defaults (routes.py). Options inserted here are removed after
setFromOptions, so they never leak into another solver. ``probe_options`` sets the routes up on a
tiny system before a study, so that options PETSc never reads (typos) and values it refuses are
input errors instead of a traceback per rank at the first solve.
"""

from __future__ import annotations

from contextlib import contextmanager

from petsc4py import PETSc

from .routes import ROUTES, Route, SolverSettings, candidate_routes

PREFIX = "nesb_"


def lu_package() -> str:
    """MUMPS if this PETSc has it, else SuperLU_dist (checked once per process)."""
    for name in ("mumps", "superlu_dist"):
        if PETSc.Sys.hasExternalPackage(name):
            return name
    return "petsc"


def route_options(route: Route | str, settings: SolverSettings) -> dict[str, str]:
    """The route's PETSc defaults (below the input's and the command line's options)."""
    route = ROUTES[route] if isinstance(route, str) else route
    return route.options(settings, lu_package())


@contextmanager
def petsc_options(defaults: dict[str, str], user: tuple[tuple[str, str], ...], prefix: str = PREFIX):
    """Insert defaults and the input's options under `prefix`, unless the command line set them.

    Yields the effective option dict (what was in force, whoever set it); removes what it added.
    """
    opts = PETSc.Options()
    merged = {**defaults, **dict(user)}
    added, effective = [], {}
    for key, value in merged.items():
        name = prefix + key
        if opts.hasName(name):
            effective[key] = opts.getString(name, "")
        else:
            opts.setValue(name, value)
            added.append(name)
            effective[key] = value
    try:
        yield effective
    finally:
        for name in added:
            opts.delValue(name)


class OptionsRejected(ValueError):
    """PETSc refused the options in force (an unknown type, a malformed value): PETSc's message."""


def petsc_error_text(exc: Exception) -> str:
    """PETSc's own message of a petsc4py error (its trace without the call stack)."""
    lines = [line for line in getattr(exc, "_traceback_", None) or [] if "() at " not in line]
    return "; ".join(lines[-2:]) or f"PETSc error code {getattr(exc, 'ierr', '?')}"


def _probe_system():
    """A tiny nonsingular 8x8 system (two 'ADOs', block size 4) on COMM_SELF."""
    A = PETSc.Mat().createAIJ((8, 8), bsize=BS_PROBE, nnz=3, comm=PETSc.COMM_SELF)
    for i in range(8):
        A.setValue(i, i, 2.0 + i)
        A.setValue(i, (i + 4) % 8, 0.5)
    A.assemble()
    b = A.createVecLeft()
    b.set(1.0)
    return A, b


BS_PROBE = 4


def probe_options(method: str, settings: SolverSettings) -> list[str] | None:
    """Not collective (COMM_SELF; every rank may call it). Set up and run each route that
    `method` may take ("auto": direct, iterative and tier) on a tiny system, with the input's options in
    force as in a real solve. Returns the input's option names that no route read (typos: PETSc
    never looks them up), or None if PETSc cannot tell. Raises OptionsRejected if PETSc refuses a
    value (e.g. ksp_type = "nonexistent"), with PETSc's message."""
    from . import petsc_env

    unused: set[str] | None = {name for name, _ in settings.petsc_options}
    for route in candidate_routes(method):
        try:
            left = _probe_route(route, settings, petsc_env.unused_options)
        except PETSc.Error as exc:
            raise OptionsRejected(f'method "{route.name}": {petsc_error_text(exc)}') from None
        if left is None:
            unused = None
        elif unused is not None:
            unused &= {name for name in unused if PREFIX + name in left}
    return None if unused is None else sorted(unused)


class _IdentityPC:
    """The probe's stand-in for a route's own preconditioner (a PCSHELL context)."""

    def apply(self, pc, x, y):
        x.copy(y)


def _probe_route(route: Route, settings: SolverSettings, left_now) -> list[str] | None:
    A, b = _probe_system()
    x = b.duplicate()
    solver = None
    try:
        with petsc_options(route_options(route, settings), settings.petsc_options):
            if route.system == "null_vector":
                from slepc4py import SLEPc

                solver = SLEPc.EPS().create(comm=PETSc.COMM_SELF)
                solver.setOptionsPrefix(PREFIX)
                solver.setOperators(A)
                solver.setTarget(settings.slepc_target)
                solver.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
                solver.setFromOptions()
                solver.solve()
            else:
                solver = PETSc.KSP().create(comm=PETSc.COMM_SELF)
                solver.setOptionsPrefix(PREFIX)
                solver.setOperators(A)
                if route.system == "matrix_free":      # its preconditioner is set in code, as here
                    solver.getPC().setType(PETSc.PC.Type.PYTHON)
                    solver.getPC().setPythonContext(_IdentityPC())
                solver.setFromOptions()
                solver.setUp()
                solver.solve(b, x)
            return left_now()
    finally:
        for obj in (solver, x, b, A):
            if obj is not None:
                obj.destroy()


