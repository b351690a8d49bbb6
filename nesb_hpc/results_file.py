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
  /dynamics       [study] kind = "dynamics" only: one row per output time of every point
                  (DYNAMICS_COLUMNS: the point, t, I1, I2, rho_00, the energies), appended as the
                  transients proceed
  /dynamics_state kind "dynamics" only: one dataset per point, point_N, the state vector at its
                  last stored row (ADO order, 4 numbers per ADO: readable on any rank count) with
                  attributes t, time_step, n_times, ...: what a stopped run resumes from

Crash safety: a write copies the file, appends to the copy, fsyncs it and renames it over the
original (atomic on POSIX). The file at ``path`` is therefore complete at every instant, whatever
kills the job and when (a reader may open it at any time). The copy is a new file with a unique
name beside the output (``.NAME.XXXXXXXX.tmp``, created exclusively, so a planted file or link is
never followed); one left over by a killed job is garbage, removed by the next run. The copy costs
O(file size) per write: a few ms for studies of thousands of points. An output path that is a
symbolic link is refused (the rename would replace the link, not its target).

Replacing a file (``[output] overwrite = true``): the new file is written beside the old one, which
stays in place until the new run has stored its first result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass

import h5py
import numpy as np

from .columns import schema

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
    # added later (files written before lack them: rows are stored with the columns a file has)
    ("n_bose1", "i4"), ("n_bose2", "i4"), ("decomposition_error", "f8"),
    ("S1", "f8"), ("S2", "f8"), ("S12", "f8"),   # [study] noise: zero-frequency noise [omega_c^3]
]
RESULT_DTYPE = np.dtype(RESULT_COLUMNS)
# one row per output time of a transient (observables.TransientObservables.as_dict, two baths)
DYNAMICS_COLUMNS: list[tuple[str, str]] = [
    ("point", "i8"), ("run", "i4"), ("t", "f8"), ("I1", "f8"), ("I2", "f8"), ("trace", "f8"), ("sx", "f8"),
    ("sy", "f8"), ("sz", "f8"), ("E_S", "f8"), ("E_int1", "f8"), ("E_int2", "f8"), ("dE_S_dt", "f8"),
    ("dE_int1_dt", "f8"), ("dE_int2_dt", "f8"), ("energy_balance", "f8"),
]
DYNAMICS_DTYPE = np.dtype(DYNAMICS_COLUMNS)
# the counters a checkpoint carries (all runs up to it)
CHECKPOINT_ATTRS = ("t", "time_step", "n_times", "steps", "rejected", "rhs_evaluations", "wall_s", "run")
_STR = h5py.string_dtype()


def input_digest(normalised_input: dict) -> str:
    """SHA-256 of the normalised input less [output] (recorded; resumption checks `compat`)."""
    physics = {k: v for k, v in normalised_input.items() if k != "output"}
    return hashlib.sha256(json.dumps(physics, sort_keys=True, default=str).encode()).hexdigest()


def utf8_strings(dtype: np.dtype) -> np.dtype:
    """The compound dtype with its fixed-length text fields marked UTF-8 (HDF5 stores them as UTF-8
    text, not as bytes of unknown encoding; numpy still reads them as bytes)."""
    return np.dtype([(name, h5py.string_dtype("utf-8", dtype.fields[name][0].itemsize)
                      if dtype.fields[name][0].kind == "S" else dtype.fields[name][0]) for name in dtype.names])


def as_dtype(rows, dtype: np.dtype) -> np.ndarray:
    """Rows (structured, any columns) in a table's dtype: columns the table lacks are dropped (a
    file written by an earlier version), columns the rows lack keep the empty row's values."""
    out = np.zeros(len(rows), dtype=dtype)
    for name in dtype.names:
        if dtype.fields[name][0].kind == "f":
            out[name] = np.nan
    for i, row in enumerate(rows):
        have = row.dtype.names
        for name in dtype.names:
            if name in have:
                out[i][name] = row[name]
    return out


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
class Checkpoint:
    """A transient's stored state: y in ADO order (heom_states.state_to_array) at time t, the next
    step, how many output times (after t = 0) its rows reach, and the counters of every run up
    to it (CHECKPOINT_ATTRS)."""

    state: np.ndarray
    attrs: dict

    def __getattr__(self, name):
        attrs = self.__dict__.get("attrs", {})
        if name in attrs:
            return attrs[name]
        raise AttributeError(name)


@dataclass
class StoredState:
    """Everything a resumed run needs from an existing file (checkpoints: read_checkpoint)."""

    attrs: dict
    rows: np.ndarray        # /results
    infos: list[str]        # /results_info
    summary: np.ndarray     # /summary
    dynamics: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, DYNAMICS_DTYPE))  # /dynamics

    @property
    def compat(self) -> dict | None:
        text = self.attrs.get("compat")
        return json.loads(text) if text else None


