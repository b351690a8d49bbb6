"""Self-describing HDF5 output, written by one process (world rank 0) only.

Layout:
  /            attrs: input_toml (as given), input_normalised (JSON, defaults filled in),
               input_digest, study_kind, versions
               (nesb_hpc, PETSc, SLEPc, petsc4py, MPI library), n_ranks, created
  /results     one row per finished point (compound, resizable): the model parameters, hierarchy
               size, I1, I2, diagnostics, solver status and timings (RESULT_COLUMNS)
  /points/<k>  per point: the PETSc options in force (attrs), solver message, rho_00 (2x2 complex)

Every finished point is appended and the file closed at once, so a killed job keeps every
finished point, and a restarted one skips them (``finished_points``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass

import h5py
import numpy as np

RESULT_COLUMNS: list[tuple[str, str]] = [
    ("point", "i8"), ("delta", "f8"), ("theta", "f8"), ("alpha1", "f8"), ("alpha2", "f8"),
    ("T1", "f8"), ("T2", "f8"), ("theta1", "f8"), ("phi1", "f8"), ("phi2", "f8"),
    ("depth", "i4"), ("n_bose", "i4"), ("n_modes", "i4"), ("n_ados", "i8"), ("n_unknowns", "i8"),
    ("nonzeros", "i8"), ("I1", "f8"), ("I2", "f8"), ("residual", "f8"), ("conservation", "f8"),
    ("x0", "f8"), ("x1", "f8"), ("x2", "f8"), ("x3", "f8"), ("positivity", "f8"),
    ("iterations", "i4"), ("method", "S12"), ("status", "S16"), ("reason", "S48"),
    ("time_s", "f8"), ("assembly_s", "f8"), ("solve_s", "f8"), ("peak_rss_mb", "f8"), ("ranks", "i4"),
    ("I_redfield", "f8"), ("I_ptre", "f8"),
]
RESULT_DTYPE = np.dtype(RESULT_COLUMNS)


def input_digest(normalised_input: dict) -> str:
    """SHA-256 of the normalised input less [output]: two runs may share a file only if these agree."""
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
    """The output file holds results of a different input."""


@dataclass
class ResultsFile:
    """The study's HDF5 file. Create with `open`, then `append` rows; one writer process."""

    path: str

    @classmethod
    def open(cls, path: str, input_text: str, normalised_input: dict, meta: dict, overwrite: bool) -> "ResultsFile":
        """Create the file, or reopen one written by the same input (to resume).

        overwrite: replace an existing file; otherwise a file from a different input is refused.
        """
        digest = input_digest(normalised_input)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        if os.path.exists(path) and not overwrite:
            with h5py.File(path, "r") as f:
                old = f.attrs.get("input_digest", "")
            if old != digest:
                raise IncompatibleFile(
                    f"{path} holds results of a different input (digest {str(old)[:12]} != {digest[:12]}): "
                    "set [output] overwrite = true, or choose another [output] path")
            return cls(path)
        tmp = path + ".tmp"
        with h5py.File(tmp, "w") as f:
            f.attrs["input_toml"] = input_text
            f.attrs["input_normalised"] = json.dumps(normalised_input, sort_keys=True, default=str)
            f.attrs["input_digest"] = digest
            f.attrs["study_kind"] = normalised_input.get("study", {}).get("kind", "")
            f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            for key, value in meta.items():
                f.attrs[key] = value
            f.create_dataset("results", shape=(0,), maxshape=(None,), dtype=RESULT_DTYPE, chunks=(64,))
            f.create_group("points")
        os.replace(tmp, path)  # atomic: the file exists complete or not at all
        return cls(path)

    def append(self, row: np.ndarray, options: dict, message: str, rho: np.ndarray | None) -> None:
        """Append one finished point and close the file (flushes it to disk)."""
        with h5py.File(self.path, "a") as f:
            table = f["results"]
            n = table.shape[0]
            table.resize((n + 1,))
            table[n] = row
            grp = f["points"].require_group(str(int(row["point"])))
            for key, value in options.items():
                grp.attrs[f"petsc_{key}"] = str(value)
            grp.attrs["message"] = message
            if rho is not None:
                grp.create_dataset("rho", data=np.asarray(rho, dtype=complex))
            f.flush()

    def finished_points(self) -> set[int]:
        """Point numbers already in the file (any status)."""
        with h5py.File(self.path, "r") as f:
            return set(int(p) for p in f["results"]["point"])


def read_results(path: str) -> np.ndarray:
    """The /results table as a numpy structured array."""
    with h5py.File(path, "r") as f:
        return f["results"][()]
