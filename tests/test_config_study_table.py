"""[study]: the kinds, swept keys (lists, ranges, grid/zip) and each kind's keys; errors in the
style of test_config.py (one message naming the key, the value and what is allowed)."""

from __future__ import annotations

import math

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from nesb_hpc import config
from nesb_hpc.config import InputError, StudyConfig, key_reference, parse_config


def _study(**table):
    return parse_config({"study": table}).study


def _raises(table, *fragments):
    with pytest.raises(InputError) as info:
        parse_config({"study": table})
    text = str(info.value)
    assert text.startswith("input error: "), text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return info.value


def test_kinds_are_registered_with_their_keys():
    assert config.STUDY_KINDS == ("point", "sweep", "optimize_theta", "rectification", "convergence", "dynamics")
    assert set(config.STUDY_PARAMS) == set(config.STUDY_KINDS)
    assert set(config.STUDY_PARAMS["point"]) == {"analytic", "if_incompatible", "memory_per_rank", "noise"}
    assert "theta" not in config.STUDY_PARAMS["optimize_theta"]
    for kind in ("sweep", "optimize_theta", "rectification", "convergence", "dynamics"):
        assert {"alpha", "delta", "T1", "combine", "ranks_per_point", "analytic"} <= set(config.STUDY_PARAMS[kind])
    assert "noise" not in config.STUDY_PARAMS["dynamics"] and "depths" not in config.STUDY_PARAMS["dynamics"]
    assert {"depths", "n_bose", "tolerance", "converged_changes", "time_limit"} <= set(config.STUDY_PARAMS["convergence"])
    assert {"xtol", "n_grid", "theta_bounds"} <= set(config.STUDY_PARAMS["optimize_theta"])


def test_lists_and_angles():
    s = _study(kind="sweep", alpha=[0.01, 0.1], theta=[0, "pi/4", "pi/2"])
    assert s.swept() == {"alpha": (0.01, 0.1), "theta": (0.0, math.pi / 4, math.pi / 2)}
    assert list(s.swept()) == ["alpha", "theta"]  # SWEEP_KEYS order, whatever the file's order


def test_ranges_linear_and_log_keep_their_ends_exactly():
    s = _study(kind="sweep", alpha={"start": 1e-3, "stop": 1.0, "num": 4, "spacing": "log"},
               delta={"start": 0.0, "stop": 0.3, "num": 4})
    alpha, delta = s.swept()["alpha"], s.swept()["delta"]
    assert alpha[0] == 1e-3 and alpha[-1] == 1.0
    assert alpha == pytest.approx((1e-3, 1e-2, 1e-1, 1.0), rel=1e-12)
    assert delta == pytest.approx((0.0, 0.1, 0.2, 0.3)) and delta[-1] == 0.3
    assert _study(kind="sweep", T1={"start": 2, "stop": 3, "num": 1}).swept()["T1"] == (2.0,)
    theta = _study(kind="sweep", theta={"start": 0, "stop": "pi/2", "num": 3}).swept()["theta"]
    assert theta == pytest.approx((0, math.pi / 4, math.pi / 2)) and theta[-1] == math.pi / 2


def test_defaults_and_get():
    s = _study(kind="optimize_theta", alpha=[0.1])
    assert s.get("combine") == "grid" and s.get("ranks_per_point") == "auto"
    assert s.get("theta_bounds") == (0.0, math.pi / 2) and s.get("xtol") == 0.01 and s.get("n_grid") == 5
    assert s.get("analytic") == () and s.get("if_incompatible") == "refuse"
    c = _study(kind="convergence", depths=[2, 3], n_bose=[1, 2], tolerance=1e-4, time_limit=60)
    assert (c.get("depths"), c.get("n_bose"), c.get("tolerance"), c.get("time_limit")) == ((2, 3), (1, 2), 1e-4, 60.0)
    assert _study(kind="convergence", depths=[2, 3], n_bose=3).get("n_bose") == 3
    assert _study(kind="sweep", alpha=[1], ranks_per_point=4, memory_per_rank=2000).get("ranks_per_point") == 4


def test_round_trip_through_toml_and_construction():
    import tomli_w

    cfg = parse_config({"study": {"kind": "sweep", "alpha": {"start": 1e-3, "stop": 1, "num": 3, "spacing": "log"},
                                  "theta": [0, "pi/2"], "combine": "grid", "axis": "alpha",
                                  "analytic": ["redfield", "ne-ptre"], "ranks_per_point": "auto"}})
    data = cfg.to_dict()
    assert parse_config(data) == cfg
    assert parse_config(tomllib.loads(tomli_w.dumps(data))) == cfg
    assert StudyConfig(kind=cfg.study.kind, params=cfg.study.params) == cfg.study  # parsers accept their output


