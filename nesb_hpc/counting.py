"""Counting field of a bath's energy: how the HEOM generator depends on it (pure numpy).

Full counting statistics of Q_b, the energy that leaves bath b between two measurements of H_Bb
(docs/noise.md, every factor). With the real counting parameter s (s = i chi),

    Z(s, t) = <e^{s Q_b}> = Tr rho(s, t),   d rho(s)/dt = L(s) rho(s),
    lambda(s) = lim (1/t) ln Z(s, t) = the eigenvalue of L(s) that tends to 0 as s -> 0,
    lambda'(0) = I_b (energy per unit time, omega_c^2/hbar),   lambda''(0) = S_b = d<<Q_b^2>>/dt
    (energy^2 per unit time).

In the influence functional the counting field shifts the bath-b correlation functions that join
the forward and backward branches, C(t) -> C(t + chi) (later vertex on the backward branch) and
C(-t + chi) (later vertex on the forward branch). A basis closed under d/dt shifts as
phi(t + chi) = e^{eta chi} phi(t), and a symmetric split of the shift between the two branches
keeps one field per basis function and every ADO Hermitian (or anti-Hermitian) for real s. So L(s)
is L(0) with the down and up couplings of bath b's modes changed, in either mode form
(liouvillian.HierarchyModes), to

    down block of mode j:  Re d_j(s) Lc_b + Im d_j(s) A_b,   d(s) = e^{-i hop s/2} (down_c + i down_a),
    up block of mode j:    Re u_j(s) Lc_b + Im u_j(s) A_b,   u(s) = e^{+i hop^T s/2} up,

(hop restricted to bath b's modes; Re and Im are those of real s, continued analytically to complex
s), with the rescaling of build_block_rows (sqrt(n_j)/c_j down, sqrt(n_j + 1) c_j up). The up
couplings gain anticommutator parts: the real Pauli form survives, with a real s.

Contact terms. L(s) above is exact to O(s^2) when the correlation function the decomposition
defines (Hermitian extension C(-t) = C(t)*) is C^1 at t = 0, i.e. C^I(0) = 0 and dC^R/dt(0+) = 0
(the paper's J, exactly; fits hold C^I(0) = 0 but not the slope). Otherwise the shift of the kink
or jump adds, with V = V_b (V^2 = 1) and M_VV = M[X -> V X V] on every ADO,

    + (2 C^I(0) s - dC^R/dt(0+) s^2) M_VV          (a generator term: ``contact_rate``)
    lambda''(0) += -2i C^I(0) <1| V^L L(0) V^R |rho>  (perturbative only: ``contact_moment_weights``)

The first gives the current's +2 C^I(0) Tr[V^2 rho_00] of observables.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from .hierarchy import TierOrderedHierarchy
from .liouvillian import BlockRows, HierarchyModes, build_block_rows
from .pauli import SIGMA, PauliBlocks, operator_from_bloch


@dataclass(frozen=True)
class CouplingCoefficients:
    """Coefficients of a coupling-only operator on the hierarchy (one entry per mode):

        down block of mode j: down_P_j Lc_b + down_Q_j A_b (from tier below, times sqrt(n_j)/c_j)
        up block of mode j:   up_P_j Lc_b + up_Q_j A_b     (from tier above, times sqrt(n_j + 1) c_j)
        plus ``diagonal`` (4x4) on every ADO, if given.

    Real for the derivatives at s = 0 and for real s; complex for complex s (analytic continuation).
    """

    down_P: np.ndarray
    down_Q: np.ndarray
    up_P: np.ndarray
    up_Q: np.ndarray
    diagonal: np.ndarray | None = None


def vv_block(pauli: PauliBlocks, bath: int) -> np.ndarray:
    """M[X -> V_b X V_b] (real 4x4): the superoperator of the contact terms."""
    V = operator_from_bloch(pauli.coupling_vectors[bath])
    m = np.array([[np.trace(SIGMA[mu] @ V @ SIGMA[nu] @ V) / 2 for nu in range(4)] for mu in range(4)])
    return m.real.copy()


def correlation_kink(modes: HierarchyModes, bath: int) -> float:
    """dC^R_b/dt at t = 0+ (energy^3, i.e. C per unit time): sum_j readout_j down_c_j.

    Separate form: readout = eta^T a^R and down_c = phi0 on R modes (0 on I modes); merged form:
    readout = eta phi0 and down_c = a^R. Either way a^R . eta phi0. Zero for the paper's J (C^R is
    smooth and even), nonzero e.g. for fits (a sum of exponentials has a kink at t = 0).
    """
    sel = modes.bath == bath
    return float(modes.readout[sel] @ modes.down_c[sel])


def contact_rate(modes: HierarchyModes, bath: int, s: complex) -> complex:
    """w(s) = 2 C^I_b(0) s - dC^R_b/dt(0+) s^2: weight of M_VV in L(s) - L_analytic(s)."""
    return 2.0 * modes.imag_at_zero[bath] * s - correlation_kink(modes, bath) * s**2


def _bath_block(modes: HierarchyModes, bath: int):
    sel = np.nonzero(modes.bath == bath)[0]
    return sel, modes.hop[np.ix_(sel, sel)]


def _rotate(M: np.ndarray, x: np.ndarray, y: np.ndarray, s: complex) -> tuple[np.ndarray, np.ndarray]:
    """(P, Q) with P + iQ = e^{-i M s/2} (x + i y) for real s (M, x, y real): P = Re, Q = Im there;
    for complex s the same analytic functions of s (P = (F + G)/2, Q = (F - G)/2i with
    F = e^{-iMs/2}(x + iy), G = e^{iMs/2}(x - iy))."""
    F = expm(-0.5j * s * M) @ (x + 1j * y)
    G = expm(0.5j * s * M) @ (x - 1j * y)
    return (F + G) / 2.0, (F - G) / 2j


def _rotate_derivative(M: np.ndarray, x: np.ndarray, y: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """d^order/ds^order of (P, Q) of ``_rotate`` at s = 0: (-iM/2)^order (x + iy), split. Real."""
    v = np.linalg.matrix_power(-0.5j * M, order) @ (x + 1j * y)
    return v.real.copy(), v.imag.copy()


def derivative_coefficients(modes: HierarchyModes, pauli: PauliBlocks, bath: int, order: int) -> CouplingCoefficients:
    """d^order L / ds^order at s = 0 for the energy of bath ``bath`` (order 1 or 2).

    Only bath b's down and up couplings depend on s (module doc): d^(k) = (-i hop/2)^k d(0),
    u^(k) = (i hop^T/2)^k u(0); the contact term adds 2 C^I(0) M_VV (order 1) or
    -2 dC^R/dt(0+) M_VV (order 2) on every ADO.
    """
    if order not in (1, 2):
        raise ValueError(f"order {order}: 1 or 2")
    K = modes.size
    out = [np.zeros(K) for _ in range(4)]
    sel, hop = _bath_block(modes, bath)
    zero = np.zeros(sel.size)
    out[0][sel], out[1][sel] = _rotate_derivative(hop, modes.down_c[sel], modes.down_a[sel], order)
    out[2][sel], out[3][sel] = _rotate_derivative(-hop.T, modes.up[sel], zero, order)
    weight = 2.0 * modes.imag_at_zero[bath] if order == 1 else -2.0 * correlation_kink(modes, bath)
    diagonal = weight * vv_block(pauli, bath) if weight != 0.0 else None
    return CouplingCoefficients(*out, diagonal)


def increment_coefficients(modes: HierarchyModes, pauli: PauliBlocks, bath: int, s: complex,
                           contact: bool = True) -> CouplingCoefficients:
    """L(s) - L(0) for a finite (possibly complex) s: the rotated minus the original couplings of
    bath b's modes, plus the contact generator w(s) M_VV (if ``contact``). The perturbative
    C^I(0) term of lambda'' (``contact_moment_weights``) is not a generator term and is not here."""
    K = modes.size
    out = [np.zeros(K, dtype=complex) for _ in range(4)]
    sel, hop = _bath_block(modes, bath)
    zero = np.zeros(sel.size)
    P, Q = _rotate(hop, modes.down_c[sel], modes.down_a[sel], s)
    out[0][sel], out[1][sel] = P - modes.down_c[sel], Q - modes.down_a[sel]
    P, Q = _rotate(-hop.T, modes.up[sel], zero, s)
    out[2][sel], out[3][sel] = P - modes.up[sel], Q
    w = contact_rate(modes, bath, s) if contact else 0.0
    diagonal = w * vv_block(pauli, bath) if w != 0.0 else None
    return CouplingCoefficients(*out, diagonal)


def coupling_rows(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks,
                  coef: CouplingCoefficients, lo: int, hi: int, ados: np.ndarray | None = None,
                  number=None) -> BlockRows:
    """Block rows [lo, hi) (tier numbering, sorted by column) of the coupling-only operator ``coef``,
    with build_block_rows's rescaling and truncation (couplings beyond the depth dropped).

    Another numbering (a solve's, e.g. the tier route's): ``ados`` the multi-indices of rows
    lo .. hi-1 in that numbering and ``number`` the map of multi-indices to its rows."""
    if modes.size != hier.n_modes:
        raise ValueError("hierarchy and modes disagree on the number of modes")
    dtype = np.result_type(coef.down_P, coef.down_Q, coef.up_P, coef.up_Q,
                           coef.diagonal if coef.diagonal is not None else 0.0)
    ranks = np.arange(lo, hi, dtype=np.int64)
    idx = hier.unrank(ranks).astype(np.int64) if ados is None else np.asarray(ados, dtype=np.int64)
    number = hier.rank if number is None else number
    tier = idx.sum(axis=1)
    c = modes.scale
    rows, cols, values = [], [], []

    def add(sel, neighbour, coefs, block):
        rows.append(np.nonzero(sel)[0])
        cols.append(number(neighbour))
        values.append(coefs[:, None, None] * block[None])

    if coef.diagonal is not None:
        add(np.ones(ranks.size, bool), idx, np.ones(ranks.size), np.asarray(coef.diagonal, dtype=dtype))
    for j in range(modes.size):
        b = modes.bath[j]
        block = coef.down_P[j] * pauli.Lc[b] + coef.down_Q[j] * pauli.A[b]
        if np.any(block != 0):
            sel = idx[:, j] > 0
            nb = idx[sel].copy()
            nb[:, j] -= 1
            add(sel, nb, np.sqrt(idx[sel, j]) / c[j], block)
        block = coef.up_P[j] * pauli.Lc[b] + coef.up_Q[j] * pauli.A[b]
        if np.any(block != 0):
            sel = tier < hier.depth
            nb = idx[sel].copy()
            nb[:, j] += 1
            add(sel, nb, np.sqrt(idx[sel, j] + 1.0) * c[j], block)
    if not rows:
        return BlockRows(lo, hi, np.zeros(ranks.size + 1, dtype=np.int64), np.zeros(0, dtype=np.int64),
                         np.zeros((0, 4, 4), dtype=dtype))
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    val = np.concatenate(values).astype(dtype)
    if np.any(col < 0):
        raise AssertionError("neighbour outside the hierarchy")
    # the diagonal and the down/up couplings of different modes reach different ADOs: one block
    # per (row, column), sorted like build_block_rows
    order = np.lexsort((col, row))
    row, col, val = row[order], col[order], val[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=ranks.size))]).astype(np.int64)
    return BlockRows(lo, hi, indptr, col.astype(np.int64), val)


def derivative_rows(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks, bath: int,
                    order: int, lo: int, hi: int, ados: np.ndarray | None = None, number=None) -> BlockRows:
    """Block rows [lo, hi) of d^order L/ds^order at s = 0 (tier numbering, or that of ``ados`` and
    ``number``: coupling_rows; real)."""
    return coupling_rows(hier, modes, pauli, derivative_coefficients(modes, pauli, bath, order), lo, hi, ados, number)


def first_tiers(hier: TierOrderedHierarchy) -> int:
    """Number of ADOs in tiers 0 and 1: the ADOs every trace-row functional here reads."""
    return int(hier.tier_offsets[min(2, hier.depth + 1)])


def trace_row(rows: BlockRows, n_ados: int) -> np.ndarray:
    """<1| times the operator whose block row of ADO 0 is ``rows`` (rows.lo == 0, hi == 1): a weight
    vector over the 4 unknowns of ADOs 0 .. n_ados - 1 (the trace Tr rho_00 = y_0[0] is row 0)."""
    if rows.lo != 0 or rows.hi != 1:
        raise ValueError("trace_row needs the row of ADO 0 alone")
    w = np.zeros((n_ados, 4), dtype=rows.values.dtype)
    for k in range(rows.indptr[1]):
        w[rows.cols[k]] += rows.values[k, 0, :]
    return w.reshape(-1)


def derivative_trace_weights(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks,
                             bath: int, order: int) -> np.ndarray:
    """<1| d^order L/ds^order on the unknowns of tiers 0 and 1 (ADO order, rescaled y): so that
    lambda'(0) = w1 . y and the pieces of lambda''(0) are dot products with gathered entries."""
    rows = derivative_rows(hier, modes, pauli, bath, order, 0, 1)
    return trace_row(rows, first_tiers(hier))


