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
up matrices alone (tier_sweep.TierSweep.setUp). The moves of a tier are split into "levels" of
equal move potential phi, contiguous rows in the sector numbering (moves raise phi): the backward
sweep solves them level by level, highest first, on contiguous slices.
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

CHUNK = 1 << 13   # rows built at a time (bounds the transient arrays: ~1 KB per row)


@dataclass
class TierRows:
    """The rows of one tier of one rank: local rows [r0, r1) and their couplings."""

    t: int
    r0: int
    r1: int
    up: list = field(default_factory=list)        # [(bath, modes (u,), M, S)]: S (n_t, ext), u entries per row
    down: list = field(default_factory=list)      # [(M, S)]
    moves: list = field(default_factory=list)     # [S] (at most one): the tier's moves
    levels: list = field(default_factory=list)    # [(a, b, S_ab)]: local rows [a, b) of equal phi and
                                                  # their moves (views of moves[0]), phi ascending

    def matrices(self):
        yield from (S for *_, S in self.up)
        yield from (S for _, S in self.down)
        yield from self.moves


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
            out += sum(S.indptr.nbytes for _, _, S in tr.levels)
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
    up_modes = [int(j) for j in np.nonzero(modes.up)[0]]
    down_modes = [int(j) for j in np.nonzero((modes.down_c != 0) | (modes.down_a != 0))[0]]
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
        tier_idx = part.tier_ados(rank, t)
        for a in range(r0, r1, chunk):
            b = min(a + chunk, r1)
            idx = tier_idx[a - r0:b - r0]
            d[a:b] = idx @ hop_diag
            if t == 0:
                r00 = a
            phi_parts.append(idx @ part.pos)
            # every neighbour of the chunk numbered in one call (rows_of's cost is per call)
            shifts = ([("up", j, j) for j in up_modes] if t < L else [])
            shifts += ([("down", j, j) for j in down_modes] + [("move", j, k) for j, k in pairs]) if t > 0 else []
            nbr = _neighbour_rows(part, idx, shifts)
            if t < L:
                for i, js in enumerate(ups):
                    if js.size:
                        up_parts[i].append(_up_entries(nbr, idx, js, modes.up[js] * c[js]))
            if t > 0:
                for i, (_, _, js, _) in enumerate(downs):
                    if js.size:
                        coef = (modes.down_c if downs[i][0] == "c" else modes.down_a)[js] / c[js]
                        down_parts[i].append(_down_entries(nbr, idx, js, coef))
                if pairs:
                    move_parts.append(_move_entries(nbr, idx, pairs, off, c))
            del nbr
        n_t = r1 - r0
        for i, js in enumerate(ups):
            if up_parts[i]:
                b_up = int(modes.bath[js[0]])
                tr.up.append((b_up, js, pauli.Lc[b_up], _csr(up_parts[i], n_t)))
        for i, (_, _, js, M) in enumerate(downs):
            if down_parts[i]:
                tr.down.append((M, _csr(down_parts[i], n_t)))
        if move_parts:
            tr.moves.append(_csr(move_parts, n_t))
            phi = np.concatenate(phi_parts)
            if np.any(np.diff(phi) < 0):
                raise AssertionError("the rows of a tier are not in the order of the move potential")
            cuts = np.concatenate([[0], np.nonzero(np.diff(phi))[0] + 1, [n_t]])
            tr.levels = [(r0 + int(a), r0 + int(b), None) for a, b in zip(cuts[:-1], cuts[1:])]
        del tier_idx
        tiers.append(tr)
    ghosts, gtb = _extend_columns(part, rank, tiers, row0, n)
    for tr in tiers:
        if tr.moves:
            tr.levels = [(a, b, _row_slice(tr.moves[0], a - tr.r0, b - tr.r0)) for a, b, _ in tr.levels]
    rows = SweepRows(rank, part.ranks, n, row0, hier.size, L, tiers, d, ghosts, gtb, r00,
                     pauli.conserved_direction() is not None, pauli.LH.copy(), c.copy(), modes.up.copy(),
                     np.array([modes.down_block(j, pauli) for j in range(K)]), pauli.Lc.copy())
    rows.build_s = time.perf_counter() - t_start
    return rows


