"""The solver routes: how the steady state is solved, as a table of small objects (pure; no PETSc).

A route says which linear system it solves, the PETSc options it starts from, what its memory
model counts, and when ``method = "auto"`` picks it. ``steady_state`` carries them out with PETSc,
``sizing`` sizes them, ``config`` offers their names. Adding a route is one entry in ``ROUTES``
(plus, for a new kind of system, its solve in steady_state.py).

Routes:
  direct     L' y = e_0 (trace row replaced, docs/heom.md s5) by GMRES preconditioned with a full
             LU (MUMPS, else SuperLU_dist): the LU solves it, a few GMRES steps refine the
             factorisation's rounding on ill-conditioned points;
  iterative  the same system by restarted GMRES with a block-Jacobi/ILU(1) preconditioner on the
             matrix numbered top tier first;
  slepc      the null vector of the unmodified L by shift-and-invert Krylov-Schur (target a small
             positive shift), normalised to Tr rho_00 = 1 afterwards;
  auto       direct below AUTO_DIRECT_MAX_UNKNOWNS unknowns, iterative above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

AUTO = "auto"
AUTO_DIRECT_MAX_UNKNOWNS = 20_000  # MUMPS fills in almost completely: 80 s at 135k unknowns


@dataclass(frozen=True)
class SolverSettings:
    """The [solver] table as the solvers see it (method may still be "auto")."""

    method: str = AUTO
    rtol: float = 1e-12
    max_it: int = 2000
    slepc_target: float = 1e-10
    petsc_options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_table(cls, solver) -> "SolverSettings":
        """From the input's [solver] table (config.SolverConfig)."""
        return cls(solver.method, solver.rtol, solver.max_it, solver.slepc_target, tuple(solver.petsc_options))


def _common(settings: SolverSettings) -> dict[str, str]:
    # right preconditioning: the monitored residual is the true one
    return {"ksp_rtol": repr(float(settings.rtol)), "ksp_atol": "1e-50", "ksp_max_it": str(settings.max_it),
            "ksp_pc_side": "right"}


def _direct_options(settings: SolverSettings, lu_package: str) -> dict[str, str]:
    return {**_common(settings), "ksp_type": "gmres", "ksp_gmres_restart": "30", "ksp_max_it": "30",
            "ksp_rtol": repr(float(min(settings.rtol, 1e-12))), "pc_type": "lu", "pc_factor_mat_solver_type": lu_package}


def _iterative_options(settings: SolverSettings, lu_package: str) -> dict[str, str]:
    return {**_common(settings), "ksp_type": "gmres", "ksp_gmres_restart": "100",
            "ksp_gmres_modifiedgramschmidt": "true",
            "pc_type": "bjacobi", "sub_pc_type": "ilu", "sub_pc_factor_levels": "1",
            # the matrix is numbered top tier first (partition.py), so the natural order factors
            # rho_00's singular block last, after its fill has arrived
            "sub_pc_factor_mat_ordering_type": "natural",
            # exact zero pivots remain possible for special couplings (theta = pi/2): shift them;
            # the true-residual check guards the result
            "sub_pc_factor_shift_type": "nonzero"}


def _slepc_options(settings: SolverSettings, lu_package: str) -> dict[str, str]:
    return {"eps_type": "krylovschur", "eps_nev": "1", "eps_tol": repr(float(max(settings.rtol, 1e-14))),
            "eps_max_it": str(settings.max_it), "st_type": "sinvert", "st_ksp_type": "preonly",
            "st_pc_type": "lu", "st_pc_factor_mat_solver_type": lu_package}


@dataclass(frozen=True)
class Route:
    """One way to the steady state.

    system: "trace_fixed" (L' y = e_0, a KSP solve) or "null_vector" (L y = 0, a SLEPc solve).
    options(settings, lu_package): its PETSc defaults (below the input's and the command line's).
    factor: what its preconditioner stores, for the memory model: "ilu" (ILU_FILL times the
    matrix, sizing.py) or "lu" (a full factorisation: fill not predictable, left out).
    krylov_cap: the most GMRES basis vectors it keeps (None: the restart length).
    """

    name: str
    summary: str
    system: str
    options: Callable[[SolverSettings, str], dict[str, str]]
    factor: str
    krylov_cap: int | None = None

    def krylov_vectors(self, restart: int = 100, iterations: int | None = None) -> int:
        """GMRES basis vectors the memory model counts: the restart a priori (capped), or
        min(iterations, that) for a finished solve."""
        k = restart if self.krylov_cap is None else min(restart, self.krylov_cap)
        return k if iterations is None else min(iterations, k)


ROUTES: dict[str, Route] = {r.name: r for r in (
    Route("direct", "sparse LU of the trace-fixed system (MUMPS), refined by GMRES(30)", "trace_fixed",
          _direct_options, "lu", krylov_cap=30),
    Route("iterative", "GMRES(100) with block-Jacobi/ILU(1) on the matrix numbered top tier first",
          "trace_fixed", _iterative_options, "ilu"),
    Route("slepc", "null vector of L by shift-and-invert Krylov-Schur (SLEPc)", "null_vector",
          _slepc_options, "lu", krylov_cap=30),
)}
METHODS = (*ROUTES, AUTO)


def choose_route(method: str, n_unknowns: int) -> Route:
    """The route a [solver] method takes for a system of n_unknowns ("auto": direct below
    AUTO_DIRECT_MAX_UNKNOWNS unknowns, where LU's fill is affordable, iterative above)."""
    if method == AUTO:
        method = "direct" if n_unknowns <= AUTO_DIRECT_MAX_UNKNOWNS else "iterative"
    return ROUTES[method]


def candidate_routes(method: str) -> tuple[Route, ...]:
    """Every route a method may take, whatever the size ("auto": direct and iterative)."""
    return (ROUTES["direct"], ROUTES["iterative"]) if method == AUTO else (ROUTES[method],)
