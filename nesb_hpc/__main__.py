"""Command line: ``mpirun -n N python -m nesb_hpc INPUT.toml [options] [PETSc options]``,
and ``python -m nesb_hpc plot RESULTS.h5`` (no MPI).

Order of events: parse the command line and validate the input and its study on every rank
*before* MPI or PETSc start (a bad input exits 2 with one message, printed by the launcher's
rank 0 only); then initialise PETSc with the remaining arguments; install the stop handlers
(SIGTERM, SIGINT, SIGUSR1: finish the solves under way, flush, exit; a second signal aborts);
run; any exception on any rank prints its traceback (prefixed with the rank) and aborts the
whole job at once.
Exit codes: 0 success, 2 bad input or usage, 3 some points failed or did not converge,
128 + N stopped by signal N before the study finished (re-run to resume), 1 anything else.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

USAGE = """\
usage: python -m nesb_hpc [INPUT.toml | --default-input] [--dry-run [--ranks N]]
                          [--ranks-per-point N] [--retry-failed] [--force-memory] [PETSc options]
       python -m nesb_hpc plot RESULTS.h5 [--out DIR]
       python -m nesb_hpc --help | --version

Steady-state heat currents of the non-equilibrium spin-boson model with non-commuting couplings,
by the distributed extended HEOM (PETSc/SLEPc). Run under MPI, e.g.
    mpirun -n 64 python -m nesb_hpc input.toml -nesb_ksp_monitor

arguments:
  INPUT.toml          the input file (TOML; keys below)
  --default-input     use the built-in demo input (nesb_hpc/data/default.toml)
  --dry-run           print ADOs, unknowns, nonzeros and memory per rank, then stop (no solve)
  --ranks N           ranks to size for with --dry-run (default: the ranks it runs on)
  --ranks-per-point N ranks that solve one point together (overrides [study] ranks_per_point;
                      may differ between a run and its resumption)
  --retry-failed      on resuming, solve again the points stored with status "failed" or "error"
                      (e.g. after fixing the cause or changing solver options)
  --force-memory      start solves whose memory estimate exceeds the budget (memory_per_rank)
  --version           print the version
  PETSc options       anything else goes to PETSc; the steady-state solver's prefix is nesb_,
                      e.g. -nesb_ksp_type bcgs -nesb_pc_type asm -nesb_ksp_monitor_true_residual
                      (the command line wins over [solver.petsc_options], which wins over defaults)

  plot RESULTS.h5      the natural figures of the study in RESULTS.h5, as PNG and PDF beside it
                      (or in --out DIR); needs no MPI

studies: [study] kind = "sweep", "optimize_theta", "rectification", "convergence" or "dynamics"
(transients, with the [dynamics] table; see the keys below). Every finished point is in the HDF5
file at once, a transient's rows as it proceeds; running the same input again resumes (finished
points are skipped, a transient continues from its last stored state). On SIGTERM, SIGINT or
SIGUSR1 the solves under way finish (a transient stops at its next output time), are written,
and the job exits 128 + N (e.g. sbatch --signal=USR1@300; under mpirun, which kills its ranks
shortly after forwarding SIGTERM, prefer SIGUSR1).

A point that fails, raises or does not fit the memory budget is recorded with its status and
message ("failed", "error", "memory_limit") and the study goes on with the others.

exit codes: 0 success, 2 bad input (or a point that does not fit the memory budget), 3 a point
failed, raised or did not converge (recorded in the output), 128 + N stopped by signal N before
the study finished (re-run to resume; mpirun itself may report 1 after forwarding SIGTERM or
SIGINT: use SIGUSR1, which it forwards and then waits), 1 error
"""


def _first_int_env(names: tuple[str, ...], default: int) -> int:
    """The first of the environment variables `names` that holds an integer, else default."""
    for var in names:
        try:
            return int(os.environ[var])
        except (KeyError, ValueError):
            pass
    return default


def launcher_rank() -> int:
    """This process's rank from the MPI launcher's environment (before MPI is initialised)."""
    return _first_int_env(("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID", "MPI_LOCALRANKID"), 0)


def launcher_size() -> int:
    """The number of ranks the launcher started (before MPI is initialised); 1 without one."""
    return _first_int_env(("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"), 1)


class UsageError(Exception):
    pass


def parse_command_line(argv: list[str]) -> dict:
    """Split argv into our flags, the input path and PETSc's options (pure; no MPI)."""
    from .config import TABLES
    out = {"input": None, "default_input": False, "dry_run": False, "ranks": None, "help": False,
           "version": False, "petsc": [], "ranks_per_point": None, "plot": None, "out": None,
           "retry_failed": False, "force_memory": False, "help_table": None}
    if argv and argv[0] == "plot":
        return _parse_plot(argv[1:], out)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            out["help"] = True
            if i + 1 < len(argv) and argv[i + 1] in TABLES:
                out["help_table"] = argv[i + 1]
                i += 1
        elif arg == "--version":
            out["version"] = True
        elif arg == "--default-input":
            out["default_input"] = True
        elif arg == "--dry-run":
            out["dry_run"] = True
        elif arg in ("--retry-failed", "--force-memory"):
            out[arg[2:].replace("-", "_")] = True
        elif arg in ("--ranks", "--ranks-per-point"):
            if i + 1 >= len(argv) or not argv[i + 1].isdigit() or int(argv[i + 1]) < 1:
                raise UsageError(f"{arg} needs a positive integer")
            out[arg[2:].replace("-", "_")] = int(argv[i + 1])
            i += 1
        elif arg.startswith("--"):
            raise UsageError(f"unknown option {arg} (PETSc options take one dash, e.g. -nesb_ksp_monitor)")
        elif not arg.startswith("-") and out["input"] is None and not out["petsc"]:
            out["input"] = arg
        else:
            out["petsc"].append(arg)
        i += 1
    if not (out["help"] or out["version"]):
        if out["input"] is None and not out["default_input"]:
            raise UsageError("no input: give INPUT.toml or --default-input (see --help)")
        if out["input"] is not None and out["default_input"]:
            raise UsageError("give either INPUT.toml or --default-input, not both")
    return out


