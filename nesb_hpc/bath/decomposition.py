"""Exact decompositions of C(t) into bases closed under differentiation (docs/model.md s2).

The one contract between a bath and the hierarchy is a pair of ``BasisFamily`` objects, one for
C^R = Re C and one for C^I = Im C:

    C^X(t) = sum_j a_j phi_j(t),    d/dt phi_j = sum_j' eta_jj' phi_j',    phi_j(0) = phi0_j,

with real a, eta, phi0 (so the hierarchy is a real linear system, docs/model.md s3).

Exact route for a rational, odd J(w) (spectral.RationalPoles): close the contour in the upper
half plane (t > 0),

    C^R(t) = i sum_{Im z > 0} Res[J(w) coth(w/2T) e^{iwt}],   C^I(t) = -sum_{Im z > 0} Res[J(w) e^{iwt}],

where coth is replaced by a sum-over-poles expansion (bose.py). A pole z of order m contributes
e^{izt} * (polynomial of degree m-1 in t): the residues come from truncated Taylor series. The
complex terms are then written in a real basis:

    rate gamma, Omega = 0:   phi_k = (gamma t)^k / k! e^{-gamma t}
    Omega > 0 (a conjugate pair): c_k, s_k = (gamma t)^k / k! e^{-gamma t} (cos, sin)(Omega t)

The QuTiP vocabulary (ck, vk lists) enters through ``from_exponents``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial

import numpy as np
from scipy.linalg import block_diag, expm

from .bose import BoseExpansion, bose_expansion
from .spectral import RationalPoles


@dataclass(frozen=True)
class BasisFamily:
    """C^X(t) = a . phi(t) with d/dt phi = eta phi, phi(0) = phi0 (all real)."""

    a: np.ndarray
    eta: np.ndarray
    phi0: np.ndarray
    labels: tuple[str, ...] = field(default=())
    # per basis function (gamma, Omega, k, part): (g t)^k/k! e^{-g t} times cos (part 0) or sin
    # (part 1) of Omega t; identifies functions shared by C^R and C^I (empty: none are shared)
    keys: tuple[tuple[float, float, int, int], ...] = field(default=())

    @property
    def size(self) -> int:
        return int(self.a.size)

    def basis(self, t) -> np.ndarray:
        """phi_j(t) for every j: array (size, len(t)), phi(t) = expm(eta t) phi0."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        return np.stack([expm(self.eta * ti) @ self.phi0 for ti in t], axis=1) if self.size else np.zeros((0, t.size))

    def evaluate(self, t) -> np.ndarray:
        """C^X(t) on the grid t."""
        return self.a @ self.basis(t)

    def scaled(self, factor: float) -> "BasisFamily":
        return BasisFamily(self.a * factor, self.eta, self.phi0, self.labels, self.keys)


@dataclass(frozen=True)
class BathDecomposition:
    """A bath's correlation function C = C^R + i C^I as two basis families."""

    real: BasisFamily
    imag: BasisFamily
    description: str = ""

    def correlation(self, t) -> np.ndarray:
        """C(t) = C^R(t) + i C^I(t) (complex array)."""
        return self.real.evaluate(t) + 1j * self.imag.evaluate(t)

    @property
    def imag_at_zero(self) -> float:
        """C^I(0) = a^I . phi^I(0): zero for an exact decomposition (enters the current if not)."""
        return float(self.imag.a @ self.imag.phi0)

    @property
    def n_modes(self) -> int:
        return self.real.size + self.imag.size

    def scaled(self, factor: float) -> "BathDecomposition":
        return BathDecomposition(self.real.scaled(factor), self.imag.scaled(factor), self.description)


# ---------------------------------------------------------------------------------------------
# Truncated power series in eps (coefficient arrays of length n), for residues at poles of order n.


def _series_power(z0: complex, power: int, n: int) -> np.ndarray:
    """(z0 + eps)^power for integer power (negative allowed), first n Taylor coefficients."""
    out = np.zeros(n, dtype=complex)
    coef = 1.0 + 0j
    for k in range(n):
        out[k] = coef * z0 ** (power - k)
        coef *= (power - k) / (k + 1)
    return out


def _series_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.convolve(a, b)[: a.size]


