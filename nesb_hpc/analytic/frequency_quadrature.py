"""Frequency-domain quadratures for the weak-coupling theories (docs/analytic.md, section 1).

Convention (docs/model.md s1), hbar = k_B = 1, energies in units of omega_c:

    C(t) = (1/pi) Int_0^inf J(w) [coth(w/2T) cos wt - i sin wt] dw
         = (1/2pi) Int_{-inf}^{inf} S(w) e^{-iwt} dw,

    S(w) = J(w) [coth(w/2T) + 1] = 2 J(w) [n(w) + 1],    n(w) = 1/(e^{w/T} - 1),

with J continued as an odd function (S(-w) = e^{-w/T} S(w): detailed balance). Every oscillatory
time integral the theories need is turned into a smooth, non-oscillatory frequency integral:

    Gamma(omega) = Int_0^inf C(t) e^{i omega t} dt = S(omega)/2 + i D(omega),
    D(omega)     = (1/2pi) P Int S(w) / (omega - w) dw
                 = (1/2pi) Int_0^inf [S(omega - u) - S(omega + u)] / u du,

the real part in closed form. For a rational J (``.rational()``) the imaginary part is also closed
(``residues.py``: residues + a Matsubara sum; ``half_fourier.py`` chooses between the two); here,
for any J, the principal value is folded onto u > 0, where
the integrand is smooth (-2 S'(omega) at u = 0) and decays like u^-(2p - s + 1) for the rational
cutoff, and goes to QUADPACK (QAGS on [0, L] with break points at the scales of S, QAGI beyond).
Either way an error estimate is returned beside the value; the tests compare the two routes.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, NamedTuple

import numpy as np
from scipy import integrate


class QuadValue(NamedTuple):
    """A quadrature result: value and an absolute error estimate."""

    value: complex | float
    error: float


def _as_array(J: Callable, w) -> np.ndarray:
    return np.asarray(J(np.asarray(w, dtype=float)), dtype=float)


def slope_at_zero(J: Callable) -> float:
    """lim_{w->0} J(w)/w (zero for super-Ohmic s > 1).

    Exact for ``RationalCutoff``-like objects with attributes ``s`` and ``alpha``; otherwise a
    Richardson estimate from J(h)/h at h = 1e-4, 5e-5 (error O(h^4)).
    """
    s = getattr(J, "s", None)
    if s is not None and getattr(J, "alpha", None) is not None:
        if s > 1:
            return 0.0
        if s == 1:
            wc = float(getattr(J, "omega_c", 1.0))
            return math.pi * float(J.alpha) * wc ** (1 - s)
    h = 1e-4
    f1 = float(_as_array(J, h)) / h
    f2 = float(_as_array(J, h / 2)) / (h / 2)
    return (4.0 * f2 - f1) / 3.0


def one_plus_coth(w, T: float) -> np.ndarray:
    """coth(w/2T) + 1 = 2 (n(w) + 1) = 2 / (1 - e^{-w/T}), for w != 0 of either sign (inf at 0)."""
    x = np.asarray(w, dtype=float) / T
    with np.errstate(over="ignore", divide="ignore"):
        return -2.0 / np.expm1(-x)


def spectrum(J: Callable, T: float, w) -> np.ndarray:
    """S(w) = J(w) [coth(w/2T) + 1] = 2 J(w) [n(w) + 1] for real w of either sign.

    S(w > 0): emission into the bath; S(-w) = e^{-w/T} S(w). At w = 0: 2 T lim J(w)/w.
    Units: energy (same as J).
    """
    w = np.asarray(w, dtype=float)
    out = np.empty(w.shape)
    nz = w != 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        out[nz] = _as_array(J, w[nz]) * one_plus_coth(w[nz], T)
    # far on the absorption side J * 2/(1 - e^{|w|/T}) underflows to -0 * J: keep a clean 0
    out[nz & ~np.isfinite(out)] = 0.0
    if np.any(~nz):
        out[~nz] = 2.0 * T * slope_at_zero(J)
    return out


def spectrum_over_w(J: Callable, T: float, w) -> np.ndarray:
    """F(w) = S(w)/w = J(w) [coth(w/2T) + 1] / w   [dimensionless], for real w of either sign.

    Needs a super-Ohmic J (J(w)/w -> 0 at w -> 0, e.g. s = 3, where F ~ 2 pi alpha T w); then F is
    smooth and F(0) = 0. For Ohmic J, F ~ 2 T J'(0)/w is not integrable: the first-order expansion of
    the polaron dressing does not exist, and ``ne_ptre_current`` refuses such a J.
    """
    w = np.asarray(w, dtype=float)
    out = np.zeros(w.shape)
    nz = w != 0.0
    out[nz] = spectrum(J, T, w[nz]) / w[nz]
    return out


def spectral_scales(T: float, *extra: float) -> list[float]:
    """Break points that resolve S(w): the thermal scale, the cutoff, and given positions."""
    base = [0.25 * T, T, 4.0 * T, 0.5, 1.0, 2.0, 5.0]
    return sorted({abs(float(x)) for x in (*base, *extra) if x != 0})


def _quad(f, a, b, epsabs, epsrel, points=None, limit=200):
    """scipy quad; a QUADPACK warning (roundoff, slow convergence) widens the error estimate to
    max(error, 100 epsabs, 1e-3 |value|) instead of printing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", integrate.IntegrationWarning)
        v, e = integrate.quad(f, a, b, points=points, epsabs=epsabs, epsrel=epsrel, limit=limit)
    if caught:
        e = max(abs(e), 100.0 * epsabs, 1e-3 * abs(v))
    return v, abs(e)


