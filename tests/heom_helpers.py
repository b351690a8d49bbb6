"""Small helpers shared by the HEOM tests: one point of the paper's model, solved on a communicator."""

from __future__ import annotations

import numpy as np

from nesb_hpc.bath import RationalCutoff, exact_decomposition
from nesb_hpc.pauli import bloch_vector
from nesb_hpc.problem import HierarchySpec, Problem
from nesb_hpc.routes import SolverSettings

# Every solve in the tests must conserve energy to this relative precision (docs/model.md s4:
# I1 + I2 = 0 follows from the tier-0/1 equations at any depth, so only the solver error enters;
# the solves below reach true residuals ~1e-13 relative, which leaves ample margin).
CONSERVATION_TOL = 1e-8


def paper_point(comm, *, alpha, theta, delta, depth, n_bose=1, T1=1.0, T2=0.9, alpha2=None,
                method="auto", matrix_type="aij", rtol=1e-12, current_scale=0.0, modes="separate", noise=False,
                **solver):
    """Solve one point of the paper's model (s = 3, p = 4, Pade) and check energy conservation.

    current_scale: where the current itself vanishes (equilibrium, exact zeros), the typical
    current that |I1 + I2| is measured against instead. noise: passed to solve_point.
    """
    from nesb_hpc.point import solve_point  # PETSc: only the solves need it, not paper_problem

    a2 = alpha if alpha2 is None else alpha2
    baths = [exact_decomposition(RationalCutoff(alpha=a).rational(), T, "pade", n_bose)
             for a, T in ((alpha, T1), (a2, T2))]
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(theta)])
    res = solve_point(comm, baths, vecs, delta, HierarchySpec(depth, True, matrix_type, modes),
                      SolverSettings(method=method, rtol=rtol, **solver), noise=noise)
    assert res.status == "ok", (res.report.reason, res.report.message)
    scale = max(abs(res.I1), abs(res.I2), current_scale)
    if scale > 0:
        assert abs(res.I1 + res.I2) <= CONSERVATION_TOL * scale, (res.I1, res.I2)
    return res


def paper_problem(form: str = "separate", depth: int = 3, n_bose: int = 1, alpha: float = 1.0, theta: float = np.pi / 4,
                  delta: float = 0.1, T1: float = 1.0, T2: float = 0.9, J=None, decomposition: str = "pade") -> Problem:
    """A point of the paper's model (or of J) as a problem.Problem: its modes, hierarchy, Pauli blocks."""
    J = RationalCutoff(alpha=alpha) if J is None else J
    baths = [exact_decomposition(J.rational(), T, decomposition, n_bose) for T in (T1, T2)]
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(theta)])
    return Problem.of(baths, vecs, delta, HierarchySpec(depth, modes=form))
