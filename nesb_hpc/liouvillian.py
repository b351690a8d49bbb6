"""Block rows of the extended-HEOM Liouvillian in the real Pauli representation (pure numpy).

Unknowns: x_n in R^4 per ADO n (physics.md section 3), rescaled as x_n = s_n y_n with
s_n = prod_j sqrt(n_j!) c_j^{n_j} (c_j > 0 per mode) for conditioning. With the coefficients of
``HierarchyModes`` (hop, down, up: what each mode couples to, for either form) and b(j) the bath
of mode j, the rows for ADO n are

    dy_n/dt = [LH + (sum_j n_j hop_jj) 1] y_n
            + sum_{j != k} sqrt(n_j (n_k + 1)) hop_jk (c_k/c_j) y_{n - e_j + e_k}
            + sum_j sqrt(n_j)/c_j (down_c_j Lc_b(j) + down_a_j A_b(j)) y_{n - e_j}
            + sum_j up_j sqrt(n_j + 1) c_j Lc_b(j) y_{n + e_j}

which for the "separate" form is physics.md's complex hierarchy after rho_n = i^|m| (x0 + x.sigma)/2
(the factors of i fold into the signs of down and up). Couplings absent by truncation
(|n + e_j| > L) are dropped.
Each call builds only the rows [lo, hi) of one rank, vectorised over ADOs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import block_diag

from .bath.decomposition import BathDecomposition, shared_basis
from .hierarchy import TierOrderedHierarchy
from .pauli import PauliBlocks


MODE_FORMS = ("separate", "merged")


@dataclass(frozen=True)
class HierarchyModes:
    """All hierarchy modes of all baths, flattened, as the coefficients the rows need.

    For ADO n (real Pauli unknowns x_n, section "Unknowns" above), mode j of bath b = bath[j]:

        dx_n/dt = LH x_n + sum_{j,k} n_j hop_jk x_{n - e_j + e_k}
                + sum_j n_j (down_c_j Lc_b + down_a_j A_b) x_{n - e_j} + sum_j up_j Lc_b x_{n + e_j}
        I_b = sum_{j in b} readout_j (n_b . x_{e_j}) + 2 C^I_b(0) x0[rho_00]

    Two forms (physics.md sections 3-4):

    - "separate": one mode per basis function of C^R (hop = eta, down_c = phi0, up = a,
      readout = eta^T a) and of C^I (hop = eta, down_a = -phi0, up = -a, readout = -eta^T a;
      rho = i^|m| (x0 + x.sigma)/2 folds the factors of i into these signs).
    - "merged": one mode per function of the basis shared by C^R and C^I (bath.shared_basis),
      from -Int ds V^x(t) [C^R V^x + i C^I V^o](s) rho = -V^x Int ds F(t-s) rho with
      F(t) = sum_j phi_j(t) (a^R_j V^x + i a^I_j V^o) = sum_j phi0_j [e^{eta^T t} S]_j: the
      auxiliary fields Y_j = -i Int ds [e^{eta^T (t-s)} S]_j(s) obey dY/dt = -i S + eta^T Y, so
      hop = eta^T, down_c = a^R, down_a = a^I, up = phi0, readout = eta phi0 (the roles of a and
      phi(0) exchanged), and every ADO is Hermitian (no factors of i).
    """

    bath: np.ndarray      # (K,) int, bath of each mode
    hop: np.ndarray       # (K, K), block diagonal by bath (and family)
    down_c: np.ndarray    # (K,) coefficient of Lc_b on the tier below
    down_a: np.ndarray    # (K,) coefficient of A_b on the tier below
    up: np.ndarray        # (K,) coefficient of Lc_b on the tier above
    readout: np.ndarray   # (K,) weight of n_b . x_{e_j} in the current I_b
    scale: np.ndarray     # (K,) c_j > 0 (x_n = prod sqrt(n_j!) c_j^n_j y_n)
    imag_at_zero: np.ndarray  # (n_baths,) C^I_b(0) (0 for exact decompositions)
    form: str = "separate"

    @property
    def size(self) -> int:
        return int(self.bath.size)

    @classmethod
    def from_baths(cls, baths: list[BathDecomposition], rescale: bool = True,
                   form: str = "separate") -> "HierarchyModes":
        if form not in MODE_FORMS:
            raise ValueError(f"mode form {form!r}: allowed are {MODE_FORMS}")
        parts = []   # (bath, hop, down_c, down_a, up, readout, scale) per family
        for b, dec in enumerate(baths):
            if form == "merged":
                sb = shared_basis(dec)
                size_a = np.maximum(np.abs(sb.a_real), np.abs(sb.a_imag))
                scale = 1.0 / _mode_scales(size_a, sb.phi0) if rescale else np.ones(sb.size)
                parts.append((b, sb.eta.T, sb.a_real, sb.a_imag, sb.phi0, sb.eta @ sb.phi0, scale))
                continue
            for family, sign in ((dec.real, 1.0), (dec.imag, -1.0)):
                if family.size == 0:
                    continue
                zero = np.zeros(family.size)
                down_c, down_a = (family.phi0, zero) if sign > 0 else (zero, -family.phi0)
                scale = _mode_scales(family.a, family.phi0) if rescale else np.ones(family.size)
                parts.append((b, family.eta, down_c, down_a, sign * family.a,
                              sign * (family.eta.T @ family.a), scale))
        parts = [p for p in parts if p[1].shape[0] > 0]
        return cls(
            np.concatenate([np.full(p[1].shape[0], p[0], dtype=np.int64) for p in parts]),
            block_diag(*[p[1] for p in parts]),
            *(np.concatenate([p[i] for p in parts]).astype(float) for i in range(2, 7)),
            np.array([dec.imag_at_zero for dec in baths]), form,
        )

    def down_block(self, j: int, pauli: PauliBlocks) -> np.ndarray:
        """The 4x4 block down_c_j Lc_b + down_a_j A_b of mode j (b its bath)."""
        b = self.bath[j]
        return self.down_c[j] * pauli.Lc[b] + self.down_a[j] * pauli.A[b]


def _mode_scales(a: np.ndarray, phi0: np.ndarray) -> np.ndarray:
    """c_j = 1/sqrt|a_j| for modes fed from the tier below (phi0 != 0), else 1/sqrt(max_family |a|).

    With x_n = prod sqrt(n_j!) c_j^n_j y_n the couplings up (a_j sqrt(n_j+1) c_j) and down
    (sqrt(n_j) phi_j(0)/c_j) of a mode have equal size sqrt(|a_j| n_j): the usual scaling that
    keeps every tier's y of comparable size. (The merged form, where a couples down and phi0 up,
    uses the reciprocal.)
    """
    amax = float(np.max(np.abs(a))) if a.size else 0.0
    if amax == 0.0:
        return np.ones(a.size)
    fallback = 1.0 / np.sqrt(amax)
    use_own = (phi0 != 0) & (np.abs(a) > 1e-8 * amax)
    return np.where(use_own, 1.0 / np.sqrt(np.where(use_own, np.abs(a), 1.0)), fallback)


@dataclass(frozen=True)
class BlockRows:
    """Block-CSR rows [lo, hi) of the Liouvillian: ADO-level indptr/cols, values (nblocks, 4, 4)."""

    lo: int
    hi: int
    indptr: np.ndarray
    cols: np.ndarray
    values: np.ndarray

    @property
    def n_blocks(self) -> int:
        return int(self.cols.size)


def build_block_rows(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks,
                     lo: int, hi: int) -> BlockRows:
    """The Liouvillian's block rows for ADOs lo..hi-1 (global numbering), sorted by column."""
    if modes.size != hier.n_modes:
        raise ValueError("hierarchy and modes disagree on the number of modes")
    # block kinds: 0 identity, 1..nb commutators Lc_b, then one down block per mode
    kinds = np.concatenate([np.eye(4)[None], pauli.Lc] + [modes.down_block(j, pauli)[None] for j in range(modes.size)])
    n_baths = pauli.Lc.shape[0]
    ranks = np.arange(lo, hi, dtype=np.int64)
    idx = hier.unrank(ranks).astype(np.int64)
    tier = idx.sum(axis=1)
    L = hier.depth
    c = modes.scale

    rows, cols, coefs, kind = [], [], [], []

    def add(sel, neighbour, coef, k):
        col = hier.rank(neighbour)
        rows.append(np.nonzero(sel)[0])
        cols.append(col)
        coefs.append(np.broadcast_to(coef, col.shape).astype(float))
        kind.append(np.full(col.size, k, dtype=np.int64))

    # diagonal: LH + sum_j n_j hop_jj (LH added after sorting)
    add(np.ones(ranks.size, bool), idx, idx @ np.diag(modes.hop), 0)
    # moves within a bath's modes: n -> n - e_j + e_k
    off = modes.hop - np.diag(np.diag(modes.hop))
    for j, k in zip(*np.nonzero(off)):
        sel = idx[:, j] > 0
        nb = idx[sel].copy()
        nb[:, j] -= 1
        nb[:, k] += 1
        add(sel, nb, np.sqrt(idx[sel, j] * (idx[sel, k] + 1.0)) * off[j, k] * c[k] / c[j], 0)
    # down (tier - 1)
    for j in np.nonzero((modes.down_c != 0) | (modes.down_a != 0))[0]:
        sel = idx[:, j] > 0
        nb = idx[sel].copy()
        nb[:, j] -= 1
        add(sel, nb, np.sqrt(idx[sel, j]) / c[j], 1 + n_baths + j)
    # up (tier + 1)
    sel_up = tier < L
    for j in np.nonzero(modes.up)[0]:
        nb = idx[sel_up].copy()
        nb[:, j] += 1
        add(sel_up, nb, modes.up[j] * np.sqrt(idx[sel_up, j] + 1.0) * c[j], 1 + modes.bath[j])

    row = np.concatenate(rows)
    col = np.concatenate(cols)
    coef = np.concatenate(coefs)
    knd = np.concatenate(kind)
    if np.any(col < 0):
        raise AssertionError("neighbour outside the hierarchy")
    order = np.lexsort((col, row))
    row, col, coef, knd = row[order], col[order], coef[order], knd[order]
    values = coef[:, None, None] * kinds[knd]
    values[col == ranks[row]] += pauli.LH
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=ranks.size))]).astype(np.int64)
    return BlockRows(lo, hi, indptr, col, values)


