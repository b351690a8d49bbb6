"""nesb_hpc.output: what a results file and an input must share to resume, and which points a
resumed run still has to do. Every committed results file must still resume with nothing recomputed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
