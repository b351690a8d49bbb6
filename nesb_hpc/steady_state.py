"""Steady state of the HEOM: KSP linear solves (direct or iterative) and a SLEPc null vector.

Routes (``[solver] method``):
  direct     L' y = e_0 (trace row replaced, liouvillian.impose_steady_state_conditions) by
             GMRES preconditioned with a full LU (MUMPS, else SuperLU_dist): the LU solves it,
             a few GMRES steps refine the factorisation's rounding on ill-conditioned points;
  iterative  the same system by restarted GMRES with a block-Jacobi/ILU preconditioner;
  slepc      the null vector of the unmodified L by shift-and-invert Krylov-Schur (target a small
             positive shift), normalised to Tr rho_00 = 1 afterwards;
  auto       direct below AUTO_DIRECT_MAX_UNKNOWNS unknowns, iterative above.

PETSc options: every solver has the prefix ``nesb_``. Precedence: command line
(-nesb_ksp_type ...) > the input's [solver.petsc_options] > these defaults. Options inserted here
are removed after setFromOptions, so they never leak into another solver.
Converged reason and the true relative residual ||b - A y|| / ||b|| are always reported.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from petsc4py import PETSc

PREFIX = "nesb_"
AUTO_DIRECT_MAX_UNKNOWNS = 20_000  # MUMPS fills in almost completely: 80 s at 135k unknowns


@dataclass(frozen=True)
class SolverSettings:
    method: str = "auto"
    rtol: float = 1e-12
    max_it: int = 2000
    slepc_target: float = 1e-10
    petsc_options: tuple[tuple[str, str], ...] = ()


@dataclass
class SolveReport:
    method: str
    converged: bool
    reason: str
    iterations: int
    residual: float             # true relative residual ||b - A y|| / ||b|| (slepc: ||L y|| / ||L|| ||y||)
    options: dict = field(default_factory=dict)
    setup_s: float = 0.0
    solve_s: float = 0.0
    message: str = ""


def _direct_solver_type() -> str:
    """MUMPS if this PETSc has it, else SuperLU_dist (checked once per process)."""
    for name in ("mumps", "superlu_dist"):
        if PETSc.Sys.hasExternalPackage(name):
            return name
    return "petsc"


def default_options(method: str, settings: SolverSettings) -> dict[str, str]:
    """Our defaults for a route (below the input's and the command line's options)."""
    # right preconditioning: the monitored residual is the true one
    common = {"ksp_rtol": repr(settings.rtol), "ksp_atol": "1e-50", "ksp_max_it": str(settings.max_it),
              "ksp_pc_side": "right"}
    if method == "direct":
        return {**common, "ksp_type": "gmres", "ksp_gmres_restart": "30", "ksp_max_it": "30",
                "ksp_rtol": repr(min(settings.rtol, 1e-12)),
                "pc_type": "lu", "pc_factor_mat_solver_type": _direct_solver_type()}
    if method == "iterative":
        return {**common, "ksp_type": "gmres", "ksp_gmres_restart": "100",
                "ksp_gmres_modifiedgramschmidt": "true",
                "pc_type": "bjacobi", "sub_pc_type": "ilu", "sub_pc_factor_levels": "1",
                # the matrix is numbered top tier first (liouvillian.reverse_numbering), so the
                # natural order factors rho_00's singular block last, after its fill has arrived
                "sub_pc_factor_mat_ordering_type": "natural",
                # exact zero pivots remain possible for special couplings (theta = pi/2): shift
                # them; the true-residual check below guards the result
                "sub_pc_factor_shift_type": "nonzero"}
    if method == "slepc":
        return {"eps_type": "krylovschur", "eps_nev": "1", "eps_tol": repr(max(settings.rtol, 1e-14)),
                "eps_max_it": str(settings.max_it), "st_type": "sinvert",
                "st_ksp_type": "preonly", "st_pc_type": "lu",
                "st_pc_factor_mat_solver_type": _direct_solver_type()}
    raise ValueError(f"unknown method {method!r}")


MAX_REFINEMENTS = 3


def acceptable_residual(settings: SolverSettings) -> float:
    """The true relative residual a solve must reach to count as converged: 1000 rtol, at least
    1e-10 (GMRES's recurrence residual meets rtol; rounding in applying the preconditioner may
    leave the true one a little above it, never by orders of magnitude in a good solve)."""
    return max(1e3 * settings.rtol, 1e-10)


def choose_method(method: str, n_unknowns: int) -> str:
    """Resolve "auto" (direct below AUTO_DIRECT_MAX_UNKNOWNS unknowns, iterative above)."""
    if method != "auto":
        return method
    return "direct" if n_unknowns <= AUTO_DIRECT_MAX_UNKNOWNS else "iterative"


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
    `method` may take ("auto": direct and iterative) on a tiny system, with the input's options in
    force as in a real solve. Returns the input's option names that no route read (typos: PETSc
    never looks them up), or None if PETSc cannot tell. Raises OptionsRejected if PETSc refuses a
    value (e.g. ksp_type = "nonexistent"), with PETSc's message."""
    from . import petsc_env

    routes = ("direct", "iterative") if method == "auto" else (method,)
    unused: set[str] | None = {name for name, _ in settings.petsc_options}
    for route in routes:
        try:
            left = _probe_route(route, settings, petsc_env.unused_options)
        except PETSc.Error as exc:
            raise OptionsRejected(f'method "{route}": {petsc_error_text(exc)}') from None
        if left is None:
            unused = None
        elif unused is not None:
            unused &= {name for name in unused if PREFIX + name in left}
    return None if unused is None else sorted(unused)


