"""[study] kind = "dynamics" through driver.run on the world communicator (collective tests: `make
test` runs them on 1 rank, then on 2): the /dynamics table against the library (dynamics.evolve on
one rank), its last row against the stored steady state, the energy balance, quenches, a study
stopped mid-transient and resumed, a failing point. Kills (SIGKILL) are in test_restart.py.

Small hierarchies (depth 2-3, 66-286 ADOs, merged modes): a point takes well under a second."""

from __future__ import annotations

import numpy as np
import pytest

from nesb_hpc.config import parse_config
from nesb_hpc.results_file import read_dynamics_table, read_results, read_summary
from nesb_hpc.scheduler import StopFlag

pytestmark = pytest.mark.mpi

MODEL = {"delta": 0.1, "theta": "pi/4", "alpha": 1.0, "T1": 1.0, "T2": 0.5}


def _world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _cfg(path, dynamics, depth=2, study=None, model=None):
    return parse_config({"model": {**MODEL, **(model or {})}, "bath": {"n_bose": 1, "tolerance": 1e-2},
                         "hierarchy": {"depth": depth, "modes": "merged"},
                         "study": {"kind": "dynamics", "ranks_per_point": _world().size, **(study or {})},
                         "dynamics": dynamics, "output": {"path": path}})


def _path(tmp_path, name):
    return _world().bcast(str(tmp_path / name), root=0)


def _run(cfg, stop=None):
    from nesb_hpc.driver import run

    return run(_world(), cfg, "# test input", stop)


def _read(path):
    """(/dynamics sorted by point and t, summary sorted by point, /results) on every rank."""
    data = None
    if _world().rank == 0:
        d = read_dynamics_table(path)
        s = read_summary(path)
        data = (d[np.lexsort((d["t"], d["point"]))], s[np.argsort(s["point"])], read_results(path))
    return _world().bcast(data, root=0)


def _library(cfg, model, t0_state=None):
    """The same transient by the library alone on one rank (rank 0): dynamics.evolve from the
    input's initial state, rows at t = 0 and every output time."""
    from mpi4py import MPI

    from nesb_hpc import dynamics as dyn
    from nesb_hpc.problem import Problem
    from nesb_hpc.study import Request
    from nesb_hpc.transient import output_times, settings_of

    p = Problem.from_request(cfg, Request(model, cfg.hierarchy.depth, cfg.bath.n_bose))
    op = dyn.build_operator(MPI.COMM_SELF, list(p.baths), p.vectors, p.delta, p.spec)
    y0 = dyn.product_state(op, t0_state or cfg.dynamics.initial_state())
    try:
        res = dyn.evolve(op, y0, 0.0, output_times(cfg), settings_of(cfg), emit_initial=True)
        res.state.destroy()
    finally:
        y0.destroy()
        op.destroy()
    return res.observables