PLOT_USAGE = """\
usage: python -m nesb_hpc plot RESULTS.h5 [--out DIR] [--format png,pdf] [--size WxH] [--style FILE]
                               [--ratio reverse|forward]

The natural figures of the study in RESULTS.h5 (no MPI): labels with units (hbar = k_B = 1, energies
in omega_c), theta in multiples of pi, one marker per theory, the fixed parameters in a caption line;
unconverged or inaccurate points open, with error bars where an estimate exists.

  --out DIR          write the figures there (default: beside RESULTS.h5)
  --format LIST      comma-separated file formats matplotlib writes (default png,pdf; e.g. svg, eps)
  --size WxH         figure size in inches (default per figure, e.g. 5.5x4 for one panel)
  --style FILE       a matplotlib style file or name applied to every figure (e.g. seaborn-v0_8-paper)
  --ratio ORIENT     rectification: "reverse" |I(T2,T1)|/|I(T1,T2)| (the paper's, default) or "forward"
"""


def _parse_plot(argv: list[str], out: dict) -> dict:
    out.update(formats=("png", "pdf"), size=None, style=None, ratio="reverse")
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            out["help"] = True
            out["plot"] = out["plot"] or ""
        elif arg in ("--out", "--format", "--size", "--style", "--ratio"):
            if i + 1 >= len(argv):
                raise UsageError(f"{arg} needs a value (see python -m nesb_hpc plot --help)")
            value = argv[i + 1]
            i += 1
            if arg == "--out":
                out["out"] = value
            elif arg == "--format":
                out["formats"] = tuple(v.strip().lower() for v in value.split(",") if v.strip())
                if not out["formats"]:
                    raise UsageError("--format needs one or more formats, e.g. png,pdf")
            elif arg == "--size":
                try:
                    w, h = (float(v) for v in value.lower().split("x"))
                    assert 0 < w <= 50 and 0 < h <= 50
                except (ValueError, AssertionError):
                    raise UsageError(f"--size {value}: expected WxH in inches, e.g. 5.5x4") from None
                out["size"] = (w, h)
            elif arg == "--style":
                out["style"] = value
            else:
                if value not in ("reverse", "forward"):
                    raise UsageError(f"--ratio {value}: expected reverse or forward")
                out["ratio"] = value
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg} for plot (see python -m nesb_hpc plot --help)")
        elif not out["plot"]:
            out["plot"] = arg
        else:
            raise UsageError(f"plot takes one results file, got also {arg}")
        i += 1
    if not out["plot"] and not out["help"]:
        raise UsageError("plot needs a results file: python -m nesb_hpc plot RESULTS.h5")
    return out


def install_stop_handlers(stop) -> None:
    """SIGTERM, SIGINT, SIGUSR1: ask the study to stop after the solves under way (stop.set);
    a second signal raises KeyboardInterrupt, which aborts the job at once."""

    def handler(signum, frame):
        if stop.signum:
            raise KeyboardInterrupt(f"signal {signum} received twice")
        stop.set(signum)
        logging.getLogger("nesb_hpc").warning(
            "signal %d: stopping after the solves under way (send it again to abort at once)", signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, handler)


