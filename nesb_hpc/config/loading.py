"""A whole input: RunConfig (one field per table), and reading it from TOML (parse_config,
load_config) with every problem reported as one InputError."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping

from .bath_table import BathConfig
from .dynamics_table import DynamicsConfig
from .errors import InputError, combined, did_you_mean, fmt
from .schema import SubTable, TableBase, build_table, documented_field, table_field, table_summary
from .study_table import StudyConfig
from .tables import HierarchyConfig, ModelConfig, OutputConfig, SolverConfig

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

TABLES = ("model", "bath", "hierarchy", "solver", "study", "dynamics", "output")
# tables read only by some study kinds: None when not given (and then not written back by to_dict)
OPTIONAL_TABLES = ("dynamics",)


@dataclass(frozen=True)
class RunConfig(TableBase):
    """A whole validated input file: one field per table, all defaults filled in."""

    model: ModelConfig = table_field(ModelConfig, "model")
    bath: BathConfig = table_field(BathConfig, "bath")
    hierarchy: HierarchyConfig = table_field(HierarchyConfig, "hierarchy")
    solver: SolverConfig = table_field(SolverConfig, "solver")
    study: StudyConfig = table_field(StudyConfig, "study")
    dynamics: DynamicsConfig | None = documented_field(
        None, table_summary(DynamicsConfig),
        SubTable(DynamicsConfig, "dynamics", optional=True), default_text='none (defaults with kind = "dynamics")')
    output: OutputConfig = table_field(OutputConfig, "output")

    @classmethod
    def _check(cls, values, table):
        kind, dynamics = values["study"].kind, values["dynamics"]
        if kind == "dynamics" and dynamics is None:
            values["dynamics"] = DynamicsConfig()
        elif kind != "dynamics" and dynamics is not None:
            allowed = '[dynamics] only with [study] kind = "dynamics"'
            raise InputError(f'input error: [dynamics] is given, but [study] kind = "{kind}" computes no transient: '
                             f"allowed is {allowed}", key="dynamics", value=dynamics.to_dict(), allowed=allowed)
        # A ladder's or check's Bose terms ([study] n_bose, n_bose_check) replace [bath] n_bose for
        # both baths; with a per-bath n_bose it would be unclear which a rung means.
        study, bath = values["study"], values["bath"]
        ladder = [k for k in ("n_bose", "n_bose_check") if dict(study.params).get(k)]
        for sub in ("bath1", "bath2"):
            table_of = getattr(bath, sub)
            if ladder and table_of is not None and table_of.n_bose is not None:
                allowed = f"n_bose only in [bath] when [study] {ladder[0]} is given"
                raise InputError(f"input error: [bath.{sub}] n_bose = {fmt(table_of.n_bose)} cannot be combined with "
                                 f"[study] {ladder[0]} = {fmt(dict(study.params)[ladder[0]])} (which sets the Bose terms "
                                 f"of both baths): allowed is {allowed}", key=f"bath.{sub}.n_bose",
                                 value=table_of.n_bose, allowed=allowed)

    def replace_model(self, **changes) -> RunConfig:
        """A new RunConfig with [model] keys changed (input vocabulary: ``alpha``, angle strings).

        Re-validated: raises :class:`InputError` like a file would.
        """
        return dataclasses.replace(self, model=model_with(self.model, changes))


def model_with(model: ModelConfig, changes: dict, table: str = "model") -> ModelConfig:
    """A [model] with keys changed (input vocabulary: ``alpha`` sets both couplings, angle
    strings), re-validated (InputError naming `table`)."""
    data = model.to_dict()
    for short, targets in ModelConfig._SHORTHANDS.items():
        if short in changes:
            for t in targets:
                data.pop(t)
    data.update(changes)
    return build_table(ModelConfig, data, table)


TABLE_CLASSES = {f.name: f.metadata["parse"].cls for f in fields(RunConfig)}


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
        errors = []
        for name, value in data.items():
            if name not in TABLES:
                hint = did_you_mean(str(name), TABLES)
                owners = [t for t, cls in TABLE_CLASSES.items()
                          if name in {f.name for f in fields(cls)} | set(cls._SHORTHANDS)]
                if owners:
                    hint = f" (did you mean {name} in [{owners[0]}]?)"
                errors.append(InputError(
                    f'input error: unknown top-level key "{name}": allowed are the tables '
                    f"{', '.join(TABLES)}{hint}", key=str(name), value=value,
                    allowed=", ".join(TABLES)))
        tables = {}
        for name in TABLES:  # every table's problems are reported together
            if name in OPTIONAL_TABLES and data.get(name) is None:
                tables[name] = None
                continue
            try:
                tables[name] = TABLE_CLASSES[name]._from_mapping(data.get(name, {}), name)
            except InputError as err:
                errors.extend(getattr(err, "errors", [err]))
        if errors:
            raise combined(errors)
        return RunConfig(**tables)
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
                         f"reads {fmt(line)}: allowed is {allowed}",
                         key=where, value=line, allowed=allowed) from None
    return parse_config(data, source=where)


def default_config_path() -> Path:
    """The built-in demo input, ``nesb_hpc/data/default.toml`` (package data)."""
    return Path(__file__).resolve().parents[1] / "data" / "default.toml"


