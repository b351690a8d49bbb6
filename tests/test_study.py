"""study.py (pure): the points of a study, their keys, the bounded maximiser, and each kind's task
logic run against known functions in place of the HEOM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nesb_hpc.config import InputError, parse_config
from nesb_hpc.results_file import empty_row
from nesb_hpc.analytic.at_point import analytic_currents
from nesb_hpc.maximize import EvaluationFailed, maximize_bounded
from nesb_hpc.study import Request, axis_key, build_study, row_key


def _cfg(study, model=None, **tables):
    return parse_config({"model": model or {"delta": 0.1, "alpha": 0.01, "T1": 1.0, "T2": 0.9},
                         "study": study, **tables})


def fake_row(request: Request, I1: float, status="ok", nonzeros=1000, time_s=1.0):
    row = empty_row()
    for name in ("delta", "theta", "alpha1", "alpha2", "T1", "T2", "theta1", "phi1", "phi2"):
        row[name] = getattr(request.model, name)
    row["depth"], row["n_bose"], row["role"] = request.depth, request.n_bose_column, request.role
    row["I1"], row["I2"], row["status"] = I1, -I1, status
    row["reason"] = "CONVERGED_RTOL" if status == "ok" else "DIVERGED_ITS"
    row["nonzeros"], row["time_s"], row["residual"] = nonzeros, time_s, 1e-13
    return row[()]


class Recorder:
    """evaluate(request) from a function of the request; keeps every request."""

    def __init__(self, current, status=lambda r: "ok"):
        self.current, self.status, self.requests = current, status, []

    def __call__(self, request):
        self.requests.append(request)
        return fake_row(request, self.current(request), self.status(request), nonzeros=1000 * 2 ** request.depth)


class Context:
    def __init__(self, memory=lambda r: 1e8, limit=1e9, nonzeros=lambda r: 1000 * 2 ** r.depth, cached=()):
        self._memory, self._limit, self._nonzeros, self._cached = memory, limit, nonzeros, cached

    def cached(self, request):
        return request.key() in self._cached

    def memory_per_rank(self, request):
        return self._memory(request)

    def memory_limit(self):
        return self._limit

    def nonzeros(self, request):
        return self._nonzeros(request)


# ----------------------------------------------------------------------------- points


def test_grid_numbering_first_swept_key_slowest():
    study = build_study(_cfg({"kind": "sweep", "theta": [0, "pi/2"], "alpha": [0.01, 0.1, 1.0]}))
    labels = [dict(t.label) for t in study.tasks]
    assert [t.index for t in study.tasks] == list(range(6))
    assert labels[:3] == [{"alpha": 0.01, "theta": 0.0}, {"alpha": 0.01, "theta": math.pi / 2},
                          {"alpha": 0.1, "theta": 0.0}]
    t = study.tasks[5]
    assert (t.model.alpha1, t.model.alpha2, t.model.theta, t.model.delta) == (1.0, 1.0, math.pi / 2, 0.1)


def test_zip_and_asymmetric_coupling():
    study = build_study(_cfg({"kind": "sweep", "alpha2": [0.1, 0.2], "T2": [0.5, 0.6], "combine": "zip"}))
    assert [(t.model.alpha1, t.model.alpha2, t.model.T2) for t in study.tasks] == [(0.01, 0.1, 0.5), (0.01, 0.2, 0.6)]


def test_point_kind_is_the_model():
    cfg = _cfg({"kind": "point"})
    study = build_study(cfg)
    assert len(study.tasks) == 1 and study.tasks[0].model == cfg.model and study.tasks[0].label == ()


def test_task_keys_identify_what_a_point_computes():
    a = build_study(_cfg({"kind": "sweep", "alpha": [0.01, 0.1]}))
    b = build_study(_cfg({"kind": "sweep", "alpha": [0.01, 0.2], "ranks_per_point": 3, "axis": "alpha"}))
    assert a.tasks[0].key == b.tasks[0].key  # layout keys do not enter
    assert a.tasks[1].key != b.tasks[1].key  # the parameters do
    assert len({t.key for t in a.tasks}) == 2
    c = build_study(_cfg({"kind": "sweep", "alpha": [0.01, 0.1], "analytic": ["redfield"]}))
    assert c.tasks[0].key != a.tasks[0].key  # what is computed beside the HEOM does
    d = build_study(_cfg({"kind": "sweep", "alpha": [0.01, 0.1]}, model={"delta": 0.2, "alpha": 0.01}))
    assert d.tasks[0].key != a.tasks[0].key  # so does every [model] key


def test_no_heat_current_at_equal_temperatures_is_an_input_error():
    with pytest.raises(InputError, match="point 1 .*T1 = T2 = 1"):
        build_study(_cfg({"kind": "optimize_theta", "T2": [0.9, 1.0]}))
    with pytest.raises(InputError, match="rectification"):
        build_study(_cfg({"kind": "rectification"}, model={"T1": 1.0, "T2": 1.0}))


def test_axis_key():
    assert axis_key(_cfg({"kind": "sweep", "alpha": [1, 2, 3], "theta": [0, 1]})) == "alpha"
    assert axis_key(_cfg({"kind": "sweep", "alpha": [1, 2, 3], "theta": [0, 1], "axis": "theta"})) == "theta"
    assert axis_key(_cfg({"kind": "point"})) is None


# ----------------------------------------------------------------------------- maximiser


@pytest.mark.parametrize("f, x_opt, bound", [
    (lambda x: -(x - 0.7) ** 2, 0.7, ""),
    (lambda x: math.sin(3 * x), math.pi / 6, ""),
    (lambda x: x, math.pi / 2, "upper"),
    (lambda x: math.cos(x), 0.0, "lower"),
    (lambda x: math.exp(-x) - 0.1 * x, 0.0, "lower"),
])
def test_maximize_bounded_finds_known_optima(f, x_opt, bound):
    calls = []

    def g(x):
        calls.append(x)
        return f(x)

    best = maximize_bounded(g, 0.0, math.pi / 2, xtol=1e-3, n_grid=5)
    assert best.x == pytest.approx(x_opt, abs=2e-3)
    assert best.at_bound == bound
    if bound:  # an optimum at a bound is reported exactly there
        assert best.x == (0.0 if bound == "lower" else math.pi / 2)
    assert len(calls) == len(set(calls)) == len(best.evaluations)  # each theta once, all kept
    assert [x for x, _ in best.evaluations[:5]] == pytest.approx(np.linspace(0, math.pi / 2, 5))
    assert best.f == max(v for _, v in best.evaluations)
    assert len(calls) < 30


def test_maximize_bounded_grid_guards_against_a_local_maximum():
    # a local maximum near 0.2 and the global one at the upper bound
    f = lambda x: math.exp(-((x - 0.2) / 0.1) ** 2) + 1.5 * x ** 4  # noqa: E731
    assert maximize_bounded(f, 0.0, math.pi / 2, 1e-3).at_bound == "upper"


def test_maximize_bounded_tolerance_is_honoured():
    for xtol in (1e-1, 1e-2, 1e-4):
        best = maximize_bounded(lambda x: -(x - 0.5123) ** 2, 0.0, 1.0, xtol=xtol, n_grid=5)
        assert abs(best.x - 0.5123) <= xtol


def test_maximize_bounded_stops_on_a_failed_evaluation():
    with pytest.raises(EvaluationFailed):
        maximize_bounded(lambda x: float("nan") if x > 0.5 else x, 0.0, 1.0, 1e-2)


# ----------------------------------------------------------------------------- kinds


def test_sweep_task_copies_the_solve():
    study = build_study(_cfg({"kind": "sweep", "alpha": [0.01, 0.1]}))
    s = study.run_task(study.tasks[1], Recorder(lambda r: 2 * r.model.alpha1), Context())
    assert s["status"] == b"ok" and s["I1"] == 0.2 and s["n_solves"] == 1 and s["alpha1"] == 0.1
    s = study.run_task(study.tasks[0], Recorder(lambda r: 1.0, status=lambda r: "failed"), Context())
    assert s["status"] == b"failed" and s["reason"] == b"DIVERGED_ITS"


def test_optimize_theta_task_keeps_every_evaluation():
    study = build_study(_cfg({"kind": "optimize_theta", "alpha": [0.01], "xtol": 1e-3}))
    evaluate = Recorder(lambda r: math.sin(2 * r.model.theta) + 1.0)  # maximum at pi/4
    s = study.run_task(study.tasks[0], evaluate, Context())
    assert s["theta_opt"] == pytest.approx(math.pi / 4, abs=1e-3)
    assert s["I_opt"] == pytest.approx(2.0, abs=1e-6) and s["at_bound"] == b""
    assert s["n_evals"] == s["n_solves"] == len(evaluate.requests)
    assert [r.role for r in evaluate.requests[:5]] == ["scan"] * 5 and evaluate.requests[5].role == "refine"
    assert math.isnan(s["theta"])  # theta is what is optimised, not a parameter of the point


def test_optimize_theta_checks_depth_and_decomposition_at_the_optimum():
    """check_depth and n_bose_check solve I_opt again at theta_opt: their relative changes are the
    point's errors; above tolerance it is not converged."""
    study = build_study(_cfg({"kind": "optimize_theta", "alpha": [0.01], "check_depth": 6, "n_bose_check": 3,
                              "tolerance": 1e-3}))
    evaluate = Recorder(lambda r: (math.sin(2 * r.model.theta) + 1.0) * (1 + 2e-4 * (r.depth - 4))
                        * (1 + 5e-4 * (r.n_bose_column == 3)))
    s = study.run_task(study.tasks[0], evaluate, Context())
    checks = evaluate.requests[-2:]
    assert [(r.role, r.depth, r.n_bose) for r in checks] == [("check_depth", 6, "auto"), ("nbose_check", 4, 3)]
    assert all(r.model.theta == s["theta_opt"] for r in checks)
    assert s["depth_error"] == pytest.approx(4e-4, rel=1e-6) and s["decomposition_error"] == pytest.approx(5e-4)
    assert s["status"] == b"ok" and s["n_solves"] == s["n_evals"] + 2
    strict = build_study(_cfg({"kind": "optimize_theta", "alpha": [0.01], "check_depth": 6, "tolerance": 1e-4}))
    s = strict.run_task(strict.tasks[0], Recorder(evaluate.current), Context())
    assert s["status"] == b"not_converged" and b"depth error 4.0e-04" in s["reason"]
    assert len(strict.largest_requests(strict.tasks[0])) == 2