def integrate_half_line(f: Callable[[float], float], points, L: float, epsabs: float, epsrel: float) -> QuadValue:
    """Int_0^inf f(u) du = QAGS on [0, L] with break points + QAGI on [L, inf)."""
    pts = sorted({p for p in points if 0.0 < p < L})
    v1, e1 = _quad(f, 0.0, L, epsabs, epsrel, points=pts or None, limit=400)
    v2, e2 = _quad(f, L, np.inf, epsabs, epsrel)
    return QuadValue(v1 + v2, e1 + e2)


def integrate_line(f: Callable[[float], float], points, L: float, epsabs: float, epsrel: float) -> QuadValue:
    """Int_{-inf}^{inf} f(w) dw = QAGI on (-inf, -L] + QAGS on [-L, L] with break points + QAGI on [L, inf)."""
    pts = sorted({p for p in points if -L < p < L})
    v0, e0 = _quad(f, -np.inf, -L, epsabs, epsrel)
    v1, e1 = _quad(f, -L, L, epsabs, epsrel, points=pts or None, limit=400)
    v2, e2 = _quad(f, L, np.inf, epsabs, epsrel)
    return QuadValue(v0 + v1 + v2, e0 + e1 + e2)


def gauss_panels(f: Callable[[np.ndarray], np.ndarray], edges, n: int = 32, n_low: int = 20) -> QuadValue:
    """Int f over [edges[0], edges[-1]] by n-point Gauss-Legendre on each panel (f vectorised).

    For an f analytic in a strip |Im w| < d around the panels and panel widths <= d, the error of
    an m-point rule falls like ~4^(-2m): the error estimate is |I_n - I_{n_low}| (the error of the
    lower rule, an upper bound for the returned higher one) plus the rounding 1e-16 * Int |f|.
    """
    edges = np.asarray(edges, dtype=float)
    a, b = edges[:-1, None], edges[1:, None]

    def rule(m: int):
        x, wt = np.polynomial.legendre.leggauss(m)
        nodes = 0.5 * (a + b) + 0.5 * (b - a) * x[None, :]
        fx = f(nodes.ravel()).reshape(nodes.shape)
        wts = 0.5 * (b - a) * wt[None, :]
        return float(np.sum(wts * fx)), float(np.sum(wts * np.abs(fx)))

    hi, hi_abs = rule(n)
    lo, _ = rule(n_low)
    return QuadValue(hi, abs(hi - lo) + 1e-16 * hi_abs)


def _scale_of(J: Callable, T: float) -> float:
    """max |S(w)| on a coarse grid: sets the absolute tolerance of the quadratures."""
    w = np.concatenate([-np.geomspace(1e-3, 30.0 * T, 40), np.geomspace(1e-3, 30.0 + 30.0 * T, 60)])
    return float(np.max(np.abs(spectrum(J, T, w)))) or 1.0


def lamb_shift(J: Callable, T: float, omega: float, epsrel: float = 1e-12) -> QuadValue:
    """D(omega) = Im Gamma(omega) = (1/2pi) P Int_{-inf}^{inf} S(w)/(omega - w) dw   [energy].

    Folded: (1/2pi) Int_0^inf [S(omega - u) - S(omega + u)]/u du (smooth, non-oscillatory).
    """
    omega = float(omega)

    def f(u: float) -> float:
        if u == 0.0:
            return 0.0  # QUADPACK's rules never sample the end point; the integrand is finite there
        s = spectrum(J, T, np.array([omega - u, omega + u]))
        return float((s[0] - s[1]) / u)

    L = abs(omega) + 40.0 * max(T, 1.0)
    pts = spectral_scales(T, omega, abs(omega) + T, abs(omega) + 1.0)
    epsabs = 1e-15 * _scale_of(J, T)
    v, e = integrate_half_line(f, pts, L, epsabs, epsrel)
    return QuadValue(v / (2.0 * math.pi), e / (2.0 * math.pi))


def half_fourier_quad(J: Callable, T: float, omega: float, epsrel: float = 1e-12) -> QuadValue:
    """Gamma(omega) = Int_0^inf C(t) e^{i omega t} dt = S(omega)/2 + i D(omega)   [energy].

    Real part closed form (error: rounding, ~1e-16 relative); imaginary part: ``lamb_shift``
    (real-axis quadrature; any callable J). Golden-rule rates are 2 Re Gamma = S; D is the
    principal-value (Lamb) shift.
    """
    re = 0.5 * float(spectrum(J, T, np.array([float(omega)]))[0])
    d = lamb_shift(J, T, omega, epsrel=epsrel)
    return QuadValue(complex(re, d.value), d.error + 4e-16 * abs(re))


