"""Brute-force time-domain routes (slow references for the tests; not for production use).

They start from the correlation functions on a time grid, computed by direct adaptive quadrature
of the defining spectral integrals (``nesb_hpc.bath.quadrature.correlation_quadrature`` for C(t);
plain QAGI for t < 0.02, where QAWF's first cycle is too long to be reliable),
and do the oscillatory time integrals on composite Gauss-Legendre panels (graded towards t = 0,
where C(t) is only finitely smooth). Independent of the frequency-domain reductions in
``quadrature``, ``residues`` and ``ne_ptre``.

    Gamma(omega) = Int_0^tmax C(t) e^{i omega t} dt,
    dQ2/dt(t)    = -(4/pi) Int_0^inf J2(w)/w [coth(w/2T2) sin wt + i cos wt] dw,
    I_PTRE       = -2 Int_0^tmax [C1^R dQ2^I + C1^I dQ2^R] cos(Et) dt
                   + 2 tanh(E/2T1) Int_0^tmax [C1^R dQ2^R - C1^I dQ2^I] sin(Et) dt.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import integrate

from ..bath.quadrature import correlation_quadrature
from .frequency_quadrature import QuadValue


T_SMALL = 0.02  # below this QAWF's first cycle (length 2 pi / t) is unreliable: plain QAGI


def time_grid(tmax: float = 30.0, n: int = 10, width: float = 1.0):
    """Gauss-Legendre nodes and weights on [0, tmax]: graded panels up to width, then uniform."""
    first = [0.0, 0.05, 0.15, 0.3, 0.6]
    edges = np.concatenate([[e * width for e in first], np.arange(width, tmax + 0.5 * width, width)])
    x, w = np.polynomial.legendre.leggauss(n)
    a, b = edges[:-1, None], edges[1:, None]
    nodes = (0.5 * (a + b) + 0.5 * (b - a) * x).ravel()
    weights = (0.5 * (b - a) * w).ravel()
    return nodes, weights


def _spectral_integral(f: Callable[[float], float], kind: str, t: float, epsabs: float):
    """Int_0^inf f(w) {cos, sin}(wt) dw: QAWF for t >= T_SMALL, plain QAGI (weight inside) below."""
    if t >= T_SMALL:
        v, e = integrate.quad(f, 0, np.inf, weight=kind, wvar=t, epsabs=epsabs, limlst=200)
    else:
        trig = math.cos if kind == "cos" else math.sin
        v, e = integrate.quad(lambda w: f(w) * trig(w * t), 0, np.inf, epsabs=epsabs, epsrel=1e-12, limit=400)
    return v, abs(e)


def correlation(J: Callable, T: float, t, epsabs: float = 1e-14):
    """C(t) on the grid t > 0: ``correlation_quadrature`` (QAWF) for t >= T_SMALL, plain QAGI below."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    out = np.empty(t.size, dtype=complex)
    err = np.empty(t.size)
    big = t >= T_SMALL
    if np.any(big):
        out[big], err[big] = correlation_quadrature(J, T, t[big])

    def re_f(w):
        return 0.0 if w == 0.0 else float(J(w)) / math.tanh(w / (2.0 * T))

    def im_f(w):
        return float(J(w))

    for i in np.flatnonzero(~big):
        r, er = _spectral_integral(re_f, "cos", t[i], epsabs)
        m, em = _spectral_integral(im_f, "sin", t[i], epsabs)
        out[i], err[i] = (r - 1j * m) / math.pi, (er + em) / math.pi
    return out, err


def half_fourier_time_domain(J: Callable, T: float, omegas, tmax: float = 30.0, n: int = 10) -> list[QuadValue]:
    """Gamma(omega) = Int_0^tmax C(t) e^{i omega t} dt for each omega in omegas (C computed once).

    C(t) by direct quadrature of its spectral integral (``correlation``). Error estimate:
    sum_i w_i |dC(t_i)| (the quadrature errors of C) + |C(tmax)| (truncated tail, C decays at
    least like e^{-t} for the rational cutoff).
    """
    t, w = time_grid(tmax, n)
    C, cerr = correlation(J, T, np.append(t, tmax))
    C, tail, cerr = C[:-1], abs(C[-1]), cerr[:-1]
    err = float(np.sum(w * cerr) + tail)
    return [QuadValue(complex(np.sum(w * C * np.exp(1j * om * t))), err) for om in np.atleast_1d(omegas)]


def dq2_time_domain(J2: Callable, T2: float, t, epsabs: float = 1e-14):
    """dQ2/dt on the grid t > 0 by QAWF (Fourier-weighted QUADPACK; QAGI below T_SMALL); (values, errors)."""
    t = np.atleast_1d(np.asarray(t, dtype=float))

    def real_f(w):  # J/w * coth(w/2T), -> 2 T J(w)/w^2 at w -> 0 (0 for s = 3)
        return 0.0 if w == 0.0 else float(J2(w)) / w / math.tanh(w / (2.0 * T2))

    def imag_f(w):
        return 0.0 if w == 0.0 else float(J2(w)) / w

    out = np.empty(t.size, dtype=complex)
    err = np.empty(t.size)
    for i, ti in enumerate(t):
        r, er = _spectral_integral(real_f, "sin", ti, epsabs)
        m, em = _spectral_integral(imag_f, "cos", ti, epsabs)
        out[i] = -(4.0 / math.pi) * (r + 1j * m)
        err[i] = (4.0 / math.pi) * (er + em)
    return out, err


def ptre_kernels(J1: Callable, T1: float, J2: Callable, T2: float, tmax: float = 30.0, n: int = 10):
    """(t, weights, C1(t), dQ2/dt(t), pointwise error bound of C1*dQ2) on the time grid."""
    t, w = time_grid(tmax, n)
    C1, e1 = correlation(J1, T1, t)
    dQ, e2 = dq2_time_domain(J2, T2, t)
    return t, w, C1, dQ, e1 * np.abs(dQ) + e2 * np.abs(C1)


def ne_ptre_current_time_domain(delta: float, T1: float, kernels) -> QuadValue:
    """NE-PTRE current from the paper's Eq. 6 form (re-derived in the project convention).

    kernels: output of ``ptre_kernels`` (computed once, reused for several delta).
    """
    t, w, C1, dQ, perr = kernels
    E = 2.0 * delta
    CR, CI, QR, QI = C1.real, C1.imag, dQ.real, dQ.imag
    cos_part = -2.0 * np.sum(w * (CR * QI + CI * QR) * np.cos(E * t))
    sin_part = 2.0 * math.tanh(E / (2.0 * T1)) * np.sum(w * (CR * QR - CI * QI) * np.sin(E * t))
    tail = 4.0 * abs(C1[-1] * dQ[-1])
    return QuadValue(float(cos_part + sin_part), float(4.0 * np.sum(w * perr) + tail))
