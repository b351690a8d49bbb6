"""The committed figure data (results/*.h5) against a fresh run of a cheap subset of its points.

Each file's own input (attribute input_normalised) is read back; from every figure file the three
cheapest good solves are solved again, as the driver would (same bath decomposition, depth,
n_bose, hierarchy form, solver), on 1 or 2 ranks (the figures ran one rank per point), and must
give the stored current to 1e-8 relative plus the solves' own error in the current. The exact
steady state of the truncated hierarchy conserves energy exactly (I1 + I2 = 0), so |I1 + I2| of a
solve measures its error in I; where the current nearly vanishes (theta = pi/2, Delta = 1e-3:
I ~ 2e-11, |I1 + I2| ~ 3e-17) that absolute error dominates 1e-8 relative. A larger difference
means the data no longer follow from the code (a changed result, or data of another input).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from nesb_hpc.bath import N_BOSE_AUTO
from nesb_hpc.config import parse_config
from nesb_hpc.point import solve_problem
from nesb_hpc.problem import Problem
from nesb_hpc.results_file import read_attrs, read_results
from nesb_hpc.routes import SolverSettings
from nesb_hpc.study import Request

RESULTS = Path(__file__).resolve().parents[2] / "results"
FIGURES = ("fig1a", "fig1a-nbose2", "fig1b", "fig2a", "fig2b", "fig3", "fig4")
AGREE = 1e-8


def _cheapest(rows: np.ndarray, n: int = 3) -> np.ndarray:
    good = rows[rows["status"] == b"ok"]
    return good[np.argsort(good["n_ados"], kind="stable")][:n]


@pytest.mark.mpi
@pytest.mark.parametrize("figure", FIGURES)
def test_committed_data_follow_from_the_code(figure):
    path = RESULTS / f"{figure}.h5"
    assert path.exists(), f"{path} is missing: regenerate it with its input (results/README.md)"
    attrs = read_attrs(str(path))
    cfg = parse_config(json.loads(attrs["input_normalised"]))
    rows = _cheapest(read_results(str(path)))
    assert rows.size > 0
    for row in rows:
        model = cfg.replace_model(**{k: float(row[k]) for k in ("delta", "theta", "alpha1", "alpha2", "T1",
                                                                 "T2", "theta1", "phi1", "phi2")}).model
        n_bose = "auto" if row["n_bose"] == N_BOSE_AUTO else int(row["n_bose"])    # as the column stores it
        problem = Problem.from_request(cfg, Request(model, int(row["depth"]), n_bose))
        res = solve_problem(MPI.COMM_WORLD, problem, SolverSettings.from_table(cfg.solver))
        assert res.status == "ok" and res.n_ados == row["n_ados"]
        solver_error = 10.0 * (abs(row["I1"] + row["I2"]) + abs(res.I1 + res.I2))
        assert abs(res.I1 - row["I1"]) <= AGREE * abs(row["I1"]) + solver_error, (figure, row["I1"], res.I1)
