"""From a validated input to results on disk: with scheduler.py, the only code that sees MPI.

``run(comm, cfg, input_text, stop)`` is collective on comm:
  1. the study's points (study.build_study, pure and identical on every rank);
  2. world rank 0 opens the output: creates it, or resumes a file of the same input (points already
     finished are skipped, solves already stored are reused), or refuses a file of another input
     (the refusal is broadcast and raised on every rank: no rank-local raise before a collective);
  3. the layout: groups of ranks_per_point ranks ("auto": from the dry-run memory estimate),
     never more groups than unfinished points;
  4. scheduler.run: groups take points as they come; rank 0 writes each finished solve and point
     at once (io: atomic copy-and-rename) and logs it with the study's progress.
Failures that a group sees together (a solver that does not converge) are recorded with their
status and the study goes on; anything else propagates to __main__, which aborts the whole job.
Returns 0 if every point is good, 3 if some point failed or did not converge, 128 + signal
number if a signal stopped the study before it finished (re-run the same command to resume).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import time

import numpy as np

from . import __version__, scheduler
from .bath import decompose_baths, decomposition_error, spectral_densities
from .config import RunConfig
from .io import (IncompatibleFile, OutputLock, ResultsFile, StoredState, candidate_paths, compat_difference,
                 empty_row, input_digest, output_path_problem, read_summary, remove_stale_temporaries)
from .pauli import bloch_vector
from .point import HierarchySpec, PointResult, prepare_point, solve_prepared
from .sizing import BASELINE_BYTES
from .steady_state import SolverSettings, choose_method
from .scheduler import Interrupted
from .study import (FAILED_STATUSES, GOOD_STATUSES, MODEL_COLUMNS, RETRY_STATUSES, LimitReached, PointError, Request,
                    Study, analytic_currents, build_study, row_key, size_of)

log = logging.getLogger("nesb_hpc")

EXIT_OK, EXIT_FAILED_POINTS = 0, 3


def coupling_vectors(model) -> np.ndarray:
    """Unit Bloch vectors of V1 and V2 from the model's polar/azimuthal angles."""
    return np.array([bloch_vector(model.theta1, model.phi1), bloch_vector(model.theta, model.phi2)])


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
    from .steady_state import OptionsRejected, probe_options

    settings = solver_settings(cfg)
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


def solver_settings(cfg: RunConfig) -> SolverSettings:
    s = cfg.solver
    return SolverSettings(s.method, s.rtol, s.max_it, s.slepc_target, tuple(s.petsc_options))


# Keys of the shared tables that do not change any stored number: limits a successful solve does
# not depend on (a fit uses the fewest terms that meet fit_tolerance, whatever the cap).
NOT_PHYSICS = {"bath": ("fit_max_terms",)}


def compat_of(cfg: RunConfig) -> dict:
    """What a file and an input must share for the file to be resumed: the study kind, [bath] and
    [hierarchy]. [model] and the study's own keys are matched point by point (each point's key);
    [solver] may change (each solve records its method, residual and status)."""
    return {"format": 2, "study": {"kind": cfg.study.kind}, "bath": cfg.bath.to_dict(),
            "hierarchy": cfg.hierarchy.to_dict()}


def comparable_compat(compat: dict) -> dict:
    """A stored or current compat as compared: keys absent from it (written by an older version)
    take today's defaults, and keys that change no result are dropped. So a file stays resumable
    when a key with a default is added, and when a limit such as fit_max_terms is raised."""
    defaults = compat_of(RunConfig())
    out = dict(compat)
    for table, default in defaults.items():
        if isinstance(default, dict) and isinstance(compat.get(table), dict):
            merged = {**default, **compat[table]}
            out[table] = {k: v for k, v in merged.items() if k not in NOT_PHYSICS.get(table, ())}
    return out


# ----------------------------------------------------------------------------- sizing


def request_memory(sizing) -> float:
    """Bytes per rank of a Sizing; the LU fill of the direct route is unpredictable and left out."""
    solver = sizing.solver_bytes_per_rank
    return BASELINE_BYTES + sizing.matrix_bytes_per_rank + (solver if math.isfinite(solver) else 0.0)


