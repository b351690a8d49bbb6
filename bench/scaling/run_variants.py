"""Run preconditioner/partition variants over ranks and couplings; one bounded process tree per run.

    .venv/bin/python bench/scaling/run_variants.py --variants bjacobi_ilu1,asm1 --ranks 1,2,4,8 \
        --alpha 4,0.5 --depth 8

Each variant is a worker command (bench/_point.py with PETSc options for the "options only"
variants, bench/scaling/tier_point.py for the tier-sweep designs) that prints one JSON record.
Records go to bench/scaling/results.json keyed by (variant, ranks, alpha, depth, theta, delta,
modes, n_bose); a re-run replaces its record. Every record carries: iterations to the true
relative residual, times, peak RSS per rank (ru_maxrss) and of the whole run (sum over ranks),
KB per ADO, I1 and its relative difference from the reference (today's route on 1 rank, the
"bjacobi_ilu1" record of the same point, run first if missing), and whether the run was
oversubscribed (ranks > cores: times then are NOT wall-clock speed-ups, iterations are exact).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))
from _common import NESB_PYTHON, REPO, available_gib, last_json, machine, run_bounded, wait_for_quiet  # noqa: E402

RESULTS = HERE / "results.json"
POINT = str(BENCH / "_point.py")

# name -> (worker, extra worker args, PETSc options)
VARIANTS: dict[str, tuple[str, list[str], list[str]]] = {
    "bjacobi_ilu1": (POINT, [], []),                                     # today's default route
    "bjacobi_ilu0": (POINT, [], ["-nesb_sub_pc_factor_levels", "0"]),
    "bjacobi_ilu2": (POINT, [], ["-nesb_sub_pc_factor_levels", "2"]),
    "bjacobi_baij_ilu0": (POINT, ["--matrix-type", "baij"], ["-nesb_sub_pc_factor_levels", "0"]),
    "bjacobi_baij_ilu1": (POINT, ["--matrix-type", "baij"], []),
    "asm1": (POINT, [], ["-nesb_pc_type", "asm", "-nesb_pc_asm_overlap", "1"]),
    "asm2": (POINT, [], ["-nesb_pc_type", "asm", "-nesb_pc_asm_overlap", "2"]),
    "asm1_basic": (POINT, [], ["-nesb_pc_type", "asm", "-nesb_pc_asm_overlap", "1", "-nesb_pc_asm_type", "basic"]),
    "bjacobi_2blocks_per_rank": (POINT, [], ["-nesb_pc_bjacobi_local_blocks", "2"]),
    "hypre_euclid": (POINT, [], ["-nesb_pc_type", "hypre", "-nesb_pc_hypre_type", "euclid"]),
    "hypre_pilut": (POINT, [], ["-nesb_pc_type", "hypre", "-nesb_pc_hypre_type", "pilut"]),
    "hypre_boomeramg": (POINT, [], ["-nesb_pc_type", "hypre", "-nesb_pc_hypre_type", "boomeramg"]),
    "hypre_parasails": (POINT, [], ["-nesb_pc_type", "hypre", "-nesb_pc_hypre_type", "parasails"]),
    "gmres30": (POINT, [], ["-nesb_ksp_gmres_restart", "30"]),
    "fgmres": (POINT, [], ["-nesb_ksp_type", "fgmres"]),
    "bcgs": (POINT, [], ["-nesb_ksp_type", "bcgs"]),
    "bcgsl": (POINT, [], ["-nesb_ksp_type", "bcgsl"]),
    "ibcgs": (POINT, [], ["-nesb_ksp_type", "ibcgs"]),
    "tfqmr": (POINT, [], ["-nesb_ksp_type", "tfqmr"]),
    "gcr": (POINT, [], ["-nesb_ksp_type", "gcr"]),
    # the production tier route (method = "tier": nesb_hpc.sectors / sweep_rows / tier_sweep) and its
    # Krylov variants; "tier" alone is the route's default (GMRES(30))
    "tier": (POINT, ["--method", "tier"], []),
    "tier_g50": (POINT, ["--method", "tier"], ["-nesb_ksp_gmres_restart", "50"]),
    "tier_g100": (POINT, ["--method", "tier"], ["-nesb_ksp_gmres_restart", "100"]),
    "tier_g100mgs": (POINT, ["--method", "tier"], ["-nesb_ksp_gmres_restart", "100", "-nesb_ksp_gmres_modifiedgramschmidt"]),
    "tier_bcgs": (POINT, ["--method", "tier"], ["-nesb_ksp_type", "bcgs"]),
    "tier_fgmres30": (POINT, ["--method", "tier"], ["-nesb_ksp_type", "fgmres"]),
    # LGMRES(30): GMRES(30) augmented with 2 error approximations per restart (against the
    # stagnation of GMRES(30) at alpha >= 8)
    "tier_lgmres": (POINT, ["--method", "tier"], ["-nesb_ksp_type", "lgmres"]),
}


def key(r: dict) -> tuple:
    return tuple(r.get(k) for k in ("variant", "ranks", "alpha", "depth", "theta", "delta", "modes", "n_bose"))


def load() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else []


def store(rec: dict) -> None:
    recs = [r for r in load() if key(r) != key(rec)]
    recs.append(rec)
    recs.sort(key=lambda r: (r.get("depth", 0), r.get("alpha", 0), str(r.get("theta")), r.get("variant", ""),
                             r.get("ranks", 0)))
    RESULTS.write_text(json.dumps(recs, indent=1) + "\n")


def reference(alpha, depth, theta, delta, modes, n_bose):
    for r in load():
        if (r.get("variant") == "bjacobi_ilu1" and r.get("ranks") == 1 and r.get("status") == "ok"
                and (r["alpha"], r["depth"], r["theta"], r["delta"], r["modes"], r["n_bose"])
                == (alpha, depth, theta, delta, modes, n_bose)):
            return r
    return None


def run_one(variant, ranks, alpha, depth, theta, delta, modes, n_bose, args, extra=(), keep=None):
    """One run; stored unless `keep` (an earlier record of the same key) was faster."""
    worker, wargs, petsc = VARIANTS[variant]
    cmd = ["nice", "-n", "10", "mpirun", "-n", str(ranks), str(NESB_PYTHON), worker, "--alpha", repr(alpha),
           "--depth", str(depth), "--theta", repr(theta), "--delta", repr(delta), "--modes", modes,
           "--n-bose", str(n_bose), *wargs, *extra, "--", *petsc]
    limit = min(args.mem_limit, 0.9 * available_gib())
    if args.wait_quiet is not None:
        wait_for_quiet(args.wait_quiet, args.max_wait)
    t0 = time.time()
    out = run_bounded(cmd, args.timeout, limit)
    rec = last_json(out["stdout"]) or {}
    cores = os.cpu_count() or 1
    rec["load_1min_before"] = os.getloadavg()[0]
    rec.update({"variant": variant, "ranks": ranks, "alpha": alpha, "depth": depth, "theta": theta, "delta": delta,
                "modes": modes, "n_bose": n_bose, "cmd": " ".join(cmd[3:]), "wall_s": out["wall_s"],
                "killed": out["killed"], "max_tree_rss_gib": out["max_tree_rss_gib"],
                "oversubscribed": ranks > cores, "cores": cores, "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
                "others_cores_busy": out.get("others_cores_busy")})
    if "status" not in rec:
        rec["status"] = "killed (%s)" % out["killed"] if out["killed"] else "error"
        rec["stderr_tail"] = out["stderr"][-2000:]
    if rec.get("peak_rss_mb_ranks"):
        rec["peak_rss_mb_sum"] = float(sum(rec["peak_rss_mb_ranks"]))
        rec["kb_per_ado"] = rec["peak_rss_mb_sum"] * 1024.0 / rec["n_ados"]
    if rec.get("iterations"):
        rec["s_per_iteration"] = rec["ksp_solve_s"] / rec["iterations"]
    ref = reference(alpha, depth, theta, delta, modes, n_bose)
    if ref is not None and rec.get("I1") is not None:
        rec["I1_ref"] = ref["I1"]
        rec["I1_rel_diff"] = abs(rec["I1"] - ref["I1"]) / abs(ref["I1"])
    if keep is not None and keep.get("total_s", 1e99) <= rec.get("total_s", 1e99):
        return rec
    store(rec)
    return rec


def line(r: dict) -> str:
    its = r.get("iterations")
    return (f"{r['variant']:28s} R={r['ranks']:3d} a={r['alpha']:<5g} L={r['depth']:2d} ADOs={r.get('n_ados', 0):>10,} "
            f"its={its!s:>5} res={r.get('residual', float('nan')):.1e} t={r.get('total_s', float('nan')):7.2f}s "
            f"ksp={r.get('ksp_solve_s', float('nan')):7.2f}s KB/ADO={r.get('kb_per_ado', float('nan')):6.2f} "
            f"dI1={r.get('I1_rel_diff', float('nan')):.1e} {r['status']}{' (oversub)' if r['oversubscribed'] else ''}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="bjacobi_ilu1")
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--alpha", default="4,0.5")
    p.add_argument("--depth", default="8")
    p.add_argument("--theta", default=repr(0.7853981633974483))
    p.add_argument("--delta", type=float, default=0.1)
    p.add_argument("--modes", default="merged")
    p.add_argument("--n-bose", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--mem-limit", type=float, default=20.0)
    p.add_argument("--extra", default="", help="extra worker arguments (space separated)")
    p.add_argument("--wait-quiet", type=float, default=None, metavar="CORES",
                   help="before each run wait (up to --max-wait s) until other processes keep fewer than CORES cores busy")
    p.add_argument("--max-wait", type=float, default=1800.0)
    p.add_argument("--repeat", type=int, default=1, help="runs per configuration; the fastest is kept")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="do not run today's route on one rank first where its record is missing (large depths)")
    args = p.parse_args(argv)
    print(machine(), flush=True)
    extra = args.extra.split() if args.extra else []
    for depth in [int(x) for x in args.depth.split(",")]:
        for theta in [float(eval(x, {"pi": 3.141592653589793})) for x in args.theta.split(",")]:
            for alpha in [float(x) for x in args.alpha.split(",")]:
                if args.reference and reference(alpha, depth, theta, args.delta, args.modes, args.n_bose) is None:
                    print(line(run_one("bjacobi_ilu1", 1, alpha, depth, theta, args.delta, args.modes, args.n_bose, args)),
                          flush=True)
                for variant in args.variants.split(","):
                    for ranks in [int(x) for x in args.ranks.split(",")]:
                        best = None
                        for _ in range(args.repeat):
                            r = run_one(variant, ranks, alpha, depth, theta, args.delta, args.modes, args.n_bose, args,
                                        extra, keep=best)
                            best = r if best is None or r.get("total_s", 1e99) < best.get("total_s", 1e99) else best
                            print(line(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
