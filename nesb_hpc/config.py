"""Typed, validated input: the TOML input file as frozen dataclasses, one per table.

    [model]  [bath] (+ [bath.bath1], [bath.bath2])  [hierarchy]  [solver]  [study]  [output]

Every field carries its meaning, units and allowed values as ``dataclasses.field`` metadata,
together with the parser that enforces them; validation and the ``--help`` key reference
(:func:`key_reference`) are generated from that one place. Conversion happens here, at the
boundary: the rest of the package sees floats, ints, tuples of complex and checked names, never
raw TOML. Unknown tables and keys are errors, and every error is a single :class:`InputError`
naming the key, the offending value and what is allowed.

Units (physics.md section 1): hbar = k_B = 1, energies, temperatures and rates in units of the
bath cutoff omega_c = 1, angles in radians.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import textwrap
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from .liouvillian import MODE_FORMS  # the hierarchy forms the numerics implement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = [
    "InputError",
    "RunConfig",
    "ModelConfig",
    "BathConfig",
    "ExponentsConfig",
    "HierarchyConfig",
    "SolverConfig",
    "StudyConfig",
    "OutputConfig",
    "TABLES",
    "SPECTRAL_DENSITIES",
    "DECOMPOSITIONS",
    "TRUNCATIONS",
    "SOLVER_METHODS",
    "MATRIX_TYPES",
    "STUDY_KINDS",
    "STUDY_PARAMS",
    "load_config",
    "parse_config",
    "default_config_path",
    "key_reference",
    "parse_angle",
    "flatten_petsc_options",
]

TABLES = ("model", "bath", "hierarchy", "solver", "study", "output")
SPECTRAL_DENSITIES = ("rational", "drude_lorentz", "underdamped", "exponents")
DECOMPOSITIONS = ("pade", "matsubara")
TRUNCATIONS = ("total",)
SOLVER_METHODS = ("direct", "iterative", "slepc", "auto")
MATRIX_TYPES = ("aij", "baij")
STUDY_KINDS = ("point", "sweep", "optimize_theta", "rectification", "convergence")
# Extension point for new study kinds: kind -> {parameter key: parser(value, key) -> value}.
# Parsers raise InputError, return hashable values and must accept their own output. Filled in
# the [study] section below (each key is documented once, in _STUDY_KEYS); defaults of keys not
# given come from StudyConfig.get.
STUDY_PARAMS: dict[str, dict[str, Callable[[Any, str], Any]]] = {}


class InputError(ValueError):
    """An invalid input, reported as one message naming the key, the value and what is allowed.

    Attributes: ``key`` (dotted, e.g. ``"model.theta"``; the file path when the file itself
    cannot be read or parsed), ``value`` (the offending value as given), ``allowed`` (text
    describing the allowed values) and ``source`` (the input file, if known).
    ``str(error)`` is the full message.
    """

    def __init__(self, message: str, *, key: str = "", value: Any = None, allowed: str = "",
                 source: str = ""):
        self.message = message
        self.key = key
        self.value = value
        self.allowed = allowed
        self.source = source
        super().__init__(f"{message} (in {source})" if source else message)


# ----------------------------------------------------------------------------- messages


def _fmt(value: Any, limit: int = 120) -> str:
    """A value as it would be written in TOML, for messages."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else str(value)
    elif isinstance(value, complex):
        text = _fmt(value.real) if value.imag == 0 else f"[{_fmt(value.real)}, {_fmt(value.imag)}]"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_fmt(v) for v in value) + "]"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k} = {_fmt(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(x: float) -> str:
    """A bound for messages: 0 rather than 0.0."""
    return f"{x:g}"


def _where(key: str) -> str:
    """'model.theta' -> '[model] theta'; a top-level key stays bare."""
    table, _, name = key.rpartition(".")
    return f"[{table}] {name}" if table else name


def _error(key: str, value: Any, problem: str, allowed: str) -> InputError:
    return InputError(f"input error: {_where(key)} = {_fmt(value)} {problem}",
                      key=key, value=value, allowed=allowed)


def _names(options) -> str:
    return ", ".join(f'"{o}"' for o in options)


def _did_you_mean(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


# ----------------------------------------------------------------------------- value parsers
# Each parser is called as parser(value, key), returns the canonical value or raises InputError,
# and accepts its own output (dataclass construction re-validates). ``allowed`` is a noun phrase
# used in messages and in the key reference; ``type_name`` is shown in the key reference.


def _finite(value: Any, key: str, allowed: str) -> float:
    """A real number (int or float, not bool) as a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(key, value, f"must be {allowed}", allowed)
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise _error(key, value, f"is not finite: allowed is {allowed}", allowed)
    return x


def _in_range(x: float, lo, lo_open, hi, hi_open) -> bool:
    if lo is not None and (x < lo or (lo_open and x == lo)):
        return False
    if hi is not None and (x > hi or (hi_open and x == hi)):
        return False
    return True


def _interval(lo_text, lo_open, hi_text, hi_open) -> str:
    return f"{'(' if lo_open else '['}{lo_text}, {hi_text}{')' if hi_open else ']'}"


@dataclass(frozen=True)
class _Number:
    lo: float | None = None
    lo_open: bool = False
    hi: float | None = None
    hi_open: bool = False
    type_name: ClassVar[str] = "float"

    @property
    def allowed(self) -> str:
        if self.lo is not None and self.hi is not None:
            bounds = _interval(_num(self.lo), self.lo_open, _num(self.hi), self.hi_open)
            return f"a number in {bounds}"
        if self.lo is not None:
            return f"a number {'>' if self.lo_open else '>='} {_num(self.lo)}"
        return "a number"

    def __call__(self, value, key):
        x = _finite(value, key, self.allowed)
        if not _in_range(x, self.lo, self.lo_open, self.hi, self.hi_open):
            raise _error(key, value, f"is out of range: allowed is {self.allowed}", self.allowed)
        return x


@dataclass(frozen=True)
class _Integer:
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
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        if value < self.lo or (self.hi is not None and value > self.hi):
            raise _error(key, value, f"is out of range: allowed is {self.allowed}", self.allowed)
        if self.odd and value % 2 == 0:
            raise _error(key, value, f"is not allowed: allowed is {self.allowed}", self.allowed)
        return int(value)


_ANGLE_FORMS = 'a number (radians) or a string such as "pi/4", "0.25pi", "3*pi/8", "-pi/2"'
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
            raise _error(key, value, f"divides by zero: allowed is {_ANGLE_FORMS}", _ANGLE_FORMS)
        if x is not None and not math.isfinite(x):
            raise _error(key, value, f"is not finite: allowed is {_ANGLE_FORMS}", _ANGLE_FORMS)
        if x is not None:
            return x
        raise _error(key, value, f"is not an angle: allowed is {_ANGLE_FORMS}", _ANGLE_FORMS)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(key, value, f"must be an angle: {_ANGLE_FORMS}", _ANGLE_FORMS)
    return _finite(value, key, _ANGLE_FORMS)


@dataclass(frozen=True)
class _Angle:
    hi: float
    hi_text: str
    hi_open: bool = False
    type_name: ClassVar[str] = "angle"

    @property
    def allowed(self) -> str:
        return (f"an angle in {_interval('0', False, self.hi_text, self.hi_open)} "
                '(radians; a number or a string such as "pi/4")')

    def __call__(self, value, key):
        x = parse_angle(value, key)
        if not _in_range(x, 0.0, False, self.hi, self.hi_open):
            raise _error(key, value, f"is out of range: allowed is {self.allowed}", self.allowed)
        return x


@dataclass(frozen=True)
class _Choice:
    options: tuple[str, ...]
    type_name: ClassVar[str] = "string"

    @property
    def allowed(self) -> str:
        return f"one of {_names(self.options)}"

    def __call__(self, value, key):
        if not isinstance(value, str):
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        if value not in self.options:
            raise _error(key, value, f"is not allowed: choose {self.allowed}", self.allowed)
        return value


@dataclass(frozen=True)
class _Bool:
    type_name: ClassVar[str] = "bool"
    allowed: ClassVar[str] = "true or false"

    def __call__(self, value, key):
        if not isinstance(value, bool):
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        return value


@dataclass(frozen=True)
class _HDF5Path:
    type_name: ClassVar[str] = "string"
    allowed: ClassVar[str] = "a file name ending in .h5 or .hdf5"

    def __call__(self, value, key):
        if not isinstance(value, str) or not value.strip():
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        if "\x00" in value or len(value) > 4096:
            allowed = f"{self.allowed}, without NUL characters and at most 4096 characters"
            raise _error(key, value, f"is not a usable path: allowed is {allowed}", allowed)
        if not value.lower().endswith((".h5", ".hdf5")):
            raise _error(key, value, f"is not allowed: allowed is {self.allowed}", self.allowed)
        return value


@dataclass(frozen=True)
class _ComplexList:
    """A list of real numbers or [re, im] pairs -> tuple of complex (optionally Re > 0)."""

    positive_real: bool = False
    max_abs: float = 1e12       # |re|, |im| bound: finite, and far from overflow in the hierarchy
    max_entries: int = 1000
    type_name: ClassVar[str] = "list"

    @property
    def allowed(self) -> str:
        tail = " with re > 0" if self.positive_real else ""
        return (f"a list of at most {self.max_entries} numbers or [re, im] pairs{tail}, "
                f"|re| and |im| <= {_num(self.max_abs)}")

    def _entry(self, entry, i, value, key) -> complex:
        if isinstance(entry, complex):
            parts = [entry.real, entry.imag]
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            parts = list(entry)
        else:
            parts = [entry, 0.0]
        for p in parts:
            if isinstance(p, bool) or not isinstance(p, (int, float)):
                raise _error(key, value,
                             f"must be {self.allowed} (entry {i} = {_fmt(entry)} is not)",
                             self.allowed)
            if not math.isfinite(p):
                raise _error(key, value, f"has a non-finite entry {i} = {_fmt(entry)}: allowed is "
                             f"{self.allowed} of finite numbers", self.allowed)
            if abs(p) > self.max_abs:
                raise _error(key, value, f"is out of range (entry {i} = {_fmt(entry)}): allowed is "
                             f"{self.allowed}", self.allowed)
        z = complex(float(parts[0]), float(parts[1]))
        if self.positive_real and not z.real > 0:
            raise _error(key, value, f"is out of range (entry {i} = {_fmt(entry)}): allowed is "
                         f"{self.allowed}", self.allowed)
        return z

    def __call__(self, value, key):
        if not isinstance(value, (list, tuple)) or len(value) > self.max_entries:
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        return tuple(self._entry(e, i, value, key) for i, e in enumerate(value, start=1))


_PETSC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")
_PETSC_ALLOWED = ('a table of PETSc options: names of letters, digits and "_" (nested tables join '
                  'with "_", a leading "-" is dropped), values strings, numbers or booleans')


def _petsc_value(value, key) -> str:
    allowed = 'a string, number or boolean ("" for a flag without value)'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _error(key, value, f"is not finite: allowed is {allowed}", allowed)
        return repr(value)
    raise _error(key, value, f"must be {allowed}", allowed)


def flatten_petsc_options(table: Mapping, key: str = "solver.petsc_options") -> dict[str, str]:
    """Flatten a (nested) options table to PETSc option names and string values.

    As in Firedrake: ``{"ksp": {"type": "gmres"}, "pc_type": "asm"}`` ->
    ``{"ksp_type": "gmres", "pc_type": "asm"}``. A leading "-" on a top-level name is dropped;
    values str/int/float/bool become strings (booleans "true"/"false", "" for a bare flag).
    Raises :class:`InputError` (keys under ``key``) for bad names, values or duplicates.
    """
    if not isinstance(table, Mapping):
        raise _error(key, table, f"must be {_PETSC_ALLOWED}", _PETSC_ALLOWED)
    flat: dict[str, str] = {}

    def walk(sub: Mapping, prefix: str, where: str) -> None:
        for name, value in sub.items():
            here = f"{where}.{name}"
            leading_dash = not prefix and isinstance(name, str) and name.startswith("-")
            part = name[1:] if leading_dash else name
            full = f"{prefix}_{part}" if prefix else part
            if not isinstance(name, str) or not _PETSC_NAME.fullmatch(full):
                raise InputError(f'input error: [{where}] option name "{name}" is not allowed: '
                                 f"allowed is {_PETSC_ALLOWED}", key=here, value=name,
                                 allowed=_PETSC_ALLOWED)
            if isinstance(value, Mapping):
                walk(value, full, here)
                continue
            if full in flat:
                allowed = "each option once"
                raise InputError(f'input error: [{where}] option "{full}" is given twice '
                                 f"(plain and through a nested table): allowed is {allowed}",
                                 key=here, value=value, allowed=allowed)
            flat[full] = _petsc_value(value, here)

    walk(table, "", key)
    return flat


# The input file may tune the solvers but not make PETSc write or draw anything: options that take
# a viewer (PETSc writes to the file, or to "binaryoutput" in the working directory, that the
# value names) or a file name are for the command line, which the user types. Names are refused by
# these words, values by any character beyond a plain token (no ":", "/", "~", spaces).
_PETSC_VIEWER_WORDS = re.compile(
    r"view|monitor|draw|plot|dump|log|history|converged_reason|error_(?:absolute|relative|backward)"
    r"|save|output|file|trace|info|eps_error|print|test")
_PETSC_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.+-]*")
_PETSC_SAFE_ALLOWED = ("solver options whose values are plain words or numbers (letters, digits, "
                       '"_", ".", "+", "-"); options that view, monitor, log or write files '
                       "(names containing view, monitor, log, draw, dump, file, ...) belong on "
                       "the command line, e.g. -nesb_ksp_monitor_true_residual")


def check_petsc_options_safe(options: Mapping[str, str], key: str = "solver.petsc_options") -> None:
    """Refuse input options that could write or draw anything (raises :class:`InputError`)."""
    for name, value in options.items():
        where = f"{key}.{name}"
        if _PETSC_VIEWER_WORDS.search(name):
            raise InputError(f'input error: [{key}] option "{name}" is not allowed in the input file: '
                             f"allowed are {_PETSC_SAFE_ALLOWED}", key=where, value=value,
                             allowed=_PETSC_SAFE_ALLOWED)
        if not _PETSC_SAFE_VALUE.fullmatch(value):
            raise InputError(f"input error: [{key}] {name} = {_fmt(value)} is not allowed in the input "
                             f"file: allowed are {_PETSC_SAFE_ALLOWED}", key=where, value=value,
                             allowed=_PETSC_SAFE_ALLOWED)


@dataclass(frozen=True)
class _PetscOptions:
    """Options table -> sorted tuple of (name, value) string pairs, refusing viewer and file
    options (check_petsc_options_safe)."""

    type_name: ClassVar[str] = "table"
    allowed: ClassVar[str] = f"{_PETSC_ALLOWED}; {_PETSC_SAFE_ALLOWED}"

    def __call__(self, value, key):
        if isinstance(value, tuple):  # already parsed (name, value) pairs
            value = dict(value)
        flat = flatten_petsc_options(value, key)
        check_petsc_options_safe(flat, key)
        return tuple(sorted(flat.items()))


@dataclass(frozen=True)
class _Table:
    """A sub-table: a mapping is parsed into ``cls``, an instance passes (None if optional)."""

    cls: type
    table: str
    optional: bool = False
    type_name: ClassVar[str] = "table"

    @property
    def allowed(self) -> str:
        return f"a table [{self.table}]"

    def __call__(self, value, key):
        if value is None and self.optional:
            return None
        if isinstance(value, self.cls):
            return value
        return self.cls._from_mapping(value, self.table)


# ----------------------------------------------------------------------------- tables


def _key(default: Any, doc: str, parse: Callable, *, units: str = "", default_text: str = "",
         factory: Callable | None = None) -> Any:
    """A dataclass field carrying its documentation, units, allowed values and parser."""
    meta = {"doc": doc, "units": units, "allowed": parse.allowed, "type": parse.type_name,
            "parse": parse, "default_text": default_text}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _parser(cls, name: str) -> Callable:
    return next(f.metadata["parse"] for f in fields(cls) if f.name == name)


def _build(cls, data: Any, table: str):
    """Parse one table (a mapping) into ``cls``: unknown keys, shorthands, missing keys, values."""
    if not isinstance(data, Mapping):
        allowed = f"a table [{table}]"
        raise _error(table, data, f"must be {allowed}", allowed)
    data = dict(data)
    names = [f.name for f in fields(cls)]
    keys = list(names)
    for short, targets in cls._SHORTHANDS.items():
        keys.insert(keys.index(targets[0]), short)
    for name in data:
        if name not in keys:
            raise InputError(
                f'input error: [{table}] unknown key "{name}": allowed keys are '
                f"{', '.join(keys)}{_did_you_mean(str(name), keys)}",
                key=f"{table}.{name}", value=data[name], allowed=", ".join(keys))
    for short, targets in cls._SHORTHANDS.items():
        if short in data:
            for t in targets:
                if t in data:
                    allowed = (f"either {short} (sets {' and '.join(targets)}) or "
                               f"{', '.join(targets)}")
                    raise InputError(
                        f"input error: [{table}] {short} = {_fmt(data[short])} cannot be combined "
                        f"with {t} = {_fmt(data[t])}: allowed is {allowed}",
                        key=f"{table}.{short}", value=data[short], allowed=allowed)
            value = data.pop(short)
            _parser(cls, targets[0])(value, f"{table}.{short}")  # errors name the key written
            data.update({t: value for t in targets})
    values = {}
    for f in fields(cls):
        if f.name in data:
            values[f.name] = data[f.name]
        elif f.default is not MISSING:
            values[f.name] = f.default
        elif f.default_factory is not MISSING:
            values[f.name] = f.default_factory()
        else:
            allowed = f"a table with keys {', '.join(names)}"
            raise InputError(f'input error: [{table}] missing key "{f.name}": required keys are '
                             f"{', '.join(names)}", key=f"{table}.{f.name}", value=None,
                             allowed=allowed)
    return cls(**_validate(cls, values, table))


def _validate(cls, values: dict, table: str) -> dict:
    """Run the class's checks on raw values, every field's parser, then the cross-field checks."""
    cls._precheck(values, table)
    out = {}
    for f in fields(cls):
        out[f.name] = f.metadata["parse"](values[f.name], f"{table}.{f.name}" if table else f.name)
    cls._check(out, table)
    return out


def _to_toml(value: Any) -> Any:
    if isinstance(value, _Base):
        return value.to_dict()
    if isinstance(value, complex):
        return value.real if value.imag == 0 else [value.real, value.imag]
    if isinstance(value, tuple):
        return [_to_toml(v) for v in value]
    return value


class _Base:
    """Shared behaviour of the table dataclasses: validation on construction, ``to_dict``."""

    _TABLE: ClassVar[str] = ""
    _SHORTHANDS: ClassVar[dict[str, tuple[str, ...]]] = {}  # input key -> fields it sets
    _SHORTHAND_DOCS: ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        # Constructing in Python is held to the same rules as reading a file (and normalises,
        # e.g. theta="pi/4" -> 0.785...). Parsers accept their own output, so re-validating a
        # parsed table is a no-op.
        values = _validate(type(self), {f.name: getattr(self, f.name) for f in fields(self)},
                           self._TABLE)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def _from_mapping(cls, data, table):
        return _build(cls, data, table)

    @classmethod
    def _precheck(cls, values: dict, table: str) -> None:
        """Checks on the raw values, before the field parsers run."""

    @classmethod
    def _check(cls, values: dict, table: str) -> None:
        """Cross-field checks on parsed values (may canonicalise ``values`` in place)."""

    def to_dict(self) -> dict:
        """Plain dict of this table (TOML-serialisable; absent optional sub-tables omitted)."""
        return {f.name: _to_toml(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None}


_ANGLE_PI = _Angle(math.pi, "pi")
_ANGLE_2PI = _Angle(2 * math.pi, "2pi", hi_open=True)
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
_COUPLING = _Number(lo=0.0, hi=MAX_COUPLING)
_TEMPERATURE = _Number(lo=MIN_TEMPERATURE, hi=MAX_TEMPERATURE)
_ENERGY = _Number(lo=0.0, lo_open=True, hi=MAX_ENERGY)


@dataclass(frozen=True)
class ModelConfig(_Base):
    """[model] The two-level system H_S = Delta*sz and its couplings V1 (x) B1 + V2 (x) B2.

    A coupling direction on the Bloch sphere is V = cos(th) sz + sin(th) (cos(ph) sx + sin(ph) sy);
    the paper's model is V1 = sx (theta1 = pi/2, phi1 = 0) and V2 = cos(theta) sz + sin(theta) sx.
    """

    _TABLE: ClassVar[str] = "model"
    # ``alpha`` in the input sets both alpha1 and alpha2; it is not stored.
    _SHORTHANDS: ClassVar[dict[str, tuple[str, ...]]] = {"alpha": ("alpha1", "alpha2")}
    _SHORTHAND_DOCS: ClassVar[dict[str, str]] = {
        "alpha": "Shorthand for both coupling strengths: sets alpha1 = alpha2 = alpha. Giving it "
                 "together with alpha1 or alpha2 is an error.",
    }

    delta: float = _key(0.1, "Half the gap Delta of H_S = Delta*sz: levels at +-Delta, splitting "
                        "E = 2*Delta.", _Number(lo=0.0, hi=MAX_ENERGY), units="omega_c")
    theta: float = _key(math.pi / 2, "Polar angle of the bath-2 coupling V2 = cos(theta) sz + "
                        "sin(theta) sx (rotated by phi2 about z). With the default V1 = sx, "
                        "theta = pi/2 is the commuting model; any other value makes the "
                        "couplings non-commuting.",
                        _ANGLE_PI, units="rad", default_text='"pi/2"')
    alpha1: float = _key(0.01, "Dimensionless coupling strength of bath 1: multiplies J_1(w), "
                         "hence C_1(t).", _COUPLING, units="dimensionless")
    alpha2: float = _key(0.01, "Dimensionless coupling strength of bath 2: multiplies J_2(w), "
                         "hence C_2(t).", _COUPLING, units="dimensionless")
    T1: float = _key(1.0, "Temperature of bath 1 (beta_1 = 1/T1).", _TEMPERATURE, units="omega_c")
    T2: float = _key(0.9, "Temperature of bath 2 (beta_2 = 1/T2).", _TEMPERATURE, units="omega_c")
    theta1: float = _key(math.pi / 2, "Polar angle of the bath-1 coupling V1 = cos(theta1) sz + "
                         "sin(theta1) (cos(phi1) sx + sin(phi1) sy); the default gives V1 = sx.",
                         _ANGLE_PI, units="rad", default_text='"pi/2"')
    phi1: float = _key(0.0, "Azimuthal angle of the bath-1 coupling V1 (see theta1).",
                       _ANGLE_2PI, units="rad")
    phi2: float = _key(0.0, "Azimuthal angle of the bath-2 coupling: V2 = cos(theta) sz + "
                       "sin(theta) (cos(phi2) sx + sin(phi2) sy).", _ANGLE_2PI, units="rad")

    @classmethod
    def _check(cls, values, table):
        if values["alpha1"] == 0.0 and values["alpha2"] == 0.0:
            # no bath couples: every diagonal state is stationary and no current is defined
            allowed = "alpha1 > 0 or alpha2 > 0 (at least one coupled bath; alpha = 0 for one bath is fine)"
            raise _error(f"{table}.alpha1", 0.0, "and alpha2 = 0.0 leave the system uncoupled, so its "
                         f"steady state is not unique: allowed is {allowed}", allowed)


@dataclass(frozen=True)
class ExponentsConfig(_Base):
    """[bath.bath1] / [bath.bath2] C(t) of one bath as sums of exponentials (QuTiP's vocabulary).

    C(t) = C^R(t) + i C^I(t),  C^R(t) = sum_k ck_real[k] exp(-vk_real[k] t),
    C^I(t) = sum_k ck_imag[k] exp(-vk_imag[k] t). Entries are real numbers or [re, im] pairs
    (stored as complex). The bath's alpha multiplies this C(t): set alpha = 1 to use the
    exponents as given.
    """

    _TABLE: ClassVar[str] = "bath.bathN"  # only for direct construction; files name bath1/bath2

    ck_real: tuple[complex, ...] = _key(MISSING, "Coefficients of C^R(t) = sum_k ck_real[k] "
                                        "exp(-vk_real[k] t).", _ComplexList(), units="omega_c^2")
    vk_real: tuple[complex, ...] = _key(MISSING, "Decay rates of C^R(t), one per ck_real.",
                                        _ComplexList(positive_real=True, max_abs=MAX_ENERGY),
                                        units="omega_c")
    ck_imag: tuple[complex, ...] = _key(MISSING, "Coefficients of C^I(t) = sum_k ck_imag[k] "
                                        "exp(-vk_imag[k] t).", _ComplexList(), units="omega_c^2")
    vk_imag: tuple[complex, ...] = _key(MISSING, "Decay rates of C^I(t), one per ck_imag.",
                                        _ComplexList(positive_real=True, max_abs=MAX_ENERGY),
                                        units="omega_c")

    @classmethod
    def _check(cls, values, table):
        for ck, vk in (("ck_real", "vk_real"), ("ck_imag", "vk_imag")):
            if len(values[ck]) != len(values[vk]):
                allowed = f"one rate in {vk} per coefficient in {ck}"
                raise InputError(
                    f"input error: [{table}] {vk} = {_fmt(values[vk])} has {len(values[vk])} "
                    f"entries but {ck} has {len(values[ck])}: allowed is {allowed}",
                    key=f"{table}.{vk}", value=values[vk], allowed=allowed)


@dataclass(frozen=True)
class BathConfig(_Base):
    """[bath] The spectral density J(w) of both baths and how C(t) is decomposed.

    Bath nu has J_nu = alpha_nu * J at temperature T_nu, and
    C_nu(t) = (1/pi) Int_0^inf J_nu(w) [coth(w/2T_nu) cos(wt) - i sin(wt)] dw.
    Keys that the chosen spectral_density does not use are checked but ignored.
    """

    _TABLE: ClassVar[str] = "bath"

    spectral_density: str = _key(
        "rational", 'Form of J(w): "rational" pi alpha w^s omega_c^(1-s) / (1 + (w/omega_c)^2)'
        '^cutoff_power (the paper: s = 3, cutoff_power = 4); "drude_lorentz" its s = 1, '
        'cutoff_power = 1 case; "underdamped" alpha omega0^2 gamma w / ((omega0^2 - w^2)^2 + '
        'gamma^2 w^2); "exponents" C(t) given directly in [bath.bath1] and [bath.bath2] '
        "(alpha_nu multiplies the given C(t): set alpha = 1 to use them as given).",
        _Choice(SPECTRAL_DENSITIES))
    s: int = _key(3, 'Spectral exponent s of "rational" (odd, so that C(t) follows exactly from '
                  "residues).", _Integer(lo=1, odd=True, hi=99))
    cutoff_power: int = _key(4, 'Power p of the "rational" cutoff 1/(1 + (w/omega_c)^2)^p; '
                             "needs 2*cutoff_power > s + 1 (finite C(0)).", _Integer(lo=1, hi=100))
    omega_c: float = _key(1.0, 'Cutoff frequency of "rational" and "drude_lorentz" (1 makes it '
                          "the energy unit).", _ENERGY, units="omega_c")
    omega0: float = _key(1.0, 'Resonance frequency of "underdamped".', _ENERGY, units="omega_c")
    gamma: float = _key(0.2, 'Peak width of "underdamped"; needs gamma < 2*omega0 (distinct '
                        "poles).", _ENERGY, units="omega_c")
    decomposition: str = _key("pade", "Expansion of the Bose function coth(w/2T) into poles: "
                              '"pade" (Pade spectrum decomposition, Hu, Xu, Yan 2010: far faster '
                              'convergence) or "matsubara". Not used by "exponents".',
                              _Choice(DECOMPOSITIONS))
    n_bose: int = _key(3, "Number of Pade/Matsubara terms per bath (each adds an exponential to "
                       "C^R(t)); too few make a spurious current at T1 = T2.",
                       _Integer(lo=0, hi=MAX_BOSE_TERMS))
    tolerance: float = _key(1e-6, "Largest relative error of the decomposed C(t) against direct "
                            "quadrature; above it the run warns (for a fit: above the larger of "
                            "tolerance and fit_tolerance).", _Number(lo=0.0, lo_open=True),
                            units="dimensionless")
    fit_tolerance: float = _key(0.0, "0: no fit, the exact decomposition (n_bose Bose-function "
                                "terms). > 0: fit C(t) instead with the fewest exponentials whose rates "
                                "C^R and C^I share (ESPRIT; coinciding rates become t^k e^(-g t) "
                                "chains; docs/fit.md), to max_t |C_fit - C| / max_t "
                                '|C| <= fit_tolerance. For "rational" and "underdamped" ("drude_lorentz" '
                                'has an infinite C^R(0); "exponents" ignores it).', _Number(lo=0.0),
                                units="dimensionless")
    fit_max_terms: int = _key(12, "Largest number of basis functions per bath and part (C^R, C^I) "
                              "of a fit, i.e. of shared rates (a complex-conjugate pair counts 2); "
                              "a fit that needs more stops the run.", _Integer(lo=1, hi=64))
    bath1: ExponentsConfig | None = _key(
        None, 'Sub-table [bath.bath1]: C_1(t) as exponentials; required with spectral_density = '
        '"exponents", forbidden otherwise.', _Table(ExponentsConfig, "bath.bath1", optional=True),
        default_text="absent")
    bath2: ExponentsConfig | None = _key(
        None, 'Sub-table [bath.bath2]: C_2(t) as exponentials; required with spectral_density = '
        '"exponents", forbidden otherwise.', _Table(ExponentsConfig, "bath.bath2", optional=True),
        default_text="absent")

    @classmethod
    def _precheck(cls, values, table):
        # Which sub-tables may be present depends on the kind; say so before parsing them.
        kind = _parser(cls, "spectral_density")(values["spectral_density"],
                                                f"{table}.spectral_density")
        for sub in ("bath1", "bath2"):
            given = values[sub] is not None
            if kind == "exponents" and not given:
                allowed = "both sub-tables [bath.bath1] and [bath.bath2]"
                raise InputError(
                    f'input error: [{table}] spectral_density = "exponents" needs the sub-table '
                    f"[{table}.{sub}], which is missing: allowed is {allowed}",
                    key=f"{table}.{sub}", value=None, allowed=allowed)
            if kind != "exponents" and given:
                allowed = ('sub-tables [bath.bath1] and [bath.bath2] only with '
                           'spectral_density = "exponents"')
                raise InputError(
                    f"input error: [{table}] sub-table [{table}.{sub}] = {_fmt(values[sub])} is "
                    f"given but spectral_density = {_fmt(kind)}: allowed is {allowed}",
                    key=f"{table}.{sub}", value=values[sub], allowed=allowed)

    @classmethod
    def _check(cls, values, table):
        kind = values["spectral_density"]
        if kind == "rational" and not 2 * values["cutoff_power"] > values["s"] + 1:
            allowed = f"an integer with 2*cutoff_power > s + 1 = {values['s'] + 1} (finite C(0))"
            raise _error(f"{table}.cutoff_power", values["cutoff_power"],
                         f"is too small for s = {values['s']}: allowed is {allowed}", allowed)
        if kind == "underdamped" and not values["gamma"] < 2 * values["omega0"]:
            allowed = f"0 < gamma < 2*omega0 = {_fmt(2 * values['omega0'])}"
            raise _error(f"{table}.gamma", values["gamma"],
                         f"is out of range for omega0 = {_fmt(values['omega0'])}: "
                         f"allowed is {allowed}", allowed)
        if kind == "drude_lorentz" and values["fit_tolerance"] > 0:
            allowed = 'fit_tolerance = 0 with spectral_density = "drude_lorentz"'
            raise _error(f"{table}.fit_tolerance", values["fit_tolerance"],
                         'cannot be met by spectral_density = "drude_lorentz" (C^R(0) is infinite, '
                         f"so no relative error exists): allowed is {allowed}", allowed)


@dataclass(frozen=True)
class HierarchyConfig(_Base):
    """[hierarchy] Truncation and scaling of the auxiliary density operators (ADOs)."""

    _TABLE: ClassVar[str] = "hierarchy"

    depth: int = _key(4, "Truncation depth L: ADOs with sum(n) + sum(m) <= L are kept; the depth "
                      "needed grows with alpha.", _Integer(lo=1, hi=MAX_DEPTH))
    truncation: str = _key("total", 'Truncation scheme: "total" keeps sum(n) + sum(m) <= depth.',
                           _Choice(TRUNCATIONS))
    rescale: bool = _key(True, "Rescale the ADOs (e.g. by sqrt(n!) |a|^(n/2)) for conditioning; "
                         "the physics is unchanged.", _Bool())
    modes: str = _key("separate", 'Hierarchy indices: "separate" (one per basis function of C^R '
                      'and one per basis function of C^I, physics.md section 3) or "merged" (one '
                      "per function of the basis C^R and C^I share: 4 + n_bose instead of "
                      "8 + n_bose per bath for the paper's J, far fewer ADOs: 19,448 instead of "
                      "480,700 at depth 7). Both give the same currents at every depth "
                      "(docs/heom.md section 1).",
                      _Choice(MODE_FORMS))


@dataclass(frozen=True)
class SolverConfig(_Base):
    """[solver] How the steady state L x = 0, Tr rho = 1 is solved (PETSc/SLEPc)."""

    _TABLE: ClassVar[str] = "solver"

    method: str = _key("auto", '"direct": sparse LU of the trace-fixed system; "iterative": '
                       'preconditioned Krylov solve of it; "slepc": null vector of L by '
                       'shift-and-invert eigen-solve; "auto": chosen from the problem size.',
                       _Choice(SOLVER_METHODS))
    rtol: float = _key(1e-12, "Relative residual target of iterative solves (weak coupling needs "
                       "tight values: currents are 1e-7 to 1e-9).",
                       _Number(lo=0.0, lo_open=True, hi=1.0, hi_open=True), units="dimensionless")
    max_it: int = _key(2000, "Maximum number of iterations of an iterative solve.",
                       _Integer(lo=1, hi=10**8))
    matrix_type: str = _key("aij", '"aij": sparse matrix with block size 4 storing only the '
                            'nonzeros of each 4x4 ADO block (~3.7x fewer stored values); "baij": '
                            'dense 4x4 blocks (blocked kernels, more memory).',
                            _Choice(MATRIX_TYPES))
    slepc_target: float = _key(1e-10, "Shift of the shift-and-invert null-vector search "
                               '(method = "slepc"): the eigenvalue of L closest to it is sought.',
                               _Number(lo=0.0, lo_open=True, hi=1.0), units="omega_c")
    petsc_options: tuple[tuple[str, str], ...] = _key(
        (), "Extra PETSc options, as the table [solver.petsc_options]; nested tables flatten with "
        "\"_\" ([solver.petsc_options.pc] type = \"asm\" -> pc_type asm), values become strings "
        "(booleans true/false, \"\" for a flag). Stored as sorted (name, value) pairs.",
        _PetscOptions(), default_text="{}")

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["petsc_options"] = dict(self.petsc_options)
        return out


# ----------------------------------------------------------------------------- [study]
# A study is a set of parameter points. Every kind but "point" takes swept [model] keys (lists or
# ranges, combined as a grid or zipped); each kind adds its own keys. Keys are registered once in
# _STUDY_KEYS (parser, default, doc, kinds); STUDY_PARAMS is derived from it.

SWEEP_KEYS = ("alpha", "alpha1", "alpha2", "delta", "theta", "T1", "T2", "theta1", "phi1", "phi2")
ANALYTIC_THEORIES = ("redfield", "ne-ptre")
COMBINE_MODES = ("grid", "zip")
SPACINGS = ("linear", "log")
INCOMPATIBLE_CHOICES = ("refuse", "new_file")
COORDINATOR_CHOICES = ("auto", "shared", "dedicated")
DEDICATED_FROM_RANKS = 16  # coordinator = "auto": a rank of its own from this many ranks on
# Keys that say how a study is run, not what it computes: they may change between a run and its
# resumption (they are left out of the keys that match stored points to the input).
STUDY_LAYOUT_KEYS = ("ranks_per_point", "memory_per_rank", "coordinator", "axis",
                     "if_incompatible", "time_limit")


def _model_parser(name: str) -> Callable:
    """The [model] parser behind a swept key (alpha -> alpha1's)."""
    return _parser(ModelConfig, ModelConfig._SHORTHANDS.get(name, (name,))[0])


@dataclass(frozen=True)
class _SweptValues:
    """A list of [model] values, or a range table -> tuple of floats valid for that model key."""

    model_key: str
    type_name: ClassVar[str] = "list|range"

    @property
    def entry_allowed(self) -> str:
        return _model_parser(self.model_key).allowed

    @property
    def allowed(self) -> str:
        return (f"a non-empty list of at most {MAX_SWEEP_VALUES:,} values or a range table {{start = ..., "
                f'stop = ..., num = N, spacing = "linear" or "log"}}, each value {self.entry_allowed}')

    def _range(self, table: Mapping, key: str) -> tuple[float, ...]:
        known = ("start", "stop", "num", "spacing")
        for name in table:
            if name not in known:
                raise InputError(
                    f'input error: [{key.rpartition(".")[0]}] {key.rpartition(".")[2]} range has '
                    f'unknown key "{name}": allowed keys are {", ".join(known)}'
                    f"{_did_you_mean(str(name), known)}", key=f"{key}.{name}", value=table[name],
                    allowed=", ".join(known))
        for name in ("start", "stop", "num"):
            if name not in table:
                allowed = "a range table with start, stop and num (spacing optional)"
                raise _error(key, dict(table), f'has no "{name}": allowed is {allowed}', allowed)
        parse = _model_parser(self.model_key)
        start = parse(table["start"], f"{key}.start")
        stop = parse(table["stop"], f"{key}.stop")
        num = _Integer(lo=1, hi=MAX_SWEEP_VALUES)(table["num"], f"{key}.num")
        spacing = _Choice(SPACINGS)(table.get("spacing", "linear"), f"{key}.spacing")
        if num == 1:
            return (start,)
        if spacing == "log":
            if not (start > 0 and stop > 0):
                allowed = "start > 0 and stop > 0 with spacing = \"log\""
                raise _error(key, dict(table), f"cannot be log-spaced: allowed is {allowed}",
                             allowed)
            values = [start * (stop / start) ** (i / (num - 1)) for i in range(num)]
        else:
            values = [start + (stop - start) * i / (num - 1) for i in range(num)]
        values[0], values[-1] = start, stop  # the ends exactly as written
        return tuple(parse(v, key) for v in values)

    def __call__(self, value, key):
        if isinstance(value, Mapping):
            return self._range(value, key)
        if not isinstance(value, (list, tuple)) or not value or len(value) > MAX_SWEEP_VALUES:
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        parse = _model_parser(self.model_key)
        out = []
        for i, entry in enumerate(value, start=1):
            try:
                out.append(parse(entry, key))
            except InputError:
                allowed = f"entries {self.entry_allowed}"
                raise _error(key, value, f"has an invalid entry {i} = {_fmt(entry)}: allowed are "
                             f"{allowed}", allowed) from None
        return tuple(out)


@dataclass(frozen=True)
class _AutoOr:
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
            raise _error(key, value, f"is not allowed: allowed is {self.allowed}", self.allowed)
        try:
            return self.inner(value, key)
        except InputError:
            raise _error(key, value, f"must be {self.allowed}", self.allowed) from None


@dataclass(frozen=True)
class _NameList:
    """A list of distinct names from a fixed set -> tuple (in the order given)."""

    options: tuple[str, ...]
    type_name: ClassVar[str] = "list"

    @property
    def allowed(self) -> str:
        return f"a list of distinct names from {_names(self.options)}"

    def __call__(self, value, key):
        if not isinstance(value, (list, tuple)):
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        for entry in value:
            if entry not in self.options:
                raise _error(key, value, f"has an unknown name {_fmt(entry)}: allowed is "
                             f"{self.allowed}", self.allowed)
        if len(set(value)) != len(value):
            raise _error(key, value, f"repeats a name: allowed is {self.allowed}", self.allowed)
        return tuple(value)


@dataclass(frozen=True)
class _Ladder:
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
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        if any(b < a for a, b in zip(value, value[1:])):
            raise _error(key, value, f"decreases: allowed is {self.allowed}", self.allowed)
        return tuple(int(v) for v in value)


@dataclass(frozen=True)
class _IntOrList:
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
        raise _error(key, value, f"must be {self.allowed}", self.allowed)


@dataclass(frozen=True)
class _AngleInterval:
    """[lo, hi] angles in [0, pi] with lo < hi -> tuple of two floats."""

    type_name: ClassVar[str] = "list"
    allowed: ClassVar[str] = 'two angles [lo, hi] in [0, pi] with lo < hi (e.g. [0, "pi/2"])'

    def __call__(self, value, key):
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise _error(key, value, f"must be {self.allowed}", self.allowed)
        lo, hi = (_ANGLE_PI(v, key) for v in value)
        if not lo < hi:
            raise _error(key, value, f"is empty: allowed is {self.allowed}", self.allowed)
        return (lo, hi)


@dataclass(frozen=True)
class _StudyKey:
    """One [study] key: its parser, default, meaning and the kinds that take it."""

    parse: Callable
    default: Any
    doc: str
    kinds: tuple[str, ...]
    units: str = ""
    default_text: str = ""


_MULTI = ("sweep", "optimize_theta", "rectification", "convergence")
_SWEPT_DOC = (
    f"Any of the [model] keys {', '.join(SWEEP_KEYS)} (not theta with \"optimize_theta\") "
    "given here is swept: its values replace [model]'s, every other [model] key keeps its value. "
    'A list (angles as numbers or strings such as "pi/4"), or a range table {start, stop, num, '
    'spacing = "linear" or "log"}. Points are numbered in that key order, the first swept key '
    'varying slowest. Example: alpha = {start = 1e-3, stop = 1, num = 7, spacing = "log"}. '
    'Kinds: "sweep", "optimize_theta", "rectification", "convergence".')
_SWEPT_ALLOWED = ('a non-empty list of values or a range table {start = ..., stop = ..., num = N, '
                  'spacing = "linear" or "log"}, each value allowed for the [model] key')
_STUDY_KEYS: dict[str, _StudyKey] = {
    **{name: _StudyKey(
        _SweptValues(name), None, _SWEPT_DOC,
        tuple(k for k in _MULTI if not (k == "optimize_theta" and name == "theta")),
        default_text="not swept") for name in SWEEP_KEYS},
    "combine": _StudyKey(
        _Choice(COMBINE_MODES), "grid", 'How several swept keys combine: "grid" every combination, '
        '"zip" the i-th values together (lists of equal length).', _MULTI),
    "axis": _StudyKey(
        _Choice(SWEEP_KEYS), None, "The swept key on the horizontal axis of `nesb_hpc plot` (the "
        "others label the curves); default the swept key with most values.", _MULTI,
        default_text="most values"),
    "ranks_per_point": _StudyKey(
        _AutoOr(_Integer(lo=1, hi=10**7)), "auto", "MPI ranks that solve one point together: the world is "
        "split into groups of this size that take points as they come; \"auto\" picks the "
        "smallest size whose dry-run memory estimate fits memory_per_rank. Never more groups than "
        "unfinished points are formed (larger groups instead).", _MULTI),
    "coordinator": _StudyKey(
        _Choice(COORDINATOR_CHOICES), "auto", "World rank 0 hands out the points and writes every "
        'result. "shared": it also solves, in the first group (results of the other groups reach '
        'the file when it is between solves); "dedicated": it only coordinates (results are '
        'written the moment a group finishes them; costs one rank); "auto": dedicated from '
        f"{DEDICATED_FROM_RANKS} ranks on, shared below.", _MULTI),
    "memory_per_rank": _StudyKey(
        _AutoOr(_Number(lo=0.0, lo_open=True, hi=1e9)), "auto", "Memory one rank may use: a solve "
        "whose dry-run estimate exceeds it is not started (kind \"point\": the run is refused with "
        "advice; studies: the point ends with status memory_limit and is continued on a re-run, "
        "e.g. with more ranks; --force-memory overrides), and ranks_per_point = \"auto\" sizes "
        "groups by it. \"auto\" reads SLURM_MEM_PER_CPU, SLURM_MEM_PER_NODE or the node's "
        "available memory divided among its ranks.", ("point", *_MULTI), units="MiB"),
    "analytic": _StudyKey(
        _NameList(ANALYTIC_THEORIES), (), 'Analytic currents evaluated beside every HEOM solve and '
        'stored as I_redfield and I_ptre: "redfield" (Bloch-Redfield, any couplings, not for '
        'spectral_density = "exponents"), "ne-ptre" (NE-PTRE, only at theta = 0 with V1 = sx); '
        "NaN where a theory does not apply.", ("point", *_MULTI), default_text="[]"),
    "if_incompatible": _StudyKey(
        _Choice(INCOMPATIBLE_CHOICES), "refuse", "If [output] path holds results of a different "
        'input: "refuse" stops with a message naming the difference; "new_file" writes to the '
        "first of PATH-2.h5, PATH-3.h5, ... that is absent or holds this input (and resumes "
        "it). A file of the same input is always resumed.", ("point", *_MULTI)),
    "theta_bounds": _StudyKey(
        _AngleInterval(), (0.0, math.pi / 2), "Interval in which optimize_theta searches for the "
        "theta that maximises the heat current.", ("optimize_theta",), units="rad",
        default_text='[0, "pi/2"]'),
    "xtol": _StudyKey(
        _Number(lo=0.0, lo_open=True, hi=0.5), 0.01, "Tolerance of theta_opt: the bounded search "
        "(grid scan, then Brent's method on the bracket of the best grid point) stops when theta_opt "
        "is known to about this; an optimum at a bound is reported exactly at the bound.",
        ("optimize_theta",), units="rad"),
    "n_grid": _StudyKey(
        _Integer(lo=3, hi=1000), 5, "Equally spaced thetas (both bounds included) scanned before the "
        "refinement; more guard against several local maxima.", ("optimize_theta",)),
    "depths": _StudyKey(
        _Ladder(lo=1, hi=MAX_DEPTH), None, "Hierarchy depths of the convergence ladder, one rung each (replaces "
        "[hierarchy] depth). rectification: optional, a ladder for each direction (the ratio's "
        "error estimate is the sum of both directions' relative errors).",
        ("convergence", "rectification"), default_text="required for convergence"),
    "n_bose": _StudyKey(
        _IntOrList(lo=0, hi=MAX_BOSE_TERMS), None, "Pade/Matsubara terms per bath of each rung: one integer for all "
        "rungs or a list as long as depths (replaces [bath] n_bose).", ("convergence", "rectification"),
        default_text="[bath] n_bose"),
    "tolerance": _StudyKey(
        _Number(lo=0.0, lo_open=True, hi=1.0, hi_open=True), 1e-3, "The ladder stops at the first "
        "rung whose current differs from the previous rung's by less than this (relative); that "
        "difference is the reported error estimate.", ("convergence", "rectification"),
        units="dimensionless"),
    "n_bose_check": _StudyKey(
        _Integer(lo=0, hi=MAX_BOSE_TERMS), 0, "Check a ladder converged in depth in the bath decomposition as well: "
        "the rung two below the last is solved again with this many Pade/Matsubara terms; the "
        "relative change is added to the error estimate (column decomposition_error), and above "
        "tolerance the point is not converged. 0: no check.", ("convergence", "rectification")),
    "time_limit": _StudyKey(
        _Number(lo=0.0, hi=1e9), 0.0, "Seconds one point's ladder may take (0: no limit): the next rung is "
        "not started if the time spent plus its predicted time exceeds it. A point stopped by this "
        "or by memory_per_rank is continued when the study is re-run.", ("convergence", "rectification"),
        units="s"),
}
STUDY_PARAMS.update({kind: {name: k.parse for name, k in _STUDY_KEYS.items() if kind in k.kinds}
                     for kind in STUDY_KINDS})


@dataclass(frozen=True)
class _StudyParams:
    """The non-``kind`` keys of [study] -> sorted tuple of (name, value) pairs."""

    type_name: ClassVar[str] = "keys"

    @property
    def allowed(self) -> str:
        return "per kind: " + "; ".join(f'"{kind}": {", ".join(keys) or "no other keys"}'
                                        for kind, keys in STUDY_PARAMS.items())

    def __call__(self, value, key):
        items = value.items() if isinstance(value, Mapping) else value
        return tuple(sorted(items))


@dataclass(frozen=True)
class StudyConfig(_Base):
    """[study] What to compute: one point, or a study of many points (sweep, theta optimisation,
    rectification, convergence ladder)."""

    # New kinds extend STUDY_KINDS and register their keys in _STUDY_KEYS (-> STUDY_PARAMS).
    _TABLE: ClassVar[str] = "study"

    kind: str = _key(
        "point", '"point": the steady state at [model]; "sweep": every point of the swept [model] '
        'keys; "optimize_theta": at every point, the theta in theta_bounds that maximises the heat '
        'current (every evaluation kept); "rectification": every point with T1, T2 and with them '
        'exchanged, and the ratio R = |I(T1, T2)| / |I(T2, T1)|; "convergence": every point on a '
        "ladder of depths (and n_bose) until the current changes by less than tolerance.",
        _Choice(STUDY_KINDS))
    params: tuple[tuple[str, Any], ...] = _key(
        (), "The other keys of [study]: parameters of the chosen kind (stored as params, sorted "
        '(name, value) pairs); "point" takes only analytic, if_incompatible and memory_per_rank.', _StudyParams(),
        default_text="none")

    @classmethod
    def _from_mapping(cls, data, table):
        if not isinstance(data, Mapping):
            allowed = f"a table [{table}]"
            raise _error(table, data, f"must be {allowed}", allowed)
        params = {k: v for k, v in data.items() if k != "kind"}
        return _build(cls, {"kind": data.get("kind", "point"), "params": params}, table)

    @classmethod
    def _check(cls, values, table):
        kind = values["kind"]
        parsers = STUDY_PARAMS.get(kind, {})
        keys = ["kind", *parsers]
        out = []
        for name, value in values["params"]:
            if name not in parsers:
                hint = _did_you_mean(str(name), keys)
                if not hint and name in _STUDY_KEYS:
                    kinds = ", ".join(f'"{k}"' for k in _STUDY_KEYS[name].kinds)
                    hint = f" ({name} belongs to kind = {kinds})"
                raise InputError(
                    f'input error: [{table}] unknown key "{name}": allowed keys for kind = '
                    f'"{kind}" are {", ".join(keys)}{hint}',
                    key=f"{table}.{name}", value=value, allowed=", ".join(keys))
            out.append((name, parsers[name](value, f"{table}.{name}")))
        params = dict(out)
        values["params"] = tuple(sorted(out))
        cls._check_combination(kind, params, table)

    @staticmethod
    def _check_combination(kind: str, params: dict, table: str) -> None:
        swept = {k: params[k] for k in SWEEP_KEYS if k in params}
        for target in ("alpha1", "alpha2"):
            if "alpha" in swept and target in swept:
                allowed = "either alpha (sets alpha1 and alpha2) or alpha1, alpha2"
                raise InputError(
                    f"input error: [{table}] alpha = {_fmt(swept['alpha'])} cannot be combined with "
                    f"{target} = {_fmt(swept[target])}: allowed is {allowed}",
                    key=f"{table}.alpha", value=swept["alpha"], allowed=allowed)
        n_points = math.prod(len(v) for v in swept.values()) if params.get("combine") != "zip" else 0
        if n_points > MAX_STUDY_POINTS:
            allowed = f"at most {MAX_STUDY_POINTS:,} points in one study (split it into several inputs)"
            given = " x ".join(f"{len(v)} {k}" for k, v in swept.items())
            raise InputError(f"input error: [{table}] sweeps {given} = {n_points:,} points: allowed is "
                             f"{allowed}", key=f"{table}.{next(iter(swept))}", value=n_points, allowed=allowed)
        if kind == "sweep" and not swept:
            allowed = f"one or more of {', '.join(SWEEP_KEYS)} as a list or range"
            raise InputError(f'input error: [{table}] kind = "sweep" has no swept key: allowed is '
                             f"{allowed}", key=f"{table}.kind", value=kind, allowed=allowed)
        if params.get("combine") == "zip":
            lengths = {k: len(v) for k, v in swept.items()}
            if len(set(lengths.values())) > 1:
                allowed = 'swept keys of equal length with combine = "zip"'
                given = ", ".join(f"{k} has {n}" for k, n in lengths.items())
                raise InputError(f'input error: [{table}] combine = "zip" needs lists of equal '
                                 f"length, but {given} values: allowed is {allowed}",
                                 key=f"{table}.combine", value="zip", allowed=allowed)
        axis = params.get("axis")
        if axis is not None and axis not in swept:
            allowed = f"a swept key ({', '.join(swept) or 'none is swept'})"
            raise _error(f"{table}.axis", axis, f"is not swept: allowed is {allowed}", allowed)
        if kind == "rectification" and "depths" not in params:
            for key in ("n_bose", "tolerance", "time_limit", "n_bose_check"):
                if key in params:
                    allowed = "with kind = \"rectification\" only together with depths (a ladder per direction)"
                    raise _error(f"{table}.{key}", params[key], f"is given without depths: allowed is {allowed}",
                                 allowed)
        if kind == "convergence" or (kind == "rectification" and "depths" in params):
            if "depths" not in params:
                allowed = "a ladder such as depths = [2, 3, 4, 5]"
                raise InputError(f'input error: [{table}] kind = "convergence" needs the key '
                                 f'"depths": allowed is {allowed}', key=f"{table}.depths",
                                 value=None, allowed=allowed)
            n_bose = params.get("n_bose")
            if isinstance(n_bose, tuple) and len(n_bose) != len(params["depths"]):
                allowed = f"one integer, or a list of {len(params['depths'])} (one per depth)"
                raise _error(f"{table}.n_bose", n_bose, f"has {len(n_bose)} entries but depths has "
                             f"{len(params['depths'])}: allowed is {allowed}", allowed)
            depths = params["depths"]
            nbs = n_bose if isinstance(n_bose, tuple) else None
            for i in range(1, len(depths)):
                grows = depths[i] > depths[i - 1] or (nbs is not None and nbs[i] > nbs[i - 1])
                if not grows or (nbs is not None and nbs[i] < nbs[i - 1]):
                    allowed = ("rungs that each grow: a larger depth, or the same depth with more "
                               "n_bose terms, neither decreasing")
                    what = f"depth {depths[i]}" + (f", n_bose {nbs[i]}" if nbs is not None else "")
                    raise _error(f"{table}.depths", depths, f"repeats or shrinks rung {i} ({what}): "
                                 f"allowed is {allowed}", allowed)

    def get(self, name: str) -> Any:
        """A [study] key's value, or its default if not given (KeyError for unknown names)."""
        return dict(self.params).get(name, _STUDY_KEYS[name].default)

    def swept(self) -> dict[str, tuple[float, ...]]:
        """The swept [model] keys and their values, in SWEEP_KEYS order (the first varies slowest)."""
        params = dict(self.params)
        return {k: params[k] for k in SWEEP_KEYS if k in params}

    def to_dict(self) -> dict:
        return {"kind": self.kind, **{k: _to_toml(v) for k, v in self.params}}


@dataclass(frozen=True)
class OutputConfig(_Base):
    """[output] Where the results go."""

    _TABLE: ClassVar[str] = "output"

    path: str = _key("nesb_results.h5", "HDF5 file for the results (relative to the working "
                     "directory).", _HDF5Path())
    overwrite: bool = _key(False, "Replace an existing file at path; if false, an existing file "
                           "is an error.", _Bool())


def _summary(cls) -> str:
    """A table class's docstring as one line, without its leading "[table]" tags."""
    return re.sub(r"^(\[[^\]]+\](\s*/\s*)?)+\s*", "", " ".join((cls.__doc__ or "").split()))


def _table_key(cls, table: str) -> Any:
    return _key(None, _summary(cls), _Table(cls, table), factory=cls)


@dataclass(frozen=True)
class RunConfig(_Base):
    """A whole validated input file: one field per table, all defaults filled in."""

    model: ModelConfig = _table_key(ModelConfig, "model")
    bath: BathConfig = _table_key(BathConfig, "bath")
    hierarchy: HierarchyConfig = _table_key(HierarchyConfig, "hierarchy")
    solver: SolverConfig = _table_key(SolverConfig, "solver")
    study: StudyConfig = _table_key(StudyConfig, "study")
    output: OutputConfig = _table_key(OutputConfig, "output")

    def replace_model(self, **changes) -> RunConfig:
        """A new RunConfig with [model] keys changed (input vocabulary: ``alpha``, angle strings).

        Re-validated: raises :class:`InputError` like a file would.
        """
        model = self.model.to_dict()
        for short, targets in ModelConfig._SHORTHANDS.items():
            if short in changes:
                for t in targets:
                    model.pop(t)
        model.update(changes)
        return dataclasses.replace(self, model=_build(ModelConfig, model, "model"))


_TABLE_CLASSES = {f.name: f.metadata["parse"].cls for f in fields(RunConfig)}


# ----------------------------------------------------------------------------- entry points


def parse_config(data: Mapping, source: str = "") -> RunConfig:
    """Validate a parsed input (as from ``tomllib``) into a :class:`RunConfig`.

    Missing tables and keys take their defaults. ``source`` (e.g. the file name) is added to
    error messages. Raises :class:`InputError`.
    """
    try:
        if not isinstance(data, Mapping):
            allowed = f"a table of tables {', '.join(TABLES)}"
            raise InputError(f"input error: the input must be a table of tables: allowed are "
                             f"{', '.join(TABLES)}", key="", value=data, allowed=allowed)
        for name, value in data.items():
            if name not in TABLES:
                hint = _did_you_mean(str(name), TABLES)
                owners = [t for t, cls in _TABLE_CLASSES.items()
                          if name in {f.name for f in fields(cls)} | set(cls._SHORTHANDS)]
                if owners:
                    hint = f" (did you mean {name} in [{owners[0]}]?)"
                raise InputError(
                    f'input error: unknown top-level key "{name}": allowed are the tables '
                    f"{', '.join(TABLES)}{hint}", key=str(name), value=value,
                    allowed=", ".join(TABLES))
        return RunConfig(**{name: _TABLE_CLASSES[name]._from_mapping(data.get(name, {}), name)
                            for name in TABLES})
    except InputError as err:
        if not source or err.source:
            raise
        raise InputError(err.message, key=err.key, value=err.value, allowed=err.allowed,
                         source=source) from None


def load_config(path) -> RunConfig:
    """Read and validate a TOML input file. Raises :class:`InputError` (also for a missing or
    unreadable file and for TOML syntax errors; then ``key`` is the file path)."""
    path = Path(path)
    where = str(path)
    allowed = "the path of a readable TOML file"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f'input error: input file "{where}" does not exist: allowed is {allowed}',
                         key=where, value=where, allowed=allowed) from None
    except OSError as exc:
        raise InputError(f'input error: input file "{where}" cannot be read ({exc.strerror}): '
                         f"allowed is {allowed}", key=where, value=where, allowed=allowed) from None
    allowed = "TOML syntax (https://toml.io), e.g. theta = \"pi/4\""
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise InputError(f'input error: input file "{where}" is not UTF-8 text ({exc.reason}): '
                         f"allowed is {allowed}", key=where, value=None, allowed=allowed) from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        lines = text.splitlines()
        line = lines[int(m[1]) - 1] if m and 0 < int(m[1]) <= len(lines) else ""
        raise InputError(f'input error: input file "{where}" is not valid TOML: {exc}; the line '
                         f"reads {_fmt(line)}: allowed is {allowed}",
                         key=where, value=line, allowed=allowed) from None
    return parse_config(data, source=where)


def default_config_path() -> Path:
    """The built-in demo input, ``nesb_hpc/data/default.toml`` (package data)."""
    return Path(__file__).resolve().parent / "data" / "default.toml"


# ----------------------------------------------------------------------------- key reference


def _default_text(f) -> str:
    if f.metadata["default_text"]:
        return f.metadata["default_text"]
    if f.default is MISSING and f.default_factory is MISSING:
        return "required"
    return _fmt(_to_toml(f.default if f.default is not MISSING else f.default_factory()))


def _entry(name: str, type_name: str, units: str, default: str, doc: str, allowed: str) -> str:
    wrap = textwrap.TextWrapper(width=96, initial_indent=" " * 6, subsequent_indent=" " * 6)
    head = f"  {name} = {default}" if default != "required" else f"  {name} (required)"
    kind = type_name + (f" [{units}]" if units else "")
    return "\n".join([f"{head:<34} {kind}", wrap.fill(doc), wrap.fill(f"Allowed: {allowed}.")])


def _table_reference(cls, title: str) -> list[str]:
    out = [textwrap.fill(f"{title}  {_summary(cls)}", width=96, subsequent_indent="    ")]
    subtables = []
    for f in fields(cls):
        meta = f.metadata
        for short, targets in cls._SHORTHANDS.items():
            if targets[0] == f.name:
                out.append(_entry(short, meta["type"], meta["units"], "(unset)",
                                  cls._SHORTHAND_DOCS[short], meta["allowed"]))
        parse = meta["parse"]
        if isinstance(parse, _Table):
            subtables.append(parse)
            out.append(_entry(f.name, "table", "", _default_text(f), meta["doc"],
                              f"see [{parse.table}] below"))
        elif isinstance(parse, _StudyParams):
            wrap = textwrap.TextWrapper(width=96, initial_indent=" " * 6, subsequent_indent=" " * 6)
            out += ["  (other keys)", wrap.fill(meta["doc"]),
                    wrap.fill(f"Allowed: {parse.allowed}.")]
            out.append(_entry("alpha, delta, ... (swept)", "list|range", "", "not swept",
                              _SWEPT_DOC, _SWEPT_ALLOWED))
            for name, k in _STUDY_KEYS.items():
                if name in SWEEP_KEYS:
                    continue
                default = k.default_text or _fmt(_to_toml(k.default))
                kinds = ", ".join(f'"{kind}"' for kind in k.kinds)
                out.append(_entry(name, k.parse.type_name, k.units, default,
                                  f"{k.doc} Kinds: {kinds}.", k.parse.allowed))
        else:
            out.append(_entry(f.name, meta["type"], meta["units"], _default_text(f), meta["doc"],
                              meta["allowed"]))
    groups: dict[type, list[str]] = {}  # sub-tables of one class are described once
    for sub in subtables:
        groups.setdefault(sub.cls, []).append(f"[{sub.table}]")
    for sub_cls, titles in groups.items():
        out += ["", *_table_reference(sub_cls, " and ".join(titles))]
    return out


def key_reference() -> str:
    """The input-file reference for ``--help``: every table and key with type, units, default
    and allowed values, generated from the dataclass field metadata."""
    lines = [
        "Input file (TOML). Units: hbar = k_B = 1; energies, temperatures and rates in units of",
        "the bath cutoff omega_c; angles in radians. Every table and key is optional (defaults",
        "below) unless marked required; unknown tables and keys are errors. The built-in demo",
        f"input {default_config_path().name} (nesb_hpc/data) is a commented example.",
    ]
    for name in TABLES:
        lines += ["", *_table_reference(_TABLE_CLASSES[name], f"[{name}]")]
    return "\n".join(lines) + "\n"