def _series_coth(beta: float, z0: complex, n: int) -> np.ndarray:
    """coth(beta (z0 + eps) / 2): Taylor coefficients from y' = (beta/2)(1 - y^2)."""
    y = np.zeros(n, dtype=complex)
    y[0] = 1.0 / np.tanh(beta * z0 / 2.0)
    for k in range(n - 1):
        sq = np.convolve(y[: k + 1], y[: k + 1])[k]
        y[k + 1] = (beta / 2.0) * ((1.0 if k == 0 else 0.0) - sq) / (k + 1)
    return y


def _series_bose_approximant(beta: float, bose: BoseExpansion, z0: complex, n: int) -> np.ndarray:
    """The expansion 2/x + sum_j 2 eta_j [1/(x - i xi_j) + 1/(x + i xi_j)] with x = beta w."""
    x0 = beta * z0
    out = 2.0 * _series_power(x0, -1, n)
    for e, xi in zip(bose.eta, bose.xi):
        out += 2.0 * e * (_series_power(x0 - 1j * xi, -1, n) + _series_power(x0 + 1j * xi, -1, n))
    return out * beta ** np.arange(n)  # the series above is in beta*eps


def _residue_terms(J: RationalPoles, z0: complex, order: int, extra: np.ndarray | None):
    """Res_{w=z0}[J(w) * extra(w) * e^{iwt}] = e^{i z0 t} sum_k b_k t^k; returns b (length order).

    extra: Taylor coefficients of an extra analytic factor at z0 (coth), or None for 1.
    """
    g = J.prefactor * _series_power(z0, J.power, order)
    for z, m in zip(J.poles, J.multiplicities):
        if z != z0:
            g = _series_mul(g, _series_power(z0 - z, -m, order))
    if extra is not None:
        g = _series_mul(g, extra)
    # coefficient of eps^(order-1) in g(eps) * exp(i eps t): sum_k g_{order-1-k} (i t)^k / k!
    return np.array([g[order - 1 - k] * (1j) ** k / factorial(k) for k in range(order)])


# A complex term: sum_k b_k t^k e^{-v t}
_Term = tuple[complex, np.ndarray]


def _real_family(terms: list[_Term], what: str, imag_tol: float = 1e-10) -> BasisFamily:
    """Write sum of complex terms (a real function of t) in the real basis of the module doc."""
    a, labels, blocks, phi0, keys = [], [], [], [], []
    scale = max([np.max(np.abs(b)) for _, b in terms] + [1e-300])
    pending = []
    for v, b in terms:
        gamma, omega = v.real, v.imag
        if gamma <= 0:
            raise ValueError(f"{what}: decay rate Re(v) = {gamma} must be > 0")
        m = b.size
        if abs(omega) <= 1e-12 * max(1.0, abs(gamma)):
            if np.max(np.abs(b.imag)) > imag_tol * scale:
                raise ValueError(f"{what}: a real rate {gamma:g} has complex coefficients {b}: C^X must be real")
            eta = gamma * (np.eye(m, k=-1) - np.eye(m))
            blocks.append(eta)
            phi0.extend([1.0] + [0.0] * (m - 1))
            a.extend(b.real[k] * factorial(k) / gamma**k for k in range(m))
            labels.extend(f"(g t)^{k}/{k}! e^(-g t), g={gamma:.6g}" for k in range(m))
            keys.extend((gamma, 0.0, k, 0) for k in range(m))
        elif omega > 0:
            pending.append((v, b))
        else:
            continue  # the partner of an omega > 0 term; checked below
    for v, b in pending:
        partner = [bb for vv, bb in terms if abs(vv - np.conj(v)) <= 1e-10 * abs(v) and bb.size == b.size]
        if not partner or np.max(np.abs(partner[0] - np.conj(b))) > imag_tol * scale:
            raise ValueError(f"{what}: complex rate {v} has no complex-conjugate partner: C^X must be real")
        gamma, omega, m = v.real, v.imag, b.size
        # ordering (c_0, s_0, c_1, s_1, ...): d/dt c_k = g c_{k-1} - g c_k - W s_k,
        #                                     d/dt s_k = g s_{k-1} - g s_k + W c_k
        eta = np.zeros((2 * m, 2 * m))
        for k in range(m):
            c, s = 2 * k, 2 * k + 1
            eta[c, c] = eta[s, s] = -gamma
            eta[c, s], eta[s, c] = -omega, omega
            if k > 0:
                eta[c, c - 2] = eta[s, s - 2] = gamma
        blocks.append(eta)
        phi0.extend([1.0, 0.0] + [0.0] * (2 * m - 2))
        for k in range(m):
            f = 2.0 * factorial(k) / gamma**k
            a.extend([f * b[k].real, f * b[k].imag])
            labels.extend([f"(g t)^{k}/{k}! e^(-g t) cos(W t), g={gamma:.6g}, W={omega:.6g}",
                           f"(g t)^{k}/{k}! e^(-g t) sin(W t), g={gamma:.6g}, W={omega:.6g}"])
            keys.extend([(gamma, omega, k, 0), (gamma, omega, k, 1)])
    eta = block_diag(*blocks) if blocks else np.zeros((0, 0))
    return BasisFamily(np.array(a, dtype=float), eta, np.array(phi0, dtype=float), tuple(labels), tuple(keys))


