"""The HEOM generator for time evolution and the states on it (used by dynamics.py).

    HeomOperator     the UNMODIFIED distributed Liouvillian L of dy/dt = L y, top tier first, with
                     its modes, hierarchy, Pauli blocks and ownership (build_operator);
    initial states   a product state rho_00 = (1 + r . sigma)/2 with thermal, uncorrelated baths (every
                     ADO beyond tier 0 zero), or the steady state of other parameters carried onto a
                     new point by the coupling-quench scaling of the ADOs (docs/dynamics.md s2);
    checkpoints      the state in ADO order on one rank, readable on any rank count.

Units: hbar = k_B = omega_c = 1. Every function that takes or returns a PETSc object is collective on
the operator's communicator.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from petsc4py import PETSc

from .assembly import assemble_matrix, vector_from_local
from .bath.decomposition import BathDecomposition
from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes, build_block_rows, impose_steady_state_conditions
from .partition import ownership, process_range, reverse_numbering, steady_state_rhs
from .pauli import BS, PauliBlocks
from .problem import HierarchySpec
from .routes import SolverSettings, choose_route
from .steady_state import SolveReport, solve_linear, solve_null_vector

# ---------------------------------------------------------------------------------------------
# The operator


class HeomOperator:
    """The distributed generator L of dy/dt = L y for one parameter point, and what reads it.

    Holds the modes, hierarchy and Pauli blocks, the ownership (ADO bounds per partition part;
    PETSc process p holds part size-1-p, as point.solve_point), and L in the matrix numbering
    top tier first. The creator calls destroy() (collective).
    """

    def __init__(self, comm, modes: HierarchyModes, hier: TierOrderedHierarchy, pauli: PauliBlocks,
                 delta: float, bounds: np.ndarray, matrix: PETSc.Mat, spec: HierarchySpec):
        self.comm = comm
        self.modes, self.hier, self.pauli, self.delta = modes, hier, pauli, float(delta)
        self.bounds = np.asarray(bounds, dtype=np.int64)
        self.L = matrix
        self.spec = spec
        self.lo, self.hi = process_range(self.bounds, comm.rank, comm.size)   # ADO range of this rank

    @property
    def n_unknowns(self) -> int:
        return BS * self.hier.size

    def create_vector(self) -> PETSc.Vec:
        """Collective. A zero vector with L's layout."""
        v = self.L.createVecRight()
        v.zeroEntries()
        return v

    def local_multi_indices(self) -> np.ndarray:
        """Multi-indices (n_local, K) of this rank's ADOs in the order of its local vector entries
        (the matrix numbering reverses the ADO numbers)."""
        return self.hier.unrank(np.arange(self.hi - 1, self.lo - 1, -1, dtype=np.int64))

    def destroy(self) -> None:
        """Collective."""
        self.L.destroy()


def build_operator(comm, baths: list[BathDecomposition], coupling_vectors: np.ndarray, delta: float,
                   hierarchy: HierarchySpec, bounds: np.ndarray | None = None) -> HeomOperator:
    """Collective on comm. The unmodified HEOM Liouvillian L, top tier first, as a HeomOperator.

    baths: one decomposition per bath; coupling_vectors: (n_baths, 3) unit Bloch vectors of V_b;
    delta: half gap (H_S = delta sz); bounds: the ADO partition (default: partition.ownership,
    equal nonzeros per rank). Pass another operator's bounds to put two parameter points on the
    same layout (a quench: steady_state_vector of the old point, quench_state onto the new one).
    """
    comm = comm if isinstance(comm, PETSc.Comm) else PETSc.Comm(comm)
    modes = HierarchyModes.from_baths(baths, rescale=hierarchy.rescale, form=hierarchy.modes)
    hier = TierOrderedHierarchy(modes.size, hierarchy.depth)
    pauli = PauliBlocks.build(delta, coupling_vectors)
    if bounds is None:
        bounds = ownership(hier, modes, pauli, comm.size)
    bounds = np.asarray(bounds, dtype=np.int64)
    if bounds.size != comm.size + 1 or bounds[0] != 0 or bounds[-1] != hier.size:
        raise ValueError(f"bounds {bounds} do not partition {hier.size} ADOs over {comm.size} ranks")
    rows = reverse_numbering(build_block_rows(hier, modes, pauli, *process_range(bounds, comm.rank, comm.size)),
                             hier.size)
    A, info = assemble_matrix(comm, rows, hier.size, hierarchy.matrix_type)
    if info.mallocs:
        raise AssertionError(f"{info.mallocs} mallocs during assembly: preallocation is wrong")
    return HeomOperator(comm, modes, hier, pauli, delta, bounds, A, hierarchy)


