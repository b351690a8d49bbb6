"""The input-file reference that ``--help`` prints, generated from the tables' field metadata."""

from __future__ import annotations

import textwrap
from dataclasses import MISSING, fields

from .errors import fmt
from .loading import TABLE_CLASSES, TABLES, default_config_path
from .schema import SubTable, table_summary, to_toml
from .study_table import STUDY_KEYS, SWEEP_KEYS, SWEPT_ALLOWED, SWEPT_DOC, StudyParams

def _default_text(f) -> str:
    if f.metadata["default_text"]:
        return f.metadata["default_text"]
    if f.default is MISSING and f.default_factory is MISSING:
        return "required"
    return fmt(to_toml(f.default if f.default is not MISSING else f.default_factory()))


def _entry(name: str, type_name: str, units: str, default: str, doc: str, allowed: str) -> str:
    wrap = textwrap.TextWrapper(width=96, initial_indent=" " * 6, subsequent_indent=" " * 6)
    head = f"  {name} = {default}" if default != "required" else f"  {name} (required)"
    kind = type_name + (f" [{units}]" if units else "")
    return "\n".join([f"{head:<34} {kind}", wrap.fill(doc), wrap.fill(f"Allowed: {allowed}.")])


def _table_reference(cls, title: str) -> list[str]:
    out = [textwrap.fill(f"{title}  {table_summary(cls)}", width=96, subsequent_indent="    ")]
    subtables = []
    for f in fields(cls):
        meta = f.metadata
        for short, targets in cls._SHORTHANDS.items():
            if targets[0] == f.name:
                out.append(_entry(short, meta["type"], meta["units"], "(unset)",
                                  cls._SHORTHAND_DOCS[short], meta["allowed"]))
        parse = meta["parse"]
        if isinstance(parse, SubTable):
            subtables.append(parse)
            out.append(_entry(f.name, "table", "", _default_text(f), meta["doc"],
                              f"see [{parse.table}] below"))
        elif isinstance(parse, StudyParams):
            wrap = textwrap.TextWrapper(width=96, initial_indent=" " * 6, subsequent_indent=" " * 6)
            out += ["  (other keys)", wrap.fill(meta["doc"]),
                    wrap.fill(f"Allowed: {parse.allowed}.")]
            out.append(_entry("alpha, delta, ... (swept)", "list|range", "", "not swept",
                              SWEPT_DOC, SWEPT_ALLOWED))
            for name, k in STUDY_KEYS.items():
                if name in SWEEP_KEYS:
                    continue
                default = k.default_text or fmt(to_toml(k.default))
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


def key_reference(table: str | None = None) -> str:
    """The input-file reference for ``--help`` (or ``--help TABLE`` for one table): every table and
    key with type, units, default and allowed values, generated from the dataclass field metadata.
    Raises KeyError for an unknown table name."""
    if table is not None and table not in TABLES:
        raise KeyError(table)
    lines = [
        "Input file (TOML). Units: hbar = k_B = 1; energies, temperatures and rates in units of",
        "the bath cutoff omega_c; angles in radians. Every table and key is optional (defaults",
        "below) unless marked required; unknown tables and keys are errors. The built-in demo",
        f"input {default_config_path().name} (nesb_hpc/data) is a commented example.",
    ]
    for name in TABLES if table is None else (table,):
        lines += ["", *_table_reference(TABLE_CLASSES[name], f"[{name}]")]
    return "\n".join(lines) + "\n"
