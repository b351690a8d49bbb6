"""NE-PTRE heat current at theta = 0 (V1 = sx, V2 = sz): paper Eq. 6 re-derived in the project's
C(t) convention (docs/analytic.md, section 3).

Polaron-transform bath 2 (U = exp(sz X), X anti-Hermitian with [X, H_B2] = -B2), which removes
sz B2 and dresses the flip coupling: sx B1 -> (s+ D + s- D^dag) B1, D = e^{2X}. Second order in
B1, the dressing correlation G(t) = <D(t) D^dag(0)> = exp[Q2(t) - Q2(0)] to first order in alpha2,

    Q2(t) = (4/pi) Int_0^inf J2(w)/w^2 [coth(w/2T2) cos wt - i sin wt] dw

(C2(t) with J2 -> 4 J2/w^2). With populations to zeroth order (bath 1 alone: p+/p- = e^{-E/T1}),
the energy absorbed by bath 2 -- equal to the energy leaving bath 1 at steady state to this order,
O(alpha1 alpha2) -- is

    I = (2/pi) Int_{-inf}^{inf} dw S1(w) [ p+ S2(E - w)/(E - w) + p- S2(-E - w)/(-E - w) ],

    E = 2 Delta,  p+- = 1/(1 + e^{+-E/T1}),  S_nu(w) = 2 J_nu(w) [n_nu(w) + 1]  (energy/time),

a bath-1 quantum w and a bath-2 quantum E - w exchanged in one co-tunnelling event of amplitude
2/(E - w). Equivalent time-domain form (paper Eq. 6 in this convention; ``time_domain``):

    I = -2 Int_0^inf [C1^R dQ2^I/dt + C1^I dQ2^R/dt] cos(Et) dt
        + 2 tanh(E/2T1) Int_0^inf [C1^R dQ2^R/dt - C1^I dQ2^I/dt] sin(Et) dt.

At Delta = 0: I(0) = (8/pi) Int_0^inf J1(w) J2(w) [n1(w) - n2(w)] / w dw (the plateau). I is even
and smooth in Delta, so I(Delta) - I(0) ~ Delta^2. Here the real-axis integral (smooth, decaying
exponentially on both sides) is done on Gauss-Legendre panels narrower than the distance to the
nearest complex pole (error estimate from a lower-order rule), QUADPACK as the cross-check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.integrate import trapezoid  # np.trapz is gone in numpy 2.4, np.trapezoid new in 2.0

from .golden_rule import check_point
from .frequency_quadrature import QuadValue, gauss_panels, integrate_line, slope_at_zero, spectrum, spectrum_over_w


@dataclass(frozen=True)
class PTREResult:
    """NE-PTRE steady state at theta = 0.

    I: energy leaving bath 1 per unit time (= energy entering bath 2), O(alpha1 alpha2);
    error: absolute error estimate (QUADPACK).
    """

    I: float
    error: float


def _require_super_ohmic(J: Callable, name: str) -> None:
    if abs(slope_at_zero(J)) > 1e-8 * max(abs(float(J(1.0))), 1e-300):
        raise ValueError(f"{name}: the first-order polaron dressing needs J(w)/w -> 0 at w -> 0 (s > 1)")


def populations(delta: float, T1: float) -> tuple[float, float]:
    """Zeroth-order populations (p+, p-) of the levels +-delta: thermal at T1 (bath 1 alone flips)."""
    x = 2.0 * delta / T1
    if x > 700.0:
        return 0.0, 1.0
    p_plus = 1.0 / (1.0 + math.exp(x))
    return p_plus, 1.0 - p_plus


def ptre_integrand(delta: float, T1: float, T2: float, J1: Callable, J2: Callable, w) -> np.ndarray:
    """(2/pi) S1(w) [p+ F2(E - w) + p- F2(-E - w)], F2 = S2(x)/x; its integral over w is I."""
    w = np.asarray(w, dtype=float)
    E = 2.0 * delta
    pp, pm = populations(delta, T1)
    return (2.0 / math.pi) * spectrum(J1, T1, w) * (
        pp * spectrum_over_w(J2, T2, E - w) + pm * spectrum_over_w(J2, T2, -E - w)
    )


def ne_ptre_current(
    delta: float,
    T1: float,
    T2: float,
    J1: Callable,
    J2: Callable,
    method: str = "gauss",
    epsrel: float = 1e-12,
) -> PTREResult:
    """NE-PTRE heat current (theta = 0: V1 = sx, V2 = sz), O(alpha1 alpha2), any delta >= 0.

    I = (2/pi) Int dw S1(w) [p+ S2(E-w)/(E-w) + p- S2(-E-w)/(-E-w)],  E = 2 delta,
    S_nu(w) = 2 J_nu(w)(n_nu(w) + 1),  p+- = 1/(1 + exp(+-E/T1)).

    delta: half gap (>= 0, 0 allowed); T1, T2 (> 0); J1, J2: spectral densities (callables,
    project convention, accepting arrays; J2 super-Ohmic). method: "gauss" (default: vectorised
    Gauss-Legendre panels, deterministic and smooth in delta) or "quad" (adaptive QUADPACK, the
    cross-check; epsrel applies to it). Positive for T1 > T2, zero at T1 = T2 (detailed balance).
    Returns PTREResult(I, error) [energy/time].
    """
    check_point(delta, T1, T2)
    _require_super_ohmic(J2, "J2")
    if method not in ("gauss", "quad"):
        raise ValueError(f"method = {method!r}: expected 'gauss' or 'quad'")
    delta = float(delta)
    E = 2.0 * delta
    Tmin, Tmax = min(T1, T2), max(T1, T2)
    # Both tails decay like exp(-|w|/T) (absorption side of S1, of S2 for w -> +inf); the cutoff
    # structure sits at |w| ~ 1. 60 thermal lengths past the shifted origin: e^-60 ~ 1e-26.
    L = E + max(60.0 * Tmax, 30.0)

    def fv(w):
        return ptre_integrand(delta, T1, T2, J1, J2, w)

    if method == "gauss":
        # panel width <= the distance of the nearest complex singularity (poles of J at +-i,
        # Matsubara poles at 2 pi i n T): then 32 nodes per panel are far beyond double precision
        h = 0.5 * min(1.0, 2.0 * math.pi * Tmin)
        m = int(math.ceil(2.0 * L / h))
        q = gauss_panels(fv, np.linspace(-L, L, m + 1))
        tail = float(np.sum(np.abs(fv(np.array([-L, L]))))) * Tmax
        return PTREResult(q.value, q.error + tail)

    grid = np.linspace(-L, L, 4001)
    epsabs = 1e-14 * float(trapezoid(np.abs(fv(grid)), grid))

    def f(w: float) -> float:
        return float(fv(np.array([w]))[0])

    pts = [0.0, E, -E, 1.0, -1.0, 3.0, -3.0]
    for T in (T1, T2):
        pts += [3.0 * T, -3.0 * T, 10.0 * T, -10.0 * T]
    q: QuadValue = integrate_line(f, pts, L, epsabs, epsrel)
    return PTREResult(float(q.value), float(q.error))