def test_transient_relaxes_to_its_steady_state_and_equals_the_library_on_one_rank(tmp_path):
    """Two couplings, from rho_00 = down, t to 300 (the slowest rates at depth 2 relax the currents
    to 1e-10 by t ~ 250, measured): the last row equals the point's stored steady state (role
    steady_state, the direct solve of the same hierarchy) to 1e-8 of |I_ss| (measured 2e-12 and
    1e-10); the whole table equals dynamics.evolve of the same point on one rank to 1e-10 (the
    driver on 2 ranks: the reductions' order; measured ~2e-12); the energy balance of every row is
    rounding (1e-10; measured ~1e-14) and Tr rho_00 = 1 to 1e-12."""
    path = _path(tmp_path, "dyn.h5")
    cfg = _cfg(path, {"t_end": 300.0, "n_out": 30}, study={"alpha": [0.5, 1.0]})
    assert _run(cfg) == 0
    table, summary, rows = _read(path)
    assert list(summary["point"]) == [0, 1] and set(summary["status"]) == {b"ok"}
    steady = rows[rows["role"] == b"steady_state"]
    assert sorted(steady["point"]) == [0, 1]
    times = np.concatenate([[0.0], np.linspace(10.0, 300.0, 30)])
    for s in summary:
        mine = table[table["point"] == s["point"]]
        ss = steady[steady["point"] == s["point"]][0]
        np.testing.assert_allclose(mine["t"], times, rtol=1e-13, atol=0)
        last = mine[-1]
        scale = abs(float(ss["I1"]))
        assert abs(last["I1"] - ss["I1"]) <= 1e-8 * scale and abs(last["I2"] - ss["I2"]) <= 1e-8 * scale
        assert abs(last["sz"] - ss["x3"]) <= 1e-8
        assert s["I1_ss"] == ss["I1"] and s["approach"] <= 1e-8 and s["n_times"] == 31
        assert np.max(mine["energy_balance"]) <= 1e-10 and s["energy_balance"] == np.max(mine["energy_balance"])
        assert np.max(np.abs(mine["trace"] - 1.0)) <= 1e-12
        assert mine[0]["sz"] == -1.0 and mine[0]["E_int1"] == 0.0         # the product state at t = 0
        assert s["steps"] > 0 and s["ts_type"] == b"rk/5dp" and s["time_s"] >= s["evolution_s"] > 0
        # a genuine transient: far from the steady state early on
        assert np.max(np.abs(mine["I1"][:5] - ss["I1"])) > 0.1 * scale
    if _world().rank == 0:
        for s in summary:
            model = cfg.replace_model(alpha=float(s["alpha1"])).model
            ref = _library(cfg, model)
            mine = table[table["point"] == s["point"]]
            for key, column in (("currents", ("I1", "I2")), ("interaction_energies", ("E_int1", "E_int2"))):
                want = np.array([getattr(o, key) for o in ref])
                got = np.column_stack([mine[c] for c in column])
                assert np.max(np.abs(got - want)) <= 1e-10 * np.max(np.abs(want)), key
            assert np.max(np.abs(mine["sz"] - np.array([o.bloch[3] for o in ref]))) <= 1e-10
    # resuming a finished study recomputes nothing
    assert _run(cfg) == 0
    again, _, rows_again = _read(path)
    assert len(again) == len(table) and len(rows_again) == len(rows)


def test_a_stopped_transient_resumes_after_its_last_stored_row(tmp_path):
    """A signal during the transient (here: the stop flag reads as set after a number of looks,
    as a SIGTERM between two outputs would) stores the rows and the state of the step under way
    and ends the run with 128 + 15; the re-run continues from that state: no row is missing or
    repeated, the later rows carry run 2, and the table equals an uninterrupted run's to the
    integrator's tolerance (rtol 1e-10: bound 1e-7, as docs/dynamics.md s6)."""

    class StopAfter(StopFlag):
        def __init__(self, looks):
            self.looks, self._signum = looks, 0

        @property
        def signum(self):
            self.looks -= 1
            return 15 if self.looks < 0 else self._signum

        @signum.setter
        def signum(self, value):
            self._signum = value

    dynamics = {"t_end": 60.0, "n_out": 60, "rtol": 1e-10, "atol": 1e-14, "checkpoint_interval": 1e6}
    full_path, cut_path = _path(tmp_path, "full.h5"), _path(tmp_path, "cut.h5")
    assert _run(_cfg(full_path, dynamics, depth=3)) == 0
    cfg = _cfg(cut_path, dynamics, depth=3)
    assert _run(cfg, StopAfter(25)) == 128 + 15
    cut, summary, _ = _read(cut_path)
    assert len(summary) == 0 and 0 < len(cut) < 61            # stopped part-way, its rows stored
    assert _run(cfg) == 0
    table, summary, rows = _read(cut_path)
    full, _, _ = _read(full_path)
    np.testing.assert_array_equal(table["t"], full["t"])    # every output time once
    assert set(table["run"][:len(cut)]) == {1} and set(table["run"][len(cut):]) == {2}
    np.testing.assert_array_equal(table[:len(cut)], cut)     # the stored rows are kept as they were
    for key in ("I1", "I2", "sz", "E_int1", "E_int2"):
        scale = np.max(np.abs(full[key]))
        assert np.max(np.abs(table[key] - full[key])) <= 1e-7 * scale, key
    assert summary[0]["status"] == b"ok" and summary[0]["n_times"] == 61
    assert (rows["role"] == b"steady_state").sum() == 1      # the steady state was reused, not solved again


