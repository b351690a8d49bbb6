"""Benchmark nesb_hpc on one point of the paper's model over coupling, depth and rank count.

    .venv/bin/python bench/run_bench.py --ranks 1,2 --depths 3,4,5,6,7 --alpha 0.5,4
    .venv/bin/python bench/run_bench.py --quick            # smoke run, a few seconds

Point (docs/model.md s7, Fig. 2b): Delta = 0.1, theta = pi/4, T1 = 1, T2 = 0.9, the paper's
J = pi alpha w^3/(1+w^2)^4 with the exact residue decomposition, Pade n_bose = 1 (18 modes).
Every run is its own `mpirun -n R python bench/_point.py ...` process tree (peak memory is per
process), bounded in time and in resident memory (the whole tree is killed past either limit).
Records go to bench/results.json (a record replaces an earlier one with the same key); the table
goes to stdout. Columns: see bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import memory_model  # noqa: E402
from _common import (BENCH, GIB, NESB_PYTHON, assembly_wall_s, available_gib, fmt, last_json,  # noqa: E402
                     load_results, log, machine, markdown_table, phase_peaks, run_bounded, store,
                     wait_for_quiet, with_model)

def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ranks", type=ints, default=[1, 2], help="comma list of MPI rank counts (default 1,2)")
    p.add_argument("--depths", type=ints, default=[3, 4, 5, 6, 7], help="comma list of depths (default 3..7)")
    p.add_argument("--alpha", type=floats, default=[0.5, 4.0], help="comma list of couplings (default 0.5,4)")
    p.add_argument("--problem", choices=("paper", "drude"), default="paper")
    p.add_argument("--n-bose", type=int, default=1)
    p.add_argument("--method", default="iterative", choices=("auto", "direct", "iterative", "slepc"))
    p.add_argument("--matrix-type", default="aij", choices=("aij", "baij"))
    p.add_argument("--petsc", default="", help='extra PETSc options for every run, e.g. "-nesb_sub_pc_factor_levels 2"')
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run (default 900)")
    p.add_argument("--mem-limit", type=float, default=18.0, help="GiB of resident memory per run, all ranks (default 18)")
    p.add_argument("--repeat", type=int, default=1, help="runs per configuration; the fastest is kept")
    p.add_argument("--wait-quiet", type=float, default=None, metavar="CORES",
                   help="before each run wait (up to --max-wait s) until other processes keep fewer than CORES cores busy")
    p.add_argument("--max-wait", type=float, default=1800.0)
    p.add_argument("--profile", default=None, metavar="PATH",
                   help="profile the runs (cProfile of rank 0 -> PATH-<run>.txt, PETSc -log_view -> PATH-<run>.logview)")
    p.add_argument("--output", type=Path, default=BENCH / "results.json")
    p.add_argument("--no-save", action="store_true", help="print the table only")
    p.add_argument("--quick", action="store_true", help="smoke run: alpha 0.5, depths 2,3, ranks 1,2")
    p.add_argument("--report", action="store_true",
                   help="run nothing: print the tables for the selected runs from --output")
    p.add_argument("--options-table", default=None, metavar="ALPHA:DEPTH",
                   help="with --report: compare every PETSc-option variant stored for this alpha and depth")
    args = p.parse_args(argv)
    if args.quick:
        args.alpha, args.depths, args.ranks = [0.5], [2, 3], [1, 2]
    return args


def predicted_gib(args, alpha: float, depth: int, ranks: int) -> float:
    """Peak resident memory of all ranks together by nesb_hpc.sizing (a priori), to skip runs that cannot fit."""
    rec = {"problem": args.problem, "alpha": alpha, "depth": depth, "n_bose": args.n_bose, "decomposition": "pade",
           "T1": 1.0, "T2": 0.9, "delta": 0.1, "theta": 0.7853981633974483}
    method = "iterative" if args.method == "auto" else args.method
    return memory_model.tree_gib(*memory_model.problem_of(rec), ranks, method)


def point_command(args, alpha: float, depth: int, ranks: int, profile: str | None) -> list[str]:
    cmd = ["mpirun", "-n", str(ranks), str(NESB_PYTHON), str(BENCH / "_point.py"),
           "--problem", args.problem, "--alpha", repr(alpha), "--depth", str(depth), "--n-bose", str(args.n_bose),
           "--method", args.method, "--matrix-type", args.matrix_type]
    if profile:
        cmd += ["--profile", profile]
    extra = shlex.split(args.petsc)
    if extra:
        cmd += ["--"] + extra
    return cmd


def run_one(args, alpha: float, depth: int, ranks: int, mach: dict) -> dict:
    need = predicted_gib(args, alpha, depth, ranks)
    avail = available_gib()
    base = {"tool": "nesb_hpc", "problem": args.problem, "ranks": ranks, "alpha": alpha, "depth": depth,
            "n_bose": args.n_bose, "decomposition": "pade", "method": args.method,
            "matrix_type": args.matrix_type, "extra_petsc": args.petsc, "T1": 1.0, "T2": 0.9}
    if need > min(args.mem_limit, 0.9 * avail):
        log(f"  skip: the model predicts {need:.1f} GiB (limit {args.mem_limit} GiB, available {avail:.1f} GiB)")
        return {**base, "status": "skipped", "reason": f"predicted {need:.1f} GiB"}
    best, totals = None, []
    for rep in range(args.repeat):
        profile = None
        if args.profile:
            profile = f"{args.profile}-a{alpha:g}-L{depth}-n{ranks}"
        quiet_before = wait_for_quiet(args.wait_quiet, args.max_wait) if args.wait_quiet is not None else None
        load = machine()["load_1min"]
        out = run_bounded(point_command(args, alpha, depth, ranks, profile), args.timeout, args.mem_limit)
        rec = last_json(out["stdout"])
        if rec is None:
            status = out["killed"] or f"rc={out['rc']}"
            log(f"  failed ({status}): {out['stderr'][-2000:]}")
            rec = {**base, "status": status, "reason": out["stderr"][-500:]}
        rec["extra_petsc"] = args.petsc
        for k, v in base.items():
            rec.setdefault(k, v)
        rec.update({"machine": {**mach, "load_1min": load}, "wall_s": out["wall_s"],
                    "others_cores_busy": out["others_cores_busy"], "others_cores_busy_before": quiet_before,
                    "max_tree_rss_gib": out["max_tree_rss_gib"], "killed": out["killed"],
                    "timeout_s": args.timeout, "mem_limit_gib": args.mem_limit,
                    "date": dt.datetime.now().isoformat(timespec="seconds"),
                    "command": shlex.join(point_command(args, alpha, depth, ranks, None))})
        rec["phase_peak_mb"] = phase_peaks(rec, out["timeline"])
        if "estimate_mb" in rec and rec.get("peak_rss_mb"):
            rec["estimate_ratio"] = rec["estimate_mb"] / rec["peak_rss_mb"]
            rec = with_model(rec)
        totals.append(rec.get("total_s"))
        if best is None or rec.get("total_s", 1e300) < best.get("total_s", 1e300):
            best = rec
        if rec.get("status") != "ok":
            break
    best["repeat_total_s"] = totals  # every repetition's total; the record is the fastest
    return best


def table(records: list[dict]) -> str:
    header = ["alpha", "depth", "ranks", "ADOs", "unknowns", "nonzeros", "its", "true res.",
              "assembly s", "solve s", "total s", "peak MiB/rank", "old estimate / peak", "sizing.estimate MiB",
              "estimate / peak (a priori)", "estimate / peak (a posteriori)", "I1", "others' cores"]
    rows = []
    for r in sorted(records, key=lambda r: (r["alpha"], r["depth"], r["ranks"])):
        if r.get("status") != "ok":
            rows.append([fmt(r["alpha"], "g"), r["depth"], r["ranks"]] + [r.get("status")] + [""] * (len(header) - 4))
            continue
        r = with_model(r)
        rows.append([
            fmt(r["alpha"], "g"), r["depth"], r["ranks"], f"{r['n_ados']:,}", f"{r['n_unknowns']:,}",
            f"{r['nonzeros']:,}", r["iterations"], fmt(r["residual"], ".1e"), fmt(assembly_wall_s(r), ".2f"),
            fmt(r["solve_s"], ".2f"), fmt(r["total_s"], ".2f"), fmt(r["peak_rss_mb"], ".0f"),
            fmt(r["estimate_ratio"], ".2f"), fmt(r.get("sizing_mb"), ".0f"),
            fmt(r.get("sizing_ratio"), ".2f"), fmt(r.get("sizing_posterior_ratio"), ".2f"),
            fmt(r["I1"], ".10e"), fmt(r.get("others_cores_busy"), ".2f"),
        ])
    return markdown_table(header, rows)


def efficiency(records: list[dict]) -> str:
    """Parallel efficiency 1 -> 2 ranks, E = t_1 / (2 t_2), at the largest depth run on both."""
    lines = []
    header = ["alpha", "depth", "ADOs", "t1 total s", "t2 total s", "E total", "E assembly", "E solve",
              "its 1 / 2 ranks"]
    rows = []
    for alpha in sorted({r["alpha"] for r in records}):
        ok = {(r["depth"], r["ranks"]): r for r in records if r["alpha"] == alpha and r.get("status") == "ok"}
        both = [d for d in sorted({d for d, _ in ok}) if (d, 1) in ok and (d, 2) in ok]
        if not both:
            continue
        d = both[-1]
        a, b = ok[(d, 1)], ok[(d, 2)]
        t1, t2 = a["total_s"], b["total_s"]
        rows.append([fmt(alpha, "g"), d, f"{a['n_ados']:,}", fmt(t1, ".2f"), fmt(t2, ".2f"),
                     fmt(t1 / (2 * t2), ".2f"), fmt(assembly_wall_s(a) / (2 * assembly_wall_s(b)), ".2f"),
                     fmt(a["solve_s"] / (2 * b["solve_s"]), ".2f"), f"{a['iterations']} / {b['iterations']}"])
    if rows:
        lines.append(markdown_table(header, rows))
    return "\n".join(lines)


def selected(args, records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("tool") == "nesb_hpc" and r.get("problem") == args.problem
            and r.get("alpha") in args.alpha and r.get("depth") in args.depths and r.get("ranks") in args.ranks
            and r.get("method") == args.method and r.get("matrix_type") == args.matrix_type
            and r.get("extra_petsc", "") == args.petsc and r.get("n_bose") == args.n_bose
            and r.get("T1") == 1.0 and r.get("T2") == 0.9]


def phases_table(records: list[dict]) -> str:
    """Where the time goes, per run: Python rows, PETSc assembly, KSP setup, KSP solve (maxima over ranks)."""
    header = ["alpha", "depth", "ranks", "rows s", "MatCreate s", "KSPSetUp s", "KSPSolve s (incl. ILU factorisation)",
              "total s", "peak MiB in rows / assembly / solve phase (largest rank)"]
    rows = []
    for r in sorted(records, key=lambda r: (r["alpha"], r["depth"], r["ranks"])):
        if r.get("status") != "ok":
            continue
        ph = r.get("phase_peak_mb") or {}
        rows.append([fmt(r["alpha"], "g"), r["depth"], r["ranks"], fmt(r["rows_s"], ".2f"), fmt(r["matassembly_s"], ".2f"),
                     fmt(r["pc_setup_s"], ".3f"), fmt(r["ksp_solve_s"], ".2f"), fmt(r["total_s"], ".2f"),
                     " / ".join(fmt(ph.get(k), ".0f") for k in ("rows", "assembly", "solve"))])
    return markdown_table(header, rows)


def options_table(records: list[dict], alpha: float, depth: int) -> str:
    header = ["ranks", "extra PETSc options", "its", "true res.", "KSPSolve s", "total s", "peak MiB/rank", "I1",
              "others' cores"]
    rows = []
    pick = [r for r in records if r.get("tool") == "nesb_hpc" and r.get("problem") == "paper" and r.get("alpha") == alpha
            and r.get("depth") == depth and r.get("status") == "ok"]
    for r in sorted(pick, key=lambda r: (r["ranks"], r.get("extra_petsc", ""))):
        rows.append([r["ranks"], r.get("extra_petsc") or "(defaults)", r["iterations"], fmt(r["residual"], ".1e"),
                     fmt(r["ksp_solve_s"], ".1f"), fmt(r["total_s"], ".1f"), fmt(r["peak_rss_mb"], ".0f"),
                     fmt(r["I1"], ".10e"), fmt(r.get("others_cores_busy"), ".2f")])
    return markdown_table(header, rows)


def report(args) -> int:
    records = load_results(args.output)
    if args.options_table:
        a, d = args.options_table.split(":")
        print(options_table(records, float(a), int(d)))
        return 0
    recs = selected(args, records)
    if not recs:
        print("no stored runs match the selection")
        return 1
    m = recs[0]["machine"]
    loads = [r["machine"]["load_1min"] for r in recs]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB; nesb_hpc {m.get('nesb_hpc_git', '?')}; "
          f"PETSc {recs[0].get('petsc_version')} ({recs[0].get('scalar')}); method {args.method}, matrix "
          f"{args.matrix_type}; extra PETSc options: {args.petsc or 'none'}; 1-min load during the runs "
          f"{min(loads):.1f}-{max(loads):.1f}; dates {min(r['date'] for r in recs)} .. {max(r['date'] for r in recs)}\n")
    print(table(recs))
    eff = efficiency(recs)
    if eff:
        print("\nparallel efficiency 1 -> 2 ranks (largest depth run on both):\n")
        print(eff)
    print("\nphases:\n")
    print(phases_table(recs))
    opts = recs[0].get("petsc_options", {})
    print("\nPETSc options (prefix nesb_): " + " ".join(f"-{k} {v}".rstrip() for k, v in opts.items()))
    return 0


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.report:
        return report(args)
    mach = machine()
    log(f"machine: {mach['cpu']}, {mach['cores']} cores, {mach['mem_gib']} GiB, load {mach['load_1min']:.2f}")
    fresh = []
    for alpha in args.alpha:
        for depth in args.depths:
            for ranks in args.ranks:
                log(f"alpha={alpha:g} depth={depth} ranks={ranks} ...")
                rec = run_one(args, alpha, depth, ranks, mach)
                if rec.get("status") == "ok":
                    log(f"  {rec['n_ados']:,} ADOs, {rec['iterations']} its, total {rec['total_s']:.2f} s,"
                        f" peak {rec['peak_rss_mb']:.0f} MiB/rank, model {rec['estimate_mb']:.0f}, I1 = {rec['I1']:.10e}")
                fresh.append(rec)
                if not args.no_save:
                    store(args.output, rec)
    print(f"\nmachine: {mach['cpu']}, {mach['cores']} cores, {mach['mem_gib']} GiB; method {args.method}, "
          f"matrix {args.matrix_type}, extra PETSc options: {args.petsc or 'none'}\n")
    print(table(fresh))
    eff = efficiency(fresh)
    if eff:
        print("\nparallel efficiency 1 -> 2 ranks (largest depth run on both):\n")
        print(eff)
    ok = [r for r in fresh if r.get("status") == "ok"]
    if ok:
        opts = ok[0]["petsc_options"]
        print("\nPETSc options (prefix nesb_): " + " ".join(f"-{k} {v}".rstrip() for k, v in opts.items()))
    return 0 if all(r.get("status") == "ok" for r in fresh) else 1


if __name__ == "__main__":
    sys.exit(main())
