"""A study on a communicator: with scheduler.py, the only code that sees MPI.

``run(comm, cfg, input_text, stop)`` is collective on comm:
  1. the study's points (study.build_study, pure and identical on every rank);
  2. world rank 0 opens the output (output.open_output): creates it, resumes a file of the same
     input (finished points are skipped, stored solves reused), or refuses a file of another input
     (the refusal is broadcast and raised on every rank: no rank-local raise before a collective);
  3. the layout (planning.plan_layout): groups of ranks_per_point ranks ("auto": from the memory
     estimate), never more groups than unfinished points;
  4. scheduler.run: groups take points as they come (PointWork runs one on its group); rank 0
     writes each finished solve and point at once (output.Writer) and logs the study's progress.
A transient ([study] kind = "dynamics") is one more collective step of its point
(PointWork.evolve -> transient.run_point), whose rows and states reach rank 0 as it proceeds.
A point that fails, raises before its collective solve, or does not fit the memory budget is
recorded with its status and the study goes on; an exception inside a collective solve propagates
to __main__, which aborts the whole job. Returns 0 if every point is good, 3 if some point failed
or did not converge, 128 + signal number if a signal stopped the study before it finished (re-run
the same command to resume).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import time

import numpy as np

from . import __version__, scheduler
from .config import RunConfig
from .bath import resolved_n_bose
from .output import (Writer, check_decomposition, decomposition_limit, error_row, exit_code, failure_text,
                     mark_accuracy, open_output, plan_resumption, result_row)
from .petsc_env import versions
from .planning import Layout, SizeCache, memory_budget, memory_refusal, plan_layout, request_memory
from .point import prepare_point, solve_prepared
from .problem import Problem, bath_of
from .results_file import IncompatibleFile
from .routes import SolverSettings
from .scheduler import Interrupted
from .analytic.at_point import analytic_currents
from .study import LimitReached, PointError, Request, Study, build_study, row_key

log = logging.getLogger("nesb_hpc")


# names a typo is likely to be meant as (did-you-mean suggestions for unused options)
_KNOWN_OPTIONS = ("ksp_type", "pc_type", "ksp_rtol", "ksp_atol", "ksp_max_it", "ksp_gmres_restart",
                  "ksp_pc_side", "pc_asm_overlap", "pc_asm_type", "sub_ksp_type", "sub_pc_type",
                  "sub_pc_factor_levels", "pc_factor_levels", "pc_factor_mat_solver_type",
                  "pc_factor_mat_ordering_type", "sub_pc_factor_mat_ordering_type", "pc_bjacobi_blocks",
                  "eps_type", "eps_ncv", "eps_tol", "eps_max_it", "st_type", "st_ksp_type", "st_pc_type")


def check_solver_options(cfg: RunConfig) -> None:
    """Not collective (every rank may call it; all decide alike). Refuse, before the study
    starts, input options PETSc never reads (typos) and option values PETSc rejects: the solver
    routes the input may take are set up on a tiny system with those options (steady_state.
    probe_options). Raises InputError naming the option."""
    import difflib

    from .config import InputError
    from .solver_options import OptionsRejected, probe_options

    settings = SolverSettings.from_table(cfg.solver)
    try:
        unused = probe_options(cfg.solver.method, settings)
    except OptionsRejected as exc:
        allowed = "option values PETSc accepts"
        raise InputError(f"input error: PETSc refuses the solver options ([solver.petsc_options] and the "
                         f"command line) for {exc}", key="solver.petsc_options",
                         value=dict(settings.petsc_options), allowed=allowed) from None
    if unused:
        name = unused[0]
        close = difflib.get_close_matches(name, _KNOWN_OPTIONS + tuple(n for n in dict(settings.petsc_options)
                                                                        if n not in unused), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        allowed = f'options the "{cfg.solver.method}" solver reads'
        raise InputError(f"input error: [solver.petsc_options] {name} = {json.dumps(dict(settings.petsc_options)[name])} "
                         f'is never read by PETSc with method = "{cfg.solver.method}"{hint}: allowed are '
                         f"{allowed} (names without the -nesb_ prefix)", key=f"solver.petsc_options.{name}",
                         value=dict(settings.petsc_options)[name], allowed=allowed)
    if cfg.dynamics is not None:
        _check_dynamics_options(cfg)


# names a typo in [dynamics.petsc_options] is likely to be meant as
_KNOWN_TS_OPTIONS = ("ts_type", "ts_rk_type", "ts_bdf_order", "ts_arkimex_type", "ts_rosw_type", "ts_adapt_type",
                     "ts_rtol", "ts_atol", "ts_max_reject", "ts_max_snes_failures", "ts_adapt_dt_max",
                     "ts_adapt_dt_min", "ksp_type", "ksp_rtol", "ksp_gmres_restart", "pc_type", "sub_pc_type",
                     "sub_pc_factor_levels")


def _check_dynamics_options(cfg: RunConfig) -> None:
    """[dynamics.petsc_options] as the steady state's: values PETSc refuses and options it never
    reads (the evolution set up on a tiny system, dynamics.probe_options) are input errors."""
    import difflib

    from .config import InputError
    from .dynamics import probe_options
    from .solver_options import OptionsRejected
    from .transient import settings_of

    settings = settings_of(cfg)
    options = dict(settings.petsc_options)
    try:
        unused = probe_options(settings)
    except OptionsRejected as exc:
        allowed = "option values PETSc accepts"
        raise InputError(f"input error: PETSc refuses the time evolution's options ([dynamics.petsc_options] and "
                         f"the command line) for {exc}", key="dynamics.petsc_options", value=options,
                         allowed=allowed) from None
    if unused:
        name = unused[0]
        close = difflib.get_close_matches(name, _KNOWN_TS_OPTIONS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        ts_type = options.get("ts_type", "rk")
        allowed = f'options the time evolution reads with ts_type = "{ts_type}"'
        raise InputError(f"input error: [dynamics.petsc_options] {name} = {json.dumps(options[name])} is never read "
                         f'by PETSc with ts_type = "{ts_type}"{hint}: allowed are {allowed} (names without the '
                         "-nesb_ prefix)", key=f"dynamics.petsc_options.{name}", value=options[name], allowed=allowed)


class CollectiveFailure(RuntimeError):
    """An exception inside a collective solve: it may be local to one rank while the others wait
    in PETSc, so it cannot be recorded and skipped; it ends the whole job (__main__ aborts)."""


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclasses.dataclass
class _TaskContext:
    """What a task may ask about cost (study.TaskContext) on its group, and its transient."""

    work: "PointWork"
    group_size: int
    cache: dict
    group: object = None
    task: object = None
    control: object = None
    resume: object = None      # a transient's stored rows and state (output.plan_resumption)

    def evolve(self, request, bloch=None):
        """Collective on the group: the point's transient (transient.run_point)."""
        return self.work.evolve(self.group, self.task, request, bloch, self.resume, self.control)

    def cached(self, request):
        return request.key() in self.cache

    def memory_per_rank(self, request):
        return request_memory(self.work.sizes(request, self.group_size))

    def memory_limit(self):
        return self.work.memory_limit

    def nonzeros(self, request):
        return self.work.sizes(request, self.group_size).nonzeros


