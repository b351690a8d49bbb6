"""Planning a run before it starts: the size and memory of each solve, the memory budget, the
layout of the ranks into groups, and the --dry-run report. Pure: no MPI, no PETSc (a test checks
that --dry-run never imports petsc4py.PETSc); the driver and the dry run share every function.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .config import DEDICATED_FROM_RANKS, STUDY_PARAMS, RunConfig
from .problem import Problem
from .routes import ROUTES, choose_route
from .scheduler import group_sizes
from .partition import MAX_SIZED_ADOS
from .sectors import moves_are_acyclic
from .sizing import BASELINE_BYTES, Sizing, estimate, lower_bound
from .study import Request, Study, build_study

MEMORY_ADVICE = ('use more ranks (or larger ranks_per_point), [solver] method = "tier" (several times less memory '
                 'per ADO than "iterative"), [hierarchy] modes = "merged", a lower depth or '
                 "fewer n_bose terms, or set [study] memory_per_rank if the machine has more")


# ----------------------------------------------------------------------------- sizes


def gmres_restart(cfg: RunConfig) -> int | None:
    """The GMRES restart the memory model counts: the input's ksp_gmres_restart, else None (the
    route's own default, routes.Route.restart)."""
    try:
        value = dict(cfg.solver.petsc_options).get("ksp_gmres_restart")
        return None if value is None else int(value)
    except ValueError:
        return None


def route_of(cfg: RunConfig, problem: Problem, ranks: int):
    """The route a solve of `problem` on `ranks` ranks takes (routes.choose_route: the same rule as
    point.prepare_point's)."""
    return choose_route(cfg.solver.method, 4 * problem.n_ados, ranks, moves_are_acyclic(problem.modes))


def size_of(cfg: RunConfig, request: Request, ranks: int) -> Sizing:
    """Sizes and memory per rank of one solve on `ranks` ranks, from the partition it would use."""
    problem = Problem.from_request(cfg, request)
    restart = gmres_restart(cfg)
    route = route_of(cfg, problem, ranks)
    unsizable = route.system == "matrix_free" and not moves_are_acyclic(problem.modes)
    if problem.n_ados >= MAX_SIZED_ADOS or unsizable:
        # (the tier route refuses cyclic moves while preparing the point: it is stored as "error")
        return lower_bound(problem.modes.size, request.depth, ranks, route.name, restart)
    ksp_type = dict(cfg.solver.petsc_options).get("ksp_type")
    return estimate(problem.hier, problem.modes, problem.pauli, ranks, route.name, cfg.solver.matrix_type,
                    restart=restart, ksp_type=ksp_type)


def request_memory(sizing: Sizing) -> float:
    """Bytes per rank of a Sizing; the LU fill of the direct route is unpredictable and left out."""
    solver = sizing.solver_bytes_per_rank
    return BASELINE_BYTES + sizing.matrix_bytes_per_rank + (solver if math.isfinite(solver) else 0.0)


class SizeCache:
    """Sizing of requests, memoised on what determines it (not alpha; the temperatures only where
    they choose the number of Bose terms, n_bose = "auto")."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.memo: dict = {}

    def __call__(self, request: Request, ranks: int) -> Sizing:
        m = request.model
        temperatures = (m.T1, m.T2) if request.n_bose == "auto" else ()
        key = (request.depth, request.n_bose, m.theta, m.theta1, m.phi1, m.phi2, m.delta == 0.0,
               m.alpha1 == 0.0, m.alpha2 == 0.0, ranks, *temperatures)
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


# ----------------------------------------------------------------------------- budget


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
    """Bytes per rank: [study] memory_per_rank (MiB), or what this node offers ("auto")."""
    value = cfg.study.get("memory_per_rank")
    return detect_memory_per_rank(local_ranks) if value == "auto" else float(value) * 2**20


def memory_refusal(study: Study, sizes: SizeCache, ranks: int, budget: float) -> str | None:
    """Why a single point cannot run on `ranks` ranks within the budget (None if it fits)."""
    try:
        need = memory_need(study, study.tasks, sizes, ranks)
    except ValueError as exc:  # e.g. a hierarchy beyond 64-bit ADO numbers
        return f"the point cannot be sized: {exc}"
    if need <= budget:
        return None
    return (f"the point needs ~{need / 2**20:,.0f} MiB per rank on {ranks} ranks (--dry-run shows the "
            f"breakdown), more than the budget of {budget / 2**20:,.0f} MiB per rank; {MEMORY_ADVICE}, "
            "or pass --force-memory to try anyway")


# ----------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """How the world's ranks work on a study: groups of ranks that take points as they come."""

    groups: tuple[int, ...]      # ranks per group
    ranks_per_point: int         # what the groups were built from
    auto: bool                   # ranks_per_point was "auto" (chosen from the memory estimate)
    dedicated: bool              # world rank 0 only coordinates and writes
    budget: float                # bytes per rank

    def describe(self, world_size: int) -> str:
        sizes = " or ".join(str(s) for s in sorted(set(self.groups)))
        return (f"{len(self.groups)} group(s) of {sizes} ranks on {world_size} (ranks_per_point "
                f"{'auto -> ' if self.auto else ''}{self.ranks_per_point}, memory budget "
                f"{self.budget / 2**20:,.0f} MiB/rank), rank 0 "
                f"{'coordinates only' if self.dedicated else 'coordinates and solves in group 0'}")


