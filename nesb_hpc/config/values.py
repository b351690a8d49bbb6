"""Value parsers: each is called as ``parser(value, key)``, returns the canonical value or raises
:class:`InputError` naming the key, and accepts its own output (dataclass construction
re-validates). ``allowed`` is the noun phrase used in messages and in ``--help``; ``type_name``
is shown in ``--help``. Also the physical ranges every number is held to."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from .errors import InputError, fmt, fmt_bound, quoted, value_error

# Physical ranges. The bounds are far outside the model's physics (omega_c = 1 is the bath's own
# scale) but keep every later step finite: beyond them sizes, Bose expansions or PETSc overflow.
MAX_ENERGY = 1e3          # delta, cutoffs, widths [omega_c]
MAX_COUPLING = 1e3        # alpha [dimensionless]; the paper goes to alpha = 4-10
MIN_TEMPERATURE = 1e-4    # [omega_c]; below, Bose poles crowd to w = 0 faster than terms resolve them
MAX_TEMPERATURE = 1e4     # [omega_c]
MAX_BOSE_TERMS = 200      # each term is a hierarchy mode per bath
MAX_DEPTH = 200           # --dry-run and the memory check refuse far smaller hierarchies anyway
MAX_SWEEP_VALUES = 100_000
MAX_STUDY_POINTS = 1_000_000


def finite(value: Any, key: str, allowed: str) -> float:
    """A real number (int or float, not bool) as a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise value_error(key, value, f"must be {allowed}", allowed)
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise value_error(key, value, f"is not finite: allowed is {allowed}", allowed)
    return x


def in_range(x: float, lo, lo_open, hi, hi_open) -> bool:
    if lo is not None and (x < lo or (lo_open and x == lo)):
        return False
    if hi is not None and (x > hi or (hi_open and x == hi)):
        return False
    return True


def interval_text(lo_text, lo_open, hi_text, hi_open) -> str:
    return f"{'(' if lo_open else '['}{lo_text}, {hi_text}{')' if hi_open else ']'}"


@dataclass(frozen=True)
class Number:
    lo: float | None = None
    lo_open: bool = False
    hi: float | None = None
    hi_open: bool = False
    type_name: ClassVar[str] = "float"

    @property
    def allowed(self) -> str:
        if self.lo is not None and self.hi is not None:
            bounds = interval_text(fmt_bound(self.lo), self.lo_open, fmt_bound(self.hi), self.hi_open)
            return f"a number in {bounds}"
        if self.lo is not None:
            return f"a number {'>' if self.lo_open else '>='} {fmt_bound(self.lo)}"
        return "a number"

    def __call__(self, value, key):
        x = finite(value, key, self.allowed)
        if not in_range(x, self.lo, self.lo_open, self.hi, self.hi_open):
            raise value_error(key, value, f"is out of range: allowed is {self.allowed}", self.allowed)
        return x


@dataclass(frozen=True)
class Integer:
    lo: int = 0
    odd: bool = False
    hi: int | None = None
    type_name: ClassVar[str] = "int"

    @property
    def allowed(self) -> str:
        kind = f"an {'odd ' if self.odd else ''}integer"
        return f"{kind} >= {self.lo}" if self.hi is None else f"{kind} in [{self.lo}, {self.hi}]"

    def __call__(self, value, key):
        if isinstance(value, bool) or not isinstance(value, int):
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        if value < self.lo or (self.hi is not None and value > self.hi):
            raise value_error(key, value, f"is out of range: allowed is {self.allowed}", self.allowed)
        if self.odd and value % 2 == 0:
            raise value_error(key, value, f"is not allowed: allowed is {self.allowed}", self.allowed)
        return int(value)


ANGLE_FORMS = 'a number (radians) or a string such as "pi/4", "0.25pi", "3*pi/8", "-pi/2"'
# One token at a time, whitespace skipped between tokens: linear in the length of the text (the
# former single regular expression with adjacent optional blanks backtracked polynomially).
_ANGLE_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)|(?P<pi>pi|π)"
                          r"|(?P<op>[-+*/]))", re.IGNORECASE)
