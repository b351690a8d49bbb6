"""One transient run: ``mpirun -n R python bench/_dynamics_point.py [options] [-- PETSc options]``.

The paper's model (J = pi alpha w^3/(1+w^2)^4, Pade n_bose = 1, Delta = 0.1, theta = pi/4, T1 = 1,
T2 = 0.9) on the merged (default) hierarchy of the given depth: optionally the steady-state solve
of the same hierarchy (point.solve_point, iterative route: its time is the yardstick), then
nesb_hpc.dynamics.evolve from rho_00 = down, baths thermal, to --t-end with --n-out outputs.
Prints a JSON progress line at every output (so a run killed at its time limit still tells its
rate) and one final record on rank 0's stdout. Started by dynamics_bench.py, one process tree
per run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

T_START = time.perf_counter()


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--depth", type=int, required=True)
    p.add_argument("--modes", default="merged", choices=("separate", "merged"))
    p.add_argument("--t-end", type=float, required=True)
    p.add_argument("--n-out", type=int, default=40)
    p.add_argument("--rtol", type=float, default=1e-8)
    p.add_argument("--atol", type=float, default=1e-12)
    p.add_argument("--pc-shift-ratio", type=float, default=1.0)
    p.add_argument("--steady", action="store_true", help="solve the steady state first (time, I_ss)")
    p.add_argument("--currents", action="store_true", help="put I1, I2 at every output into the record")
    if "--" in argv:
        k = argv.index("--")
        ours, petsc = argv[:k], argv[k + 1:]
    else:
        ours, petsc = argv, []
    return p.parse_args(ours), petsc


def main(argv=None) -> int:
    args, petsc = parse(sys.argv[1:] if argv is None else argv)
    from nesb_hpc import petsc_env

    petsc_env.init(petsc)
    import numpy as np
    from mpi4py import MPI

    from nesb_hpc import dynamics as dyn
    from nesb_hpc.bath import RationalCutoff, exact_decomposition
    from nesb_hpc.pauli import bloch_vector
    from nesb_hpc.point import HierarchySpec, peak_rss_mb, solve_point
    from nesb_hpc.steady_state import SolverSettings

    comm = MPI.COMM_WORLD
    baths = [exact_decomposition(RationalCutoff(alpha=args.alpha).rational(), T, "pade", 1) for T in (1.0, 0.9)]
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(np.pi / 4)])
    spec = HierarchySpec(args.depth, True, "aij", args.modes)
    rec = {"tool": "nesb_hpc dynamics", "alpha": args.alpha, "depth": args.depth, "modes": args.modes,
           "ranks": comm.size, "t_end": args.t_end, "n_out": args.n_out, "rtol": args.rtol, "atol": args.atol,
           "pc_shift_ratio": args.pc_shift_ratio, "petsc": " ".join(petsc), "import_s": time.perf_counter() - T_START}
    if args.steady:
        ss = solve_point(comm, baths, vecs, 0.1, spec, SolverSettings(method="iterative"))
        rec["steady"] = {"status": ss.status, "I1": ss.I1, "I2": ss.I2, "iterations": ss.report.iterations,
                         "residual": ss.report.residual, **ss.timings}
    t0 = time.perf_counter()
    op = dyn.build_operator(comm, baths, vecs, 0.1, spec)
    rec["build_s"] = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    rec["n_ados"] = op.hier.size
    rec["n_unknowns"] = op.n_unknowns
    rec["nonzeros"] = int(op.L.getInfo(3)["nz_used"])       # MAT_GLOBAL_SUM
    y0 = dyn.product_state(op, "down")
    settings = dyn.DynamicsSettings(rtol=args.rtol, atol=args.atol, pc_shift_ratio=args.pc_shift_ratio)
    times = dyn.output_times(args.t_end, args.n_out)
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def progress(obs):
        cpu = comm.allreduce(time.process_time() - cpu0, op=MPI.MAX)
        if comm.rank == 0:
            print(json.dumps({"progress": True, "t": obs.t, "wall_s": time.perf_counter() - wall0, "cpu_s": cpu,
                              "I1": float(obs.currents[0])}), flush=True)

    res = dyn.evolve(op, y0, 0.0, times, settings, callback=progress)
    cpu = time.process_time() - cpu0
    obs = res.observables
    rec.update({
        "ts_type": res.ts_type, "output_mode": res.output_mode, "completed": res.completed, "reason": res.reason,
        "steps": res.steps, "rejected": res.rejected, "rhs_evaluations": res.rhs_evaluations,
        "linear_iterations": res.linear_iterations, "jacobian_updates": res.jacobian_updates,
        "pc_setups": res.pc_setups, "wall_s": res.wall_s, "cpu_s_max": comm.allreduce(cpu, op=MPI.MAX),
        "cpu_s_sum": comm.allreduce(cpu, op=MPI.SUM), "I1_final": float(obs[-1].currents[0]),
        "I2_final": float(obs[-1].currents[1]), "energy_balance_max": max(o.energy_balance for o in obs),
        "options": res.options, "peak_rss_mb": comm.allreduce(peak_rss_mb(), op=MPI.MAX), "status": "ok",
    })
    if args.currents:
        rec["t"] = [o.t for o in obs]
        rec["I1"] = [float(o.currents[0]) for o in obs]
        rec["I2"] = [float(o.currents[1]) for o in obs]
    res.state.destroy()
    y0.destroy()
    op.destroy()
    if comm.rank == 0:
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