def use_dedicated_coordinator(cfg: RunConfig, world_size: int, n_todo: int) -> bool:
    """Whether world rank 0 only coordinates ([study] coordinator; never with one rank or one point)."""
    if world_size < 2 or n_todo < 2:
        return False
    choice = cfg.study.get("coordinator")
    return choice == "dedicated" or (choice == "auto" and world_size >= DEDICATED_FROM_RANKS)


def auto_ranks_per_point(study: Study, tasks, sizes: SizeCache, world_size: int, budget: float) -> int:
    """The smallest group size whose estimated memory per rank fits the budget (else world_size)."""
    for r in range(1, world_size + 1):
        if memory_need(study, tasks, sizes, r) <= budget:
            return r
    return world_size


def plan_layout(cfg: RunConfig, study: Study, tasks, world_size: int, budget: float, sizes: SizeCache) -> Layout:
    """The layout of `world_size` ranks for the tasks to do: never more groups than tasks, so a
    single point (kind "point", or one unfinished point) gets every rank."""
    dedicated = use_dedicated_coordinator(cfg, world_size, len(tasks))
    workers = world_size - (1 if dedicated else 0)
    rpp = cfg.study.get("ranks_per_point") if "ranks_per_point" in STUDY_PARAMS[cfg.study.kind] else workers
    auto = rpp == "auto"
    if auto:
        rpp = auto_ranks_per_point(study, tasks, sizes, workers, budget) if tasks else workers
    groups = tuple(group_sizes(workers, rpp, len(tasks)))
    return Layout(groups, rpp, auto, dedicated, budget)


# ----------------------------------------------------------------------------- --dry-run


def dry_run_report(cfg: RunConfig, ranks: int, local_ranks: int | None = None) -> str:
    """What --dry-run prints: the study's points, the size and memory of its distinct solves on
    the group size that would be used, and the layout (pure; no MPI)."""
    study = build_study(cfg)
    sizes = SizeCache(cfg)
    # planning for another machine: "auto" memory is this machine's per core unless SLURM says more
    budget = memory_budget(cfg, local_ranks or min(ranks, os.cpu_count() or 1))
    layout = plan_layout(cfg, study, study.tasks, ranks, budget, sizes)
    group = min(layout.groups)
    source = ("[study] memory_per_rank" if cfg.study.get("memory_per_rank") != "auto"
              else "detected here; set [study] memory_per_rank for another machine")
    lines = [f"study {cfg.study.kind}: {len(study.tasks)} points",
             f"layout: {layout.describe(ranks)}; budget {source}"]
    need = memory_need(study, study.tasks, sizes, group)
    if need > budget:
        lines.append(f"WARNING: the largest solve needs ~{need / 2**20:,.0f} MiB per rank on {group} "
                     f"ranks, more than the budget: {MEMORY_ADVICE}")
    lines += layout_warnings(study, sizes, layout, ranks, budget)
    seen: dict = {}
    for task in study.tasks:
        for req in study.largest_requests(task):
            sizing = sizes(req, group)
            seen.setdefault((req.depth, req.n_bose, sizing.n_ados, sizing.nonzeros), (sizing, []))[1].append(task.index)
    for (depth, n_bose, _, _), (sizing, points) in seen.items():
        route = ROUTES[sizing.method]
        lines.append(f"\npoints {ranges_text(points)}: depth {depth}, n_bose {n_bose}, method {route.name}"
                     + (" (LU fill not predictable: not in the estimate)" if route.factor == "lu" else ""))
        lines.append(sizing.table())
    if cfg.study.kind == "convergence":
        lines.append("\nconvergence ladder (per point, on the group size above):")
        for depth, n_bose in study.ladder():
            s = sizes(Request(study.tasks[0].model, depth, n_bose, "rung"), group)
            lines.append(f"  depth {depth}, n_bose {n_bose}: {s.n_ados:,} ADOs, {s.nonzeros:,} nonzeros, "
                         f"~{request_memory(s) / 2**20:,.0f} MiB/rank")
    if cfg.study.kind == "dynamics":
        lines += transient_lines(cfg, study, sizes, group)
    lines += sbatch_lines(need, ranks, budget)
    return "\n".join(lines)