class SizeCache:
    """Sizing of requests, memoised on what determines it (not alpha or the temperatures)."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.memo: dict = {}

    def __call__(self, request: Request, ranks: int):
        m = request.model
        key = (request.depth, request.n_bose, m.theta, m.theta1, m.phi1, m.phi2, m.delta == 0.0,
               m.alpha1 == 0.0, m.alpha2 == 0.0, ranks)
        if key not in self.memo:
            self.memo[key] = size_of(self.cfg, request, ranks)
        return self.memo[key]


def memory_need(study: Study, tasks, sizes: SizeCache, ranks: int) -> float:
    """Largest estimated bytes per rank over the tasks' most expensive solves on `ranks` ranks."""
    need = 0.0
    for task in tasks:
        for req in study.largest_requests(task):
            need = max(need, request_memory(sizes(req, ranks)))
    return need


def auto_ranks_per_point(study: Study, tasks, sizes: SizeCache, world_size: int, budget: float) -> int:
    """The smallest group size whose estimated memory per rank fits the budget (else world_size)."""
    for r in range(1, world_size + 1):
        if memory_need(study, tasks, sizes, r) <= budget:
            return r
    return world_size


def detect_memory_per_rank(local_ranks: int) -> float:
    """Bytes one rank may use: SLURM_MEM_PER_CPU, SLURM_MEM_PER_NODE / ranks on the node, or the
    node's available memory / ranks on the node (SLURM's values are in MiB)."""
    env = os.environ
    for var, per in (("SLURM_MEM_PER_CPU", 1), ("SLURM_MEM_PER_NODE", local_ranks)):
        try:
            return float(env[var]) * 2**20 / per
        except (KeyError, ValueError):
            pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024 / max(local_ranks, 1)
    except OSError:
        pass
    return 2.0 * 2**30


def memory_budget(cfg: RunConfig, local_ranks: int) -> float:
    value = cfg.study.get("memory_per_rank")
    return detect_memory_per_rank(local_ranks) if value == "auto" else float(value) * 2**20


def dry_run_report(cfg: RunConfig, ranks: int, local_ranks: int | None = None) -> str:
    """What --dry-run prints: the study's points, the size and memory of its distinct solves on
    the group size that would be used, and the layout (pure; no MPI)."""
    study = build_study(cfg)
    sizes = SizeCache(cfg)
    # planning for another machine: "auto" memory is this machine's per core unless SLURM says more
    budget = memory_budget(cfg, local_ranks or min(ranks, os.cpu_count() or 1))
    dedicated = use_dedicated_coordinator(cfg, ranks, len(study.tasks))
    workers = ranks - (1 if dedicated else 0)
    rpp = cfg.study.get("ranks_per_point") if cfg.study.kind != "point" else ranks
    auto = rpp == "auto"
    if auto:
        rpp = auto_ranks_per_point(study, study.tasks, sizes, workers, budget)
    groups = scheduler.group_sizes(workers, rpp, len(study.tasks))
    lines = [f"study {cfg.study.kind}: {len(study.tasks)} points"]
    source = "[study] memory_per_rank" if cfg.study.get("memory_per_rank") != "auto" \
        else "detected here; set [study] memory_per_rank for another machine"
    lines.append(f"layout on {ranks} ranks: {len(groups)} group(s) of {_sizes_text(groups)} ranks "
                 f"(ranks_per_point {'auto -> ' if auto else ''}{rpp}; memory budget "
                 f"{budget / 2**20:,.0f} MiB per rank, {source}){'; rank 0 only coordinates' if dedicated else ''}")
    need = memory_need(study, study.tasks, sizes, min(groups))
    if need > budget:
        lines.append(f"WARNING: the largest solve needs ~{need / 2**20:,.0f} MiB per rank on {min(groups)} "
                     f"ranks, more than the budget: {MEMORY_ADVICE}")
    seen: dict = {}
    for task in study.tasks:
        for req in study.largest_requests(task):
            sizing = sizes(req, min(groups))
            seen.setdefault((req.depth, req.n_bose, sizing.n_ados, sizing.nonzeros), (sizing, []))[1].append(task.index)
    for (depth, n_bose, _, _), (sizing, points) in seen.items():
        method = choose_method(cfg.solver.method, sizing.n_unknowns)
        lines.append(f"\npoints {_ranges(points)}: depth {depth}, n_bose {n_bose}, method {method}"
                     + (" (LU fill not predictable: not in the estimate)" if method == "direct" else ""))
        lines.append(sizing.table())
    if cfg.study.kind == "convergence":
        lines.append("\nconvergence ladder (per point, on the group size above):")
        for depth, n_bose in study.ladder():
            req = Request(study.tasks[0].model, depth, n_bose, "rung")
            s = sizes(req, min(groups))
            lines.append(f"  depth {depth}, n_bose {n_bose}: {s.n_ados:,} ADOs, {s.nonzeros:,} nonzeros, "
                         f"~{request_memory(s) / 2**20:,.0f} MiB/rank")
    return "\n".join(lines)


