"""How the hierarchy is split among the ranks of one solve, and exact counts of what each holds.

Numbering: ADOs are numbered tier by tier (hierarchy.py); the MATRIX numbers them from the top
tier down, m = n_ados - 1 - n (``matrix_index``; docs/heom.md s5: an incomplete LU in that order
factors rho_00's singular block last), and PETSc process p holds the matrix rows of partition part
``part_of_process(p)`` = ranks - 1 - p, i.e. the ADO range [bounds[part], bounds[part + 1]).

Ownership (``ownership``): contiguous ADO ranges with equal numbers of stored nonzeros, by each
tier's average row. The counts are exact without building anything: summed over ADOs, "mode j
occupied" is counted by combinatorics (of the C(t+K-1, K-1) ADOs of tier t, C(t+K-2, K-2) have
n_j = 0), each kind of 4x4 block has a known number of nonzeros, and ``counts_before`` counts the
rows below any ADO number by the same combinatorics inside a tier. Pure numpy: the solve
(point.py) and the dry run (sizing.py) use the same functions. No PETSc.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from .hierarchy import TierOrderedHierarchy
from .liouvillian import BlockRows, HierarchyModes
from .pauli import BS, PauliBlocks


def matrix_index(ado, n_ados: int):
    """The matrix block row of ADO number `ado` (and back: the map is its own inverse)."""
    return n_ados - 1 - ado


def reverse_numbering(rows: BlockRows, n_ados: int) -> BlockRows:
    """The same rows in the matrix numbering m = n_ados - 1 - (ADO number): highest tier first.

    Why: rho_00's own 4x4 block is singular (sz commutes with H_S = Delta sz: populations relax
    only through tier 1), so an incomplete LU in tier order meets a zero pivot at once. With the
    highest tiers first, rho_00 is factored last, after the Schur updates from tier 1 (the
    dissipator) have reached its block; natural-order ILU is then stable for every coupling tested
    (theta = 0 and pi/4, alpha = 0.1 to 4: true residuals ~1e-12), where RCM or nested-dissection
    orderings of the tier-ordered matrix each failed somewhere.
    """
    counts = np.diff(rows.indptr)[::-1]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cols = matrix_index(rows.cols, n_ados)[::-1].copy()       # reversed rows: columns ascend again
    return BlockRows(matrix_index(rows.hi - 1, n_ados), matrix_index(rows.lo - 1, n_ados), indptr, cols,
                     rows.values[::-1].copy())


@dataclass(frozen=True)
class MatrixNumbering:
    """One rank's rows in the assembled routes' numbering: the ADOs [lo, hi) (tier numbering) as
    matrix rows [n - hi, n - lo), top tier first. (The tier route's: sectors.SectorNumbering; the
    noise's extra operators are built through either, noise.py.)"""

    hier: TierOrderedHierarchy
    lo: int
    hi: int

    def row_range(self) -> tuple[int, int]:
        n = self.hier.size
        return int(matrix_index(self.hi - 1, n)), int(matrix_index(self.lo - 1, n))

    def local_ados(self) -> np.ndarray:
        """The multi-indices of this rank's rows, in row order."""
        return self.hier.unrank(np.arange(self.hi - 1, self.lo - 1, -1, dtype=np.int64))

    def rows_of(self, idx: np.ndarray) -> np.ndarray:
        return matrix_index(self.hier.rank(np.asarray(idx)), self.hier.size)


def steady_state_rhs(rows: BlockRows, n_ados: int) -> np.ndarray:
    """This rank's part of the right-hand side e_(trace row of rho_00), in reverse numbering:
    rho_00 is matrix block n_ados - 1, its trace component the first of its 4 rows."""
    b = np.zeros(BS * (rows.hi - rows.lo))
    rho_00 = matrix_index(0, n_ados)
    if rows.lo <= rho_00 < rows.hi:
        b[BS * (rho_00 - rows.lo)] = 1.0
    return b


def part_of_process(process: int, ranks: int) -> int:
    """The partition part whose ADOs PETSc process `process` holds (top tier on process 0)."""
    return ranks - 1 - process


def process_range(bounds: np.ndarray, process: int, ranks: int) -> tuple[int, int]:
    """ADO range [lo, hi) of PETSc process `process` for partition bounds."""
    part = part_of_process(process, ranks)
    return int(bounds[part]), int(bounds[part + 1])


# Beyond this many ADOs nothing is partitioned or counted per rank (int64 products could overflow,
# and no machine holds 2**40 ADOs: ~2 PB): sizes are Python integers and memory a lower bound.
MAX_SIZED_ADOS = 2**40


def count_ados(n_modes: int, depth: int) -> int:
    """C(K + L, L): ADOs of K modes at total depth L (exact Python integer, never overflows)."""
    return comb(n_modes + depth, depth)


@dataclass(frozen=True)
class RowCounts:
    """4x4 blocks and AIJ nonzeros of the row of ADO n (tier t, depth L), as build_block_rows makes it:

        base + up [t < L] + sum_j occupied[j] [n_j > 0]

    base: the diagonal block; up: one block per mode with an upward coupling; occupied[j]: mode
    j's downward block (if it has one) and its moves n -> n - e_j + e_k within the tier. No two
    of these land on the same column, so the counts add."""

    base_blocks: int
    up_blocks: int
    occupied_blocks: np.ndarray   # (K,) int
    base_nonzeros: int
    up_nonzeros: int
    occupied_nonzeros: np.ndarray  # (K,) int

    @classmethod
    def of(cls, modes: HierarchyModes, pauli: PauliBlocks) -> "RowCounts":
        K = modes.size
        nnz_lc = [int(np.count_nonzero(pauli.Lc[b])) for b in range(pauli.Lc.shape[0])]
        off = modes.hop - np.diag(np.diag(modes.hop))
        moves_from = np.count_nonzero(off, axis=1).astype(np.int64)   # (j -> k) moves need n_j > 0
        up = [j for j in range(K) if modes.up[j] != 0]
        down = np.array([modes.down_c[j] != 0 or modes.down_a[j] != 0 for j in range(K)])
        down_nnz = np.array([int(np.count_nonzero(modes.down_block(j, pauli))) if down[j] else 0
                             for j in range(K)], dtype=np.int64)
        diag_nnz = int(((pauli.LH != 0) | np.eye(4, dtype=bool)).sum())
        return cls(1, len(up), down.astype(np.int64) + moves_from,
                   diag_nnz, sum(nnz_lc[modes.bath[j]] for j in up), down_nnz + 4 * moves_from)


def nonzeros_per_tier(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks) -> tuple[np.ndarray, np.ndarray]:
    """(blocks[t], AIJ nonzeros[t]) summed over the ADOs of each tier t, exactly, without building."""
    K, L = hier.n_modes, hier.depth
    rc = RowCounts.of(modes, pauli)
    occ_blocks, occ_aij = int(rc.occupied_blocks.sum()), int(rc.occupied_nonzeros.sum())
    blocks = np.zeros(L + 1, dtype=np.int64)
    aij = np.zeros(L + 1, dtype=np.int64)
    for t in range(L + 1):
        count = comb(t + K - 1, K - 1)
        occupied = _occupied_in_tier(t, K)
        top = t == L
        blocks[t] = count * (rc.base_blocks + (0 if top else rc.up_blocks)) + occupied * occ_blocks
        aij[t] = count * (rc.base_nonzeros + (0 if top else rc.up_nonzeros)) + occupied * occ_aij
    return blocks, aij


def _occupied_in_tier(t: int, K: int) -> int:
    """ADOs of tier t with n_j > 0 for one given mode j (the same for every j): of the
    C(t+K-1, K-1) ADOs of tier t, C(t+K-2, K-2) have n_j = 0."""
    count = comb(t + K - 1, K - 1)
    return 0 if t == 0 else (count - comb(t + K - 2, K - 2) if K > 1 else count)


def occupied_before(hier: TierOrderedHierarchy, weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """sum_j weights[j] #{ADOs n numbered below x with n_j > 0}, exactly, for each x in [0, size].

    Whole tiers below x's tier count _occupied_in_tier each. Inside x's tier (lexicographic,
    n_0 most significant), the ADOs before m = unrank(x) are, for i = 0 .. K-2 and v < m_i, the
    groups with n_0..n_{i-1} = m_0..m_{i-1}, n_i = v, and the remaining k = K-1-i coordinates
    any composition of s = r_i - v (r_i = t - m_0 - ... - m_{i-1}): comp(s, k) = C(s+k-1, k-1) of
    them, of which comp(s, k) - comp(s, k-1) have a given one of those coordinates > 0
    (comp(s, 0) = [s = 0]). Vectorised over x; O(K depth) array operations."""
    K, L = hier.n_modes, hier.depth
    B = hier._binom
    w = np.asarray(weights, dtype=np.int64)
    x = np.atleast_1d(np.asarray(x, dtype=np.int64))
    t = np.minimum(hier.tier_of_rank(x), L)
    occ = np.array([_occupied_in_tier(tt, K) for tt in range(L + 1)], dtype=np.int64)
    whole = np.concatenate([[0], np.cumsum(occ)])
    full = x >= hier.size                      # the end: every tier is whole
    out = np.where(full, whole[L + 1], whole[t]) * int(w.sum())
    part = ~full
    if not part.any():
        return out
    m = hier.unrank(x[part]).astype(np.int64)
    r = t[part].astype(np.int64)
    before_w = np.zeros(r.size, dtype=np.int64)        # sum_{j < i} w_j [m_j > 0]
    add = np.zeros(r.size, dtype=np.int64)

    def comp(s, k):
        if k == 0:
            return (s == 0).astype(np.int64)
        return B[np.maximum(s, 0) + k - 1, k - 1]

    for i in range(K - 1):
        k = K - 1 - i
        tail_w = int(w[i + 1:].sum())
        mi = m[:, i]
        for v in range(int(mi.max(initial=0))):
            sel = v < mi
            s = np.where(sel, r - v, 0)
            g = comp(s, k)
            contrib = g * (before_w + (w[i] if v > 0 else 0)) + tail_w * (g - comp(s, k - 1))
            add += np.where(sel, contrib, 0)
        before_w += w[i] * (mi > 0)
        r = r - mi
    out[part] += add
    return out


def counts_before(hier: TierOrderedHierarchy, rc: RowCounts, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(blocks, AIJ nonzeros) of the rows of the ADOs numbered below x, exactly (x in [0, size])."""
    x = np.atleast_1d(np.asarray(x, dtype=np.int64))
    below_top = np.minimum(x, hier.tier_offsets[hier.depth])     # rows with an upward coupling
    blocks = rc.base_blocks * x + rc.up_blocks * below_top + occupied_before(hier, rc.occupied_blocks, x)
    aij = rc.base_nonzeros * x + rc.up_nonzeros * below_top + occupied_before(hier, rc.occupied_nonzeros, x)
    return blocks, aij


def count_nonzeros(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks) -> tuple[int, int, int]:
    """(blocks, AIJ nonzeros, BAIJ nonzeros) of the whole Liouvillian, exactly, without building it."""
    blocks, aij = nonzeros_per_tier(hier, modes, pauli)
    return int(blocks.sum()), int(aij.sum()), 16 * int(blocks.sum())


def ownership(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, n_parts: int) -> np.ndarray:
    """Contiguous ADO ranges with equal numbers of stored nonzeros (within one ADO): bounds b, part
    p owns ADOs [b[p], b[p+1]). The partition of the solve and of the dry run.

    Rows inside a tier differ too (in how many modes are occupied), so the exact per-rank counts
    spread: max/mean under 1.01 on 2 ranks, 1.13-1.20 at 64-1024 ranks of ~250k ADOs each
    (bench/README.md, weak-scaling projection)."""
    _, aij = nonzeros_per_tier(hier, modes, pauli)
    return hier.partition(n_parts, aij / np.diff(hier.tier_offsets))


def rank_ranges(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) ADO ranges per PETSc process p = 0 .. ranks-1."""
    bounds = ownership(hier, modes, pauli, ranks)
    parts = part_of_process(np.arange(ranks), ranks)
    return bounds[parts], bounds[parts + 1]


def rank_counts(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per PETSc process: (lo, hi, 4x4 blocks, AIJ nonzeros) of its rows, exactly."""
    lo, hi = rank_ranges(hier, modes, pauli, ranks)
    edges = np.concatenate([hi[:1], lo])          # lo[p] = hi[p + 1]: every boundary once
    cb, ca = counts_before(hier, RowCounts.of(modes, pauli), edges)
    return lo, hi, cb[:-1] - cb[1:], ca[:-1] - ca[1:]