def exact_decomposition(J: RationalPoles, T: float, bose_kind: str = "pade", n_bose: int = 3) -> BathDecomposition:
    """Residue decomposition of C(t) for a rational odd J at temperature T (> 0).

    Cutoff (J) poles: Matsubara uses the exact coth there (only the Matsubara tail is truncated);
    Pade uses its approximant everywhere (C is then the exact transform of J * approximant,
    Hu-Xu-Yan). Bose poles w = i xi_j T contribute c_j e^{-xi_j T t}, c_j = i J(i xi_j T) 2 eta_j T.
    """
    if T <= 0:
        raise ValueError(f"temperature {T} must be > 0")
    beta = 1.0 / T
    bose = bose_expansion(bose_kind, n_bose)
    real_terms: list[_Term] = []
    imag_terms: list[_Term] = []
    for z0, order in J.upper_poles():
        for xi in bose.xi:
            if abs(xi * T - z0.imag) < 1e-9 * max(1.0, abs(z0)) and abs(z0.real) < 1e-12:
                raise ValueError(f"Bose pole i*{xi * T:g} coincides with a pole of J: change T or n_bose slightly")
        if bose_kind == "matsubara":
            cth = _series_coth(beta, z0, order)
        else:
            cth = _series_bose_approximant(beta, bose, z0, order)
        real_terms.append((-1j * z0, 1j * _residue_terms(J, z0, order, cth)))
        imag_terms.append((-1j * z0, -1.0 * _residue_terms(J, z0, order, None)))
    for e, xi in zip(bose.eta, bose.xi):
        nu = xi * T
        c = 1j * complex(J(1j * nu)) * 2.0 * e * T
        real_terms.append((complex(nu), np.array([c])))
    real = _chop(_real_family(_merge_equal_rates(real_terms), "C^R"))
    imag = _chop(_real_family(_merge_equal_rates(imag_terms), "C^I"))
    desc = f"exact residues, {bose_kind} n_bose={n_bose}, T={T:g}"
    return BathDecomposition(real, imag, desc)


def _chop(family: BasisFamily, rel: float = 1e-13) -> BasisFamily:
    """Set coefficients that are rounding noise of an exact zero (e.g. a^I_0, as C^I(0) = 0) to 0.

    The residues are computed to ~1e-15 relative; coefficients whose combined size is below
    1e-13 of the family's largest are zero, and an exact zero removes its up-couplings.
    """
    a = family.a.copy()
    size = np.abs(a)
    order = np.argsort(size)
    # drop the smallest coefficients only while their combined size stays below the threshold,
    # so that many tiny but genuine terms (hundreds of Matsubara poles) are not dropped together
    dropped = order[np.cumsum(size[order]) < rel * np.max(size, initial=0.0)]
    a[dropped] = 0.0
    return BasisFamily(a, family.eta, family.phi0, family.labels, family.keys)