def output_path_problem(path: str) -> str | None:
    """Why results cannot be written at ``path`` (None if they can): a symbolic link, a directory,
    or a directory part that is a regular file. Pure file-system checks, no writing."""
    absolute = os.path.abspath(path)
    if os.path.islink(absolute):
        return (f"{path} is a symbolic link: give the path of the file itself (a results file is "
                "replaced atomically, which would replace the link, not its target)")
    if os.path.isdir(absolute):
        return f"{path} is a directory: give a file name inside it, e.g. {os.path.join(path, 'results.h5')}"
    parent = os.path.dirname(absolute)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent) if os.path.dirname(parent) != parent else ""
    if parent and not os.path.isdir(parent):
        return f"{path} cannot be created: {parent} is a regular file, not a directory"
    return None


def temporary_beside(path: str) -> str:
    """A new empty regular file with a unique name in path's directory (created with O_EXCL: a
    planted file or link of that name is never followed or reused)."""
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:  # mkstemp makes it private (0600); a results file gets the permissions of any new file
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
    finally:
        os.close(fd)
    return tmp


def remove_stale_temporaries(path: str) -> list[str]:
    """Remove the temporary files earlier writers of ``path`` left (killed mid-write): regular
    files named .NAME.*.tmp, and PATH.tmp of older versions. Call with the output's lock held."""
    directory, name = os.path.split(os.path.abspath(path))
    removed = []
    for entry in os.scandir(directory or "."):
        stale = (entry.name.startswith(f".{name}.") and entry.name.endswith(".tmp")) or entry.name == f"{name}.tmp"
        if stale and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.remove(entry.path)
                removed.append(entry.path)
    return removed


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
    """The study's HDF5 file: `create` or `load`, then `write`. One writer process.

    ``path`` is where the file is read and written now; ``target`` where it belongs. They differ
    while a replacement (``create(..., defer=True)``) has stored no result yet."""

    path: str
    target: str = ""

    def __post_init__(self):
        self.target = self.target or self.path

    @property
    def pending(self) -> bool:
        """A replacement that has not yet taken the old file's place."""
        return self.path != self.target

    @classmethod
    def create(cls, path: str, attrs: dict, summary_dtype: np.dtype, defer: bool = False) -> "ResultsFile":
        """A new file, written whole then renamed into place. defer: an existing file at path
        stays until the first result is written (the new one waits beside it under a temporary
        name); otherwise it is replaced at once."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = temporary_beside(path)
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            f.attrs["runs"] = "[]"
            for key, value in attrs.items():
                f.attrs[key] = value
            results = f.create_dataset("results", shape=(0,), maxshape=(None,), dtype=utf8_strings(RESULT_DTYPE),
                                       chunks=(64,))
            f.create_dataset("results_info", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(64,))
            summary = f.create_dataset("summary", shape=(0,), maxshape=(None,), dtype=utf8_strings(summary_dtype),
                                       chunks=(64,))
            f.create_dataset("results_by_point", shape=(0,), maxshape=(None,), dtype="i8", chunks=(256,))
            for dset, table in ((results, "results"), (summary, "summary")):
                dset.attrs["columns"] = json.dumps(schema(dset.dtype.names, table))
            f["results_by_point"].attrs["description"] = (
                "row numbers of /results in point order (by point, then solve): /results itself is in "
                "the order the solves finished")
        _fsync(tmp)
        if defer and os.path.exists(path):
            return cls(tmp, path)
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
            dynamics = f["dynamics"][()] if "dynamics" in f else np.zeros(0, DYNAMICS_DTYPE)
        return StoredState(attrs, rows, infos, summary, dynamics)

    def _rewrite(self, update, publish: bool = True) -> None:
        """Apply update(h5py.File) to a copy, then atomically replace the file by the copy.
        publish: a pending replacement takes the old file's place now (a result is written)."""
        tmp = temporary_beside(self.target)
        shutil.copyfile(self.path, tmp)
        try:
            with h5py.File(tmp, "r+") as f:
                update(f)
            _fsync(tmp)
            if self.pending and publish:
                os.replace(tmp, self.target)
                with contextlib.suppress(OSError):
                    os.remove(self.path)
                self.path = self.target
            else:
                os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        _fsync_dir(os.path.dirname(os.path.abspath(self.path)))

    def record_input(self, attrs: dict) -> None:
        """Replace the recorded input (a resumed run's; the earlier ones are in the runs list)."""
        current = read_attrs(self.path)
        if all(current.get(k) == v for k, v in attrs.items()):
            return

        def update(f):
            for key, value in attrs.items():
                f.attrs[key] = value

        self._rewrite(update, publish=False)

    def renumber(self, numbers: dict[int, int]) -> None:
        """Give every stored solve, point, transient row and checkpoint the number numbers[old]
        (one atomic rewrite)."""
        def update(f):
            for name in ("results", "summary", "dynamics"):
                table = f.get(name)
                if table is not None and table.shape[0]:
                    rows = table[()]
                    rows["point"] = [numbers.get(int(p), int(p)) for p in rows["point"]]
                    table[...] = rows
            states = f.get("dynamics_state")
            if states is not None:
                old = [(name, int(states[name].attrs["point"])) for name in states]
                for name, _ in old:                       # two steps: a new name may be an old one
                    states.move(name, f"moving_{name}")
                for name, point in old:
                    new = numbers.get(point, point)
                    states.move(f"moving_{name}", checkpoint_name(new))
                    states[checkpoint_name(new)].attrs["point"] = new

        self._rewrite(update, publish=False)

    def start_run(self, info: dict, n_points: int) -> int:
        """Record a run (returns its number, 1 for the first) and the study's current size."""
        number = []

        def update(f):
            runs = json.loads(_attr(f.attrs.get("runs", "[]")))
            runs.append({"run": len(runs) + 1, **info})
            number.append(len(runs))
            f.attrs["runs"] = json.dumps(runs)
            f.attrs["n_points"] = n_points

        self._rewrite(update, publish=False)
        return number[0]

    def write(self, rows: list[np.ndarray], infos: list[str], summaries: list[np.ndarray],
              transients: list[tuple[int, np.ndarray, Checkpoint]] = ()) -> None:
        """Append solves, transients and finished points in one atomic step. A summary whose point
        is already in /summary replaces that row (a point continued after a limit). transients:
        (point, its new /dynamics rows, its checkpoint at the last of them): the rows are
        appended and the point's checkpoint replaced, together, so that a resumed run continues
        exactly after the last stored row."""
        if not rows and not summaries and not transients:
            return

        def update(f):
            for point, table_rows, checkpoint in transients:
                _append_transient(f, point, table_rows, checkpoint)
            if rows:
                table, info = f["results"], f["results_info"]
                n = table.shape[0]
                table.resize((n + len(rows),))
                info.resize((n + len(rows),))
                table[n:] = as_dtype(rows, table.dtype)
                info[n:] = infos
                order = np.lexsort((table["eval"], table["point"]))
                if "results_by_point" not in f:   # a file written before the index existed
                    f.create_dataset("results_by_point", shape=(0,), maxshape=(None,), dtype="i8", chunks=(256,))
                f["results_by_point"].resize(order.shape)
                f["results_by_point"][...] = order
            if summaries:
                table = f["summary"]
                existing = {int(p): i for i, p in enumerate(table["point"])} if table.shape[0] else {}
                for s in summaries:
                    i = existing.get(int(s["point"]))
                    if i is None:
                        i = table.shape[0]
                        table.resize((i + 1,))
                        existing[int(s["point"])] = i
                    table[i] = as_dtype([s], table.dtype)[0]

        self._rewrite(update)


