"""Rank-count-independent steady-state solves: a sector partition and a tier-sweep block DILU.

Why. Block Jacobi/ILU on contiguous tier-ordered ranges cuts the hierarchy between tiers, so its
iterations grow with the ranks (alpha = 4, merged, depth 8: 54 on 1 rank, 823 on 8). Here the
preconditioner is one global object, defined by the hierarchy alone, and the ranks only share its
work: the same iterations on any number of ranks, by construction.

The matrix. In the global order "tier L first, ..., tier 0 last; inside a tier by the move
potential phi(n) = sum_j pos_j n_j" the Liouvillian is

    row n:  diag block (LH + d_n 1), up blocks (tier t+1, earlier rows), in-tier moves
            n - e_j + e_k (phi grows: later rows), down blocks (tier t-1, later rows).

pos_j is the longest-path depth of mode j in the directed graph of the moves (hop_jk != 0,
j != k), so every move raises phi; this needs that graph to be acyclic (t^k e^{-t} chains and
exponentials: the paper's J, Drude-Lorentz, Matsubara/Pade terms in either mode form; NOT
underdamped e^{-gt} cos/sin pairs, whose 2x2 eta moves both ways).

The preconditioner: block DILU in that order, M = (D + L) D^{-1} (D + U), L/U the strictly
earlier/later blocks of A and D block diagonal with

    D_n = A_nn - sum_{k earlier, A_nk A_kn != 0} A_nk D_k^{-1} A_kn
        = A_nn - sum_{j up} up_j (n_j + 1) Lc_b(j) D_{n+e_j}^{-1} Down_j

(only the up/down pairs of tier t+1 contribute). For the merged form this IS block ILU(0) in that
order (no ILU(0) update lands on a move block or an L block: no move joins two up-modes and no
move ends on an up-mode; checked in `dilu_is_ilu0`); for the separate form it is ILU(0) minus those
updates. Every step is tier-parallel:

    set-up   D_t from D_{t+1}: tiers L..0, one halo exchange of D^{-1} (16 numbers per ghost ADO);
    forward  y_t = D_t^{-1}(r_t - A_{t,t+1} y_{t+1}): tiers L..0, one halo exchange each;
    backward z_t = y_t - D_t^{-1}(A_{t,t-1} z_{t-1} + A_moves z_t): tiers 0..L, one halo exchange
             each; the moves inside the tier are solved level by level in phi (no communication:
             the partition keeps every move on its rank, below).

Partition. Moves only exchange occupation between the modes of one move class (the connected
components of the move graph: one chain per bath), so the class sums s_c = sum_{j in c} n_j label
"sectors" closed under moves. Every tier is split over ALL ranks, by whole sectors in a fixed
sector order (equal ADOs per rank per tier): each rank owns a slice of every tier (the sweep keeps
every rank busy in every tier) and no move crosses ranks. PETSc rows are rank-major (rank p owns
one contiguous range: its tier L rows, ..., its tier 0 rows), which only renames unknowns.

Storage (memory). Every coupling block is a scalar times one of a few fixed 4x4 matrices (Lc_b,
A_b, the identity), so the operator is kept as scalar CSR matrices S (12 bytes per block: value
and int32 column) whose products (S X) M^T give the blocks' action on X (n x 4): about 5x less
than AIJ. The Krylov operator is a MatShell on the same arrays (no assembled matrix), the
preconditioner adds D^{-1} (128 bytes per ADO).

Limitations of this prototype: a global ADO -> row map (8 bytes per ADO on every rank; a
closed-form sector ranking removes it); sectors are not split, so a sector larger than a rank's
share of its tier unbalances that tier.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes
from .pauli import PauliBlocks

BS = 4


# ----------------------------------------------------------------------------- mode structure


def move_pairs(modes: HierarchyModes) -> list[tuple[int, int]]:
    off = modes.hop - np.diag(np.diag(modes.hop))
    return [(int(j), int(k)) for j, k in zip(*np.nonzero(off))]


def mode_classes(modes: HierarchyModes) -> np.ndarray:
    """Connected components of the move graph (undirected): class id per mode."""
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
    """pos_j with pos_k > pos_j for every move j -> k (longest path from a source)."""
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
    raise NotImplementedError("the moves between modes form a cycle (e.g. underdamped cos/sin pairs): "
                              "the tier sweep needs an acyclic move graph")


def dilu_is_ilu0(modes: HierarchyModes) -> bool:
    """True if block ILU(0) in the tier/phi order makes no update beyond D (see module docstring)."""
    up = set(np.nonzero(modes.up)[0].tolist())
    down = set(np.nonzero((modes.down_c != 0) | (modes.down_a != 0))[0].tolist())
    for j, k in move_pairs(modes):
        if (j in up and k in up) or (k in up and j in down):
            return False
    return True


# ----------------------------------------------------------------------------- partition


@dataclass
class SectorPartition:
    """perm[g] = row (PETSc ADO index) of global ADO g; inv the inverse; offsets[p] the first row of
    rank p; tier_bounds[p] = local row offsets of tiers L, L-1, ..., 0 (length depth + 2)."""

    perm: np.ndarray
    inv: np.ndarray
    offsets: np.ndarray
    tier_bounds: np.ndarray      # (ranks, depth + 2)
    n_sectors: int
    cpu_s: float

    @classmethod
    def build(cls, hier: TierOrderedHierarchy, modes: HierarchyModes, ranks: int, order: str = "rcb",
              chunk: int = 1 << 18) -> "SectorPartition":
        t0 = time.process_time()
        K, L, N = hier.n_modes, hier.depth, hier.size
        classes = mode_classes(modes)
        n_cls = int(classes.max()) + 1
        pos = mode_positions(modes)
        owner = np.empty(N, dtype=np.int32)
        phi = np.empty(N, dtype=np.int32)
        n_sectors = 0
        radix = (L + 1) ** np.arange(n_cls - 1, -1, -1, dtype=np.int64)   # class 0 most significant
        member = np.zeros((K, n_cls), dtype=np.int64)
        member[np.arange(K), classes] = 1
        for t in range(L + 1):
            a, b = int(hier.tier_offsets[t]), int(hier.tier_offsets[t + 1])
            code = np.empty(b - a, dtype=np.int64)
            for c0 in range(a, b, chunk):
                c1 = min(c0 + chunk, b)
                idx = hier.unrank(np.arange(c0, c1)).astype(np.int64)
                phi[c0:c1] = idx @ pos
                sums = idx @ member
                code[c0 - a:c1 - a] = sums @ radix
            key = code
            sectors, counts = np.unique(key, return_counts=True)
            n_sectors += sectors.size
            if order == "lex":
                before = np.concatenate([[0], np.cumsum(counts)[:-1]])
                sec_owner = np.minimum(((before + 0.5 * counts) * ranks) // (b - a), ranks - 1).astype(np.int32)
            elif order == "rcb":
                sums = (sectors[:, None] // radix[None, :]) % (L + 1)          # class sums per sector
                frac = sums / max(t, 1)
                sec_owner = _rcb(frac, counts, ranks, _rcb_dims(modes, classes))
            else:
                raise ValueError(order)
            owner[a:b] = sec_owner[np.searchsorted(sectors, key)]
        tier = np.repeat(np.arange(L + 1), np.diff(hier.tier_offsets))
        inv = np.lexsort((np.arange(N), phi, -tier, owner))
        del phi
        perm = np.empty(N, dtype=np.int64)
        perm[inv] = np.arange(N)
        counts = np.bincount(owner, minlength=ranks)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        tb = np.zeros((ranks, L + 2), dtype=np.int64)
        for p in range(ranks):
            t_of = tier[inv[offsets[p]:offsets[p + 1]]]
            # local rows are ordered tier L first: bounds of tiers L, L-1, ..., 0
            tb[p] = np.concatenate([[0], np.cumsum(np.bincount(L - t_of, minlength=L + 1))])
        return cls(perm, inv, offsets, tb, n_sectors, time.process_time() - t0)

    @classmethod
    def contiguous(cls, hier: TierOrderedHierarchy, bounds: np.ndarray, modes: HierarchyModes) -> "SectorPartition":
        """Today's partition (contiguous tier-ordered ranges, part size-1-p on process p) in the same form,
        for comparisons (the in-tier order is phi, so moves may cross ranks: not for the tier sweep)."""
        raise NotImplementedError


def _rcb_dims(modes: HierarchyModes, classes: np.ndarray) -> list[int]:
    """Cut order of the classes for the bisection: the largest classes (chains) first, alternating baths."""
    n_cls = int(classes.max()) + 1
    size = np.bincount(classes, minlength=n_cls)
    bath = np.array([modes.bath[np.nonzero(classes == c)[0][0]] for c in range(n_cls)])
    order = sorted(range(n_cls), key=lambda c: (-size[c], c))
    # interleave baths among equally large classes
    out, seen = [], set()
    for c in order:
        if c not in seen:
            out.append(c)
            seen.add(c)
            for d in order:
                if d not in seen and size[d] == size[c] and bath[d] != bath[c]:
                    out.append(d)
                    seen.add(d)
                    break
    return out


def _rcb(frac: np.ndarray, weight: np.ndarray, ranks: int, dims: list[int], level: int = 0) -> np.ndarray:
    """Recursive coordinate bisection of the sectors of one tier (coordinates: class sums / tier, the
    same in every tier, so neighbouring tiers are cut alike); ranks get weight in proportion."""
    n = frac.shape[0]
    if ranks == 1 or n == 0:
        return np.zeros(n, dtype=np.int32)
    ra = ranks // 2
    d = dims[level % len(dims)]
    o = np.lexsort(tuple(frac[:, dims[(level + k) % len(dims)]] for k in range(len(dims) - 1, -1, -1)))
    cw = np.cumsum(weight[o])
    target = cw[-1] * ra / ranks
    k = int(np.searchsorted(cw - 0.5 * weight[o], target))      # sectors split at their midpoints
    out = np.empty(n, dtype=np.int32)
    left, right = o[:k], o[k:]
    out[left] = _rcb(frac[left], weight[left], ra, dims, level + 1)
    out[right] = ra + _rcb(frac[right], weight[right], ranks - ra, dims, level + 1)
    return out


# ----------------------------------------------------------------------------- operator + preconditioner


class TierSweep:
    """The Liouvillian (trace row replaced) as a MatShell and its tier-sweep block DILU as a PCSHELL,
    on the rows of one rank of a SectorPartition. Collective construction."""

    def __init__(self, comm, hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks,
                 part: SectorPartition, steady_rows: bool = True):
        from petsc4py import PETSc

        self.PETSc = PETSc
        self.comm = comm
        self.hier, self.modes, self.pauli, self.part = hier, modes, pauli, part
        p, L = comm.rank, hier.depth
        self.p, self.L = p, L
        lo, hi = int(part.offsets[p]), int(part.offsets[p + 1])
        self.lo, self.hi, self.n = lo, hi, hi - lo
        self.tb = part.tier_bounds[p]                 # local bounds of tiers L..0
        ados = part.inv[lo:hi]
        nb = pauli.Lc.shape[0]
        self.nb = nb
        K = modes.size
        c = modes.scale
        hopd = np.diag(modes.hop)
        pos = mode_positions(modes)
        self.ilu0 = dilu_is_ilu0(modes)
        self.LH = pauli.LH
        self.Lc = [pauli.Lc[b] for b in range(nb)]
        self.A = [pauli.A[b] for b in range(nb)]
        self.steady_rows = steady_rows
        self.conserved = steady_rows and pauli.conserved_direction() is not None
        up_modes = np.nonzero(modes.up)[0]
        down_modes = np.nonzero((modes.down_c != 0) | (modes.down_a != 0))[0]
        moves = move_pairs(modes)
        off = modes.hop - np.diag(np.diag(modes.hop))

        # pass 1: couplings per tier as (kind, rows, global ADO cols, coef); kinds: ("c", b), ("a", b), "mv"
        raw = {}
        self.d = np.empty(self.n)
        self.tier_of_local = np.empty(self.n, dtype=np.int64)
        upnb = {}        # t -> list of (j, rows, cols_global): for the pivots
        levels = {}      # t -> (level starts)
        for t in range(L + 1):
            r0, r1 = self._rows(t)
            self.tier_of_local[r0:r1] = t
            if r1 == r0:
                continue
            g = ados[r0:r1]
            idx = hier.unrank(g).astype(np.int64)
            self.d[r0:r1] = idx @ hopd
            ph = idx @ pos
            if np.any(np.diff(ph) < 0):
                raise AssertionError("rows of a tier are not in phi order")
            cuts = np.nonzero(np.diff(ph))[0] + 1
            levels[t] = np.concatenate([[0], cuts, [r1 - r0]]) + r0
            rows_t = np.arange(r0, r1)
            lst = []
            if t < L:
                ups = []
                for j in up_modes:
                    nbh = idx.copy()
                    nbh[:, j] += 1
                    col = hier.rank(nbh)
                    lst.append((("c", modes.bath[j], "up"), rows_t, col, modes.up[j] * np.sqrt(idx[:, j] + 1.0) * c[j]))
                    ups.append((int(j), rows_t, col, idx[:, j] + 1.0))
                upnb[t] = ups
            for j in down_modes:
                sel = idx[:, j] > 0
                if not sel.any():
                    continue
                nbh = idx[sel].copy()
                nbh[:, j] -= 1
                col = hier.rank(nbh)
                f = np.sqrt(idx[sel, j]) / c[j]
                if modes.down_c[j] != 0:
                    lst.append((("c", modes.bath[j], "dn"), rows_t[sel], col, modes.down_c[j] * f))
                if modes.down_a[j] != 0:
                    lst.append((("a", modes.bath[j], "dn"), rows_t[sel], col, modes.down_a[j] * f))
            for j, k in moves:
                sel = idx[:, j] > 0
                if not sel.any():
                    continue
                nbh = idx[sel].copy()
                nbh[:, j] -= 1
                nbh[:, k] += 1
                col = hier.rank(nbh)
                lst.append(("mv", rows_t[sel], col, np.sqrt(idx[sel, j] * (idx[sel, k] + 1.0)) * off[j, k] * c[k] / c[j]))
            raw[t] = lst

        # ghosts: off-rank ADOs referenced, grouped by their tier
        perm = part.perm
        refs = [perm[col] for lst in raw.values() for (_, _, col, _) in lst]
        refs = np.unique(np.concatenate(refs)) if refs else np.zeros(0, np.int64)
        gh = refs[(refs < lo) | (refs >= hi)]
        gh_tier = hier.tier_of_rank(part.inv[gh])
        o = np.lexsort((gh, gh_tier))
        gh, gh_tier = gh[o], gh_tier[o]
        self.n_ghost = gh.size
        self.ghost_rows = gh
        self.ghost_tier_bounds = np.searchsorted(gh_tier, np.arange(L + 2))   # ghosts of tier t: [gtb[t], gtb[t+1])
        self.ghost_owner_count = np.unique(np.searchsorted(part.offsets, gh, side="right") - 1).size

        gh_sort = np.argsort(gh)
        gh_sorted = gh[gh_sort]

        def ext(cols_global):
            r = perm[cols_global]
            own = (r >= lo) & (r < hi)
            out = np.empty(r.size, dtype=np.int64)
            out[own] = r[own] - lo
            out[~own] = self.n + gh_sort[np.searchsorted(gh_sorted, r[~own])]
            return out

        next_ = self.n + self.n_ghost
        self.S = {}     # t -> list of (M (4x4), csr): up groups then down groups
        self._ud = {}   # t -> (up groups, down groups)
        self.Smv = {}   # t -> list of (a, b, csr rows a..b of the level), local columns
        self.levels = levels
        self.blocks = self.n
        for t, lst in raw.items():
            r0, r1 = self._rows(t)
            n_t = r1 - r0
            groups = {}
            mv_r, mv_c, mv_v = [], [], []
            for kind, rows, col, coef in lst:
                e = ext(col)
                self.blocks += e.size
                if kind == "mv":
                    if np.any(e >= self.n):
                        raise AssertionError("a move crosses ranks: the partition must keep sectors whole")
                    mv_r.append(rows)
                    mv_c.append(e)
                    mv_v.append(coef)
                    continue
                groups.setdefault(kind, []).append((rows - r0, e, coef))
            mats, ups, dns = [], [], []
            for (fam, b, dirn), parts in sorted(groups.items()):
                rr = np.concatenate([q[0] for q in parts])
                cc = np.concatenate([q[1] for q in parts])
                vv = np.concatenate([q[2] for q in parts])
                S = sp.csr_matrix((vv, (rr, cc)), shape=(n_t, next_))
                S.sum_duplicates()
                S.indices = S.indices.astype(np.int32)
                S.indptr = S.indptr.astype(np.int32)
                (ups if dirn == "up" else dns).append(((self.Lc if fam == "c" else self.A)[b], S))
            self.S[t] = ups + dns
            self._ud[t] = (ups, dns)
            lv = []
            if mv_r:
                rr = np.concatenate(mv_r)
                cc = np.concatenate(mv_c)
                vv = np.concatenate(mv_v)
                bounds = levels[t]
                for a, b in zip(bounds[:-1], bounds[1:]):
                    s = (rr >= a) & (rr < b)
                    if not s.any():
                        continue
                    S = sp.csr_matrix((vv[s], (rr[s] - a, cc[s])), shape=(b - a, next_))
                    S.sum_duplicates()
                    S.indices = S.indices.astype(np.int32)
                    S.indptr = S.indptr.astype(np.int32)
                    if S.indices.size and (S.indices.min() < b or np.any(self.tier_of_local[S.indices] != t)):
                        raise AssertionError("a move does not point to a later level of its tier")
                    lv.append((a, b, S))
            self.Smv[t] = lv
        del raw

        # rho_00 (trace row), if this rank owns it
        self.r00 = int(perm[0]) - lo if lo <= perm[0] < hi else -1

        # work buffers: (local | ghost) x 4, wrapped as PETSc vectors; scatters per ghost tier and for all
        self.E = [np.zeros((next_, BS)), np.zeros((next_, BS))]
        N = hier.size
        self.W = [PETSc.Vec().createWithArray(e[:self.n].reshape(-1), size=(BS * self.n, BS * N), comm=comm)
                  for e in self.E]
        self.G = [PETSc.Vec().createWithArray(e[self.n:].reshape(-1), comm=PETSc.COMM_SELF) for e in self.E]
        self.sc = {}
        for t in range(L + 1):
            a, b = int(self.ghost_tier_bounds[t]), int(self.ghost_tier_bounds[t + 1])
            self.sc[t] = self._scatter(a, b)
        self.sc_all = self._scatter(0, self.n_ghost)
        self.upnb = {t: [(j, rows, ext(col), f) for (j, rows, col, f) in v] for t, v in upnb.items()}
        self.Dinv = None
        self.setup_s = 0.0
        self.applies = 0
        self.mults = 0

    # --------------------------------------------------------------------- helpers

    def _rows(self, t: int) -> tuple[int, int]:
        """Local rows of tier t (local order: tier L first)."""
        i = self.L - t
        return int(self.tb[i]), int(self.tb[i + 1])

    def _scatter(self, a: int, b: int):
        PETSc = self.PETSc
        rows = self.ghost_rows[a:b]
        frm = (BS * rows[:, None] + np.arange(BS)).reshape(-1).astype(PETSc.IntType)
        to = (BS * np.arange(a, b)[:, None] + np.arange(BS)).reshape(-1).astype(PETSc.IntType)
        is_f = PETSc.IS().createGeneral(frm, comm=PETSc.COMM_SELF)
        is_t = PETSc.IS().createGeneral(to, comm=PETSc.COMM_SELF)
        sc = PETSc.Scatter().create(self.W[0], is_f, self.G[0], is_t)
        is_f.destroy()
        is_t.destroy()
        return sc

    def _exchange(self, sc, k: int):
        sc.scatter(self.W[k], self.G[k], self.PETSc.InsertMode.INSERT_VALUES, self.PETSc.ScatterMode.FORWARD)

    # --------------------------------------------------------------------- the operator (MatShell)

    def mult(self, mat, x, y):
        E = self.E[0]
        E[:self.n] = x.getArray(readonly=True).reshape(-1, BS)
        self._exchange(self.sc_all, 0)
        Y = y.getArray().reshape(-1, BS)
        Y[:] = E[:self.n] @ self.LH.T + self.d[:, None] * E[:self.n]
        for t in range(self.L + 1):
            r0, r1 = self._rows(t)
            if r1 == r0:
                continue
            for M, S in self.S[t]:
                Y[r0:r1] += (S @ E) @ M.T
            for a, b, S in self.Smv[t]:
                Y[a:b] += S @ E
        if self.steady_rows and self.r00 >= 0:
            X0 = E[self.r00]
            if self.conserved:
                Y[self.r00] = X0
            else:
                Y[self.r00, 0] = X0[0]
        self.mults += 1

    # --------------------------------------------------------------------- the preconditioner (PCSHELL)

    def setup(self):
        """The DILU pivots D_t^{-1}, tiers L..0 (one exchange of D^{-1} per tier)."""
        t0 = time.perf_counter()
        n, ng = self.n, self.n_ghost
        Dinv = np.zeros((n + ng, BS, BS))
        E = self.E[0]
        modes, c = self.modes, self.modes.scale
        for t in range(self.L, -1, -1):
            r0, r1 = self._rows(t)
            if t < self.L:
                # ghosts of tier t+1 get their D^{-1}, one column at a time
                a, b = int(self.ghost_tier_bounds[t + 1]), int(self.ghost_tier_bounds[t + 2])
                if self.comm.size > 1:
                    q0, q1 = self._rows(t + 1)
                    for col in range(BS):
                        E[q0:q1] = Dinv[q0:q1, :, col]
                        self._exchange(self.sc[t + 1], 0)
                        Dinv[n + a:n + b, :, col] = E[n + a:n + b]
            if r1 == r0:
                continue
            D = np.broadcast_to(self.LH, (r1 - r0, BS, BS)) + self.d[r0:r1, None, None] * np.eye(BS)
            D = D.copy()
            if t < self.L:
                for j, rows, e, f in self.upnb[t]:
                    b = modes.bath[j]
                    down = modes.down_c[j] * self.Lc[b] + modes.down_a[j] * self.A[b]
                    coef = modes.up[j] * f      # up_j sqrt(n_j+1) c_j x sqrt(n_j+1) / c_j
                    D[rows - r0] -= coef[:, None, None] * (self.Lc[b] @ Dinv[e] @ down)
            if self.steady_rows and r0 <= self.r00 < r1:
                i = self.r00 - r0
                if self.conserved:
                    D[i] = np.eye(BS)
                else:
                    D[i, 0, :] = [1.0, 0.0, 0.0, 0.0]
            Dinv[r0:r1] = np.linalg.inv(D)
        self.Dinv = Dinv[:n].copy()
        del Dinv
        self.setup_s = time.perf_counter() - t0

    def apply(self, pc, x, y):
        """y = M^{-1} x: forward sweep tiers L..0, backward sweep tiers 0..L."""
        R = x.getArray(readonly=True).reshape(-1, BS)
        EY, EZ = self.E
        Dinv = self.Dinv
        multi = self.comm.size > 1
        for t in range(self.L, -1, -1):
            r0, r1 = self._rows(t)
            if r1 > r0:
                rhs = R[r0:r1].copy()
                up, _ = self._ud.get(t, ([], []))
                for M, S in up:
                    rhs -= (S @ EY) @ M.T
                if self.steady_rows and self.conserved and r0 <= self.r00 < r1:
                    rhs[self.r00 - r0] = R[self.r00]     # rho_00's rows are identity rows there
                EY[r0:r1] = np.matmul(Dinv[r0:r1], rhs[:, :, None])[:, :, 0]
            if multi and t > 0:
                self._exchange(self.sc[t], 0)
        for t in range(self.L + 1):
            r0, r1 = self._rows(t)
            if r1 > r0:
                s = np.zeros((r1 - r0, BS))
                _, dn = self._ud.get(t, ([], []))
                for M, S in dn:
                    s += (S @ EZ) @ M.T
                lv = self.Smv[t]
                if not lv:
                    EZ[r0:r1] = EY[r0:r1] - np.matmul(Dinv[r0:r1], s[:, :, None])[:, :, 0]
                else:
                    # levels of phi, highest first; rows without moves have no dependence
                    bounds = self.levels[t]
                    have = {a: S for a, b, S in lv}
                    for a, b in zip(bounds[-2::-1], bounds[:0:-1]):
                        sa = s[a - r0:b - r0]
                        if a in have:
                            sa = sa + have[a] @ EZ
                        EZ[a:b] = EY[a:b] - np.matmul(Dinv[a:b], sa[:, :, None])[:, :, 0]
            if multi and t < self.L:
                self._exchange(self.sc[t], 1)
        y.getArray()[:] = EZ[:self.n].reshape(-1)
        self.applies += 1

    def free(self):
        """Collective: PETSc objects in a fixed order (leaving them to Python's collector at exit
        destroys parallel objects in a different order on each rank, which can hang)."""
        for sc in list(self.sc.values()) + [self.sc_all]:
            sc.destroy()
        for v in self.W + self.G:
            v.destroy()
        self.sc, self.W, self.G = {}, [], []

    # --------------------------------------------------------------------- memory

    def stored_bytes(self) -> dict:
        ops = sum(S.data.nbytes + S.indices.nbytes + S.indptr.nbytes for lst in self.S.values() for _, S in lst)
        mv = sum(S.data.nbytes + S.indices.nbytes + S.indptr.nbytes for lst in self.Smv.values() for _, _, S in lst)
        return {"operator": ops + mv + self.d.nbytes, "pivots": 0 if self.Dinv is None else self.Dinv.nbytes,
                "buffers": sum(e.nbytes for e in self.E), "map": self.part.perm.nbytes + self.part.inv.nbytes}