def test_optimize_theta_maximises_the_magnitude_when_bath_2_is_hotter():
    cfg = _cfg({"kind": "optimize_theta"}, model={"delta": 0.1, "alpha": 0.01, "T1": 0.9, "T2": 1.0})
    study = build_study(cfg)
    s = study.run_task(study.tasks[0], Recorder(lambda r: -1.0 - r.model.theta), Context())
    assert s["at_bound"] == b"upper" and s["I_opt"] == pytest.approx(-1.0 - math.pi / 2)


def test_optimize_theta_failed_evaluation_is_recorded():
    study = build_study(_cfg({"kind": "optimize_theta"}))
    evaluate = Recorder(lambda r: 1.0, status=lambda r: "failed" if r.model.theta > 1 else "ok")
    s = study.run_task(study.tasks[0], evaluate, Context())
    assert s["status"] == b"failed" and b"DIVERGED_ITS" in s["reason"] and s["n_solves"] == 4


def test_rectification_task():
    study = build_study(_cfg({"kind": "rectification", "alpha2": [0.1]}, model={"T1": 10.0, "T2": 1.0}))
    evaluate = Recorder(lambda r: 3.0 if r.model.T1 > r.model.T2 else -1.5)
    s = study.run_task(study.tasks[0], evaluate, Context())
    assert s["ratio"] == 2.0 and (s["I_forward"], s["I_reverse"]) == (3.0, -1.5)
    forward, reverse = evaluate.requests
    assert (forward.model.T1, forward.model.T2, reverse.model.T1, reverse.model.T2) == (10, 1, 1, 10)
    assert (forward.role, reverse.role) == ("forward", "reverse")