@dataclasses.dataclass
class PointWork:
    """Runs one task on a group (collective on it): the study's logic with an `evaluate` that
    reuses stored solves and otherwise solves on the group's communicator.

    A point never stops the study: a solve whose preparation raises (on any rank; the group
    agrees before its first collective call) is stored with status "error" and its message, and
    the point's summary says "error"; a solve that does not fit the memory budget is not started
    and the point ends with status "memory_limit" (continued when the study is re-run, e.g. on
    more ranks); an exception in the study's own logic (identical on every rank) ends the point
    with status "error". Only an exception inside a collective solve ends the job."""

    cfg: RunConfig
    study: Study
    sizes: SizeCache
    memory_limit: float
    run_number: int
    force_memory: bool = False

    def __call__(self, group, task, payload, control):
        stored, resume = payload
        cache = {row_key(row): row for row, _ in stored}
        rows: list = []
        counter = itertools.count()

        def evaluate(request: Request):
            stored_row = cache.get(request.key())
            n = next(counter)
            if stored_row is not None:
                return stored_row
            control.check_stop()
            row = self._solve(group, task, request, n, control)
            cache[request.key()] = row
            rows.append(row)
            if row["status"] == b"error":
                raise PointError(failure_text(row))
            return row

        try:
            return self.study.run_task(task, evaluate, _TaskContext(self, group.size, cache, group, task, control,
                                                                    resume))
        except (CollectiveFailure, Interrupted):
            raise
        except LimitReached as exc:
            return self.study.summary_of_stop(task, rows, exc.status, exc.reason)
        except PointError as exc:
            return self.study.summary_of_stop(task, rows, "error", str(exc))
        except Exception as exc:  # noqa: BLE001 - the study's logic: the same on every rank of the group
            log.debug("point %d: %s", task.index, _error_text(exc), exc_info=True)
            return self.study.summary_of_stop(task, rows, "error", _error_text(exc))

    def _prepare(self, group, request: Request):
        """Not collective: ("ok", PreparedPoint), ("limit", reason) or ("error", message)."""
        try:
            need = request_memory(self.sizes(request, group.size))
            if need > self.memory_limit and not self.force_memory:
                return "limit", (f"depth {request.depth}, n_bose {request.n_bose} needs ~{need / 2**20:,.0f} MiB/rank"
                                 f" > {self.memory_limit / 2**20:,.0f} on {group.size} ranks")
            problem = Problem.from_request(self.cfg, request)
            return "ok", prepare_point(problem, self.settings, group.size, group.rank)
        except Exception as exc:  # noqa: BLE001 - recorded with the point, agreed by the group below
            return "error", _error_text(exc)

    @property
    def settings(self) -> SolverSettings:
        return SolverSettings.from_table(self.cfg.solver)

    def _solve(self, group, task, request: Request, n: int, control) -> np.void:
        """Collective on group. The results row of one solve (status "error" if its preparation
        failed on any rank); raises LimitReached if it does not fit the memory budget."""
        outcome, payload = self._prepare(group, request)
        outcomes = group.allgather((outcome, payload if outcome != "ok" else None))
        bad = next((o for o in outcomes if o[0] == "error"), None) or next(
            (o for o in outcomes if o[0] == "limit"), None)
        if bad is not None and bad[0] == "limit":
            raise LimitReached("memory_limit", bad[1])
        m = request.model
        if bad is not None:
            row = error_row(request, bad[1], group.size)
            info = json.dumps({"message": bad[1]})
        else:
            try:
                res = solve_prepared(group, payload, self.settings, bool(self.cfg.study.get("noise")))
            except Exception as exc:
                raise CollectiveFailure(f"point {task.index}: {_error_text(exc)}") from exc
            row = result_row(request, res, group.size)[()]  # numpy.void, like rows read back
            bath = bath_of(self.cfg, request.n_bose)
            notes = {}
            try:
                for name, value in analytic_currents(m, bath, self.cfg.study.get("analytic")).items():
                    row[name] = value
            except Exception as exc:  # noqa: BLE001 - an analytic theory failing leaves NaN, not the point
                notes["analytic_error"] = _error_text(exc)
            # every rank judges the decomposition (memoised, deterministic): the row, and the
            # study's decisions that read it, are the same on every rank of the group
            try:
                errors = check_decomposition(self.cfg, m, bath)
            except Exception as exc:  # noqa: BLE001
                errors, notes["decomposition_check_error"] = [], _error_text(exc)
            mark_accuracy(row, errors, resolved_n_bose(m, bath), decomposition_limit(bath))
            info = ""
            if control.is_leader:
                info = json.dumps({"options": res.report.options, "message": res.report.message,
                                   "decomposition_error": errors, **notes})
        row["point"], row["eval"], row["key"], row["run"] = task.index, n, task.key, self.run_number
        control.emit(row, info)
        return row


    def evolve(self, group, task, request: Request, bloch, resume, control) -> dict:
        """Collective on group. A transient (transient.run_point); raises PointError (every rank)
        if it cannot be set up or its callbacks fail, LimitReached if it does not fit the budget."""
        from . import transient
        from .dynamics import CallbackFailed
        from .study_dynamics import coupling_ratio, quenched_model

        control.check_stop()
        try:
            need = request_memory(self.sizes(request, group.size))
            if need > self.memory_limit and not self.force_memory:
                outcome = ("limit", f"depth {request.depth} needs ~{need / 2**20:,.0f} MiB/rank > "
                                    f"{self.memory_limit / 2**20:,.0f} on {group.size} ranks")
            else:
                quench = None
                if self.cfg.dynamics.quench_kind() == "correlated" and resume is None:
                    before = quenched_model(request.model, self.cfg)
                    quench = (dataclasses.replace(request, model=before, role="initial"),
                              coupling_ratio(request.model, before))
                outcome = ("ok", transient.prepare(self.cfg, request, bloch, *(quench or ())))
        except Exception as exc:  # noqa: BLE001 - agreed by the group below
            outcome = ("error", _error_text(exc))
        outcomes = group.allgather(outcome if outcome[0] != "ok" else ("ok", None))
        bad = next((o for o in outcomes if o[0] == "error"), None) or next((o for o in outcomes if o[0] == "limit"), None)
        if bad is not None:
            raise (LimitReached("memory_limit", bad[1]) if bad[0] == "limit" else PointError(f"transient: {bad[1]}"))
        try:
            return transient.run_point(group, self.cfg, task.index, outcome[1], bloch, resume, control,
                                       self.run_number, self.settings)
        except (Interrupted, CollectiveFailure):
            raise
        except CallbackFailed as exc:    # raised on every rank together: the point is an error, the study goes on
            raise PointError(str(exc)) from exc
        except Exception as exc:
            raise CollectiveFailure(f"point {task.index}: {_error_text(exc)}") from exc


