"""Direct adaptive quadrature of the bath correlation function (the reference for every
decomposition):

    C^R(t) =  (1/pi) Int_0^inf J(w) coth(w / 2T) cos(wt) dw
    C^I(t) = -(1/pi) Int_0^inf J(w) sin(wt) dw

Fourier integrals over [0, inf) use QUADPACK's QAWF (``scipy.integrate.quad`` with a cos/sin
weight), which handles the slowly decaying oscillatory tail; t = 0 uses plain adaptive quadrature.

A density that says where it ends (``J.support``: the exponential cutoff, where the rest of its
integral is below 1e-16, and a table, beyond whose last row J = 0) is integrated over [0, support]
by QUADPACK's QAWO instead, in pieces of at most 32 periods of cos(wt), wherever QAWF would see
fewer than 64 periods inside the support (and always for a table, whose J ends in a step): QAWF
extrapolates over its cycles, and when J has decayed to nothing within the first of them (small
t) that extrapolation returns garbage without saying so (1.8e308 with an error estimate of
2.5e-13 for pi w^3 e^-w at t = 0.05).

A table (``J.w``, its rows: J is a cubic between them, with jumps in J'' at the rows) is
integrated by composite Gauss-Legendre quadrature, m points on every interval between rows, for
all t at once: within an interval the integrand J(w) coth(w/2T) cos(wt) is smooth (also on the
first, where J(w) ~ w cancels the pole of coth), so the rule converges exponentially once m
exceeds the phase t * (interval) of cos(wt) over it (m = 8 + 0.75 t dw); the error estimate is
the change from m to m + 8 points. 20-100 times faster than QAWO through the Python callback,
which the tables' many rows make slow (15 ms per t for 2,000 rows).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import integrate


def _w_coth(w: np.ndarray | float, T: float):
    """coth(w/2T), written as 1 + 2/(exp(w/T) - 1) with the w -> 0 pole left to J (J(0) = 0)."""
    x = np.asarray(w, dtype=float) / T
    with np.errstate(over="ignore", divide="ignore"):
        return np.where(x > 0, 1.0 + 2.0 / np.expm1(np.maximum(x, 1e-300)), np.inf)


def correlation_quadrature(J, T: float, t, epsabs: float = 1e-13, epsrel: float = 1e-11):
    """C(t) on the grid t (t >= 0) by adaptive quadrature; returns (C, abs_error_estimate).

    J: callable spectral density (odd, J(0) = 0); T: temperature (> 0).
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    if np.any(t < 0):
        raise ValueError("correlation_quadrature needs t >= 0")

    out = np.empty(t.size, dtype=complex)
    err = np.empty(t.size)
    with warnings.catch_warnings():   # QUADPACK's cycle warnings: the error estimate is returned instead
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        _fill(J, T, t, out, err, epsabs, epsrel)
    return out, err


_PIECE_PERIODS = 32     # periods of cos(wt) per QAWO piece on a finite support
_QAWF_PERIODS = 64      # QAWF only where the support holds more periods than this (and J has no step)


def _fill(J, T, t, out, err, epsabs, epsrel) -> None:
    def real_integrand(w):
        if w == 0.0:
            return 0.0
        return float(J(w)) / np.tanh(w / (2.0 * T))

    def imag_integrand(w):
        return float(J(w))

    if getattr(J, "w", None) is not None:   # a table: piecewise cubic, J = 0 beyond its last row
        _table_fill(J, T, t, out, err)
        return
    support = getattr(J, "support", None)
    for i, ti in enumerate(t):
        if support is not None and ti * support < 2 * np.pi * _QAWF_PERIODS:
            cr, er = _finite_fourier(real_integrand, support, ti, "cos", epsabs, epsrel)
            ci, ei = _finite_fourier(imag_integrand, support, ti, "sin", epsabs, epsrel)
        elif ti == 0.0:
            cr, er = integrate.quad(real_integrand, 0, np.inf, epsabs=epsabs, epsrel=epsrel, limit=400)
            ci, ei = 0.0, 0.0
        else:
            cr, er = integrate.quad(real_integrand, 0, np.inf, weight="cos", wvar=ti, epsabs=epsabs, limlst=200)
            ci, ei = integrate.quad(imag_integrand, 0, np.inf, weight="sin", wvar=ti, epsabs=epsabs, limlst=200)
        out[i] = (cr - 1j * ci) / np.pi
        err[i] = (abs(er) + abs(ei)) / np.pi


def _finite_fourier(f, support: float, t: float, weight: str, epsabs: float, epsrel: float) -> tuple[float, float]:
    """Int_0^support f(w) cos(wt) (or sin) dw by QAWO in pieces of <= _PIECE_PERIODS periods."""
    if t == 0.0:
        if weight == "sin":
            return 0.0, 0.0
        return integrate.quad(f, 0.0, support, epsabs=epsabs, epsrel=epsrel, limit=400)
    n = max(1, int(np.ceil(t * support / (2 * np.pi * _PIECE_PERIODS))))
    edges = np.linspace(0.0, support, n + 1)
    value = error = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        v, e = integrate.quad(f, a, b, weight=weight, wvar=t, epsabs=epsabs / n, epsrel=epsrel, limit=400)
        value += v
        error += abs(e)
    return value, error


_GAUSS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _gauss(m: int) -> tuple[np.ndarray, np.ndarray]:
    if m not in _GAUSS:
        _GAUSS[m] = np.polynomial.legendre.leggauss(m)
    return _GAUSS[m]


def _table_fill(J, T, t, out, err) -> None:
    """Composite Gauss-Legendre over the rows of a table (module doc), vectorised over t."""
    nodes = np.asarray(J.w, dtype=float)
    lo, width = nodes[:-1], np.diff(nodes)
    order = np.maximum(8, 8 + np.ceil(0.75 * t * float(np.max(width)))).astype(int)

    def rule(m, ts):
        x, wts = _gauss(m)
        W = (lo[:, None] + 0.5 * width[:, None] * (x[None, :] + 1.0)).ravel()
        weight = (0.5 * width[:, None] * wts[None, :]).ravel()
        j = np.asarray(J(W), dtype=float) * weight
        jr = j / np.tanh(W / (2.0 * T))
        res = np.empty(ts.size, dtype=complex)
        step = max(1, int(2e6 // W.size))
        for a in range(0, ts.size, step):
            phase = np.outer(ts[a:a + step], W)
            res[a:a + step] = (np.cos(phase) @ jr - 1j * (np.sin(phase) @ j)) / np.pi
        return res

    for m in np.unique(order):
        sel = order == m
        coarse, fine = rule(int(m), t[sel]), rule(int(m) + 8, t[sel])
        out[sel] = fine
        err[sel] = np.abs(fine - coarse)
