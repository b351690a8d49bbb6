"""The sector partition of the hierarchy for the "tier" route (pure numpy; no PETSc, no MPI).

Moves. The in-tier couplings n -> n - e_j + e_k (hop_jk != 0, j != k: "moves") form a directed
graph on the modes. The tier route needs it acyclic (t^k e^{-t} chains, Newton chains and single
exponentials: the paper's J, Drude-Lorentz, Pade/Matsubara terms, either mode form; NOT the
e^{-gt} cos/sin pairs of underdamped baths or complex exponents, whose 2x2 eta moves both ways:
``CyclicMoves``). Then pos_j, the longest-path depth of mode j, makes every move raise the move
potential phi(n) = sum_j pos_j n_j.

Sectors. Moves only exchange occupation between the modes of one connected component of the move
graph (a "class"). For groups of modes that are unions of classes (``sector_groups``: the classes,
coarsened only where the numbering's tables would exceed MAX_TABLE bytes), the group sums sigma_g =
sum_{j in g} n_j are conserved by every move: the ADOs with given sums form a "sector", closed
under moves. Sectors are numbered as the ADOs of a G-mode hierarchy of the same depth
(hierarchy.TierOrderedHierarchy(G, L).rank of the sums), so the sector table is small (C(G+L, L)
entries: 1,820 for the paper's J, merged modes, depth 12) and indexed without search.

Ownership. Every tier is split over ALL ranks by whole sectors, by recursive coordinate bisection
of the sums' fractions sigma/t (the same cuts in every tier, so a sector's neighbours in the tiers
above and below tend to have the same owner), balancing ADOs: each rank holds a slice of every
tier (the tier sweep keeps every rank busy in every tier) and no move crosses ranks.

Numbering (closed form; no global ADO -> row table). Rank p owns one contiguous range of rows:
its tier L rows, ..., its tier 0 rows; inside a tier, by the move potential phi (ascending), then
by sector number, then by a rank among the sector's ADOs of that phi (group by group: the group's
share w_g of phi, then the group's composition among those of equal sums and weight, in
descending-lexicographic order over the group's modes sorted by pos). So every move points to a
later row (it raises phi), and each "level" of equal phi is a contiguous block of rows: the
backward sweep solves a level at a time on contiguous slices. The row of any ADO is

    row(n) = start[sector(n), phi(n)] + position of n among the ADOs of its sector and phi,

both computed from n alone with small tables (per sector and phi: counts, first rows; per group:
compositions by sum and weight), ``SectorPartition.rows_of``: a rank enumerates its own ADOs and
numbers their neighbours without a table of the whole problem (MAX_TABLE bounds the tables).
Per-rank counts of ADOs, stored blocks and ghost ADOs (off-rank neighbours) follow from the sector
table in closed form (``rank_counts``): what the memory model (sizing.py) needs, without
enumerating ADOs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import comb

import numpy as np

from .compositions import (binomials, composition_unrank, compositions, weighted_compositions,
                           weighted_rank)
from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes

# The numbering's tables (per sector and value of phi: first rows, 8 bytes, and the groups' suffix
# counts, 4 bytes; the last two groups' pair table, 4 bytes per entry), on every rank, are kept
# below this many bytes by coarsening the groups. The paper's J, merged modes: 7 MiB at depth 16,
# 36 MiB at depth 23 (92.6M ADOs).
MAX_TABLE = 64 * 2**20


class CyclicMoves(ValueError):
    """The moves between modes form a cycle: the tier route (this module) does not apply."""


# ----------------------------------------------------------------------------- the move graph


def move_pairs(modes: HierarchyModes) -> list[tuple[int, int]]:
    """(j, k) for every move n -> n - e_j + e_k of the hierarchy (hop_jk != 0, j != k)."""
    off = modes.hop - np.diag(np.diag(modes.hop))
    return [(int(j), int(k)) for j, k in zip(*np.nonzero(off))]


def mode_classes(modes: HierarchyModes) -> np.ndarray:
    """Connected components of the (undirected) move graph: a class number per mode, numbered by
    their smallest mode."""
    K = modes.size
    cls = np.arange(K)
    changed = True
    while changed:
        changed = False
        for j, k in move_pairs(modes):
            a, b = cls[j], cls[k]
            if a != b:
                cls[cls == max(a, b)] = min(a, b)
                changed = True
    _, out = np.unique(cls, return_inverse=True)
    return out


def mode_positions(modes: HierarchyModes) -> np.ndarray:
    """pos_j with pos_k > pos_j for every move j -> k (longest path from a source of the graph).
    Raises CyclicMoves if the graph has a cycle."""
    K = modes.size
    pos = np.zeros(K, dtype=np.int64)
    pairs = move_pairs(modes)
    for _ in range(K + 1):
        changed = False
        for j, k in pairs:
            if pos[k] < pos[j] + 1:
                pos[k] = pos[j] + 1
                changed = True
        if not changed:
            return pos
    raise CyclicMoves('method = "tier" needs the couplings between modes to run one way (t^k e^{-t} chains '
                      "and exponentials: the paper's J, Drude-Lorentz, Pade or Matsubara terms); these "
                      "modes couple in a cycle (e.g. an underdamped bath's e^{-gt} cos/sin pairs, or complex "
                      'exponents): use method = "iterative" or "direct"')


def moves_are_acyclic(modes: HierarchyModes) -> bool:
    """Whether the tier route applies to these modes (module docstring)."""
    try:
        mode_positions(modes)
    except CyclicMoves:
        return False
    return True


def table_size(n_groups: int, depth: int, max_pos: int) -> int:
    """Bytes of the numbering's tables for n_groups groups (MAX_TABLE): per sector and value of
    phi, the first rows and the groups' suffix counts; the last two groups' pair table."""
    W = max_pos * depth + 1
    return comb(n_groups + depth, depth) * W * (8 + 4 * (n_groups - 1)) + 4 * (depth + 1) ** 2 * W * W


def sector_groups(modes: HierarchyModes, depth: int, max_table: int = MAX_TABLE) -> list[np.ndarray]:
    """The groups of modes whose sums label the sectors, each sorted by (pos, mode).

    The move classes; if their tables would exceed max_table bytes (many single exponentials,
    e.g. 14 Pade terms per bath at low temperature, or great depths), the single-mode classes of
    each bath are joined, then each bath's modes, then all modes (one sector per tier)."""
    pos = mode_positions(modes)
    cls = mode_classes(modes)
    n_cls = int(cls.max()) + 1
    members = [np.nonzero(cls == c)[0] for c in range(n_cls)]
    singles = {}
    for m in members:
        if m.size == 1:
            singles.setdefault(int(modes.bath[m[0]]), []).append(int(m[0]))
    joined = [m for m in members if m.size > 1] + [np.array(v) for _, v in sorted(singles.items())]
    per_bath = [np.nonzero(modes.bath == b)[0] for b in np.unique(modes.bath)]
    for groups in (members, joined, per_bath, [np.arange(modes.size)]):
        if table_size(len(groups), depth, int(pos.max(initial=0))) <= max_table or len(groups) == 1:
            break
    # groups without moves (all pos 0) first, then by their first mode: the numbering's sums over
    # smaller shares of phi run over the groups with moves only (SectorPartition.rows_of)
    key = lambda g: (int(pos[g].max()) > 0, int(g.min()))     # noqa: E731
    return [np.array(sorted(g.tolist(), key=lambda j: (pos[j], j)), dtype=np.int64) for g in sorted(groups, key=key)]