# ---------------------------------------------------------------------------------------------
# Initial states


def bloch_of_state(state) -> np.ndarray:
    """The Bloch vector r of rho_00 = (1 + r . sigma)/2: "up" (+z, <H_S> = +Delta), "down" (-z,
    the ground state for Delta > 0), "mixed" (0), or any 3 numbers with |r| <= 1."""
    named = {"up": (0.0, 0.0, 1.0), "down": (0.0, 0.0, -1.0), "mixed": (0.0, 0.0, 0.0)}
    if isinstance(state, str):
        if state not in named:
            raise ValueError(f"initial state {state!r}: allowed are {sorted(named)} or a Bloch vector")
        return np.array(named[state])
    r = np.asarray(state, dtype=float).reshape(-1)
    if r.size != 3 or not np.all(np.isfinite(r)) or np.linalg.norm(r) > 1.0 + 1e-12:
        raise ValueError(f"initial state {state!r}: a Bloch vector needs 3 finite components with |r| <= 1")
    return r


def product_state(op: HeomOperator, state="down") -> PETSc.Vec:
    """Collective. y(0) for rho_tot = rho_S (x) rho_B1^th (x) rho_B2^th: rho_00 = (1 + r.sigma)/2,
    i.e. y_0 = (1, r) (ADO 0 is not rescaled), and every other ADO zero."""
    r = bloch_of_state(state)
    v = op.create_vector()
    if op.lo == 0 and op.hi > 0:                          # this rank holds ADO 0: its last block
        n_local = op.hi - op.lo
        arr = v.getArray()
        arr[BS * (n_local - 1):BS * n_local] = [1.0, *r]
        v.setArray(arr)
    v.assemble()
    return v


def steady_state_vector(op: HeomOperator, settings: SolverSettings) -> tuple[PETSc.Vec, SolveReport]:
    """Collective. The steady state of op's parameters as a vector with op's layout (Tr rho_00 = 1).

    The same system as point.solve_point (trace row replaced, or the slepc null vector normalised
    afterwards), rebuilt here because point.solve_point keeps only the observables. For a quench,
    build the operator of the OLD parameters with the new operator's bounds and pass it here.
    """
    method = choose_route(settings.method, op.n_unknowns).name
    if method == "tier":        # L is assembled here anyway (the propagation needs it): its ILU is free
        method = "iterative"
    rows = build_block_rows(op.hier, op.modes, op.pauli, op.lo, op.hi)
    if method != "slepc":
        rows = impose_steady_state_conditions(rows, op.pauli)
    rows = reverse_numbering(rows, op.hier.size)
    rhs = steady_state_rhs(rows, op.hier.size)
    A, _ = assemble_matrix(op.comm, rows, op.hier.size, op.spec.matrix_type)
    del rows
    try:
        if method == "slepc":
            x, report = solve_null_vector(A, settings)
            trace = gather_entries(x, np.array([BS * (op.hier.size - 1)]))[0]
            if report.converged and abs(trace) > 1e-300:
                x.scale(1.0 / trace)
            else:
                report.converged = False
        else:
            b = vector_from_local(op.comm, rhs, op.n_unknowns)
            x, report = solve_linear(A, b, method, settings)
            b.destroy()
    finally:
        A.destroy()
    return x, report


