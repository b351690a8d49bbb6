"""Modes and ADOs a converged current needs (issue #6 item 5): exact vs merged vs fitted bases.

    .venv/bin/python bench/modes_needed.py [--alpha 0.1,1,4] [--tol 1e-3] [--max-depth 12]

Point: the paper's J (s = 3, cutoff power 4), Delta = 0.1, theta = pi/4, T1 = 1, T2 = 0.9. For
each coupling and each basis, the depth ladder 2, 3, ... runs until the current changes by less
than --tol from one depth to the next (the convergence study's rule). Bases:

  exact separate   residues, Pade n_bose = 1, one index per function of C^R and of C^I (18 modes)
  exact merged     the same functions, one index per function C^R and C^I share (10 modes); the
                   same current as "exact separate" at every depth (tests/test_merged_modes.py),
                   so the separate form is solved only where it is cheap, to show it
  fit merged       [bath] fit_tolerance = --fit (ESPRIT, rates shared by C^R and C^I), merged

Columns: modes K, converged depth L, ADOs C(K + L, L), the converged current, its deviation from
the reference (exact merged at the ladder's deepest rung + 1 depth where affordable, else the
deepest rung), wall time of the converged rung. One process, one rank (MPI.COMM_SELF); records go
to bench/modes_needed.json, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from math import comb
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent


def floats(text):
    return [float(x) for x in text.split(",") if x]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alpha", type=floats, default=[0.1, 1.0, 4.0])
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--fit", type=float, default=1e-3, help="fit_tolerance of the fitted basis")
    p.add_argument("--max-depth", type=int, default=12)
    p.add_argument("--separate-max-ados", type=int, default=500_000)
    args = p.parse_args(argv)

    from nesb_hpc import petsc_env

    petsc_env.init([])
    from mpi4py import MPI

    from nesb_hpc.bath import RationalCutoff, exact_decomposition, fit_bath
    from nesb_hpc.pauli import bloch_vector
    from nesb_hpc.point import HierarchySpec, solve_point
    from nesb_hpc.routes import SolverSettings

    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(np.pi / 4)])
    settings = SolverSettings(method="iterative", rtol=1e-12)
    temps = (1.0, 0.9)

    def baths(kind, alpha):
        J = RationalCutoff(alpha=alpha)
        if kind == "fit":
            return [fit_bath(J, T, args.fit, 12) for T in temps]
        return [exact_decomposition(J.rational(), T, "pade", 1) for T in temps]

    records = []
    for alpha in args.alpha:
        for name, kind, form in (("exact merged", "exact", "merged"), ("fit merged", "fit", "merged"),
                                 ("exact separate", "exact", "separate")):
            decs = baths(kind, alpha)
            ladder, converged = [], None
            extra = 1 if name == "exact merged" else 0   # one rung past convergence: the reference
            for depth in range(2, args.max_depth + 1):
                K = sum(d.n_modes for d in decs) if form == "separate" else None
                if K is not None and comb(K + depth, depth) > args.separate_max_ados:
                    break
                t0 = time.perf_counter()
                res = solve_point(MPI.COMM_SELF, decs, vecs, 0.1, HierarchySpec(depth, True, "aij", form), settings)
                if res.status != "ok":
                    break
                ladder.append({"depth": depth, "n_ados": res.n_ados, "I1": res.I1,
                               "wall_s": time.perf_counter() - t0})
                if converged is None and len(ladder) > 1 and \
                        abs(res.I1 - ladder[-2]["I1"]) < args.tol * abs(res.I1):
                    converged = ladder[-1]
                if converged is not None and depth >= converged["depth"] + extra:
                    break
            records.append({"alpha": alpha, "basis": name, "modes": res.n_modes, "ladder": ladder,
                            "converged": converged})
            print(f"alpha {alpha:g} {name}: modes {res.n_modes}, rungs "
                  + ", ".join(f"L{r['depth']}:{r['I1']:.6e}" for r in ladder), flush=True)

    rows = []
    for alpha in args.alpha:
        mine = [r for r in records if r["alpha"] == alpha]
        ref = next(r for r in mine if r["basis"] == "exact merged")["ladder"][-1]
        for r in mine:
            c = r["converged"]
            same = [x for x in r["ladder"] if x["depth"] == (c or {}).get("depth")]
            if c is None:
                rows.append(f"| {alpha:g} | {r['basis']} | {r['modes']} | not reached | - | - | - | - |")
                continue
            dev = abs(c["I1"] - ref["I1"]) / abs(ref["I1"])
            rows.append(f"| {alpha:g} | {r['basis']} | {r['modes']} | {c['depth']} | {comb(r['modes'] + c['depth'], c['depth']):,} | "
                        f"{c['I1']:.6e} | {dev:.1e} (ref. depth {ref['depth']}) | {same[0]['wall_s']:.2f} |")
    print("\n| alpha | basis | modes | depth for 1e-3 | ADOs | I1 | deviation from reference | s |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    (BENCH / "modes_needed.json").write_text(json.dumps({"tol": args.tol, "fit": args.fit, "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
