"""Input errors and the wording of their messages: every error names the key, the value as
written in TOML, and what is allowed."""

from __future__ import annotations

import difflib
import json
import math
from typing import Any, Mapping


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


def combined(errors: list[InputError]) -> InputError:
    """One InputError for several: the only one as it is, or a message listing every one (its key,
    value and allowed set are the first's; ``errors`` holds them all)."""
    if len(errors) == 1:
        return errors[0]
    lines = [e.message.removeprefix("input error: ") for e in errors]
    first = errors[0]
    err = InputError(f"input error: {len(errors)} problems in the input:\n  " + "\n  ".join(lines),
                     key=first.key, value=first.value, allowed=first.allowed, source=first.source)
    err.errors = list(errors)
    return err


def fmt(value: Any, limit: int = 120) -> str:
    """A value as it would be written in TOML, for messages."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = repr(float(value)) if math.isfinite(value) else str(value)  # numpy 2 reprs np.float64(...)
    elif isinstance(value, complex):
        text = fmt(value.real) if value.imag == 0 else f"[{fmt(value.real)}, {fmt(value.imag)}]"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(fmt(v) for v in value) + "]"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k} = {fmt(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt_bound(x: float) -> str:
    """A bound for messages: 0 rather than 0.0."""
    return f"{x:g}"


def where(key: str) -> str:
    """'model.theta' -> '[model] theta'; a top-level key stays bare."""
    table, _, name = key.rpartition(".")
    return f"[{table}] {name}" if table else name


def value_error(key: str, value: Any, problem: str, allowed: str) -> InputError:
    return InputError(f"input error: {where(key)} = {fmt(value)} {problem}",
                      key=key, value=value, allowed=allowed)


def quoted(options) -> str:
    return ", ".join(f'"{o}"' for o in options)


def did_you_mean(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