def _sizes_text(sizes: list[int]) -> str:
    distinct = sorted(set(sizes))
    return " or ".join(str(s) for s in distinct)


def _ranges(points: list[int]) -> str:
    out, start, prev = [], None, None
    for p in points + [None]:
        if start is None:
            start = prev = p
        elif p is not None and p == prev + 1:
            prev = p
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = p
    return ", ".join(out)


# ----------------------------------------------------------------------------- rows


def versions(comm_size: int) -> dict:
    from mpi4py import MPI
    from petsc4py import PETSc

    import petsc4py
    import slepc4py

    petsc = ".".join(str(v) for v in PETSc.Sys.getVersion())
    from slepc4py import SLEPc

    slepc = ".".join(str(v) for v in SLEPc.Sys.getVersion())
    return {
        "nesb_hpc_version": __version__, "petsc_version": petsc, "slepc_version": slepc,
        "petsc4py_version": petsc4py.__version__, "slepc4py_version": slepc4py.__version__,
        "petsc_scalar": np.dtype(PETSc.ScalarType).name,
        "mpi_library": MPI.Get_library_version().replace("\x00", "").splitlines()[0].strip(),
        "n_ranks": comm_size,
    }


def result_row(request: Request, res: PointResult, ranks: int) -> np.ndarray:
    """The results row of one solve (model, sizes, currents, diagnostics, timings)."""
    m = request.model
    row = empty_row()
    for name in MODEL_COLUMNS:
        row[name] = getattr(m, name)
    row["role"] = request.role
    row["depth"] = request.depth
    row["n_bose"] = request.n_bose
    row["n_modes"], row["n_ados"], row["n_unknowns"] = res.n_modes, res.n_ados, res.n_unknowns
    row["nonzeros"] = res.nonzeros
    row["I1"], row["I2"] = res.currents[0], res.currents[1]
    row["residual"] = res.report.residual
    row["iterations"] = res.report.iterations
    row["method"] = res.report.method
    row["status"] = res.status
    row["reason"] = res.report.reason[:48]
    if res.observables is not None:
        row["conservation"] = res.observables.conservation
        row["x0"], row["x1"], row["x2"], row["x3"] = res.observables.bloch
        row["positivity"] = res.observables.positivity
    row["time_s"] = res.timings["total_s"]
    row["assembly_s"] = res.timings["assembly_s"]
    row["solve_s"] = res.timings["setup_s"] + res.timings["solve_s"]
    row["peak_rss_mb"] = res.peak_rss_mb
    row["ranks"] = ranks
    return row


_DECOMPOSITION_ERRORS: dict = {}


def check_decomposition(cfg: RunConfig, model, bath=None) -> list[float]:
    """Relative error of each bath's C(t) against quadrature (NaN for given exponents).

    Memoised per process: the relative error does not depend on alpha (C(t) and its
    decomposition both scale with it), and quadrature costs about 0.5 s per bath."""
    bath = bath or cfg.bath
    key = (json.dumps(bath.to_dict(), sort_keys=True, default=str), model.T1, model.T2,
           model.alpha1 == 0.0, model.alpha2 == 0.0)
    if key not in _DECOMPOSITION_ERRORS:
        errors = []
        alphas = (model.alpha1, model.alpha2)
        for J, T, dec, alpha in zip(spectral_densities(model, bath), (model.T1, model.T2),
                                    decompose_baths(model, bath), alphas):
            # an uncoupled bath (alpha = 0) has C = 0 exactly, decomposed exactly
            errors.append(float("nan") if J is None else 0.0 if alpha == 0.0 else decomposition_error(dec, J, T))
        _DECOMPOSITION_ERRORS[key] = errors
    return _DECOMPOSITION_ERRORS[key]


