"""Problem size and memory per rank without building anything (for --dry-run and SLURM sizing).

Each rank's rows, 4x4 blocks and stored nonzeros are exact: they come from the partition the
solve uses (partition.py). No PETSc is imported. This module is the memory model.

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

The tier route ("matrix_free": no AIJ matrix, sectors.py / sweep_rows.py / tier_sweep.py) has its
own terms, from the sector partition's exact per-rank counts (sectors.SectorPartition.rank_counts:
ADOs n_r, stored scalars e_r, ghost ADOs g_r, computed from the sector table without enumerating
ADOs), measured on this machine (bench/scaling/tier_memory.py; checked against the runs in
bench/scaling/results.json by tests/test_sizing.py):

    peak_r = baseline + operator_r + tables + max(build_r, solve_r)
    operator_r  12 e_r (value, int32 column) + 4 n_r per CSR kind and 8 n_r for the moves'
                level views (row pointers) + 8 n_r (diagonal) + 8 g_r (the ghosts' rows)
    tables      the numbering's tables (sectors.SectorPartition.table_bytes), on every rank
    build_r     22 MiB + 90 n_r: the chunks of neighbours and the int64 columns while the rows are
                built (sweep_rows.CHUNK), freed before the solve
    solve_r     pivots 128 n_r + halo 64 (n_r + g_r) + scatters 440 g_r + 300 n_r (x, b, the
                residual and the sweep's per-tier temporaries) + Krylov 32 (k + 6) n_r
                (GMRES(k): k = min(its, restart); BiCGStab: k = 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes
from .partition import count_ados, count_nonzeros, rank_counts
from .pauli import BS, PauliBlocks
from .routes import ROUTES, Route
from .sectors import SectorPartition, move_pairs

MIB = 2.0**20
BASELINE_BYTES = 98 * 2**20
ASSEMBLY_BYTES_PER_BLOCK = 150.0
ASSEMBLY_BYTES_PER_NONZERO = 76.0
ILU_FILL = 2.9
KRYLOV_EXTRA_VECTORS = 6
# Stored matrix formats (assembly.py builds them), with their bytes: per AIJ nonzero and row, per
# BAIJ 4x4 block and block row.
MATRIX_TYPES = ("aij", "baij")
# the tier route (module docstring)
TIER_BUILD_FIXED = 22 * 2**20
TIER_BUILD_PER_ADO = 90.0
TIER_PIVOT_BYTES = 128.0
TIER_HALO_BYTES = 64.0
TIER_SCATTER_PER_GHOST = 440.0
TIER_WORK_PER_ADO = 300.0


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
    ghosts: np.ndarray | None = None   # tier route: off-rank ADOs each rank's rows reach


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
        matrix = "matrix per rank            "
        if self.per_rank is not None and self.per_rank.ghosts is not None:      # the tier route
            pr = self.per_rank
            lines.append(f"stored scalars (tier route)  {int(pr.nonzeros.sum()):,} (no assembled matrix)")
            if self.ranks > 1:
                ratio = pr.ghosts / np.maximum(pr.ados, 1)
                lines.append(f"ghost ADOs per local ADO     {ratio.min():.2f} .. {ratio.max():.2f}")
            matrix = "operator per rank          "
        lines += [
            f"{matrix}   {self.matrix_bytes_per_rank / mib:,.1f} MiB",
            f"solver per rank (estimate)   {self.solver_bytes_per_rank / mib:,.1f} MiB{without}",
            f"total per rank (estimate)    {self.total_bytes_per_rank / mib:,.1f} MiB{without}",
        ]
        return "\n".join(lines)


def _route(method: Route | str) -> Route:
    return ROUTES[method] if isinstance(method, str) else method


def rank_sizes(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int,
               method: str = "iterative", matrix_type: str = "aij", restart: int | None = None,
               iterations: int | None = None, ksp_type: str | None = None) -> RankSizes:
    """Every rank's sizes and the memory model's terms (module docstring)."""
    if ranks < 1:
        raise ValueError(f"ranks = {ranks}: need at least 1")
    route = _route(method)
    if route.system == "matrix_free":
        return tier_rank_sizes(hier, modes, pauli, ranks, route.krylov_vectors(restart, iterations, ksp_type))
    lo, hi, blocks, aij = rank_counts(hier, modes, pauli, ranks)
    ados = hi - lo
    unknowns = BS * ados
    if matrix_type == "aij":
        matrix = 12.0 * aij + 4.0 * unknowns
        factor_base = 12.0 * aij
    elif matrix_type == "baij":
        matrix = 132.0 * blocks + 4.0 * ados
        factor_base = 132.0 * blocks
    else:
        raise ValueError(f"matrix_type {matrix_type!r}: allowed are 'aij', 'baij'")
    factor = ILU_FILL * factor_base if route.factor == "ilu" else np.full(ranks, np.nan)
    k = route.krylov_vectors(restart, iterations, ksp_type)
    krylov = 8.0 * (k + KRYLOV_EXTRA_VECTORS) * unknowns
    assembly = ASSEMBLY_BYTES_PER_BLOCK * blocks + ASSEMBLY_BYTES_PER_NONZERO * aij
    solve = matrix + np.nan_to_num(factor, nan=0.0) + krylov
    peak = BASELINE_BYTES + np.maximum(assembly, solve)
    return RankSizes(lo, hi, ados, unknowns, blocks, aij, assembly.astype(float), matrix.astype(float),
                     factor.astype(float), krylov.astype(float), peak.astype(float))


def tier_rank_sizes(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int,
                    krylov_vectors: int) -> RankSizes:
    """The tier route's terms per rank (module docstring), from the sector partition's counts."""
    part = SectorPartition.build(hier, modes, ranks)
    rc = part.rank_counts(modes)
    n, g = rc.ados.astype(float), rc.ghosts.astype(float)
    kinds = np.count_nonzero([np.any(modes.up[modes.bath == b]) for b in range(pauli.Lc.shape[0])])
    kinds += np.count_nonzero([np.any(coef[modes.bath == b] != 0) for coef in (modes.down_c, modes.down_a)
                               for b in range(pauli.Lc.shape[0])])
    scalars = (rc.up_blocks + rc.down_entries + rc.move_blocks).astype(float)
    operator = 12.0 * scalars + 4.0 * kinds * n + (8.0 * n if move_pairs(modes) else 0.0) + 8.0 * n + 8.0 * g
    matrix = operator + part.table_bytes()
    build = TIER_BUILD_FIXED + TIER_BUILD_PER_ADO * n
    factor = TIER_PIVOT_BYTES * n
    krylov = (TIER_HALO_BYTES * (n + g) + TIER_SCATTER_PER_GHOST * g + TIER_WORK_PER_ADO * n
              + 8.0 * BS * (krylov_vectors + KRYLOV_EXTRA_VECTORS) * n)
    peak = BASELINE_BYTES + matrix + np.maximum(build, factor + krylov)
    lo = part.offsets[:-1].astype(np.int64)
    return RankSizes(lo, part.offsets[1:].astype(np.int64), rc.ados, BS * rc.ados, rc.blocks + rc.ados,
                     scalars.astype(np.int64), build, matrix, factor, krylov, peak, rc.ghosts)


def lower_bound(n_modes: int, depth: int, ranks: int, method: str, restart: int | None = None) -> Sizing:
    """A hierarchy too large to build (>= MAX_SIZED_ADOS ADOs): exact ADOs and unknowns, and a lower
    bound per rank (its share of the diagonal blocks, 4 stored nonzeros per ADO at 12 bytes and 4
    row pointers, and the Krylov vectors): enough to refuse it with its size."""
    n_ados = count_ados(n_modes, depth)
    per_rank = float(n_ados) / ranks
    matrix = per_rank * (BS * 12.0 + BS * 4.0)
    krylov = per_rank * BS * 8.0 * (_route(method).krylov_vectors(restart) + KRYLOV_EXTRA_VECTORS)
    return Sizing(n_modes, n_ados, BS * n_ados, BS * n_ados, n_ados, ranks, matrix, krylov,
                  BASELINE_BYTES + matrix + krylov, method, 0, exact=False)


def estimate(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, ranks: int,
             method: str, matrix_type: str = "aij", restart: int | None = None, iterations: int | None = None,
             ksp_type: str | None = None) -> Sizing:
    """Sizes and the largest rank's estimated peak memory (module docstring). A priori (the
    default) the GMRES basis holds `restart` vectors; `iterations` (of a finished solve) gives
    the a-posteriori figure, with min(iterations, restart) vectors."""
    blocks, aij, baij = count_nonzeros(hier, modes, pauli)
    pr = rank_sizes(hier, modes, pauli, ranks, method, matrix_type, restart, iterations, ksp_type)
    r = int(np.argmax(pr.peak_bytes))
    matrix, total = float(pr.matrix_bytes[r]), float(pr.peak_bytes[r])
    k = _route(method).krylov_vectors(restart, iterations, ksp_type)
    return Sizing(modes.size, hier.size, BS * hier.size, aij if matrix_type == "aij" else baij, blocks, ranks,
                  matrix, total - BASELINE_BYTES - matrix, total, method, r, float(pr.assembly_bytes[r]),
                  float(pr.factor_bytes[r]), float(pr.krylov_bytes[r]), k, pr)
