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
  tier       the trace-fixed system without an assembled matrix ("matrix_free": the Liouvillian as
             scalar CSR pieces on the sector partition, sectors.py / sweep_rows.py), Krylov
             right-preconditioned by the tier-sweep block DILU (tier_sweep.py, docs/tier_sweep.md):
             the same iterations on any number of ranks, ~5x less memory than "iterative"; needs
             modes whose in-tier moves are acyclic (not underdamped baths);
  auto       direct below AUTO_DIRECT_MAX_UNKNOWNS unknowns; above, iterative on one rank (or where
             the moves are cyclic) and tier on AUTO_TIER_FROM_RANKS ranks or more (choose_route).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

AUTO = "auto"
AUTO_DIRECT_MAX_UNKNOWNS = 20_000  # MUMPS fills in almost completely: 80 s at 135k unknowns
# From this many ranks "auto" takes the tier route where it applies: block Jacobi's iterations grow
# with the ranks (alpha = 4: 54 -> 153 -> 487 on 1, 2, 4 ranks), the tier sweep's do not
# (README.md, "Measured"; bench/scaling/).
AUTO_TIER_FROM_RANKS = 2


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


TIER_RESTART = 30
# LGMRES(30): GMRES(30) that carries 2 error approximations over each restart. As fast as GMRES(30)
# at alpha <= 4, and it converges at alpha = 10 where GMRES(30) with the tier sweep's ILU(0)-quality
# preconditioner stagnates (bench/scaling/README.md, "Krylov method at very strong coupling").
TIER_KSP = "lgmres"


def _tier_options(settings: SolverSettings, lu_package: str) -> dict[str, str]:
    # the preconditioner is the route's own (a PCSHELL set in code): only Krylov options here
    return {**_common(settings), "ksp_type": TIER_KSP, "ksp_gmres_restart": str(TIER_RESTART),
            "ksp_gmres_cgs_refinement_type": "refine_ifneeded"}


def _slepc_options(settings: SolverSettings, lu_package: str) -> dict[str, str]:
    return {"eps_type": "krylovschur", "eps_nev": "1", "eps_tol": repr(float(max(settings.rtol, 1e-14))),
            "eps_max_it": str(settings.max_it), "st_type": "sinvert", "st_ksp_type": "preonly",
            "st_pc_type": "lu", "st_pc_factor_mat_solver_type": lu_package}


@dataclass(frozen=True)
class Route:
    """One way to the steady state.

    system: "trace_fixed" (L' y = e_0, a KSP solve on the assembled matrix), "matrix_free" (the
    same system, a KSP solve on the tier route's MatShell with its own preconditioner) or
    "null_vector" (L y = 0, a SLEPc solve).
    options(settings, lu_package): its PETSc defaults (below the input's and the command line's).
    factor: what its preconditioner stores, for the memory model: "ilu" (ILU_FILL times the
    matrix, sizing.py), "lu" (a full factorisation: fill not predictable, left out) or "dilu"
    (the tier sweep's 4x4 pivots, 128 bytes per ADO).
    krylov_cap: the most GMRES basis vectors it keeps (None: the restart length).
    restart: its default GMRES restart (what the memory model counts unless the input sets one).
    ksp_type: its default Krylov method (what the memory model counts unless the input sets one).
    """

    name: str
    summary: str
    system: str
    options: Callable[[SolverSettings, str], dict[str, str]]
    factor: str
    krylov_cap: int | None = None
    restart: int = 100
    ksp_type: str = "gmres"

    def krylov_vectors(self, restart: int | None = None, iterations: int | None = None,
                       ksp_type: str | None = None) -> int:
        """GMRES basis vectors the memory model counts: the restart (the input's, else the
        route's) a priori, capped; or min(iterations, that) for a finished solve; LGMRES adds
        LGMRES_VECTORS. A BiCG-type method (ksp_type in BICG_TYPES) keeps BICG_VECTORS instead,
        whatever the iterations."""
        ksp_type = self.ksp_type if ksp_type is None else ksp_type
        if ksp_type in BICG_TYPES:
            return BICG_VECTORS
        restart = self.restart if restart is None else restart
        k = restart if self.krylov_cap is None else min(restart, self.krylov_cap)
        k = k if iterations is None else min(iterations, k)
        return k + LGMRES_VECTORS if ksp_type == "lgmres" else k


ROUTES: dict[str, Route] = {r.name: r for r in (
    Route("direct", "sparse LU of the trace-fixed system (MUMPS), refined by GMRES(30)", "trace_fixed",
          _direct_options, "lu", krylov_cap=30),
    Route("iterative", "GMRES(100) with block-Jacobi/ILU(1) on the matrix numbered top tier first",
          "trace_fixed", _iterative_options, "ilu"),
    Route("slepc", "null vector of L by shift-and-invert Krylov-Schur (SLEPc)", "null_vector",
          _slepc_options, "lu", krylov_cap=30),
    Route("tier", f"LGMRES({TIER_RESTART}) with the tier-sweep block DILU on the sector partition, matrix-free",
          "matrix_free", _tier_options, "dilu", restart=TIER_RESTART, ksp_type=TIER_KSP),
)}
METHODS = (*ROUTES, AUTO)
# the Krylov methods of the BiCG family: they break down from x0 = 0 on b = e_0 (the shadow
# residual sees one entry), so the solves start them from x0 = M^{-1} b (steady_state.py)
BICG_TYPES = ("bcgs", "ibcgs", "fbcgs", "fbcgsr", "pipebcgs", "bcgsl", "tfqmr", "qmrcgs")
BICG_VECTORS = 4      # beyond sizing.KRYLOV_EXTRA_VECTORS: BiCGStab's ~10 vectors (measured, tier route)
LGMRES_VECTORS = 5    # LGMRES's 2 augmentation vectors, their images and a work vector (measured: +0.16
                      # KB per ADO against GMRES(30) at 92k ADOs, tier route)


def choose_route(method: str, n_unknowns: int, ranks: int = 1, acyclic: bool = True) -> Route:
    """The route a [solver] method takes for a system of n_unknowns on `ranks` ranks; `acyclic`:
    whether the hierarchy's in-tier moves are acyclic (sectors.moves_are_acyclic; the tier route
    needs it). "auto": direct up to AUTO_DIRECT_MAX_UNKNOWNS unknowns (LU's fill is affordable);
    above, tier from AUTO_TIER_FROM_RANKS ranks where the moves are acyclic (its iterations do not
    grow with the ranks, block Jacobi's do), else iterative (on one rank ILU(1) needs fewer, and
    compiled, iterations)."""
    if method == AUTO:
        if n_unknowns <= AUTO_DIRECT_MAX_UNKNOWNS:
            method = "direct"
        elif ranks >= AUTO_TIER_FROM_RANKS and acyclic:
            method = "tier"
        else:
            method = "iterative"
    return ROUTES[method]


def candidate_routes(method: str) -> tuple[Route, ...]:
    """Every route a method may take, whatever the size ("auto": direct, iterative and tier)."""
    return (ROUTES["direct"], ROUTES["iterative"], ROUTES["tier"]) if method == AUTO else (ROUTES[method],)
