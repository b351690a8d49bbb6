"""C(t) of any spectral density by quadrature, as a cheap callable: the fit's reference for
densities without a finite residue decomposition (the exponential cutoff, tables; docs/fit.md).

The fit samples C(t) at up to 3,201 times and checks itself at 8 times as many, out to where
|C| has fallen below 0.1 of its tolerance (fit.TAIL_WINDOW), which for a power-law tail
(t^-(s+1) for the exponential cutoff) is t ~ 40-300 (docs/fit.md). Quadrature costs 0.1-5 ms
per time, so ``CorrelationReference`` computes it (``quadrature.correlation_quadrature``) only
at Chebyshev points of pieces of the time axis and interpolates between them:

- the axis is cut into [0, t_0], [t_0, 2 t_0], [2 t_0, 4 t_0], ... (t_0 = 4/frequency_scale),
  built lazily as far as anyone evaluates: the pieces double because the tail varies on the scale
  of t itself (a power law, and exponentials whose rates are at least the tail's);
- a piece is accepted when the interpolant through 17 Chebyshev-Lobatto points reproduces the
  quadrature at the 16 points in between (33 points) to ``rtol`` of max|C| = C^R(0)
  (|C(t)| <= C^R(0) for any J >= 0, since coth >= 1); the 33-point interpolant is kept, and
  otherwise the piece is halved. rtol is 1e-11 by default and 1e-3 of the tolerance for a fit
  (it needs no more). C(t) of the exponential cutoff is analytic in the strip |Im t| < 1/omega_c,
  so the pieces converge geometrically (14-18 pieces to t = 4,000 at 1e-11, ~1-2 s); a table's
  C(t) carries a ripple at the level of its interpolation error (tabulated.py), which the
  pieces resolve where it exceeds rtol;
- ``error_estimate`` is the largest such difference: an upper bound in practice for the 33-point
  interpolant, which converges at twice the rate;
- ``tail_end(threshold)``, where |C| stays below threshold * max|C|, samples C by quadrature at
  65 geometric points per doubling (1% apart) without building pieces there.

One reference per (J at alpha = 1, T, rtol), cached (``correlation_reference``): C is linear in
alpha.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .quadrature import correlation_quadrature

_N = 32                  # Chebyshev-Lobatto points per piece: _N + 1, checked against _N/2 + 1
_RTOL = 1e-11            # accepted difference, relative to max|C| = C^R(0)
_MIN_PIECE = 1e-3        # in units of 1/frequency_scale: a piece this short is accepted as it is
_MAX_PIECES = 4000
_TAIL_SAMPLES = 65       # quadratures per segment [a, 2a] where tail_end looks for the decay
_TAIL_CAP = 1e7          # in units of 1/frequency_scale: no tail is followed further

_X = np.cos(np.pi * np.arange(_N + 1) / _N)[::-1]        # -1 .. 1
_W_FULL = np.array([(-1.0) ** j * (0.5 if j in (0, _N) else 1.0) for j in range(_N + 1)])
_W_HALF = np.array([(-1.0) ** j * (0.5 if j in (0, _N // 2) else 1.0) for j in range(_N // 2 + 1)])


def _barycentric(x_nodes: np.ndarray, weights: np.ndarray, values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The polynomial through (x_nodes, values) at x (second barycentric form; exact at nodes)."""
    diff = x[:, None] - x_nodes[None, :]
    exact = diff == 0.0
    diff[exact] = 1.0
    q = weights[None, :] / diff
    out = (q @ values) / q.sum(axis=1)
    hit = exact.any(axis=1)
    if np.any(hit):
        out[hit] = values[np.argmax(exact[hit], axis=1)]
    return out