def _ladder_cfg(**study):
    return _cfg({"kind": "convergence", "depths": [2, 3, 4, 5, 6, 7], "tolerance": 1e-3, **study})


def test_convergence_stops_at_the_tolerance_and_records_every_rung():
    """Default: two successive changes below the tolerance; the error is the larger of them."""
    study = build_study(_ladder_cfg())
    evaluate = Recorder(lambda r: 1.0 + 0.1 * 4.0 ** -r.depth)  # changes 0.1*3/4^d: 7e-3, 1.8e-3, 4.6e-4, 1.1e-4
    s = study.run_task(study.tasks[0], evaluate, Context())
    assert [r.depth for r in evaluate.requests] == [2, 3, 4, 5, 6]
    assert s["status"] == b"converged" and s["n_rungs"] == s["n_solves"] == 5 and s["depth"] == 6
    assert s["I"] == pytest.approx(1.0 + 0.1 * 4.0 ** -6)
    assert s["error"] == pytest.approx(0.1 * (4.0 ** -4 - 4.0 ** -5))          # the larger of the last two
    assert s["rel_error"] < 1e-3 < abs(0.1 * (4.0 ** -3 - 4.0 ** -4))
    one = build_study(_ladder_cfg(converged_changes=1))                      # the former rule
    evaluate = Recorder(lambda r: 1.0 + 0.1 * 4.0 ** -r.depth)
    assert one.run_task(one.tasks[0], evaluate, Context())["depth"] == 5


