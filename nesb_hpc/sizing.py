"""Problem size and memory per rank without building anything (for --dry-run and SLURM sizing).

The number of stored nonzeros is exact: summed over ADOs, "mode j occupied" is counted by
combinatorics (of the C(t+K-1, K-1) ADOs of tier t, C(t+K-2, K-2) have n_j = 0), and each kind of
4x4 block has a known number of nonzeros.

Each rank's rows come from the partition the solve uses (``ownership``, which
assembly.ado_ownership calls: equal nonzeros per rank by each tier's average row), and their
blocks and nonzeros are exact too (``counts_before``: how many ADOs below a given number have n_j > 0, by the same
combinatorics inside a tier). No PETSc is imported.

Memory is a model of each rank's peak resident set, fitted to measured breakdowns on this
machine (bench/_memory_breakdown.py; AIJ, iterative route; checked against every run recorded in
bench/results.json by tests/test_sizing.py). For a rank with n_r unknowns, nnz_r stored
nonzeros and b_r 4x4 blocks (bytes):

    peak_r = baseline + max(assembly_r, solve_r)
    baseline    98 MiB (Python, numpy, PETSc, MPI)
    assembly_r  150 b_r + 76 nnz_r: the conversion of the block rows to CSR
                (assembly.block_rows_to_csr) while the rows still exist: per block the rows'
                (nb, 4, 4) values and columns (136 B) and a mask and an index; per nonzero
                np.nonzero's three index arrays, the row/column/value arrays, the sort permutation
                and the sorted copies (~76 B, counted from the code). The sum is fitted: 468 B per
                block at the separate form's 4.19 nonzeros per block; the split then predicts the
                merged form (5.3 nonzeros per block; its 1-rank peaks in README.md within 3%). The
                Python row building before it peaks lower (~380 B per block). All of it is freed
                before the KSP exists and the allocator hands it to PETSc again, so the peak is
                the LARGER of this and the solve footprint, not their sum.
    solve_r     matrix + factor + Krylov
      matrix    AIJ: 12 per nonzero (value + column index) + 4 per row;  BAIJ: 132 per 4x4 block
      factor    iterative: ILU(1) of the rank's diagonal block, f = 2.9 times the matrix's values
                and indices (measured 2.5-2.9 on 1 and 2 ranks: an upper bound);
                direct / slepc: the LU fill is not predictable and is left out (LU of the HEOM
                fills in almost completely, which is why "auto" avoids it)
      Krylov    (k + 6) vectors of 8 bytes per local unknown: GMRES's basis, allocated as the
                iterations proceed, and its work vectors. A priori k = restart (the basis fills
                once the solve takes restart iterations); given the iteration count of a finished
                solve, k = min(iterations, restart).

Ranks own very different row counts (top-tier rows are short: they couple to no tier above), so
every term uses the rank's own sizes, and the estimate reports the rank with the largest peak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb

import numpy as np

from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes
from .pauli import PauliBlocks

MIB = 2.0**20
BASELINE_BYTES = 98 * 2**20
ASSEMBLY_BYTES_PER_BLOCK = 150.0
ASSEMBLY_BYTES_PER_NONZERO = 76.0
ILU_FILL = 2.9
KRYLOV_EXTRA_VECTORS = 6
DIRECT_KRYLOV_VECTORS = 30   # the direct route's GMRES(30) around the LU (steady_state.default_options)
BS = 4                       # unknowns per ADO


@dataclass(frozen=True)
class RankSizes:
    """Per PETSc process p = 0 .. ranks-1 (arrays of length ranks).

    The matrix is numbered top tier first (liouvillian.reverse_numbering), so process p holds the
    ADOs [lo[p], hi[p]) of partition part ranks - 1 - p (point.solve_point)."""

    lo: np.ndarray
    hi: np.ndarray
    ados: np.ndarray
    unknowns: np.ndarray
    blocks: np.ndarray
    nonzeros: np.ndarray          # AIJ stored nonzeros
    assembly_bytes: np.ndarray
    matrix_bytes: np.ndarray
    factor_bytes: np.ndarray      # NaN where not predictable (direct, slepc)
    krylov_bytes: np.ndarray
    peak_bytes: np.ndarray        # baseline + max(assembly, matrix + factor + Krylov), factor NaN -> 0


@dataclass(frozen=True)
class Sizing:
    """Sizes (whole problem) and the memory model's figures for the rank with the largest peak.

    total_bytes_per_rank = BASELINE_BYTES + matrix_bytes_per_rank + solver_bytes_per_rank is that
    rank's estimated peak; solver_bytes_per_rank is what the peak holds beyond the matrix (the ILU
    factor and GMRES's vectors, or the assembly transient where that is larger). For the direct
    and slepc routes the LU factor is not in these figures (factor_bytes_per_rank is NaN)."""

    n_modes: int
    n_ados: int
    n_unknowns: int
    nonzeros: int
    blocks: int
    ranks: int
    matrix_bytes_per_rank: float
    solver_bytes_per_rank: float
    total_bytes_per_rank: float
    method: str = "iterative"
    largest_rank: int = 0
    assembly_bytes_per_rank: float = float("nan")
    factor_bytes_per_rank: float = float("nan")
    krylov_bytes_per_rank: float = float("nan")
    krylov_vectors: int = 0
    per_rank: RankSizes | None = field(default=None, compare=False, repr=False)
    exact: bool = True            # False: a lower bound for a hierarchy too large to partition

    @property
    def factor_known(self) -> bool:
        return bool(np.isfinite(self.factor_bytes_per_rank))

    def table(self) -> str:
        mib = MIB
        without = "" if self.factor_known else " (without the LU factor)"
        at_least = "" if self.exact else ">= "
        if not self.exact:
            without = " (a lower bound: too large to partition)"
        lines = [
            f"modes (all baths, R and I)   {self.n_modes}",
            f"ADOs                         {self.n_ados:,}",
            f"unknowns (4 per ADO)         {self.n_unknowns:,}",
            f"nonzero 4x4 blocks           {at_least}{self.blocks:,}",
            f"stored nonzeros              {at_least}{self.nonzeros:,}",
            f"ranks                        {self.ranks}",
        ]
        if self.per_rank is not None and self.ranks > 1:
            pr = self.per_rank
            lines.append(f"ADOs per rank                {int(pr.ados.min()):,} .. {int(pr.ados.max()):,}"
                         f" (largest peak: rank {self.largest_rank}, {int(pr.ados[self.largest_rank]):,})")
        lines += [
            f"matrix per rank              {self.matrix_bytes_per_rank / mib:,.1f} MiB",
            f"solver per rank (estimate)   {self.solver_bytes_per_rank / mib:,.1f} MiB{without}",
            f"total per rank (estimate)    {self.total_bytes_per_rank / mib:,.1f} MiB{without}",
        ]
        return "\n".join(lines)


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
    p owns ADOs [b[p], b[p+1]). The partition of the solve (assembly.ado_ownership calls this)."""
    _, aij = nonzeros_per_tier(hier, modes, pauli)
    return hier.partition(n_parts, aij / np.diff(hier.tier_offsets))