class CollectiveFailure(RuntimeError):
    """An exception inside a collective solve: it may be local to one rank while the others wait
    in PETSc, so it cannot be recorded and skipped; it ends the whole job (__main__ aborts)."""


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclasses.dataclass
class _TaskContext:
    """What a task may ask about cost (study.TaskContext) on its group."""

    work: "PointWork"
    group_size: int
    cache: dict

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

    def __call__(self, group, task, stored, control):
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
                raise PointError(_failure_text(row))
            return row

        try:
            return self.study.run_task(task, evaluate, _TaskContext(self, group.size, cache))
        except (CollectiveFailure, Interrupted):
            raise
        except LimitReached as exc:
            return self.study.summary_of_stop(task, rows, exc.status, exc.reason)
        except PointError as exc:
            return self.study.summary_of_stop(task, rows, "error", str(exc))
        except Exception as exc:  # noqa: BLE001 - the study's logic: the same on every rank of the group
            log.debug("point %d: %s", task.index, _error_text(exc), exc_info=True)
            return self.study.summary_of_stop(task, rows, "error", _error_text(exc))

    def _bath(self, request: Request):
        bath = self.cfg.bath
        return dataclasses.replace(bath, n_bose=request.n_bose) if request.n_bose != bath.n_bose else bath

    def _prepare(self, group, request: Request):
        """Not collective: ("ok", PreparedPoint), ("limit", reason) or ("error", message)."""
        cfg = self.cfg
        try:
            need = request_memory(self.sizes(request, group.size))
            if need > self.memory_limit and not self.force_memory:
                return "limit", (f"depth {request.depth}, n_bose {request.n_bose} needs ~{need / 2**20:,.0f} MiB/rank"
                                 f" > {self.memory_limit / 2**20:,.0f} on {group.size} ranks")
            m = request.model
            spec = HierarchySpec(request.depth, cfg.hierarchy.rescale, cfg.solver.matrix_type, cfg.hierarchy.modes)
            baths = decompose_baths(m, self._bath(request))
            return "ok", (spec, prepare_point(baths, coupling_vectors(m), m.delta, spec, solver_settings(cfg),
                                              group.size, group.rank))
        except Exception as exc:  # noqa: BLE001 - recorded with the point, agreed by the group below
            return "error", _error_text(exc)

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
            spec, prepared = payload
            try:
                res = solve_prepared(group, prepared, spec, solver_settings(self.cfg))
            except Exception as exc:
                raise CollectiveFailure(f"point {task.index}: {_error_text(exc)}") from exc
            row = result_row(request, res, group.size)[()]  # numpy.void, like rows read back
            bath = self._bath(request)
            notes = {}
            try:
                for name, value in analytic_currents(m, bath, self.cfg.study.get("analytic")).items():
                    row[name] = value
            except Exception as exc:  # noqa: BLE001 - an analytic theory failing leaves NaN, not the point
                notes["analytic_error"] = _error_text(exc)
            info = ""
            if control.is_leader:
                try:
                    errors = check_decomposition(self.cfg, m, bath)
                except Exception as exc:  # noqa: BLE001
                    errors, notes["decomposition_check_error"] = [], _error_text(exc)
                info = json.dumps({"options": res.report.options, "message": res.report.message,
                                   "decomposition_error": errors, **notes})
        row["point"], row["eval"], row["key"], row["run"] = task.index, n, task.key, self.run_number
        control.emit(row, info)
        return row


def error_row(request: Request, message: str, ranks: int) -> np.void:
    """The results row of a solve that could not be made: status "error", the message's start."""
    row = empty_row()
    for name in MODEL_COLUMNS:
        row[name] = getattr(request.model, name)
    row["role"], row["depth"], row["n_bose"] = request.role, request.depth, request.n_bose
    row["status"], row["reason"], row["method"] = "error", message[:48], "none"
    row["ranks"] = ranks
    return row[()]


def _failure_text(row) -> str:
    return row["reason"].decode() if isinstance(row["reason"], bytes) else str(row["reason"])


