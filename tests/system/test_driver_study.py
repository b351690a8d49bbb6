"""driver.run on the world communicator (collective tests: `make test` runs them on 1 rank, then on 2):
each study kind end to end with tiny hierarchies, the physics of optimize_theta, failing points,
resumption, refusal of a changed input, analytic columns. Subprocess runs on 1-3 ranks, kills and
restarts are in test_restart.py."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from nesb_hpc.config import parse_config
from nesb_hpc.results_file import IncompatibleFile, read_attrs, read_results, read_summary

pytestmark = pytest.mark.mpi

BASE = {"model": {"delta": 0.1, "theta": "pi/4", "alpha": 0.01, "T1": 1.0, "T2": 0.9},
        "bath": {"n_bose": 1, "tolerance": 1e-2},
        "hierarchy": {"depth": 3}}


def _world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _path(tmp_path, name):
    """One file for every rank: rank 0's temporary directory."""
    return _world().bcast(str(tmp_path / name), root=0)


def _cfg(path, study, study_extra=None, **tables):
    data = {k: dict(v) for k, v in BASE.items()}
    for table, values in tables.items():
        data.setdefault(table, {}).update(values)
        data[table] = {k: v for k, v in data[table].items() if v is not None}  # None removes a key
    data["study"] = {**study, **(study_extra or {})}
    data["output"] = {"path": path, **tables.get("output", {})}
    return parse_config(data)


def _run(cfg):
    from nesb_hpc.driver import run

    return run(_world(), cfg, "# test input")


def _read(path):
    """(summary sorted by point, results) read on rank 0 and shared."""
    world = _world()
    data = None
    if world.rank == 0:
        s = read_summary(path)
        data = (s[np.argsort(s["point"])], read_results(path), read_attrs(path))
    return world.bcast(data, root=0)


def _direct(model, depth, n_bose=1):
    """The same point solved directly on the world communicator."""
    from nesb_hpc.bath import RationalCutoff, exact_decomposition
    from nesb_hpc.problem import coupling_vectors
    from nesb_hpc.point import HierarchySpec, solve_point
    from nesb_hpc.routes import SolverSettings

    baths = [exact_decomposition(RationalCutoff(alpha=a).rational(), T, "pade", n_bose)
             for a, T in ((model.alpha1, model.T1), (model.alpha2, model.T2))]
    return solve_point(_world(), baths, coupling_vectors(model), model.delta, HierarchySpec(depth),
                       SolverSettings()).I1


def test_sweep_end_to_end_then_resume(tmp_path):
    path = _path(tmp_path, "sweep.h5")
    cfg = _cfg(path, {"kind": "sweep", "alpha": [0.01, 0.1], "theta": [0, "pi/4"], "ranks_per_point": 1})
    assert _run(cfg) == 0
    s, rows, attrs = _read(path)
    assert list(s["point"]) == [0, 1, 2, 3] and set(s["status"]) == {b"ok"}
    assert sorted(rows["point"]) == [0, 1, 2, 3] and set(rows["run"]) == {1} and set(rows["eval"]) == {0}
    assert set(rows["role"]) == {b"point"} and set(rows["ranks"]) == {1 if _world().size > 1 else 1}
    from nesb_hpc.study import build_study

    tasks = build_study(cfg).tasks
    for task, summary in zip(tasks, s):
        assert summary["key"].decode() == task.key
        assert (summary["alpha1"], summary["theta"]) == (task.model.alpha1, task.model.theta)
        assert summary["I1"] == pytest.approx(_direct(task.model, 3), rel=1e-9)
    assert json.loads(attrs["input_normalised"])["study"]["alpha"] == [0.01, 0.1]
    # the same input again: nothing is solved, the run is recorded
    assert _run(cfg) == 0
    s2, rows2, attrs2 = _read(path)
    assert rows2.tobytes() == rows.tobytes() and s2.tobytes() == s.tobytes()  # bit for bit
    assert len(json.loads(attrs2["runs"])) == 2