# ----------------------------------------------------------------------------- the partition


@dataclass(frozen=True)
class SectorPartition:
    """Sectors, their owners and the numbering's tables, for `ranks` ranks (module docstring).

    groups: the modes of each group (sorted by pos); sectors: TierOrderedHierarchy(G, depth), whose
    ADO s is the sector with group sums sums[s]; owner[s], count[s] (its ADOs); start[s, v]: the
    first row of its ADOs with phi = v; offsets[p]: rank p's first row (offsets[ranks] = all ADOs).
    weights[g]: group g's compositions by (part, sum, weight) (weighted_compositions); suffix[g]
    (g >= 1): per sector, the ADOs of groups g.. by their share of phi."""

    hier: TierOrderedHierarchy
    ranks: int
    groups: tuple[np.ndarray, ...]
    pos: np.ndarray
    sums: np.ndarray            # (n_sectors, G)
    count: np.ndarray
    owner: np.ndarray
    start: np.ndarray           # (n_sectors, max phi + 1)
    offsets: np.ndarray
    weights: tuple[np.ndarray, ...]
    suffix: tuple[np.ndarray, ...]

    @classmethod
    def build(cls, hier: TierOrderedHierarchy, modes: HierarchyModes, ranks: int,
              max_table: int = MAX_TABLE) -> "SectorPartition":
        """The partition of `ranks` ranks (identical on every rank: pure and deterministic).
        Raises CyclicMoves for modes that move in a cycle."""
        if ranks < 1:
            raise ValueError(f"ranks = {ranks}: need at least 1")
        if modes.size != hier.n_modes:
            raise ValueError("hierarchy and modes disagree on the number of modes")
        L = hier.depth
        pos = mode_positions(modes)
        groups = tuple(sector_groups(modes, L, max_table))
        sec = TierOrderedHierarchy(len(groups), L)
        sums = sec.unrank(np.arange(sec.size)).astype(np.int64)
        B = binomials(L + hier.n_modes + 1, hier.n_modes + 1)
        count = np.ones(sec.size, dtype=np.int64)
        for g, members in enumerate(groups):
            count *= compositions(B, sums[:, g], members.size)
        tier = sums.sum(axis=1)
        owner = np.zeros(sec.size, dtype=np.int64)
        dims = _cut_order(modes, groups)
        for t in range(L + 1):
            a, b = int(sec.tier_offsets[t]), int(sec.tier_offsets[t + 1])
            owner[a:b] = _bisect(sums[a:b] / max(t, 1), count[a:b], ranks, dims)
        # ADOs per sector and phi: suffix convolutions of the groups' weight distributions
        W = int(pos.max(initial=0)) * L
        weights = tuple(weighted_compositions(pos[m], L) for m in groups)
        suffix: list = [None] * (len(groups) + 1)
        acc = np.zeros((sec.size, W + 1), dtype=np.int64)
        acc[:, 0] = 1
        for g in range(len(groups) - 1, -1, -1):
            N = weights[g][0][sums[:, g]]                  # (n_sectors, W_g + 1)
            new = np.zeros_like(acc)
            for w in range(N.shape[1]):
                new[:, w:] += N[:, w, None] * acc[:, :W + 1 - w]
            acc = new
            suffix[g] = acc
        per_phi = suffix[0]
        # first rows: rank-major, tier L first, then phi, then sector
        sec_idx, v = np.meshgrid(np.arange(sec.size), np.arange(W + 1), indexing="ij")
        order = np.lexsort((sec_idx.ravel(), v.ravel(), -tier[sec_idx].ravel(), owner[sec_idx].ravel()))
        flat = per_phi.ravel()[order]
        start = np.empty(flat.size, dtype=np.int64)
        start[order] = np.concatenate([[0], np.cumsum(flat)[:-1]])
        offsets = np.concatenate([[0], np.cumsum(np.bincount(owner, weights=count, minlength=ranks))]).astype(np.int64)
        return cls(hier, ranks, groups, pos, sums, count, owner, start.reshape(sec.size, W + 1), offsets,
                   weights, tuple(_compact(t) for t in suffix[1:len(groups)]))

    # ------------------------------------------------------------------------ sizes

    @property
    def n_sectors(self) -> int:
        return int(self.count.size)

    def table_bytes(self) -> int:
        """Bytes of the numbering's tables (on every rank)."""
        pair = self._pair_table
        groups = sum(sum(a.nbytes for a in t[1:]) for t in self._group_tables if t is not None)
        return int(self.start.nbytes + sum(t.nbytes for t in self.suffix) + sum(t.nbytes for t in self.weights)
                   + self.sums.nbytes + self.count.nbytes + self.owner.nbytes + groups
                   + (pair.nbytes if pair is not None else 0))

    @cached_property
    def sector_hierarchy(self) -> TierOrderedHierarchy:
        return TierOrderedHierarchy(len(self.groups), self.hier.depth)

    @cached_property
    def _B(self) -> np.ndarray:
        return binomials(self.hier.depth + self.hier.n_modes + 1, self.hier.n_modes + 1)

    @cached_property
    def _member(self) -> np.ndarray:
        """(K, G) 0/1: mode j is in group g."""
        m = np.zeros((self.hier.n_modes, len(self.groups)), dtype=np.int64)
        for g, members in enumerate(self.groups):
            m[members, g] = 1
        return m

    def sector_tier(self) -> np.ndarray:
        return self.sums.sum(axis=1)

    def tier_bounds(self, rank: int) -> np.ndarray:
        """Local row bounds of rank's tiers L, L-1, ..., 0 (length depth + 2)."""
        L = self.hier.depth
        mine = self.owner == rank
        per_tier = np.bincount(self.sector_tier()[mine], weights=self.count[mine], minlength=L + 1)
        return np.concatenate([[0], np.cumsum(per_tier[::-1])]).astype(np.int64)

    def ados(self, rank: int) -> int:
        return int(self.offsets[rank + 1] - self.offsets[rank])

    # ------------------------------------------------------------------------ numbering

    def sector_of(self, idx: np.ndarray) -> np.ndarray:
        """Sector numbers of the ADOs idx (N, K)."""
        return self.sector_hierarchy.rank(np.asarray(idx, dtype=np.int64) @ self._member)

    @cached_property
    def _group_tables(self) -> list:
        """Per group: (TierOrderedHierarchy(k, L), share of phi, weighted rank) of every composition,
        or None where that table would be large (the rank is then computed: weighted_rank)."""
        L, out = self.hier.depth, []
        for g, members in enumerate(self.groups):
            h = TierOrderedHierarchy(members.size, L)
            if h.size > 1 << 21:
                out.append(None)
                continue
            x = h.unrank(np.arange(h.size)).astype(np.int64)
            share = x @ self.pos[members]
            out.append((h, share, weighted_rank(self.weights[g], self.pos[members], x, x.sum(axis=1), share)))
        return out

    @cached_property
    def _pair_table(self) -> np.ndarray | None:
        """T[s_a, s_b, u, w] = sum_{w' < w} N_a[s_a, w'] N_b[s_b, u - w'] for the last two groups a, b
        if both have moves (N: compositions by sum and share of phi): their term of rows_of at once."""
        G = len(self.groups)
        if G < 2 or self.weights[G - 1].shape[2] == 1 or self.weights[G - 2].shape[2] == 1:
            return None
        Na, Nb = self.weights[G - 2][0], self.weights[G - 1][0]
        L, W = self.hier.depth, self.start.shape[1] - 1
        T = np.zeros((L + 1, L + 1, W + 1, Na.shape[1] + 1), dtype=np.int64)
        for w in range(Na.shape[1]):
            term = np.zeros((L + 1, L + 1, W + 1), dtype=np.int64)
            span = min(W + 1 - w, Nb.shape[1])
            term[:, :, w:w + span] = Na[:, None, w, None] * Nb[None, :, :span]
            T[:, :, :, w + 1] = T[:, :, :, w] + term
        return _compact(T)

    def rows_of(self, idx: np.ndarray) -> np.ndarray:
        """Global rows of the ADOs idx (N, K) (module docstring: closed form)."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.shape[0] > 1 << 16:
            return np.concatenate([self.rows_of(idx[a:a + (1 << 16)]) for a in range(0, idx.shape[0], 1 << 16)])
        sums = idx @ self._member
        sector = self.sector_hierarchy.rank(sums)
        if np.any(sector < 0):
            raise ValueError("ADO outside the hierarchy")
        G = len(self.groups)
        tables, pair = self._group_tables, self._pair_table
        share, rank = [], []
        for g, members in enumerate(self.groups):
            x = idx[:, members]
            if tables[g] is not None:
                h, sh, rk = tables[g]
                c = h.rank(x)
                share.append(sh[c])
                rank.append(rk[c])
            else:
                share.append(x @ self.pos[members])
                rank.append(weighted_rank(self.weights[g], self.pos[members], x, sums[:, g], share[-1]))
        phi = np.sum(share, axis=0)
        W = self.start.shape[1] - 1
        out = self.start[sector, phi].copy()
        rest = phi
        for g in range(G):
            if g == G - 1:
                out += rank[g]                                  # the rest of phi is the last group's
                break
            table = self.suffix[g]

            def later(u, table=table):
                return np.where(u >= 0, table[sector, np.clip(u, 0, W)], 0)

            C = self.weights[g]
            if g == G - 2 and pair is not None:
                out += pair[sums[:, g], sums[:, g + 1], rest, share[g]]
            elif C.shape[2] > 1:                                # sum over the smaller shares of phi
                counts = C[0][sums[:, g]]
                for w in range(counts.shape[1] - 1):
                    ok = w < share[g]
                    if ok.any():
                        out += np.where(ok, counts[:, w] * later(rest - w), 0)
            out += rank[g] * later(rest - share[g])
            rest = rest - share[g]
        return out

    def tier_ados(self, rank: int, t: int) -> np.ndarray:
        """The multi-indices (n, K) of rank's ADOs of tier t, in row order."""
        mine = np.nonzero((self.owner == rank) & (self.sector_tier() == t))[0]
        total = int(self.count[mine].sum())
        if total == 0:
            return np.zeros((0, self.hier.n_modes), dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(self.count[mine])[:-1]])
        local = np.arange(total, dtype=np.int64)
        where = np.searchsorted(first, local, side="right") - 1
        sector = mine[where]
        within = local - first[where]
        sums = self.sums[sector]
        out = np.zeros((total, self.hier.n_modes), dtype=np.int64)
        sizes = [compositions(self._B, sums[:, g], m.size) for g, m in enumerate(self.groups)]
        for g in range(len(self.groups) - 1, -1, -1):
            digit = within % sizes[g]
            within //= sizes[g]
            out[:, self.groups[g]] = composition_unrank(self._B, digit, sums[:, g], self.groups[g].size,
                                                        self.hier.depth)
        rows = self.rows_of(out)
        order = np.argsort(rows)
        lo = self.offsets[rank] + self.tier_bounds(rank)[self.hier.depth - t]
        if not np.array_equal(rows[order], lo + local):
            raise AssertionError("the sector numbering is not a bijection onto the rank's rows")
        return out[order]

    def owner_of_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, rows, side="right") - 1

    def tier_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The tiers of the ADOs at global rows `rows`."""
        rows = np.asarray(rows, dtype=np.int64)
        owner = self.owner_of_rows(rows)
        out = np.empty(rows.size, dtype=np.int64)
        for q in np.unique(owner):
            sel = owner == q
            tb = self.tier_bounds(int(q))
            out[sel] = self.hier.depth - (np.searchsorted(tb, rows[sel] - self.offsets[q], side="right") - 1)
        return out

    # ------------------------------------------------------------------------ closed-form counts

    def occupied(self, j: int) -> np.ndarray:
        """ADOs with n_j > 0 in each sector."""
        g = int(np.nonzero(self._member[j])[0][0])
        k, s = self.groups[g].size, self.sums[:, g]
        rest = self.count // np.maximum(compositions(self._B, s, k), 1)
        return rest * (compositions(self._B, s, k) - compositions(self._B, s, k - 1))

    def rank_counts(self, modes: HierarchyModes) -> "RankCounts":
        """Per rank: ADOs, stored 4x4 coupling blocks by kind, and ghost ADOs (the off-rank ADOs its
        rows couple to), in closed form from the sector table (no ADO is enumerated)."""
        R, L = self.ranks, self.hier.depth
        tier = self.sector_tier()
        by = lambda w: np.bincount(self.owner, weights=w, minlength=R).astype(np.int64)   # noqa: E731
        up = np.nonzero(modes.up)[0]
        down = np.nonzero((modes.down_c != 0) | (modes.down_a != 0))[0]
        below_top = np.where(tier < L, self.count, 0)
        up_blocks = by(below_top * up.size)
        occ = {j: self.occupied(j) for j in range(modes.size)}
        zero = np.zeros(self.n_sectors, dtype=np.int64)
        down_blocks = by(sum((occ[j] for j in down), zero))
        parts = [int(modes.down_c[j] != 0) + int(modes.down_a[j] != 0) for j in down]
        down_entries = by(sum((occ[j] * k for j, k in zip(down, parts)), zero))
        move_blocks = by(sum((occ[j] for j, _ in move_pairs(modes)), zero))
        return RankCounts(by(self.count), up_blocks, down_blocks, down_entries, move_blocks, self.ghosts(modes),
                          self.level_rows(modes))

    def ghosts(self, modes: HierarchyModes) -> np.ndarray:
        """Per rank: off-rank ADOs its rows couple to. Up couplings of group g from sector s reach
        the ADOs of s + e_g with some up-mode of g occupied; down couplings reach all of s - e_g."""
        G, R, L = len(self.groups), self.ranks, self.hier.depth
        sec, B = self.sector_hierarchy, self._B
        tier = self.sector_tier()
        up_modes = [np.intersect1d(g, np.nonzero(modes.up)[0]).size for g in self.groups]
        down_any = [bool(np.any((modes.down_c[g] != 0) | (modes.down_a[g] != 0))) for g in self.groups]
        keys, flags = [], []
        for g in range(G):
            e = np.zeros(G, dtype=np.int64)
            e[g] = 1
            if up_modes[g]:
                src = np.nonzero(tier < L)[0]
                dst = sec.rank(self.sums[src] + e)
                keys.append(self.owner[src] * self.n_sectors + dst)
                flags.append(np.full(src.size, 1 << g, dtype=np.int64))
            if down_any[g]:
                src = np.nonzero(self.sums[:, g] > 0)[0]
                dst = sec.rank(self.sums[src] - e)
                keys.append(self.owner[src] * self.n_sectors + dst)
                flags.append(np.full(src.size, 1 << G, dtype=np.int64))
        if not keys:
            return np.zeros(R, dtype=np.int64)
        key, flag = np.concatenate(keys), np.concatenate(flags)
        rank, dst = np.divmod(key, self.n_sectors)
        off = self.owner[dst] != rank
        key, flag = key[off], flag[off]
        order = np.argsort(key, kind="stable")
        key, flag = key[order], flag[order]
        first = np.concatenate([[True], key[1:] != key[:-1]]) if key.size else np.zeros(0, bool)
        starts = np.nonzero(first)[0]
        if starts.size == 0:
            return np.zeros(R, dtype=np.int64)
        flag = np.bitwise_or.reduceat(flag, starts)
        rank, dst = np.divmod(key[starts], self.n_sectors)
        reached = self.count[dst].copy()
        unreached = np.ones(dst.size, dtype=np.int64)       # ADOs of dst with every reaching up-mode empty
        for g, members in enumerate(self.groups):
            s = self.sums[dst, g]
            via = (flag >> g) & 1
            empty = compositions(B, s, members.size - up_modes[g])
            unreached *= np.where(via == 1, empty, compositions(B, s, members.size))
        reached = np.where((flag >> G) & 1 == 1, reached, reached - unreached)
        return np.bincount(rank, weights=reached, minlength=R).astype(np.int64)

    def level_rows(self, modes: HierarchyModes) -> np.ndarray:
        """Per rank: rows with at least one move (they are swept level by level)."""
        pairs = move_pairs(modes)
        if not pairs:
            return np.zeros(self.ranks, dtype=np.int64)
        sources = sorted({j for j, _ in pairs})
        # rows with every source mode empty have no move
        none = np.ones(self.n_sectors, dtype=np.int64)
        for g, members in enumerate(self.groups):
            k_src = np.intersect1d(members, sources).size
            none *= compositions(self._B, self.sums[:, g], members.size - k_src)
        return np.bincount(self.owner, weights=self.count - none, minlength=self.ranks).astype(np.int64)


@dataclass(frozen=True)
class SectorNumbering:
    """One rank's rows in the tier route's numbering (the partition's; cf. partition.MatrixNumbering)."""

    part: SectorPartition
    rank: int

    def row_range(self) -> tuple[int, int]:
        return int(self.part.offsets[self.rank]), int(self.part.offsets[self.rank + 1])

    def local_ados(self) -> np.ndarray:
        """The multi-indices of this rank's rows, in row order (tier L first)."""
        L = self.part.hier.depth
        return np.concatenate([self.part.tier_ados(self.rank, t) for t in range(L, -1, -1)])

    def rows_of(self, idx: np.ndarray) -> np.ndarray:
        return self.part.rows_of(idx)


@dataclass(frozen=True)
class RankCounts:
    """Per rank (arrays of length ranks): ADOs, off-diagonal 4x4 blocks by kind (a down block is
    stored as one scalar per nonzero part, Lc or A), ghost ADOs, rows with moves."""

    ados: np.ndarray
    up_blocks: np.ndarray
    down_blocks: np.ndarray
    down_entries: np.ndarray     # stored scalars of the down blocks: one per nonzero Lc or A part
    move_blocks: np.ndarray
    ghosts: np.ndarray
    move_rows: np.ndarray

    @property
    def blocks(self) -> np.ndarray:
        return self.up_blocks + self.down_blocks + self.move_blocks


def _compact(counts: np.ndarray) -> np.ndarray:
    """int32 where every count fits (half the bytes), else int64."""
    return counts.astype(np.int32) if counts.size and counts.max() < 2**31 else counts


# ----------------------------------------------------------------------------- bisection


def _cut_order(modes: HierarchyModes, groups) -> list[int]:
    """The order in which the bisection cuts the groups' coordinates: the largest groups (chains)
    first, alternating baths among equally large groups."""
    size = [g.size for g in groups]
    bath = [int(modes.bath[g[0]]) for g in groups]
    order = sorted(range(len(groups)), key=lambda c: (-size[c], c))
    out, seen = [], set()
    for c in order:
        if c in seen:
            continue
        out.append(c)
        seen.add(c)
        for d in order:
            if d not in seen and size[d] == size[c] and bath[d] != bath[c]:
                out.append(d)
                seen.add(d)
                break
    return out


def _bisect(frac: np.ndarray, weight: np.ndarray, ranks: int, dims: list[int], level: int = 0) -> np.ndarray:
    """Recursive coordinate bisection of one tier's sectors (coordinates: group sums / tier) into
    `ranks` parts of about equal weight; sectors go whole to the side holding their midpoint."""
    n = frac.shape[0]
    if ranks == 1 or n == 0:
        return np.zeros(n, dtype=np.int64)
    half = ranks // 2
    keys = tuple(frac[:, dims[(level + k) % len(dims)]] for k in range(len(dims) - 1, -1, -1))
    o = np.lexsort(keys)
    cw = np.cumsum(weight[o])
    cut = int(np.searchsorted(cw - 0.5 * weight[o], cw[-1] * half / ranks))
    out = np.empty(n, dtype=np.int64)
    left, right = o[:cut], o[cut:]
    out[left] = _bisect(frac[left], weight[left], half, dims, level + 1)
    out[right] = half + _bisect(frac[right], weight[right], ranks - half, dims, level + 1)
    return out
