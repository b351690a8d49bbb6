"""Golden-rule (secular, O(alpha)) steady-state heat current, docs/model.md s6.

H = Delta sz + sum_nu [H_Bnu + (n_nu . sigma) B_nu], levels +-Delta, gap E = 2 Delta. Only the
transverse part of V_nu = n_nu . sigma flips the spin: |<-|V_nu|+>|^2 = sin^2(theta_nu) (polar angle
of n_nu). With S_nu(w) = 2 J_nu(w) [n_nu(w) + 1] (``quadrature.spectrum``), the rates are

    k_nu^down = sin^2(theta_nu) S_nu(E),   k_nu^up = sin^2(theta_nu) S_nu(-E),

and the stationary populations of the two-state master equation give the energy leaving bath 1:

    I = E k1 k2 (n1 - n2) / (k1 coth(E/2T1) + k2 coth(E/2T2)),   k_nu = 2 J_nu(E) sin^2(theta_nu),

n_nu = 1/(e^{E/T_nu} - 1). Units: energy / time (omega_c^2 / hbar). Closed form: no quadrature.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def check_point(delta: float, T1: float, T2: float) -> None:
    if not (np.isfinite(delta) and delta >= 0):
        raise ValueError(f"delta = {delta}: need a finite delta >= 0 (half the gap)")
    if not (T1 > 0 and T2 > 0 and np.isfinite(T1) and np.isfinite(T2)):
        raise ValueError(f"T1 = {T1}, T2 = {T2}: need finite temperatures > 0")


def _bose(x: float) -> float:
    """1/(e^x - 1) for x > 0, without overflow."""
    return 0.0 if x > 700.0 else 1.0 / math.expm1(x)


def golden_rule_current(
    delta: float,
    T1: float,
    T2: float,
    J1: Callable,
    J2: Callable,
    theta1: float = math.pi / 2,
    theta2: float = math.pi / 2,
) -> float:
    """Golden-rule heat current I = I_1 (energy leaving bath 1 per unit time), O(alpha).

    I = E k1 k2 (n1 - n2) / (k1 coth(E/2T1) + k2 coth(E/2T2)),  E = 2 delta,
    k_nu = 2 J_nu(E) sin^2(theta_nu),  n_nu = 1/(exp(E/T_nu) - 1).

    delta: half gap (>= 0); T1, T2: bath temperatures (> 0); J1, J2: spectral densities
    (callables, project convention); theta1, theta2: polar angles of the coupling directions
    (theta = pi/2: sx, theta = 0: sz). Positive for T1 > T2. Exactly 0 at delta = 0 (J(0) = 0:
    the limit E -> 0 of the formula) and when either coupling is longitudinal.
    """
    check_point(delta, T1, T2)
    E = 2.0 * float(delta)
    if E == 0.0:
        return 0.0
    k1 = 2.0 * float(J1(E)) * math.sin(theta1) ** 2
    k2 = 2.0 * float(J2(E)) * math.sin(theta2) ** 2
    if k1 == 0.0 or k2 == 0.0:
        return 0.0
    # n1 - n2 and coth written through expm1: accurate for E << T; n -> 0 (no overflow) for E >> T
    n1, n2 = _bose(E / T1), _bose(E / T2)
    c1, c2 = 1.0 + 2.0 * n1, 1.0 + 2.0 * n2
    return E * k1 * k2 * (n1 - n2) / (k1 * c1 + k2 * c2)