def test_changed_input_is_refused_or_goes_to_a_new_file(tmp_path):
    path = _path(tmp_path, "r.h5")
    study = {"kind": "sweep", "alpha": [0.01, 0.02], "ranks_per_point": 1}
    assert _run(_cfg(path, study)) == 0
    # a key the study does not sweep, a shared table, or what a point computes: another input
    with pytest.raises(IncompatibleFile, match=r"\[model\] delta is 0.1 in the file, 0.2 in the input"):
        _run(_cfg(path, study, model={"delta": 0.2}))
    with pytest.raises(IncompatibleFile, match=r"\[hierarchy\] depth is 3 in the file, 2 in the input"):
        _run(_cfg(path, study, hierarchy={"depth": 2}))
    with pytest.raises(IncompatibleFile, match=r"\[study\] kind is \"sweep\" in the file, \"convergence\""):
        _run(_cfg(path, {"kind": "convergence", "depths": [2, 3], "alpha": [0.01]}))
    # a new file, then the same changed input resumes that file (a resubmitted job)
    changed = _cfg(path, study, model={"delta": 0.2}, study_extra={"if_incompatible": "new_file"})
    assert _run(changed) == 0 and _run(changed) == 0
    other = path[:-3] + "-2.h5"
    s, rows, attrs = _read(other)
    assert list(s["delta"]) == [0.2, 0.2] and len(rows) == 2 and len(json.loads(attrs["runs"])) == 2
    assert not os.path.exists(path[:-3] + "-3.h5")
    # a layout change is not a different input: more ranks per point resume the same file
    assert _run(_cfg(path, {**study, "ranks_per_point": 2, "coordinator": "shared"})) == 0
    # overwrite starts afresh
    assert _run(_cfg(path, {**study, "alpha": [0.5]}, output={"overwrite": True})) == 0
    assert list(_read(path)[0]["alpha1"]) == [0.5]


def test_a_grid_that_grows_reuses_every_stored_point(tmp_path):
    """Points are matched by their values: a sweep of 4 log-spaced alphas extended to 7 (the 4
    among them) solves only the 3 new ones; the stored points take the new grid's numbers, and a
    narrower grid keeps the points it no longer contains (after its own)."""
    path = _path(tmp_path, "grow.h5")
    grid = {"kind": "sweep", "alpha": {"start": 1e-3, "stop": 1e-1, "num": 4, "spacing": "log"}, "ranks_per_point": 1}
    assert _run(_cfg(path, grid)) == 0
    s4, rows4, _ = _read(path)
    denser = {**grid, "alpha": {**grid["alpha"], "num": 7}}
    assert _run(_cfg(path, denser)) == 0
    s7, rows7, _ = _read(path)
    assert len(rows7) == len(rows4) + 3 and list(s7["point"]) == list(range(7))
    assert set(rows7["run"][rows7["point"] % 2 == 1]) == {2} and set(rows7["run"][rows7["point"] % 2 == 0]) == {1}
    assert np.allclose(s7["I1"][::2], s4["I1"], rtol=0, atol=0)
    narrower = {**grid, "alpha": [1e-3, 1e-1]}
    assert _run(_cfg(path, narrower)) == 0
    s2, rows2, _ = _read(path)
    assert len(rows2) == len(rows7) and sorted(s2["point"])[:2] == [0, 1] and len(s2) == 7


def test_failing_points_are_recorded_and_the_study_goes_on(tmp_path):
    path = _path(tmp_path, "fail.h5")
    cfg = _cfg(path, {"kind": "sweep", "alpha": [0.01, 0.1, 0.3], "ranks_per_point": 1},
               solver={"method": "iterative", "max_it": 1})
    assert _run(cfg) == 3
    s, rows, _ = _read(path)
    assert len(s) == 3 and set(s["status"]) == {b"failed"}
    assert all(r.startswith(b"DIVERGED") for r in s["reason"])
    assert set(rows["status"]) == {b"failed"} and np.all(np.isnan(s["I1"]))