def _neighbour_rows(part: SectorPartition, idx: np.ndarray, shifts) -> dict:
    """Global rows of the neighbours of the ADOs idx: {("up", j, j): n + e_j, ("down", j, j): n - e_j,
    ("move", j, k): n - e_j + e_k}, -1 where the neighbour does not exist (n_j = 0 for the last two)."""
    shifted, where = [], []
    for kind, j, k in shifts:
        sel = np.ones(idx.shape[0], dtype=bool) if kind == "up" else idx[:, j] > 0
        nb = idx[sel].copy()
        if kind == "up":
            nb[:, j] += 1
        else:
            nb[:, j] -= 1
            if kind == "move":
                nb[:, k] += 1
        shifted.append(nb)
        where.append(sel)
    rows = part.rows_of(np.concatenate(shifted)) if shifted else np.zeros(0, dtype=np.int64)
    out, at = {}, 0
    for key, sel in zip(shifts, where):
        col = np.full(idx.shape[0], -1, dtype=np.int64)
        m = int(sel.sum())
        col[sel] = rows[at:at + m]
        at += m
        out[key] = col
    return out


def _up_entries(nbr: dict, idx, js, coef):
    """(counts per row, global columns, values) of the up couplings of modes js (every row has all)."""
    cols = np.stack([nbr[("up", int(j), int(j))] for j in js], axis=1)
    vals = coef[None, :] * np.sqrt(idx[:, js] + 1.0)
    return np.full(idx.shape[0], js.size, dtype=np.int64), cols.ravel(), vals.ravel()


def _down_entries(nbr: dict, idx, js, coef):
    """The down couplings of modes js (coefficient coef_j sqrt(n_j)), where n_j > 0."""
    occ = idx[:, js] > 0
    cols = np.stack([nbr[("down", int(j), int(j))] for j in js], axis=1)
    vals = coef[None, :] * np.sqrt(idx[:, js])
    return occ.sum(axis=1), cols[occ], vals[occ]


def _move_entries(nbr: dict, idx, pairs, off, c):
    """The moves n -> n - e_j + e_k, where n_j > 0."""
    src = np.array([j for j, _ in pairs])
    dst = np.array([k for _, k in pairs])
    occ = idx[:, src] > 0
    cols = np.stack([nbr[("move", j, k)] for j, k in pairs], axis=1)
    vals = np.sqrt(idx[:, src] * (idx[:, dst] + 1.0)) * (off[src, dst] * c[dst] / c[src])[None, :]
    return occ.sum(axis=1), cols[occ], vals[occ]


def _csr(parts, n_t: int) -> sp.csr_matrix:
    """A CSR matrix (n_t rows, global int64 columns for now) from per-chunk (counts, cols, vals)."""
    counts = np.concatenate([p[0] for p in parts])
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cols = np.concatenate([p[1] for p in parts])
    vals = np.concatenate([p[2] for p in parts])
    S = sp.csr_matrix((vals, cols, indptr), shape=(n_t, max(int(cols.max(initial=0)) + 1, 1)))
    return S


def _row_slice(S: sp.csr_matrix, a: int, b: int) -> sp.csr_matrix:
    """Rows [a, b) of S, sharing its values and columns (a new row pointer only)."""
    ia, ib = int(S.indptr[a]), int(S.indptr[b])
    return sp.csr_matrix((S.data[ia:ib], S.indices[ia:ib], S.indptr[a:b + 1] - ia), shape=(b - a, S.shape[1]))


def _extend_columns(part: SectorPartition, rank: int, tiers: list, row0: int, n: int):
    """Replace the global columns of every matrix by extended local ones (own rows, then ghosts by
    tier and row); returns (ghost global rows, ghost tier bounds)."""
    mats = [(tr, kind, i) for tr in tiers for kind in ("up", "down", "moves") for i in range(len(getattr(tr, kind)))]
    off = [S.indices[(S.indices < row0) | (S.indices >= row0 + n)]
           for tr in tiers for S in tr.matrices()]
    ghosts = np.unique(np.concatenate(off)) if off else np.zeros(0, dtype=np.int64)
    g_tier = part.tier_of_rows(ghosts)
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
        S = entry[-1] if isinstance(entry, tuple) else entry
        S = sp.csr_matrix((S.data, ext(S.indices), S.indptr.astype(np.int32)), shape=(S.shape[0], ext_size))
        getattr(tr, kind)[i] = (*entry[:-1], S) if isinstance(entry, tuple) else S
    return ghosts, gtb
