"""Steady state of the HEOM: KSP linear solves and a SLEPc null vector, by route (routes.py).

``solve(A, b, route, settings)`` carries out a route: a "trace_fixed" route solves L' y = e_0
(trace row replaced, liouvillian.impose_steady_state_conditions) with KSP, a "matrix_free" route
the same system on a MatShell with its own preconditioner (the tier route: ``preconditioner`` is
the tier_sweep.TierSweep context), a "null_vector" route finds the eigenvector of the unmodified L
nearest 0 with SLEPc. Options come from
solver_options.py (prefix nesb_). The converged reason and the true relative residual
||b - A y|| / ||b|| are always reported, and a solve counts as converged only if its true
residual reaches acceptable_residual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from petsc4py import PETSc

from .routes import BICG_TYPES, ROUTES, Route, SolverSettings
from .solver_options import PREFIX, petsc_options, route_options


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


MAX_REFINEMENTS = 3


def acceptable_residual(settings: SolverSettings) -> float:
    """The true relative residual a solve must reach to count as converged: 1000 rtol, at least
    1e-10 (GMRES's recurrence residual meets rtol; rounding in applying the preconditioner may
    leave the true one a little above it, never by orders of magnitude in a good solve)."""
    return max(1e3 * settings.rtol, 1e-10)


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


def solve(A: PETSc.Mat, b: PETSc.Vec | None, route: Route | str, settings: SolverSettings,
          preconditioner=None) -> tuple[PETSc.Vec, SolveReport]:
    """Collective on A's communicator. Carry out a route: the solution (a trace-fixed system's, or
    the unnormalised null vector; b is unused then) and its report. preconditioner: a
    "matrix_free" route's PCSHELL context."""
    route = ROUTES[route] if isinstance(route, str) else route
    if route.system == "null_vector":
        return solve_null_vector(A, settings)
    return solve_linear(A, b, route.name, settings, preconditioner)


class LinearSolver:
    """Collective on A's communicator. One KSP on A for a "trace_fixed" route (e.g. "direct",
    "iterative") or a "matrix_free" one (A a MatShell, `preconditioner` its PCSHELL context: the
    tier route), set up once (options, preconditioner or LU), that solves any number of
    right-hand sides: the steady state, then the counting statistics' extra solves (noise.py) with
    the same factorisation. The creator calls destroy() (collective)."""

    def __init__(self, A: PETSc.Mat, method: str, settings: SolverSettings, preconditioner=None):
        self.A, self.method, self.settings = A, method, settings
        self.ksp = PETSc.KSP().create(comm=A.getComm())
        self.solves = 0
        try:
            self.ksp.setOptionsPrefix(PREFIX)
            self.ksp.setOperators(A)
            if preconditioner is not None:
                pc = self.ksp.getPC()
                pc.setType(PETSc.PC.Type.PYTHON)
                pc.setPythonContext(preconditioner)
            with petsc_options(route_options(method, settings), settings.petsc_options) as effective:
                self.ksp.setFromOptions()
                t0 = time.perf_counter()
                self.ksp.setUp()
                self.setup_s = time.perf_counter() - t0
            self.options = effective
        except Exception:
            self.ksp.destroy()
            raise

    def solve(self, b: PETSc.Vec) -> tuple[PETSc.Vec, SolveReport]:
        """Collective. y with A y = b, from a zero initial guess; the report's setup_s is the
        set-up time for the first solve and 0 for later ones (they reuse it)."""
        ksp, A, settings, method = self.ksp, self.A, self.settings, self.method
        x = b.duplicate()
        t1 = time.perf_counter()
        if ksp.getType() in BICG_TYPES:
            # BiCG-type methods break down from 0 on b = e_0 (their shadow residual sees one
            # entry): start from x0 = M^{-1} b, whose residual is dense
            ksp.getPC().apply(b, x)
            ksp.setInitialGuessNonzero(True)
        else:
            ksp.setInitialGuessNonzero(False)
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
        setup_s = self.setup_s if self.solves == 0 else 0.0
        self.solves += 1
        return x, SolveReport(method, converged, name, iterations, residual, self.options, setup_s, t2 - t1, message)

    def destroy(self) -> None:
        self.ksp.destroy()


def solve_linear(A: PETSc.Mat, b: PETSc.Vec, method: str, settings: SolverSettings,
                 preconditioner=None) -> tuple[PETSc.Vec, SolveReport]:
    """Collective on A's communicator. Solve A y = b by a "trace_fixed" route (e.g. "direct",
    "iterative") or a "matrix_free" one with its preconditioner context."""
    solver = LinearSolver(A, method, settings, preconditioner)
    try:
        return solver.solve(b)
    finally:
        solver.destroy()


def _advice(method: str, reason: str, residual: float) -> str:
    if method == "direct":
        return (f"direct solve did not converge ({reason}, true residual {residual:.2e}); if the "
                "factorisation ran out of memory use method = \"iterative\" or more ranks; if it stagnated, "
                "try -nesb_pc_factor_mat_solver_type superlu_dist or a larger -nesb_ksp_max_it")
    if method == "tier":
        return (f"tier-sweep solve did not converge ({reason}, true residual {residual:.2e}); try a longer "
                "restart (-nesb_ksp_gmres_restart 100), more iterations (-nesb_ksp_max_it), or "
                "method = \"iterative\" (block-Jacobi/ILU(1): fewer iterations on one rank)")
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
        with petsc_options(route_options("slepc", settings), settings.petsc_options) as effective:
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