class Writer:
    """World rank 0: writes every result at once and logs the study's progress."""

    def __init__(self, cfg: RunConfig, study: Study, results: ResultsFile, n_todo: int, n_skipped: int):
        self.cfg, self.study, self.results = cfg, study, results
        self.n_todo, self.n_skipped = n_todo, n_skipped
        self.finished = 0
        self.t0 = time.perf_counter()
        self.by_index = {t.index: t for t in study.tasks}
        self.warned = False

    def rows(self, items) -> None:
        self.results.write([row for _, row, _ in items], [info for _, _, info in items], [])
        for point, row, info in items:
            if row["status"] == b"error":
                message = json.loads(info).get("message", "") if info else ""
                log.warning("solve %d of point %d could not be made: %s", int(row["eval"]), point,
                            message or row["reason"].decode())
                continue
            (log.info if row["status"] == b"ok" else log.warning)(solve_line(row))
            errors = json.loads(info).get("decomposition_error", []) if info else []
            fitted = self.cfg.bath.fit_tolerance > 0
            limit = max(self.cfg.bath.tolerance, self.cfg.bath.fit_tolerance)
            bad = [e for e in errors if e > limit]
            if bad and not self.warned:
                self.warned = True
                log.warning("point %d: decomposed C(t) deviates from quadrature by %.2e (relative) > "
                            "tolerance %.1e: %s", point, max(bad), limit,
                            "lower [bath] fit_tolerance" if fitted else "raise [bath] n_bose")

    def done(self, items) -> None:
        self.results.write([], [], [summary for _, summary in items])
        for point, s in items:
            self.finished += 1
            task = self.by_index[point]
            label = " ".join(f"{k}={v:.4g}" for k, v in task.label) or "[model]"
            status = s["status"].decode()
            text = (f"point {point} ({label}): {self.study.describe(s)} | {status}"
                    f"{': ' + s['reason'].decode() if s['reason'] else ''} | {s['n_solves']} solves, "
                    f"{s['time_s']:.2f} s")
            (log.info if status in GOOD_STATUSES else log.warning)(text)
            elapsed = time.perf_counter() - self.t0
            left = self.n_todo - self.finished
            total = self.n_todo + self.n_skipped
            log.info("progress %d/%d points (%d done before), elapsed %.1f s%s", self.finished + self.n_skipped,
                     total, self.n_skipped, elapsed,
                     f", about {elapsed / self.finished * left:.0f} s left" if left > 0 else "")


# ----------------------------------------------------------------------------- opening the output


def _stored_mismatch(study: Study, state: StoredState) -> str | None:
    """Why the stored solves/points do not belong to this study (None if they do)."""
    tasks = {t.index: t for t in study.tasks}
    for table, what in ((state.summary, "point"), (state.rows, "solve of point")):
        for row in table:
            point = int(row["point"])
            task = tasks.get(point)
            if task is None:
                return f"the file has {what} {point}, the input only {len(tasks)} points"
            if row["key"].decode() != task.key:
                diffs = [f"{n} = {float(row[n]):.6g} in the file, {getattr(task.model, n):.6g} in the input"
                         for n in MODEL_COLUMNS if n in (table.dtype.names or ())
                         and np.isfinite(row[n]) and float(row[n]) != getattr(task.model, n)
                         and not (what != "point" and n in ("theta", "T1", "T2", "depth"))]
                why = "; ".join(diffs[:3]) or "the [study] settings differ"
                return f"{what} {point} was computed for another input ({why})"
    return None


