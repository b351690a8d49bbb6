"""What every study kind builds on (pure: no MPI, no PETSc, no files): a point's solve request, its
identity, the tasks of a study and their summary rows, and the base class ``Study`` ("point" and
"sweep": one steady state per point). The kinds are in study.py (and study_dynamics.py), which
also builds a study from an input.

A task is run by ``Study.run_task(task, evaluate, ctx)``, where ``evaluate(request) -> row``
solves one HEOM steady state (a results row, results_file.RESULT_DTYPE) and ``ctx`` answers
questions about cost (and, for transients, runs the evolution). The driver provides both (on
whatever communicator); the same task code runs on every rank of a group and takes the same
decisions there, because every rank sees the same rows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from .bath import N_BOSE_AUTO
from .config import STUDY_LAYOUT_KEYS, STUDY_PARAMS, SWEEP_KEYS, ModelConfig, RunConfig

MODEL_COLUMNS = ("delta", "theta", "alpha1", "alpha2", "T1", "T2", "theta1", "phi1", "phi2")
# Statuses of a point (summary "status"): a point is good if "ok" or "converged"; a point stopped
# by a limit is continued when the study is re-run.
GOOD_STATUSES = ("ok", "converged")
# a solve (and its point) whose decomposed C(t) misses [bath] tolerance: computed, but not good
INACCURATE = "inaccurate"
RETRY_STATUSES = ("memory_limit", "time_limit")
# points that went wrong: run again on a re-run only when asked (--retry-failed)
FAILED_STATUSES = ("failed", "error")

SUMMARY_BASE = [
    ("point", "i8"), ("key", "S16"), ("status", "S16"), ("reason", "S64"), ("n_solves", "i4"),
    ("time_s", "f8"), *[(name, "f8") for name in MODEL_COLUMNS],
]


class PointError(Exception):
    """A solve could not be made (its preparation raised): the point ends with status "error"."""


class LimitReached(Exception):
    """A solve does not fit a limit (status "memory_limit"): the point ends, to be continued."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Request:
    """One HEOM steady state to compute: a model at a hierarchy depth and Bose-expansion size."""

    model: ModelConfig
    depth: int
    n_bose: int | str          # "auto": chosen per bath (bath.resolved_n_bose)
    role: str = "point"

    @property
    def n_bose_column(self) -> int:
        """n_bose as stored in a results row (bath.N_BOSE_AUTO for "auto")."""
        return N_BOSE_AUTO if self.n_bose == "auto" else int(self.n_bose)

    def key(self) -> tuple:
        """What identifies a solve: depth, n_bose and the model (values to 12 significant digits,
        so that the same grid point computed from a denser range is recognised)."""
        return (int(self.depth), self.n_bose_column, *(same_value(getattr(self.model, n)) for n in MODEL_COLUMNS))


def same_value(x: float) -> float:
    """x rounded to 12 significant digits: parameters that differ below this are the same point."""
    return float(f"{float(x):.12g}")


def row_key(row) -> tuple:
    """Request.key() of a stored results row."""
    return (int(row["depth"]), int(row["n_bose"]), *(same_value(row[n]) for n in MODEL_COLUMNS))


@dataclass(frozen=True)
class Task:
    """One point of a study: its number, its model, its swept values and its identity key."""

    index: int
    model: ModelConfig
    label: tuple[tuple[str, float], ...]  # the swept (key, value) pairs of this point
    key: str                               # 16 hex digits: what the point computes


class TaskContext(Protocol):
    """What a task may ask the driver about cost (convergence ladders use it)."""

    def cached(self, request: Request) -> bool:
        """Whether the request's result is already stored (costs nothing)."""

    def memory_per_rank(self, request: Request) -> float:
        """Estimated bytes per rank of solving the request on this task's group."""

    def memory_limit(self) -> float:
        """Bytes one rank may use."""

    def nonzeros(self, request: Request) -> int:
        """Stored nonzeros of the request's matrix (a cost measure)."""


# ----------------------------------------------------------------------------- points


def sweep_changes(cfg: RunConfig) -> list[dict[str, float]]:
    swept = cfg.study.swept()
    if not swept:
        return [{}]
    names = list(swept)
    if cfg.study.get("combine") == "zip":
        combos = zip(*swept.values())
    else:
        combos = itertools.product(*swept.values())
    return [dict(zip(names, values)) for values in combos]


