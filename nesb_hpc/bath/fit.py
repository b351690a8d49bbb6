"""Fitted decompositions of C(t) with fewer terms than the exact one (docs/fit.md).

Every basis function of C^R or C^I is one hierarchy index, so a decomposition with fewer functions
at a controlled error gives exponentially fewer ADOs at strong coupling. The fit is a
multi-channel ESPRIT (matrix pencil) with rates SHARED by C^R and C^I:

    C^R(t) ~= sum_k cR_k e^{-v_k t},   C^I(t) ~= sum_k cI_k e^{-v_k t},   Re v_k > 0.

1. Both real signals are sampled on one uniform grid t_n = n dt, n = 0..N-1.
2. Their Hankel matrices H_X[l, m] = C^X(t_{l+m}) (L rows) are stacked side by side,
   H = [H_R | H_I]. Its column space is spanned by the vectors (z_k^l)_l, z_k = e^{-v_k dt}, of the
   rates present in EITHER signal, so both channels get one set of rates.
3. The K leading left singular vectors U_K of H are shift-invariant, U_K[1:] = U_K[:-1] Phi; the
   eigenvalues of Phi (least squares) are the z_k. Phi is real, so complex z_k come in exact
   conjugate pairs.
4. Rates that are not physical or not resolved are dropped: |z| >= 1 (Re v <= 0), z on the
   negative real axis (an oscillation at the Nyquist frequency), Re v dt > 12.
5. Coefficients follow per channel by linear least squares in the real basis e^{-v t} (real v),
   e^{-g t} (cos, sin)(W t) (pair g +- iW): pair coefficients are conjugates by construction.
   Held exactly (equality constraints) at the reference's values: C^I(0) (0 for any J decaying
   faster than 1/w), and the two low-frequency sum rules int_0^inf C^R dt = S(0)/2 and
   int_0^inf t C^I dt = -S'(0)/2 of the spectrum S(w) = 2 int_0^inf [C^R cos wt - C^I sin wt] dt
   (both 0 for s = 3: J ~ w^3), so S_fit - S = O(w^2) at small w. The weak-coupling current
   depends on S(+-2 Delta), a small part of C when J(2 Delta) ~ Delta^3 is small (docs/fit.md).
6. K = 1, 2, ... max_terms until max_t |C_fit - C_ref| / max_t |C_ref| <= tolerance on a grid
   `oversample` times denser than the samples and 1.5 times longer (so the fit is checked between
   its samples and past its window). Terms whose removal from ONE channel keeps the error within
   the tolerance are then removed from that channel, smallest first.

Confluent rates. A pole of order m of C's transform (the paper's J: order 4 at w = i omega_c,
C = sum_k a_k t^k e^{-t}) is a limit of m merging exponentials: ESPRIT returns a cluster of m
nearby rates whose coefficients are huge and cancel (1e5 at T = 10 for the paper's J), which
would make the hierarchy's ADOs huge and cancelling too. So for each K the fit also tries merging
clusters of rates (within a relative distance rho = 0.1 or 0.3) into one rate, their mean, of
multiplicity m, with the basis (g t)^k/k! e^{-g t} (cos, sin)(W t), k < m (the same functions, keys
and Jordan-type eta as the exact decomposition; m functions for m merged rates, so the count is
unchanged). Among the candidates of one K that reach the tolerance the best conditioned one wins,
conditioning measured by the cancellation ratio

    kappa = sum_j |a_j| max_t |phi_j(t)| / max_t |C(t)|   (both families; >= 1 for C^R(0) alone),

and candidates with kappa > max_cancellation (default 100) are refused; a decomposition given as
reference raises the limit to 3 times its own kappa (exact decompositions have at most ~40 since
nearly coincident poles are summed together, docs/decomposition.md: 2.5 at T = 0.9 and 1, 1.9 at
T = 10, 4-6.4 at T = 0.1-0.2, where they had 300-500 before). If no candidate of a K passes, those
that reach the tolerance are judged by the kappa of the decomposition as built (next paragraph):
nearly equal rates whose weights cancel become Newton chains there, so their cancellation never
reaches the hierarchy (this is what the fits at T <~ 0.2 need, and it saves a function at 1e-5 at
T = 0.9 and 1). The reported cancellation is that of the built decomposition.

The result is built with ``from_exponents`` (QuTiP vocabulary) when every multiplicity is 1, else
with the same real-basis builder the exact decomposition uses, so R and I functions of one rate
carry identical keys and ``shared_basis`` merges them; in both, rates within 0.4 of each other
whose weights cancel (in C^R or C^I) are one Newton chain in both families, the shared rates first. The number of terms counts basis functions
per family (a conjugate pair counts 2, a rate of multiplicity m counts m, 2m for a pair): with
shared functions merged it is the number of hierarchy indices per bath.

The reference of ``fit_bath`` is the exact residue decomposition with Pade n_bose = 20, 40, 80, ...
until doubling changes C(t) by less than 1e-2 of the tolerance (at the paper's J, 40 terms agree
with direct quadrature to 5e-14); for a J without one (exponential cutoff, table) it is quadrature
of C(t) (reference.py), fitted up to where |C| <= TAIL_WINDOW * tolerance. ``fit_decomposition``
accepts any reference (a decomposition, a callable C(t), or uniform samples).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from math import factorial
from typing import Callable

import numpy as np
from scipy.linalg import null_space

from .decomposition import (BasisFamily, BathDecomposition, _pair_of_families, basis_function, exact_decomposition,
                            from_exponents)
from .reference import correlation_reference

# relative distances within which ESPRIT rates are tried as one rate of higher multiplicity
_CLUSTER_RHOS = (0.1, 0.3)
_HANKEL_ROWS = 400


@dataclass(frozen=True)
class FittedDecomposition(BathDecomposition):
    """A BathDecomposition made by ``fit_decomposition``, with what the fit achieved.

    error: max_t |C_fit - C_ref| / max_t |C_ref| on the check grid of [0, t_check];
    rates, multiplicities: the distinct shared rates v (Re v > 0; complex ones with their
      conjugates) and their multiplicities (basis (g t)^k/k! e^{-g t}..., k < m);
    cancellation: kappa = sum_j |a_j| max_t |phi_j| / max_t |C| of the built decomposition (1 to a
      few: no cancellation);
    t_max: end of the sampled window (|C_ref| < 1e-2 * tolerance of its maximum beyond it).
    """

    error: float = math.nan
    tolerance: float = math.nan
    rates: tuple[complex, ...] = ()
    multiplicities: tuple[int, ...] = ()
    cancellation: float = math.nan
    t_max: float = math.nan
    t_check: float = math.nan

    @property
    def n_terms(self) -> int:
        """Number of shared basis functions (a conjugate pair counts 2, multiplicity m counts m)."""
        return int(sum(self.multiplicities))

    def scaled(self, factor: float) -> "FittedDecomposition":
        return dataclasses.replace(self, real=self.real.scaled(factor), imag=self.imag.scaled(factor))


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate_family(family: BasisFamily, t) -> np.ndarray:
    """C^X(t) of a family: in closed form from its keys (fast), else through expm (BasisFamily)."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    if family.size == 0:
        return np.zeros(t.size)
    if len(family.keys) != family.size or any(len(k) != 4 for k in family.keys):
        return family.evaluate(t)  # Newton chains: one batched expm per chain
    out = np.zeros(t.size)
    for a, key in zip(family.a, family.keys):
        if a != 0.0:
            out += a * basis_function(key, t)
    return out


