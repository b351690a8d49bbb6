"""The "tier" route's operator and preconditioner on PETSc: a MatShell applying the trace-fixed
Liouvillian from one rank's SweepRows (sweep_rows.py) and a PCSHELL applying its tier-sweep block
DILU (docs/tier_sweep.md has the equations). Collective construction on the point's communicator.

    M = (D + L) D^{-1} (D + U),   D_n = A_nn - sum_{j up} A_{n,n+e_j} D_{n+e_j}^{-1} A_{n+e_j,n}

in the order "tier L first, ..., tier 0 last; inside a tier every move points to a later row"
(sectors.py): L holds the up couplings, U the down couplings and the moves. Only the pivots D^{-1}
are stored (128 bytes per ADO); L and U are the operator's own arrays.

    set-up   D_t from D_{t+1}^{-1}: tiers L .. 0, one exchange of the ghosts' D^{-1} per tier;
    forward  y_t = D_t^{-1} (r_t - A_{t,t+1} y_{t+1}): tiers L .. 0, one ghost exchange per tier;
    backward z_t = y_t - D_t^{-1} (A_{t,t-1} z_{t-1} + A_moves z_t): tiers 0 .. L, one exchange per
             tier; inside a tier the rows without moves at once, then the rows with moves by levels
             of the move potential, highest first (moves never leave a rank: no communication).

Every rank holds a slice of every tier, so each step is parallel over all ranks, and the
preconditioner is ONE global operator: the same iterations on any number of ranks.

The trace row of rho_00 is replaced by Tr rho_00 (and, with a conserved q.sigma, its whole block by
the identity) in the operator and the pivots alike (docs/heom.md s5). An exactly singular pivot
(a special coupling) is shifted by 1e-10 of its scale, as PETSc's ILU shifts zero pivots; the
solve's true-residual check (steady_state.acceptable_residual) guards the result.

Free with ``free()`` (collective, fixed order) after the KSP and the MatShell are destroyed:
Python's collector would free the parallel objects in a different order on each rank, which can
hang. (Not "destroy": petsc4py calls a context's destroy(pc) / destroy(mat) itself.)
"""

from __future__ import annotations

import time

import numpy as np
from petsc4py import PETSc

from .pauli import BS
from .sweep_rows import SweepRows


def _pivot_solve(Dinv: np.ndarray, V: np.ndarray) -> np.ndarray:
    """D^{-1} v for every row: (n, 4, 4) x (n, 4)."""
    return np.einsum("nij,nj->ni", Dinv, V)


def _couplings(kinds, E: np.ndarray, acc: np.ndarray | None = None) -> np.ndarray | None:
    """sum over kinds of M (S E)^T, as a (4, rows) array (M X^T with X^T a transposed view is ~4x
    faster in numpy than X M^T), added to acc if given; None if there are no kinds and no acc."""
    for entry in kinds:
        M, S = entry[-2], entry[-1]
        term = M @ (S @ E).T
        acc = term if acc is None else acc.__iadd__(term)
    return acc


