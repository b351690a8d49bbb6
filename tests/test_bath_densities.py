"""Tests of the densities without an exact decomposition: the exponential cutoff and tables
(nesb_hpc.bath.spectral.ExponentialCutoff, bath.tabulated), their quadrature, the quadrature
reference (bath.reference) and their fits (docs/model.md s1, docs/fit.md).

What is checked against what (C(t) = (1/pi) Int_0^inf J(w) [coth(w/2T) cos wt - i sin wt] dw):

1. Exponential cutoff, J = pi alpha w^s omega_c^(1-s) e^(-w/omega_c). Closed forms derived here:
   with coth = 1 + 2 n(w), n(w) = sum_{k>=1} e^{-k w/T}, and Int_0^inf w^s e^{-a w} e^{-+ i w t} dw
   = Gamma(s+1) (a +- i t)^-(s+1),

       C(t) = alpha omega_c^(1-s) Gamma(s+1) T^(s+1) [zeta(s+1, T/omega_c + i T t)
                                                      + zeta(s+1, 1 + T/omega_c - i T t)]

   (Hurwitz zeta), and at T = 0 only the k = 0 term, C(t) = alpha omega_c^2 Gamma(s+1) /
   (1 + i omega_c t)^(s+1): the pi of J cancels the 1/pi of C, so C(0) = alpha omega_c^2 Gamma(s+1)
   (QuTiP's OhmicEnvironment, J = alpha_q w^s wc^(1-s) e^(-w/wc) in the same C convention, has
   alpha_q = pi alpha: checked against QuTiP where it is installed). Quadrature (QAWO on the
   support, QAWF beyond) agrees to 1e-12 of C(0); the T = 0 form at T = 1e-4 to within the thermal
   part, 2 Gamma(s+1) zeta(s+1) T^(s+1) (3.3e-8 for s = 1, 4.6e-6 for s = 0.5).
2. The quadrature reference (piecewise Chebyshev) reproduces the closed form to 1e-11 of C(0).
3. Fits meet their tolerance against direct quadrature on a grid independent of the fit's
   (random times in the head, geometric in the power-law tail, to 50 times the fit's window), and
   need at most fit_max_terms' default 12 functions (docs/fit.md measures 7-10).
4. A table of the paper's J (every 0.02 omega_c to 40) recovers the exact decomposition's C(t)
   to the interpolation's accuracy (measured 1.8e-5 at T = 1, 4.7e-6 at T = 0.1; asserted 3e-5),
   and its fit at 1e-3 is within 1e-3 + 3e-5 of the exact C(t). The table quadrature (composite
   Gauss on the rows) agrees with a much higher order to 1e-14.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from nesb_hpc.bath import (ExponentialCutoff, RationalCutoff, Tabulated, correlation_quadrature, correlation_reference,
                           decomposition_error, exact_decomposition, fit_bath)
from nesb_hpc.bath.basis import expm_batched

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
RNG = np.random.default_rng(15)


def hurwitz_form(s: float, T: float, t, alpha: float = 1.0, wc: float = 1.0) -> np.ndarray:
    """The exponential cutoff's C(t) at T > 0 in closed form (module doc; mpmath's Hurwitz zeta)."""
    mpmath = pytest.importorskip("mpmath")
    pre = alpha * wc ** (1 - s) * math.gamma(s + 1) * T ** (s + 1)
    return np.array([complex(pre * (mpmath.zeta(s + 1, T / wc + 1j * T * x) + mpmath.zeta(s + 1, 1 + T / wc - 1j * T * x)))
                     for x in np.atleast_1d(t)])


def zero_temperature_form(s: float, t, alpha: float = 1.0, wc: float = 1.0) -> np.ndarray:
    return alpha * wc**2 * math.gamma(s + 1) / (1 + 1j * wc * np.asarray(t, dtype=float)) ** (s + 1)


TIMES = np.concatenate([[0.0, 0.01, 0.05], np.linspace(0.1, 10, 23), np.geomspace(11, 3000, 12)])


@pytest.mark.parametrize("s, wc", [(0.5, 1.0), (1.0, 1.0), (3.0, 1.0), (2.5, 2.0)])
def test_exponential_at_zero_temperature_is_the_closed_form(s, wc):
    T = 1e-4
    c, _ = correlation_quadrature(ExponentialCutoff(0.7, s, wc), T, TIMES)
    exact = zero_temperature_form(s, TIMES, 0.7, wc)
    assert exact[0] == pytest.approx(0.7 * wc**2 * math.gamma(s + 1), rel=1e-15)   # the factor
    # the thermal part: |sum_{k>=1} (2 terms)| <= 2 alpha wc^(1-s) Gamma(s+1) zeta(s+1) T^(s+1)
    thermal = 2 * 0.7 * wc ** (1 - s) * math.gamma(s + 1) * special.zeta(s + 1) * T ** (s + 1)
    assert np.max(np.abs(c - exact)) <= thermal + 1e-12 * abs(exact[0])
    assert np.max(np.abs(c - exact)) > 0.5 * thermal * (s < 1)   # ... and it is there (s = 0.5: 3e-6)
    # the Hurwitz form at T = 1e-4 is the T = 0 form plus the same thermal part
    assert np.max(np.abs(hurwitz_form(s, T, TIMES[:10], 0.7, wc) - exact[:10])) <= thermal + 1e-12


@pytest.mark.parametrize("s", [1.0, 3.0, 2.5])
@pytest.mark.parametrize("T", [0.1, 0.5, 1.0])
def test_exponential_at_finite_temperature_is_the_hurwitz_form(s, T):
    J = ExponentialCutoff(1.0, s)
    c, err = correlation_quadrature(J, T, TIMES)
    exact = hurwitz_form(s, T, TIMES)
    assert np.max(np.abs(c - exact)) <= 1e-12 * abs(exact[0])
    assert np.all(np.isfinite(c)) and np.max(err) < 1e-10


def test_quadrature_of_a_decaying_density_at_small_t_is_not_garbage():
    """QAWF over [0, inf) returned 1.8e308 (error estimate 2.5e-13) for pi w^3 e^-w at t = 0.05."""
    c, _ = correlation_quadrature(ExponentialCutoff(1.0, 3.0), 1.0, [0.01, 0.05, 0.1])
    assert np.max(np.abs(c - hurwitz_form(3.0, 1.0, [0.01, 0.05, 0.1]))) < 1e-12


@pytest.mark.parametrize("s, T", [(1.0, 0.5), (3.0, 0.1)])
def test_reference_interpolates_quadrature(s, T):
    ref = correlation_reference(ExponentialCutoff(1.0, s), T)
    t = np.sort(np.concatenate([RNG.uniform(0, 40, 300), np.geomspace(40, 2000, 60)]))
    exact = hurwitz_form(s, T, t)
    assert np.max(np.abs(ref(t) - exact)) <= 1e-11 * abs(exact[0])
    assert ref.error_estimate <= 1e-11
    assert ref.tail_end(1e-6) > ref.tail_end(1e-4) > 0


def _independent_grid(t_window: float) -> np.ndarray:
    """Times the fit never saw: random in the head, jittered geometric into the tail."""
    head = RNG.uniform(0.0, 20.0, 400)
    tail = np.geomspace(20.0, 50 * t_window, 150) * RNG.uniform(0.99, 1.01, 150)
    return np.sort(np.concatenate([[0.0], head, tail]))


@pytest.mark.parametrize("s, T, tol", [(1.0, 0.5, 1e-3), (1.0, 1.0, 1e-4), (3.0, 0.1, 1e-4), (3.0, 1.0, 1e-3)])
def test_exponential_fit_meets_its_tolerance_against_quadrature(s, T, tol):
    J = ExponentialCutoff(0.2, s)
    fit = fit_bath(J, T, tol, 12)
    assert fit.n_terms <= 12 and fit.cancellation < 30
    t = _independent_grid(fit.t_max)
    c, _ = correlation_quadrature(J, T, t)
    assert np.max(np.abs(fit.correlation(t) - c)) <= tol * np.max(np.abs(c))
    assert decomposition_error(fit, J, T) <= tol
    assert fit_bath(ExponentialCutoff(0.4, s), T, tol, 12).real.a == pytest.approx(2 * fit.real.a)  # linear in alpha


def test_qutip_ohmic_environment_is_this_density_with_alpha_times_pi():
    qutip = pytest.importorskip("qutip")
    from qutip.core.environment import OhmicEnvironment

    for s, T, wc in ((1.0, 0.5, 1.0), (3.0, 1.0, 1.0), (2.0, 0.2, 2.0)):
        ours = ExponentialCutoff(0.05, s, wc)
        env = OhmicEnvironment(T=T, alpha=math.pi * 0.05, wc=wc, s=s)
        w = np.linspace(0.01, 20, 50)
        assert np.allclose(env.spectral_density(w), ours(w), rtol=1e-13, atol=0)
        t = np.concatenate([np.linspace(0, 10, 21), [30.0, 100.0]])
        c, _ = correlation_quadrature(ours, T, t)
        theirs = np.asarray(env.correlation_function(t), dtype=complex)
        assert np.max(np.abs(c - theirs)) <= 1e-10 * abs(c[0]), qutip.__version__


PAPER = RationalCutoff(alpha=1.0)


def paper_table(h: float = 0.02, w_max: float = 40.0) -> Tabulated:
    w = np.linspace(0.0, w_max, int(round(w_max / h)) + 1)
    return Tabulated(1.0, w, PAPER(w), f"paper-{h}-{w_max}")


@pytest.mark.parametrize("T, limit", [(1.0, 3e-5), (0.1, 3e-5)])
def test_table_of_the_paper_density_recovers_its_exact_correlation(T, limit):
    exact = exact_decomposition(PAPER.rational(), T, "pade", 60)
    t = np.concatenate([np.linspace(0, 10, 41), np.linspace(11, 80, 24)])
    c, err = correlation_quadrature(paper_table(), T, t)
    ref = exact.correlation(t)
    assert np.max(np.abs(c - ref)) <= limit * abs(ref[0])
    assert np.max(err) < 1e-13
    # interpolation error, not quadrature: a table twice as dense is ~8 times closer (third order)
    c2, _ = correlation_quadrature(paper_table(0.01), T, t)
    assert np.max(np.abs(c2 - ref)) <= np.max(np.abs(c - ref)) / 5


def test_table_quadrature_against_a_higher_order_rule():
    J = paper_table()
    t = np.array([0.0, 0.3, 10.0, 100.0, 314.16, 3000.0])
    c, _ = correlation_quadrature(J, 0.5, t)
    x, wts = np.polynomial.legendre.leggauss(120)
    w = np.asarray(J.w)
    W = (w[:-1, None] + 0.5 * np.diff(w)[:, None] * (x + 1)).ravel()
    weight = (0.5 * np.diff(w)[:, None] * wts).ravel()
    j = J(W) * weight
    hi = (np.cos(np.outer(t, W)) @ (j / np.tanh(W)) - 1j * (np.sin(np.outer(t, W)) @ j)) / np.pi
    assert np.max(np.abs(c - hi)) < 1e-14


def test_table_fit_is_the_exact_correlation_within_tolerance_and_interpolation():
    T, tol = 1.0, 1e-3
    J = paper_table()
    fit = fit_bath(dataclass_alpha(J, 0.3), T, tol, 12)
    t = _independent_grid(fit.t_max)
    ref = 0.3 * exact_decomposition(PAPER.rational(), T, "pade", 60).correlation(t)
    assert np.max(np.abs(fit.correlation(t) - ref)) <= (tol + 3e-5) * np.max(np.abs(ref))
    assert decomposition_error(fit, dataclass_alpha(J, 0.3), T) <= tol


def dataclass_alpha(J: Tabulated, alpha: float) -> Tabulated:
    import dataclasses
    return dataclasses.replace(J, alpha=alpha)


def test_expm_of_a_wide_chain_stays_finite_at_long_times():
    """The mean shift overflowed (e^+680 e^-1400 = NaN) for rates 4.9 .. 12.4 at t = 170."""
    rates = np.array([4.9, 6.6, 7.2, 10.0, 12.4])
    A = np.diag(-rates) + np.diag(np.full(4, 4.9), -1)
    E = expm_batched(A, [1.0, 170.0])
    assert np.all(np.isfinite(E)) and np.max(np.abs(E[1])) < 1e-200
    from scipy.linalg import expm
    assert np.allclose(E[0], expm(A), rtol=1e-12, atol=1e-15)
