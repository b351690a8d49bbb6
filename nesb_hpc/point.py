"""One parameter point: decomposed baths -> distributed Liouvillian -> steady state -> currents.

``solve_point`` is collective on the communicator it is given (a point may run on a
sub-communicator of a study); everything below it is rank-agnostic.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

import numpy as np
from petsc4py import PETSc

from .assembly import BS, ado_ownership, assemble_matrix, vector_from_local
from .bath.decomposition import BathDecomposition
from .hierarchy import TierOrderedHierarchy
from .liouvillian import (HierarchyModes, build_block_rows, impose_steady_state_conditions, reverse_numbering,
                          steady_state_rhs)
from .observables import SteadyStateObservables, observable_indices, steady_state_observables
from .pauli import PauliBlocks
from .steady_state import SolverSettings, SolveReport, choose_method, solve_linear, solve_null_vector


@dataclass(frozen=True)
class HierarchySpec:
    depth: int
    rescale: bool = True
    matrix_type: str = "aij"
    modes: str = "separate"      # liouvillian.MODE_FORMS


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
    """Everything one rank builds for a point before any collective call (pure): the modes,
    hierarchy, Pauli blocks, the solve route, and this rank's matrix rows and right-hand side."""

    modes: HierarchyModes
    hier: TierOrderedHierarchy
    pauli: PauliBlocks
    method: str
    rows: object                 # liouvillian.BlockRows in the matrix numbering
    rhs: np.ndarray
    n_baths: int
    rows_s: float


def prepare_point(baths: list[BathDecomposition], coupling_vectors: np.ndarray, delta: float,
                  hierarchy: HierarchySpec, settings: SolverSettings, size: int, rank: int) -> PreparedPoint:
    """Not collective: rank `rank` of `size` builds its rows of the point's Liouvillian (pure numpy).

    A failure here is the same on every rank or local to one (memory); either way no collective
    call has been made yet, so the ranks can agree on it (driver) before solve_prepared."""
    t_start = time.perf_counter()
    modes = HierarchyModes.from_baths(baths, rescale=hierarchy.rescale, form=hierarchy.modes)
    hier = TierOrderedHierarchy(modes.size, hierarchy.depth)
    pauli = PauliBlocks.build(delta, coupling_vectors)
    bounds = ado_ownership(hier, modes, pauli, size)
    # the matrix numbers ADOs from the top tier down (liouvillian.reverse_numbering), so PETSc
    # process p holds the ADO range of part size - 1 - p
    part = size - 1 - rank
    lo, hi = int(bounds[part]), int(bounds[part + 1])
    method = choose_method(settings.method, BS * hier.size)
    rows = build_block_rows(hier, modes, pauli, lo, hi)
    if method != "slepc":
        rows = impose_steady_state_conditions(rows, pauli)
    rows = reverse_numbering(rows, hier.size)
    rhs = steady_state_rhs(rows, hier.size)
    return PreparedPoint(modes, hier, pauli, method, rows, rhs, len(baths), time.perf_counter() - t_start)


def solve_point(comm, baths: list[BathDecomposition], coupling_vectors: np.ndarray, delta: float,
                hierarchy: HierarchySpec, settings: SolverSettings) -> PointResult:
    """Collective on comm. Steady-state heat currents of the extended HEOM for one point.

    baths: one decomposition per bath (C^R, C^I bases); coupling_vectors: (n_baths, 3) unit Bloch
    vectors of V_b; delta: half gap (H_S = delta sz).
    """
    comm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
    prepared = prepare_point(baths, coupling_vectors, delta, hierarchy, settings, comm.size, comm.rank)
    return solve_prepared(comm, prepared, hierarchy, settings)


def solve_prepared(comm, prepared: PreparedPoint, hierarchy: HierarchySpec, settings: SolverSettings) -> PointResult:
    """Collective on comm. Assemble the prepared rows, solve, and read the currents out."""
    comm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
    p = prepared
    hier, modes, pauli, method = p.hier, p.modes, p.pauli, p.method
    t_rows = time.perf_counter()
    A, info = assemble_matrix(comm, p.rows, hier.size, hierarchy.matrix_type)
    p.rows = None  # freed before the solver allocates
    t_asm = time.perf_counter()
    x = None
    try:
        if info.mallocs:
            raise AssertionError(f"{info.mallocs} mallocs during assembly: preallocation is wrong")
        nonzeros = comm.tompi4py().allreduce(info.nonzeros_local)
        if method == "slepc":
            x, report = solve_null_vector(A, settings)
        else:
            b = vector_from_local(comm, p.rhs, BS * hier.size)
            try:
                x, report = solve_linear(A, b, method, settings)
            finally:
                b.destroy()
        t_solve = time.perf_counter()
        wanted = observable_indices(hier)                     # ADO-ordered scalar indices
        ado, component = np.divmod(wanted, BS)
        y = _gather_entries(x, BS * (hier.size - 1 - ado) + component)
    finally:
        for obj in (x, A):
            if obj is not None:
                obj.destroy()
    y = np.real(y) if np.iscomplexobj(y) else y
    if method == "slepc" and report.converged:
        if abs(y[0]) < 1e-300:
            report.converged, report.message = False, "null vector has zero trace"
        else:
            y = y / y[0]
    obs = steady_state_observables(y, hier, modes, pauli.coupling_vectors) if report.converged else None
    currents = obs.currents if obs is not None else np.full(p.n_baths, np.nan)
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
