"""The Python API: one point, a whole study, and the results of either, from a notebook or a script.

    import nesb_hpc
    r = nesb_hpc.solve_point(delta=0.1, theta="pi/4", alpha=0.05, T1=1, T2=0.9, depth=4)
    r.I1, r.I2, r.rho, r.status, r.n_ados

    out = nesb_hpc.run("input/sweep-demo.toml")           # or a dict of tables, as in the TOML file
    table = nesb_hpc.read_results(out.path)               # pandas DataFrame (a dict of arrays without pandas)
    curve = nesb_hpc.read_results(out.path, "dynamics")   # transients ([study] kind = "dynamics"): t, I1, I2, sz, ...

Keys are those of the input file (``python -m nesb_hpc --help``), given flat as keyword arguments
(each is looked up in [model], [bath], [hierarchy], [solver]; ``alpha`` sets both couplings) or as
a dict of tables; the same validation applies, so a bad value raises config.InputError naming the
key. Without mpirun everything runs serially; ``comm`` (an mpi4py communicator) runs collectively
on it, every rank calling with the same arguments. Nothing here is imported by the rest of the
package.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .config import InputError, RunConfig, load_config, parse_config

_POINT_TABLES = ("model", "bath", "hierarchy", "solver")


def _tables_of(config, keys: dict) -> dict:
    """A dict of tables from a TOML path, a dict of tables, a RunConfig, and flat keyword keys."""
    if isinstance(config, RunConfig):
        data = config.to_dict()
    elif isinstance(config, (str, os.PathLike)):
        data = load_config(config).to_dict()
    elif isinstance(config, Mapping):
        data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in config.items()}
    elif config is None:
        data = {}
    else:
        raise TypeError(f"config must be a TOML path, a dict of tables or a RunConfig, not {type(config).__name__}")
    if keys:
        from .config import TABLE_CLASSES

        for name, value in keys.items():
            owners = [t for t in _POINT_TABLES if name in {f.name for f in dataclasses.fields(TABLE_CLASSES[t])}
                      | set(TABLE_CLASSES[t]._SHORTHANDS)]
            if not owners:
                allowed = "keys of [model], [bath], [hierarchy] or [solver] (python -m nesb_hpc --help)"
                raise InputError(f'input error: unknown key "{name}": allowed are {allowed}', key=name, value=value,
                                 allowed=allowed)
            table = data.setdefault(owners[0], {})
            if name == "alpha":
                table.pop("alpha1", None)
                table.pop("alpha2", None)
            if name in ("alpha1", "alpha2"):
                table.pop("alpha", None)
            table[name] = value
    return data


@dataclass
class PointSolution:
    """One steady state: the heat currents I1, I2 [omega_c^2] (energy per unit time leaving each
    bath), the reduced density matrix rho (2x2) and its Bloch components, and everything a results
    row holds (status, reason, residual, iterations, method, n_ados, n_bose1/2, decomposition_error,
    S1/S2/S12 with noise=True, timings), as attributes; ``row`` is that results row."""

    I1: float
    I2: float
    rho: np.ndarray
    status: str
    row: Any
    config: RunConfig

    def __getattr__(self, name: str):
        row = self.__dict__.get("row")
        if row is not None and name in (row.dtype.names or ()):
            value = row[name]
            return value.decode() if isinstance(value, bytes) else value.item() if hasattr(value, "item") else value
        raise AttributeError(name)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.row.dtype.names}


def solve_point(config=None, *, comm=None, noise: bool = False, **keys) -> PointSolution:
    """The steady state of one point. config: a TOML path, a dict of tables, or a RunConfig (its
    [study] and [output] are ignored); keys: input keys, flat (delta=0.1, theta="pi/4", depth=6,
    n_bose=2, method="iterative", ...). comm: None runs serially (or on COMM_WORLD's single rank
    without mpirun); an mpi4py communicator runs collectively on it. noise=True also computes
    S1, S2, S12 (docs/noise.md). Collective on comm."""
    from . import petsc_env

    cfg = parse_config(_tables_of(config, keys))
    petsc_env.init([])
    from mpi4py import MPI

    from .bath import resolved_n_bose
    from .output import check_decomposition, decomposition_limit, mark_accuracy, result_row
    from .point import solve_problem
    from .problem import Problem, bath_of
    from .routes import SolverSettings
    from .study import Request

    comm = MPI.COMM_SELF if comm is None and MPI.COMM_WORLD.size == 1 else (comm or MPI.COMM_WORLD)
    request = Request(cfg.model, cfg.hierarchy.depth, cfg.bath.n_bose)
    res = solve_problem(comm, Problem.from_request(cfg, request), SolverSettings.from_table(cfg.solver), noise)
    row = result_row(request, res, comm.size)[()]
    bath = bath_of(cfg, request.n_bose)
    mark_accuracy(row, check_decomposition(cfg, cfg.model, bath), resolved_n_bose(cfg.model, bath),
                  decomposition_limit(bath))
    rho = res.observables.rho if res.observables is not None else np.full((2, 2), np.nan)
    return PointSolution(float(res.I1), float(res.I2), rho, row["status"].decode(), row, cfg)


@dataclass(frozen=True)
class StudyOutcome:
    """A finished (or stopped) study: its results file and the command line's exit code (0 all
    points good, 3 some failed, raised or did not converge, 128 + N stopped by signal N)."""

    path: str
    code: int

    def results(self, table: str = "results"):
        return read_results(self.path, table)


def run(config, *, comm=None, retry_failed: bool = False, force_memory: bool = False, **tables) -> StudyOutcome:
    """A whole study, as `mpirun ... python -m nesb_hpc INPUT.toml` runs it: config is a TOML path
    or a dict of tables (tables given as keywords, e.g. study={...}, output={...}, are merged in).
    Resumes an existing results file of the same input. Collective on comm (default: all ranks)."""
    from . import petsc_env

    text = ""
    if isinstance(config, (str, os.PathLike)):
        with open(config, encoding="utf-8") as fh:
            text = fh.read()
    data = _tables_of(config, {})
    for name, table in tables.items():
        data[name] = {**data.get(name, {}), **dict(table)}
    cfg = parse_config(data)
    from .study import build_study

    build_study(cfg)
    petsc_env.init([])
    from mpi4py import MPI

    from .driver import check_solver_options, run as run_study

    check_solver_options(cfg)
    comm = comm or MPI.COMM_WORLD
    code = run_study(comm, cfg, text or json.dumps(cfg.to_dict(), default=str), retry_failed=retry_failed,
                     force_memory=force_memory)
    return StudyOutcome(cfg.output.path, code)


def read_results(path: str, table: str = "results"):
    """A results file's table ("results": one row per solve, in the order they finished; "summary":
    one row per point; "dynamics": one row per output time of each transient, [study] kind =
    "dynamics"), strings decoded, sorted by point (and solve, or time), as a pandas DataFrame when
    pandas is installed, else a dict of numpy arrays. Reads through results_file's checks."""
    from .results_file import read_dynamics_table, read_results_file

    if table not in ("results", "summary", "dynamics"):
        raise ValueError(f'table = {table!r}: allowed are "results", "summary" and "dynamics"')
    _, rows, summary = read_results_file(path)
    if table == "dynamics":
        data = read_dynamics_table(path)
        order = np.lexsort((data["t"], data["point"]))
    elif table == "results":
        data, order = rows, np.lexsort((rows["eval"], rows["point"]))
    else:
        data, order = summary, np.argsort(summary["point"], kind="stable")
    data = data[order]
    columns = {}
    for name in data.dtype.names:
        col = data[name]
        columns[name] = np.array([v.decode() for v in col], dtype=object) if col.dtype.kind == "S" else col
    try:
        import pandas as pd
    except ImportError:
        return columns
    return pd.DataFrame(columns)
