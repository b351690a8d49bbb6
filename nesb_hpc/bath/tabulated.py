"""A spectral density given as a table ([bath] spectral_density = "tabulated", key ``file``).

The file is text with two columns, w and J(w), at alpha = 1 in the convention of docs/model.md s1
(C(t) = (1/pi) Int_0^inf J(w) [coth(w/2T) cos wt - i sin wt] dw; w and J in units of omega_c):
one row per line, the columns separated by blanks, tabs or a comma, '#' starting a comment. It
must start at w = 0 with J(0) = 0, w must increase strictly and J must not be negative
(``read_table`` says which line breaks which rule). The bath's alpha multiplies J.

Between the rows J is the monotone piecewise-cubic Hermite interpolant (PCHIP, Fritsch and
Carlson, SIAM J. Numer. Anal. 17, 238 (1980); scipy's PchipInterpolator):

- it never leaves the range of its two neighbouring rows, so J >= 0 holds everywhere (a negative
  J would be a bath that gives energy at every temperature) and no overshoot appears next to a
  sharp peak or where J falls to zero (a cubic spline does both);
- it is C^1, so C(t) has no 1/t^2 ripple from kinks (linear interpolation has one per row);
- it is third-order accurate where J is smooth. The paper's J tabulated every h = 0.05 / 0.02 /
  0.01 omega_c up to 40 omega_c gives C(t) within 2.5e-4 / 1.8e-5 / 2.3e-6 of max|C| at T = 1
  (4.7e-6 at h = 0.02, T = 0.1). Linear interpolation is second order (4.4e-4 at h = 0.02);
  a cubic spline is fourth order (7e-7) but dips below zero next to w = 0 (-4.5e-8) and
  overshoots at steep edges; Akima is between (4e-5) and dips too. Tabulate more densely rather
  than give up positivity (tests/test_bath_densities.py checks the h = 0.02 table).

Beyond the last row J = 0. If J has not fallen to zero there, the step adds a tail
~ J(w_max) sin(w_max t)/(pi t) to C(t) that the fit must follow: tabulate until J has decayed.
At w -> 0, J(w)/w tends to the interpolant's slope at w = 0, which PCHIP takes from the first
two intervals (close to 0, not exactly 0, for a super-Ohmic table: tabulate densely there).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.integrate import trapezoid  # np.trapz is gone in numpy 2.4, np.trapezoid new in 2.0
from scipy.interpolate import PchipInterpolator

MAX_ROWS = 1_000_000
MAX_FREQUENCY = 1e4      # [omega_c]: the range every other frequency of the input is held to, tenfold
FORMAT = ("a text file of two columns w and J(w) (alpha = 1, units of omega_c; blanks, tabs or a "
          "comma between them, '#' for comments) from w = 0 with J(0) = 0, strictly increasing w, "
          "J >= 0, at least 3 rows")
_SPLIT = re.compile(r"[\s,]+")


class TableError(ValueError):
    """A table that cannot be used; the message says where and why (the input layer adds the key)."""


def read_table(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(w, J) from the file at ``path`` (module doc), checked. Raises TableError."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise TableError(f"does not exist (relative paths start from the working directory "
                         f"{os.getcwd()})") from None
    except IsADirectoryError:
        raise TableError("is a directory") from None
    except UnicodeDecodeError as exc:
        raise TableError(f"is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise TableError(f"cannot be read ({exc.strerror})") from None
    rows, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        fields = [f for f in _SPLIT.split(content) if f]
        if len(fields) != 2:
            raise TableError(f"line {number} has {len(fields)} columns ({line.strip()!r}): two are needed, w and J(w)")
        try:
            w, j = float(fields[0]), float(fields[1])
        except ValueError:
            raise TableError(f"line {number} is not two numbers ({line.strip()!r})") from None
        if not (math.isfinite(w) and math.isfinite(j)):
            raise TableError(f"line {number} has a value that is not finite ({line.strip()!r})")
        rows.append((w, j))
        lines.append(number)
        if len(rows) > MAX_ROWS:
            raise TableError(f"has more than {MAX_ROWS:,} rows")
    if len(rows) < 3:
        raise TableError(f"has {len(rows)} rows of data: at least 3 are needed")
    w, j = (np.array(c) for c in zip(*rows))
    if w[0] != 0.0:
        raise TableError(f"starts at w = {w[0]:g} (line {lines[0]}): the table must start at w = 0")
    if j[0] != 0.0:
        raise TableError(f"has J(0) = {j[0]:g} (line {lines[0]}): J(0) must be 0 (J is odd in w; a finite "
                         "J(0) makes C^R(t) infinite)")
    bad = np.nonzero(np.diff(w) <= 0)[0]
    if bad.size:
        k = int(bad[0]) + 1
        raise TableError(f"has w = {w[k]:g} at line {lines[k]} after w = {w[k - 1]:g} at line {lines[k - 1]}: "
                         "w must increase strictly")
    if w[-1] > MAX_FREQUENCY:
        raise TableError(f"reaches w = {w[-1]:g} (line {lines[-1]}): at most {MAX_FREQUENCY:g} omega_c")
    neg = np.nonzero(j < 0)[0]
    if neg.size:
        k = int(neg[0])
        raise TableError(f"has J = {j[k]:g} < 0 at w = {w[k]:g} (line {lines[k]}): J must not be negative")
    if not np.any(j > 0):
        raise TableError("has J = 0 everywhere: the bath would not couple (use alpha = 0 for that)")
    return w, j


_TABLES: dict[tuple, tuple[np.ndarray, np.ndarray, str]] = {}


def load_table(path: str) -> tuple[np.ndarray, np.ndarray, str]:
    """read_table(path) and the digest of its values, cached per (path, size, modification time)."""
    try:
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _TABLES:
        return _TABLES[key]
    w, j = read_table(path)
    digest = hashlib.sha256(w.tobytes() + j.tobytes()).hexdigest()[:16]
    if key is not None:
        _TABLES[key] = (w, j, digest)
    return w, j, digest


@dataclass(frozen=True)
class Tabulated:
    """J(w) = alpha * the table's J at |w|, PCHIP between rows, 0 beyond the last (module doc).

    Compared and hashed by alpha and the digest of the values (caches key on them), not by the
    arrays or the file name. ``tabulated_density`` builds one from a file."""

    alpha: float
    w: np.ndarray = field(repr=False, compare=False)
    j: np.ndarray = field(repr=False, compare=False)
    digest: str = ""
    source: str = field(default="", compare=False)

    @cached_property
    def _interpolant(self) -> PchipInterpolator:
        return PchipInterpolator(np.asarray(self.w, float), np.asarray(self.j, float), extrapolate=False)

    def __call__(self, w):
        if isinstance(w, float):  # quadrature calls with one float at a time: the cubic by hand
            a = abs(w)
            if a >= self.support:
                return self.alpha * float(self.j[-1]) if a == self.support else 0.0
            c, x = self._interpolant.c, self._interpolant.x
            k = min(bisect.bisect_right(self._nodes, a) - 1, c.shape[1] - 1)
            h = a - x[k]
            return math.copysign(self.alpha * (((c[0, k] * h + c[1, k]) * h + c[2, k]) * h + c[3, k]), w) if w else 0.0
        w = np.asarray(w, dtype=float)
        a = np.abs(w)
        inside = np.nan_to_num(self._interpolant(np.minimum(a, self.support)))
        return np.sign(w) * self.alpha * np.where(a <= self.support, inside, 0.0)

    @cached_property
    def _nodes(self) -> list:
        return [float(x) for x in self.w]

    @property
    def support(self) -> float:
        """J = 0 beyond the last row."""
        return float(self.w[-1])

    @cached_property
    def frequency_scale(self) -> float:
        """The mean frequency Int w J dw / Int J dw (trapezoid rule on the rows)."""
        w, j = np.asarray(self.w), np.asarray(self.j)
        return float(trapezoid(w * j, w) / trapezoid(j, w))


def tabulated_density(alpha: float, path: str) -> Tabulated:
    """The density of the table in the file at ``path`` (module doc) times alpha."""
    w, j, digest = load_table(path)
    return Tabulated(float(alpha), w, j, digest, os.path.basename(path))
