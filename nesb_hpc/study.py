"""Studies: the points of a [study], what each point computes, and its one-line summary.

Pure: no MPI, no PETSc, no files. A study is a list of tasks (one per parameter point); how a
task runs, its request and summary rows and the base class are in study_base.py; here are the
kinds and ``build_study``.

Kinds (config.STUDY_KINDS):
  point           [model] as given: one evaluation
  sweep           every point of the swept [model] keys (grid or zipped): one evaluation each
  optimize_theta  per point, theta_opt = argmax of the heat current over theta_bounds
                  (grid scan + bounded Brent on the best bracket; every evaluation kept)
  rectification   per point, I(T1, T2) and I(T2, T1); R = |I(T1, T2)| / |I(T2, T1)|
  convergence     per point, a ladder of (depth, n_bose) rungs until the relative change of the
                  current falls below tolerance, or a memory/time limit is reached
  dynamics        per point, the transient from [dynamics]'s initial state beside its steady state
                  (study_dynamics.py)

The heat current is I = I1, the energy per unit time leaving bath 1 (docs/model.md s4).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .bath import N_BOSE_AUTO
from .config import SWEEP_KEYS, InputError, ModelConfig, RunConfig
from .maximize import EvaluationFailed, maximize_bounded
from .study_dynamics import Dynamics
from .study_base import (FAILED_STATUSES, GOOD_STATUSES, INACCURATE, MODEL_COLUMNS, NOISE_COLUMNS,  # noqa: F401
                         RETRY_STATUSES, SUMMARY_BASE, LimitReached, PointError, Request, Study, Task, TaskContext,
                         copy_noise, finish, row_key, row_reason, same_value, study_spec, summary_row, sweep_changes,
                         task_key, usable)

class OptimizeTheta(Study):
    EXTRA_COLUMNS = [("theta_opt", "f8"), ("I_opt", "f8"), ("xtol", "f8"), ("at_bound", "S8"),
                     ("n_evals", "i4"), ("depth_error", "f8"), ("decomposition_error", "f8")]
    IDENTITY_COLUMNS = tuple(n for n in MODEL_COLUMNS if n != "theta")   # theta is optimised

    def largest_requests(self, task):
        # a theta inside the bounds: both couplings have sz and sx parts (most nonzeros)
        lo, hi = self.cfg.study.get("theta_bounds")
        model = dataclasses.replace(task.model, theta=(lo + hi) / 2)
        out = [self.request(model, "scan")]
        depth, n_check = self.cfg.study.get("check_depth"), self.cfg.study.get("n_bose_check")
        if depth:
            out.append(self.request(model, "check_depth", depth))
        if n_check:
            out.append(self.request(model, "nbose_check", n_bose=n_check))
        return out

    def run_task(self, task, evaluate, ctx):
        lo, hi = self.cfg.study.get("theta_bounds")
        xtol, n_grid = self.cfg.study.get("xtol"), self.cfg.study.get("n_grid")
        sign = 1.0 if task.model.T1 > task.model.T2 else -1.0  # maximise the current's magnitude
        rows = []

        def current(theta: float) -> float:
            role = "scan" if len(rows) < n_grid else "refine"
            row = evaluate(self.request(dataclasses.replace(task.model, theta=theta), role))
            rows.append(row)
            if not usable(row):
                raise EvaluationFailed(f"theta={theta:.4g}: {row_reason(row)}")
            return sign * float(row["I1"])

        out = summary_row(self.summary_dtype, task)
        out["theta"] = np.nan  # not a parameter of the point: theta is optimised
        out["xtol"] = xtol
        try:
            best = maximize_bounded(current, lo, hi, xtol, n_grid)
        except EvaluationFailed as exc:
            return finish(out, rows, "failed", str(exc))
        out["theta_opt"], out["I_opt"] = best.x, sign * best.f
        out["at_bound"] = best.at_bound
        out["n_evals"] = len(best.evaluations)
        status, reason = self._check(task, best.x, out, rows, evaluate)
        return finish(out, rows, status, reason)

    def _check(self, task, theta_opt: float, out, rows: list, evaluate) -> tuple[str, str]:
        """[study] check_depth / n_bose_check: I_opt again at theta_opt, deeper and with more Bose
        terms; their relative changes are the point's errors, and above tolerance it is not converged."""
        depth, n_check = self.cfg.study.get("check_depth"), self.cfg.study.get("n_bose_check")
        model = dataclasses.replace(task.model, theta=theta_opt)
        I_opt = float(out["I_opt"])
        problems = []
        for column, request in (("depth_error", self.request(model, "check_depth", depth) if depth else None),
                                ("decomposition_error", self.request(model, "nbose_check", n_bose=n_check)
                                 if n_check else None)):
            if request is None:
                continue
            row = evaluate(request)
            rows.append(row)
            if not usable(row):
                return "failed", f"{column.split('_')[0]} check: {row_reason(row)}"
            out[column] = abs(float(row["I1"]) - I_opt) / abs(I_opt) if I_opt else math.inf
            if out[column] >= self.cfg.study.get("tolerance"):
                problems.append(f"{column.replace('_', ' ')} {out[column]:.1e}")
        return ("not_converged", "; ".join(problems)) if problems else ("ok", "")

    def describe(self, s):
        bound = s["at_bound"].decode()
        where = f" (at the {bound} bound)" if bound else ""
        checks = "".join(f", {name.split('_')[0]} error {s[name]:.1e}" for name in ("depth_error", "decomposition_error")
                         if name in s.dtype.names and np.isfinite(s[name]))
        return (f"theta_opt = {s['theta_opt']:.4f} +- {s['xtol']:.0e}{where}, I_opt = {s['I_opt']:.6e}, "
                f"{s['n_evals']} evaluations{checks}")


