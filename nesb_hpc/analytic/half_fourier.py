"""Gamma(omega) = Int_0^inf C(t) e^{i omega t} dt, by the better of two routes (docs/analytic.md s1):
the closed form of residues.py for a rational J where it is well conditioned, otherwise the
real-axis quadrature of frequency_quadrature.py."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .frequency_quadrature import QuadValue, half_fourier_quad, spectrum
from .residues import half_fourier_residues


def half_fourier(J: Callable, T: float, omega: float, method: str = "auto", rtol: float = 1e-10) -> QuadValue:
    """Gamma(omega) = Int_0^inf C(t) e^{i omega t} dt   [energy], value and error estimate.

    method: "residues" (closed form, J needs ``.rational()``; ``residues.half_fourier_residues``),
    "quad" (``half_fourier_quad``), or "auto": residues when J is rational and the closed form's
    error estimate is below rtol * |Gamma| (it is not when a Matsubara frequency 2 pi n T nearly
    hits a pole of J), otherwise quad.
    """
    if method not in ("auto", "residues", "quad"):
        raise ValueError(f"method = {method!r}: expected 'auto', 'residues' or 'quad'")
    if method != "quad" and hasattr(J, "rational"):
        r = half_fourier_residues(J, T, omega)
        # the exact Gamma has Re = S/2 >= 0; replace by the closed form (one rounding), keep Im
        re = 0.5 * float(spectrum(J, T, np.array([float(omega)]))[0])
        r = QuadValue(complex(re, r.value.imag), r.error)
        if method == "residues" or (np.isfinite(r.error) and r.error <= rtol * max(float(np.abs(r.value)), 1e-300)):
            return r
    elif method == "residues":
        raise ValueError("method = 'residues' needs a rational J (an object with .rational())")
    return half_fourier_quad(J, T, omega)

