"""Direct adaptive quadrature of the bath correlation function (the reference for every
decomposition):

    C^R(t) =  (1/pi) Int_0^inf J(w) coth(w / 2T) cos(wt) dw
    C^I(t) = -(1/pi) Int_0^inf J(w) sin(wt) dw

Fourier integrals over [0, inf) use QUADPACK's QAWF (``scipy.integrate.quad`` with a cos/sin
weight), which handles the slowly decaying oscillatory tail; t = 0 uses plain adaptive quadrature.
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


def _fill(J, T, t, out, err, epsabs, epsrel) -> None:
    def real_integrand(w):
        if w == 0.0:
            return 0.0
        return float(J(w)) / np.tanh(w / (2.0 * T))

    def imag_integrand(w):
        return float(J(w))

    for i, ti in enumerate(t):
        if ti == 0.0:
            cr, er = integrate.quad(real_integrand, 0, np.inf, epsabs=epsabs, epsrel=epsrel, limit=400)
            ci, ei = 0.0, 0.0
        else:
            cr, er = integrate.quad(real_integrand, 0, np.inf, weight="cos", wvar=ti, epsabs=epsabs, limlst=200)
            ci, ei = integrate.quad(imag_integrand, 0, np.inf, weight="sin", wvar=ti, epsabs=epsabs, limlst=200)
        out[i] = (cr - 1j * ci) / np.pi
        err[i] = (abs(er) + abs(ei)) / np.pi
