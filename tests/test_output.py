"""nesb_hpc.output: what a results file and an input must share to resume, and which points a
resumed run still has to do. Every committed results file must still resume with nothing recomputed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from nesb_hpc.config import parse_config
from nesb_hpc.output import comparable_compat, compat_of, open_output, plan_resumption
from nesb_hpc.results_file import compat_difference, read_attrs
from nesb_hpc.study import RETRY_STATUSES, build_study

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_keys_added_with_defaults_and_limits_do_not_make_another_input():
    cfg = parse_config({"bath": {"n_bose": 2}})
    stored = json.loads(json.dumps(compat_of(cfg)))
    del stored["hierarchy"]["modes"]                 # a file written before the key existed
    stored["bath"]["fit_max_terms"] = 5              # a limit, not physics
    assert compat_difference(comparable_compat(stored), comparable_compat(compat_of(cfg))) is None
    stored["bath"]["n_bose"] = 1                     # physics: still refused, the key named
    assert compat_difference(comparable_compat(stored), comparable_compat(compat_of(cfg))) == \
        "[bath] n_bose is 1 in the file, 2 in the input"


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.h5")), ids=lambda p: p.stem)
def test_every_committed_results_file_resumes_with_nothing_recomputed(path, tmp_path):
    """Opened with its own input, the file is not refused, and the only points left are those a
    limit stopped (continued by design); every stored solve of them is reused."""
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    attrs = read_attrs(str(path))
    data = json.loads(attrs["input_normalised"])
    data["output"] = {"path": str(copy)}
    cfg = parse_config(data)
    study = build_study(cfg)
    results, state, lock = open_output(cfg, study, attrs.get("input_toml", ""), {})
    try:
        assert state is not None and results.target == str(copy)
        plan = plan_resumption(study, state)
        limited = {int(s["point"]) for s in state.summary if s["status"].decode() in RETRY_STATUSES}
        assert set(plan["todo"]) == limited
        assert plan["skipped"] == len(state.summary) - len(limited)
    finally:
        lock.release()


def _dynamics_cfg(path, **dynamics):
    return parse_config({"model": {"alpha": 0.5, "theta": "pi/4"}, "hierarchy": {"depth": 2},
                         "study": {"kind": "dynamics", "alpha": [0.5, 1.0]},
                         "dynamics": {"t_end": 10.0, **dynamics}, "output": {"path": str(path)}})


def test_a_transient_resumes_from_its_stored_state_and_only_its_own_input(tmp_path):
    """An unfinished transient is handed its stored rows and state; a finished one is skipped.
    What the transient is ([dynamics], and the mode form of its stored states) must agree, how
    often it is written need not; the steady state a product quench starts from (role initial)
    is at another model and does not identify its point."""
    from nesb_hpc.results_file import Checkpoint, DYNAMICS_DTYPE, ResultsFile, empty_row

    path = tmp_path / "d.h5"
    cfg = _dynamics_cfg(path)
    study = build_study(cfg)
    results, state, lock = open_output(cfg, study, "", {})
    try:
        assert state is None
        for point, alpha in enumerate((0.5, 1.0)):
            row = empty_row()
            row["point"], row["role"], row["status"] = point, "steady_state", "ok"
            for name in ("delta", "theta", "T1", "T2", "theta1", "phi1", "phi2"):
                row[name] = getattr(cfg.model, name)
            row["alpha1"] = row["alpha2"] = alpha
            other = row.copy()
            other["role"], other["alpha1"] = "initial", 7.0              # not the point's model
            rows = np.zeros(3, DYNAMICS_DTYPE)
            rows["point"], rows["t"] = point, [0.0, 0.05, 0.1]
            checkpoint = Checkpoint(np.arange(8.0), {"t": 0.1, "time_step": 0.01, "n_times": 2, "steps": 5,
                                                     "rejected": 0, "rhs_evaluations": 40, "wall_s": 0.1, "run": 1})
            results.write([other[()], row[()]], ["{}", "{}"], [], [(point, rows, checkpoint)])   # initial first
        summary = np.zeros((), study.summary_dtype)
        summary["point"], summary["status"] = 1, "ok"
        for name in ("delta", "theta", "alpha1", "alpha2", "T1", "T2", "theta1", "phi1", "phi2"):
            summary[name] = getattr(study.tasks[1].model, name)
        results.write([], [], [summary[()]])
    finally:
        lock.release()
    for same in (cfg, _dynamics_cfg(path, checkpoint_interval=5.0)):
        results, state, lock = open_output(same, build_study(same), "", {})
        try:
            plan = plan_resumption(build_study(same), state, path=results.path)
        finally:
            lock.release()
        assert plan["todo"] == [0] and list(plan["transients"]) == [0]
        stored_rows, checkpoint = plan["transients"][0]
        assert list(stored_rows["t"]) == [0.0, 0.05, 0.1] and checkpoint.n_times == 2
        assert np.array_equal(checkpoint.state, np.arange(8.0))
    for other, fragment in ((_dynamics_cfg(path, t_end=20.0), "[dynamics] t_end is 10.0 in the file, 20.0"),
                            (parse_config({**json.loads(json.dumps(cfg.to_dict())), "hierarchy": {"depth": 2, "modes": "separate"}}),
                             "state_modes")):
        with pytest.raises(Exception, match=re.escape(fragment)):
            open_output(other, build_study(other), "", {})
