"""nesb_hpc.api: the Python API (solve_point, run, read_results) against the command line's machinery."""

from __future__ import annotations

import numpy as np
import pytest

import nesb_hpc
from nesb_hpc.config import InputError


@pytest.mark.mpi
def test_solve_point_serially_and_on_a_communicator():
    """Keyword keys as in the input file; the demo's point; the same numbers on COMM_WORLD (1 or 2
    ranks) as on one rank alone (1e-10)."""
    from mpi4py import MPI

    keys = dict(delta=0.1, theta="pi/4", alpha1=0.05, alpha2=0.05, T1=1, T2=0.9, depth=4)
    alone = nesb_hpc.solve_point(comm=MPI.COMM_SELF, **keys)
    together = nesb_hpc.solve_point(comm=MPI.COMM_WORLD, **keys)
    assert alone.ok and together.ok and alone.n_ados == together.n_ados == 1820
    assert together.I1 == pytest.approx(alone.I1, rel=1e-10) and alone.I1 == pytest.approx(2.6815829901e-05, rel=1e-9)
    assert np.allclose(alone.rho, together.rho, atol=1e-12) and alone.rho.shape == (2, 2)
    assert alone.n_bose1 == alone.n_bose2 == 2 and alone.decomposition_error < 1e-4
    assert together.ranks == MPI.COMM_WORLD.size


@pytest.mark.petsc  # solve_point imports mpi4py and PETSc inside
def test_keys_are_validated_like_the_input_file(tmp_path):
    with pytest.raises(InputError, match=r"\[model\] theta = 4.0 is out of range"):
        nesb_hpc.solve_point(theta=4.0)
    with pytest.raises(InputError, match='unknown key "detla"'):
        nesb_hpc.solve_point(detla=0.1)
    tables = {"model": {"delta": 0.2}, "hierarchy": {"depth": 3}}
    a = nesb_hpc.solve_point(tables, alpha=0.02, method="direct", n_bose=1)   # a dict of tables and keys
    assert a.config.model.delta == 0.2 and a.config.model.alpha1 == a.config.model.alpha2 == 0.02
    assert a.config.bath.n_bose == 1 and a.method == "direct" and a.depth == 3


@pytest.mark.petsc  # run solves on COMM_WORLD
def test_run_and_read_results(tmp_path):
    path = str(tmp_path / "api.h5")
    study = {"hierarchy": {"depth": 3}, "study": {"kind": "sweep", "alpha": [0.01, 0.05]}, "output": {"path": path}}
    out = nesb_hpc.run(study)
    assert out.code == 0 and out.path == path
    rows, summary = nesb_hpc.read_results(path), out.results("summary")
    columns = rows if isinstance(rows, dict) else {k: rows[k].to_numpy() for k in rows.columns}
    assert list(columns["point"]) == [0, 1] and set(columns["status"]) == {"ok"}   # decoded text
    again = nesb_hpc.run(study)          # resumes: nothing recomputed
    assert again.code == 0 and len(nesb_hpc.read_results(path)["point"]) == 2
    assert len(summary["I1"]) == 2
    with pytest.raises(ValueError, match='"results", "summary" and "dynamics"'):
        nesb_hpc.read_results(path, "nope")


@pytest.mark.mpi
def test_run_a_transient_and_read_its_table(tmp_path):
    """api.run takes any study kind; read_results(path, "dynamics") gives the transients sorted
    by point and time (t = 0 and every output time of each point)."""
    from mpi4py import MPI

    path = MPI.COMM_WORLD.bcast(str(tmp_path / "api-dyn.h5"), root=0)     # rank 0's file, read on every rank
    study = {"model": {"alpha": 0.5, "theta": "pi/4"}, "hierarchy": {"depth": 2},
             "study": {"kind": "dynamics", "alpha": [0.5, 1.0]}, "dynamics": {"t_end": 4.0, "n_out": 4},
             "output": {"path": path}}
    out = nesb_hpc.run(study)
    assert out.code == 0
    table = nesb_hpc.read_results(path, "dynamics")
    columns = table if isinstance(table, dict) else {k: table[k].to_numpy() for k in table.columns}
    assert list(columns["point"]) == [0] * 5 + [1] * 5 and list(columns["t"][:5]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert set(out.results("summary")["status"]) == {"ok"}
