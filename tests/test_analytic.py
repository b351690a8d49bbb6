"""Tests of nesb_hpc.analytic: golden rule, Bloch-Redfield and NE-PTRE currents (docs/analytic.md).

Oracles: closed forms (golden rule, I_PTRE(Delta = 0)), exact scalings (alpha, alpha^2), detailed
balance (T1 = T2), energy conservation (I1 + I2 = 0), and independent quadrature routes (residues vs
real-axis quadrature vs brute-force time grids built on nesb_hpc.bath.quadrature).
Tolerances are stated where used, with the reason.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from nesb_hpc.analytic import (
    golden_rule_current,
    half_fourier,
    half_fourier_residues,
    ne_ptre_current,
    redfield_current,
)
from nesb_hpc.analytic.frequency_quadrature import half_fourier_quad, lamb_shift, spectrum
from nesb_hpc.analytic.time_domain import (
    half_fourier_time_domain,
    ne_ptre_current_time_domain,
    ptre_kernels,
)
from nesb_hpc.bath.spectral import RationalCutoff, Underdamped

J = RationalCutoff(alpha=0.01)  # the paper's bath: pi alpha w^3 / (1 + w^2)^4
PAIRS = [(0.025, 1.0, 0.9), (0.1, 1.0, 0.9), (0.5, 10.0, 1.0), (0.05, 0.5, 0.2)]  # (Delta, T1, T2)


def n_theta(theta: float, phi: float = 0.0) -> tuple[float, float, float]:
    return (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta))


# ---------------------------------------------------------------------------------------------
# Quadratures: Gamma(omega) = Int_0^inf C(t) e^{i omega t} dt by three independent routes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("Jx", [J, RationalCutoff(alpha=0.01, s=1, cutoff_power=2), Underdamped(0.01, 1.0, 0.2)])
@pytest.mark.parametrize("T", [0.3, 0.9, 5.0])
def test_gamma_residues_vs_real_axis_quadrature(Jx, T):
    # closed form (residues + Matsubara sum) vs PV quadrature on the real axis: two unrelated
    # routes. Both claim ~1e-15 absolute on values ~5e-4..1e-2 (the residue bound is a rounding
    # bound, ~10x pessimistic); they agree to ~1e-17. 1e-12 relative (+ the estimates) is a wide
    # margin that still catches any wrong factor, sign or missing pole.
    for om in (0.0, 0.05, -0.05, 0.2, -0.2, 1.5):
        a = half_fourier_residues(Jx, T, om)
        b = half_fourier_quad(Jx, T, om)
        scale = abs(b.value)
        assert abs(a.value - b.value) <= 1e-12 * scale + a.error + b.error
        assert a.error < 1e-11 * scale and b.error < 1e-11 * scale


def test_gamma_residues_flag_matsubara_pole_coincidence():
    # 2 pi T = omega_c puts the first Matsubara pole on J's pole: the closed form cancels
    # catastrophically. Its error estimate must say so (and then half_fourier uses quadrature).
    for rel in (0.0, 1e-9, 1e-4, 1e-2):
        T = (1 + rel) / (2 * math.pi)
        a = half_fourier_residues(J, T, 0.2)
        b = half_fourier_quad(J, T, 0.2)
        # (numpy's abs: Python's complex abs may raise on nan with a stale errno)
        assert not np.abs(a.value - b.value) > a.error  # also true for nan value / inf error
        auto = half_fourier(J, T, 0.2)
        assert abs(auto.value - b.value) <= 1e-12 * abs(b.value)


def test_gamma_vs_brute_force_time_domain():
    # Independent route: C(t) by direct quadrature of its spectral integral
    # (nesb_hpc.bath.quadrature.correlation_quadrature) on a Gauss-Legendre time grid, times
    # e^{i omega t}. Its own error estimate (~3e-12 absolute: C(t) errors ~1e-14 summed over the
    # grid + truncation at t = 30) sets the tolerance; values are ~1e-3.
    oms = (0.0, 0.2, -0.2)
    for om, td in zip(oms, half_fourier_time_domain(J, 1.0, oms)):
        cf = half_fourier(J, 1.0, om)
        assert td.error < 1e-10
        assert abs(td.value - cf.value) <= 3 * td.error + cf.error


def test_gamma_real_part_and_paper_xi():
    # Re Gamma = S/2 = J (n + 1): golden-rule rates. And the paper's xi(Delta) = Int C^I sin /
    # Int C^R cos = -tanh(E/2T) in this convention: Int_0^inf C^R cos(Et) = J coth/2,
    # Int_0^inf C^I sin(Et) = -J/2, from Gamma(E) +- Gamma(-E). Exact identities: 1e-13.
    T, E = 1.0, 0.2
    gp, gm = half_fourier(J, T, E).value, half_fourier(J, T, -E).value
    assert gp.real == pytest.approx(float(J(E)) / (1 - math.exp(-E / T)), rel=1e-13)
    cos_int = 0.5 * (gp.real + gm.real)  # Int_0^inf C^R cos
    sin_int = -0.5 * (gp.real - gm.real)  # Int_0^inf C^I sin
    assert cos_int == pytest.approx(0.5 * float(J(E)) / math.tanh(E / (2 * T)), rel=1e-13)
    assert sin_int == pytest.approx(-0.5 * float(J(E)), rel=1e-13)
    assert sin_int / cos_int == pytest.approx(-math.tanh(E / (2 * T)), rel=1e-13)


def test_lamb_shift_at_zero_frequency_closed_form():
    # D(0) = (1/2pi) P Int S(w)/(-w) dw = -(1/pi) Int_0^inf J(w)/w dw (the coth part is odd):
    # for pi alpha w^3/(1+w^2)^4: -alpha Int_0^inf w^2/(1+w^2)^4 dw = -alpha pi/32.
    for T in (0.2, 1.0, 4.0):
        d = lamb_shift(J, T, 0.0)
        assert d.value == pytest.approx(-0.01 * math.pi / 32, rel=1e-12)
        assert d.error < 1e-12 * abs(d.value)


def test_spectrum_detailed_balance():
    w = np.array([0.01, 0.3, 1.0, 7.0])
    for T in (0.1, 1.0, 10.0):
        assert np.allclose(spectrum(J, T, -w), np.exp(-w / T) * spectrum(J, T, w), rtol=1e-13, atol=0)
    assert spectrum(J, 1.0, np.array([0.0]))[0] == 0.0  # s = 3: no zero-frequency noise


# ---------------------------------------------------------------------------------------------
# Golden rule and Bloch-Redfield
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta,T1,T2", PAIRS)
def test_redfield_equals_golden_rule_at_theta_pi_2(delta, T1, T2):
    # theta = pi/2: V1 = V2 = sx has no diagonal part, so populations decouple from coherences and
    # the non-secular Redfield current IS the golden-rule formula; the difference is rounding
    # plus the Gamma error estimates (closed form here): 1e-12 relative.
    r = redfield_current(delta, T1, T2, J, J)
    g = golden_rule_current(delta, T1, T2, J, J)
    assert g > 0
    assert r.I1 == pytest.approx(g, rel=1e-12)
    assert r.error < 1e-10 * g
    # the golden rule by hand (docs/model.md s6) -- guards the module's own algebra
    E = 2 * delta
    k = 2 * float(J(E))
    n1, n2 = 1 / math.expm1(E / T1), 1 / math.expm1(E / T2)
    by_hand = E * k * k * (n1 - n2) / (k / math.tanh(E / (2 * T1)) + k / math.tanh(E / (2 * T2)))
    assert g == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize(
    "n1,n2",
    [((1, 0, 0), (1, 0, 0)), ((1, 0, 0), n_theta(math.pi / 4)), (n_theta(1.0), n_theta(0.3, 2.0)),
     ((0, 1, 0), n_theta(2.0, 0.7))],
)
def test_redfield_energy_conservation_and_state(n1, n2):
    # I1 + I2 = Tr[H_S d rho/dt] = 0 at the steady state: only rounding of ~1e-6 sized terms.
    r = redfield_current(0.1, 1.0, 0.9, J, J, n1=n1, n2=n2)
    assert abs(r.I1 + r.I2) <= 1e-12 * abs(r.I1)
    assert r.rho.shape == (2, 2)
    assert np.allclose(r.rho, r.rho.conj().T, atol=1e-15)
    assert np.trace(r.rho).real == pytest.approx(1.0, abs=1e-14)
    assert np.all(np.linalg.eigvalsh(r.rho) > 0)
    # with S(0) = 0 (s = 3) the golden rule holds for any directions (docs/analytic.md, 2)
    th1, th2 = math.acos(n1[2]), math.acos(n2[2])
    assert r.I1 == pytest.approx(golden_rule_current(0.1, 1.0, 0.9, J, J, th1, th2), rel=1e-12)


@pytest.mark.parametrize("n2", [(1, 0, 0), n_theta(math.pi / 4), n_theta(1.2, 0.5)])
def test_no_current_at_equal_temperatures(n2):
    # T1 = T2: detailed balance. Scale: the current at T2 = 0.9; tolerance = rounding (1e-12).
    ref = redfield_current(0.1, 1.0, 0.9, J, J, n2=n2).I1
    assert abs(redfield_current(0.1, 1.0, 1.0, J, J, n2=n2).I1) <= 1e-12 * abs(ref)
    th2 = math.acos(n2[2])
    assert abs(golden_rule_current(0.1, 1.0, 1.0, J, J, theta2=th2)) <= 1e-12 * abs(ref)


def test_redfield_ohmic_spurious_current_is_higher_order():
    # For S(0) > 0 (Ohmic J) and a tilted V2 the non-secular terms feed coherences back into the
    # populations: a spurious current at T1 = T2 appears, but only at O(alpha^2) -- its ratio to
    # the O(alpha) current halves when alpha halves. The next order is large here (Ohmic dephasing
    # 2 pi alpha T against 2 Delta: the ratio of ratios is 0.59 at alpha = 0.01, 0.51 at 6e-4),
    # hence small alpha and 3 %.
    ratios = []
    for a in (5e-4, 2.5e-4):
        Jo = RationalCutoff(alpha=a, s=1, cutoff_power=2)
        spurious = redfield_current(0.1, 1.0, 1.0, Jo, Jo, n2=n_theta(math.pi / 4)).I1
        ratios.append(spurious / redfield_current(0.1, 1.0, 0.9, Jo, Jo, n2=n_theta(math.pi / 4)).I1)
    assert ratios[0] != 0.0
    assert ratios[1] / ratios[0] == pytest.approx(0.5, rel=0.02)


def test_golden_rule_linear_in_alpha():
    # I = E k1 k2 (n1 - n2)/(k1 c1 + k2 c2) is homogeneous of degree 1 in (k1, k2): exact up to
    # rounding (1e-13).
    for delta, T1, T2 in PAIRS:
        i1 = golden_rule_current(delta, T1, T2, RationalCutoff(0.001), RationalCutoff(0.001))
        i2 = golden_rule_current(delta, T1, T2, RationalCutoff(0.004), RationalCutoff(0.004))
        assert i2 / i1 == pytest.approx(4.0, rel=1e-13)
        r1 = redfield_current(delta, T1, T2, RationalCutoff(0.001), RationalCutoff(0.001)).I1
        assert r1 == pytest.approx(i1, rel=1e-12)


def test_longitudinal_bath2_carries_no_current_at_this_order():
    # theta2 = 0: V2 = sz commutes with H_S: I = 0 at O(alpha) (golden rule: exactly 0.0).
    for delta, T1, T2 in PAIRS:
        assert golden_rule_current(delta, T1, T2, J, J, theta2=0.0) == 0.0
        r = redfield_current(delta, T1, T2, J, J, n2=(0, 0, 1))
        ref = golden_rule_current(delta, T1, T2, J, J)  # the theta2 = pi/2 current: the scale
        assert r.I2 == 0.0  # [H_S, sz] = 0 exactly
        assert abs(r.I1) <= 1e-12 * ref  # = -I2 up to rounding of the O(alpha) terms
        # the populations are thermal at T1 (bath 1 alone flips the spin)
        assert r.rho[0, 0].real == pytest.approx(1 / (1 + math.exp(2 * delta / T1)), rel=1e-12)


def test_delta_zero_and_validation():
    assert golden_rule_current(0.0, 1.0, 0.9, J, J) == 0.0
    r = redfield_current(0.0, 1.0, 0.9, J, J)  # sx conserved: the frozen component set to 0
    assert r.I1 == 0.0 and np.allclose(r.rho, np.eye(2) / 2)
    with pytest.raises(ValueError):
        redfield_current(0.1, 1.0, 0.9, J, J, n1=(1, 1, 0))
    with pytest.raises(ValueError):
        golden_rule_current(-0.1, 1.0, 0.9, J, J)
    with pytest.raises(ValueError):
        ne_ptre_current(0.1, 1.0, 0.0, J, J)
    with pytest.raises(ValueError):  # Ohmic J2: the linearised polaron dressing diverges
        ne_ptre_current(0.1, 1.0, 0.9, J, RationalCutoff(alpha=0.01, s=1, cutoff_power=2))


# ---------------------------------------------------------------------------------------------
# NE-PTRE (theta = 0)
# ---------------------------------------------------------------------------------------------


def test_ne_ptre_alpha_squared_scaling():
    # bilinear in (J1, J2) by construction: exact up to rounding and the (1e-20) quadrature error.
    for delta in (0.0, 0.05, 0.1):
        i1 = ne_ptre_current(delta, 1.0, 0.9, RationalCutoff(0.001), RationalCutoff(0.001)).I
        i2 = ne_ptre_current(delta, 1.0, 0.9, RationalCutoff(0.002), RationalCutoff(0.002)).I
        assert i2 / i1 == pytest.approx(4.0, rel=1e-12)
        i3 = ne_ptre_current(delta, 1.0, 0.9, RationalCutoff(0.003), RationalCutoff(0.001)).I
        assert i3 / i1 == pytest.approx(3.0, rel=1e-12)


def test_ne_ptre_zero_at_equal_temperatures():
    # Detailed balance S(-w) = e^{-w/T} S(w) makes the integrand's two halves cancel exactly;
    # what remains is quadrature rounding: below 1e-12 of the non-equilibrium current.
    ref = ne_ptre_current(0.05, 1.0, 0.9, J, J)
    for delta, T in ((0.0, 1.0), (0.05, 1.0), (0.3, 0.2), (0.1, 3.0)):
        r = ne_ptre_current(delta, T, T, J, J)
        assert abs(r.I) <= 1e-12 * ref.I
        assert abs(r.I) <= max(10 * r.error, 1e-14 * ref.I)


def test_ne_ptre_delta_zero_plateau_closed_form():
    # I(0) = (8/pi) Int_0^inf J1 J2 (n1 - n2)/w dw, a different integral (one-sided, no Bose
    # sums of shifted arguments): agreement to 1e-11 relative (both ~1e-15).
    from scipy import integrate

    def f(w):
        return float(J(w)) ** 2 * (1 / math.expm1(w / 1.0) - 1 / math.expm1(w / 0.9)) / w if w < 600 else 0.0

    closed = 8 / math.pi * integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
    r = ne_ptre_current(0.0, 1.0, 0.9, J, J)
    assert r.I > 0
    assert r.I == pytest.approx(closed, rel=1e-11)
    assert r.error < 1e-12 * r.I


def test_ne_ptre_plateau_is_quadratic():
    # I(Delta) - I(0) ~ Delta^2 (I is even and smooth in Delta). Fit on Delta in [0.002, 0.02]:
    # exponent 2 within +-0.1 (the brief); the relative size of the difference there, 1e-5..1e-3,
    # is far above the quadrature error (1e-14 relative).
    i0 = ne_ptre_current(0.0, 1.0, 0.9, J, J).I
    deltas = np.geomspace(0.002, 0.02, 6)
    diffs = np.array([abs(ne_ptre_current(d, 1.0, 0.9, J, J).I - i0) for d in deltas])
    slope = np.polyfit(np.log(deltas), np.log(diffs), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.1)
    assert np.all(diffs / i0 > 1e-7)


def test_ne_ptre_gauss_vs_adaptive_quadrature():
    # Two quadratures of the same frequency integral (fixed Gauss panels / adaptive QUADPACK):
    # agreement at the 1e-12 level shows the error estimates are honest.
    for delta, T1, T2 in PAIRS + [(0.0, 1.0, 0.9), (0.05, 0.1, 0.05)]:
        a = ne_ptre_current(delta, T1, T2, J, J)
        b = ne_ptre_current(delta, T1, T2, J, J, method="quad")
        assert a.I == pytest.approx(b.I, rel=1e-12)
        assert a.error < 1e-12 * abs(a.I)


@pytest.fixture(scope="module")
def kernels():
    """C1(t) and dQ2/dt by brute-force QAWF on a time grid (the costly part: ~5 s, computed once)."""
    return ptre_kernels(J, 1.0, J, 0.9)


def test_ne_ptre_time_domain_eq6(kernels):
    # Paper Eq. 6 form in the project convention, from brute-force C1(t), dQ2/dt on a time grid,
    # vs the frequency-domain reduction. The time route's error estimate (~1e-14 absolute from
    # the pointwise QAWF errors; tail e^{-2 t} t^6 at t = 30 ~ 1e-17) is ~1e-8 relative: the
    # observed agreement is ~1e-12, and 1e-9 relative leaves room for other platforms.
    for delta in (0.0, 0.05, 0.1, 0.5):
        td = ne_ptre_current_time_domain(delta, 1.0, kernels)
        fd = ne_ptre_current(delta, 1.0, 0.9, J, J)
        assert td.value == pytest.approx(fd.I, rel=1e-9)


def test_ne_ptre_time_domain_detailed_balance_fixes_sin_sign():
    # The paper prints +2 xi Int (C1^I dQ2^I + C1^R dQ2^R) sin(Et). With xi = -tanh(E/2T1) (this
    # convention) the C1^R dQ2^R term must enter with the opposite sign: only then does I vanish at
    # T1 = T2. Brute-force kernels at T1 = T2 = 1 (coarser grid, ~1.5 s): the re-derived form gives
    # 0 to the time route's accuracy (observed ~3e-10 of the T2 = 0.9 current; 1e-8 allowed);
    # the printed sign gives an O(1) current.
    t, w, C1, dQ, _ = ptre_kernels(J, 1.0, J, 1.0, tmax=20.0, n=6)
    for delta in (0.05, 0.1, 0.5):
        ref = ne_ptre_current(delta, 1.0, 0.9, J, J).I
        ours = ne_ptre_current_time_domain(delta, 1.0, (t, w, C1, dQ, 0 * t)).value
        E = 2 * delta
        flipped = ours - 4 * math.tanh(E / 2) * np.sum(w * C1.real * dQ.real * np.sin(E * t))
        assert abs(ours) <= 1e-8 * ref
        assert abs(flipped) > 0.3 * ref


def test_ne_ptre_sanity_values():
    # docs/analytic.md table (T1 = 1, T2 = 0.9, alpha = 0.01, theta = 0): regression to 1e-9.
    table = {0.0: 1.6502714380692e-06, 0.025: 1.6393714871990e-06, 0.05: 1.6073824739968e-06,
             0.1: 1.4895534679629e-06}
    for delta, value in table.items():
        assert ne_ptre_current(delta, 1.0, 0.9, J, J).I == pytest.approx(value, rel=1e-9)
    gold = {0.025: 1.0226751905619e-08, 0.05: 1.5860133072204e-07, 0.1: 2.2447639540039e-06}
    for delta, value in gold.items():
        assert golden_rule_current(delta, 1.0, 0.9, J, J) == pytest.approx(value, rel=1e-9)


def test_calls_are_fast():
    # the HEOM team calls these in loops: < 1 s per call (typically ~10-20 ms)
    for f in (lambda: redfield_current(0.1, 1.0, 0.9, J, J, n2=n_theta(0.7)),
              lambda: ne_ptre_current(0.05, 1.0, 0.9, J, J),
              lambda: ne_ptre_current(0.05, 10.0, 1.0, J, J)):
        t0 = time.perf_counter()
        f()
        assert time.perf_counter() - t0 < 1.0