# vectors an explicit RK 5(4) evolution holds besides the matrix: its 7 stages, the solution, the
# error estimate, the dense-output work vector, L y for the rates, a copy of the initial state
RK_VECTORS = 12


def transient_lines(cfg: RunConfig, study: Study, sizes: SizeCache, group: int) -> list[str]:
    """What --dry-run says about the transients: output times, integrator, memory, stored state."""
    d = cfg.dynamics
    ts = dict(d.petsc_options).get("ts_type", "rk")
    scheme = f"{ts}/{dict(d.petsc_options).get('ts_rk_type', '5dp')}" if ts == "rk" else ts
    if d.quench_kind():
        start = f"the steady state at {', '.join(f'{k} = {v:g}' for k, v in d.quench_from)} ({d.quench_kind()} quench)"
    else:
        state = d.initial_state()
        start = f"rho_00 = {state if isinstance(state, str) else list(state)}, baths thermal"
    first = "" if d.spacing == "linear" else f" from t = {d.t_end / 1000 if d.t_first == 'auto' else d.t_first:g}"
    lines = ["", f"transient per point: from {start}; t = 0 to {d.t_end:g} [1/omega_c], {d.n_out} {d.spacing} "
                 f"output times{first} (+ t = 0), TS {scheme}, rtol {d.rtol:g}, atol {d.atol:g}; the steady state "
                 "of the same hierarchy is solved first (sizes above)"]
    largest = max((sizes(req, group) for task in study.tasks for req in study.largest_requests(task)[:1]),
                  key=lambda s: s.n_ados)
    state = 4 * 8 * largest.n_ados
    vectors = RK_VECTORS * state / group
    lines.append(f"  evolution memory per rank beyond the matrix: ~{vectors / 2**20:,.1f} MiB ({RK_VECTORS} vectors, "
                 "explicit RK; implicit types add a preconditioner like the iterative route's)")
    every = (f"every {d.checkpoint_interval:g} s of wall clock" if d.checkpoint_interval > 0
             else "at every output time")
    lines.append(f"  stored per point: {d.n_out + 1:,} rows of /dynamics and its state ({state / 2**20:,.2f} MiB), "
                 f"written {every} and at the end")
    return lines


MIN_ADOS_PER_RANK = 10_000   # below, a point's ranks mostly exchange halos (bench/README.md)


def layout_warnings(study: Study, sizes: SizeCache, layout: Layout, ranks: int, budget: float) -> list[str]:
    """What --dry-run warns about a layout: ranks per point so many that each holds few ADOs, and
    groups so few that the points run one after another although smaller groups would fit."""
    out = []
    group = min(layout.groups)
    largest = max((sizes(req, group).n_ados for task in study.tasks for req in study.largest_requests(task)),
                  default=0)
    if group > 1 and largest / group < MIN_ADOS_PER_RANK:
        out.append(f"WARNING: each of a point's {group} ranks holds only ~{largest // group:,} ADOs of its largest "
                   f"solve (fewer than {MIN_ADOS_PER_RANK:,}): communication dominates; fewer ranks per point "
                   "(and more points at a time) will be faster")
    n_points = len(study.tasks)
    if len(layout.groups) < min(n_points, ranks):
        fits = auto_ranks_per_point(study, study.tasks, sizes, ranks, budget)
        possible = min(n_points, ranks // fits)
        if possible > len(layout.groups):
            out.append(f"WARNING: {n_points} points run {len(layout.groups)} at a time; ranks_per_point = {fits} "
                       f"fits the memory budget and would run {possible} at a time")
    return out


def sbatch_lines(need: float, ranks: int, budget: float) -> list[str]:
    """The #SBATCH lines a job of this layout asks for: the ranks, 20% above the largest
    estimated memory per rank, and the signal run-study.sh turns into a clean stop (jobs/README.md)."""
    mem = int(math.ceil(max(need, 1.0) * 1.2 / 2**20 / 100.0) * 100)
    return ["", "suggested SLURM request (jobs/study.sbatch):",
            f"  #SBATCH --ntasks={ranks}",
            f"  #SBATCH --mem-per-cpu={mem}M      # the estimate's largest rank + 20%",
            "  #SBATCH --signal=B:USR1@900      # a clean stop 15 minutes before the limit (resumable)"]


def ranges_text(points: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8"."""
    out, start, prev = [], None, None
    for p in list(points) + [None]:
        if start is None:
            start = prev = p
        elif p is not None and p == prev + 1:
            prev = p
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = p
    return ", ".join(out)
