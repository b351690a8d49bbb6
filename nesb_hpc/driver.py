"""From a validated input to results on disk: the only module besides __main__ that sees MPI.

``run(comm, cfg)`` is collective on comm. Every rank runs every point (a point is solved on the
whole communicator); world rank 0 alone writes the HDF5 file and logs. Failures that all ranks
see together (a solver that does not converge) are recorded with their status and the run goes
on; anything else propagates to __main__, which aborts the whole job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from . import __version__
from .bath import decompose_baths, decomposition_error, spectral_densities
from .config import RunConfig
from .hierarchy import TierOrderedHierarchy
from .io import IncompatibleFile, ResultsFile, empty_row
from .liouvillian import HierarchyModes
from .pauli import PauliBlocks, bloch_vector
from .point import HierarchySpec, PointResult, solve_point
from .sizing import Sizing, estimate
from .steady_state import SolverSettings, choose_method

log = logging.getLogger("nesb_hpc")


@dataclass(frozen=True)
class PointTask:
    """One parameter point of a study: its number and its model table."""

    index: int
    model: object  # config.ModelConfig


def coupling_vectors(model) -> np.ndarray:
    """Unit Bloch vectors of V1 and V2 from the model's polar/azimuthal angles."""
    return np.array([bloch_vector(model.theta1, model.phi1), bloch_vector(model.theta, model.phi2)])


def solver_settings(cfg: RunConfig) -> SolverSettings:
    s = cfg.solver
    return SolverSettings(s.method, s.rtol, s.max_it, s.slepc_target, tuple(s.petsc_options))


def study_points(cfg: RunConfig) -> list[PointTask]:
    """The points of the study (kind "point": the one point of [model])."""
    if cfg.study.kind == "point":
        return [PointTask(0, cfg.model)]
    raise ValueError(f"study kind {cfg.study.kind!r} is not implemented")


def size_of(cfg: RunConfig, model, ranks: int) -> Sizing:
    """Sizes and memory per rank of one point (pure; no PETSc)."""
    baths = decompose_baths(model, cfg.bath)
    modes = HierarchyModes.from_baths(baths, cfg.hierarchy.rescale)
    hier = TierOrderedHierarchy(modes.size, cfg.hierarchy.depth)
    pauli = PauliBlocks.build(model.delta, coupling_vectors(model))
    method = choose_method(cfg.solver.method, 4 * hier.size)
    return estimate(hier, modes, pauli, ranks, method, cfg.solver.matrix_type)


def dry_run_report(cfg: RunConfig, ranks: int) -> str:
    """What --dry-run prints: per point, sizes and the memory estimate per rank."""
    lines = []
    for task in study_points(cfg):
        sizing = size_of(cfg, task.model, ranks)
        method = choose_method(cfg.solver.method, sizing.n_unknowns)
        lines.append(f"point {task.index}: depth {cfg.hierarchy.depth}, method {method}")
        lines.append(sizing.table())
    return "\n".join(lines)


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


def result_row(task: PointTask, cfg: RunConfig, res: PointResult, ranks: int) -> np.ndarray:
    m = task.model
    row = empty_row()
    for name in ("delta", "theta", "alpha1", "alpha2", "T1", "T2", "theta1", "phi1", "phi2"):
        row[name] = getattr(m, name)
    row["point"] = task.index
    row["depth"] = cfg.hierarchy.depth
    row["n_bose"] = cfg.bath.n_bose
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


def _collective_open(comm, cfg: RunConfig, input_text: str) -> ResultsFile | None:
    """Rank 0 opens the output; a refusal there is raised on every rank (no rank-local raise)."""
    results, error = None, None
    if comm.rank == 0:
        try:
            results = ResultsFile.open(cfg.output.path, input_text, cfg.to_dict(), versions(comm.size),
                                       cfg.output.overwrite)
        except (IncompatibleFile, OSError) as exc:
            error = str(exc)
    error = comm.bcast(error, root=0)
    if error:
        raise IncompatibleFile(error)
    return results


def check_decomposition(cfg: RunConfig, model) -> list[float]:
    """Relative error of each bath's C(t) against quadrature (NaN for given exponents)."""
    errors = []
    for J, T, dec in zip(spectral_densities(model, cfg.bath), (model.T1, model.T2), decompose_baths(model, cfg.bath)):
        errors.append(decomposition_error(dec, J, T) if J is not None else float("nan"))
    return errors


def run(comm, cfg: RunConfig, input_text: str = "") -> int:
    """Collective. Solve every point of the study, write results; 0 if all converged, else 3."""
    results = _collective_open(comm, cfg, input_text)
    done = comm.bcast(results.finished_points() if results is not None else None, root=0)
    tasks = study_points(cfg)
    settings = solver_settings(cfg)
    spec = HierarchySpec(cfg.hierarchy.depth, cfg.hierarchy.rescale, cfg.solver.matrix_type)
    failures = 0
    t0 = time.perf_counter()
    for n, task in enumerate(tasks):
        if task.index in done:
            log.info("point %d already in %s: skipped", task.index, cfg.output.path)
            continue
        model = task.model
        if comm.rank == 0:
            errs = check_decomposition(cfg, model)
            for b, e in enumerate(errs, 1):
                if e > cfg.bath.tolerance:
                    log.warning("bath %d: decomposed C(t) deviates from quadrature by %.2e (relative) > "
                                "tolerance %.1e: raise [bath] n_bose", b, e, cfg.bath.tolerance)
        res = solve_point(comm, decompose_baths(model, cfg.bath), coupling_vectors(model), model.delta, spec, settings)
        if res.status != "ok":
            failures += 1
            log.error("point %d failed: %s. %s", task.index, res.report.reason, res.report.message)
        if comm.rank == 0:
            row = result_row(task, cfg, res, comm.size)
            rho = res.observables.rho if res.observables is not None else None
            results.append(row, res.report.options, res.report.message, rho)
            log.info(summary_line(task, res))
            elapsed = time.perf_counter() - t0
            left = len(tasks) - n - 1
            if left:
                log.info("progress %d/%d, elapsed %.1f s, about %.1f s left", n + 1, len(tasks), elapsed,
                         elapsed / (n + 1) * left)
    return 0 if failures == 0 else 3


def summary_line(task: PointTask, res: PointResult) -> str:
    m = task.model
    cons = res.observables.conservation if res.observables is not None else float("nan")
    return (f"point {task.index}: delta={m.delta:g} theta={m.theta:.4g} alpha1={m.alpha1:g} alpha2={m.alpha2:g} "
            f"T1={m.T1:g} T2={m.T2:g} | ADOs {res.n_ados:,} | I1 = {res.I1:.10e}  I2 = {res.I2:.10e} "
            f"| |I1+I2|/|I1| = {cons:.1e} | {res.report.method} {res.report.reason} it={res.report.iterations} "
            f"residual {res.report.residual:.1e} | {res.timings['total_s']:.2f} s, {res.peak_rss_mb:.0f} MiB/rank")