_ANGLE_MAX_CHARS = 200


def _angle_tokens(text: str) -> list[tuple[str, str]] | None:
    """[(kind, text)] with kind "num", "pi" or "op"; None if something else is in the text."""
    out, pos, end = [], 0, len(text.rstrip())
    while pos < end:
        m = _ANGLE_TOKEN.match(text, pos)
        if not m:
            return None
        kind = m.lastgroup
        out.append((kind, m[kind]))
        pos = m.end()
    return out


def _angle_value(tokens: list[tuple[str, str]]) -> float | None:
    """The grammar [sign] [coef [*]] [pi] [/ den], where a bare number is allowed only alone
    ("1/4" is ambiguous: pi/4 meant?); None if the tokens do not fit it."""
    i, sign = 0, 1.0
    if i < len(tokens) and tokens[i] in (("op", "+"), ("op", "-")):
        sign = -1.0 if tokens[i][1] == "-" else 1.0
        i += 1
    coef = None
    if i < len(tokens) and tokens[i][0] == "num":
        coef = float(tokens[i][1])
        i += 1
    star = i < len(tokens) and tokens[i] == ("op", "*")
    i += star
    has_pi = i < len(tokens) and tokens[i][0] == "pi"
    i += has_pi
    den = None
    if i + 1 < len(tokens) and tokens[i] == ("op", "/") and tokens[i + 1][0] == "num":
        den = float(tokens[i + 1][1])
        i += 2
    if i != len(tokens) or (star and not (coef is not None and has_pi)):
        return None
    if not has_pi and (coef is None or den is not None):
        return None
    x = (coef if coef is not None else 1.0) * (math.pi if has_pi else 1.0)
    if den is not None:
        x = x / den if den != 0.0 else math.nan
    return sign * x


def parse_angle(value: Any, key: str) -> float:
    """An angle in radians from a number or a string ``[sign][coef][*]pi[/den]``.

    Accepted strings: "pi", "-pi/2", "pi/4", "0.25pi", "0.25*pi", "3*pi/8", "3pi/4" (also "π"),
    and plain numbers such as "0.5". Tokenised and parsed in linear time, never evaluated. No
    range check here; raises :class:`InputError` (naming ``key``) for anything else.
    """
    if isinstance(value, str):
        tokens = _angle_tokens(value) if len(value) <= _ANGLE_MAX_CHARS else None
        x = _angle_value(tokens) if tokens else None
        if x is not None and math.isnan(x):
            raise value_error(key, value, f"divides by zero: allowed is {ANGLE_FORMS}", ANGLE_FORMS)
        if x is not None and not math.isfinite(x):
            raise value_error(key, value, f"is not finite: allowed is {ANGLE_FORMS}", ANGLE_FORMS)
        if x is not None:
            return x
        raise value_error(key, value, f"is not an angle: allowed is {ANGLE_FORMS}", ANGLE_FORMS)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise value_error(key, value, f"must be an angle: {ANGLE_FORMS}", ANGLE_FORMS)
    return finite(value, key, ANGLE_FORMS)


@dataclass(frozen=True)
class Angle:
    hi: float
    hi_text: str
    hi_open: bool = False
    type_name: ClassVar[str] = "angle"

    @property
    def allowed(self) -> str:
        return (f"an angle in {interval_text('0', False, self.hi_text, self.hi_open)} "
                '(radians; a number or a string such as "pi/4")')

    def __call__(self, value, key):
        x = parse_angle(value, key)
        if not in_range(x, 0.0, False, self.hi, self.hi_open):
            raise value_error(key, value, f"is out of range: allowed is {self.allowed}", self.allowed)
        return x


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]
    type_name: ClassVar[str] = "string"

    @property
    def allowed(self) -> str:
        return f"one of {quoted(self.options)}"

    def __call__(self, value, key):
        if not isinstance(value, str):
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        if value not in self.options:
            raise value_error(key, value, f"is not allowed: choose {self.allowed}", self.allowed)
        return value


@dataclass(frozen=True)
class Bool:
    type_name: ClassVar[str] = "bool"
    allowed: ClassVar[str] = "true or false"

    def __call__(self, value, key):
        if not isinstance(value, bool):
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        return value