def test_a_raising_point_is_recorded_and_retried_when_asked(tmp_path):
    """A fit that cannot reach its tolerance at T2 = 0.05 raises: that point ends with status
    "error" and its message, the others finish; a plain re-run keeps it (nothing recomputed); with
    a higher fit_max_terms (a limit, not physics: the file is not "another input") and retry_failed
    it completes, reusing every good solve."""
    from nesb_hpc.driver import run

    path = _path(tmp_path, "poison.h5")
    study = {"kind": "sweep", "T2": [0.9, 0.05, 0.5], "ranks_per_point": 1}
    fitted = {"fit_tolerance": 1e-3, "fit_max_terms": 5, "n_bose": None}
    cfg = _cfg(path, study, bath=fitted, hierarchy={"depth": 2, "modes": "merged"})
    assert _run(cfg) == 3
    s, rows, _ = _read(path)
    assert list(s["status"]) == [b"ok", b"error", b"ok"]
    assert s["reason"][1].startswith(b"ValueError: fit_decomposition")
    assert list(rows["status"]) .count(b"error") == 1
    assert _run(cfg) == 3 and len(_read(path)[1]) == len(rows)   # kept, nothing recomputed
    fixed = _cfg(path, study, bath={**fitted, "fit_max_terms": 12}, hierarchy={"depth": 2, "modes": "merged"})
    assert run(_world(), fixed, "# test input", retry_failed=True) == 0
    s2, rows2, _ = _read(path)
    assert set(s2["status"]) == {b"ok"} and len(rows2) == len(rows) + 1
    assert s2["I1"][0] == s["I1"][0] and s2["I1"][2] == s["I1"][2]


def test_memory_budget_refuses_before_allocating(tmp_path):
    """A point whose estimate exceeds memory_per_rank is not started: kind "point" is refused
    with advice (no file written), a study records memory_limit and continues it when re-run with
    enough memory; --force-memory (force_memory) solves anyway."""
    from nesb_hpc.driver import RunRefused, run

    path = _path(tmp_path, "mem.h5")
    tiny = {"memory_per_rank": 1}   # MiB: less than the interpreter itself
    with pytest.raises(RunRefused, match=r"needs ~\d+ MiB per rank on \d+ ranks.*more ranks"):
        _run(_cfg(path, {"kind": "point", **tiny}))
    assert not _world().bcast(os.path.exists(path) if _world().rank == 0 else None, root=0)
    assert run(_world(), _cfg(path, {"kind": "point", **tiny}), "", force_memory=True) == 0
    spath = _path(tmp_path, "mem-study.h5")
    study = {"kind": "sweep", "alpha": [0.01, 0.1], "ranks_per_point": 1}
    assert _run(_cfg(spath, {**study, **tiny})) == 3
    s, rows, _ = _read(spath)
    assert set(s["status"]) == {b"memory_limit"} and len(rows) == 0 and b"MiB/rank" in s["reason"][0]
    assert _run(_cfg(spath, study)) == 0 and set(_read(spath)[0]["status"]) == {b"ok"}


def test_overwrite_keeps_the_old_file_until_a_result_is_stored(tmp_path):
    from nesb_hpc.driver import run
    from nesb_hpc.scheduler import StopFlag

    path = _path(tmp_path, "ow.h5")
    study = {"kind": "sweep", "alpha": [0.01, 0.02], "ranks_per_point": 1}
    assert _run(_cfg(path, study)) == 0
    before = _read(path)
    stop = StopFlag()
    stop.set(10)   # a signal before the first point: nothing is stored
    cfg = _cfg(path, {**study, "alpha": [0.5]}, output={"overwrite": True})
    assert run(_world(), cfg, "", stop) == 138
    after = _read(path)
    assert list(after[0]["alpha1"]) == list(before[0]["alpha1"]) == [0.01, 0.02]
    if _world().rank == 0:
        assert sorted(os.listdir(os.path.dirname(path))) == ["ow.h5"]