ERRORS = {
    "unknown key names its kind": ({"kind": "sweep", "alpha": [1], "depths": [2, 3]},
                                   '[study] unknown key "depths"', 'kind = "sweep"', 'kind = "convergence"'),
    "typo": ({"kind": "sweep", "alpah": [1]}, 'unknown key "alpah"', 'did you mean "alpha"'),
    "sweep of nothing": ({"kind": "sweep"}, 'kind = "sweep" has no swept key', "alpha, alpha1"),
    "empty list": ({"kind": "sweep", "alpha": []}, "[study] alpha = []", "non-empty list"),
    "bad entry": ({"kind": "sweep", "alpha": [0.1, -1]}, "[study] alpha = [0.1, -1]", "entry 2 = -1",
                  "a number in [0, 1000]"),
    "bad angle entry": ({"kind": "sweep", "theta": ["pi/2", "2pi"]}, "entry 2", "[0, pi]"),
    "not a list": ({"kind": "sweep", "delta": 0.1}, "[study] delta = 0.1", "must be a non-empty list"),
    "range without num": ({"kind": "sweep", "alpha": {"start": 0.1, "stop": 1}}, 'has no "num"'),
    "range unknown key": ({"kind": "sweep", "alpha": {"start": 0.1, "stop": 1, "n": 3}},
                          'range has unknown key "n"', "start, stop, num, spacing"),
    "log from zero": ({"kind": "sweep", "alpha": {"start": 0, "stop": 1, "num": 3, "spacing": "log"}},
                      "cannot be log-spaced", "start > 0"),
    "range bad spacing": ({"kind": "sweep", "alpha": {"start": 0.1, "stop": 1, "num": 3, "spacing": "geom"}},
                          '[study.alpha] spacing = "geom"', '"linear", "log"'),
    "range out of model range": ({"kind": "sweep", "T1": {"start": 0, "stop": 1, "num": 3}},
                                 "[study.T1] start = 0", "a number in [0.0001, 10000]"),
    "alpha and alpha1": ({"kind": "sweep", "alpha": [0.1], "alpha1": [0.2]}, "cannot be combined with alpha1",
                         "either alpha"),
    "zip lengths": ({"kind": "sweep", "alpha": [0.1, 0.2], "delta": [0.1], "combine": "zip"},
                    'combine = "zip" needs lists of equal length', "alpha has 2, delta has 1"),
    "combine": ({"kind": "sweep", "alpha": [0.1], "combine": "product"}, '[study] combine = "product"',
                '"grid", "zip"'),
    "axis not swept": ({"kind": "sweep", "alpha": [0.1], "axis": "delta"}, '[study] axis = "delta"', "is not swept"),
    "theta in optimize": ({"kind": "optimize_theta", "theta": [0.1]}, 'unknown key "theta"'),
    "bounds": ({"kind": "optimize_theta", "theta_bounds": ["pi/2", 0]}, "theta_bounds", "lo < hi"),
    "xtol": ({"kind": "optimize_theta", "xtol": 0}, "[study] xtol = 0", "(0, 0.5]"),
    "n_grid": ({"kind": "optimize_theta", "n_grid": 2}, "[study] n_grid = 2", "an integer in [3, 1000]"),
    "convergence needs depths": ({"kind": "convergence"}, 'needs the key "depths"'),
    "depths increasing": ({"kind": "convergence", "depths": [3, 2]}, "[study] depths = [3, 2]", "decreases"),
    "rectification n_bose without depths": ({"kind": "rectification", "alpha2": [0.1, 0.2], "n_bose": 2},
                                            "[study] n_bose = 2", "only together with depths"),
    "rung repeated": ({"kind": "convergence", "depths": [3, 3]}, "[study] depths = [3, 3]",
                      "repeats or shrinks rung 1 (depth 3)"),
    "rung n_bose shrinks": ({"kind": "convergence", "depths": [3, 4], "n_bose": [2, 1]},
                            "[study] depths = [3, 4]", "repeats or shrinks rung 1 (depth 4, n_bose 1)"),
    "depths one rung": ({"kind": "convergence", "depths": [3]}, "at least two integers"),
    "n_bose length": ({"kind": "convergence", "depths": [2, 3, 4], "n_bose": [1, 2]}, "[study] n_bose = [1, 2]",
                      "depths has 3"),
    "ranks_per_point": ({"kind": "sweep", "alpha": [1], "ranks_per_point": 0}, "[study] ranks_per_point = 0",
                        '"auto" or an integer in [1, 10000000]'),
    "ranks_per_point word": ({"kind": "sweep", "alpha": [1], "ranks_per_point": "all"}, '"auto" or an integer'),
    "memory": ({"kind": "sweep", "alpha": [1], "memory_per_rank": -5}, "[study] memory_per_rank = -5", "a number in (0, 1e+09]"),
    "analytic name": ({"analytic": ["golden"]}, '[study] analytic = ["golden"]', '"redfield", "ne-ptre"'),
    "analytic repeated": ({"analytic": ["redfield", "redfield"]}, "repeats a name"),
    "if_incompatible": ({"if_incompatible": "overwrite"}, '"refuse", "new_file"'),
    "coordinator": ({"kind": "sweep", "alpha": [1], "coordinator": "rank0"}, '"auto", "shared", "dedicated"'),
    "point has no sweep": ({"alpha": [0.1]}, 'unknown key "alpha"', 'allowed keys for kind = "point"'),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_invalid_study_is_one_clear_error(name):
    table, *fragments = ERRORS[name]
    _raises(table, *fragments)


def test_error_attributes_name_the_key():
    err = _raises({"kind": "sweep", "alpha": [0.1, -1]})
    assert err.key == "study.alpha" and err.value == [0.1, -1]
    err = _raises({"kind": "sweep", "alpha": {"start": 0.1, "stop": 1, "num": 0}})
    assert err.key == "study.alpha.num"


def test_key_reference_documents_the_study_keys():
    ref = key_reference()
    flat = " ".join(ref.split())
    for name in ("combine", "axis", "ranks_per_point", "memory_per_rank", "coordinator", "analytic",
                 "if_incompatible", "theta_bounds", "xtol", "n_grid", "depths", "n_bose", "tolerance", "time_limit"):
        assert f"\n  {name} = " in ref, name
    for kind in config.STUDY_KINDS:
        assert f'"{kind}"' in flat
    assert "swept" in flat and 'spacing = "linear" or "log"' in flat