@dataclass(frozen=True)
class HDF5Path:
    type_name: ClassVar[str] = "string"
    allowed: ClassVar[str] = "a file name ending in .h5 or .hdf5"

    def __call__(self, value, key):
        usable_path(value, key, self.allowed)
        if not value.lower().endswith((".h5", ".hdf5")):
            raise value_error(key, value, f"is not allowed: allowed is {self.allowed}", self.allowed)
        return value


@dataclass(frozen=True)
class ComplexList:
    """A list of real numbers or [re, im] pairs -> tuple of complex (optionally Re > 0)."""

    positive_real: bool = False
    max_abs: float = 1e12       # |re|, |im| bound: finite, and far from overflow in the hierarchy
    max_entries: int = 1000
    type_name: ClassVar[str] = "list"

    @property
    def allowed(self) -> str:
        tail = " with re > 0" if self.positive_real else ""
        return (f"a list of at most {self.max_entries} numbers or [re, im] pairs{tail}, "
                f"|re| and |im| <= {fmt_bound(self.max_abs)}")

    def _entry(self, entry, i, value, key) -> complex:
        if isinstance(entry, complex):
            parts = [entry.real, entry.imag]
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            parts = list(entry)
        else:
            parts = [entry, 0.0]
        for p in parts:
            if isinstance(p, bool) or not isinstance(p, (int, float)):
                raise value_error(key, value,
                             f"must be {self.allowed} (entry {i} = {fmt(entry)} is not)",
                             self.allowed)
            if not math.isfinite(p):
                raise value_error(key, value, f"has a non-finite entry {i} = {fmt(entry)}: allowed is "
                             f"{self.allowed} of finite numbers", self.allowed)
            if abs(p) > self.max_abs:
                raise value_error(key, value, f"is out of range (entry {i} = {fmt(entry)}): allowed is "
                             f"{self.allowed}", self.allowed)
        z = complex(float(parts[0]), float(parts[1]))
        if self.positive_real and not z.real > 0:
            raise value_error(key, value, f"is out of range (entry {i} = {fmt(entry)}): allowed is "
                         f"{self.allowed}", self.allowed)
        return z

    def __call__(self, value, key):
        if not isinstance(value, (list, tuple)) or len(value) > self.max_entries:
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        return tuple(self._entry(e, i, value, key) for i, e in enumerate(value, start=1))


@dataclass(frozen=True)
class AutoOr:
    """The string "auto" or a value of the inner parser."""

    inner: Callable

    @property
    def type_name(self) -> str:
        return f'"auto"|{self.inner.type_name}'

    @property
    def allowed(self) -> str:
        return f'"auto" or {self.inner.allowed}'

    def __call__(self, value, key):
        if value == "auto":
            return "auto"
        if isinstance(value, str):
            raise value_error(key, value, f"is not allowed: allowed is {self.allowed}", self.allowed)
        try:
            return self.inner(value, key)
        except InputError:
            raise value_error(key, value, f"must be {self.allowed}", self.allowed) from None


@dataclass(frozen=True)
class NameList:
    """A list of distinct names from a fixed set -> tuple (in the order given)."""

    options: tuple[str, ...]
    type_name: ClassVar[str] = "list"

    @property
    def allowed(self) -> str:
        return f"a list of distinct names from {quoted(self.options)}"

    def __call__(self, value, key):
        if not isinstance(value, (list, tuple)):
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        for entry in value:
            if entry not in self.options:
                raise value_error(key, value, f"has an unknown name {fmt(entry)}: allowed is "
                             f"{self.allowed}", self.allowed)
        if len(set(value)) != len(value):
            raise value_error(key, value, f"repeats a name: allowed is {self.allowed}", self.allowed)
        return tuple(value)