def test_optimize_theta_physics_weak_coupling_gives_pi_half_and_alpha_squared_regime_zero(tmp_path):
    """Delta = 0.1: at alpha = 1e-3 the O(alpha) golden rule (~ sin^2 theta) wins, theta_opt = pi/2;
    at alpha = 0.05, 0.2 the O(alpha^2) path through V2 = sz wins, theta_opt = 0. Direct scans at
    depth 3 and 4 (9 thetas) agree: I grows monotonically with theta at 1e-3 and falls at 0.05, 0.2."""
    path = _path(tmp_path, "opt.h5")
    cfg = _cfg(path, {"kind": "optimize_theta", "alpha": [1e-3, 0.05, 0.2], "xtol": 0.01, "ranks_per_point": 1})
    assert _run(cfg) == 0
    s, rows, _ = _read(path)
    assert list(s["at_bound"]) == [b"upper", b"lower", b"lower"]
    assert list(s["theta_opt"]) == [math.pi / 2, 0.0, 0.0]
    for summary in s:
        mine = rows[rows["point"] == summary["point"]]
        assert len(mine) == summary["n_evals"] == summary["n_solves"]  # every evaluation kept
        assert summary["I_opt"] == mine["I1"].max()
        assert mine["theta"].min() == 0.0 and mine["theta"].max() == math.pi / 2
        assert len(set(mine["theta"])) == len(mine)


def test_convergence_stops_at_the_tolerance(tmp_path):
    path = _path(tmp_path, "conv.h5")
    cfg = _cfg(path, {"kind": "convergence", "alpha": [0.05], "depths": [2, 3, 4, 5, 6], "tolerance": 1e-3,
                      "converged_changes": 1})
    assert _run(cfg) == 0
    s, rows, _ = _read(path)
    (summary,) = s
    assert summary["status"] == b"converged" and summary["depth"] == 4 and summary["n_rungs"] == 3
    rungs = rows[np.argsort(rows["eval"])]
    assert list(rungs["depth"]) == [2, 3, 4] and set(rungs["role"]) == {b"rung"}
    assert summary["I"] == rungs["I1"][-1] == pytest.approx(_direct(cfg.replace_model(alpha=0.05).model, 4), rel=1e-9)
    assert summary["error"] == abs(rungs["I1"][-1] - rungs["I1"][-2])
    assert summary["rel_error"] < 1e-3 < abs(rungs["I1"][1] - rungs["I1"][0]) / abs(rungs["I1"][1])


def test_convergence_stopped_by_a_limit_is_continued_from_its_stored_rungs(tmp_path):
    path = _path(tmp_path, "limit.h5")
    study = {"kind": "convergence", "alpha": [0.05], "depths": [2, 3, 4], "tolerance": 1e-6, "time_limit": 1e-9}
    assert _run(_cfg(path, study)) == 3
    s, rows, _ = _read(path)
    assert s["status"][0] == b"time_limit" and list(rows["depth"]) == [2]
    assert _run(_cfg(path, {**study, "time_limit": 0})) == 3  # continues; 1e-6 is not reached by depth 4
    s, rows, _ = _read(path)
    assert len(s) == 1 and s["status"][0] == b"not_converged" and s["n_rungs"][0] == 3
    assert list(rows["depth"]) == [2, 3, 4] and list(rows["run"]) == [1, 2, 2]


