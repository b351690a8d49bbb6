"""One parameter point: its problem (problem.py) -> distributed Liouvillian -> steady state -> currents.

``solve_point`` is collective on the communicator it is given (a point may run on a
sub-communicator of a study). It is two steps: ``prepare_point`` builds one rank's rows without
any collective call (so the ranks can agree on a failure there), ``solve_prepared`` assembles,
solves and reads the currents out (collective). The tier route ("matrix_free") assembles nothing:
its rows are the sector partition's (sweep_rows.py), applied by tier_sweep.TierSweep.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

import numpy as np
from petsc4py import PETSc

from .assembly import assemble_matrix, gather_entries, vector_from_local
from .bath.decomposition import BathDecomposition
from .liouvillian import build_block_rows, impose_steady_state_conditions
from .noise import NoiseResult, counting_statistics
from .observables import SteadyStateObservables, observable_indices, steady_state_observables
from .partition import (MatrixNumbering, count_nonzeros, ownership, process_range, reverse_numbering,
                        steady_state_rhs)
from .pauli import BS
from .problem import HierarchySpec, Problem
from .routes import Route, SolverSettings, choose_route
from .sectors import SectorNumbering, SectorPartition, moves_are_acyclic
from .steady_state import LinearSolver, SolveReport, solve
from .sweep_rows import build_sweep_rows
from .tier_sweep import TierSweep

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
    noise: NoiseResult | None = None     # solve_point(..., noise=...): cumulant rates (noise.py)

    @property
    def I1(self) -> float:
        return float(self.currents[0])

    @property
    def I2(self) -> float:
        return float(self.currents[1])


def peak_rss_mb() -> float:
    """This process's peak resident memory (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class PreparedPoint:
    """Everything one rank builds for a point before any collective call (pure): the problem,
    the solve route, and this rank's rows and right-hand side in the route's numbering: the
    assembled routes' liouvillian.BlockRows (matrix numbering, freed at assembly), or the tier
    route's sweep_rows.SweepRows with its sector partition."""

    problem: Problem
    route: Route
    rows: object
    rhs: np.ndarray
    rows_s: float
    partition: SectorPartition | None = None


def prepare_point(problem: Problem, settings: SolverSettings, size: int, rank: int) -> PreparedPoint:
    """Not collective: rank `rank` of `size` builds its rows of the point's Liouvillian (pure numpy).

    A failure here is the same on every rank or local to one (memory); either way no collective
    call has been made yet, so the ranks can agree on it (driver) before solve_prepared."""
    t_start = time.perf_counter()
    hier, modes, pauli = problem.hier, problem.modes, problem.pauli
    route = choose_route(settings.method, BS * hier.size, size, moves_are_acyclic(modes))
    if route.system == "matrix_free":
        # raises sectors.CyclicMoves (a clear message) for modes that move in a cycle
        part = SectorPartition.build(hier, modes, size)
        rows = build_sweep_rows(hier, modes, pauli, part, rank)
        return PreparedPoint(problem, route, rows, rows.rhs(), time.perf_counter() - t_start, part)
    lo, hi = process_range(ownership(hier, modes, pauli, size), rank, size)
    rows = build_block_rows(hier, modes, pauli, lo, hi)
    if route.system == "trace_fixed":
        rows = impose_steady_state_conditions(rows, pauli)
    rows = reverse_numbering(rows, hier.size)
    rhs = steady_state_rhs(rows, hier.size)
    return PreparedPoint(problem, route, rows, rhs, time.perf_counter() - t_start)


def solve_point(comm, baths: list[BathDecomposition], coupling_vectors: np.ndarray, delta: float,
                hierarchy: HierarchySpec, settings: SolverSettings, noise: bool | tuple[int, ...] = False
                ) -> PointResult:
    """Collective on comm. Steady-state heat currents of the extended HEOM for one point.

    baths: one decomposition per bath (C^R, C^I bases); coupling_vectors: (n_baths, 3) unit Bloch
    vectors of V_b; delta: half gap (H_S = delta sz). noise: also the zero-frequency noise of the
    baths' energies and their cross terms (noise.counting_statistics: one extra solve per counted
    bath with the steady state's KSP); True counts every bath, a tuple
    of bath indices only those (e.g. (0,): S1 alone, one solve). Every route but "slepc".
    """
    return solve_problem(comm, Problem.of(baths, coupling_vectors, delta, hierarchy), settings, noise)


