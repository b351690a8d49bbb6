"""How good a decomposition of C(t) is, and how many Bose terms one needs (docs/decomposition.md s4).

The error of a decomposition is measured against direct adaptive quadrature of the defining
integral (quadrature.py) as

    err = max_t |C_dec(t) - C_quad(t)| / max_t |C_quad(t)|            (dimensionless)

on a grid of times t (units 1/omega_c) that sees every component of C:

- C(t) is a sum of terms e^{-v t} (t^k, cos, sin) with rates v at the poles of J (decay
  g_J = min Re v_J, frequencies up to w_J = max |v_J|) and at the Matsubara frequencies
  nu_k = 2 pi k T (any decomposition's Bose rates are >= 2 pi T: Pade's first pole xi_1 T > 2 pi T);
- so the grid runs to t_max = 25 / g_min, g_min = min(g_J, 2 pi T, the decomposition's own slowest
  rate), after which every component has decayed by e^-25 = 1.4e-11 of its size; at low T this is
  far beyond the old fixed t = 40 (T = 0.02: C(50) is still 6e-6 of C(0), t_max = 199);
- up to t_1 = 25 / g_J (where the poles of J have died out) with dt = 0.5 / w_J (12 points per
  period of the fastest oscillation: the maximum of |C_dec - C_quad| between points is missed by
  at most 1 - cos(pi/12.5) = 3%), and beyond t_1 with dt = 0.5 / g_min (only the slow Bose tail,
  which changes by e^-0.5 per point, is left there);
- from t = 0, or from t = dt where C^R(0) is infinite (J ~ 1/w at large w: Drude-Lorentz).

For the paper's J that is 51 points at T >= 1/(2 pi), 95 at T = 0.02 (against 81 on [0, 40]).

A J without ``.rational()`` (the exponential cutoff, a table) has no poles to read the rates
from, and its C(t) ends in a power law (t^-(s+1) for the exponential cutoff), not in e^{-g t}.
Its grid (``_tail_grid``) is uniform with dt = 0.5 / v_fast (v_fast the larger of the density's
frequency_scale and the decomposition's fastest rate) up to t_a = 10 / frequency_scale, then
geometric, t_{k+1} = 1.02 t_k (a tail varies on the scale of t; at the decomposition's slowest
rates this is the 0.5/g of the rational grid), up to the later of 25 / (the decomposition's
slowest rate) and where C stays below TAIL_FLOOR = 1e-8 of max|C| (reference.py's tail_end:
4,400-9,400 for s = 1 at T = 0.1-1, 70-120 for s = 3; for the paper's J tabulated every 0.02
its interpolation ripple, ~1e-5 up to t ~ 300, sets it). Errors below 1e-8 are not resolved
there (the tolerances in use are 1e-3 to 1e-6). 300-600 points, 1-3 s of quadrature (a table:
10-15 s), once per (J, T, grid).

The quadrature costs 5-15 ms per point, so the reference is computed once per (J shape, T, grid)
and cached at alpha = 1: C and every decomposition of it are linear in alpha, so the relative
error does not depend on alpha (alpha = 0 has no relative error: NaN).

``select_n_bose`` is the pure function that picks the number of Bose terms per bath and
temperature: the smallest n_bose <= n_max whose exact decomposition meets a relative tolerance.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

import numpy as np

from .decomposition import BathDecomposition, exact_decomposition
from .quadrature import correlation_quadrature
from .reference import correlation_reference

DECAY_LENGTHS = 25.0   # the grid ends where every component has decayed by e^-25 = 1.4e-11
TAIL_FLOOR = 1e-8      # a power-law tail is followed until |C| stays below this (relative)
TAIL_RATIO = 1.02      # geometric step of the tail grid
# The largest number of Bose terms select_n_bose tries. Each Bose term is one hierarchy index per
# bath (separate or merged form alike): 40 per bath gives 2 x (8 + 40) = 96 indices for the paper's
# J, already 3.9M ADOs at depth 4, the most a run can afford; and 40 Pade terms are within 4e-11 of
# quadrature at T = 0.1, 7e-10 at 0.05, 3e-8 at 0.02 (docs/decomposition.md s7).
N_BOSE_CAP = 40


def _unit_density(J):
    """(J at alpha = 1, alpha) for the package's spectral densities (frozen dataclasses with an
    alpha field); (J, 1) for any other callable."""
    if dataclasses.is_dataclass(J) and any(f.name == "alpha" for f in dataclasses.fields(J)):
        return dataclasses.replace(J, alpha=1.0), float(J.alpha)
    return J, 1.0


def _slowest_rate(dec: BathDecomposition) -> float:
    """The smallest decay rate -eta_jj over both families (inf without functions)."""
    rates = [-np.diag(f.eta) for f in (dec.real, dec.imag) if f.size]
    return float(np.min(np.concatenate(rates))) if rates else math.inf


def error_grid(J, T: float, slowest_rate: float = math.inf, fastest_rate: float = 0.0) -> np.ndarray:
    """The times (units 1/omega_c) on which decomposition_error compares C(t) (module doc).

    J: a spectral density (at alpha = 1 for a J without .rational()); T: temperature (> 0);
    slowest_rate: a decomposition's own slowest decay rate, if it may be slower than the poles of J
    and 2 pi T (fits); fastest_rate: its fastest (used only without .rational())."""
    if T <= 0:
        raise ValueError(f"temperature {T} must be > 0")
    if not hasattr(J, "rational"):
        return _tail_grid(J, T, slowest_rate, fastest_rate)
    rational = J.rational()
    v = [complex(-1j * z) for z in rational.poles if z.imag > 0]
    g_j, w_j = min(x.real for x in v), max(abs(x) for x in v)
    g_min = min(g_j, 2.0 * math.pi * T)
    if slowest_rate < 0.99 * g_min:  # only a clearly slower rate changes (and un-caches) the grid
        g_min = slowest_rate
    t_1 = DECAY_LENGTHS / g_j
    t_max = DECAY_LENGTHS / g_min
    dt_1 = 0.5 / w_j
    # C^R(0) = (1/pi) Int J coth dw is finite only if J decays faster than 1/w
    finite_at_zero = rational.power - sum(rational.multiplicities) < -1
    t_min = 0.0 if finite_at_zero else dt_1
    head = np.linspace(t_min, min(t_1, t_max), max(2, int(math.ceil((min(t_1, t_max) - t_min) / dt_1)) + 1))
    if t_max <= t_1 * (1 + 1e-12):
        return head
    n_tail = int(math.ceil((t_max - t_1) / (0.5 / g_min)))
    return np.concatenate([head, np.linspace(t_1, t_max, n_tail + 1)[1:]])


def _tail_grid(J, T: float, slowest_rate: float, fastest_rate: float) -> np.ndarray:
    """The grid of a J without poles (module doc): uniform, then geometric into the power-law tail."""
    scale = float(J.frequency_scale)
    dt = 0.5 / max(scale, fastest_rate)
    t_a = 10.0 / scale
    t_max = max(DECAY_LENGTHS / slowest_rate if slowest_rate > 0 else 0.0,
                correlation_reference(J, float(T)).tail_end(TAIL_FLOOR), 2.0 * t_a)
    head = np.linspace(0.0, t_a, int(math.ceil(t_a / dt)) + 1)
    n_tail = int(math.ceil(math.log(t_max / t_a) / math.log(TAIL_RATIO)))
    return np.concatenate([head, t_a * np.exp(np.linspace(0.0, math.log(t_max / t_a), n_tail + 1)[1:])])


def _fastest_rate(dec: BathDecomposition) -> float:
    """The largest |eigenvalue| of eta over both families (0 without functions)."""
    rates = [np.abs(np.linalg.eigvals(f.eta)) for f in (dec.real, dec.imag) if f.size]
    return float(np.max(np.concatenate(rates))) if rates else 0.0


@lru_cache(maxsize=256)
def _reference(J_unit, T: float, t: tuple) -> np.ndarray:
    """C(t) of J_unit by quadrature on the grid t (cached: 5-15 ms per point)."""
    c, _ = correlation_quadrature(J_unit, T, np.array(t))
    return c


def _relative_error(dec: BathDecomposition, ref: np.ndarray, t: np.ndarray, alpha: float) -> float:
    if alpha == 0.0:
        return math.nan
    return float(np.max(np.abs(dec.correlation(t) / alpha - ref)) / np.max(np.abs(ref)))


def decomposition_error(dec: BathDecomposition, J, T: float, t_max: float | None = None,
                        n_t: int | None = None) -> float:
    """max_t |C_dec(t) - C_quad(t)| / max_t |C_quad(t)| (dimensionless) on error_grid (module doc).

    dec: the decomposition of the C(t) of spectral density J at temperature T (any alpha: the error
    is relative, and the reference is cached at alpha = 1). t_max, n_t: a uniform grid of n_t
    points (default 81) on [0, t_max] (default: error_grid's end) instead of error_grid.
    """
    unit, alpha = _unit_density(J)
    t = error_grid(unit, T, _slowest_rate(dec), 0.0 if hasattr(unit, "rational") else _fastest_rate(dec))
    if t_max is not None or n_t is not None:
        t = np.linspace(t[0], t[-1] if t_max is None else t_max, 81 if n_t is None else n_t)
    return _relative_error(dec, _reference(unit, float(T), tuple(t)), t, alpha)


def select_n_bose(J, T: float, bose_kind: str = "pade", tolerance: float = 1e-4,
                  n_max: int = N_BOSE_CAP) -> tuple[int, float]:
    """The smallest n_bose in 1..n_max whose exact decomposition meets `tolerance`, and its error.

    J: spectral density with .rational() (RationalCutoff, Underdamped, drude_lorentz); T:
    temperature (> 0); bose_kind: "pade" or "matsubara"; tolerance: the largest accepted
    decomposition_error (relative, dimensionless). The quadrature reference is computed once per
    (J at alpha = 1, T) and reused for every candidate (and by decomposition_error). Returns
    (n_max, its error) when no n_bose <= n_max meets the tolerance: the caller sees error > tolerance.
    """
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"select_n_bose: tolerance = {tolerance!r} must be a finite number > 0")
    if not (isinstance(n_max, (int, np.integer)) and n_max >= 1):
        raise ValueError(f"select_n_bose: n_max = {n_max!r} must be an integer >= 1")
    unit, _ = _unit_density(J)
    rational = unit.rational()
    t = error_grid(unit, T)
    ref = _reference(unit, float(T), tuple(t))
    err = math.inf
    for n in range(1, n_max + 1):
        err = _relative_error(exact_decomposition(rational, T, bose_kind, n), ref, t, 1.0)
        if err <= tolerance:
            return n, err
    return n_max, err
