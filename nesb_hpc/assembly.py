"""The distributed Liouvillian: the project's only PETSc.Mat constructor.

Each rank owns a contiguous range of ADOs (4 scalar rows each), builds exactly its own block
rows (liouvillian.build_block_rows) and hands them to PETSc as CSR arrays, which preallocates
exactly (MatMPI{AIJ,BAIJ}SetPreallocationCSR): no mallocs during assembly, checked.

Two storage formats, both with block size 4:
  "aij"   scalar CSR, structural zeros of the 4x4 blocks dropped (about 4 of 16 entries of a
          coupling block are nonzero, so this stores ~3x less); works with every PETSc solver;
  "baij"  dense 4x4 blocks (BAIJ): fewer indices and blocked kernels, more stored zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from petsc4py import PETSc

from .liouvillian import BlockRows
from .pauli import BS


def block_rows_to_csr(rows: BlockRows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scalar CSR (indptr, cols, values) of block rows, dropping the zero entries of each block."""
    brow = np.repeat(np.arange(rows.hi - rows.lo), np.diff(rows.indptr))
    keep = rows.values != 0.0                                  # (nb, 4, 4)
    # diagonal entries stay even when zero: ILU and point-block Jacobi need them present
    diag_block = rows.cols == np.arange(rows.lo, rows.hi)[brow]
    keep[diag_block] |= np.eye(BS, dtype=bool)
    # flatten in (block, mu, nu) order; for a fixed scalar row (brow, mu) this lists columns in
    # ascending order, so a stable sort by row yields CSR order
    b_i, mu, nu = np.nonzero(keep)
    row = BS * brow[b_i] + mu
    col = BS * rows.cols[b_i] + nu
    val = rows.values[b_i, mu, nu]
    order = np.argsort(row, kind="stable")
    n_rows = BS * (rows.hi - rows.lo)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n_rows))])
    return indptr.astype(PETSc.IntType), col[order].astype(PETSc.IntType), val[order]


@dataclass(frozen=True)
class AssemblyInfo:
    n_rows_global: int
    nonzeros_local: int
    mallocs: int
    memory_bytes_local: float


def assemble_matrix(comm, rows: BlockRows, n_ados: int, matrix_type: str = "aij") -> tuple[PETSc.Mat, AssemblyInfo]:
    """Collective. A distributed (4 n_ados)^2 matrix from each rank's block rows.

    comm: the PETSc or mpi4py communicator of the ranks sharing this point.
    """
    n_local = BS * (rows.hi - rows.lo)
    size = ((n_local, BS * n_ados), (n_local, BS * n_ados))
    if matrix_type == "aij":
        csr = block_rows_to_csr(rows)
        A = PETSc.Mat().createAIJ(size, bsize=BS, csr=csr, comm=comm)
    elif matrix_type == "baij":
        vals = np.ascontiguousarray(rows.values.reshape(-1), dtype=PETSc.ScalarType)
        csr = (rows.indptr.astype(PETSc.IntType), rows.cols.astype(PETSc.IntType), vals)
        A = PETSc.Mat().createBAIJ(size, BS, csr=csr, comm=comm)
    else:
        raise ValueError(f"matrix_type {matrix_type!r}: allowed are sizing.MATRIX_TYPES")
    A.assemble()
    info = A.getInfo(PETSc.Mat.InfoType.LOCAL)
    return A, AssemblyInfo(BS * n_ados, int(info["nz_used"]), int(info["mallocs"]), float(info["memory"]))


def vector_from_local(comm, local: np.ndarray, n_global: int) -> PETSc.Vec:
    """Collective. A distributed vector whose local part is `local`."""
    v = PETSc.Vec().createMPI((local.size, n_global), comm=comm)
    v.setArray(local.astype(PETSc.ScalarType))
    return v


def gather_entries(x: PETSc.Vec, indices: np.ndarray) -> np.ndarray:
    """Collective. The entries `indices` of the distributed x, on every rank (a small set)."""
    is_from = PETSc.IS().createGeneral(indices.astype(PETSc.IntType), comm=PETSc.COMM_SELF)
    local = PETSc.Vec().createSeq(indices.size, comm=PETSc.COMM_SELF)
    scatter = PETSc.Scatter().create(x, is_from, local, None)
    scatter.scatter(x, local, PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)
    out = local.getArray().copy()
    for obj in (scatter, local, is_from):
        obj.destroy()
    return out