def solve_problem(comm, problem: Problem, settings: SolverSettings, noise: bool | tuple[int, ...] = False
                  ) -> PointResult:
    """Collective on comm. solve_point for a built Problem (problem.Problem.from_request)."""
    comm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
    return solve_prepared(comm, prepare_point(problem, settings, comm.size, comm.rank), settings, noise)


def solve_prepared(comm, prepared: PreparedPoint, settings: SolverSettings,
                   noise: bool | tuple[int, ...] = False) -> PointResult:
    """Collective on comm. Assemble the prepared rows (or, for the tier route, set its operator
    up), solve, and read the currents out (and, if asked, the noise: see solve_point)."""
    comm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
    p = prepared
    problem, route = p.problem, p.route
    hier, modes, pauli = problem.hier, problem.modes, problem.pauli
    counted = tuple(range(len(problem.baths))) if noise is True else tuple(noise or ())
    # checked the same way on every rank, before any collective
    if counted and route.system == "null_vector":
        raise ValueError(f"noise needs a linear route that solves the steady-state system (e.g. \"direct\", "
                         f"\"iterative\", \"tier\"), not {route.name!r}: its extra solves use that system")
    if any(not 0 <= b < len(problem.baths) for b in counted):
        raise ValueError(f"noise = {noise!r}: bath indices must be in 0..{len(problem.baths) - 1}")
    t_rows = time.perf_counter()
    x = solver = sweep = A = None
    noise_result = None
    try:
        if route.system == "matrix_free":
            sweep = TierSweep(comm, p.rows)
            A = sweep.operator()
            nonzeros = count_nonzeros(hier, modes, pauli)[1]   # the Liouvillian's, as AIJ would store it
            numbering = SectorNumbering(p.partition, comm.rank)
        else:
            # this rank's ADO range in the tier numbering (the rows are held in the matrix numbering)
            numbering = MatrixNumbering(hier, hier.size - p.rows.hi, hier.size - p.rows.lo)
            A, info = assemble_matrix(comm, p.rows, hier.size, problem.spec.matrix_type)
            p.rows = None  # freed before the solver allocates
            if info.mallocs:
                raise AssertionError(f"{info.mallocs} mallocs during assembly: preallocation is wrong")
            nonzeros = comm.tompi4py().allreduce(info.nonzeros_local)
        t_asm = time.perf_counter()
        b = vector_from_local(comm, p.rhs, BS * hier.size) if route.system != "null_vector" else None
        try:
            if counted:                    # keep the KSP (its LU, ILU or sweep) for the noise's solves
                solver = LinearSolver(A, route.name, settings, sweep)
                x, report = solver.solve(b)
            else:
                x, report = solve(A, b, route, settings, sweep)
        finally:
            if b is not None:
                b.destroy()
        t_solve = time.perf_counter()
        wanted = observable_indices(hier)                     # ADO-ordered scalar indices
        ado, component = np.divmod(wanted, BS)
        y = gather_entries(x, BS * numbering.rows_of(hier.unrank(ado)) + component)
        if counted and report.converged:
            noise_result = counting_statistics(comm, solver, x, hier, modes, pauli, numbering,
                                               problem.spec.matrix_type, counted)
    finally:
        for obj in (solver, x, A):
            if obj is not None:
                obj.destroy()
        if sweep is not None:
            sweep.free()
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
    if noise_result is not None:
        timings.update(noise_result.timings)
    status = "ok" if report.converged else "failed"
    return PointResult(currents, obs, report, hier.size, BS * hier.size, int(nonzeros), modes.size,
                       timings, mpi.allreduce(peak_rss_mb(), op=_max()), status, noise_result)


def _max():
    from mpi4py import MPI

    return MPI.MAX
