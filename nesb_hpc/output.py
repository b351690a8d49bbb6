"""The study's output: opening or resuming its results file, the row of each solve, the writer.

World rank 0 alone calls these. ``open_output`` creates the file, resumes a file of the same input
(what must agree: ``compat_of``, compared with defaults filled in and limits dropped, and every
stored point's key), or refuses a file of another input, naming the difference; ``plan_resumption``
says which points are left and which stored solves they reuse; ``Writer`` writes every finished
solve and point at once and logs the study's progress. The file format is results_file.py.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import TYPE_CHECKING

import numpy as np

from .bath import FITTED_DENSITIES, decompose_baths, decomposition_error, densities, spectral_densities
from .config import RunConfig
from .results_file import (IncompatibleFile, OutputLock, ResultsFile, StoredState, candidate_paths, compat_difference,
                           empty_row, input_digest, output_path_problem, read_checkpoint, read_summary,
                           remove_stale_temporaries)
from .planning import ranges_text
from .study import FAILED_STATUSES, GOOD_STATUSES, MODEL_COLUMNS, RETRY_STATUSES, Request, Study

if TYPE_CHECKING:  # no PETSc for readers of this module
    from .point import PointResult

log = logging.getLogger("nesb_hpc")

EXIT_OK, EXIT_FAILED_POINTS = 0, 3


# Keys of the shared tables that do not change any stored number: limits a successful solve does
# not depend on (a fit uses the fewest terms that meet fit_tolerance, whatever the cap).
NOT_PHYSICS = {"bath": ("fit_max_terms",),
               # the same currents at every depth (docs/heom.md s1, s3): how, not what, is computed
               "hierarchy": ("modes", "rescale")}


def compat_of(cfg: RunConfig) -> dict:
    """What a file and an input must share for the file to be resumed: the study kind, [bath] and
    [hierarchy]. [model] and the study's own keys are matched point by point (each point's key);
    [solver] may change (each solve records its method, residual and status). Transients add
    [dynamics] and the layout of their stored states. A tabulated J
    adds the digest of each bath's table values ("bath_tables"), so an edited table is another
    input even under the same file name."""
    out = {"format": 2, "study": {"kind": cfg.study.kind}, "bath": cfg.bath.to_dict(),
           "hierarchy": cfg.hierarchy.to_dict()}
    if cfg.dynamics is not None:
        # what the transient is (not how often it is written), and the layout of its stored states:
        # a checkpoint of one mode form or scaling is not a state of the other
        out["dynamics"] = {**{k: v for k, v in cfg.dynamics.to_dict().items() if k != "checkpoint_interval"},
                           "state_modes": cfg.hierarchy.modes, "state_rescale": cfg.hierarchy.rescale}
    tables = table_digests(cfg.bath)
    if tables:
        out["bath_tables"] = tables
    return out


def table_digests(bath) -> dict:
    """{"bath1": digest, ...} of the baths whose J is a table (values, not file names)."""
    return {f"bath{n}": J.digest for n, J in enumerate(densities(bath, (1.0, 1.0)), start=1)
            if getattr(J, "digest", None)}


def _uses_tolerance(bath: dict) -> bool:
    """Does [bath] tolerance decide a stored number: n_bose = "auto" or a fit, in either bath (a
    stored [bath] dict, its sub-tables applied; keys absent take today's defaults)?"""
    for sub in ("bath1", "bath2"):
        eff = {**bath, **(bath.get(sub) if isinstance(bath.get(sub), dict) else {})}
        if (eff.get("n_bose") == "auto" or eff.get("fit_tolerance")
                or eff.get("spectral_density") in FITTED_DENSITIES):
            return True
    return False


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
    bath = out.get("bath")
    if isinstance(bath, dict):
        for sub in ("bath1", "bath2"):   # the per-bath sub-tables: the same keys change no result
            if isinstance(bath.get(sub), dict):
                bath[sub] = {k: v for k, v in bath[sub].items() if k not in NOT_PHYSICS["bath"]}
        if not _uses_tolerance(bath):
            bath.pop("tolerance", None)   # it only chooses n_bose ("auto") and judges: no stored number changes
    return out



# ----------------------------------------------------------------------------- rows


def result_row(request: Request, res: PointResult, ranks: int) -> np.ndarray:
    """The results row of one solve (model, sizes, currents, diagnostics, timings)."""
    m = request.model
    row = empty_row()
    for name in MODEL_COLUMNS:
        row[name] = getattr(m, name)
    row["role"] = request.role
    row["depth"] = request.depth
    row["n_bose"] = request.n_bose_column
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
    if res.noise is not None and res.noise.status == "ok":
        row["S1"], row["S2"], row["S12"] = res.noise.S1, res.noise.S2, res.noise.S12
    return row


def decomposition_limit(bath) -> tuple[float, ...]:
    """The largest accepted relative C(t) error of each bath: its tolerance (for a fit, the larger
    of it and fit_tolerance)."""
    return tuple(spec.limit for spec in bath.per_bath())


def mark_accuracy(row, errors: list[float], n_bose: tuple[int, ...], limit) -> None:
    """Record each bath's Bose terms and the decomposition error in a solve's row; a converged
    solve whose C(t) misses its bath's limit (one per bath, or one for both) becomes "inaccurate"
    (it is computed, but not good)."""
    row["n_bose1"], row["n_bose2"] = n_bose
    limits = tuple(limit) if np.ndim(limit) else (float(limit),) * len(errors)
    finite = [e for e in errors if np.isfinite(e)]
    row["decomposition_error"] = max(finite) if finite else np.nan
    missed = [(e, lim, n) for n, (e, lim) in enumerate(zip(errors, limits), start=1) if np.isfinite(e) and e > lim]
    if row["status"] == b"ok" and missed:
        e, lim, n = max(missed)
        row["status"] = "inaccurate"
        row["reason"] = f"C(t) off by {e:.1e} > tolerance {lim:.0e}" + (f" (bath {n})" if len(set(limits)) > 1 else "")


_DECOMPOSITION_ERRORS: dict = {}


def check_decomposition(cfg: RunConfig, model, bath=None) -> list[float]:
    """Relative error of each bath's C(t) against quadrature (NaN for given exponents).

    Memoised per process: the relative error does not depend on alpha (C(t) and its
    decomposition both scale with it), and quadrature costs about 0.5 s per bath."""
    bath = bath or cfg.bath
    key = (json.dumps(bath.to_dict(), sort_keys=True, default=str), json.dumps(table_digests(bath)),
           model.T1, model.T2, model.alpha1 == 0.0, model.alpha2 == 0.0)
    if key not in _DECOMPOSITION_ERRORS:
        errors = []
        alphas = (model.alpha1, model.alpha2)
        for J, T, dec, alpha in zip(spectral_densities(model, bath), (model.T1, model.T2),
                                    decompose_baths(model, bath), alphas):
            # an uncoupled bath (alpha = 0) has C = 0 exactly, decomposed exactly
            errors.append(float("nan") if J is None else 0.0 if alpha == 0.0 else decomposition_error(dec, J, T))
        _DECOMPOSITION_ERRORS[key] = errors
    return _DECOMPOSITION_ERRORS[key]


def error_row(request: Request, message: str, ranks: int) -> np.void:
    """The results row of a solve that could not be made: status "error", the message's start."""
    row = empty_row()
    for name in MODEL_COLUMNS:
        row[name] = getattr(request.model, name)
    row["role"], row["depth"], row["n_bose"] = request.role, request.depth, request.n_bose_column
    row["status"], row["reason"], row["method"] = "error", message[:48], "none"
    row["ranks"] = ranks
    return row[()]


def failure_text(row) -> str:
    """The reason stored in a results row, as text."""
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
            if row["status"] == b"inaccurate" and not self.warned:
                self.warned = True
                log.warning("point %d: the decomposed C(t) misses [bath] tolerance (status inaccurate): %s", point,
                            "lower [bath] fit_tolerance" if any(b.fitted for b in self.cfg.bath.per_bath())
                            else 'use n_bose = "auto" (or more Bose terms)')

    def transient(self, items) -> None:
        """(point, new /dynamics rows, checkpoint) of transients under way, written together."""
        self.results.write([], [], [], items)
        for point, rows, checkpoint in items:
            if len(rows):
                last = rows[-1]
                log.info("point %d: transient at t = %.6g (of %g), I1 = %.6e, I2 = %.6e, <sz> = %.6f", point,
                         float(last["t"]), self.cfg.dynamics.t_end, float(last["I1"]), float(last["I2"]),
                         float(last["sz"]))

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


# ----------------------------------------------------------------------------- opening and resuming


def match_stored_points(cfg: RunConfig, study: Study, state: StoredState) -> tuple[dict[int, int], str | None]:
    """Which stored points are which points of this study, by their values (not their numbers):
    (stored point number -> task index, None), or ({}, why the file is of another input).

    The stored input (attribute input_normalised, read with today's defaults filled in) must
    compute points the same way: its [study] keys that decide what a point computes must equal the
    input's. Each stored point is then found among the input's points by its [model] values
    (Study.identity, to 12 significant digits, read from its summary row or its solves), so a
    denser or wider grid reuses every stored point. A stored point that is not in the input is kept
    if it differs only in swept keys (it lies off the new grid); if a key the input does not sweep
    differs, the file is of another input."""
    from .config import InputError, parse_config
    from .study import same_value, study_spec

    try:
        old = study_spec(parse_config(json.loads(state.attrs["input_normalised"])))
    except (KeyError, ValueError, InputError) as exc:
        return {}, f"its input cannot be read by this nesb_hpc ({exc})"
    new = study_spec(cfg)
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return {}, (f"[study] {key} is {json.dumps(old.get(key))} in the file, "
                        f"{json.dumps(new.get(key))} in the input")
    columns = study.IDENTITY_COLUMNS
    stored: dict[int, tuple] = {}
    for row in state.summary:
        stored[int(row["point"])] = tuple(same_value(row[c]) for c in columns)
    for row in state.rows:   # points without a summary yet: a solve of the point's own model
        if int(row["point"]) not in stored and row["role"] not in OTHER_MODEL_ROLES:
            stored[int(row["point"])] = tuple(same_value(row[c]) for c in columns)
    by_identity = {study.identity(t.model): t.index for t in study.tasks}
    swept = {c for k in cfg.study.swept() for c in (("alpha1", "alpha2") if k == "alpha" else (k,))}
    here = study.identity(cfg.model)
    mapping: dict[int, int] = {}
    for number, identity in sorted(stored.items()):
        index = by_identity.get(identity)
        if index is not None:
            mapping[number] = index
            continue
        for name, was, now in zip(columns, identity, here):
            if name not in swept and was != now:
                return {}, f"[model] {name} is {was:.6g} in the file, {now:.6g} in the input"
    return mapping, None


# solves of a point at another model than the point's own (rectification's reversed temperatures,
# the steady state a product quench starts from): they do not identify the point
OTHER_MODEL_ROLES = (b"reverse", b"initial")


def renumber_stored(results: ResultsFile, state: StoredState, mapping: dict[int, int], n_tasks: int) -> StoredState:
    """Give the stored points the input's numbers (points off the input's grid follow its last
    point), in the file and in the state; nothing is written when the numbers already agree."""
    numbers = sorted({int(p) for p in state.summary["point"]} | {int(p) for p in state.rows["point"]})
    full = dict(mapping)
    for number in numbers:
        if number not in full:
            full[number] = n_tasks + len([n for n in full if n not in mapping])
    if all(full[n] == n for n in numbers):
        return state
    log.info("resuming %s: %d stored point(s) renumbered to the input's grid, %d kept off it",
             results.target, sum(full[n] != n for n in mapping), len(full) - len(mapping))
    results.renumber(full)
    return ResultsFile.load(results.path)


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
            mapping: dict[int, int] = {}
            try:
                state = ResultsFile.load(path)
                stored = state.compat
                reason = ("it was written by an older nesb_hpc (no format-2 layout)" if stored is None
                          else compat_difference(comparable_compat(stored), comparable_compat(compat_of(cfg))))
                if reason is None:
                    mapping, reason = match_stored_points(cfg, study, state)
            except (OSError, KeyError) as exc:
                reason = f"it cannot be read as a results file ({exc})"
            if reason is None:
                results = ResultsFile(path)
                state = renumber_stored(results, state, mapping, len(study.tasks))
                results.record_input(_input_attrs(cfg, study, input_text))  # the points now numbered by it
                return results, state, lock
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


def _input_attrs(cfg: RunConfig, study: Study, input_text: str) -> dict:
    """The attributes that record the input a file's point numbers follow."""
    normalised = cfg.to_dict()
    return {"input_toml": input_text, "input_normalised": json.dumps(normalised, sort_keys=True, default=str),
            "input_digest": input_digest(normalised), "compat": json.dumps(compat_of(cfg), sort_keys=True),
            "study_kind": cfg.study.kind, "n_points": len(study.tasks)}


def _create(path, cfg, study, input_text, meta) -> ResultsFile:
    attrs = {**_input_attrs(cfg, study, input_text), **meta}
    return ResultsFile.create(path, attrs, study.summary_dtype, defer=True)


# ----------------------------------------------------------------------------- the run


def plan_resumption(study: Study, state: StoredState | None, retry_failed: bool = False,
                    path: str | None = None) -> dict:
    """Which points to run, and the stored solves of each (rank 0). Points stopped by a limit are
    continued, failed ones only with retry_failed; solves that did not succeed are never reused.
    Transients ("transients": point -> (its /dynamics rows, its checkpoint in the file at path))
    continue from their last stored state."""
    if state is None:
        return {"todo": [t.index for t in study.tasks], "stored": {}, "skipped": 0, "transients": {}}
    rerun = RETRY_STATUSES + (FAILED_STATUSES if retry_failed else ())
    finished = {int(s["point"]) for s in state.summary if s["status"].decode() not in rerun}
    stored: dict[int, list] = {}
    for row, info in zip(state.rows, state.infos):
        if int(row["point"]) not in finished and row["status"].decode() == "ok":
            stored.setdefault(int(row["point"]), []).append((row, info))
    todo = [t.index for t in study.tasks if t.index not in finished]
    transients = {}
    if state.dynamics.size and path is not None:
        for point in todo:
            checkpoint = read_checkpoint(path, point)
            if checkpoint is not None:
                mine = state.dynamics[state.dynamics["point"] == point]
                transients[point] = (mine[np.argsort(mine["t"], kind="stable")], checkpoint)
    return {"todo": todo, "stored": stored, "skipped": len(finished), "transients": transients}


def exit_code(results: ResultsFile, outcome: dict, study: Study) -> int:
    if outcome["unfinished"] and outcome["signum"]:
        log.warning("stopped by signal %d with %d point(s) unfinished: every finished solve and point is in %s; "
                    "run the same command again to resume", outcome["signum"], outcome["unfinished"], results.target)
        return 128 + outcome["signum"]
    summary = read_summary(results.path)
    bad = [int(s["point"]) for s in summary if s["status"].decode() not in GOOD_STATUSES]
    if bad:
        log.warning("%d of %d points failed or did not converge (points %s): see status and reason in %s",
                    len(bad), len(study.tasks), ranges_text(sorted(bad)), results.target)
        return EXIT_FAILED_POINTS
    log.info("study complete: %d points in %s", len(summary), results.target)
    return EXIT_OK


def _n_bose_text(row) -> str:
    """The Bose terms of a row: "2", or "auto: 2+6" (per bath), or "-" for fits and exponents, or
    "per bath 2, -" where the baths differ (a per-bath n_bose or spectral density)."""
    names = row.dtype.names
    per_bath = [int(row[n]) for n in ("n_bose1", "n_bose2") if n in names]
    if int(row["n_bose"]) >= 0 and (not per_bath or set(per_bath) == {int(row["n_bose"])}):
        return str(int(row["n_bose"]))
    if per_bath and (int(row["n_bose"]) >= 0 or len(set(per_bath)) > 1 and min(per_bath) < 0):
        return "per bath " + ", ".join(str(n) if n >= 0 else "-" for n in per_bath)
    if per_bath and min(per_bath) >= 0:
        return "auto: " + "+".join(str(n) for n in per_bath)
    return "-"


def solve_line(row) -> str:
    """One solve, as logged: where, size, currents, conservation, solver, time, memory."""
    model = " ".join(f"{n}={float(row[n]):.4g}" for n in ("delta", "theta", "alpha1", "alpha2", "T1", "T2"))
    return (f"solve {int(row['eval'])} of point {int(row['point'])} ({row['role'].decode()}): {model} | depth "
            f"{int(row['depth'])}, n_bose {_n_bose_text(row)}, ADOs {int(row['n_ados']):,} | I1 = {row['I1']:.10e} "
            f"I2 = {row['I2']:.10e} | |I1+I2|/|I1| = {row['conservation']:.1e} | {row['method'].decode()} "
            f"{row['reason'].decode()} it={int(row['iterations'])} residual {row['residual']:.1e} | "
            f"{row['time_s']:.2f} s on {int(row['ranks'])} ranks, {row['peak_rss_mb']:.0f} MiB/rank")
