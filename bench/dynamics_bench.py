"""Which PETSc TS integrator to use for transient heat currents, measured (issue #16 item 5).

    .venv/bin/python bench/dynamics_bench.py                   # alpha 0.5, 4; depth 8; ~1 h on this machine
    .venv/bin/python bench/dynamics_bench.py --quick           # depth 5, smoke run, ~2 min
    .venv/bin/python bench/dynamics_bench.py --report          # tables from dynamics_results.json, no runs
    .venv/bin/python bench/dynamics_bench.py --phases relax --ranks 2

Problem: the paper's model (s = 3, p = 4, Pade n_bose = 1), merged modes, Delta = 0.1, theta = pi/4,
T1 = 1, T2 = 0.9, from rho_00 = down with thermal baths (bench/_dynamics_point.py, one bounded
process tree per run, as bench/run_bench.py runs the steady state).

Phases:
  window  every integrator below at --rtol on t in [0, --window] (40 outputs): cost per unit of
          simulated time (wall and CPU seconds, products L y, Krylov iterations, ILU set-ups) and
          the largest error of I1 over the outputs against a reference run (RK 5(4) at rtol 1e-12),
          beside the steady-state solve's time for the same hierarchy (GMRES + bjacobi/ILU(1));
  relax   the default and the best implicit integrator from t = 0 to --relax-t: the time after which
          |I1(t) - I_ss| <= 1e-6 |I_ss| for good (I_ss from the steady-state solve), and the cost of
          the whole run.
Every run is bounded (--timeout, --mem-limit); a run cut at its time limit reports the rate of
its last progress line. Records go to bench/dynamics_results.json (a re-run replaces the record
with the same key); the machine, the load from other users during each run (others_cores_busy)
and the rank count are in every record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, NESB_PYTHON, available_gib, machine, markdown_table, run_bounded  # noqa: E402

RESULTS = BENCH / "dynamics_results.json"

# name -> (PETSc options, pc_shift_ratio); "ILU per shift" rebuilds the preconditioner whenever
# the shift 1/(c dt) changes, "ILU reused" keeps it until the shift has moved by a factor 2
VARIANTS = {
    "rk/5dp": ("-nesb_ts_type rk -nesb_ts_rk_type 5dp", 1.0),
    "rk/5bs": ("-nesb_ts_type rk -nesb_ts_rk_type 5bs", 1.0),
    "rk/3bs": ("-nesb_ts_type rk -nesb_ts_rk_type 3bs", 1.0),
    "bdf2, ILU reused": ("-nesb_ts_type bdf -nesb_ts_bdf_order 2", 2.0),
    "bdf4, ILU per shift": ("-nesb_ts_type bdf -nesb_ts_bdf_order 4", 1.0),
    "bdf4, ILU reused": ("-nesb_ts_type bdf -nesb_ts_bdf_order 4", 2.0),
    "bdf5, ILU per shift": ("-nesb_ts_type bdf -nesb_ts_bdf_order 5", 1.0),
    "bdf5, ILU reused": ("-nesb_ts_type bdf -nesb_ts_bdf_order 5", 2.0),
    "arkimex/4, ILU reused": ("-nesb_ts_type arkimex -nesb_ts_arkimex_type 4", 2.0),
    "arkimex/5, ILU reused": ("-nesb_ts_type arkimex -nesb_ts_arkimex_type 5", 2.0),
    "rosw/ra34pw2, ILU reused": ("-nesb_ts_type rosw -nesb_ts_rosw_type ra34pw2", 2.0),
    "cn, ILU reused": ("-nesb_ts_type cn", 2.0),
    "beuler, ILU reused": ("-nesb_ts_type beuler", 2.0),
}
REFERENCE = ("-nesb_ts_type rk -nesb_ts_rk_type 5dp", 1e-12, 1e-16)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alphas", default="0.5,4")
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--rtol", type=float, default=1e-8)
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--relax-t", type=float, default=400.0)
    p.add_argument("--relax-variants", default="rk/5dp,bdf5, ILU reused",
                   help="comma-separated; names containing commas are matched by prefix")
    p.add_argument("--variants", default=",".join(VARIANTS), help="names from VARIANTS, comma-separated")
    p.add_argument("--phases", default="window,relax")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per window run")
    p.add_argument("--relax-timeout", type=float, default=2400.0, help="seconds per relaxation run")
    p.add_argument("--mem-limit", type=float, default=12.0)
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--report", action="store_true")
    p.add_argument("--output", type=Path, default=None, help="the records (default bench/dynamics_results.json)")
    args = p.parse_args(argv)
    global RESULTS
    RESULTS = args.output or RESULTS
    if args.quick:
        args.depth, args.window, args.relax_t, args.timeout, args.relax_timeout = 5, 10.0, 200.0, 120.0, 300.0
    return args


def names(text: str) -> list[str]:
    """Split a comma-separated list of VARIANTS names (which may contain ', ')."""
    out, parts = [], [x.strip() for x in text.split(",")]
    i = 0
    while i < len(parts):
        name = parts[i]
        if i + 1 < len(parts) and f"{name}, {parts[i + 1]}" in VARIANTS:
            name = f"{name}, {parts[i + 1]}"
            i += 1
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}: known are {list(VARIANTS)}")
        out.append(name)
        i += 1
    return out


def load() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else []


KEY = ("phase", "variant", "alpha", "depth", "ranks", "rtol", "t_end")


def store(rec: dict) -> None:
    recs = [r for r in load() if tuple(r.get(k) for k in KEY) != tuple(rec.get(k) for k in KEY)]
    recs.append(rec)
    RESULTS.write_text(json.dumps(recs, indent=1) + "\n")


def stored(phase, variant, alpha, depth, ranks, rtol, t_end) -> dict | None:
    want = (phase, variant, alpha, depth, ranks, rtol, t_end)
    for r in load():
        if tuple(r.get(k) for k in KEY) == want:
            return r
    return None


def run(args, alpha, t_end, n_out, petsc, rtol, atol, ratio, steady=False, currents=False, timeout=None) -> dict:
    cmd = (["nice", "-n", str(args.nice), "mpirun", "-n", str(args.ranks), str(NESB_PYTHON),
            str(BENCH / "_dynamics_point.py"), "--alpha", repr(alpha), "--depth", str(args.depth),
            "--t-end", repr(t_end), "--n-out", str(n_out), "--rtol", repr(rtol), "--atol", repr(atol),
            "--pc-shift-ratio", repr(ratio)] + (["--steady"] if steady else []) + (["--currents"] if currents else [])
           + ["--"] + petsc.split())
    out = run_bounded(cmd, timeout or args.timeout, min(args.mem_limit, 0.9 * available_gib()))
    lines = [json.loads(ln) for ln in out["stdout"].splitlines() if ln.startswith("{")]
    final = [ln for ln in lines if not ln.get("progress")]
    progress = [ln for ln in lines if ln.get("progress")]
    rec = final[-1] if final else {"status": out["killed"] or f"rc={out['rc']}", "error": out["stderr"][-1500:]}
    if not final and progress:
        last = progress[-1]
        rec.update({"t_reached": last["t"], "wall_s": last["wall_s"], "cpu_s_max": last["cpu_s"]})
        rec["I1_progress"] = [p["I1"] for p in progress]
    rec.update({"machine": machine(), "others_cores_busy": out["others_cores_busy"], "process_wall_s": out["wall_s"],
                "max_tree_rss_gib": out["max_tree_rss_gib"], "killed": out["killed"], "ranks": args.ranks,
                "alpha": alpha, "depth": args.depth, "rtol": rtol, "t_end": t_end,
                "date": dt.datetime.now().isoformat(timespec="seconds")})
    return rec


def reference(args, alpha) -> dict:
    rec = stored("reference", "rk/5dp rtol 1e-12", alpha, args.depth, args.ranks, 1e-12, args.window)
    if rec is None and not args.report:
        petsc, rtol, atol = REFERENCE
        rec = run(args, alpha, args.window, 40, petsc, rtol, atol, 1.0, steady=True, currents=True)
        rec.update({"phase": "reference", "variant": "rk/5dp rtol 1e-12", "rtol": 1e-12})
        store(rec)
    return rec or {}


def window_phase(args, alpha) -> list[list]:
    ref = reference(args, alpha)
    rows = []
    steady = ref.get("steady", {})
    if steady:
        rows.append(["steady state (GMRES + bjacobi/ILU(1))", "-", "-", "-", f"{steady.get('iterations')}", "-",
                     f"{steady.get('total_s', float('nan')):.2f} s total (solve {steady.get('solve_s', 0):.2f} s)",
                     "-", "-", "-", "-"])
    import numpy as np

    I_ref = np.array(ref.get("I1", []))
    for name in names(args.variants):
        rec = stored("window", name, alpha, args.depth, args.ranks, args.rtol, args.window)
        if rec is None and not args.report:
            petsc, ratio = VARIANTS[name]
            rec = run(args, alpha, args.window, 40, petsc, args.rtol, args.rtol * 1e-4, ratio, currents=True)
            rec.update({"phase": "window", "variant": name})
            store(rec)
        if rec is None:
            continue
        t_done = rec.get("t_end") if rec.get("status") == "ok" else rec.get("t_reached", float("nan"))
        err = float("nan")
        if rec.get("I1") and I_ref.size == len(rec["I1"]):
            err = float(np.max(np.abs(np.array(rec["I1"]) - I_ref)) / np.max(np.abs(I_ref)))
        wall, cpu = rec.get("wall_s", float("nan")), rec.get("cpu_s_max", float("nan"))
        status = "ok" if rec.get("status") == "ok" else f"{rec.get('status')} at t = {t_done:g}"
        rows.append([name, rec.get("steps", "-"), rec.get("rhs_evaluations", "-"), rec.get("linear_iterations", "-"),
                     rec.get("pc_setups", "-"), f"{err:.1e}", f"{wall / t_done:.3f}" if t_done else "-",
                     f"{cpu / t_done:.3f}" if t_done else "-", f"{rec.get('others_cores_busy', float('nan')):.1f}",
                     f"{rec.get('peak_rss_mb', float('nan')):.0f}", status])
    return rows


def relax_phase(args, alpha) -> list[list]:
    import numpy as np

    ref = reference(args, alpha)
    I_ss = ref.get("steady", {}).get("I1")
    rows = []
    for name in names(args.relax_variants):
        rec = stored("relax", name, alpha, args.depth, args.ranks, args.rtol, args.relax_t)
        if rec is None and not args.report:
            petsc, ratio = VARIANTS[name]
            n_out = int(round(args.relax_t))                 # one output per unit of time
            rec = run(args, alpha, args.relax_t, n_out, petsc, args.rtol, args.rtol * 1e-4, ratio, currents=True,
                      timeout=args.relax_timeout)
            rec.update({"phase": "relax", "variant": name})
            store(rec)
        if rec is None:
            continue
        t_relax, final = float("nan"), float("nan")
        I1 = rec.get("I1") or rec.get("I1_progress")       # a run cut at its limit: its progress lines
        if I1 and I_ss:
            t = np.array(rec["t"]) if "t" in rec else args.relax_t / round(args.relax_t) * np.arange(1, len(I1) + 1)
            rel = np.abs(np.array(I1) - I_ss) / abs(I_ss)
            bad = np.nonzero(rel > 1e-6)[0]
            t_relax = float(t[bad[-1] + 1]) if bad.size and bad[-1] + 1 < t.size else (0.0 if not bad.size else float("inf"))
            final = float(rel[-1])
        wall, cpu = rec.get("wall_s", float("nan")), rec.get("cpu_s_max", float("nan"))
        steady_s = ref.get("steady", {}).get("total_s", float("nan"))
        t_done = args.relax_t if rec.get("status") == "ok" else rec.get("t_reached", float("nan"))
        rows.append([name, f"{t_relax:g}", f"{final:.1e}", rec.get("steps", "-"), f"{wall:.1f}", f"{cpu:.1f}",
                     f"{wall / t_done:.3f}", f"{wall / steady_s:.0f}" if steady_s == steady_s else "-",
                     f"{rec.get('others_cores_busy', float('nan')):.1f}",
                     rec.get("status") if rec.get("status") == "ok" else f"{rec.get('status')} at t = {t_done:g}"])
    return rows


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    mach = machine()
    phases = set(args.phases.split(","))
    print(f"machine: {mach['cpu']}, {mach['cores']} cores, {mach['mem_gib']} GiB, load {mach['load_1min']:.2f}; "
          f"{args.ranks} rank(s)")
    for alpha in (float(a) for a in args.alphas.split(",")):
        ref = reference(args, alpha)
        print(f"\nalpha = {alpha:g}, merged modes, depth {args.depth} ({ref.get('n_ados', 0):,} ADOs, "
              f"{ref.get('n_unknowns', 0):,} unknowns, {ref.get('nonzeros', 0):,} nonzeros), rtol {args.rtol:g} "
              f"(atol rtol/1e4), t in [0, {args.window:g}] from rho_00 = down\n")
        if "window" in phases:
            print(markdown_table(["integrator", "steps", "L y", "Krylov its", "ILU set-ups", "max |dI1|/|I1|",
                                  "wall s per unit t", "CPU s per unit t", "others' cores", "peak MiB/rank", "status"],
                                 window_phase(args, alpha)))
        if "relax" in phases:
            print(f"\nrelaxation to the steady state (|I1 - I_ss| <= 1e-6 |I_ss| for good), t in [0, {args.relax_t:g}]:\n")
            print(markdown_table(["integrator", "t_relax", "|I1 - I_ss|/|I_ss| at end", "steps", "wall s", "CPU s",
                                  "wall s per unit t", "run / steady-state solve", "others' cores", "status"],
                                 relax_phase(args, alpha)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
