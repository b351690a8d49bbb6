"""Zero-frequency noise of the bath energies: second cumulants by one extra solve per bath.

With the counting field s of bath a (counting.py), lambda(s) is the eigenvalue of L(s) that tends
to 0; at the steady state y (L y = 0, <1|y> = Tr rho_00 = 1, <1| L = 0) perturbation theory gives

    lambda_a'(0)   = <1| L_a' |y>                                   = I_a (the current),
    L r_a = -(L_a' y - lambda_a' y),   <1| r_a> = 0                    (the extra solve),
    lambda_ab''(0) = delta_ab (<1| L_a'' |y> + m_a . y) + <1| L_a' |r_b> + <1| L_b' |r_a>,

so S_a = lambda_aa'' = d<<Q_a^2>>/dt and lambda_12'' = d<<Q_1 Q_2>>/dt (energy^2 per unit time),
m_a the perturbative contact weights of counting.contact_moment_weights (zero unless C^I_a(0) != 0).
r_a solves the steady-state system itself: the matrix with the trace row replaced by
<1| (liouvillian.impose_steady_state_conditions) and a right-hand side whose trace-row entry is
zero (it is, since <1| L_a' y = lambda_a'), so <1| r_a> = 0 comes out of the solve. The solves
reuse the steady state's KSP (steady_state.LinearSolver: same preconditioner or LU).

Energy conservation makes Q_1 + Q_2 bounded, so the exact model has S_1 = S_2 = -<<Q_1 Q_2>>/t;
with both baths counted the result reports how far the truncated hierarchy is from that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from petsc4py import PETSc

from .assembly import assemble_matrix, gather_entries
from .counting import contact_moment_weights, derivative_rows, derivative_trace_weights, first_tiers
from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes
from .pauli import BS, PauliBlocks
from .steady_state import LinearSolver


@dataclass
class NoiseResult:
    """Cumulant rates of the energies Q_b leaving the counted baths (energy per unit time;
    energy^2 per unit time for the second cumulants)."""

    counted: tuple[int, ...]
    first: np.ndarray            # (n,) lambda_b'(0): the currents from the counting field
    second: np.ndarray           # (n, n) lambda_ab''(0): S_b on the diagonal, <<Q_a Q_b>>/t off it
    reports: list = field(default_factory=list)   # one SolveReport per extra solve
    timings: dict = field(default_factory=dict)
    status: str = "ok"
    message: str = ""

    def S(self, bath: int) -> float:
        i = self.counted.index(bath)
        return float(self.second[i, i])

    @property
    def S1(self) -> float:
        return self.S(0)

    @property
    def S2(self) -> float:
        return self.S(1)

    @property
    def S12(self) -> float:
        return float(self.second[self.counted.index(0), self.counted.index(1)])

    def fano(self, delta: float, current: float) -> float:
        """S_1 / (2 Delta I_1): 1 for uncorrelated transfers of one quantum 2 Delta each way."""
        return self.S1 / (2.0 * delta * current)


def counting_statistics(comm, solver: LinearSolver, y: PETSc.Vec, hier: TierOrderedHierarchy,
                        modes: HierarchyModes, pauli: PauliBlocks, numbering,
                        matrix_type: str = "aij", counted: tuple[int, ...] = (0, 1)) -> NoiseResult:
    """Collective on comm. First and second cumulant rates of the energy leaving each counted bath.

    solver: the LinearSolver that produced y, on the steady-state system (trace row replaced: the
    assembled matrix, or the tier route's operator and preconditioner); y: its solution
    (Tr rho_00 = 1); numbering: this rank's rows in the solve's numbering (partition.
    MatrixNumbering or sectors.SectorNumbering: row_range, local_ados, rows_of). One extra solve
    per counted bath; L_a' is assembled as a distributed AIJ matrix in that numbering (down/up
    couplings of bath a's modes only), applied once and destroyed.
    """
    comm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
    n_ados = hier.size
    counted = tuple(int(b) for b in counted)
    t0 = time.perf_counter()
    n = len(counted)
    if pauli.conserved_direction() is not None:
        nan = np.full(n, np.nan)
        return NoiseResult(counted, nan, np.full((n, n), np.nan), status="undefined",
                           message="the steady state is not unique (a conserved q.sigma): the counting "
                                   "statistics depend on the initial state")
    n01 = first_tiers(hier)
    wanted = np.arange(BS * n01)
    ado, comp = np.divmod(wanted, BS)
    first_idx = BS * numbering.rows_of(hier.unrank(ado)) + comp     # tiers 0 and 1 in the solve's numbering
    trace_global = BS * int(numbering.rows_of(np.zeros((1, hier.n_modes), dtype=np.int64))[0])   # ADO 0's trace row
    row_lo, row_hi = numbering.row_range()
    local_ados = numbering.local_ados()

    def first_tier_values(v: PETSc.Vec) -> np.ndarray:
        out = gather_entries(v, first_idx)
        return np.real(out) if np.iscomplexobj(out) else out

    y01 = first_tier_values(y)
    w1 = [derivative_trace_weights(hier, modes, pauli, b, 1) for b in counted]
    first = np.array([float(w @ y01) for w in w1])
    responses, reports = [], []
    t_build = t_solve = 0.0
    for i, b in enumerate(counted):
        tb = time.perf_counter()
        rows = derivative_rows(hier, modes, pauli, b, 1, row_lo, row_hi, local_ados, numbering.rows_of)
        D, _ = assemble_matrix(comm, rows, n_ados, matrix_type)
        del rows
        rhs = D.createVecLeft()
        D.mult(y, rhs)
        D.destroy()
        rhs.axpy(-first[i], y)                           # L_a' y - lambda_a' y
        rhs.scale(-1.0)
        r_lo, r_hi = rhs.getOwnershipRange()
        if r_lo <= trace_global < r_hi:                  # zero already up to rounding; exactly zero
            rhs.setValue(trace_global, 0.0)
        rhs.assemble()
        ts = time.perf_counter()
        r, report = solver.solve(rhs)
        rhs.destroy()
        t_build += ts - tb
        t_solve += time.perf_counter() - ts
        responses.append(first_tier_values(r))
        r.destroy()
        reports.append(report)
    second = np.zeros((n, n))
    for i, a in enumerate(counted):
        for j in range(n):
            second[i, j] += w1[i] @ responses[j] + w1[j] @ responses[i]
        w2 = derivative_trace_weights(hier, modes, pauli, a, 2) + contact_moment_weights(hier, modes, pauli, a)
        second[i, i] += w2 @ y01
    mpi = comm.tompi4py()
    from mpi4py import MPI

    timings = {"noise_rows_s": mpi.allreduce(t_build, op=MPI.MAX),
               "noise_solve_s": mpi.allreduce(t_solve, op=MPI.MAX),
               "noise_total_s": mpi.allreduce(time.perf_counter() - t0, op=MPI.MAX)}
    ok = all(rep.converged for rep in reports)
    message = "" if ok else "; ".join(rep.message for rep in reports if not rep.converged)
    return NoiseResult(counted, first, second, reports, timings, "ok" if ok else "failed", message)