def task_key(kind: str, model: ModelConfig, spec: dict) -> str:
    """16 hex digits of what the point computes (provenance; stored points are matched to the
    input by their values, Study.identity)."""
    text = json.dumps({"kind": kind, "model": model.to_dict(), "spec": spec}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def study_spec(cfg: RunConfig) -> dict:
    """The [study] keys that define what a point computes (all but the layout keys and the swept
    values, which enter through the point's model), defaults filled in."""
    keys = [k for k in STUDY_PARAMS[cfg.study.kind] if k not in SWEEP_KEYS and k not in STUDY_LAYOUT_KEYS
            and k != "combine"]
    return {k: _jsonable(cfg.study.get(k)) for k in sorted(keys)}


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


# ----------------------------------------------------------------------------- studies


def summary_row(dtype: np.dtype, task: Task) -> np.ndarray:
    row = np.zeros((), dtype=dtype)
    for name in dtype.names:
        if dtype.fields[name][0].kind == "f":
            row[name] = np.nan
    row["point"] = task.index
    row["key"] = task.key
    for name in MODEL_COLUMNS:
        row[name] = getattr(task.model, name)
    return row


def finish(row: np.ndarray, rows: list, status: str, reason: str) -> np.ndarray:
    """Close a point's summary. A point whose result rests on an inaccurate solve (its C(t)
    misses [bath] tolerance) is "inaccurate", not good, whatever else it reached."""
    inaccurate = [r for r in rows if row_status(r) == INACCURATE]
    if status in GOOD_STATUSES and inaccurate:
        status, reason = INACCURATE, reason or row_reason(inaccurate[0])
    row["status"] = status
    row["reason"] = reason[:64]
    row["n_solves"] = len(rows)
    row["time_s"] = float(sum(r["time_s"] for r in rows if np.isfinite(r["time_s"])))
    return row[()]  # a numpy.void: fields read as scalars (bytes for strings)


NOISE_COLUMNS = [("S1", "f8"), ("S2", "f8"), ("S12", "f8")]   # [study] noise: zero-frequency noise


def copy_noise(out, row) -> None:
    """The noise columns of a solve into a summary (NaN where not computed, or a row of an older file)."""
    for name, _ in NOISE_COLUMNS:
        if name in (row.dtype.names or ()):
            out[name] = row[name]


def row_reason(row) -> str:
    return f"{row['reason'].decode() if isinstance(row['reason'], bytes) else row['reason']}"


def row_status(row) -> str:
    status = row["status"]
    return status.decode() if isinstance(status, bytes) else str(status)


def usable(row) -> bool:
    """A solve whose current can be used: "ok", or "inaccurate" (the point is then marked so)."""
    return row_status(row) in ("ok", INACCURATE)


@dataclass
class Study:
    """The tasks of a study and how each is run (base: "point" and "sweep", one solve each)."""

    cfg: RunConfig
    tasks: list[Task]
    kind: str = "sweep"
    EXTRA_COLUMNS = [("I1", "f8"), ("I2", "f8"), ("residual", "f8"), ("I_redfield", "f8"),
                     ("I_ptre", "f8"), *NOISE_COLUMNS]

    @property
    def summary_dtype(self) -> np.dtype:
        return np.dtype(SUMMARY_BASE + self.EXTRA_COLUMNS)

    def request(self, model: ModelConfig, role: str, depth: int | None = None,
                n_bose: int | None = None) -> Request:
        return Request(model, self.cfg.hierarchy.depth if depth is None else depth,
                       self.cfg.bath.n_bose if n_bose is None else n_bose, role)

    # the [model] values that identify a point (stored points are matched to the input by them)
    IDENTITY_COLUMNS = MODEL_COLUMNS

    def identity(self, model: ModelConfig) -> tuple:
        """A point's identity: its IDENTITY_COLUMNS values (to 12 significant digits)."""
        return tuple(same_value(getattr(model, n)) for n in self.IDENTITY_COLUMNS)

    @classmethod
    def check_model(cls, cfg: RunConfig, model: ModelConfig, where: str) -> None:
        """Raise InputError if the kind cannot compute this point (build_study, before any work)."""

    def largest_requests(self, task: Task) -> list[Request]:
        """The most expensive solves of a task (for sizing)."""
        return [self.request(task.model, "point")]

    def run_task(self, task: Task, evaluate: Callable[[Request], np.ndarray], ctx: TaskContext) -> np.ndarray:
        row = evaluate(self.request(task.model, "point"))
        out = summary_row(self.summary_dtype, task)
        for name in ("I1", "I2", "residual", "I_redfield", "I_ptre"):
            out[name] = row[name]
        copy_noise(out, row)
        ok = usable(row)
        return finish(out, [row], "ok" if ok else "failed", "" if ok else row_reason(row))

    def describe(self, s) -> str:
        return f"I = {s['I1']:.6e}  residual {s['residual']:.1e}"

    def summary_of_stop(self, task: Task, rows: list, status: str, reason: str) -> np.ndarray:
        """The summary of a point that ended early (an error or a limit) after the given solves."""
        return finish(summary_row(self.summary_dtype, task), rows, status, reason)