class RunRefused(RuntimeError):
    """The run is refused before any work (e.g. the point does not fit the memory budget)."""


def run(comm, cfg: RunConfig, input_text: str = "", stop=None, retry_failed: bool = False,
        force_memory: bool = False) -> int:
    """Collective. Solve every unfinished point of the study and write it; returns the exit code
    (0 all points good, 3 some failed or did not converge, 128 + signum if stopped by a signal).

    stop: a scheduler.StopFlag that signal handlers set (__main__); none by default.
    retry_failed: points stored with status "failed" or "error" are solved again (their failed
    solves are not reused). force_memory: solve points the memory estimate says do not fit.
    Raises RunRefused (on every rank) for a single point that does not fit, IncompatibleFile for
    an output of another input."""
    stop = stop or scheduler.StopFlag()
    study = build_study(cfg)
    sizes = SizeCache(cfg)
    budget = memory_budget(cfg, _ranks_on_node(comm))
    if study.kind == "point" and not force_memory:
        refusal = memory_refusal(study, sizes, comm.size, budget) if comm.rank == 0 else None
        refusal = comm.bcast(refusal, root=0)
        if refusal:
            raise RunRefused(refusal)
    results = lock = None
    plan: dict = {"error": None, "stored": {}}
    if comm.rank == 0:
        try:
            results, state, lock = open_output(cfg, study, input_text, versions(comm.size))
            plan.update(plan_resumption(study, state, retry_failed, results.path), path=results.target)
        except (IncompatibleFile, OSError) as exc:
            plan["error"] = str(exc)
    public = comm.bcast({k: v for k, v in plan.items() if k != "stored"} if comm.rank == 0 else None, root=0)
    if public["error"]:
        raise IncompatibleFile(public["error"])
    stored, transients = plan["stored"], plan.get("transients", {})  # rank 0 only: handed out with the points
    todo = [t for t in study.tasks if t.index in set(public["todo"])]
    layout = comm.bcast(plan_layout(cfg, study, todo, comm.size, budget, sizes) if comm.rank == 0 else None, root=0)
    writer = None
    try:
        if comm.rank == 0:
            run_number = results.start_run({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n_ranks": comm.size,
                                            "groups": list(layout.groups), "nesb_hpc_version": __version__},
                                           len(study.tasks))
            _log_start(cfg, study, public, stored, layout, comm.size)
            writer = Writer(cfg, study, results, len(todo), len(study.tasks) - len(todo))
        else:
            run_number = None
        run_number = comm.bcast(run_number, root=0)
        work = PointWork(cfg, study, sizes, budget, run_number, force_memory)
        outcome = scheduler.run(comm, list(layout.groups), todo,
                                lambda task: (stored.get(task.index, []), transients.get(task.index)), work,
                                writer, stop, layout.dedicated)
        code = exit_code(results, outcome, study) if comm.rank == 0 else None
        return comm.bcast(code, root=0)
    finally:
        if results is not None and results.pending:  # nothing stored: the old file stays as it was
            with contextlib.suppress(OSError):
                os.remove(results.path)
        if lock is not None:
            lock.release()


def _ranks_on_node(comm) -> int:
    """Collective. How many ranks of comm share this rank's node."""
    from mpi4py import MPI

    shared = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return shared.size
    finally:
        shared.Free()


def _log_start(cfg: RunConfig, study: Study, plan: dict, stored: dict, layout: Layout, world_size: int) -> None:
    n = len(study.tasks)
    log.info("study %s: %d points, %d already in %s, %d to do; %d stored solves reused", cfg.study.kind, n,
             plan["skipped"], plan["path"], len(plan["todo"]), sum(len(v) for v in stored.values()))
    log.info("layout: %s", layout.describe(world_size))