@dataclass
class LadderOutcome:
    """The rungs of one depth ladder and what they say about the current I = I1."""

    rows: list             # the rungs, in order
    status: str            # converged, not_converged, memory_limit, time_limit or failed
    reason: str
    error: float = math.nan       # |I(last rung) - I(previous rung)| (+ the decomposition check's)
    rel_error: float = math.nan   # error / |I(last rung)|
    decomposition_error: float = math.nan  # relative change with [study] n_bose_check Pade terms
    check: list = dataclasses.field(default_factory=list)  # the n_bose_check solve, if made

    @property
    def last_good(self):
        good = [r for r in self.rows if usable(r)]
        return good[-1] if good else None

    @property
    def all_rows(self) -> list:
        return self.rows + self.check


def run_ladder(study: Study, model: ModelConfig, role: str, evaluate, ctx) -> LadderOutcome:
    """Rungs (depth, n_bose) of [study] depths/n_bose for one model until [study] converged_changes
    successive rung-to-rung changes of the current are below [study] tolerance (relative; the
    error estimate is the largest of them), or a memory/time limit.

    With [study] n_bose_check = N > 0, a ladder converged in depth is checked in the bath
    decomposition too: the rung two below the last (or the first) is solved again with N Pade
    terms ("nbose_check"); its relative change is added to the error estimate, and above the
    tolerance the point is not converged.
    """
    tol = study.cfg.study.get("tolerance")
    needed = study.cfg.study.get("converged_changes")
    changes: list[float] = []      # |I(rung) - I(previous rung)|
    time_limit = study.cfg.study.get("time_limit")
    out = LadderOutcome([], "not_converged", "ladder exhausted")
    rows = out.rows
    for depth, n_bose in ladder_rungs(study.cfg):
        req = study.request(model, role, depth, n_bose)
        if not ctx.cached(req):
            need = ctx.memory_per_rank(req)
            if need > ctx.memory_limit():
                out.status = "memory_limit"
                out.reason = (f"depth {depth}, n_bose {n_bose} needs ~{need / 2**20:.0f} MiB/rank > "
                              f"{ctx.memory_limit() / 2**20:.0f}")
                break
            if time_limit > 0 and rows:
                spent = sum(float(r["time_s"]) for r in rows)
                last = rows[-1]
                predicted = float(last["time_s"]) * ctx.nonzeros(req) / max(int(last["nonzeros"]), 1)
                if spent + predicted > time_limit:
                    out.status = "time_limit"
                    out.reason = f"depth {depth} predicted {predicted:.0f} s, spent {spent:.0f} s"
                    break
        row = evaluate(req)
        rows.append(row)
        if not usable(row):
            out.status, out.reason = "failed", f"depth {depth}: {row_reason(row)}"
            break
        if len(rows) >= 2:
            changes.append(abs(float(row["I1"]) - float(rows[-2]["I1"])))
            last = changes[-needed:]
            out.error = max(last)
            out.rel_error = out.error / abs(float(row["I1"])) if row["I1"] != 0 else math.inf
            if len(last) == needed and out.rel_error < tol:
                out.status, out.reason = "converged", ""
                break
    n_check = study.cfg.study.get("n_bose_check")
    if out.status == "converged" and n_check:
        _check_decomposition(study, model, out, n_check, tol, evaluate)
    return out


