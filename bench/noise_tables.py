"""The numbers behind docs/noise.md sections 7 and 8 (zero-frequency noise of the bath energies).

    .venv/bin/python bench/noise_tables.py fdr --alpha 0.1 --theta 0 --n-bose 1,2 --depths 3,4,5
    .venv/bin/python bench/noise_tables.py ladder --alpha 1e-3,1e-2,0.1 --theta 0,pi/4,pi/2 --max-depth 8

fdr: S1 / (2 T^2 dI1/dT1) - 1 at T1 = T2 = 1, Delta = 0.1 (merged modes; dI1/dT1 by central
differences at T1 = 1 +- 0.01, +- 0.02, Richardson-extrapolated), the relation's deviation.
ladder: Delta = 0.05, T1 = 1, T2 = 0.9, merged modes, iterative route, depths from 3 until I1 and S1
change by less than 1e-4: I1, S1, S2, S12, the Fano factor S1/(2 Delta I1) and the steady-state
and noise timings. One JSON record per solve on stdout (rank 0). Runs serially or under mpirun.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from nesb_hpc import petsc_env

petsc_env.init([])

from mpi4py import MPI  # noqa: E402

from nesb_hpc.bath import RationalCutoff, exact_decomposition  # noqa: E402
from nesb_hpc.pauli import bloch_vector  # noqa: E402
from nesb_hpc.point import HierarchySpec, solve_point  # noqa: E402
from nesb_hpc.routes import SolverSettings  # noqa: E402

COMM = MPI.COMM_WORLD


def solve(alpha, theta, T1, T2, delta, depth, n_bose, noise, method="auto", rtol=1e-13):
    baths = [exact_decomposition(RationalCutoff(alpha=alpha).rational(), T, "pade", n_bose) for T in (T1, T2)]
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(theta)])
    res = solve_point(COMM, baths, vecs, delta, HierarchySpec(depth, True, "aij", "merged"),
                      SolverSettings(method=method, rtol=rtol), noise=noise)
    if res.status != "ok":
        raise RuntimeError(res.report.message)
    return res


def emit(record):
    if COMM.rank == 0:
        print(json.dumps(record), flush=True)


def fdr(args):
    T, h, delta = 1.0, 0.01, 0.1
    for alpha in args.alpha:
        for theta in args.theta:
            for n_bose in args.n_bose:
                for depth in args.depths:
                    eq = solve(alpha, theta, T, T, delta, depth, n_bose, True)
                    I = {k: solve(alpha, theta, T + k * h, T, delta, depth, n_bose, False).I1 for k in (-2, -1, 1, 2)}
                    G1, G2 = (I[1] - I[-1]) / (2 * h), (I[2] - I[-2]) / (4 * h)
                    G = (4 * G1 - G2) / 3
                    emit(dict(kind="fdr", alpha=alpha, theta=theta, n_bose=n_bose, depth=depth, ados=eq.n_ados,
                              S1=eq.noise.S1, G=G, deviation=eq.noise.S1 / (2 * T * T * G) - 1,
                              I_equilibrium=eq.I1, asymmetry=(eq.noise.S1 - eq.noise.S2) / eq.noise.S1))


def ladder(args):
    delta = 0.05
    for alpha in args.alpha:
        for theta in args.theta:
            prev = None
            for depth in range(3, args.max_depth + 1):
                r = solve(alpha, theta, 1.0, 0.9, delta, depth, args.n_bose[0], True, method="iterative", rtol=1e-12)
                nz = r.noise
                rec = dict(kind="ladder", alpha=alpha, theta=theta, n_bose=args.n_bose[0], depth=depth, ados=r.n_ados,
                           I1=r.I1, S1=nz.S1, S2=nz.S2, S12=nz.S12, fano=nz.fano(delta, r.I1),
                           iterations=r.report.iterations, noise_iterations=[x.iterations for x in nz.reports],
                           timings=r.timings, peak_mb=r.peak_rss_mb, ranks=COMM.size)
                if prev is not None:
                    rec["dI"] = abs(r.I1 - prev.I1) / abs(r.I1)
                    rec["dS"] = abs(nz.S1 - prev.noise.S1) / abs(nz.S1)
                emit(rec)
                if prev is not None and rec["dI"] < 1e-4 and rec["dS"] < 1e-4:
                    break
                prev = r


def floats(text):
    return [float(eval(x, {"pi": np.pi})) for x in text.split(",")]   # "pi/4" allowed; a trusted CLI


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", choices=["fdr", "ladder"])
    ap.add_argument("--alpha", type=floats, default=[0.1])
    ap.add_argument("--theta", type=floats, default=[0.0, np.pi / 4])
    ap.add_argument("--n-bose", type=lambda t: [int(x) for x in t.split(",")], default=[2])
    ap.add_argument("--depths", type=lambda t: [int(x) for x in t.split(",")], default=[3, 4, 5])
    ap.add_argument("--max-depth", type=int, default=8)
    args = ap.parse_args()
    (fdr if args.table == "fdr" else ladder)(args)


if __name__ == "__main__":
    main()
