"""One parameter point: its problem (problem.py) -> distributed Liouvillian -> steady state -> currents.

``solve_point`` is collective on the communicator it is given (a point may run on a
sub-communicator of a study). It is two steps: ``prepare_point`` builds one rank's rows without
any collective call (so the ranks can agree on a failure there), ``solve_prepared`` assembles,
solves and reads the currents out (collective).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

import numpy as np
from petsc4py import PETSc

from .assembly import assemble_matrix, vector_from_local
from .bath.decomposition import BathDecomposition
from .liouvillian import build_block_rows, impose_steady_state_conditions
from .observables import SteadyStateObservables, observable_indices, steady_state_observables
from .partition import matrix_index, ownership, process_range, reverse_numbering, steady_state_rhs
from .pauli import BS
from .problem import HierarchySpec, Problem
from .routes import Route, SolverSettings, choose_route
from .steady_state import SolveReport, solve

__all__ = ["HierarchySpec", "PointResult", "PreparedPoint", "prepare_point", "solve_point", "solve_prepared",
           "solve_problem"]


@dataclass
class PointResult:
    currents: np.ndarray
    observables: SteadyStateObservables | None
    report: SolveReport
    n_ados: int
    n_unknowns: int
    nonzeros: int
    n_modes: int
    timings: dict = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    status: str = "ok"

    @property
    def I1(self) -> float:
        return float(self.currents[0])

    @property
    def I2(self) -> float:
        return float(self.currents[1])


def peak_rss_mb() -> float:
    """This process's peak resident memory (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _gather_entries(x: PETSc.Vec, indices: np.ndarray) -> np.ndarray:
    """Collective. The entries `indices` of the distributed x, on every rank (a small set)."""
    is_from = PETSc.IS().createGeneral(indices.astype(PETSc.IntType), comm=PETSc.COMM_SELF)
    local = PETSc.Vec().createSeq(indices.size, comm=PETSc.COMM_SELF)
    scatter = PETSc.Scatter().create(x, is_from, local, None)
    scatter.scatter(x, local, PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)
    out = local.getArray().copy()
    for obj in (scatter, local, is_from):
        obj.destroy()
    return out


@dataclass
class PreparedPoint:
    """Everything one rank builds for a point before any collective call (pure): the problem,
    the solve route, and this rank's matrix rows and right-hand side (matrix numbering)."""

    problem: Problem
    route: Route
    rows: object                 # liouvillian.BlockRows in the matrix numbering (freed at assembly)
    rhs: np.ndarray
    rows_s: float


def prepare_point(problem: Problem, settings: SolverSettings, size: int, rank: int) -> PreparedPoint:
    """Not collective: rank `rank` of `size` builds its rows of the point's Liouvillian (pure numpy).

    A failure here is the same on every rank or local to one (memory); either way no collective
    call has been made yet, so the ranks can agree on it (driver) before solve_prepared."""
    t_start = time.perf_counter()
    hier, modes, pauli = problem.hier, problem.modes, problem.pauli
    lo, hi = process_range(ownership(hier, modes, pauli, size), rank, size)
    route = choose_route(settings.method, BS * hier.size)
    rows = build_block_rows(hier, modes, pauli, lo, hi)
    if route.system == "trace_fixed":
        rows = impose_steady_state_conditions(rows, pauli)
    rows = reverse_numbering(rows, hier.size)
    rhs = steady_state_rhs(rows, hier.size)
    return PreparedPoint(problem, route, rows, rhs, time.perf_counter() - t_start)


def solve_point(comm, baths: list[BathDecomposition], coupling_vectors: np.ndarray, delta: float,
                hierarchy: HierarchySpec, settings: SolverSettings) -> PointResult:
    """Collective on comm. Steady-state heat currents of the extended HEOM for one point.

    baths: one decomposition per bath (C^R, C^I bases); coupling_vectors: (n_baths, 3) unit Bloch
    vectors of V_b; delta: half gap (H_S = delta sz).
    """
    return solve_problem(comm, Problem.of(baths, coupling_vectors, delta, hierarchy), settings)


def solve_problem(comm, problem: Problem, settings: SolverSettings) -> PointResult:
    """Collective on comm. solve_point for a built Problem (problem.Problem.from_request)."""
    comm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
    return solve_prepared(comm, prepare_point(problem, settings, comm.size, comm.rank), settings)


def solve_prepared(comm, prepared: PreparedPoint, settings: SolverSettings) -> PointResult:
    """Collective on comm. Assemble the prepared rows, solve, and read the currents out."""
    comm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
    p = prepared
    problem, route = p.problem, p.route
    hier, modes, pauli = problem.hier, problem.modes, problem.pauli
    t_rows = time.perf_counter()
    A, info = assemble_matrix(comm, p.rows, hier.size, problem.spec.matrix_type)
    p.rows = None  # freed before the solver allocates
    t_asm = time.perf_counter()
    x = None
    try:
        if info.mallocs:
            raise AssertionError(f"{info.mallocs} mallocs during assembly: preallocation is wrong")
        nonzeros = comm.tompi4py().allreduce(info.nonzeros_local)
        b = vector_from_local(comm, p.rhs, BS * hier.size) if route.system == "trace_fixed" else None
        try:
            x, report = solve(A, b, route, settings)
        finally:
            if b is not None:
                b.destroy()
        t_solve = time.perf_counter()
        wanted = observable_indices(hier)                     # ADO-ordered scalar indices
        ado, component = np.divmod(wanted, BS)
        y = _gather_entries(x, BS * matrix_index(ado, hier.size) + component)
    finally:
        for obj in (x, A):
            if obj is not None:
                obj.destroy()
    y = np.real(y) if np.iscomplexobj(y) else y
    if route.system == "null_vector" and report.converged:
        if abs(y[0]) < 1e-300:
            report.converged, report.message = False, "null vector has zero trace"
        else:
            y = y / y[0]
    obs = steady_state_observables(y, hier, modes, pauli.coupling_vectors) if report.converged else None
    currents = obs.currents if obs is not None else np.full(len(problem.baths), np.nan)
    mpi = comm.tompi4py()
    timings = {
        "rows_s": mpi.allreduce(p.rows_s, op=_max()),
        "assembly_s": mpi.allreduce(t_asm - t_rows, op=_max()),
        "setup_s": report.setup_s,
        "solve_s": report.solve_s,
        "total_s": mpi.allreduce(t_solve - t_rows + p.rows_s, op=_max()),
    }
    status = "ok" if report.converged else "failed"
    return PointResult(currents, obs, report, hier.size, BS * hier.size, int(nonzeros), modes.size,
                       timings, mpi.allreduce(peak_rss_mb(), op=_max()), status)


def _max():
    from mpi4py import MPI

    return MPI.MAX