def _say(text: str, stream=sys.stdout) -> None:
    if launcher_rank() == 0:
        try:
            print(text, file=stream, flush=True)
        except BrokenPipeError:  # piped into head: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def _setup_logging(rank: int) -> None:
    logger = logging.getLogger("nesb_hpc")
    logger.handlers.clear()
    logger.propagate = False
    if rank == 0:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s nesb_hpc %(levelname)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    else:
        logger.addHandler(logging.NullHandler())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from . import __version__
    from .config import InputError, default_config_path, key_reference, load_config

    try:
        args = parse_command_line(argv)
    except UsageError as exc:
        _say(f"usage error: {exc}", sys.stderr)
        return 2
    if args["help"] and args["plot"] is not None:
        _say(PLOT_USAGE)
        return 0
    if args["help"] and args["help_table"]:
        _say(key_reference(args["help_table"]))
        return 0
    if args["help"]:
        from .config import TABLES

        _say(USAGE + f"\ninput keys (--help TABLE shows one table: {', '.join(TABLES)}):\n" + key_reference())
        return 0
    if args["version"]:
        _say(f"nesb_hpc {__version__}")
        return 0
    if args["plot"]:
        return _plot(args)
    path = default_config_path() if args["default_input"] else args["input"]
    try:
        cfg = load_config(path)
        with open(path, encoding="utf-8") as fh:
            input_text = fh.read()
        if args["ranks_per_point"]:
            cfg = _with_ranks_per_point(cfg, args["ranks_per_point"])
        from .study import build_study

        build_study(cfg)  # points that make no sense for the kind are input errors too
        if not args["dry_run"]:
            from .results_file import output_path_problem

            problem = output_path_problem(cfg.output.path)
            if problem:
                raise InputError(f"input error: [output] path = {cfg.output.path!r}: {problem}",
                                 key="output.path", value=cfg.output.path, allowed="a writable file path")
    except InputError as exc:
        _say(str(exc), sys.stderr)
        return 2

    if args["dry_run"]:
        from .planning import dry_run_report

        _say(f"dry run of {path}\n" + dry_run_report(cfg, args["ranks"] or launcher_size()))
        return 0

    from . import petsc_env

    petsc_env.init(args["petsc"])
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    _setup_logging(comm.rank)
    from .driver import check_solver_options

    try:  # every rank decides alike (same input, COMM_SELF probe): no rank-local raise
        check_solver_options(cfg)
    except InputError as exc:
        if comm.rank == 0:
            print(str(exc), file=sys.stderr, flush=True)
        return 2
    from .driver import RunRefused
    from .results_file import IncompatibleFile
    from .scheduler import StopFlag

    stop = StopFlag()
    install_stop_handlers(stop)
    try:
        from .driver import run

        logging.getLogger("nesb_hpc").info("nesb_hpc %s on %d ranks, input %s", __version__, comm.size, path)
        code = run(comm, cfg, input_text, stop, retry_failed=args["retry_failed"],
                   force_memory=args["force_memory"])
        _warn_unused_command_line(comm, args["petsc"])
    except IncompatibleFile as exc:  # raised on every rank together (decided on rank 0, broadcast)
        if comm.rank == 0:
            print(f"output error: {exc}", file=sys.stderr, flush=True)
        return 2
    except RunRefused as exc:  # likewise
        if comm.rank == 0:
            print(f"refused: {exc}", file=sys.stderr, flush=True)
        return 2
    except BaseException as exc:  # noqa: BLE001 - any failure on any rank ends every rank
        import traceback

        if isinstance(exc, SystemExit) and not exc.code:
            raise
        sys.stderr.write(f"[rank {comm.rank}] nesb_hpc failed: {exc!r}\n")
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        comm.Abort(1)
        return 1
    return code


def _warn_unused_command_line(comm, petsc_args: list[str]) -> None:
    """Collective. Warn (rank 0) about command-line PETSc options that no rank ever read:
    PETSc's left-over check, e.g. a misspelt -nesb_ksp_tpye."""
    from . import petsc_env

    left = petsc_env.unused_options()
    given = {arg.lstrip("-") for arg in petsc_args if arg.startswith("-") and not _is_number(arg)}
    everywhere = comm.allreduce(set(left) & given if left is not None else given, op=_intersection)
    if everywhere and comm.rank == 0:
        logging.getLogger("nesb_hpc").warning(
            "PETSc options given on the command line but never used (misspelt? the steady-state solver's "
            "options start with -nesb_, e.g. -nesb_ksp_type): %s", ", ".join("-" + n for n in sorted(everywhere)))


def _intersection(a, b, datatype=None):
    return a & b


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _with_ranks_per_point(cfg, n: int):
    """cfg with [study] ranks_per_point = n (kinds that have it; "point" uses every rank)."""
    import dataclasses

    from .config import STUDY_PARAMS, StudyConfig

    if "ranks_per_point" not in STUDY_PARAMS[cfg.study.kind]:
        return cfg
    params = {**dict(cfg.study.params), "ranks_per_point": n}
    return dataclasses.replace(cfg, study=StudyConfig(kind=cfg.study.kind, params=tuple(sorted(params.items()))))


def _plot(args) -> int:
    """python -m nesb_hpc plot RESULTS.h5 [--out DIR] (serial; no MPI)."""
    path = args["plot"]
    if not os.path.isfile(path):
        print(f"plot: {path} does not exist", file=sys.stderr)
        return 2
    from .plot import NothingToPlot, PlotError, plot_results
    from .plotting.style import PlotOptions

    options = PlotOptions(formats=args["formats"], size=args["size"], style=args["style"], ratio=args["ratio"])
    try:
        written = plot_results(path, args["out"], options)
    except NothingToPlot as exc:
        print(str(exc))
        return 0
    except PlotError as exc:
        print(f"plot: {exc}", file=sys.stderr)
        return 2
    for name in written:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