def _check_decomposition(study, model, out: LadderOutcome, n_check: int, tol: float, evaluate) -> None:
    """The n_bose_check solve of a converged ladder (run_ladder's docstring)."""
    ref = out.rows[-3] if len(out.rows) >= 3 else out.rows[0]
    if int(ref["n_bose"]) == n_check:
        return
    row = evaluate(study.request(model, "nbose_check", int(ref["depth"]), n_check))
    out.check.append(row)
    if not usable(row):
        out.status, out.reason = "failed", f"n_bose check: {row_reason(row)}"
        return
    I_ref, I_last = float(ref["I1"]), float(out.rows[-1]["I1"])
    out.decomposition_error = abs(float(row["I1"]) - I_ref) / abs(I_ref) if I_ref != 0 else (
        0.0 if row["I1"] == 0 else math.inf)
    out.rel_error += out.decomposition_error
    out.error = out.rel_error * abs(I_last)
    if out.decomposition_error >= tol:
        out.status = "not_converged"
        out.reason = (f"n_bose {int(ref['n_bose'])} -> {n_check} changes I by "
                      f"{out.decomposition_error:.1e} at depth {int(ref['depth'])}")


def ladder_rungs(cfg: RunConfig) -> list[tuple[int, int]]:
    """[study] depths with their n_bose (one value for all rungs, or one per rung)."""
    depths = cfg.study.get("depths")
    n_bose = cfg.study.get("n_bose")
    if n_bose is None:
        n_bose = cfg.bath.n_bose
    nbs = n_bose if isinstance(n_bose, tuple) else (n_bose,) * len(depths)
    return list(zip(depths, nbs))


# how bad a ladder's outcome is, for a point made of several ladders (the worst one counts)
_LADDER_SEVERITY = ("converged", "not_converged", "time_limit", "memory_limit", "failed")


class Rectification(Study):
    """R = |I(T1, T2)| / |I(T2, T1)|: one solve per direction at [hierarchy] depth, or with [study]
    depths a ladder per direction (status "converged" when both are; rel_error = the sum of the
    two directions' relative errors, the ratio's)."""

    EXTRA_COLUMNS = [("I_forward", "f8"), ("I_reverse", "f8"), ("ratio", "f8"),
                     ("ratio_redfield", "f8"), ("ratio_ptre", "f8"), ("rel_error", "f8"),
                     ("depth_forward", "i4"), ("depth_reverse", "i4")]

    def _laddered(self) -> bool:
        return self.cfg.study.get("depths") is not None

    def largest_requests(self, task):
        if not self._laddered():
            return [self.request(task.model, "forward")]
        return [self.request(task.model, "forward", *ladder_rungs(self.cfg)[-1])]

    def run_task(self, task, evaluate, ctx):
        m = task.model
        models = {"forward": m, "reverse": dataclasses.replace(m, T1=m.T2, T2=m.T1)}
        out = summary_row(self.summary_dtype, task)
        if self._laddered():
            ladders = {role: run_ladder(self, model, role, evaluate, ctx) for role, model in models.items()}
            rows = ladders["forward"].all_rows + ladders["reverse"].all_rows
            worst = max(ladders.values(), key=lambda o: _LADDER_SEVERITY.index(o.status))
            if any(o.last_good is None for o in ladders.values()):
                return finish(out, rows, "failed", worst.reason)
            forward, reverse = ladders["forward"].last_good, ladders["reverse"].last_good
            out["rel_error"] = ladders["forward"].rel_error + ladders["reverse"].rel_error
            status, reason = worst.status, (f"{'forward' if worst is ladders['forward'] else 'reverse'}: "
                                            f"{worst.reason}" if worst.reason else "")
        else:
            forward = evaluate(self.request(models["forward"], "forward"))
            reverse = evaluate(self.request(models["reverse"], "reverse"))
            rows = [forward, reverse]
            bad = [r for r in rows if not usable(r)]
            if bad:
                return finish(out, rows, "failed", row_reason(bad[0]))
            status, reason = "ok", ""
        out["I_forward"], out["I_reverse"] = forward["I1"], reverse["I1"]
        out["depth_forward"], out["depth_reverse"] = forward["depth"], reverse["depth"]
        out["ratio"] = abs(forward["I1"]) / abs(reverse["I1"])
        for col, theory in (("ratio_redfield", "I_redfield"), ("ratio_ptre", "I_ptre")):
            with np.errstate(divide="ignore", invalid="ignore"):
                out[col] = abs(forward[theory]) / abs(reverse[theory])
        return finish(out, rows, status, reason)

    def describe(self, s):
        error = f" +- {s['rel_error']:.1e} (relative)" if np.isfinite(s["rel_error"]) else ""
        return f"R = {s['ratio']:.6f}{error}  (I = {s['I_forward']:.6e}, reversed {s['I_reverse']:.6e})"