def open_output(cfg: RunConfig, study: Study, input_text: str, meta: dict):
    """Rank 0: (ResultsFile, StoredState | None, lock) for this input; IncompatibleFile if refused."""
    choice = cfg.study.get("if_incompatible")
    first_reason = None
    for path in candidate_paths(cfg.output.path):
        problem = output_path_problem(path)
        if problem:
            raise IncompatibleFile(problem)
        lock = OutputLock(path).acquire()
        try:
            remove_stale_temporaries(path)
            if cfg.output.overwrite and path == cfg.output.path or not os.path.exists(path):
                if os.path.exists(path):
                    log.info("replacing %s once this run stores its first result ([output] overwrite = true)", path)
                return _create(path, cfg, study, input_text, meta), None, lock
            try:
                state = ResultsFile.load(path)
                stored = state.compat
                reason = ("it was written by an older nesb_hpc (no format-2 layout)" if stored is None
                          else compat_difference(comparable_compat(stored), comparable_compat(compat_of(cfg)))
                          or _stored_mismatch(study, state))
            except (OSError, KeyError) as exc:
                reason = f"it cannot be read as a results file ({exc})"
            if reason is None:
                return ResultsFile(path), state, lock
        except BaseException:
            lock.release()
            raise
        lock.release()
        first_reason = first_reason or (path, reason)
        if choice != "new_file":
            break
    path, reason = first_reason
    raise IncompatibleFile(
        f"{path} holds results of a different input: {reason}. To keep both, set [study] "
        f'if_incompatible = "new_file" (writes the first free {path[:-3]}-N.h5); to replace it, '
        "set [output] overwrite = true; or choose another [output] path")


def _create(path, cfg, study, input_text, meta) -> ResultsFile:
    normalised = cfg.to_dict()
    attrs = {"input_toml": input_text, "input_normalised": json.dumps(normalised, sort_keys=True, default=str),
             "input_digest": input_digest(normalised), "compat": json.dumps(compat_of(cfg), sort_keys=True),
             "study_kind": cfg.study.kind, "n_points": len(study.tasks), **meta}
    return ResultsFile.create(path, attrs, study.summary_dtype, defer=True)


# ----------------------------------------------------------------------------- the run


MEMORY_ADVICE = ('use more ranks (or larger ranks_per_point), [hierarchy] modes = "merged", a lower depth or '
                 "fewer n_bose terms, or set [study] memory_per_rank if the machine has more")


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
    if cfg.study.kind == "point" and not force_memory:
        refusal = _memory_refusal(study, sizes, comm.size, budget) if comm.rank == 0 else None
        refusal = comm.bcast(refusal, root=0)
        if refusal:
            raise RunRefused(refusal)
    results = lock = None
    plan: dict = {"error": None, "stored": {}}
    if comm.rank == 0:
        try:
            results, state, lock = open_output(cfg, study, input_text, versions(comm.size))
            plan.update(_plan(study, state, retry_failed), path=results.target)
        except (IncompatibleFile, OSError) as exc:
            plan["error"] = str(exc)
    public = comm.bcast({k: v for k, v in plan.items() if k != "stored"} if comm.rank == 0 else None, root=0)
    if public["error"]:
        raise IncompatibleFile(public["error"])
    stored = plan["stored"]  # rank 0 only: handed out with the points
    todo = [t for t in study.tasks if t.index in set(public["todo"])]
    dedicated = use_dedicated_coordinator(cfg, comm.size, len(todo))
    workers = comm.size - (1 if dedicated else 0)
    rpp = cfg.study.get("ranks_per_point") if cfg.study.kind != "point" else comm.size
    auto = rpp == "auto"
    if auto:
        rpp = comm.bcast(auto_ranks_per_point(study, todo, sizes, workers, budget) if comm.rank == 0 else None,
                         root=0)
    groups = scheduler.group_sizes(workers, rpp, len(todo))
    writer = None
    try:
        if comm.rank == 0:
            run_number = results.start_run({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n_ranks": comm.size,
                                            "groups": groups, "nesb_hpc_version": __version__}, len(study.tasks))
            _log_start(cfg, study, public, stored, groups, rpp, auto, budget, dedicated)
            writer = Writer(cfg, study, results, len(todo), len(study.tasks) - len(todo))
        else:
            run_number = None
        run_number = comm.bcast(run_number, root=0)
        work = PointWork(cfg, study, sizes, budget, run_number, force_memory)
        outcome = scheduler.run(comm, groups, todo, lambda task: stored.get(task.index, []), work, writer, stop,
                                dedicated)
        code = None
        if comm.rank == 0:
            code = _exit_code(results, outcome, study)
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