class TierSweep:
    """MatShell (``mult``) and PCSHELL (``setUp``, ``apply``) contexts on one rank's SweepRows."""

    def __init__(self, comm, rows: SweepRows):
        self.comm, self.rows = comm, rows
        n, ng = rows.n, rows.n_ghosts
        self.n, self.L = n, rows.depth
        # PETSc's scalar type: a complex build stores the (real) system with zero imaginary parts
        self.E = [np.zeros((n + ng, BS), dtype=PETSc.ScalarType), np.zeros((n + ng, BS), dtype=PETSc.ScalarType)]
        self.W = [PETSc.Vec().createWithArray(e[:n].reshape(-1), size=(BS * n, BS * rows.n_ados), comm=comm)
                  for e in self.E]
        self.G = [PETSc.Vec().createWithArray(e[n:].reshape(-1), comm=PETSc.COMM_SELF) for e in self.E]
        gtb = rows.ghost_tier_bounds
        self.scatter = [self._scatter(int(gtb[t]), int(gtb[t + 1])) for t in range(self.L + 1)]
        self.scatter_all = self._scatter(0, ng)
        self.multi = comm.getSize() > 1
        self.Dinv: np.ndarray | None = None
        self.setup_s = 0.0
        self.applies = self.mults = 0

    # ------------------------------------------------------------------------- halo

    def _scatter(self, a: int, b: int) -> PETSc.Scatter:
        ghosts = self.rows.ghosts[a:b]
        frm = (BS * ghosts[:, None] + np.arange(BS)).reshape(-1).astype(PETSc.IntType)
        to = (BS * np.arange(a, b)[:, None] + np.arange(BS)).reshape(-1).astype(PETSc.IntType)
        is_from = PETSc.IS().createGeneral(frm, comm=PETSc.COMM_SELF)
        is_to = PETSc.IS().createGeneral(to, comm=PETSc.COMM_SELF)
        try:
            return PETSc.Scatter().create(self.W[0], is_from, self.G[0], is_to)
        finally:
            is_from.destroy()
            is_to.destroy()

    def _exchange(self, scatter: PETSc.Scatter, k: int) -> None:
        """Collective: fill buffer k's ghosts from their owners."""
        scatter.scatter(self.W[k], self.G[k], PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)

    # ------------------------------------------------------------------------- operator

    def operator(self) -> PETSc.Mat:
        """Collective: the MatShell (the caller destroys it before calling free())."""
        size = (BS * self.n, BS * self.rows.n_ados)
        A = PETSc.Mat().createPython((size, size), context=_Operator(self), comm=self.comm)
        A.setUp()
        return A

    def mult(self, mat, x, y) -> None:
        """y = L' x (the trace-fixed Liouvillian)."""
        r = self.rows
        E = self.E[0]
        X = x.getArray(readonly=True).reshape(-1, BS)
        E[:self.n] = X
        self._exchange(self.scatter_all, 0)
        Y = y.getArray().reshape(-1, BS)
        Y[:] = (r.LH @ X.T).T
        Y += r.d[:, None] * X
        for tr in r.tiers:
            if tr.r1 == tr.r0:
                continue
            acc = _couplings(tr.up, E, _couplings(tr.down, E))
            if acc is not None:
                Y[tr.r0:tr.r1] += acc.T
            for S in tr.moves:
                Y[tr.r0:tr.r1] += S @ E
        if r.r00 >= 0:
            if r.conserved:
                Y[r.r00] = X[r.r00]
            else:
                Y[r.r00, 0] = X[r.r00, 0]
        self.mults += 1

    # ------------------------------------------------------------------------- preconditioner

    def setUp(self, pc=None) -> None:
        """Collective: the pivots D^{-1}, tiers L .. 0."""
        t0 = time.perf_counter()
        r, n = self.rows, self.n
        Dinv = np.zeros((n, BS, BS))
        E = self.E[0]
        gtb = r.ghost_tier_bounds
        ghost_D = np.zeros((0, BS, BS))
        for t in range(self.L, -1, -1):
            tr = r.tiers[t]
            if t < self.L:
                # the ghosts of tier t + 1 get their D^{-1}, one column at a time
                a, b = int(gtb[t + 1]), int(gtb[t + 2])
                ghost_D = np.zeros((b - a, BS, BS))
                if self.multi:
                    q0, q1 = r.tier_rows(t + 1)
                    for col in range(BS):
                        E[q0:q1] = Dinv[q0:q1, :, col]
                        self._exchange(self.scatter[t + 1], 0)
                        ghost_D[:, :, col] = E[n + a:n + b]
            if tr.r1 == tr.r0:
                continue
            D = np.broadcast_to(r.LH, (tr.r1 - tr.r0, BS, BS)) + r.d[tr.r0:tr.r1, None, None] * np.eye(BS)
            for bath, js, Lc, S in tr.up:
                u = js.size
                cols = S.indices.reshape(-1, u)
                vals = S.data.reshape(-1, u)
                for i, j in enumerate(js):
                    coef = vals[:, i] ** 2 / (r.up_coef[j] * r.scale[j] ** 2)      # up_j (n_j + 1)
                    e = cols[:, i]
                    own = e < n
                    Dj = np.empty((e.size, BS, BS))
                    Dj[own] = Dinv[e[own]]
                    Dj[~own] = ghost_D[e[~own] - n - int(gtb[t + 1])]
                    D -= coef[:, None, None] * (Lc @ Dj @ r.down_blocks[j])
            if tr.r0 <= r.r00 < tr.r1:
                i = r.r00 - tr.r0
                D[i] = np.eye(BS) if r.conserved else D[i]
                D[i, 0, :] = [1.0, 0.0, 0.0, 0.0]
            Dinv[tr.r0:tr.r1] = _invert(D)
        self.Dinv = Dinv
        self.setup_s = time.perf_counter() - t0

    def apply(self, pc, x, y) -> None:
        """y = M^{-1} x: the forward sweep, tiers L .. 0, then the backward sweep, tiers 0 .. L."""
        r, Dinv = self.rows, self.Dinv
        R = x.getArray(readonly=True).reshape(-1, BS)
        EY, EZ = self.E
        for t in range(self.L, -1, -1):
            tr = r.tiers[t]
            if tr.r1 > tr.r0:
                acc = _couplings(tr.up, EY)
                rhs = R[tr.r0:tr.r1] if acc is None else R[tr.r0:tr.r1] - acc.T
                if r.conserved and tr.r0 <= r.r00 < tr.r1:
                    rhs = rhs.copy()
                    rhs[r.r00 - tr.r0] = R[r.r00]      # rho_00's rows are identity rows there
                EY[tr.r0:tr.r1] = _pivot_solve(Dinv[tr.r0:tr.r1], rhs)
            if self.multi and t > 0:
                self._exchange(self.scatter[t], 0)
        for t in range(self.L + 1):
            tr = r.tiers[t]
            if tr.r1 > tr.r0:
                acc = _couplings(tr.down, EZ)
                s = np.zeros((tr.r1 - tr.r0, BS), dtype=EZ.dtype) if acc is None else acc.T
                if not tr.levels:
                    EZ[tr.r0:tr.r1] = EY[tr.r0:tr.r1] - _pivot_solve(Dinv[tr.r0:tr.r1], s)
                for a, b, S in reversed(tr.levels):         # highest phi first: moves point there
                    v = s[a - tr.r0:b - tr.r0] + S @ EZ
                    EZ[a:b] = EY[a:b] - _pivot_solve(Dinv[a:b], v)
            if self.multi and t < self.L:
                self._exchange(self.scatter[t], 1)
        y.getArray()[:] = EZ[:self.n].reshape(-1)
        self.applies += 1

    # ------------------------------------------------------------------------- bookkeeping

    def free(self) -> None:
        """Collective: the halo's PETSc objects, in a fixed order."""
        for sc in self.scatter + [self.scatter_all]:
            sc.destroy()
        for v in self.W + self.G:
            v.destroy()
        self.scatter, self.scatter_all, self.W, self.G = [], None, [], []


class _Operator:
    """The MatShell's context: the operator alone (a context's setUp is called by MatSetUp too, so
    the preconditioner's cannot be the matrix's)."""

    def __init__(self, sweep: TierSweep):
        self.sweep = sweep

    def mult(self, mat, x, y) -> None:
        self.sweep.mult(mat, x, y)


def _invert(D: np.ndarray) -> np.ndarray:
    """Inverses of the 4x4 pivots; an exactly singular one is shifted by 1e-10 of its scale."""
    try:
        return np.linalg.inv(D)
    except np.linalg.LinAlgError:
        out = np.empty_like(D)
        for i, block in enumerate(D):
            try:
                out[i] = np.linalg.inv(block)
            except np.linalg.LinAlgError:
                shift = 1e-10 * max(float(np.abs(block).max()), 1.0)
                out[i] = np.linalg.inv(block + shift * np.eye(BS))
        return out
