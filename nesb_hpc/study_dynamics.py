"""[study] kind = "dynamics": at every point the transient from [dynamics]'s initial state to t_end,
beside the steady state of the same hierarchy (what it tends to).

Pure, like every study kind: the steady states are ``evaluate`` requests (stored as /results rows
and reused on resumption), the evolution is ``ctx.evolve(request, bloch)``, which the driver runs on
the point's group (transient.py) and which returns the point's whole /dynamics table and the
integrator's counters. Units: times in 1/omega_c, currents in omega_c^2.
"""

from __future__ import annotations

import math

import numpy as np

from .config import InputError, ModelConfig, RunConfig, model_with
from .observables import CURRENT_FLOOR
from .study_base import Study, finish, row_reason, summary_row, usable


def quenched_model(model: ModelConfig, cfg: RunConfig) -> ModelConfig:
    """The parameters before t = 0: the point's [model] with [dynamics] quench_from's keys."""
    return model_with(model, dict(cfg.dynamics.quench_from), "dynamics.quench_from")


def coupling_ratio(model: ModelConfig, before: ModelConfig) -> tuple[float, float]:
    """g_b,new / g_b,old = sqrt(alpha_b / alpha_b,before) per bath (1 for a bath uncoupled in both)."""
    return tuple(1.0 if a == b == 0.0 else math.sqrt(a / b)
                 for a, b in ((model.alpha1, before.alpha1), (model.alpha2, before.alpha2)))


class Dynamics(Study):
    """The transient at every point (docs/dynamics.md): its /dynamics rows are written as it goes;
    the summary holds the steady state, the values at the last time and how near they came."""

    EXTRA_COLUMNS = [("I1_ss", "f8"), ("I2_ss", "f8"), ("sz_ss", "f8"), ("t_end", "f8"), ("I1_end", "f8"),
                     ("I2_end", "f8"), ("sz_end", "f8"), ("approach", "f8"), ("energy_balance", "f8"),
                     ("n_times", "i8"), ("steps", "i8"), ("rejected", "i8"), ("rhs_evaluations", "i8"),
                     ("ts_type", "S16"), ("evolution_s", "f8")]

    @classmethod
    def check_model(cls, cfg: RunConfig, model: ModelConfig, where: str) -> None:
        """A correlated quench rescales each bath's auxiliary operators by its coupling ratio
        (docs/dynamics.md s2), which is 0 or infinite for a bath switched on or off at t = 0."""
        if cfg.dynamics.quench_kind() is None:
            return
        before = quenched_model(model, cfg)
        if cfg.dynamics.quench_kind() != "correlated":
            return
        for key in ("alpha1", "alpha2"):
            old, new = getattr(before, key), getattr(model, key)
            if (old == 0.0) != (new == 0.0):
                allowed = ('both couplings of a bath nonzero, or both zero, in a correlated quench (the bath\'s '
                           'correlations scale with g_new/g_old); quench = "product" starts any bath afresh')
                raise InputError(f"input error: [dynamics] quench_from at point {where} switches bath {key[-1]} "
                                 f"{'on' if old == 0.0 else 'off'} at t = 0 ({key} = {old:g} before, {new:g} after): "
                                 f"allowed are {allowed}", key=f"dynamics.quench_from.{key}", value=old,
                                 allowed=allowed)

    def largest_requests(self, task):
        out = [self.request(task.model, "steady_state")]
        if self.cfg.dynamics.quench_kind() == "product":
            out.append(self.request(quenched_model(task.model, self.cfg), "initial"))
        return out

    def run_task(self, task, evaluate, ctx):
        out = summary_row(self.summary_dtype, task)
        steady = evaluate(self.request(task.model, "steady_state"))
        rows = [steady]
        if not usable(steady):
            return finish(out, rows, "failed", f"steady state: {row_reason(steady)}")
        out["I1_ss"], out["I2_ss"], out["sz_ss"] = steady["I1"], steady["I2"], steady["x3"]
        bloch = None
        if self.cfg.dynamics.quench_kind() == "product":
            before = evaluate(self.request(quenched_model(task.model, self.cfg), "initial"))
            rows.append(before)
            if not usable(before):
                return finish(out, rows, "failed", f"initial steady state: {row_reason(before)}")
            bloch = (float(before["x1"]), float(before["x2"]), float(before["x3"]))
        outcome = ctx.evolve(self.request(task.model, "transient"), bloch)
        table = outcome["rows"]
        if len(table):
            last = table[-1]
            out["t_end"], out["I1_end"], out["I2_end"], out["sz_end"] = last["t"], last["I1"], last["I2"], last["sz"]
            scale = max(abs(float(steady["I1"])), abs(float(steady["I2"])))
            gap = max(abs(float(last["I1"] - steady["I1"])), abs(float(last["I2"] - steady["I2"])))
            out["approach"] = gap / scale if scale > CURRENT_FLOOR else math.nan   # T1 = T2: no current to compare
            out["energy_balance"] = float(np.max(table["energy_balance"]))
        out["n_times"] = len(table)
        for name in ("steps", "rejected", "rhs_evaluations"):
            out[name] = outcome[name]
        out["ts_type"] = outcome["ts_type"][:16]
        out["evolution_s"] = outcome["wall_s"]
        status, reason = ("ok", "") if outcome["completed"] else ("failed", outcome["reason"])
        summary = finish(out, rows, status, reason)
        summary["time_s"] = float(summary["time_s"]) + float(outcome["wall_s"])
        return summary

    def describe(self, s):
        return (f"I1(t = {s['t_end']:.4g}) = {s['I1_end']:.6e}, steady state {s['I1_ss']:.6e} (relative gap "
                f"{s['approach']:.1e}); <sz> {s['sz_end']:.6f} -> {s['sz_ss']:.6f}; {s['steps']:,} steps "
                f"{s['ts_type'].decode()}, {s['evolution_s']:.1f} s")