def test_quenches_start_from_the_steady_state_before(tmp_path):
    """Correlated: alpha 0.3 -> 0.6 at t = 0: rho_00 at t = 0 is the steady state at alpha = 0.3
    (a direct solve of that point, 1e-8), and <V B> jumps by g_new/g_old = sqrt(2) (1e-8;
    docs/dynamics.md s2). Product, with a temperature (T2 0.4 -> 0.5): t = 0's rho_00 is the stored
    'initial' steady state's (1e-12), with no bath correlation (<V B> = 0)."""
    from nesb_hpc.point import solve_problem
    from nesb_hpc.problem import Problem
    from nesb_hpc.routes import SolverSettings
    from nesb_hpc.study import Request

    path = _path(tmp_path, "quench.h5")
    cfg = _cfg(path, {"t_end": 5.0, "n_out": 5, "quench_from": {"alpha": 0.3}}, model={"alpha": 0.6})
    assert _run(cfg) == 0
    table, summary, rows = _read(path)
    assert summary[0]["status"] == b"ok"
    before = cfg.replace_model(alpha=0.3).model
    old = solve_problem(_world(), Problem.from_request(cfg, Request(before, 2, 1)), SolverSettings(method="direct"))
    assert np.max(np.abs(np.array([table[0][c] for c in ("trace", "sx", "sy", "sz")]) - old.observables.bloch)) <= 1e-8
    from nesb_hpc import dynamics as dyn

    p = Problem.from_request(cfg, Request(before, 2, 1))
    op = dyn.build_operator(_world(), list(p.baths), p.vectors, p.delta, p.spec)
    try:
        y, _ = dyn.steady_state_vector(op, SolverSettings(method="direct"))
        obs = dyn.observe(op, 0.0, y)
        y.destroy()
    finally:
        op.destroy()
    jump = np.array([table[0]["E_int1"], table[0]["E_int2"]]) / obs.interaction_energies
    assert np.max(np.abs(jump - np.sqrt(2.0))) <= 1e-8
    assert not any(rows["role"] == b"initial")

    path = _path(tmp_path, "product.h5")
    cfg = _cfg(path, {"t_end": 5.0, "n_out": 5, "quench_from": {"T2": 0.4}, "quench": "product"})
    assert _run(cfg) == 0
    table, summary, rows = _read(path)
    initial = rows[rows["role"] == b"initial"]
    assert summary[0]["status"] == b"ok" and len(initial) == 1 and initial[0]["T2"] == 0.4
    got = np.array([table[0][c] for c in ("sx", "sy", "sz")])
    assert np.max(np.abs(got - np.array([initial[0][c] for c in ("x1", "x2", "x3")]))) <= 1e-12
    assert table[0]["E_int1"] == table[0]["E_int2"] == 0.0
    assert abs(table[0]["sz"] - summary[0]["sz_ss"]) > 1e-3     # another temperature, another state


def test_a_failing_output_is_an_error_point_and_the_study_goes_on(tmp_path, monkeypatch):
    """A row that cannot be made (here: raising on the last rank at point 0's t = 3) ends that
    point on every rank together with status "error" and the message; the other point finishes;
    the exit code is 3."""
    from nesb_hpc import transient

    real = transient.table_row

    def failing(point, run, obs):
        if point == 0 and obs.t >= 3.0 and _world().rank == _world().size - 1:
            raise OSError("disk full")
        return real(point, run, obs)

    monkeypatch.setattr(transient, "table_row", failing)
    path = _path(tmp_path, "fail.h5")
    cfg = _cfg(path, {"t_end": 5.0, "n_out": 5}, study={"alpha": [0.5, 1.0]})
    assert _run(cfg) == 3
    _, summary, _ = _read(path)
    assert list(summary["status"]) == [b"error", b"ok"]
    assert b"OSError: disk full" in summary[0]["reason"]
