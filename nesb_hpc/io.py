"""Self-describing, restartable HDF5 output, written by one process (world rank 0) only.

Layout (format 2):
  /               attrs: format, input_toml (as given), input_normalised (JSON, defaults filled
                  in), input_digest, compat (JSON: what a resumed run must share), study_kind,
                  n_points, created, the versions of the creating run (nesb_hpc, PETSc, SLEPc,
                  petsc4py, slepc4py, MPI library, scalar type, n_ranks), runs (JSON list, one
                  entry per run: start time, ranks, groups, versions)
  /results        one row per HEOM solve (compound, resizable; RESULT_COLUMNS): the point and the
                  solve's number in it, its role, the model, hierarchy size, I1, I2, diagnostics,
                  solver status, timings, the run that computed it, I_redfield, I_ptre
  /results_info   one JSON string per /results row: PETSc options in force, solver message,
                  relative error of each bath's decomposed C(t)
  /summary        one row per finished point (compound; columns depend on the study kind,
                  study.Study.summary_dtype): status, reason and the point's result

Crash safety: a write copies the file, appends to the copy, fsyncs it and renames it over the
original (atomic on POSIX). The file at ``path`` is therefore complete at every instant, whatever
kills the job and when (a reader may open it at any time); a leftover ``path.tmp`` is garbage.
The copy costs O(file size) per write: a few ms for studies of thousands of points.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass

import h5py
import numpy as np

FORMAT = 2
RESULT_COLUMNS: list[tuple[str, str]] = [
    ("point", "i8"), ("eval", "i4"), ("role", "S12"), ("key", "S16"), ("run", "i4"),
    ("delta", "f8"), ("theta", "f8"), ("alpha1", "f8"), ("alpha2", "f8"),
    ("T1", "f8"), ("T2", "f8"), ("theta1", "f8"), ("phi1", "f8"), ("phi2", "f8"),
    ("depth", "i4"), ("n_bose", "i4"), ("n_modes", "i4"), ("n_ados", "i8"), ("n_unknowns", "i8"),
    ("nonzeros", "i8"), ("I1", "f8"), ("I2", "f8"), ("residual", "f8"), ("conservation", "f8"),
    ("x0", "f8"), ("x1", "f8"), ("x2", "f8"), ("x3", "f8"), ("positivity", "f8"),
    ("iterations", "i4"), ("method", "S12"), ("status", "S16"), ("reason", "S48"),
    ("time_s", "f8"), ("assembly_s", "f8"), ("solve_s", "f8"), ("peak_rss_mb", "f8"), ("ranks", "i4"),
    ("I_redfield", "f8"), ("I_ptre", "f8"),
]
RESULT_DTYPE = np.dtype(RESULT_COLUMNS)
_STR = h5py.string_dtype()


def input_digest(normalised_input: dict) -> str:
    """SHA-256 of the normalised input less [output] (recorded; resumption checks `compat`)."""
    physics = {k: v for k, v in normalised_input.items() if k != "output"}
    return hashlib.sha256(json.dumps(physics, sort_keys=True, default=str).encode()).hexdigest()


def empty_row() -> np.ndarray:
    """A results row with NaN floats, zero integers and empty strings."""
    row = np.zeros((), dtype=RESULT_DTYPE)
    for name, kind in RESULT_COLUMNS:
        if kind.startswith("f"):
            row[name] = np.nan
    return row


class IncompatibleFile(RuntimeError):
    """The output file holds results of a different input (or another job is writing it)."""


def compat_difference(stored: dict, current: dict, prefix: str = "") -> str | None:
    """The first difference between two nested dicts, as '[table] key is A in the file, B in the
    input', or None if they agree."""
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key, "(absent)"), current.get(key, "(absent)")
        where = f"{prefix}.{key}" if prefix else key
        if isinstance(a, dict) and isinstance(b, dict):
            found = compat_difference(a, b, where)
            if found:
                return found
        elif a != b:
            table, _, name = where.rpartition(".")
            label = f"[{table}] {name}" if table else name
            return f"{label} is {json.dumps(a)} in the file, {json.dumps(b)} in the input"
    return None


def candidate_paths(path: str, limit: int = 1000):
    """path, then PATH-2.h5, PATH-3.h5, ... (same suffix)."""
    yield path
    stem, ext = os.path.splitext(path)
    for n in range(2, limit):
        yield f"{stem}-{n}{ext}"


@dataclass
class StoredState:
    """Everything a resumed run needs from an existing file."""

    attrs: dict
    rows: np.ndarray        # /results
    infos: list[str]        # /results_info
    summary: np.ndarray     # /summary

    @property
    def compat(self) -> dict | None:
        text = self.attrs.get("compat")
        return json.loads(text) if text else None


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsync'ed
        _fsync(directory)


