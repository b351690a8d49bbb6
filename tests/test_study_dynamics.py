"""study_dynamics.py (pure): what a "dynamics" point asks for (its steady state, the steady state a
product quench starts from, the evolution) and how its summary reads the outcome, against fake
solves and a fake evolution in place of the HEOM; the points a correlated quench cannot make."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_study import Context, Recorder, _cfg

from nesb_hpc.config import InputError
from nesb_hpc.results_file import DYNAMICS_DTYPE
from nesb_hpc.study import build_study
from nesb_hpc.study_dynamics import coupling_ratio, quenched_model


class Evolution(Context):
    """ctx.evolve: a table relaxing to I_ss = 0.02 (the fake solves' I1), or a failure."""

    def __init__(self, completed=True, gap=1e-6):
        super().__init__()
        self.completed, self.gap, self.calls = completed, gap, []

    def evolve(self, request, bloch=None):
        self.calls.append((request, bloch))
        t = np.linspace(0.0, 10.0, 11)
        rows = np.zeros(t.size, DYNAMICS_DTYPE)
        rows["t"], rows["I1"], rows["I2"] = t, 0.02 * (1 + self.gap * np.exp(10.0 - t)), -0.02
        rows["sz"], rows["energy_balance"] = -0.1, np.linspace(0, 3e-14, t.size)
        return {"rows": rows, "completed": self.completed, "reason": "" if self.completed else "DIVERGED_STEP_REJECTED",
                "steps": 120, "rejected": 3, "rhs_evaluations": 800, "wall_s": 2.5, "ts_type": "rk/5dp"}


def _dynamics(dynamics=None, **study):
    return build_study(_cfg({"kind": "dynamics", **study}, dynamics=dynamics or {}))


def test_a_point_is_its_steady_state_then_its_transient():
    study = _dynamics(alpha=[0.1, 0.2])
    evaluate, ctx = Recorder(lambda r: 0.02), Evolution()
    s = study.run_task(study.tasks[1], evaluate, ctx)
    assert [r.role for r in evaluate.requests] == ["steady_state"]
    (request, bloch), = ctx.calls
    assert request.role == "transient" and request.model.alpha1 == 0.2 and bloch is None
    assert s["status"] == b"ok" and s["I1_ss"] == 0.02 and s["I2_ss"] == -0.02
    assert s["t_end"] == 10.0 and s["I1_end"] == pytest.approx(0.02 * (1 + 1e-6))
    assert s["approach"] == pytest.approx(1e-6) and s["energy_balance"] == pytest.approx(3e-14)
    assert (s["n_times"], s["steps"], s["rejected"], s["rhs_evaluations"]) == (11, 120, 3, 800)
    assert s["ts_type"] == b"rk/5dp" and s["time_s"] == pytest.approx(1.0 + 2.5) and s["evolution_s"] == 2.5
    assert "steady state 2.000000e-02" in study.describe(s)


def test_failures_end_the_point_with_their_reason():
    study = _dynamics()
    ctx = Evolution()
    s = study.run_task(study.tasks[0], Recorder(lambda r: 0.02, status=lambda r: "failed"), ctx)
    assert s["status"] == b"failed" and s["reason"].startswith(b"steady state:") and not ctx.calls
    s = study.run_task(study.tasks[0], Recorder(lambda r: 0.02), Evolution(completed=False))
    assert s["status"] == b"failed" and s["reason"] == b"DIVERGED_STEP_REJECTED" and s["n_times"] == 11
    s = study.run_task(study.tasks[0], Recorder(lambda r: 0.02, status=lambda r: "inaccurate"), Evolution())
    assert s["status"] == b"inaccurate"


def test_a_product_quench_starts_from_the_steady_state_before():
    study = _dynamics({"quench_from": {"T2": 0.5, "alpha": 0.05}, "quench": "product"})
    evaluate, ctx = Recorder(lambda r: 0.02), Evolution()
    study.run_task(study.tasks[0], evaluate, ctx)
    steady, initial = evaluate.requests
    assert steady.role == "steady_state" and steady.model.T2 == 0.9
    assert initial.role == "initial" and (initial.model.T2, initial.model.alpha1, initial.model.alpha2) == (0.5, 0.05, 0.05)
    assert ctx.calls[0][1] is not None and len(ctx.calls[0][1]) == 3        # its rho_00's Bloch vector
    assert [r.role for r in study.largest_requests(study.tasks[0])] == ["steady_state", "initial"]


def test_a_correlated_quench_rescales_by_the_coupling_ratio_and_cannot_switch_a_bath():
    cfg = _cfg({"kind": "dynamics"}, dynamics={"quench_from": {"alpha2": 0.04}})
    before = quenched_model(cfg.model, cfg)
    assert (before.alpha1, before.alpha2) == (0.01, 0.04)
    assert coupling_ratio(cfg.model, before) == pytest.approx((1.0, math.sqrt(0.01 / 0.04)))
    with pytest.raises(InputError, match=r"switches bath 2 on at t = 0 \(alpha2 = 0 before, 0.01 after\)"):
        _dynamics({"quench_from": {"alpha2": 0.0}})
    with pytest.raises(InputError, match="leave the system uncoupled"):
        _dynamics({"quench_from": {"alpha": 0.0}, "quench": "product"})
    _dynamics({"quench_from": {"alpha2": 0.0}, "quench": "product"})     # a product quench starts it afresh