def checkpoint_name(point: int) -> str:
    return f"point_{int(point)}"


def _append_transient(f, point: int, rows: np.ndarray, checkpoint: Checkpoint) -> None:
    """/dynamics rows and /dynamics_state/point_N of one point (inside a rewrite)."""
    if "dynamics" not in f:
        table = f.create_dataset("dynamics", shape=(0,), maxshape=(None,), dtype=DYNAMICS_DTYPE, chunks=(256,))
        table.attrs["columns"] = json.dumps(schema(DYNAMICS_DTYPE.names, "dynamics"))
    table = f["dynamics"]
    if len(rows):
        n = table.shape[0]
        table.resize((n + len(rows),))
        table[n:] = as_dtype(rows, table.dtype)
    if "dynamics_state" not in f:           # text attributes once: rewriting one grows the file every time
        f.create_group("dynamics_state").attrs["description"] = (
            "the state vector of each point at its last /dynamics row, in ADO order (4 real numbers per ADO): "
            "what a stopped run resumes from")
    states = f["dynamics_state"]
    name = checkpoint_name(point)
    state = np.asarray(checkpoint.state, dtype="f8")
    if name in states and states[name].shape != state.shape:
        del states[name]
    if name not in states:
        states.create_dataset(name, data=state)       # overwritten in place afterwards: the file does not grow
    else:
        states[name][...] = state
    states[name].attrs["point"] = int(point)
    for key in CHECKPOINT_ATTRS:
        states[name].attrs[key] = checkpoint.attrs[key]