def evaluate_correlation(dec: BathDecomposition, t) -> np.ndarray:
    """C(t) = C^R(t) + i C^I(t) of a decomposition (closed form where the families have keys)."""
    return evaluate_family(dec.real, t) + 1j * evaluate_family(dec.imag, t)


def cancellation(dec: BathDecomposition, t) -> float:
    """kappa = sum_j |a_j| max_t |phi_j(t)| / max_t |C(t)| over both families, on the grid t."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    total = 0.0
    for fam in (dec.real, dec.imag):
        if len(fam.keys) == fam.size and all(len(k) == 4 for k in fam.keys):
            size = [np.max(np.abs(basis_function(key, t))) for key in fam.keys]
        else:
            size = np.max(np.abs(fam.basis(t)), axis=1) if fam.size else []
        total += float(np.sum(np.abs(fam.a) * np.asarray(size)))
    return total / float(np.max(np.abs(evaluate_correlation(dec, t))))


# ---------------------------------------------------------------------------------------------
# One candidate: distinct rates (Im v >= 0 representatives) with multiplicities


@dataclass(frozen=True)
class _Term:
    rate: complex   # Im >= 0; a complex rate stands for the pair (v, conj v)
    k: int          # order within the rate's chain
    cols: tuple[int, ...]


def _terms(rates_m: list[tuple[complex, int]]) -> list[_Term]:
    out, n = [], 0
    for v, m in rates_m:
        for k in range(m):
            width = 1 if v.imag == 0.0 else 2
            out.append(_Term(v, k, tuple(range(n, n + width))))
            n += width
    return out


def _design(terms: list[_Term], t: np.ndarray) -> np.ndarray:
    cols = []
    for term in terms:
        g, w = term.rate.real, term.rate.imag
        cols.extend(basis_function((g, w, term.k, part), t) for part in range(len(term.cols)))
    return np.stack(cols, axis=1) if cols else np.zeros((t.size, 0))


def _lstsq(A: np.ndarray, b: np.ndarray, keep: np.ndarray, G: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """min |A x - b| over the columns `keep` subject to G x = h exactly (None: G x = h is
    impossible on those columns)."""
    x = np.zeros(A.shape[1])
    idx = np.nonzero(keep)[0]
    if idx.size == 0:
        return x if not np.any(h) else None
    A_k = A[:, idx]
    if G.shape[0] == 0:
        x[idx] = np.linalg.lstsq(A_k, b, rcond=None)[0]
        return x
    G_k = G[:, idx]
    x_p = np.linalg.lstsq(G_k, h, rcond=None)[0]
    if np.max(np.abs(G_k @ x_p - h)) > 1e-10 * (np.max(np.abs(h)) + np.max(np.abs(G_k)) * np.max(np.abs(x_p))):
        return None
    Z = null_space(G_k)
    y = np.linalg.lstsq(A_k @ Z, b - A_k @ x_p, rcond=None)[0] if Z.shape[1] else np.zeros(0)
    x[idx] = x_p + Z @ y
    return x


def _quadrature_weights(t: np.ndarray) -> np.ndarray:
    """Simpson weights on a uniform grid (odd number of points), else the trapezoid rule."""
    h = t[1] - t[0]
    w = np.full(t.size, h)
    if t.size % 2 == 1:
        w[1:-1:2], w[2:-1:2] = 4.0 * h / 3.0, 2.0 * h / 3.0
        w[0] = w[-1] = h / 3.0
    else:
        w[0] = w[-1] = h / 2.0
    return w


class _Candidate:
    """Coefficients, error and cancellation of one set of (rate, multiplicity) on both channels."""

    def __init__(self, rates_m, t, samples, tc, check, scale, hold_imag_at_zero, hold_sum_rules):
        self.rates_m = rates_m
        self.terms = _terms(rates_m)
        self.A, self.B = _design(self.terms, t), _design(self.terms, tc)
        self.col_max = np.max(np.abs(self.B), axis=0) if self.B.size else np.zeros(0)
        self.samples, self.check, self.scale = samples, check, scale
        # exact constraints G x = h per channel: C^I(0); the sum rules int C^R dt, int t C^I dt
        w = _quadrature_weights(tc)
        rows = [[], []]
        if hold_imag_at_zero:
            rows[1].append((self.A[0], samples[1][0]))
        if hold_sum_rules:
            rows[0].append((w @ self.B, w @ check.real))
            rows[1].append(((w * tc) @ self.B, (w * tc) @ check.imag))
        self.G = [np.array([r for r, _ in rs]).reshape(len(rs), self.A.shape[1]) for rs in rows]
        self.h = [np.array([v for _, v in rs], dtype=float) for rs in rows]
        self.keep = [np.ones(self.A.shape[1], dtype=bool) for _ in (0, 1)]
        coef = self._solve(self.keep)
        if coef[0] is None or coef[1] is None:  # too few functions for the constraints
            self.coef, self.error = [np.zeros(self.A.shape[1])] * 2, math.inf
        else:
            self.coef, self.error = coef, self._error(coef)

    def _solve(self, keep):
        return [_lstsq(self.A, self.samples[ch], keep[ch], self.G[ch], self.h[ch]) for ch in (0, 1)]

    def _error(self, coef) -> float:
        fit = self.B @ coef[0] + 1j * (self.B @ coef[1])
        return float(np.max(np.abs(fit - self.check)) / self.scale)

    @property
    def cancellation(self) -> float:
        return float(np.sum(self.col_max * (np.abs(self.coef[0]) + np.abs(self.coef[1]))) / self.scale)

    def prune(self, tolerance: float) -> None:
        """Remove terms from single channels, smallest first, while the error stays <= tolerance.

        Only the highest kept order of a rate is removable (a chain must stay closed under d/dt),
        and only while the constraints (C^I(0), sum rules) can still be held exactly.
        """
        while True:
            cands = []
            for ch in (0, 1):
                for term in self.terms:
                    if not self.keep[ch][term.cols[0]]:
                        continue
                    if any(o.rate == term.rate and o.k > term.k and self.keep[ch][o.cols[0]] for o in self.terms):
                        continue
                    cols = list(term.cols)
                    size = float(np.sum(np.abs(self.coef[ch][cols]) * self.col_max[cols]))
                    cands.append((size, ch, term.cols))
            for _, ch, cols in sorted(cands):
                trial = [self.keep[0].copy(), self.keep[1].copy()]
                trial[ch][list(cols)] = False
                coef = self._solve(trial)
                if coef[0] is None or coef[1] is None:
                    continue  # the constraints could no longer be held
                err = self._error(coef)
                if err <= tolerance:
                    self.keep, self.coef, self.error = trial, coef, err
                    break
            else:
                return

    def used_rates(self) -> list[tuple[complex, int]]:
        """(rate, multiplicity) still used by at least one channel after pruning."""
        out = []
        for v, _ in self.rates_m:
            ks = [tm.k for tm in self.terms
                  if tm.rate == v and (self.keep[0][tm.cols[0]] or self.keep[1][tm.cols[0]])]
            if ks:
                out.append((v, max(ks) + 1))
        return out

    def channel_terms(self, ch: int) -> list[tuple[complex, np.ndarray]]:
        """The channel as complex terms (v, b): sum_k b_k t^k e^{-v t}, a pair as v and conj v."""
        out = []
        for v, _ in self.rates_m:
            mine = [tm for tm in self.terms if tm.rate == v and self.keep[ch][tm.cols[0]]]
            if not mine:
                continue
            g = v.real
            if v.imag == 0.0:
                b = np.array([self.coef[ch][tm.cols[0]] * g**tm.k / factorial(tm.k) for tm in mine], dtype=complex)
                out.append((complex(g, 0.0), b))
            else:
                # a_cos c_k + a_sin s_k = b_k t^k e^{-v t} + conj, b_k = (a_cos + i a_sin) g^k / (2 k!)
                b = np.array([complex(self.coef[ch][tm.cols[0]], self.coef[ch][tm.cols[1]]) * g**tm.k
                              / (2.0 * factorial(tm.k)) for tm in mine])
                out.extend([(complex(v), b), (complex(v).conjugate(), b.conjugate())])
        return out

    def build(self) -> BathDecomposition:
        """The decomposition the hierarchy gets: nearly equal rates whose weights cancel become
        Newton chains (decomposition.py), so their cancellation does not reach the hierarchy."""
        terms = [self.channel_terms(0), self.channel_terms(1)]
        if all(b.size == 1 for ch in terms for _, b in ch):
            return from_exponents([complex(b[0]) for _, b in terms[0]], [v for v, _ in terms[0]],
                                  [complex(b[0]) for _, b in terms[1]], [v for v, _ in terms[1]])
        return _pair_of_families(terms[0], terms[1], ("fitted C^R", "fitted C^I"), "")


def _physical_rates(z: np.ndarray, dt: float, max_rate_dt: float = 12.0) -> list[complex]:
    """Rates v = -log(z)/dt of the signal poles z, keeping only decaying, resolved, paired ones.

    A real Phi gives exact conjugate pairs; imaginary parts that are rounding noise are dropped.
    """
    out = []
    for zk in z:
        if abs(zk.imag) <= 1e-12 * abs(zk):
            if zk.real <= 0.0:
                continue  # negative real axis: an oscillation at the Nyquist frequency
            zk = complex(zk.real, 0.0)
        if not 0.0 < abs(zk) < 1.0:
            continue
        v = complex(-np.log(complex(zk)) / dt)
        if v.real * dt > max_rate_dt:
            continue  # decays within a fraction of one sample: not resolved by the grid
        out.append(complex(v.real, 0.0) if zk.imag == 0.0 else v)
    rates = np.array(out, dtype=complex)
    return [v for v in out if v.imag == 0.0 or np.any(np.abs(rates - np.conj(v)) <= 1e-9 * abs(v))]


def _clusters(rates: list[complex], rho: float) -> list[tuple[complex, int]]:
    """Single-linkage clusters of rates within relative distance rho, as (mean, size); a cluster
    that straddles the real axis becomes a real rate, one in the lower half plane is implied by its
    mirror. rho = 0: every rate on its own."""
    n = len(rates)
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if abs(rates[i] - rates[j]) <= rho * max(abs(rates[i]), abs(rates[j])):
                parent[root(i)] = root(j)
    groups: dict[int, list[complex]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(rates[i])
    out = []
    for members in groups.values():
        g = np.array(members)
        if np.all(g.imag > 0):
            out.append((complex(np.mean(g)), g.size))
        elif np.any(g.imag == 0) or (np.any(g.imag > 0) and np.any(g.imag < 0)):
            out.append((complex(np.mean(g).real, 0.0), g.size))
    return sorted(out, key=lambda vm: (vm[0].real, vm[0].imag))


def _decay_time(f: Callable, threshold: float, t_start: float = 8.0, t_cap: float = 1e5) -> float:
    """A t_max beyond which |C(t)| <= threshold * max |C| (checked on a 2001-point grid to 2 t_max)."""
    t_end = t_start
    while t_end <= t_cap:
        t = np.linspace(0.0, 2.0 * t_end, 2001)
        c = np.abs(f(t))
        scale = np.max(c)
        if scale == 0.0:
            raise ValueError("fit_decomposition: the reference C(t) is zero")
        last = t[min(np.nonzero(c > threshold * scale)[0][-1] + 1, t.size - 1)]
        if last <= t_end:
            return float(max(last, t[10]))
        t_end *= 2.0
    raise ValueError(f"fit_decomposition: C(t) does not decay below {threshold:.1e} of its maximum "
                     f"before t = {t_cap:g}: give t_max")


def fit_decomposition(reference, tolerance: float, max_terms: int = 12, t_max: float | None = None, *,
                      n_samples: int | None = None, oversample: int = 8, max_cancellation: float = 100.0,
                      hold_imag_at_zero: bool = True, hold_sum_rules: bool = True,
                      description: str = "") -> FittedDecomposition:
    """Fit C(t) with the fewest shared basis functions (<= max_terms) that reach `tolerance`.

    reference: a BathDecomposition, a vectorised callable t -> complex C(t), or a tuple (t, C) of
      samples on a uniform grid starting at t = 0;
    tolerance: the largest max_t |C_fit - C_ref| / max_t |C_ref| (> 0);
    max_terms: the largest number of shared basis functions (a conjugate pair counts 2);
    t_max: end of the fitted window; None: where |C_ref| stays below 1e-2 * tolerance of its
      maximum (callable references). The error is checked on [0, 1.5 t_max] on a grid `oversample`
      times denser than the fitted samples (for given samples: on the samples themselves);
    n_samples: number of fitted samples; None: dt <= 0.05 within 801..3201 samples;
    max_cancellation: the largest accepted kappa (module doc; for a decomposition given as
      reference at least 3 times its own kappa);
    hold_imag_at_zero: fit C^I(0) exactly, so the hierarchy's C^I(0) term keeps the reference value;
    hold_sum_rules: fit int C^R dt and int t C^I dt exactly (the spectrum at w -> 0; module doc).

    Raises ValueError naming the error reached when max_terms functions cannot reach `tolerance`.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
            math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"fit_decomposition: tolerance = {tolerance!r} must be a finite number > 0")
    if isinstance(max_terms, bool) or not isinstance(max_terms, (int, np.integer)) or max_terms < 1:
        raise ValueError(f"fit_decomposition: max_terms = {max_terms!r} must be an integer >= 1")
    ref_dec = reference if isinstance(reference, BathDecomposition) else None
    if ref_dec is not None:
        ref_desc = "the decomposition " + (ref_dec.description or "given")
        reference = lambda t: evaluate_correlation(ref_dec, t)  # noqa: E731
    else:
        ref_desc = "the given C(t)"
    if callable(reference):
        if t_max is None:
            t_max = _decay_time(reference, 1e-2 * tolerance)
        if not t_max > 0:
            raise ValueError(f"fit_decomposition: t_max = {t_max!r} must be > 0")
        n = n_samples or int(np.clip(math.ceil(t_max / 0.05) + 1, 801, 3201))
        t = np.linspace(0.0, t_max, n)
        values = np.asarray(reference(t), dtype=complex)
        t_check = 1.5 * t_max
        tc = np.linspace(0.0, t_check, int(1.5 * oversample * (n - 1)) + 1)
        check = np.asarray(reference(tc), dtype=complex)
    else:
        t, values = (np.asarray(x) for x in reference)
        t, values = t.astype(float), values.astype(complex)
        if t_max is not None:
            inside = t <= t_max * (1 + 1e-12)
            t, values = t[inside], values[inside]
        dts = np.diff(t)
        if t.ndim != 1 or t.size < 8 or t[0] != 0.0 or np.ptp(dts) > 1e-9 * dts[0]:
            raise ValueError("fit_decomposition: samples must lie on a uniform grid t_n = n dt, n = 0..N-1 "
                             "(N >= 8)")
        tc, check, t_max, t_check = t, values, float(t[-1]), float(t[-1])
        ref_desc = "the given samples"
    dt = t[1] - t[0]
    scale = float(np.max(np.abs(check)))
    if scale == 0.0:
        raise ValueError("fit_decomposition: the reference C(t) is zero")
    samples = (values.real.copy(), values.imag.copy())
    # a reference that cancels itself cannot be fitted without cancelling; allow 3 times its own
    # (exact decompositions no longer cancel near coincident poles: kappa <= ~40)
    limit = max_cancellation if ref_dec is None else max(max_cancellation, 3.0 * cancellation(ref_dec, tc))

    L = min(t.size // 2, _HANKEL_ROWS)
    hankel = [np.lib.stride_tricks.sliding_window_view(x, L).T for x in samples]  # L x (N-L+1) each
    U = np.linalg.svd(np.hstack(hankel), full_matrices=False)[0]

    best = [(math.inf, 0, math.inf), (math.inf, 0, math.inf)]  # (error, terms, kappa): accepted kappa, any
    for K in range(1, min(max_terms, U.shape[1] - 1) + 1):
        Uk = U[:, :K]
        rates = _physical_rates(np.linalg.eigvals(np.linalg.lstsq(Uk[:-1], Uk[1:], rcond=None)[0]), dt)
        if not rates:
            continue
        cands, over, seen = [], [], set()
        for rho in (0.0,) + _CLUSTER_RHOS:
            rates_m = _clusters(rates, rho)
            sig = tuple(rates_m)
            if sig in seen:
                continue
            seen.add(sig)
            c = _Candidate(rates_m, t, samples, tc, check, scale, hold_imag_at_zero, hold_sum_rules)
            c.kappa = c.cancellation
            c.n_functions = sum(m * (1 if v.imag == 0 else 2) for v, m in rates_m)
            best[1] = min(best[1], (c.error, c.n_functions, c.kappa))
            if c.kappa <= limit:
                best[0] = min(best[0], (c.error, c.n_functions, c.kappa))
                if c.error <= tolerance:
                    cands.append(c)
            elif c.error <= tolerance:
                over.append(c)
        if not cands:
            # None is conditioned as exponentials; nearly equal rates whose weights cancel are
            # built as Newton chains (decomposition.py), so judge what the hierarchy gets (kappa
            # on every 8th check point: to ~1%). This is what fits where the Bose poles crowd the
            # cutoff pole (T <~ 0.2 for the paper's J) need.
            for c in over:
                c.kappa = min(c.kappa, cancellation(c.build(), tc[::8]))
                if c.kappa <= limit:
                    best[0] = min(best[0], (c.error, c.n_functions, c.kappa))
                    cands.append(c)
        if not cands:
            continue
        # the best-conditioned candidate (kappa within 10% counts as equal, then the most accurate)
        cand = min(cands, key=lambda c: (round(math.log10(c.kappa) * 24), c.error))
        cand.prune(tolerance)
        dec = cand.build()
        kappa = cancellation(dec, tc[::8])  # of the decomposition as built
        final = float(np.max(np.abs(evaluate_correlation(dec, tc) - check)) / scale)
        if not final <= tolerance * (1 + 1e-6) + 1e-13:  # also NaN
            raise RuntimeError(f"fit_decomposition: the built decomposition's error {final:.3e} differs "
                               f"from the fit's {cand.error:.3e}")
        rates_all, mult = [], []
        for v, m in cand.used_rates():
            rates_all.extend([v] if v.imag == 0 else [v, v.conjugate()])
            mult.extend([m] if v.imag == 0 else [m, m])
        n_real = sum(m for v, m in cand.used_rates() if v.imag == 0)
        n_pair = sum(m for v, m in cand.used_rates() if v.imag != 0)
        chains = [f"{v.real:.4g}{'' if v.imag == 0 else f'+-{v.imag:.4g}i'} x{m}" for v, m in cand.used_rates()
                  if m > 1]
        desc = (f"ESPRIT fit of {ref_desc}: {n_real + 2 * n_pair} shared functions ({n_real} real-rate, "
                f"{n_pair} conjugate-pair{'; multiple rates ' + ', '.join(chains) if chains else ''}), "
                f"{dec.real.size} R + {dec.imag.size} I used, max relative error {final:.2e} <= tolerance "
                f"{tolerance:g} on [0, {t_check:.4g}], cancellation {kappa:.3g}")
        if description:
            desc = f"{desc}; {description}"
        return FittedDecomposition(dec.real, dec.imag, desc, error=final, tolerance=float(tolerance),
                                   rates=tuple(rates_all), multiplicities=tuple(mult),
                                   cancellation=kappa, t_max=float(t_max), t_check=float(t_check))
    msg = (f"fit_decomposition: tolerance {tolerance:g} not reached with max_terms = {max_terms}: the best "
           f"relative error was {best[0][0]:.2e} (with {best[0][1]} terms)")
    if best[1][0] < best[0][0]:
        msg += (f"; {best[1][0]:.2e} (with {best[1][1]} terms) only with cancelling coefficients, "
                f"cancellation {best[1][2]:.3g} > {limit:.3g}")
    raise ValueError(msg + "; raise max_terms (fit_max_terms) or the tolerance (fit_tolerance)")


# ---------------------------------------------------------------------------------------------
# A bath given by its spectral density


def reference_decomposition(J, T: float, tolerance: float, n_start: int = 20,
                            n_cap: int = 640) -> BathDecomposition:
    """Exact residues with Pade n_bose = n_start, 2 n_start, ... until doubling n_bose changes C(t)
    by <= 1e-2 * tolerance (relative max over the decay window). J: anything with .rational()."""
    rational = J.rational()
    n = n_start
    prev = exact_decomposition(rational, T, "pade", n)
    t = None
    while n < n_cap:
        n *= 2
        cur = exact_decomposition(rational, T, "pade", n)
        if t is None:
            t = np.linspace(0.0, _decay_time(lambda s: evaluate_correlation(cur, s), 1e-2 * tolerance), 2001)
        a, b = evaluate_correlation(prev, t), evaluate_correlation(cur, t)
        if np.max(np.abs(a - b)) <= 1e-2 * tolerance * np.max(np.abs(b)):
            return cur
        prev = cur
    raise ValueError(f"fit: the exact decomposition of C(t) at T = {T:g} does not converge in the number of "
                     f"Pade terms (up to {n_cap}) to 1e-2 of the tolerance {tolerance:g} (is C^R(0) finite? "
                     "Drude-Lorentz's diverges): use a larger fit tolerance or the exact decomposition")


# Where the fitted window of a quadrature reference ends: |C| <= TAIL_WINDOW * tolerance beyond.
# A power-law tail (the exponential cutoff's t^-(s+1)) followed to 1e-2 * tolerance, as for the
# exact references, costs the fit slow rates it does not need: Ohmic (s = 1) at 1e-4 took 14-29
# functions with a window to t ~ 450-940, 9-10 with this one (t ~ 140-300; docs/fit.md). Beyond
# it the reference adds at most 0.1 of the tolerance; the fit's check runs to 1.5 t_max and
# the decomposition error (accuracy.py) to where |C| < 1e-8, so a fit that has not decayed by
# then is still caught.
TAIL_WINDOW = 0.1


@lru_cache(maxsize=64)
def _fit_unit(J, T: float, tolerance: float, max_terms: int) -> FittedDecomposition:
    if hasattr(J, "rational"):
        return fit_decomposition(reference_decomposition(J, T, tolerance), tolerance, max_terms)
    ref = correlation_reference(J, T, max(1e-11, 1e-3 * tolerance))
    return fit_decomposition(ref, tolerance, max_terms, t_max=ref.tail_end(TAIL_WINDOW * tolerance),
                             description=f"reference: quadrature of {J!r} at T = {T:g}")


def fit_bath(J, T: float, tolerance: float, max_terms: int = 12) -> FittedDecomposition:
    """Fitted decomposition of the C(t) of spectral density J at temperature T.

    J: a density with an `alpha` field: with `.rational()` (RationalCutoff, Underdamped) the
    reference is the converged exact decomposition, otherwise (ExponentialCutoff, Tabulated)
    quadrature of C(t) (reference.py) with the window ending where |C| <= TAIL_WINDOW * tolerance.
    C is linear in alpha: the fit is made (and cached) at alpha = 1 and scaled, so a sweep over
    alpha fits once and alpha = 0 is allowed.
    """
    alpha = float(J.alpha)
    return _fit_unit(dataclasses.replace(J, alpha=1.0), float(T), float(tolerance), int(max_terms)).scaled(alpha)
