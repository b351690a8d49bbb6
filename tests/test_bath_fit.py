"""Tests of nesb_hpc.bath.fit: fitted decompositions of C(t) with rates shared by C^R and C^I.

What is checked against what (docs/model.md sections 1-2, docs/fit.md):

1. fit_bath for the paper's J (RationalCutoff(alpha=1), s = 3, cutoff_power = 4) at T = 0.9, 1, 10
   and tolerance 1e-3, 1e-4, 1e-5 against DIRECT QUADRATURE (correlation_quadrature, QUADPACK
   QAWF, error estimate < 1e-10) on 97 points of [0, 30] (dt = 0.05 below t = 2, where the
   Bose-function terms live, 0.5 above): max|C_fit - C_quad| / max|C_quad| <= tolerance, and the
   fit's own reported error (against its Pade reference, on a 12x denser grid) is honest.
2. Fewer basis functions than the exact decomposition at tolerance 1e-4, T = 1 and 0.9 (the
   exact one needs n_bose = 2 there: 6 R + 4 I = 10 functions, 6 once R and I share them; the fit
   needs 5 R + 4 I = 9, 5 shared); both counts are asserted exactly.
3. R and I share their rates: every C^I function's key is a C^R key, shared_basis merges the fit
   into n_terms functions; complex rates come in conjugate pairs (underdamped J).
4. Structure: C^I(0) = 0 and the sum rules int C^R dt = int t C^I dt = 0 (J ~ w^3) are held; the
   coefficients do not cancel (kappa < 100); at T = 10 the fit finds the fourth-order pole of J,
   rate omega_c = 1 with multiplicity 4 (ESPRIT alone returns 4 nearby rates with coefficients
   of 1e5 that cancel).
5. max_terms too small: ValueError naming the tolerance, max_terms and the error reached.
6. fit_decomposition from uniform samples and from a callable.
7. Config keys fit_tolerance, fit_max_terms: defaults, validation messages (key, value, what is
   allowed), --help; decompose_baths uses the fit (scaled by alpha, once per T), ignores it for
   "exponents", and "drude_lorentz" (infinite C^R(0)) is refused.

Errors are relative to max_t |C(t)| (C scales with alpha; alpha = 1).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy.integrate import trapezoid

from nesb_hpc.bath import (
    RationalCutoff,
    Underdamped,
    correlation_quadrature,
    decompose_baths,
    exact_decomposition,
    fit_bath,
    fit_decomposition,
    shared_basis,
)
from nesb_hpc.bath.fit import FittedDecomposition, evaluate_correlation
from nesb_hpc.config import BathConfig, InputError, ModelConfig, key_reference, parse_config

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

PAPER = RationalCutoff(alpha=1.0)  # pi w^3 / (1 + w^2)^4
T_GRID = np.concatenate([np.linspace(0.0, 2.0, 41)[:-1], np.linspace(2.0, 30.0, 57)])


@lru_cache(maxsize=None)
def quadrature(T: float) -> np.ndarray:
    ref, err = correlation_quadrature(PAPER, T, T_GRID)
    assert np.max(err) < 1e-10 * np.max(np.abs(ref))  # the reference is exact at the scale tested
    return ref


def error_vs_quadrature(dec, T: float) -> float:
    ref = quadrature(T)
    return float(np.max(np.abs(evaluate_correlation(dec, T_GRID) - ref)) / np.max(np.abs(ref)))


# ---------------------------------------------------------------------------------------------
# 1. against direct quadrature


@pytest.mark.parametrize("T", [0.9, 1.0, 10.0])
@pytest.mark.parametrize("tol", [1e-3, 1e-4, 1e-5])
def test_fit_meets_the_tolerance_against_direct_quadrature(T, tol):
    fit = fit_bath(PAPER, T, tol)
    assert isinstance(fit, FittedDecomposition)
    err = error_vs_quadrature(fit, T)
    assert err <= tol, (T, tol, err)
    # the reported error is the fit's true error (quadrature grid is coarser than the fit's own)
    assert err <= fit.error + 1e-10
    assert fit.error <= tol and f"{fit.error:.2e}" in fit.description
    # evaluate_correlation (closed form) is the decomposition the hierarchy sees (expm of eta)
    t = np.array([0.0, 0.7, 3.0, 11.0])
    assert np.allclose(evaluate_correlation(fit, t), fit.correlation(t), rtol=0, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# 2. fewer functions than the exact decomposition


@pytest.mark.parametrize("T", [0.9, 1.0])
def test_fit_needs_fewer_functions_than_the_exact_decomposition_at_1e_4(T):
    tol = 1e-4
    n_bose = next(n for n in range(8)
                  if error_vs_quadrature(exact_decomposition(PAPER.rational(), T, "pade", n), T) <= tol)
    exact = exact_decomposition(PAPER.rational(), T, "pade", n_bose)
    fit = fit_bath(PAPER, T, tol)
    # exact: n_bose = 2 Pade terms (n_bose = 1 leaves 2.6e-4 at T = 1, 4.0e-4 at T = 0.9)
    assert (n_bose, exact.real.size, exact.imag.size, shared_basis(exact).size) == (2, 6, 4, 6)
    # fit: the t^k e^{-t} chain (k < 4, shared by R and I) and one fast exponential in C^R only
    assert (fit.n_terms, fit.real.size, fit.imag.size, shared_basis(fit).size) == (5, 5, 4, 5)
    assert fit.n_modes < exact.n_modes and shared_basis(fit).size < shared_basis(exact).size


# ---------------------------------------------------------------------------------------------
# 3. shared rates


def _rates(family) -> set:
    """(rate, |frequency|) of every function: its own, or every node of a Newton function (its key
    carries the nodes: nearly equal rates with cancelling weights become one chain, decomposition.py)."""
    out = set()
    for key in family.keys:
        out.add((key[0], key[1]))
        out.update((v.real, abs(v.imag)) for v in (key[4] if len(key) == 5 else ()))
    return out


@pytest.mark.parametrize("J, T, tol", [(PAPER, 1.0, 1e-4), (PAPER, 0.9, 1e-3), (PAPER, 1.0, 1e-6),
                                       (Underdamped(alpha=1.0, omega0=1.0, gamma=0.2), 1.0, 1e-4)])
def test_real_and_imaginary_parts_share_their_rates(J, T, tol):
    fit = fit_bath(J, T, tol)
    R, I = fit.real, fit.imag
    assert len(R.keys) == R.size and len(I.keys) == I.size
    assert set(I.keys) <= set(R.keys)  # every C^I function is one of C^R's (same rate, order, part)
    assert _rates(R) | _rates(I) == {(v.real, abs(v.imag)) for v in fit.rates}
    # one hierarchy index per shared function
    assert shared_basis(fit).size == fit.n_terms == R.size
    assert all(v.real > 0 for v in fit.rates)
    for v in fit.rates:  # complex rates in conjugate pairs
        assert v.imag == 0 or np.conj(v) in fit.rates


def test_underdamped_fit_uses_a_conjugate_pair_and_real_functions():
    fit = fit_bath(Underdamped(alpha=1.0, omega0=1.0, gamma=0.2), 1.0, 1e-4)
    pairs = [v for v in fit.rates if v.imag > 0]
    # the J pole at w = +-sqrt(omega0^2 - gamma^2/4) + i gamma/2: rate gamma/2 = 0.1, frequency 0.995
    assert len(pairs) == 1 and abs(pairs[0] - complex(0.1, np.sqrt(1 - 0.01))) < 1e-6
    t = np.linspace(0, 50, 201)
    c = fit.correlation(t)  # through expm(eta t): real a, eta, phi0 give real C^R, C^I
    assert np.all(np.isfinite(c)) and fit.real.a.dtype == float and fit.imag.eta.dtype == float


# ---------------------------------------------------------------------------------------------
# 4. structure


@pytest.mark.parametrize("T", [0.9, 1.0, 10.0])
def test_imag_at_zero_sum_rules_and_no_cancellation(T):
    fit = fit_bath(PAPER, T, 1e-4)
    scale = np.max(np.abs(quadrature(T)))
    assert abs(fit.imag_at_zero) <= 1e-14 * scale  # exact C^I(0) = 0
    t = np.linspace(0.0, 60.0, 24001)
    c = evaluate_correlation(fit, t)
    # int_0^inf C^R dt = S(0)/2 = 0 and int_0^inf t C^I dt = -S'(0)/2 = 0 for J ~ w^3
    assert abs(trapezoid(c.real, t)) <= 1e-7 * scale
    assert abs(trapezoid(t * c.imag, t)) <= 1e-7 * scale
    assert fit.cancellation < 10  # 2.5 at T = 0.9 and 1, 1.9 at T = 10


def test_high_temperature_fit_finds_the_fourth_order_pole():
    fit = fit_bath(PAPER, 10.0, 1e-5)
    assert fit.n_terms == 4 and fit.multiplicities == (4,)
    assert abs(fit.rates[0] - 1.0) < 1e-4  # the pole of J at w = i omega_c, omega_c = 1


# ---------------------------------------------------------------------------------------------
# 5. too few terms


def test_too_few_terms_is_a_clear_error():
    with pytest.raises(ValueError) as info:
        fit_bath(PAPER, 1.0, 1e-4, max_terms=3)
    msg = str(info.value)
    assert "tolerance 0.0001 not reached with max_terms = 3" in msg
    assert "best relative error was" in msg and "fit_max_terms" in msg
    best = float(msg.split("best relative error was ")[1].split()[0])
    assert best > 1e-4  # 3.3e-2 with three functions


def test_invalid_fit_arguments():
    with pytest.raises(ValueError, match="tolerance"):
        fit_decomposition(lambda t: np.exp(-t), 0.0)
    with pytest.raises(ValueError, match="max_terms"):
        fit_decomposition(lambda t: np.exp(-t), 1e-3, max_terms=0)
    with pytest.raises(ValueError, match="uniform grid"):
        fit_decomposition((np.array([0.0, 1.0, 3.0] * 4), np.ones(12)), 1e-3)


# ---------------------------------------------------------------------------------------------
# 6. other references


def test_fit_from_uniform_samples_and_from_a_callable():
    t_samples = np.linspace(0.0, 40.0, 801)
    rates = np.array([0.7, 1.9, 0.4 + 1.3j, 0.4 - 1.3j])
    cr, ci = np.array([1.0, -0.3, 0.2 + 0.1j, 0.2 - 0.1j]), np.array([-0.4, 0.4, 0.05j, -0.05j])

    def C(t):
        e = np.exp(-np.outer(t, rates))
        return (e @ cr).real + 1j * (e @ ci).real

    for ref in ((t_samples, C(t_samples)), C):
        fit = fit_decomposition(ref, 1e-8, hold_sum_rules=False)
        assert fit.n_terms == 4 and fit.error <= 1e-8
        assert sorted(fit.rates, key=lambda v: (v.real, v.imag)) == pytest.approx(
            sorted(rates, key=lambda v: (v.real, v.imag)), rel=1e-7)
        assert abs(fit.imag_at_zero) < 1e-15  # C^I(0) = -0.4 + 0.4 + 0 held exactly


# ---------------------------------------------------------------------------------------------
# 7. configuration and decompose_baths


def test_config_keys_defaults_and_help():
    b = BathConfig()
    assert (b.fit_tolerance, b.fit_max_terms) == (0.0, 12)
    ref = key_reference()
    assert "fit_tolerance = 0.0" in ref and "fit_max_terms = 12" in ref


@pytest.mark.parametrize("bath, fragments", [
    ({"fit_tolerance": -1e-3}, ("[bath] fit_tolerance = -0.001", "a number >= 0")),
    ({"fit_tolerance": "1e-4"}, ('[bath] fit_tolerance = "1e-4"', "a number >= 0")),
    ({"fit_max_terms": 0}, ("[bath] fit_max_terms = 0", "an integer in [1, 64]")),
    ({"fit_max_terms": 2.5}, ("[bath] fit_max_terms = 2.5", "an integer in [1, 64]")),
    ({"spectral_density": "drude_lorentz", "fit_tolerance": 1e-3},
     ("[bath] fit_tolerance = 0.001", "drude_lorentz", "C^R(0) is infinite")),
])
def test_config_validation_of_fit_keys(bath, fragments):
    with pytest.raises(InputError) as info:
        parse_config({"bath": bath})
    for f in fragments:
        assert f in str(info.value), (f, str(info.value))
    assert info.value.key in ("bath.fit_tolerance", "bath.fit_max_terms")


def test_decompose_baths_uses_the_fit():
    model = ModelConfig(alpha1=0.3, alpha2=0.05, T1=1.0, T2=10.0)
    exact = decompose_baths(model, BathConfig())
    fitted = decompose_baths(model, BathConfig(fit_tolerance=1e-4, fit_max_terms=8))
    assert not any(isinstance(d, FittedDecomposition) for d in exact)
    assert all(isinstance(d, FittedDecomposition) for d in fitted)
    for d, alpha, T in zip(fitted, (0.3, 0.05), (1.0, 10.0)):
        unit = fit_bath(PAPER, T, 1e-4, 8)  # the same (cached) fit at alpha = 1, scaled
        t = np.linspace(0, 20, 41)
        assert np.allclose(evaluate_correlation(d, t), alpha * evaluate_correlation(unit, t), rtol=1e-14, atol=0)
        assert error_vs_quadrature(d.scaled(1 / alpha), T) <= 1e-4
    with pytest.raises(ValueError, match="max_terms = 3"):
        decompose_baths(model, BathConfig(fit_tolerance=1e-4, fit_max_terms=3))


def test_exponents_ignore_the_fit_keys():
    exps = {"ck_real": [0.5], "vk_real": [1.0], "ck_imag": [-0.3], "vk_imag": [1.0]}
    cfg = parse_config({"bath": {"spectral_density": "exponents", "fit_tolerance": 1e-3,
                                 "bath1": exps, "bath2": exps}})
    decs = decompose_baths(cfg.model, cfg.bath)
    assert [(d.real.size, d.imag.size) for d in decs] == [(1, 1), (1, 1)]
    assert not any(isinstance(d, FittedDecomposition) for d in decs)