def read_checkpoint(path: str, point: int) -> Checkpoint | None:
    """The stored state of a transient point, or None."""
    with h5py.File(path, "r") as f:
        states = f.get("dynamics_state")
        if states is None or checkpoint_name(point) not in states:
            return None
        dset = states[checkpoint_name(point)]
        return Checkpoint(dset[()], {k: dset.attrs[k].item() if hasattr(dset.attrs[k], "item") else dset.attrs[k]
                                     for k in CHECKPOINT_ATTRS})


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
        try:  # never through a planted link
            self.fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise IncompatibleFile(f"{self.lock_path} is a symbolic link: remove it (nesb_hpc creates "
                                   "its lock file itself)") from None
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):
            os.close(self.fd)
            self.fd = None
            raise IncompatibleFile(f"{self.lock_path} is not a regular file: remove it")
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


class UnreadableResults(ValueError):
    """A file that is not a readable results file of this nesb_hpc (the message says why)."""


MAX_READ_BYTES = 4 * 2**30   # a results table larger than this is not one nesb_hpc wrote


def _checked_table(f, name: str, path: str, max_bytes: float, fields: tuple[str, ...] = ()) -> np.ndarray:
    """Dataset ``name`` read in full after checks: a hard link (no external link to another
    file), stored in the file itself (no external or virtual storage), one-dimensional, of a
    plausible size, with the named compound fields."""
    link = f.get(name, getlink=True)
    if link is None:
        raise UnreadableResults(f"{path} has no /{name} table")
    if not isinstance(link, h5py.HardLink):
        raise UnreadableResults(f"{path}: /{name} is a link to elsewhere ({type(link).__name__}), "
                                "which nesb_hpc never writes; refusing to follow it")
    dset = f[name]
    if not isinstance(dset, h5py.Dataset):
        raise UnreadableResults(f"{path}: /{name} is not a table")
    if dset.external or dset.is_virtual:
        raise UnreadableResults(f"{path}: /{name} keeps its data outside the file (external or virtual "
                                "storage), which nesb_hpc never writes; refusing to read it")
    if dset.ndim != 1:
        raise UnreadableResults(f"{path}: /{name} has shape {dset.shape}, not one row per entry")
    size = float(dset.shape[0]) * dset.dtype.itemsize
    if size > max_bytes:
        raise UnreadableResults(f"{path}: /{name} declares {size / 2**30:.1f} GiB, more than a results "
                                f"file holds (limit {max_bytes / 2**30:.1f} GiB)")
    missing = [c for c in fields if c not in (dset.dtype.names or ())]
    if missing:
        raise UnreadableResults(f"{path}: /{name} lacks the columns {', '.join(missing)}")
    return dset[()]


def read_results_file(path: str, max_bytes: float = MAX_READ_BYTES) -> tuple[dict, np.ndarray, np.ndarray]:
    """(attributes, /results, /summary) of a results file, for readers that did not write it
    (plot, the Python API): every structure is checked first, and anything unexpected raises
    :class:`UnreadableResults` naming the problem (never a traceback from deep inside h5py)."""
    if not os.path.isfile(path):
        raise UnreadableResults(f"{path} does not exist or is not a regular file")
    try:
        if not h5py.is_hdf5(path):
            raise UnreadableResults(f"{path} is not an HDF5 file")
        with h5py.File(path, "r") as f:
            attrs = {k: _attr(v) for k, v in f.attrs.items()}
            if attrs.get("format") != FORMAT:
                raise UnreadableResults(f"{path} is not a results file of this nesb_hpc (format {FORMAT})")
            try:
                json.loads(attrs.get("input_normalised", ""))
            except (TypeError, ValueError):
                raise UnreadableResults(f"{path} lacks its input (attribute input_normalised)") from None
            rows = _checked_table(f, "results", path, max_bytes, ("point", "status", "I1", "depth"))
            summary = _checked_table(f, "summary", path, max_bytes, ("point", "status"))
    except (OSError, KeyError, TypeError) as exc:
        raise UnreadableResults(f"{path} cannot be read as a results file: {exc}") from None
    return attrs, rows, summary


def read_dynamics_table(path: str, max_bytes: float = MAX_READ_BYTES) -> np.ndarray:
    """The /dynamics table of a results file (empty for studies of other kinds), with the checks of
    read_results_file (raises UnreadableResults)."""
    try:
        with h5py.File(path, "r") as f:
            if "dynamics" not in f:
                return np.zeros(0, DYNAMICS_DTYPE)
            return _checked_table(f, "dynamics", path, max_bytes, ("point", "t", "I1", "I2", "sz"))
    except (OSError, KeyError, TypeError) as exc:
        raise UnreadableResults(f"{path} cannot be read as a results file: {exc}") from None


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
