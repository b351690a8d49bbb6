"""Problem size and memory per rank without building anything (for --dry-run and SLURM sizing).

The number of stored nonzeros is exact: summed over ADOs, "mode j occupied" is counted by
combinatorics (of the C(t+K-1, K-1) ADOs of tier t, C(t+K-2, K-2) have n_j = 0), and each kind of
4x4 block has a known number of nonzeros. Memory is a model with stated parts (bytes):

    matrix     AIJ: 12 per nonzero (value + column index) + 4 per row;  BAIJ: 132 per 4x4 block
    factor     iterative: ILU(1) ~ fill * matrix (fill ~ 2.5);  direct: not predictable, reported as
               unknown (LU of the HEOM fills in almost completely, which is why auto avoids it)
    Krylov     (restart + 4) vectors of 8 bytes per local unknown (GMRES basis and work vectors)
    baseline   ~150 MiB per rank (Python, numpy, PETSc, MPI)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes
from .pauli import PauliBlocks

BASELINE_BYTES = 150 * 2**20
ILU_FILL = 2.5


@dataclass(frozen=True)
class Sizing:
    n_modes: int
    n_ados: int
    n_unknowns: int
    nonzeros: int
    blocks: int
    ranks: int
    matrix_bytes_per_rank: float
    solver_bytes_per_rank: float
    total_bytes_per_rank: float

    def table(self) -> str:
        mib = 2.0**20
        return "\n".join([
            f"modes (all baths, R and I)   {self.n_modes}",
            f"ADOs                         {self.n_ados:,}",
            f"unknowns (4 per ADO)         {self.n_unknowns:,}",
            f"nonzero 4x4 blocks           {self.blocks:,}",
            f"stored nonzeros              {self.nonzeros:,}",
            f"ranks                        {self.ranks}",
            f"matrix per rank              {self.matrix_bytes_per_rank / mib:,.1f} MiB",
            f"solver per rank (estimate)   {self.solver_bytes_per_rank / mib:,.1f} MiB",
            f"total per rank (estimate)    {self.total_bytes_per_rank / mib:,.1f} MiB",
        ])


def nonzeros_per_tier(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks) -> tuple[np.ndarray, np.ndarray]:
    """(blocks[t], AIJ nonzeros[t]) summed over the ADOs of each tier t, exactly, without building."""
    K, L = hier.n_modes, hier.depth
    nb = pauli.Lc.shape[0]
    nnz_lc = [int(np.count_nonzero(pauli.Lc[b])) for b in range(nb)]
    off = modes.hop - np.diag(np.diag(modes.hop))
    eta_moves = int(np.count_nonzero(off))  # (j -> k) moves, each needs n_j > 0
    up = [j for j in range(K) if modes.up[j] != 0]
    down = [j for j in range(K) if modes.down_c[j] != 0 or modes.down_a[j] != 0]
    up_nnz = sum(nnz_lc[modes.bath[j]] for j in up)
    down_nnz = sum(int(np.count_nonzero(modes.down_block(j, pauli))) for j in down)
    diag_nnz = int(((pauli.LH != 0) | np.eye(4, dtype=bool)).sum())
    blocks = np.zeros(L + 1, dtype=np.int64)
    aij = np.zeros(L + 1, dtype=np.int64)
    for t in range(L + 1):
        count = comb(t + K - 1, K - 1)
        # ADOs of tier t with n_j > 0 for one given mode j (the same for every j)
        occupied = 0 if t == 0 else (count - comb(t + K - 2, K - 2) if K > 1 else count)
        top = t == L
        blocks[t] = count * (1 + (0 if top else len(up))) + occupied * (len(down) + eta_moves)
        aij[t] = count * (diag_nnz + (0 if top else up_nnz)) + occupied * (down_nnz + 4 * eta_moves)
    return blocks, aij


def count_nonzeros(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks) -> tuple[int, int, int]:
    """(blocks, AIJ nonzeros, BAIJ nonzeros) of the whole Liouvillian, exactly, without building it."""
    blocks, aij = nonzeros_per_tier(hier, modes, pauli)
    return int(blocks.sum()), int(aij.sum()), 16 * int(blocks.sum())


def estimate(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int,
             method: str, matrix_type: str = "aij", restart: int = 100) -> Sizing:
    blocks, aij, baij = count_nonzeros(hier, modes, pauli)
    n = 4 * hier.size
    if matrix_type == "aij":
        matrix = 12.0 * aij + 4.0 * n
    else:
        matrix = 132.0 * blocks + 4.0 * hier.size
    matrix /= ranks
    krylov = (restart + 4) * 8.0 * n / ranks
    factor = ILU_FILL * matrix if method == "iterative" else float("nan")
    solver = krylov + factor
    total = BASELINE_BYTES + matrix + solver
    return Sizing(modes.size, hier.size, n, aij if matrix_type == "aij" else baij, blocks, ranks,
                  matrix, solver, total)
