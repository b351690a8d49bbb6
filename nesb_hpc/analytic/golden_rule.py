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
    rates = _transition_rates(delta, T1, T2, J1, J2, theta1, theta2)
    if rates is None:
        return 0.0
    E, k1, k2, n1, n2 = rates
    c1, c2 = 1.0 + 2.0 * n1, 1.0 + 2.0 * n2
    return E * k1 * k2 * (n1 - n2) / (k1 * c1 + k2 * c2)


def sequential_transfer_counting(E: float, k1_up: float, k1_down: float, k2_up: float,
                                 k2_down: float) -> tuple[float, float]:
    """Mean and noise of the energy Q_1 taken from bath 1 by a two-state Markov chain (docs/noise.md s6).

    Levels +E/2 (upper) and -E/2; bath nu lifts the system at rate k_nu_up (taking E from the bath:
    Q_1 += E for nu = 1) and lowers it at k_nu_down (giving E: Q_1 -= E). The tilted generator
    (p_+, p_-) -> [[-K_d, k2_up + k1_up e^{sE}], [k2_down + k1_down e^{-sE}, -K_u]],
    K_d = k1_down + k2_down, K_u = k1_up + k2_up, K = K_d + K_u, has the eigenvalue
    lambda(s) = (-K + sqrt((K_d - K_u)^2 + 4 f(s)))/2, f(s) = (k2_up + k1_up e^{sE})(k2_down + k1_down e^{-sE}),
    whose derivatives at s = 0 are

        I = lambda'(0)  = E (k1_up k2_down - k2_up k1_down) / K,
        S = lambda''(0) = E^2 (k1_up k2_down + k2_up k1_down) / K - 2 I^2 / K.

    Rates in 1/time, E in energy; returns (I, S) in energy/time and energy^2/time.
    """
    K = k1_up + k1_down + k2_up + k2_down
    if K <= 0.0:
        return 0.0, 0.0
    I = E * (k1_up * k2_down - k2_up * k1_down) / K
    S = E * E * (k1_up * k2_down + k2_up * k1_down) / K - 2.0 * I * I / K
    return I, S


def golden_rule_noise(
    delta: float,
    T1: float,
    T2: float,
    J1: Callable,
    J2: Callable,
    theta1: float = math.pi / 2,
    theta2: float = math.pi / 2,
) -> float:
    """Golden-rule zero-frequency noise S_1 = d<<Q_1^2>>/dt of the energy leaving bath 1, O(alpha).

    Sequential transfers of E = 2 delta with the golden-rule rates of ``golden_rule_current``
    (k_nu_down = sin^2(theta_nu) 2 J_nu(E)(n_nu + 1), k_nu_up = sin^2(theta_nu) 2 J_nu(E) n_nu)
    through ``sequential_transfer_counting``. Energy^2 per unit time. At T1 = T2 = T it equals
    2 T^2 dI/dT1 (fluctuation-dissipation); 0 at delta = 0 or a longitudinal coupling.
    """
    rates = _transition_rates(delta, T1, T2, J1, J2, theta1, theta2)
    if rates is None:
        return 0.0
    E, k1, k2, n1, n2 = rates
    return sequential_transfer_counting(E, k1 * n1, k1 * (n1 + 1.0), k2 * n2, k2 * (n2 + 1.0))[1]


def _transition_rates(delta, T1, T2, J1, J2, theta1, theta2):
    """(E, k1, k2, n1, n2) of the golden rule: E = 2 delta, k_nu = 2 J_nu(E) sin^2(theta_nu),
    n_nu = n_B(E / T_nu) (through expm1: accurate for E << T, no overflow for E >> T); None where
    a rate vanishes (delta = 0, a longitudinal coupling), i.e. where no energy is transferred."""
    check_point(delta, T1, T2)
    E = 2.0 * float(delta)
    if E == 0.0:
        return None
    k1 = 2.0 * float(J1(E)) * math.sin(theta1) ** 2
    k2 = 2.0 * float(J2(E)) * math.sin(theta2) ** 2
    if k1 == 0.0 or k2 == 0.0:
        return None
    return E, k1, k2, _bose(E / T1), _bose(E / T2)