def _attr(value):
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class ResultsFile:
    """The study's HDF5 file: `create` or `load`, then `write`. One writer process."""

    path: str

    @classmethod
    def create(cls, path: str, attrs: dict, summary_dtype: np.dtype) -> "ResultsFile":
        """A new file (replacing any file at path), written whole then renamed into place."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = path + ".tmp"
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            f.attrs["runs"] = "[]"
            for key, value in attrs.items():
                f.attrs[key] = value
            f.create_dataset("results", shape=(0,), maxshape=(None,), dtype=RESULT_DTYPE, chunks=(64,))
            f.create_dataset("results_info", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(64,))
            f.create_dataset("summary", shape=(0,), maxshape=(None,), dtype=summary_dtype, chunks=(64,))
        _fsync(tmp)
        os.replace(tmp, path)  # the file exists complete or not at all
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
        return cls(path)

    @staticmethod
    def load(path: str) -> StoredState:
        """Read a file (raises OSError if it is not a readable HDF5 file, KeyError if it lacks
        the format-2 datasets)."""
        with h5py.File(path, "r") as f:
            attrs = {k: _attr(v) for k, v in f.attrs.items()}
            if attrs.get("format") != FORMAT:
                return StoredState(attrs, np.zeros(0, RESULT_DTYPE), [], np.zeros(0))
            rows = f["results"][()]
            infos = [_attr(s) for s in f["results_info"][()]]
            summary = f["summary"][()]
        return StoredState(attrs, rows, infos, summary)

    def _rewrite(self, update) -> None:
        """Apply update(h5py.File) to a copy, then atomically replace the file by the copy."""
        tmp = self.path + ".tmp"
        shutil.copyfile(self.path, tmp)
        try:
            with h5py.File(tmp, "r+") as f:
                update(f)
            _fsync(tmp)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        _fsync_dir(os.path.dirname(os.path.abspath(self.path)))

    def start_run(self, info: dict, n_points: int) -> int:
        """Record a run (returns its number, 1 for the first) and the study's current size."""
        number = []

        def update(f):
            runs = json.loads(_attr(f.attrs.get("runs", "[]")))
            runs.append({"run": len(runs) + 1, **info})
            number.append(len(runs))
            f.attrs["runs"] = json.dumps(runs)
            f.attrs["n_points"] = n_points

        self._rewrite(update)
        return number[0]

    def write(self, rows: list[np.ndarray], infos: list[str], summaries: list[np.ndarray]) -> None:
        """Append solves and finished points in one atomic step. A summary whose point is already
        in /summary replaces that row (a point continued after a limit)."""
        if not rows and not summaries:
            return

        def update(f):
            if rows:
                table, info = f["results"], f["results_info"]
                n = table.shape[0]
                table.resize((n + len(rows),))
                info.resize((n + len(rows),))
                table[n:] = np.array(rows, dtype=RESULT_DTYPE)
                info[n:] = infos
            if summaries:
                table = f["summary"]
                existing = {int(p): i for i, p in enumerate(table["point"])} if table.shape[0] else {}
                for s in summaries:
                    i = existing.get(int(s["point"]))
                    if i is None:
                        i = table.shape[0]
                        table.resize((i + 1,))
                        existing[int(s["point"])] = i
                    table[i] = s

        self._rewrite(update)


class OutputLock:
    """An exclusive advisory lock on PATH.lock, so that two jobs never write one file.

    Released by `release` or by the kernel when the process dies. On file systems without
    flock support (some Lustre mounts) it does nothing (``held`` is False).
    """

    def __init__(self, path: str):
        self.lock_path = path + ".lock"
        self.fd: int | None = None
        self.held = False

    def acquire(self) -> "OutputLock":
        import fcntl

        os.makedirs(os.path.dirname(os.path.abspath(self.lock_path)), exist_ok=True)
        self.fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = True
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise IncompatibleFile(f"another nesb_hpc job is writing {self.lock_path[:-5]} (it holds "
                                   f"{self.lock_path}): wait for it, or choose another [output] path")
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        return self

    def release(self) -> None:
        if self.fd is not None:
            if self.held:
                with contextlib.suppress(OSError):
                    os.remove(self.lock_path)
            os.close(self.fd)
            self.fd = None
            self.held = False


def read_results(path: str) -> np.ndarray:
    """The /results table (one row per solve) as a numpy structured array."""
    with h5py.File(path, "r") as f:
        return f["results"][()]


def read_summary(path: str) -> np.ndarray:
    """The /summary table (one row per finished point) as a numpy structured array."""
    with h5py.File(path, "r") as f:
        return f["summary"][()]


def read_attrs(path: str) -> dict:
    """The file's attributes (strings decoded; JSON left as text)."""
    with h5py.File(path, "r") as f:
        return {k: _attr(v) for k, v in f.attrs.items()}
