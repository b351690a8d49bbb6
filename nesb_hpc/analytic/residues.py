"""Closed form of the half-Fourier transform Gamma(omega) for a rational J (residue route).

For t > 0 close C(t) = (1/2pi) Int S(w) e^{-iwt} dw in the lower half plane; the poles are those of
J (z_l, Im z_l < 0) and those of coth(w/2T) at w = -i nu_n, nu_n = 2 pi n T (residue 2T). Then
Int_0^inf e^{i(omega - w)t} dt = i/(omega - w) for Im w < 0 gives exactly

    Gamma(omega) = Int_0^inf C(t) e^{i omega t} dt
                 = sum_l Res_{w = z_l} [ S(w) / (omega - w) ]  +  2T sum_{n >= 1} J(-i nu_n) / (omega + i nu_n),

S(w) = J(w) [coth(w/2T) + 1]. The residue at a pole of order m is the h^(m-1) Taylor coefficient of
(w - z_l)^m S(w)/(omega - w), w = z_l + h, built from truncated series (binomial series for the
rational factors, f' = 1 - f^2 for coth). The Matsubara terms decay like nu_n^-(2p - s + 1); the sum
is truncated at nu_N >= 1e4 (times the largest pole modulus) and the tail is estimated as an
integral. Independent of ``quadrature.lamb_shift`` (which integrates on the real axis): the tests
compare the two. Ill-conditioned only when a Matsubara frequency nearly coincides with |z_l|
(2 pi n T ~ omega_c): the two cancelling terms are then large; the error estimate says so.
"""

from __future__ import annotations

import math

import numpy as np

from .frequency_quadrature import QuadValue


def _binomial_series(a: complex, p: int, n: int) -> np.ndarray:
    """Coefficients of (a + h)^p, h^0..h^(n-1), for any integer p (a != 0 when p < 0)."""
    c = np.empty(n, dtype=complex)
    coef = 1.0 + 0j
    for j in range(n):
        c[j] = coef * a ** (p - j)
        coef = coef * (p - j) / (j + 1)
    return c


def _coth_series(a: complex, n: int) -> np.ndarray:
    """Taylor coefficients of coth(a + x) in x, x^0..x^(n-1) (from f' = 1 - f^2)."""
    c = np.zeros(n, dtype=complex)
    c[0] = 1.0 / np.tanh(a)
    for k in range(n - 1):
        conv = np.sum(c[: k + 1] * c[k::-1])
        c[k + 1] = ((1.0 if k == 0 else 0.0) - conv) / (k + 1)
    return c


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.convolve(a, b)[: a.size]


def half_fourier_residues(J, T: float, omega: float, nu_max: float = 1e4) -> QuadValue:
    """See ``_half_fourier_residues``; a Matsubara frequency exactly on a pole of J (value not
    finite) returns error = inf (``quadrature.half_fourier`` then falls back to quadrature)."""
    with np.errstate(all="ignore"):
        q = _half_fourier_residues(J, T, omega, nu_max)
    if not (np.isfinite(q.value) and np.isfinite(q.error)):
        return QuadValue(complex(np.nan, np.nan), math.inf)
    return q


def _half_fourier_residues(J, T: float, omega: float, nu_max: float) -> QuadValue:
    """Gamma(omega) = Int_0^inf C(t) e^{i omega t} dt by residues, for J with ``.rational()``.

    Returns (complex value, error estimate = truncated Matsubara tail + 1e-15 * the sum of the
    moduli of all contributions, which flags cancellation near 2 pi n T = |z_l|). Units: energy.
    """
    R = J.rational()
    poles = [complex(z) for z in R.poles]
    mults = list(R.multiplicities)
    total = 0j
    # rounding bound: the same products with |coefficients| (cancellation inside the series and
    # between the pole and Matsubara terms near 2 pi n T = |z_l|); the coth coefficients also carry
    # the propagated rounding of their argument, |a| (k+1) |c_(k+1)|.
    magnitude = 0.0
    for z, m in zip(poles, mults):
        if z.imag >= 0:
            continue
        ser = np.zeros(m, dtype=complex)
        ser[0] = complex(R.prefactor)
        factors = [_binomial_series(z, R.power, m)]
        for zk, mk in zip(poles, mults):
            if zk != z:
                factors.append(_binomial_series(z - zk, -mk, m))
        a = z / (2.0 * T)
        c = _coth_series(a, m + 1)
        scale = (1.0 / (2.0 * T)) ** np.arange(m)
        coth = c[:m] * scale
        coth[0] += 1.0
        coth_abs = (np.abs(c[:m]) + abs(a) * np.arange(1, m + 1) * np.abs(c[1:])) * scale + np.eye(1, m)[0]
        factors.append(coth)
        # 1/(omega - w) = -1/((z - omega) + h)
        factors.append(-_binomial_series(z - omega, -1, m))
        ser_abs = np.abs(ser)
        for k, fac in enumerate(factors):
            ser = _mul(ser, fac)
            ser_abs = _mul(ser_abs, coth_abs if fac is coth else np.abs(fac))
        total += ser[m - 1]
        magnitude += ser_abs[m - 1].real

    zmax = max(abs(z) for z in poles)
    nu1 = 2.0 * math.pi * T
    N = int(math.ceil(nu_max * max(1.0, zmax) / nu1))
    nu = nu1 * np.arange(1, N + 1)
    terms = 2.0 * T * R(-1j * nu) / (omega + 1j * nu)
    total += np.sum(terms[::-1])  # small terms first
    # tail: terms ~ nu^-q; sum_{n > N} ~ |last term| * N / (q - 1), q = 2p - s + 1 >= 2
    q = sum(mults) - R.power + 1
    tail = abs(terms[-1]) * N / max(q - 1, 1)
    magnitude += float(np.sum(np.abs(terms)))
    return QuadValue(complex(total), float(tail + 1e-15 * magnitude))