def _merge_equal_rates(terms: list[_Term]) -> list[_Term]:
    """Combine terms sharing a rate (e.g. coincident Pade poles) so the basis stays independent."""
    out: list[_Term] = []
    for v, b in terms:
        for i, (vv, bb) in enumerate(out):
            if abs(vv - v) <= 1e-13 * abs(v):
                n = max(b.size, bb.size)
                out[i] = (vv, np.pad(bb, (0, n - bb.size)) + np.pad(b, (0, n - b.size)))
                break
        else:
            out.append((v, b))
    return out


@dataclass(frozen=True)
class SharedBasis:
    """C^R and C^I of one bath on one basis closed under d/dt (the union of both families' bases):

        C^R(t) = a_R . phi(t),   C^I(t) = a_I . phi(t),   d/dt phi = eta phi,   phi(0) = phi0.

    The merged hierarchy (liouvillian.HierarchyModes, modes = "merged") has one index per function
    here instead of one per function of each family: for the paper's J, 4 + n_bose per bath
    instead of 8 + n_bose (the t^k e^{-t} chain is common to C^R and C^I).
    """

    a_real: np.ndarray
    a_imag: np.ndarray
    eta: np.ndarray
    phi0: np.ndarray
    labels: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return int(self.phi0.size)


def shared_basis(dec: BathDecomposition, rel: float = 1e-12) -> SharedBasis:
    """The union of dec.real's and dec.imag's bases, functions of both identified by their keys.

    A function of C^I is the same as one of C^R when (gamma, Omega, k, part) agree to rel; eta and
    phi0 of a shared function must then agree too (they are properties of the function), which is
    checked. Families without keys share nothing (the direct sum, still exact).
    """
    R, I = dec.real, dec.imag
    index = list(range(R.size))          # joint index of each function of R, then of I

    def same(k1, k2) -> bool:
        return (k1[2:] == k2[2:] and abs(k1[0] - k2[0]) <= rel * max(abs(k1[0]), 1e-300)
                and abs(k1[1] - k2[1]) <= rel * max(abs(k1[0]), abs(k1[1])))

    n = R.size
    for key in (I.keys if len(I.keys) == I.size else [None] * I.size):
        match = [r for r, rk in enumerate(R.keys) if key is not None and len(R.keys) == R.size and same(rk, key)]
        if match:
            index.append(match[0])
        else:
            index.append(n)
            n += 1
    index = np.array(index, dtype=np.int64)
    eta = np.zeros((n, n))
    phi0 = np.zeros(n)
    set_ = np.zeros((n, n), dtype=bool)
    a = [np.zeros(n), np.zeros(n)]
    labels = [""] * n
    for f, (fam, idx) in enumerate(((R, index[:R.size]), (I, index[R.size:]))):
        block = eta[np.ix_(idx, idx)]
        known = set_[np.ix_(idx, idx)]
        if np.any(known & (np.abs(block - fam.eta) > 1e-12 * (1.0 + np.abs(fam.eta)))):
            raise ValueError("C^R and C^I disagree on d/dt of a shared basis function")
        eta[np.ix_(idx, idx)] = fam.eta
        set_[np.ix_(idx, idx)] = True
        phi0[idx] = fam.phi0
        a[f][idx] = fam.a
        for i, lab in zip(idx, fam.labels or [""] * fam.size):
            labels[i] = labels[i] or lab
    return SharedBasis(a[0], a[1], eta, phi0, tuple(labels))


def from_exponents(ck_real, vk_real, ck_imag, vk_imag, scale: float = 1.0) -> BathDecomposition:
    """QuTiP vocabulary: C^R = sum ck_real e^{-vk_real t}, C^I = sum ck_imag e^{-vk_imag t}, times scale.

    Complex rates must come in conjugate pairs (C^R, C^I are real functions); they become
    e^{-gamma t} (cos, sin)(Omega t) pairs with a real 2x2 eta.
    """
    def terms(ck, vk):
        if len(ck) != len(vk):
            raise ValueError("ck and vk lists must have equal lengths")
        return _merge_equal_rates([(complex(v), np.array([complex(c) * scale])) for c, v in zip(ck, vk)])

    return BathDecomposition(
        _real_family(terms(ck_real, vk_real), "C^R (ck_real, vk_real)"),
        _real_family(terms(ck_imag, vk_imag), "C^I (ck_imag, vk_imag)"),
        "exponents (QuTiP vocabulary)",
    )
