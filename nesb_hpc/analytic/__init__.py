"""Weak-coupling analytic theory beside the HEOM (docs/analytic.md).

Public API (names fixed; others call these):

- ``golden_rule_current(delta, T1, T2, J1, J2, theta1=pi/2, theta2=pi/2) -> float``
      docs/model.md s6 formula, O(alpha), general polar angles          (golden_rule.py)
- ``golden_rule_noise(delta, T1, T2, J1, J2, theta1=pi/2, theta2=pi/2) -> float``
      zero-frequency noise of the energy leaving bath 1, sequential transfers of 2 delta with
      the golden-rule rates (``sequential_transfer_counting``: any two-state rates)  (golden_rule.py)
- ``redfield_current(delta, T1, T2, J1, J2, n1=(1,0,0), n2=(1,0,0)) -> RedfieldResult``
      full non-secular Bloch-Redfield steady state; fields I1, I2, rho, error  (redfield.py)
- ``ne_ptre_current(delta, T1, T2, J1, J2) -> PTREResult``
      NE-PTRE current at theta = 0 (paper Eq. 6, project convention), O(alpha1 alpha2);
      fields I, error; any delta >= 0                                        (ne_ptre.py)

Building blocks: ``frequency_quadrature`` (S(w), Gamma(omega) = Int_0^inf C(t) e^{i omega t} dt by
real-axis quadrature), ``residues`` (the same Gamma in closed form for rational J), ``half_fourier``
(the better of the two), ``time_domain`` (brute-force time-grid references used by the tests). Pure numpy/scipy; no MPI, no printing.
Convention: docs/model.md s1, hbar = k_B = omega_c = 1; currents in energy/time; I = I_1 =
energy leaving bath 1, positive for T1 > T2.
"""

from .golden_rule import golden_rule_current, golden_rule_noise, sequential_transfer_counting
from .ne_ptre import PTREResult, ne_ptre_current
from .frequency_quadrature import QuadValue, spectrum
from .half_fourier import half_fourier
from .redfield import RedfieldResult, redfield_current
from .residues import half_fourier_residues

__all__ = [
    "golden_rule_current",
    "golden_rule_noise",
    "sequential_transfer_counting",
    "redfield_current",
    "RedfieldResult",
    "ne_ptre_current",
    "PTREResult",
    "half_fourier",
    "half_fourier_residues",
    "spectrum",
    "QuadValue",
]
