"""One benchmark run: ``mpirun -n R python bench/_point.py [options] [-- PETSc options]``.

Solves one point with nesb_hpc.point.solve_point (as tests/heom_helpers.py does) and prints ONE
JSON record on rank 0's stdout (last line). Started by run_bench.py / qutip_compare.py, one
process tree per run, so ru_maxrss is this run's peak.

Problems:
  paper   J = pi alpha w^3 / (1 + w^2)^4 (s = 3, p = 4), exact residues, Pade n_bose (18 modes at n_bose = 1)
  drude   Drude-Lorentz J = pi alpha w / (1 + w^2) (s = p = 1), exact residues: all exponentials,
          the problem QuTiP can take (qutip_compare.py)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

T_START = time.perf_counter()


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problem", choices=("paper", "drude"), default="paper")
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--depth", type=int, required=True)
    p.add_argument("--n-bose", type=int, default=1)
    p.add_argument("--decomposition", choices=("pade", "matsubara"), default="pade")
    p.add_argument("--delta", type=float, default=0.1)
    p.add_argument("--theta", type=float, default=0.7853981633974483)
    p.add_argument("--T1", type=float, default=1.0)
    p.add_argument("--T2", type=float, default=0.9)
    p.add_argument("--method", default="iterative", choices=("auto", "direct", "iterative", "slepc", "tier"))
    p.add_argument("--matrix-type", default="aij", choices=("aij", "baij"))
    p.add_argument("--modes", default="merged", choices=("separate", "merged"),
                   help="[hierarchy] modes: one index per basis function of C^R and of C^I, or per shared one")
    p.add_argument("--rtol", type=float, default=1e-12)
    p.add_argument("--max-it", type=int, default=2000)
    p.add_argument("--profile", default=None,
                   help="write cProfile statistics of rank 0 to PATH.pstats/.txt and PETSc -log_view to PATH.logview")
    if "--" in argv:
        k = argv.index("--")
        ours, petsc = argv[:k], argv[k + 1:]
    else:
        ours, petsc = argv, []
    return p.parse_args(ours), petsc


def build_baths(args):
    from nesb_hpc.bath import RationalCutoff, drude_lorentz, exact_decomposition

    if args.problem == "paper":
        J = RationalCutoff(alpha=args.alpha)
    else:
        J = drude_lorentz(args.alpha)
    return [exact_decomposition(J.rational(), T, args.decomposition, args.n_bose) for T in (args.T1, args.T2)]


def main(argv=None) -> int:
    args, petsc = parse(sys.argv[1:] if argv is None else argv)
    if args.profile:
        petsc = petsc + ["-log_view", f":{args.profile}.logview"]
    from nesb_hpc import petsc_env

    petsc_env.init(petsc)
    import numpy as np
    from mpi4py import MPI
    from petsc4py import PETSc

    from nesb_hpc.pauli import BS, bloch_vector
    from nesb_hpc.point import peak_rss_mb, solve_problem
    from nesb_hpc.problem import HierarchySpec, Problem
    from nesb_hpc.routes import SolverSettings, choose_route
    from nesb_hpc.sizing import estimate

    comm = MPI.COMM_WORLD
    t_import = time.perf_counter() - T_START
    rss_before = comm.allreduce(peak_rss_mb(), op=MPI.MAX)  # interpreter + numpy + PETSc + MPI
    baths = build_baths(args)
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(args.theta)])
    spec = HierarchySpec(args.depth, True, args.matrix_type, args.modes)
    settings = SolverSettings(method=args.method, rtol=args.rtol, max_it=args.max_it)

    # the dry-run memory model (what --dry-run --ranks N prints), to set beside the measured peak
    problem = Problem.of(baths, vecs, args.delta, spec)
    hier, modes = problem.hier, problem.modes
    from nesb_hpc.sectors import moves_are_acyclic

    method = choose_route(args.method, BS * hier.size, comm.size, moves_are_acyclic(modes)).name
    restart = None
    for k, v in zip(petsc, petsc[1:] + [""]):
        if k == "-nesb_ksp_gmres_restart":
            restart = int(v)
    est = estimate(hier, modes, problem.pauli, comm.size, method, args.matrix_type, restart=restart)

    profiler = None
    if args.profile and comm.rank == 0:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    comm.Barrier()
    t_epoch = time.time()
    t0 = time.perf_counter()
    res = solve_problem(comm, problem, settings)
    t_point = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    if profiler is not None:
        profiler.disable()
        import io
        import pstats

        profiler.dump_stats(f"{args.profile}.pstats")
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(45)
        with open(f"{args.profile}.txt", "w", encoding="utf-8") as fh:
            fh.write(buf.getvalue())

    tm = res.timings
    setup_s = comm.allreduce(res.report.setup_s, op=MPI.MAX)
    solve_s = comm.allreduce(res.report.solve_s, op=MPI.MAX)
    peaks = comm.gather(peak_rss_mb(), root=0)
    ci0 = [float(d.imag_at_zero) for d in baths]
    x0 = float(res.observables.bloch[0]) if res.observables is not None else float("nan")
    sign = ci0_sign(hier, modes, vecs)
    tier1 = [float(i) - sign * 2.0 * c * x0 for i, c in zip(res.currents, ci0)]
    fixed = [t + 2.0 * c * x0 for t, c in zip(tier1, ci0)]
    if comm.rank == 0:
        rec = {
            "tool": "nesb_hpc",
            "problem": args.problem,
            "ranks": comm.size,
            "alpha": args.alpha,
            "depth": args.depth,
            "n_bose": args.n_bose,
            "decomposition": args.decomposition,
            "delta": args.delta, "theta": args.theta, "T1": args.T1, "T2": args.T2,
            "modes": args.modes,
            "n_modes": res.n_modes,
            "n_ados": res.n_ados,
            "n_unknowns": res.n_unknowns,
            "nonzeros": res.nonzeros,
            "nonzeros_estimate": est.nonzeros,
            "method": res.report.method,
            "ksp_type": res.report.options.get("ksp_type"),
            "matrix_type": args.matrix_type,
            "petsc_options": {**res.report.options, **_pairs(petsc)},
            "rows_s": tm["rows_s"],
            "matassembly_s": tm["assembly_s"],
            # wall time until the (collective) KSP starts: per-phase maxima over ranks do not add up,
            # since a rank that finishes its rows early waits inside the collective assembly
            "assembly_s": tm["total_s"] - (setup_s + solve_s),
            "pc_setup_s": setup_s,
            "ksp_solve_s": solve_s,
            "solve_s": setup_s + solve_s,
            "total_s": tm["total_s"],
            "point_s": t_point,
            "t_point_start_epoch": t_epoch,
            "import_s": t_import,
            "status": res.status,
            "reason": res.report.reason,
            "iterations": res.report.iterations,
            "residual": res.report.residual,
            "peak_rss_mb": max(peaks),
            "peak_rss_mb_ranks": peaks,
            "baseline_rss_mb": rss_before,
            "estimate_mb": est.total_bytes_per_rank / 2**20,
            "estimate_matrix_mb": est.matrix_bytes_per_rank / 2**20,
            "estimate_solver_mb": est.solver_bytes_per_rank / 2**20,
            "I1": res.I1,
            "I2": res.I2,
            "conservation": abs(res.I1 + res.I2) / max(abs(res.I1), abs(res.I2), 1e-300),
            # the bath-energy current needs +2 C^I(0) x0 (_qutip_point.py's docstring); nesb_hpc before
            # da3cced subtracted it: I*_corrected is the right current whichever version ran
            # (zero difference for the paper's J, C^I(0) = 0)
            "imag_at_zero": ci0,
            "nesb_ci0_sign": sign,
            "I1_tier1": tier1[0], "I2_tier1": tier1[1],
            "I1_corrected": fixed[0], "I2_corrected": fixed[1],
            "conservation_corrected": abs(fixed[0] + fixed[1]) / max(abs(fixed[0]), abs(fixed[1]), 1e-300),
            "petsc_version": ".".join(map(str, PETSc.Sys.getVersion())),
            "scalar": str(np.dtype(PETSc.ScalarType)),
        }
        print(json.dumps(rec), flush=True)
    return 0 if res.status == "ok" else 3


def ci0_sign(hier, modes, vecs) -> float:
    """+1 if this nesb_hpc adds 2 C^I(0) x0 to the current, -1 if it subtracts it (before da3cced).

    Probed on a state with x0 = 1 and every first-tier ADO zero, where the current is that term alone.
    """
    import numpy as np

    from nesb_hpc.observables import heat_currents, observable_indices

    probe = np.zeros(observable_indices(hier).size)
    probe[0] = 1.0
    out = heat_currents(probe, hier, modes, vecs)
    ci0 = modes.imag_at_zero
    k = int(np.argmax(np.abs(ci0)))
    if abs(ci0[k]) == 0.0:
        return 1.0  # no C^I(0) term: either convention gives the same current
    return float(np.sign(out[k] / (2.0 * ci0[k])))


def _pairs(petsc: list[str]) -> dict:
    """PETSc command-line options as {name without dash/prefix: value} (flags -> "")."""
    out, i = {}, 0
    while i < len(petsc):
        key = petsc[i].lstrip("-")
        if key.startswith("nesb_"):
            key = key[len("nesb_"):]
        if i + 1 < len(petsc) and not petsc[i + 1].startswith("-"):
            out[key] = petsc[i + 1]
            i += 2
        else:
            out[key] = ""
            i += 1
    return out


if __name__ == "__main__":
    sys.exit(main())
