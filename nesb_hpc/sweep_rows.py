"""One rank's rows of the Liouvillian for the "tier" route, as the tier sweep stores them (pure
numpy/scipy; no PETSc, no collective call).

The rows are those of liouvillian.build_block_rows (same coefficients, rescaling and truncation) in
the sector numbering (sectors.py), kept per tier as scalar CSR matrices S, one per kind of 4x4
block (every coupling block is a scalar times one of a few fixed matrices), applied to the n x 4
array X of the unknowns as (S X) M^T:

    up      bath b, tier t -> t+1:  up_j sqrt(n_j + 1) c_j           x Lc_b   (earlier rows)
    down_c  bath b, tier t -> t-1:  down_c_j sqrt(n_j) / c_j         x Lc_b   (later rows)
    down_a  bath b, tier t -> t-1:  down_a_j sqrt(n_j) / c_j         x A_b    (later rows)
    moves   in tier t, n -> n - e_j + e_k: sqrt(n_j (n_k + 1)) hop_jk c_k / c_j  x 1 (later rows)
    diagonal  LH + (sum_j n_j hop_jj) 1

12 bytes per stored scalar (value and int32 column) where an AIJ matrix stores about four
nonzeros of 12 bytes per block. Columns are "extended" local indices: the rank's own rows
0 .. n-1, then its ghosts (off-rank rows its couplings reach), ordered by tier and global row, so
one exchange per tier fills the ghosts a sweep step needs (tier_sweep.py). Every row of tier t < L
holds all up entries of its bath in mode order, so the pivots' Schur updates are recovered from the
up matrices alone (tier_sweep.TierSweep.setUp). Rows with moves are grouped in levels of the move
potential phi (moves raise it), highest first: the order in which the backward sweep solves them.
The rows are the trace-fixed system's only through tier_sweep (which replaces rho_00's trace row,
docs/heom.md s5); here they are L's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes
from .pauli import BS, PauliBlocks
from .sectors import SectorPartition, move_pairs

CHUNK = 1 << 17   # rows built at a time (bounds the transient arrays: ~1 KB per row)


@dataclass
class TierRows:
    """The rows of one tier of one rank: local rows [r0, r1) and their couplings."""

    t: int
    r0: int
    r1: int
    up: list = field(default_factory=list)        # [(bath, modes (u,), M, S)]: S (n_t, ext), u entries per row
    down: list = field(default_factory=list)      # [(M, S)]
    free: np.ndarray | None = None                # local rows without moves
    levels: list = field(default_factory=list)    # [(local rows, S)]: rows with moves, phi descending

    def matrices(self):
        yield from (S for *_, S in self.up)
        yield from (S for _, S in self.down)
        yield from (S for _, S in self.levels)


@dataclass
class SweepRows:
    """What one rank stores for the tier route (module docstring)."""

    rank: int
    ranks: int
    n: int                       # local ADOs (rows of 4 unknowns)
    row0: int                    # global row of local row 0
    n_ados: int
    depth: int
    tiers: list                  # TierRows per tier t = 0 .. depth
    d: np.ndarray                # (n,) sum_j n_j hop_jj
    ghosts: np.ndarray           # global rows of the ghosts, by (tier, row)
    ghost_tier_bounds: np.ndarray  # ghosts of tier t: [gtb[t], gtb[t + 1])
    r00: int                     # local row of rho_00, or -1
    conserved: bool              # rho_00's four rows are pinned (pauli.conserved_direction)
    LH: np.ndarray
    scale: np.ndarray            # c_j
    up_coef: np.ndarray          # up_j
    down_blocks: np.ndarray      # (K, 4, 4) down_c_j Lc_b + down_a_j A_b
    Lc: np.ndarray               # (n_baths, 4, 4)
    build_s: float = 0.0

    @property
    def n_ghosts(self) -> int:
        return int(self.ghosts.size)

    def rhs(self) -> np.ndarray:
        """This rank's part of e_(trace row of rho_00) (docs/heom.md s5)."""
        b = np.zeros(BS * self.n)
        if self.r00 >= 0:
            b[BS * self.r00] = 1.0
        return b

    def stored_scalars(self) -> int:
        return sum(int(S.nnz) for tr in self.tiers for S in tr.matrices())

    def nbytes(self) -> int:
        """Bytes of the stored operator (CSR arrays, level rows, diagonal)."""
        out = self.d.nbytes + self.ghosts.nbytes
        for tr in self.tiers:
            out += sum(S.data.nbytes + S.indices.nbytes + S.indptr.nbytes for S in tr.matrices())
            out += sum(rows.nbytes for rows, _ in tr.levels) + (tr.free.nbytes if tr.free is not None else 0)
        return out

    def tier_rows(self, t: int) -> tuple[int, int]:
        return self.tiers[t].r0, self.tiers[t].r1