def _memory_refusal(study: Study, sizes: SizeCache, ranks: int, budget: float) -> str | None:
    """Why the single point of a "point" study cannot run on `ranks` ranks (None if it fits)."""
    try:
        need = memory_need(study, study.tasks, sizes, ranks)
    except ValueError as exc:  # e.g. a hierarchy beyond 64-bit ADO numbers
        return f"the point cannot be sized: {exc}"
    if need <= budget:
        return None
    return (f"the point needs ~{need / 2**20:,.0f} MiB per rank on {ranks} ranks (--dry-run shows the "
            f"breakdown), more than the budget of {budget / 2**20:,.0f} MiB per rank; {MEMORY_ADVICE}, "
            "or pass --force-memory to try anyway")


def _plan(study: Study, state: StoredState | None, retry_failed: bool = False) -> dict:
    """Which points to run, and the stored solves of each (rank 0). Points stopped by a limit are
    continued, failed ones only with retry_failed; solves that did not succeed are never reused."""
    if state is None:
        return {"todo": [t.index for t in study.tasks], "stored": {}, "skipped": 0}
    rerun = RETRY_STATUSES + (FAILED_STATUSES if retry_failed else ())
    finished = {int(s["point"]) for s in state.summary if s["status"].decode() not in rerun}
    stored: dict[int, list] = {}
    for row, info in zip(state.rows, state.infos):
        if int(row["point"]) not in finished and row["status"].decode() == "ok":
            stored.setdefault(int(row["point"]), []).append((row, info))
    todo = [t.index for t in study.tasks if t.index not in finished]
    return {"todo": todo, "stored": stored, "skipped": len(finished)}


def _log_start(cfg, study, plan, stored, groups, rpp, auto, budget, dedicated) -> None:
    n = len(study.tasks)
    log.info("study %s: %d points, %d already in %s, %d to do; %d stored solves reused", cfg.study.kind, n,
             plan["skipped"], plan["path"], len(plan["todo"]), sum(len(v) for v in stored.values()))
    log.info("layout: %d group(s) of %s ranks (ranks_per_point %s%d, memory budget %.0f MiB/rank), rank 0 %s",
             len(groups), _sizes_text(groups), "auto -> " if auto else "", rpp, budget / 2**20,
             "coordinates only" if dedicated else "coordinates and solves in group 0")


def use_dedicated_coordinator(cfg: RunConfig, world_size: int, n_todo: int) -> bool:
    """Whether world rank 0 only coordinates ([study] coordinator; never with one rank or one point)."""
    from .config import DEDICATED_FROM_RANKS

    if cfg.study.kind == "point" or world_size < 2 or n_todo < 2:
        return False
    choice = cfg.study.get("coordinator")
    return choice == "dedicated" or (choice == "auto" and world_size >= DEDICATED_FROM_RANKS)


def _exit_code(results: ResultsFile, outcome: dict, study: Study) -> int:
    if outcome["unfinished"] and outcome["signum"]:
        log.warning("stopped by signal %d with %d point(s) unfinished: every finished solve and point is in %s; "
                    "run the same command again to resume", outcome["signum"], outcome["unfinished"], results.target)
        return 128 + outcome["signum"]
    summary = read_summary(results.path)
    bad = [int(s["point"]) for s in summary if s["status"].decode() not in GOOD_STATUSES]
    if bad:
        log.warning("%d of %d points failed or did not converge (points %s): see status and reason in %s",
                    len(bad), len(study.tasks), _ranges(sorted(bad)), results.target)
        return EXIT_FAILED_POINTS
    log.info("study complete: %d points in %s", len(summary), results.target)
    return EXIT_OK


def solve_line(row) -> str:
    """One solve, as logged: where, size, currents, conservation, solver, time, memory."""
    model = " ".join(f"{n}={float(row[n]):.4g}" for n in ("delta", "theta", "alpha1", "alpha2", "T1", "T2"))
    return (f"solve {int(row['eval'])} of point {int(row['point'])} ({row['role'].decode()}): {model} | depth "
            f"{int(row['depth'])}, n_bose {int(row['n_bose'])}, ADOs {int(row['n_ados']):,} | I1 = {row['I1']:.10e} "
            f"I2 = {row['I2']:.10e} | |I1+I2|/|I1| = {row['conservation']:.1e} | {row['method'].decode()} "
            f"{row['reason'].decode()} it={int(row['iterations'])} residual {row['residual']:.1e} | "
            f"{row['time_s']:.2f} s on {int(row['ranks'])} ranks, {row['peak_rss_mb']:.0f} MiB/rank")
