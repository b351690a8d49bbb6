"""One point of [study] kind = "dynamics" on its group of ranks: the initial state, the evolution
(dynamics.evolve, docs/dynamics.md s6) with its rows and state written as it proceeds, and the
outcome the study summarises (study_dynamics.py). Collective on the group; the group's leader
passes rows and states to world rank 0, which writes them (scheduler.GroupControl.emit_transient,
output.Writer.transient). Times in 1/omega_c.

Writing: every output time adds a row; every [dynamics] checkpoint_interval seconds of wall clock
(and at the end, and when the study is stopped by a signal) the rows so far and the state at the
end of that step are sent together, so the file always holds a state with exactly the rows up to
it. A resumed run (payload from output.plan_resumption) continues from that state with the
output times after it; it differs from an uninterrupted run by the integrator's tolerance (the
step sequence changes), never by a gap or a repeated row.

Failures: a failing callback or write raises dynamics.CallbackFailed on every rank together (the
point is stored as "error" and the study goes on); an exception inside PETSc may be local to one
rank and ends the job (driver.CollectiveFailure).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import dynamics as dyn
from .problem import Problem
from .results_file import CHECKPOINT_ATTRS, DYNAMICS_DTYPE, Checkpoint

COUNTERS = ("steps", "rejected", "rhs_evaluations", "wall_s")


@dataclass
class Prepared:
    """What a rank builds for a transient before any collective call (pure): the point's problem
    and, for a correlated quench, the problem before t = 0 and the coupling ratios."""

    problem: Problem
    before: Problem | None = None
    ratio: tuple[float, float] | None = None


def prepare(cfg, request, bloch=None, quench_request=None, ratio=None) -> Prepared:
    """Not collective: the problems of a transient (raises ValueError for an initial Bloch vector
    longer than 1, or a correlated quench between hierarchies of different shapes)."""
    if bloch is not None:
        dyn.bloch_of_state(bloch)
    problem = Problem.from_request(cfg, request)
    if quench_request is None:
        return Prepared(problem)
    before = Problem.from_request(cfg, quench_request)
    a, b = before.modes, problem.modes
    if a.size != b.size or a.form != b.form or not np.array_equal(a.bath, b.bath):
        raise ValueError(f"the quench's parameters give another hierarchy ({a.size} modes before, {b.size} after): "
                         'a correlated quench needs the same one; quench = "product" does not')
    return Prepared(problem, before, ratio)


def settings_of(cfg) -> dyn.DynamicsSettings:
    d = cfg.dynamics
    return dyn.DynamicsSettings(rtol=d.rtol, atol=d.atol, petsc_options=tuple(d.petsc_options))


def output_times(cfg) -> np.ndarray:
    d = cfg.dynamics
    return dyn.output_times(d.t_end, d.n_out, d.spacing, t_first=None if d.t_first == "auto" else d.t_first)


def table_row(point: int, run: int, obs) -> np.void:
    row = np.zeros((), dtype=DYNAMICS_DTYPE)
    values = obs.as_dict()
    for name in DYNAMICS_DTYPE.names:
        row[name] = point if name == "point" else run if name == "run" else values[name]
    return row[()]


def run_point(group, cfg, point: int, prepared: Prepared, bloch, resume, control, run_number: int,
              solver_settings) -> dict:
    """Collective on group. The transient of one point: from resume = (stored rows, Checkpoint) if
    given, else from bloch (a product state's Bloch vector, or None for [dynamics]'s own initial
    state). Returns {"rows": every /dynamics row of the point, "completed", "reason", the counters
    of all runs, "ts_type"}; raises scheduler.Interrupted (every rank) if a signal stopped it."""
    p = prepared.problem
    op = dyn.build_operator(group, list(p.baths), p.vectors, p.delta, p.spec)
    stored_rows, checkpoint = resume if resume is not None else (np.zeros(0, DYNAMICS_DTYPE), None)
    previous = {k: checkpoint.attrs[k] for k in COUNTERS} if checkpoint is not None else dict.fromkeys(COUNTERS, 0)
    times = output_times(cfg)
    done = int(checkpoint.n_times) if checkpoint is not None else 0
    y0 = None
    try:
        if checkpoint is not None:
            y0 = dyn.state_from_array(op, checkpoint.state)
            t0, dt0 = float(checkpoint.t), float(checkpoint.time_step)
        else:
            t0, dt0 = 0.0, None
            y0, failure = _initial_state(group, cfg, op, prepared, bloch, solver_settings)
            if failure:
                return {"rows": stored_rows, "completed": False, "reason": failure, "ts_type": "", **previous}
        if done >= times.size:              # stored to the end; only its summary was missing
            return {"rows": stored_rows, "completed": True, "reason": "", "ts_type": "", **previous}
        log = _Log(point, run_number, cfg.dynamics.checkpoint_interval, control, op, previous, done,
                   initial=checkpoint is None)
        res = dyn.evolve(op, y0, t0, times[done:], settings_of(cfg), callback=log.callback, dt0=dt0,
                         emit_initial=checkpoint is None, on_checkpoint=log.save)
        try:
            counts = {"steps": res.steps, "rejected": res.rejected, "rhs_evaluations": res.rhs_evaluations,
                      "wall_s": res.wall_s}
            # the rows since the last checkpoint and the state they end at (a failure on any rank
            # raises CallbackFailed on every rank, as inside evolve)
            dyn.run_agreed(group, lambda: log.save(res.time, res.state, res.time_step, counts, final=True))
        finally:
            res.state.destroy()
        if not res.completed:
            control.check_stop()             # a signal: Interrupted on every rank, the point is resumed later
        rows = np.concatenate([stored_rows, np.array(log.rows, dtype=DYNAMICS_DTYPE)])
        reason = "" if res.completed else f"integrator stopped at t = {res.time:.6g}: {res.reason}"
        return {"rows": rows, "completed": res.completed, "reason": reason, "ts_type": res.ts_type,
                **{k: previous[k] + counts[k] for k in COUNTERS}}
    finally:
        if y0 is not None:
            y0.destroy()
        op.destroy()


def _initial_state(group, cfg, op, prepared: Prepared, bloch, solver_settings):
    """Collective. (y0, "") or (None, why the initial state could not be made)."""
    if prepared.before is None:
        return dyn.product_state(op, bloch if bloch is not None else cfg.dynamics.initial_state()), ""
    b = prepared.before
    old = dyn.build_operator(group, list(b.baths), b.vectors, b.delta, b.spec, bounds=op.bounds)
    try:
        y_old, report = dyn.steady_state_vector(old, solver_settings)
        try:
            if not report.converged:
                return None, f"initial steady state: {report.reason} {report.message}".strip()[:200]
            return dyn.quench_state(y_old, old, op, prepared.ratio), ""
        finally:
            y_old.destroy()
    finally:
        old.destroy()


class _Log:
    """The callbacks of one evolution: a row per output; a checkpoint (rows and state, sent to rank
    0) when checkpoint_interval has passed; a stop when a signal has arrived."""

    def __init__(self, point, run, interval, control, op, previous, done, initial: bool):
        self.point, self.run, self.interval, self.control, self.op = point, run, interval, control, op
        self.previous = previous       # counters of the runs before this one
        self.n_times = done            # output times reported, this run's included
        self.initial = initial         # the next row is t = 0's (not an output time)
        self.rows: list = []           # this run's rows
        self.sent = 0                  # of which sent to rank 0
        self.last = time.monotonic()
        self.saved_t = None

    def callback(self, obs):
        self.rows.append(table_row(self.point, self.run, obs))
        if self.initial:
            self.initial = False
        else:
            self.n_times += 1
        if self.control.poll_stop():
            return True                # agreed in evolve; the final save stores the state
        if time.monotonic() - self.last >= self.interval:
            return dyn.CHECKPOINT
        return None

    def save(self, t, y, dt, counts, final=False):
        """Collective. Send the rows since the last save and the state y at t to rank 0."""
        if final and self.saved_t == t and self.sent == len(self.rows):
            return                     # already stored at this very step
        array = dyn.state_to_array(self.op, y)
        attrs = {"t": float(t), "time_step": float(dt), "n_times": self.n_times, "run": self.run,
                 **{k: self.previous[k] + counts[k] for k in COUNTERS}}
        new = np.array(self.rows[self.sent:], dtype=DYNAMICS_DTYPE)
        self.control.emit_transient(new, Checkpoint(array, {k: attrs[k] for k in CHECKPOINT_ATTRS}))
        self.sent = len(self.rows)
        self.saved_t = t
        self.last = time.monotonic()