def build_sweep_rows(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks,
                     part: SectorPartition, rank: int, chunk: int = CHUNK) -> SweepRows:
    """Not collective: rank `rank`'s rows of L in the sector numbering of `part` (module docstring)."""
    import time

    t_start = time.perf_counter()
    if modes.size != hier.n_modes:
        raise ValueError("hierarchy and modes disagree on the number of modes")
    L, K = hier.depth, modes.size
    c = modes.scale
    n_baths = pauli.Lc.shape[0]
    row0, n = int(part.offsets[rank]), part.ados(rank)
    tb = part.tier_bounds(rank)
    hop_diag = np.diag(modes.hop)
    off = modes.hop - np.diag(hop_diag)
    pairs = move_pairs(modes)
    ups = [np.array([j for j in np.nonzero(modes.up)[0] if modes.bath[j] == b], dtype=np.int64) for b in range(n_baths)]
    downs = [(kind, b, np.array([j for j in range(K) if modes.bath[j] == b and coef[j] != 0], dtype=np.int64), M)
             for kind, coef, Ms in (("c", modes.down_c, pauli.Lc), ("a", modes.down_a, pauli.A))
             for b, M in enumerate(Ms)]
    d = np.empty(n)
    tiers = []
    r00 = -1
    for t in range(L + 1):
        r0, r1 = int(tb[L - t]), int(tb[L - t + 1])
        tr = TierRows(t, r0, r1)
        up_parts = [[] for _ in ups]
        down_parts = [[] for _ in downs]
        move_parts, phi_parts = [], []
        for a in range(r0, r1, chunk):
            b = min(a + chunk, r1)
            idx = part.local_ados(rank, a, b)
            d[a:b] = idx @ hop_diag
            if t == 0:
                r00 = a
            phi_parts.append(idx @ part.pos)
            if t < L:
                for i, js in enumerate(ups):
                    if js.size:
                        up_parts[i].append(_up_entries(part, idx, js, modes.up[js] * c[js]))
            if t > 0:
                for i, (_, _, js, _) in enumerate(downs):
                    if js.size:
                        coef = (modes.down_c if downs[i][0] == "c" else modes.down_a)[js] / c[js]
                        down_parts[i].append(_down_entries(part, idx, js, coef))
                if pairs:
                    move_parts.append(_move_entries(part, idx, pairs, off, c))
        n_t = r1 - r0
        for i, js in enumerate(ups):
            if up_parts[i]:
                b_up = int(modes.bath[js[0]])
                tr.up.append((b_up, js, pauli.Lc[b_up], _csr(up_parts[i], n_t)))
        for i, (_, _, js, M) in enumerate(downs):
            if down_parts[i]:
                tr.down.append((M, _csr(down_parts[i], n_t)))
        if move_parts:
            _split_levels(tr, _csr(move_parts, n_t), np.concatenate(phi_parts))
        tiers.append(tr)
    ghosts, gtb = _extend_columns(part, rank, tiers, row0, n)
    rows = SweepRows(rank, part.ranks, n, row0, hier.size, L, tiers, d, ghosts, gtb, r00,
                     pauli.conserved_direction() is not None, pauli.LH.copy(), c.copy(), modes.up.copy(),
                     np.array([modes.down_block(j, pauli) for j in range(K)]), pauli.Lc.copy())
    rows.build_s = time.perf_counter() - t_start
    return rows


def _up_entries(part, idx, js, coef):
    """(counts per row, global columns, values) of the up couplings of modes js (every row has all)."""
    cols = np.empty((idx.shape[0], js.size), dtype=np.int64)
    vals = np.empty((idx.shape[0], js.size))
    for i, j in enumerate(js):
        nb = idx.copy()
        nb[:, j] += 1
        cols[:, i] = part.rows_of(nb)
        vals[:, i] = coef[i] * np.sqrt(idx[:, j] + 1.0)
    return np.full(idx.shape[0], js.size, dtype=np.int64), cols.ravel(), vals.ravel()