class CorrelationReference:
    """C(t) of the spectral density J at temperature T (module doc); call it with times >= 0."""

    def __init__(self, J, T: float, rtol: float = _RTOL):
        self.J, self.T, self.rtol = J, float(T), float(rtol)
        scale = float(getattr(J, "frequency_scale", 1.0))
        self.scale_frequency = scale
        self.t_0 = 4.0 / scale
        self.min_piece = _MIN_PIECE / scale
        c0, _ = correlation_quadrature(J, self.T, [0.0])
        self.scale = float(abs(c0[0]))
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"C(0) = {c0[0]} of {J!r} at T = {T:g}: a reference needs a finite C(0) > 0")
        self.starts: list[float] = []
        self.pieces: list[tuple[float, float, np.ndarray]] = []   # (a, b, values at the 33 points)
        self.end = 0.0
        self.error_estimate = 0.0
        self.n_quadratures = 1
        self._segments: list[tuple[np.ndarray, np.ndarray]] = []    # (times, |C|) sampled on [a, 2a]

    def _add_piece(self, a: float, b: float) -> None:
        stack = [(a, b)]
        while stack:
            lo, hi = stack.pop()
            t = lo + (hi - lo) * (_X + 1.0) / 2.0
            c, _ = correlation_quadrature(self.J, self.T, t)
            self.n_quadratures += t.size
            coarse = _barycentric(_X[::2], _W_HALF, c[::2], _X[1::2])
            diff = float(np.max(np.abs(coarse - c[1::2])))
            if diff > self.rtol * self.scale and hi - lo > self.min_piece and len(self.pieces) < _MAX_PIECES:
                mid = 0.5 * (lo + hi)
                stack += [(mid, hi), (lo, mid)]   # lo first off the stack: pieces stay in order
                continue
            self.error_estimate = max(self.error_estimate, diff / self.scale)
            self.starts.append(lo)
            self.pieces.append((lo, hi, c))

    def extend(self, t_end: float) -> None:
        """Build the pieces up to at least t_end."""
        while self.end < t_end:
            a = self.end
            b = self._segment_end(a)
            self._add_piece(a, b)
            self.end = b

    def _segment_end(self, a: float) -> float:
        return self.t_0 if a == 0.0 else 2.0 * a

    def __call__(self, t) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if t.size == 0:
            return np.zeros(0, dtype=complex)
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise ValueError("CorrelationReference: times must be finite and >= 0")
        self.extend(float(np.max(t)))
        which = np.searchsorted(np.array(self.starts), t, side="right") - 1
        out = np.empty(t.size, dtype=complex)
        for k in np.unique(which):
            a, b, c = self.pieces[k]
            sel = which == k
            out[sel] = _barycentric(_X, _W_FULL, c, 2.0 * (t[sel] - a) / (b - a) - 1.0)
        return out

    def tail_end(self, threshold: float) -> float:
        """The time after the last one at which |C| > threshold * max|C|, checked to the end of
        the two segments [a, 2a] after it (a power-law or exponential tail falls monotonically
        from there on; a table's ripple, docs/model.md s1, is followed until it is below the
        threshold too). Sampled by quadrature at _TAIL_SAMPLES geometric points per segment
        (1% apart), without building the interpolant there."""
        limit = threshold * self.scale
        k = 0
        while True:
            while len(self._segments) < k + 3:
                a = self._segments[-1][0][-1] if self._segments else 0.0
                b = self._segment_end(a)
                t = np.geomspace(max(a, 1e-3 * b), b, _TAIL_SAMPLES)
                c, _ = correlation_quadrature(self.J, self.T, t)
                self.n_quadratures += t.size
                self._segments.append((t, np.abs(c)))
                if b > _TAIL_CAP / self.scale_frequency:
                    raise ValueError(f"C(t) of {self.J!r} at T = {self.T:g} does not fall below "
                                     f"{threshold:.1e} of its maximum before t = {b:.3g}")
            if all(np.max(c) <= limit for _, c in self._segments[k + 1: k + 3]):
                t, c = self._segments[k]
                above = np.nonzero(c > limit)[0]
                return float(t[min(above[-1] + 1, t.size - 1)]) if above.size else float(t[0])
            k += 1


@lru_cache(maxsize=64)
def correlation_reference(J_unit, T: float, rtol: float = _RTOL) -> CorrelationReference:
    """The cached reference of J at alpha = 1 (``accuracy._unit_density``) and temperature T, its
    pieces accurate to rtol of max|C| (the fit asks for 1e-3 of its tolerance)."""
    return CorrelationReference(J_unit, float(T), float(rtol))