@dataclass(frozen=True)
class Ladder:
    """A list of integers >= lo, non-decreasing, at least two -> tuple (a ladder may repeat a
    depth while n_bose grows: that is checked with n_bose)."""

    lo: int = 1
    hi: int = MAX_DEPTH
    type_name: ClassVar[str] = "list"

    @property
    def allowed(self) -> str:
        return f"a non-decreasing list of at least two integers in [{self.lo}, {self.hi}]"

    def __call__(self, value, key):
        if (not isinstance(value, (list, tuple)) or not 2 <= len(value) <= 1000
                or any(isinstance(v, bool) or not isinstance(v, int) or not self.lo <= v <= self.hi
                       for v in value)):
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        if any(b < a for a, b in zip(value, value[1:])):
            raise value_error(key, value, f"decreases: allowed is {self.allowed}", self.allowed)
        return tuple(int(v) for v in value)


@dataclass(frozen=True)
class IntOrList:
    """An integer >= lo, or a non-empty list of them -> int or tuple."""

    lo: int = 0
    hi: int = MAX_BOSE_TERMS
    type_name: ClassVar[str] = "int|list"

    @property
    def allowed(self) -> str:
        return f"an integer in [{self.lo}, {self.hi}] or a list of them"

    def __call__(self, value, key):
        def ok(v):
            return not isinstance(v, bool) and isinstance(v, int) and self.lo <= v <= self.hi

        if ok(value):
            return int(value)
        if isinstance(value, (list, tuple)) and value and all(ok(v) for v in value):
            return tuple(int(v) for v in value)
        raise value_error(key, value, f"must be {self.allowed}", self.allowed)


@dataclass(frozen=True)
class AngleInterval:
    """[lo, hi] angles in [0, pi] with lo < hi -> tuple of two floats."""

    type_name: ClassVar[str] = "list"
    allowed: ClassVar[str] = 'two angles [lo, hi] in [0, pi] with lo < hi (e.g. [0, "pi/2"])'

    def __call__(self, value, key):
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        lo, hi = (ANGLE_PI(v, key) for v in value)
        if not lo < hi:
            raise value_error(key, value, f"is empty: allowed is {self.allowed}", self.allowed)
        return (lo, hi)


COUPLING = Number(lo=0.0, hi=MAX_COUPLING)
TEMPERATURE = Number(lo=MIN_TEMPERATURE, hi=MAX_TEMPERATURE)
ENERGY = Number(lo=0.0, lo_open=True, hi=MAX_ENERGY)


ANGLE_PI = Angle(math.pi, "pi")
ANGLE_2PI = Angle(2 * math.pi, "2pi", hi_open=True)


@dataclass(frozen=True)
class Exponent:
    """A real number in (0, hi]: an int stays an int (s = 3 is written back as 3), else a float."""

    hi: float = 99.0
    type_name: ClassVar[str] = "number"

    @property
    def allowed(self) -> str:
        return f"a number in (0, {fmt_bound(self.hi)}]"

    def __call__(self, value, key):
        x = finite(value, key, self.allowed)
        if not in_range(x, 0.0, True, self.hi, False):
            raise value_error(key, value, f"is out of range: allowed is {self.allowed}", self.allowed)
        return int(value) if isinstance(value, int) else x


@dataclass(frozen=True)
class FilePath:
    """The path of an input data file (read and checked where it is used, not here)."""

    type_name: ClassVar[str] = "string"
    allowed: ClassVar[str] = "a file name (relative to the working directory)"

    def __call__(self, value, key):
        return usable_path(value, key, self.allowed)


def usable_path(value, key: str, allowed: str) -> str:
    """value if it is a non-blank string a file system can take (no NUL, at most 4096 characters)."""
    if not isinstance(value, str) or not value.strip():
        raise value_error(key, value, f"must be {allowed}", allowed)
    if "\x00" in value or len(value) > 4096:
        allowed = f"{allowed}, without NUL characters and at most 4096 characters"
        raise value_error(key, value, f"is not a usable path: allowed is {allowed}", allowed)
    return value


@dataclass(frozen=True)
class Unset:
    """A key that may be left out (None: not given); a given value goes to the inner parser."""

    inner: Callable

    @property
    def type_name(self) -> str:
        return self.inner.type_name

    @property
    def allowed(self) -> str:
        return self.inner.allowed

    def __call__(self, value, key):
        return None if value is None else self.inner(value, key)