def rank_ranges(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) ADO ranges per PETSc process p (process p holds part ranks - 1 - p)."""
    bounds = ownership(hier, modes, pauli, ranks)
    parts = ranks - 1 - np.arange(ranks)
    return bounds[parts], bounds[parts + 1]


def krylov_vectors(method: str, restart: int = 100, iterations: int | None = None) -> int:
    """GMRES basis vectors the model counts: restart a priori (the direct route's GMRES(30)
    around the LU: at most 30), min(iterations, restart) for a finished solve."""
    if method != "iterative":
        restart = min(restart, DIRECT_KRYLOV_VECTORS)
    return restart if iterations is None else min(iterations, restart)


def rank_sizes(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int,
               method: str = "iterative", matrix_type: str = "aij", restart: int = 100,
               iterations: int | None = None) -> RankSizes:
    """Every rank's sizes and the memory model's terms (module docstring)."""
    if ranks < 1:
        raise ValueError(f"ranks = {ranks}: need at least 1")
    lo, hi = rank_ranges(hier, modes, pauli, ranks)
    ados = hi - lo
    bounds = np.concatenate([hi[:1], lo])          # lo[p] = hi[p + 1]: every boundary once
    cb, ca = counts_before(hier, RowCounts.of(modes, pauli), bounds)
    blocks, aij = cb[:-1] - cb[1:], ca[:-1] - ca[1:]
    unknowns = BS * ados
    if matrix_type == "aij":
        matrix = 12.0 * aij + 4.0 * unknowns
        factor_base = 12.0 * aij
    elif matrix_type == "baij":
        matrix = 132.0 * blocks + 4.0 * ados
        factor_base = 132.0 * blocks
    else:
        raise ValueError(f"matrix_type {matrix_type!r}: allowed are 'aij', 'baij'")
    factor = ILU_FILL * factor_base if method == "iterative" else np.full(ranks, np.nan)
    k = krylov_vectors(method, restart, iterations)
    krylov = 8.0 * (k + KRYLOV_EXTRA_VECTORS) * unknowns
    assembly = ASSEMBLY_BYTES_PER_BLOCK * blocks + ASSEMBLY_BYTES_PER_NONZERO * aij
    solve = matrix + np.nan_to_num(factor, nan=0.0) + krylov
    peak = BASELINE_BYTES + np.maximum(assembly, solve)
    return RankSizes(lo, hi, ados, unknowns, blocks, aij, assembly.astype(float), matrix.astype(float),
                     factor.astype(float), krylov.astype(float), peak.astype(float))


# Beyond this many ADOs nothing is partitioned or counted per rank (int64 products could overflow,
# and no machine holds 2**40 ADOs: ~2 PB): sizes are Python integers and memory a lower bound.
MAX_SIZED_ADOS = 2**40


def count_ados(n_modes: int, depth: int) -> int:
    """C(K + L, L): ADOs of K modes at total depth L (exact Python integer, never overflows)."""
    return comb(n_modes + depth, depth)


def lower_bound(n_modes: int, depth: int, ranks: int, method: str, restart: int = 100) -> Sizing:
    """A hierarchy too large to build (>= MAX_SIZED_ADOS ADOs): exact ADOs and unknowns, and a lower
    bound per rank (its share of the diagonal blocks, 4 stored nonzeros per ADO at 12 bytes and 4
    row pointers, and the Krylov vectors): enough to refuse it with its size."""
    n_ados = count_ados(n_modes, depth)
    per_rank = float(n_ados) / ranks
    matrix = per_rank * (BS * 12.0 + BS * 4.0)
    krylov = per_rank * BS * 8.0 * (krylov_vectors(method, restart) + KRYLOV_EXTRA_VECTORS)
    return Sizing(n_modes, n_ados, BS * n_ados, BS * n_ados, n_ados, ranks, matrix, krylov,
                  BASELINE_BYTES + matrix + krylov, method, 0, exact=False)


def estimate(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int,
             method: str, matrix_type: str = "aij", restart: int = 100, iterations: int | None = None) -> Sizing:
    """Sizes and the largest rank's estimated peak memory (module docstring). A priori (the
    default) the GMRES basis holds `restart` vectors; `iterations` (of a finished solve) gives
    the a-posteriori figure, with min(iterations, restart) vectors."""
    blocks, aij, baij = count_nonzeros(hier, modes, pauli)
    pr = rank_sizes(hier, modes, pauli, ranks, method, matrix_type, restart, iterations)
    r = int(np.argmax(pr.peak_bytes))
    matrix, total = float(pr.matrix_bytes[r]), float(pr.peak_bytes[r])
    k = krylov_vectors(method, restart, iterations)
    return Sizing(modes.size, hier.size, BS * hier.size, aij if matrix_type == "aij" else baij, blocks, ranks,
                  matrix, total - BASELINE_BYTES - matrix, total, method, r, float(pr.assembly_bytes[r]),
                  float(pr.factor_bytes[r]), float(pr.krylov_bytes[r]), k, pr)
