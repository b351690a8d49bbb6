"""[solver.petsc_options]: a (nested) table flattened to PETSc option names, as Firedrake's
petsctools does, with the options that could view, monitor or write files refused (they belong on
the command line)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar, Mapping

from .errors import InputError, fmt, value_error

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
            raise value_error(key, value, f"is not finite: allowed is {allowed}", allowed)
        return repr(float(value))  # not numpy 2's "np.float64(...)" for a numpy value
    raise value_error(key, value, f"must be {allowed}", allowed)


def flatten_petsc_options(table: Mapping, key: str = "solver.petsc_options") -> dict[str, str]:
    """Flatten a (nested) options table to PETSc option names and string values.

    As in Firedrake: ``{"ksp": {"type": "gmres"}, "pc_type": "asm"}`` ->
    ``{"ksp_type": "gmres", "pc_type": "asm"}``. A leading "-" on a top-level name is dropped;
    values str/int/float/bool become strings (booleans "true"/"false", "" for a bare flag).
    Raises :class:`InputError` (keys under ``key``) for bad names, values or duplicates.
    """
    if not isinstance(table, Mapping):
        raise value_error(key, table, f"must be {_PETSC_ALLOWED}", _PETSC_ALLOWED)
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
            raise InputError(f"input error: [{key}] {name} = {fmt(value)} is not allowed in the input "
                             f"file: allowed are {_PETSC_SAFE_ALLOWED}", key=where, value=value,
                             allowed=_PETSC_SAFE_ALLOWED)


@dataclass(frozen=True)
class PetscOptionsTable:
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