def _down_entries(part, idx, js, coef):
    """The down couplings of modes js (coefficient coef_j sqrt(n_j)), where n_j > 0."""
    occ = idx[:, js] > 0
    cols = np.full(occ.shape, -1, dtype=np.int64)
    vals = np.zeros(occ.shape)
    for i, j in enumerate(js):
        sel = occ[:, i]
        if sel.any():
            nb = idx[sel].copy()
            nb[:, j] -= 1
            cols[sel, i] = part.rows_of(nb)
            vals[sel, i] = coef[i] * np.sqrt(idx[sel, j])
    return occ.sum(axis=1), cols[occ], vals[occ]


def _move_entries(part, idx, pairs, off, c):
    """The moves n -> n - e_j + e_k, where n_j > 0."""
    src = np.array([j for j, _ in pairs])
    occ = idx[:, src] > 0
    cols = np.full(occ.shape, -1, dtype=np.int64)
    vals = np.zeros(occ.shape)
    for i, (j, k) in enumerate(pairs):
        sel = occ[:, i]
        if sel.any():
            nb = idx[sel].copy()
            nb[:, j] -= 1
            nb[:, k] += 1
            cols[sel, i] = part.rows_of(nb)
            vals[sel, i] = np.sqrt(idx[sel, j] * (idx[sel, k] + 1.0)) * off[j, k] * c[k] / c[j]
    return occ.sum(axis=1), cols[occ], vals[occ]


def _csr(parts, n_t: int) -> sp.csr_matrix:
    """A CSR matrix (n_t rows, global int64 columns for now) from per-chunk (counts, cols, vals)."""
    counts = np.concatenate([p[0] for p in parts])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cols = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    S = sp.csr_matrix((vals, cols, indptr), shape=(n_t, max(int(cols.max(initial=0)) + 1, 1)))
    return S


def _split_levels(tr: TierRows, S: sp.csr_matrix, phi: np.ndarray) -> None:
    """Rows without moves (solved at once), then the rows with moves by phi, highest first."""
    has = np.diff(S.indptr) > 0
    tr.free = (tr.r0 + np.nonzero(~has)[0]).astype(np.int64)
    moving = np.nonzero(has)[0]
    order = moving[np.argsort(-phi[moving], kind="stable")]
    values = phi[order]
    cuts = np.concatenate([[0], np.nonzero(np.diff(values))[0] + 1, [order.size]])
    for a, b in zip(cuts[:-1], cuts[1:]):
        rows = order[a:b]
        tr.levels.append(((tr.r0 + rows).astype(np.int64), S[rows]))


def _extend_columns(part: SectorPartition, rank: int, tiers: list, row0: int, n: int):
    """Replace the global columns of every matrix by extended local ones (own rows, then ghosts by
    tier and row); returns (ghost global rows, ghost tier bounds)."""
    mats = [(tr, kind, i) for tr in tiers for kind in ("up", "down", "levels") for i in range(len(getattr(tr, kind)))]
    off = [S.indices[(S.indices < row0) | (S.indices >= row0 + n)]
           for tr in tiers for S in tr.matrices()]
    ghosts = np.unique(np.concatenate(off)) if off else np.zeros(0, dtype=np.int64)
    # tier of each ghost: the sector holding its row
    by_start = np.argsort(part.start)
    sector = by_start[np.searchsorted(part.start[by_start], ghosts, side="right") - 1]
    g_tier = part.sector_tier()[sector] if ghosts.size else np.zeros(0, dtype=np.int64)
    order = np.lexsort((ghosts, g_tier))
    ghosts, g_tier = ghosts[order], g_tier[order]
    gtb = np.searchsorted(g_tier, np.arange(part.hier.depth + 2)).astype(np.int64)
    sort_pos = np.argsort(ghosts)
    sorted_ghosts = ghosts[sort_pos]
    ext_size = n + ghosts.size
    if ext_size >= 2**31:
        raise ValueError("more than 2^31 local and ghost rows on one rank: use more ranks")

    def ext(cols):
        own = (cols >= row0) & (cols < row0 + n)
        out = np.empty(cols.size, dtype=np.int32)
        out[own] = cols[own] - row0
        out[~own] = n + sort_pos[np.searchsorted(sorted_ghosts, cols[~own])]
        return out

    for tr, kind, i in mats:
        entry = getattr(tr, kind)[i]
        S = entry[-1]
        S = sp.csr_matrix((S.data, ext(S.indices), S.indptr.astype(np.int32)), shape=(S.shape[0], ext_size))
        getattr(tr, kind)[i] = (*entry[:-1], S)
    return ghosts, gtb