def test_a_lucky_small_change_does_not_stop_an_oscillating_ladder():
    """The current oscillates with depth (strong coupling): one small change between two rungs
    that straddle the limit must not end the ladder; the next, larger change shows it is not done."""
    values = {2: 1.0, 3: 1.01, 4: 1.0101, 5: 1.004, 6: 1.0062, 7: 1.0061, 8: 1.00615}
    study = build_study(_ladder_cfg(depths=[2, 3, 4, 5, 6, 7, 8]))
    evaluate = Recorder(lambda r: values[r.depth])
    s = study.run_task(study.tasks[0], evaluate, Context())
    assert s["status"] == b"converged" and s["depth"] == 8
    assert s["rel_error"] == pytest.approx(1e-4 / 1.00615, rel=1e-6)
    one = build_study(_ladder_cfg(depths=[2, 3, 4, 5, 6, 7, 8], converged_changes=1))
    lucky = one.run_task(one.tasks[0], Recorder(lambda r: values[r.depth]), Context())
    assert lucky["depth"] == 4    # stopped on the lucky 1e-4 change, 6e-3 away from the limit


def test_convergence_ladder_exhausted_and_n_bose_per_rung():
    study = build_study(_ladder_cfg(depths=[2, 3, 4], n_bose=[1, 2, 3]))
    evaluate = Recorder(lambda r: float(r.depth))
    s = study.run_task(study.tasks[0], evaluate, Context())
    assert [(r.depth, r.n_bose) for r in evaluate.requests] == [(2, 1), (3, 2), (4, 3)]
    assert s["status"] == b"not_converged" and s["I"] == 4.0 and s["error"] == 1.0


def test_convergence_memory_and_time_limits():
    study = build_study(_ladder_cfg())
    evaluate = Recorder(lambda r: float(r.depth))
    s = study.run_task(study.tasks[0], evaluate, Context(memory=lambda r: 1e8 * r.depth, limit=4.5e8))
    assert s["status"] == b"memory_limit" and s["depth"] == 4 and "depth 5" in s["reason"].decode()
    # time: every rung takes 1 s; the next is predicted at 1 s x its nonzeros / the last rung's = 2 s
    study = build_study(_ladder_cfg(time_limit=5.0))
    evaluate = Recorder(lambda r: float(r.depth))
    s = study.run_task(study.tasks[0], evaluate, Context())
    assert s["status"] == b"time_limit" and s["n_rungs"] == 4  # after 4 rungs: 4 s + 2 s > 5 s
    # stored rungs are free: a limit never stops before them
    cached = {Request(study.tasks[0].model, d, 3, "rung").key() for d in (2, 3, 4, 5)}
    s = study.run_task(study.tasks[0], Recorder(lambda r: float(r.depth)), Context(cached=cached))
    assert s["n_rungs"] >= 4


def test_convergence_failed_rung():
    study = build_study(_ladder_cfg())
    s = study.run_task(study.tasks[0], Recorder(lambda r: 1.0, status=lambda r: "failed" if r.depth == 3 else "ok"),
                       Context())
    assert s["status"] == b"failed" and s["n_rungs"] == 2 and s["depth"] == 2


def test_row_key_matches_request_key():
    cfg = _cfg({"kind": "sweep", "alpha": [0.01]})
    req = Request(build_study(cfg).tasks[0].model, 4, 2, "point")
    assert row_key(fake_row(req, 1.0)) == req.key()


# ----------------------------------------------------------------------------- analytic


def test_analytic_currents_where_they_apply():
    cfg = _cfg({"kind": "point"}, model={"delta": 0.1, "alpha": 0.01, "theta": 0.0})
    both = analytic_currents(cfg.model, cfg.bath, ("redfield", "ne-ptre"))
    assert both["I_ptre"] > 0 and abs(both["I_redfield"]) < 1e-15 * both["I_ptre"] * 1e6  # O(alpha) vanishes
    pi2 = cfg.replace_model(theta="pi/2").model
    out = analytic_currents(pi2, cfg.bath, ("redfield", "ne-ptre"))
    assert out["I_redfield"] > 0 and math.isnan(out["I_ptre"])  # NE-PTRE only at theta = 0
    assert all(math.isnan(v) for v in analytic_currents(cfg.model, cfg.bath, ()).values())
    tilted = cfg.replace_model(theta1="pi/4").model  # V1 != sx: no NE-PTRE
    assert math.isnan(analytic_currents(tilted, cfg.bath, ("ne-ptre",))["I_ptre"])
    exps = {"ck_real": [1.0], "vk_real": [1.0], "ck_imag": [-0.5], "vk_imag": [1.0]}
    cfg_e = _cfg({"kind": "point"}, bath={"spectral_density": "exponents", "bath1": exps, "bath2": exps})
    assert all(math.isnan(v) for v in analytic_currents(cfg_e.model, cfg_e.bath, ("redfield", "ne-ptre")).values())