def impose_steady_state_conditions(rows: BlockRows, pauli: PauliBlocks) -> BlockRows:
    """Make L y = 0 a non-singular system L' y = e_0 (physics.md section 5).

    Row 0 (d/dt Tr rho_00) is identically zero: it becomes the condition y_0[0] = Tr rho_00 = 1.

    If q . sigma commutes with H_S and every V_b (pauli.conserved_direction: Delta = 0 with
    parallel couplings), H_S = 0 and every coupling is q . sigma, so the populations in the q basis
    are frozen, and for baths with Int_0^inf C^R dt = 0 (any s > 1, the paper's s = 3) the
    coherences in the q basis are too: the steady state is not unique. Then all three Bloch rows of
    rho_00 become y_0[1:] = 0, i.e. rho_00 = 1/2 (the current does not depend on this choice; for
    baths that do relax the q-basis coherences it is the unique steady state anyway).
    Returns new rows (only rank 0, which owns ADO 0, changes anything).
    """
    if rows.lo != 0 or rows.hi == 0:
        return rows
    values = rows.values.copy()
    start, end = rows.indptr[0], rows.indptr[1]
    diag = start + int(np.nonzero(rows.cols[start:end] == 0)[0][0])
    if np.max(np.abs(values[start:end, 0, :])) > 0:
        raise AssertionError("the trace row of rho_00 is not zero: the Liouvillian is wrong")
    values[diag, 0, :] = [1.0, 0.0, 0.0, 0.0]
    if pauli.conserved_direction() is not None:
        values[start:end, 1:, :] = 0.0
        values[diag, 1:, 1:] = np.eye(3)
    return BlockRows(rows.lo, rows.hi, rows.indptr, rows.cols, values)