def quench_state(y_old: PETSc.Vec, old: HeomOperator, new: HeomOperator,
                 coupling_ratio: Sequence[float] | None = None) -> PETSc.Vec:
    """Collective. The state y_old of operator `old` as the initial state of operator `new`.

    Both must have the same hierarchy shape (modes, depth, form) and bounds. The Hamiltonian
    changes at t = 0 and the total state is continuous. ADO n is x_n = s_n y_n (s_n = prod_j
    sqrt(n_j!) c_j^n_j, liouvillian.py); x_n carries the coupling strength g_b = sqrt(alpha_b)
    of its bath modes as g^{-|n|_b} (separate form: a, which carries alpha, couples up) or
    g^{+|n|_b} (merged: a couples down), relative to fields continuous across the quench
    (docs/dynamics.md). So with coupling_ratio[b] = g_b,new / g_b,old (default 1: a change of
    Delta or of the coupling directions only):

        y_new_n = prod_j [ (c_old_j / c_new_j) f_j ]^{n_j} y_old_n,
        f_j = 1/ratio[b(j)] (separate) or ratio[b(j)] (merged).

    A change of temperature or spectral density has no Hamiltonian meaning; with ratio 1 this
    keeps the unscaled ADOs x_n (rho_00 exactly, the higher tiers as a convention).
    """
    mo, mn = old.modes, new.modes
    if (mo.size != mn.size or mo.form != mn.form or old.hier.depth != new.hier.depth
            or not np.array_equal(mo.bath, mn.bath) or not np.array_equal(old.bounds, new.bounds)):
        raise ValueError("quench_state needs the same hierarchy shape (modes, form, depth) and bounds")
    n_baths = int(mn.bath.max()) + 1
    ratio = np.ones(n_baths) if coupling_ratio is None else np.asarray(coupling_ratio, dtype=float)
    if ratio.shape != (n_baths,) or np.any(ratio <= 0):
        raise ValueError(f"coupling_ratio needs {n_baths} positive numbers, got {coupling_ratio!r}")
    f = ratio[mn.bath] if mn.form == "merged" else 1.0 / ratio[mn.bath]
    per_mode = np.log(mo.scale / mn.scale * f)
    factor = np.exp(new.local_multi_indices().astype(float) @ per_mode)      # (n_local,)
    y = new.create_vector()
    y.setArray(y_old.getArray(readonly=True).reshape(-1, BS) * factor[:, None])
    y.assemble()
    return y


# ---------------------------------------------------------------------------------------------
# Output times and gathering


# ---------------------------------------------------------------------------------------------
# Reading a few entries on every rank


def gather_entries(x: PETSc.Vec, indices: np.ndarray) -> np.ndarray:
    """Collective. The entries `indices` (matrix numbering) of x on every rank."""
    return EntryGatherer(x, indices)(x)


class EntryGatherer:
    """A reusable scatter of a small set of entries of a distributed vector to every rank."""

    def __init__(self, like: PETSc.Vec, indices: np.ndarray):
        self.is_from = PETSc.IS().createGeneral(np.asarray(indices).astype(PETSc.IntType), comm=PETSc.COMM_SELF)
        self.local = PETSc.Vec().createSeq(len(indices), comm=PETSc.COMM_SELF)
        self.scatter = PETSc.Scatter().create(like, self.is_from, self.local, None)

    def __call__(self, x: PETSc.Vec) -> np.ndarray:
        self.scatter.scatter(x, self.local, PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)
        out = self.local.getArray().copy()
        return np.real(out) if np.iscomplexobj(out) else out

    def destroy(self) -> None:
        for obj in (self.scatter, self.local, self.is_from):
            obj.destroy()


# ---------------------------------------------------------------------------------------------
# Checkpoints independent of the rank count


def state_to_array(op: HeomOperator, y: PETSc.Vec, root: int = 0) -> np.ndarray | None:
    """Collective. The whole state in ADO order (y of ADO 0, 1, ..., 4 numbers each) on rank
    `root` (None elsewhere): a checkpoint that a run on any number of ranks can read back."""
    mpi = op.comm.tompi4py()
    local = y.getArray(readonly=True).reshape(-1, BS)[::-1].copy()        # this rank's ADOs lo..hi-1 in ADO order
    parts = mpi.gather((op.lo, local), root=root)
    if mpi.rank != root:
        return None
    out = np.zeros((op.hier.size, BS))
    for lo, block in parts:
        out[lo:lo + block.shape[0]] = block
    return out.reshape(-1)


def state_from_array(op: HeomOperator, array: np.ndarray | None, root: int = 0) -> PETSc.Vec:
    """Collective. A state written by state_to_array (given on rank `root`) as a vector with op's layout."""
    mpi = op.comm.tompi4py()
    full = None
    if mpi.rank == root:
        full = np.asarray(array, dtype=float).reshape(-1, BS)
        if full.shape[0] != op.hier.size:
            full = None
    ok = mpi.bcast(full is not None if mpi.rank == root else None, root=root)
    if not ok:
        raise ValueError(f"checkpoint does not hold {op.hier.size} ADOs of 4 unknowns")
    chunks = None
    if mpi.rank == root:
        chunks = []
        for r in range(mpi.size):
            lo, hi = process_range(op.bounds, r, mpi.size)
            chunks.append(full[lo:hi][::-1].reshape(-1).copy())
    mine = mpi.scatter(chunks, root=root)
    return vector_from_local(op.comm, mine, op.n_unknowns)