class Convergence(Study):
    EXTRA_COLUMNS = [("I", "f8"), ("error", "f8"), ("rel_error", "f8"), ("depth", "i4"),
                     ("n_bose", "i4"), ("n_rungs", "i4"), ("decomposition_error", "f8"), *NOISE_COLUMNS]

    def ladder(self) -> list[tuple[int, int]]:
        return ladder_rungs(self.cfg)

    def largest_requests(self, task):
        return [self.request(task.model, "rung", *self.ladder()[-1])]

    def run_task(self, task, evaluate, ctx):
        out = summary_row(self.summary_dtype, task)
        ladder = run_ladder(self, task.model, "rung", evaluate, ctx)
        out["error"], out["rel_error"] = ladder.error, ladder.rel_error
        out["decomposition_error"] = ladder.decomposition_error
        last = ladder.last_good
        if last is not None:
            out["I"] = last["I1"]
            out["depth"], out["n_bose"] = last["depth"], last["n_bose"]
            copy_noise(out, last)
        out["n_rungs"] = len(ladder.rows)
        return finish(out, ladder.all_rows, ladder.status, ladder.reason)

    def describe(self, s):
        n_bose = "auto" if s["n_bose"] == N_BOSE_AUTO else s["n_bose"]
        return (f"I = {s['I']:.6e} +- {s['error']:.1e} (relative {s['rel_error']:.1e}) at depth {s['depth']}, "
                f"n_bose {n_bose} after {s['n_rungs']} rungs")


STUDIES: dict[str, type[Study]] = {
    "point": Study, "sweep": Study, "optimize_theta": OptimizeTheta,
    "rectification": Rectification, "convergence": Convergence, "dynamics": Dynamics,
}


def build_study(cfg: RunConfig) -> Study:
    """The study of an input: its tasks, numbered from 0. Raises InputError for points that make
    no sense for the kind (e.g. T1 = T2 for optimize_theta or rectification)."""
    kind = cfg.study.kind
    spec = study_spec(cfg)
    tasks = []
    for index, changes in enumerate(sweep_changes(cfg)):
        model = cfg.replace_model(**changes).model if changes else cfg.model
        if kind in ("optimize_theta", "rectification") and model.T1 == model.T2:
            allowed = "T1 != T2 at every point (no heat current flows at T1 = T2)"
            where = ", ".join(f"{k} = {v:g}" for k, v in changes.items()) or "[model]"
            raise InputError(f'input error: [study] kind = "{kind}" at point {index} ({where}) has '
                             f"T1 = T2 = {model.T1:g}: allowed is {allowed}", key="study.kind",
                             value=kind, allowed=allowed)
        if cfg.study.get("noise") and cfg.solver.method == "slepc":
            allowed = 'noise = true with a linear route (method = "direct", "iterative" or "auto")'
            raise InputError('input error: [study] noise = true needs the steady-state matrix\'s linear solve, '
                             f'which [solver] method = "slepc" does not make: allowed is {allowed}',
                             key="study.noise", value=True, allowed=allowed)
        STUDIES[kind].check_model(cfg, model, f"{index} ({', '.join(f'{k} = {v:g}' for k, v in changes.items())})"
                                  if changes else f"{index}")
        label = tuple(changes.items())
        tasks.append(Task(index, model, label, task_key(kind, model, spec)))
    return STUDIES[kind](cfg, tasks, kind)


def axis_key(cfg: RunConfig) -> str | None:
    """The swept key for the horizontal axis of plots: [study] axis, else the one with most values."""
    swept = cfg.study.swept()
    if not swept:
        return None
    return cfg.study.get("axis") or max(swept, key=lambda k: (len(swept[k]), -SWEEP_KEYS.index(k)))
