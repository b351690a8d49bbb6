"""The table machinery: dataclass fields that carry their documentation, units and parser
(``documented_field``), construction from a TOML mapping (``build_table``: unknown keys,
shorthands, defaults, per-field parsing, cross-field checks) and the shared base class."""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, ClassVar, Mapping

from .errors import InputError, combined, did_you_mean, fmt, value_error

@dataclass(frozen=True)
class SubTable:
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


def documented_field(default: Any, doc: str, parse: Callable, *, units: str = "", default_text: str = "",
         factory: Callable | None = None) -> Any:
    """A dataclass field carrying its documentation, units, allowed values and parser."""
    meta = {"doc": doc, "units": units, "allowed": parse.allowed, "type": parse.type_name,
            "parse": parse, "default_text": default_text}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def parser_of(cls, name: str) -> Callable:
    return next(f.metadata["parse"] for f in fields(cls) if f.name == name)


def build_table(cls, data: Any, table: str):
    """Parse one table (a mapping) into ``cls``: unknown keys, shorthands, missing keys, values."""
    if not isinstance(data, Mapping):
        allowed = f"a table [{table}]"
        raise value_error(table, data, f"must be {allowed}", allowed)
    data = dict(data)
    names = [f.name for f in fields(cls)]
    keys = list(names)
    for short, targets in cls._SHORTHANDS.items():
        keys.insert(keys.index(targets[0]), short)
    unknown = [InputError(f'input error: [{table}] unknown key "{name}": allowed keys are '
                          f"{', '.join(keys)}{did_you_mean(str(name), keys)}",
                          key=f"{table}.{name}", value=data[name], allowed=", ".join(keys))
               for name in data if name not in keys]
    data = {k: v for k, v in data.items() if k in keys}   # the known keys are checked too
    for short, targets in cls._SHORTHANDS.items():
        if short in data:
            for t in targets:
                if t in data:
                    allowed = (f"either {short} (sets {' and '.join(targets)}) or "
                               f"{', '.join(targets)}")
                    raise InputError(
                        f"input error: [{table}] {short} = {fmt(data[short])} cannot be combined "
                        f"with {t} = {fmt(data[t])}: allowed is {allowed}",
                        key=f"{table}.{short}", value=data[short], allowed=allowed)
            value = data.pop(short)
            parser_of(cls, targets[0])(value, f"{table}.{short}")  # errors name the key written
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
    try:
        built = cls(**validate_table(cls, values, table))
    except InputError as err:
        raise combined(unknown + getattr(err, "errors", [err])) from None
    if unknown:
        raise combined(unknown)
    return built


def validate_table(cls, values: dict, table: str) -> dict:
    """Run the class's checks on raw values, every field's parser, then the cross-field checks."""
    cls._precheck(values, table)
    out, errors = {}, []
    for f in fields(cls):  # every field's problem is reported, not only the first
        try:
            out[f.name] = f.metadata["parse"](values[f.name], f"{table}.{f.name}" if table else f.name)
        except InputError as err:
            errors.extend(getattr(err, "errors", [err]))
    if errors:
        raise combined(errors)
    cls._check(out, table)
    return out


def to_toml(value: Any) -> Any:
    if isinstance(value, TableBase):
        return value.to_dict()
    if isinstance(value, complex):
        return value.real if value.imag == 0 else [value.real, value.imag]
    if isinstance(value, tuple):
        return [to_toml(v) for v in value]
    return value


class TableBase:
    """Shared behaviour of the table dataclasses: validation on construction, ``to_dict``."""

    _TABLE: ClassVar[str] = ""
    _SHORTHANDS: ClassVar[dict[str, tuple[str, ...]]] = {}  # input key -> fields it sets
    _SHORTHAND_DOCS: ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        # Constructing in Python is held to the same rules as reading a file (and normalises,
        # e.g. theta="pi/4" -> 0.785...). Parsers accept their own output, so re-validating a
        # parsed table is a no-op.
        values = validate_table(type(self), {f.name: getattr(self, f.name) for f in fields(self)},
                           self._TABLE)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def _from_mapping(cls, data, table):
        return build_table(cls, data, table)

    @classmethod
    def _precheck(cls, values: dict, table: str) -> None:
        """Checks on the raw values, before the field parsers run."""

    @classmethod
    def _check(cls, values: dict, table: str) -> None:
        """Cross-field checks on parsed values (may canonicalise ``values`` in place)."""

    def to_dict(self) -> dict:
        """Plain dict of this table (TOML-serialisable; absent optional sub-tables omitted)."""
        return {f.name: to_toml(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None}


def table_summary(cls) -> str:
    """A table class's docstring as one line, without its leading "[table]" tags."""
    return re.sub(r"^(\[[^\]]+\](\s*/\s*)?)+\s*", "", " ".join((cls.__doc__ or "").split()))


def table_field(cls, table: str) -> Any:
    return documented_field(None, table_summary(cls), SubTable(cls, table), factory=cls)