def _left_right(pauli: PauliBlocks, bath: int) -> tuple[np.ndarray, np.ndarray]:
    """Complex 4x4 Pauli matrices of X -> V X and X -> X V (V = V_b)."""
    V = operator_from_bloch(pauli.coupling_vectors[bath])
    ML = np.array([[np.trace(SIGMA[mu] @ V @ SIGMA[nu]) / 2 for nu in range(4)] for mu in range(4)])
    MR = np.array([[np.trace(SIGMA[mu] @ SIGMA[nu] @ V) / 2 for nu in range(4)] for mu in range(4)])
    return ML, MR


def contact_moment_weights(hier: TierOrderedHierarchy, modes: HierarchyModes, pauli: PauliBlocks,
                           bath: int) -> np.ndarray:
    """Weights of -2i C^I_b(0) <1| V^L L(0) V^R |y> on tiers 0 and 1: the second-order contact
    term of a jump of C at t = 0 (module doc; zero when C^I_b(0) = 0). Real: the ADO-0 row of L(0)
    holds only commutators, for which <1|V^L S V^R|X> = -i Tr[(A - V A V) X] (V^2 = 1)."""
    n01 = first_tiers(hier)
    ci0 = float(modes.imag_at_zero[bath])
    if ci0 == 0.0:
        return np.zeros(4 * n01)
    rows = build_block_rows(hier, modes, pauli, 0, 1)
    ML, MR = _left_right(pauli, bath)
    w = np.zeros((n01, 4), dtype=complex)
    for k in range(rows.indptr[1]):
        w[rows.cols[k]] += (ML @ rows.values[k] @ MR)[0, :]
    w = (-2j * ci0 * w).reshape(-1)
    if np.max(np.abs(w.imag)) > 1e-12 * max(np.max(np.abs(w.real)), 1e-300):
        raise AssertionError("contact moment weights are not real: the ADO-0 row is not commutators only")
    return w.real.copy()