def test_rectification_ratio(tmp_path):
    path = _path(tmp_path, "rect.h5")
    cfg = _cfg(path, {"kind": "rectification", "alpha2": [0.01, 0.1], "ranks_per_point": 1},
               model={"T1": 2.0, "T2": 1.0, "alpha1": 0.05, "alpha": None}, hierarchy={"depth": 2})
    assert _run(cfg) == 0
    s, rows, _ = _read(path)
    for summary in s:
        mine = rows[rows["point"] == summary["point"]]
        forward, reverse = mine[mine["role"] == b"forward"][0], mine[mine["role"] == b"reverse"][0]
        assert (forward["T1"], forward["T2"], reverse["T1"], reverse["T2"]) == (2.0, 1.0, 1.0, 2.0)
        assert summary["ratio"] == abs(forward["I1"]) / abs(reverse["I1"])
        assert forward["I1"] > 0 > reverse["I1"]
    assert s["ratio"][0] != pytest.approx(1.0, abs=1e-3)  # asymmetric coupling rectifies


def test_analytic_columns_beside_the_heom(tmp_path):
    from nesb_hpc.analytic import ne_ptre_current, redfield_current
    from nesb_hpc.bath import RationalCutoff

    path = _path(tmp_path, "analytic.h5")
    cfg = _cfg(path, {"kind": "sweep", "alpha": [1e-3], "theta": [0, "pi/2"], "analytic": ["redfield", "ne-ptre"],
                      "ranks_per_point": 1})
    assert _run(cfg) == 0
    s, rows, _ = _read(path)
    J = RationalCutoff(alpha=1e-3)
    ptre = ne_ptre_current(0.1, 1.0, 0.9, J, J).I
    red = redfield_current(0.1, 1.0, 0.9, J, J, (1, 0, 0), (1, 0, 0)).I1
    theta0, theta90 = s
    assert theta0["I_ptre"] == pytest.approx(ptre, rel=1e-12) and abs(theta0["I_redfield"]) < 1e-6 * ptre
    assert math.isnan(theta90["I_ptre"]) and theta90["I_redfield"] == pytest.approx(red, rel=1e-12)
    assert theta0["I1"] == pytest.approx(ptre, rel=0.03)       # HEOM vs NE-PTRE at theta = 0
    assert theta90["I1"] == pytest.approx(red, rel=0.05)       # HEOM vs Redfield at theta = pi/2
    rows = rows[np.argsort(rows["point"])]
    assert np.array_equal(rows["I_ptre"], s["I_ptre"], equal_nan=True)


def test_convergence_with_merged_modes_and_an_n_bose_rung_then_plot(tmp_path):
    """Rungs may repeat a depth while n_bose grows; merged modes give the separate form's current;
    `plot` draws the ladders and, with a swept axis, the converged currents."""
    path = _path(tmp_path, "merged.h5")
    study = {"kind": "convergence", "alpha": [0.01, 0.05], "depths": [3, 3, 4], "n_bose": [1, 2, 2],
             "tolerance": 1e-12, "axis": "alpha"}
    cfg = _cfg(path, study, hierarchy={"modes": "merged"})
    assert _run(cfg) == 3  # 1e-12 is not reached: every rung runs, the points are "not_converged"
    s, rows, _ = _read(path)
    assert list(s["status"]) == [b"not_converged"] * 2
    for point, alpha in enumerate((0.01, 0.05)):
        mine = rows[rows["point"] == point]
        mine = mine[np.argsort(mine["eval"])]
        assert list(zip(mine["depth"], mine["n_bose"])) == [(3, 1), (3, 2), (4, 2)]
        assert list(mine["n_ados"]) == [286, 455, 1820]  # C(K + L, L), K = 2 (4 + n_bose) merged modes
        separate = _direct(cfg.replace_model(alpha=alpha).model, 4, n_bose=2)
        assert s["I"][point] == pytest.approx(separate, rel=1e-9)
    if _world().rank == 0:
        from nesb_hpc.plot import plot_results

        written = plot_results(path, str(tmp_path / "figs"))
        assert {os.path.basename(w) for w in written} == {
            f"merged-{what}.{ext}" for what in ("converged", "convergence") for ext in ("png", "pdf")}