def _probe_route(route: str, settings: SolverSettings, left_now) -> list[str] | None:
    A, b = _probe_system()
    x = b.duplicate()
    solver = None
    try:
        with petsc_options(default_options(route, settings), settings.petsc_options):
            if route == "slepc":
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
                solver.setFromOptions()
                solver.setUp()
                solver.solve(b, x)
            return left_now()
    finally:
        for obj in (solver, x, b, A):
            if obj is not None:
                obj.destroy()


def _reason_name(cls, reason: int) -> str:
    for name in dir(cls):
        if not name.startswith("_") and getattr(cls, name) == reason:
            return name
    return str(reason)


def true_relative_residual(A: PETSc.Mat, x: PETSc.Vec, b: PETSc.Vec) -> float:
    """Collective. ||b - A x|| / ||b|| (2-norms)."""
    r = b.duplicate()
    A.mult(x, r)
    r.aypx(-1.0, b)
    out = r.norm() / b.norm()
    r.destroy()
    return float(out)


def solve_linear(A: PETSc.Mat, b: PETSc.Vec, method: str, settings: SolverSettings) -> tuple[PETSc.Vec, SolveReport]:
    """Collective on A's communicator. Solve A y = b by the "direct" or "iterative" route."""
    ksp = PETSc.KSP().create(comm=A.getComm())
    x = b.duplicate()
    try:
        ksp.setOptionsPrefix(PREFIX)
        ksp.setOperators(A)
        with petsc_options(default_options(method, settings), settings.petsc_options) as effective:
            ksp.setFromOptions()
            t0 = time.perf_counter()
            ksp.setUp()
            t1 = time.perf_counter()
        ksp.solve(b, x)
        reason = ksp.getConvergedReason()
        residual = true_relative_residual(A, x, b)
        iterations = ksp.getIterationNumber()
        accept = acceptable_residual(settings)
        for _ in range(MAX_REFINEMENTS):
            # a converged recurrence with a poor true residual (an unstable preconditioner makes
            # them differ): restart from the current solution, which recomputes the residual
            if not (reason > 0 and residual > accept):
                break
            ksp.setInitialGuessNonzero(True)
            ksp.solve(b, x)
            reason = ksp.getConvergedReason()
            residual = true_relative_residual(A, x, b)
            iterations += ksp.getIterationNumber()
        t2 = time.perf_counter()
        pc_reason = ""
        if reason == PETSc.KSP.ConvergedReason.DIVERGED_PCSETUP_FAILED:
            pc = ksp.getPC()
            code = pc.getFailedReason() if hasattr(pc, "getFailedReason") else "unknown"
            pc_reason = f" (preconditioner set-up failed: {code}; e.g. a zero pivot)"
        name = _reason_name(PETSc.KSP.ConvergedReason, reason) + pc_reason
        converged = reason > 0 and residual <= accept
        if reason > 0 and not converged:
            name = f"INACCURATE (true residual {residual:.1e} > {accept:.0e})"
        message = "" if converged else _advice(method, name, residual)
        report = SolveReport(method, converged, name, iterations, residual,
                             effective, t1 - t0, t2 - t1, message)
        return x, report
    finally:
        ksp.destroy()


def _advice(method: str, reason: str, residual: float) -> str:
    if method == "direct":
        return (f"direct solve did not converge ({reason}, true residual {residual:.2e}); if the "
                "factorisation ran out of memory use method = \"iterative\" or more ranks; if it stagnated, "
                "try -nesb_pc_factor_mat_solver_type superlu_dist or a larger -nesb_ksp_max_it")
    return (f"iterative solve did not converge ({reason}, true residual {residual:.2e}); try a "
            "stronger preconditioner (-nesb_sub_pc_factor_levels 2, -nesb_pc_type asm), a longer "
            "restart (-nesb_ksp_gmres_restart 400), more iterations, or method = \"direct\"")


def solve_null_vector(L: PETSc.Mat, settings: SolverSettings) -> tuple[PETSc.Vec, SolveReport]:
    """Collective. The eigenvector of L with eigenvalue nearest 0 (shift-and-invert), unnormalised."""
    from slepc4py import SLEPc

    eps = SLEPc.EPS().create(comm=L.getComm())
    try:
        eps.setOptionsPrefix(PREFIX)
        eps.setOperators(L)
        eps.setProblemType(SLEPc.EPS.ProblemType.NHEP)
        eps.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
        eps.setTarget(settings.slepc_target)
        with petsc_options(default_options("slepc", settings), settings.petsc_options) as effective:
            eps.setFromOptions()
            t0 = time.perf_counter()
            eps.setUp()
            t1 = time.perf_counter()
        eps.solve()
        t2 = time.perf_counter()
        nconv = eps.getConverged()
        x = L.createVecRight()
        reason = _reason_name(SLEPc.EPS.ConvergedReason, eps.getConvergedReason())
        if nconv < 1:
            return x, SolveReport("slepc", False, reason, eps.getIterationNumber(), float("inf"), effective,
                                  t1 - t0, t2 - t1, "SLEPc found no eigenpair near 0: try a smaller "
                                  "slepc_target, -nesb_eps_ncv 32, or method = \"direct\"")
        lam = eps.getEigenpair(0, x)
        r = x.duplicate()
        L.mult(x, r)
        residual = float(r.norm() / (L.norm(PETSc.NormType.FROBENIUS) * x.norm()))
        r.destroy()
        message = f"eigenvalue nearest 0: {complex(lam):.3e}"
        return x, SolveReport("slepc", True, reason, eps.getIterationNumber(), residual, effective,
                              t1 - t0, t2 - t1, message)
    finally:
        eps.destroy()