def test_rectification_with_a_ladder_per_direction_then_plot(tmp_path):
    """[study] depths in a rectification: each direction climbs the ladder until its current
    changes by < tolerance; the ratio comes from the last rungs, its error is the sum of both
    directions' relative errors; an unconverged point is kept (and plotted open)."""
    path = _path(tmp_path, "rectladder.h5")
    study = {"kind": "rectification", "alpha2": [0.01, 0.3], "depths": [2, 3, 4, 5], "tolerance": 2e-3,
             "converged_changes": 1,
             "axis": "alpha2"}
    cfg = _cfg(path, study, model={"T1": 2.0, "T2": 1.0, "alpha1": 0.05, "alpha": None},
               hierarchy={"modes": "merged"})
    code = _run(cfg)
    s, rows, _ = _read(path)
    assert code == (0 if set(s["status"]) == {b"converged"} else 3)
    for summary in s:
        mine = rows[rows["point"] == summary["point"]]
        parts = {}
        for role in (b"forward", b"reverse"):
            ladder = mine[mine["role"] == role]
            ladder = ladder[np.argsort(ladder["eval"])]
            assert list(ladder["depth"]) == list(range(2, 2 + ladder.size))   # rungs in order, none skipped
            rel = abs(ladder["I1"][-1] - ladder["I1"][-2]) / abs(ladder["I1"][-1])
            converged = rel < 2e-3
            assert converged or ladder.size == 4                              # stopped at the tolerance or the end
            parts[role] = (ladder[-1], rel, converged)
        (f, rf, cf), (r, rr, cr) = parts[b"forward"], parts[b"reverse"]
        assert summary["ratio"] == abs(f["I1"]) / abs(r["I1"])
        assert summary["rel_error"] == pytest.approx(rf + rr, rel=1e-12)
        assert (summary["depth_forward"], summary["depth_reverse"]) == (f["depth"], r["depth"])
        assert (summary["status"] == b"converged") == (cf and cr)
    if _world().rank == 0:
        from nesb_hpc.plot import plot_results

        assert plot_results(path, str(tmp_path / "figs"))


def test_convergence_checks_the_decomposition_after_the_depth(tmp_path):
    """[study] n_bose_check: a ladder converged in depth is solved again two rungs below with more
    Pade terms; the change joins the error estimate and, above tolerance, unconverges the point."""
    path = _path(tmp_path, "check.h5")
    study = {"kind": "convergence", "alpha": [0.05], "depths": [2, 3, 4, 5, 6], "tolerance": 1e-3,
             "converged_changes": 1,
             "n_bose_check": 3}
    cfg = _cfg(path, study, hierarchy={"modes": "merged"})
    code = _run(cfg)
    s, rows, _ = _read(path)
    (summary,) = s
    rungs = rows[rows["role"] == b"rung"]
    rungs = rungs[np.argsort(rungs["eval"])]
    (check,) = rows[rows["role"] == b"nbose_check"]
    ref = rungs[-3]
    assert (check["depth"], check["n_bose"]) == (ref["depth"], 3) and ref["n_bose"] == 1
    decomposition = abs(check["I1"] - ref["I1"]) / abs(ref["I1"])
    depth_change = abs(rungs["I1"][-1] - rungs["I1"][-2]) / abs(rungs["I1"][-1])
    assert summary["decomposition_error"] == pytest.approx(decomposition, rel=1e-12)
    assert summary["rel_error"] == pytest.approx(depth_change + decomposition, rel=1e-12)
    assert summary["I"] == rungs["I1"][-1]                       # the check never becomes the value
    converged = decomposition < 1e-3
    assert (summary["status"] == b"converged") == converged and code == (0 if converged else 3)
    # the check is a real solve: the same point with n_bose = 3 on the world communicator
    assert check["I1"] == pytest.approx(_direct(cfg.replace_model(alpha=0.05).model, int(ref["depth"]), 3), rel=1e-9)


def test_n_bose_auto_meets_the_tolerance_and_misses_are_inaccurate(tmp_path):
    """n_bose = "auto" (the default) picks each bath's Bose terms from its temperature: the stored
    solve meets [bath] tolerance and says which it chose; a fixed n_bose too small for T2 = 0.3
    (C(t) off by 2e-2 with one Pade term) is stored "inaccurate", its point too, exit code 3."""
    path = _path(tmp_path, "auto.h5")
    study = {"kind": "sweep", "T2": [0.05, 0.9], "ranks_per_point": 1}
    cfg = _cfg(path, study, bath={"n_bose": None, "tolerance": None}, hierarchy={"depth": 2, "modes": "merged"})
    assert cfg.bath.n_bose == "auto" and cfg.bath.tolerance == 1e-4
    assert _run(cfg) == 0
    s, rows, _ = _read(path)
    rows = rows[np.argsort(rows["point"])]                   # groups finish in any order
    assert set(s["status"]) == {b"ok"} and set(rows["n_bose"]) == {-1}
    assert list(rows["n_bose1"]) == [2, 2] and list(rows["n_bose2"]) == [9, 2]   # T1 = 1; T2 = 0.05, 0.9
    assert np.all(rows["decomposition_error"] <= 1e-4)
    poor = _path(tmp_path, "poor.h5")
    cfg = _cfg(poor, {**study, "T2": [0.3]}, bath={"n_bose": 1, "tolerance": None}, hierarchy={"depth": 2})
    assert _run(cfg) == 3
    s, rows, _ = _read(poor)
    assert list(rows["status"]) == [b"inaccurate"] and list(s["status"]) == [b"inaccurate"]
    assert rows["decomposition_error"][0] > 1e-2 and np.isfinite(s["I1"][0])
    assert b"C(t) off by" in rows["reason"][0]


def test_noise_beside_the_currents(tmp_path):
    """[study] noise = true stores S1, S2, S12 beside I1, I2 (rows and summary); the cumulant sum rule
    of energy conservation S1 + S2 + 2 S12 = 0 holds to rounding (docs/noise.md); near equilibrium
    the Fano factor S1/(2 Delta I1) is close to its thermal value 2 T1 T2 / (2 Delta (T1 - T2)); the
    plot draws them. noise with method = "slepc" is an input error."""
    from nesb_hpc.config import InputError

    path = _path(tmp_path, "noise.h5")
    cfg = _cfg(path, {"kind": "sweep", "alpha": [0.01, 0.1], "noise": True, "ranks_per_point": 1},
               hierarchy={"depth": 3, "modes": "merged"})
    assert _run(cfg) == 0
    s, rows, _ = _read(path)
    assert np.all(np.isfinite(rows["S1"])) and np.all(rows["S1"] > 0)
    assert np.allclose(rows["S1"] + rows["S2"] + 2 * rows["S12"], 0, atol=1e-10 * rows["S1"].max())
    assert list(s["S1"]) == list(rows[np.argsort(rows["point"])]["S1"])
    fano = s["S1"] / (2 * 0.1 * s["I1"])
    thermal = 2 * 1.0 * 0.9 / (2 * 0.1 * (1.0 - 0.9))
    assert np.all(np.abs(fano / thermal - 1) < 0.05), fano / thermal
    if _world().rank == 0:
        from nesb_hpc.plot import plot_results

        written = plot_results(path, str(tmp_path / "figs"))
        assert any(w.endswith("-noise.png") for w in written)
    from nesb_hpc.study import build_study

    with pytest.raises(InputError, match='noise = true needs the steady-state matrix'):
        build_study(_cfg(path, {"kind": "point", "noise": True}, solver={"method": "slepc"}))
