"""Markdown tables from bench/scaling/results.json.

    .venv/bin/python bench/scaling/report.py            # every run (including the variants that lost)
    .venv/bin/python bench/scaling/report.py --tier     # the tier route's summary tables (README.md)

Point of every table: the paper's J, merged modes, theta = pi/4, Delta = 0.1, T1 = 1, T2 = 0.9,
n_bose = 1 (unless the table says otherwise). Times are wall seconds of the fastest of the repeats
kept (run_variants.py --repeat); runs on more ranks than cores are oversubscribed (iterations
exact, times not speed-ups).
"""
import argparse
import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
PI4 = 0.7853981633974483


def f(x, spec):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def full(recs):
    head = ["variant", "modes", "alpha", "theta", "delta", "depth", "ADOs", "ranks", "its", "true res.", "total s",
            "solve s", "s/it", "peak MiB/rank", "KB/ADO (sum of peaks)", "ghosts/local (max)", "I1", "rel. diff I1",
            "status"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in recs:
        over = " (oversub.)" if r.get("oversubscribed") else ""
        print("| " + " | ".join([
            r["variant"], r["modes"], f(r["alpha"], "g"), f(r["theta"], ".4f"), f(r["delta"], "g"), str(r["depth"]),
            f(r.get("n_ados"), ","), f"{r['ranks']}{over}", str(r.get("iterations", "-")), f(r.get("residual"), ".1e"),
            f(r.get("total_s"), ".2f"), f(r.get("ksp_solve_s"), ".2f"), f(r.get("s_per_iteration"), ".4f"),
            f(r.get("peak_rss_mb"), ",.0f"), f(r.get("kb_per_ado"), ".2f"), f(r.get("halo_ratio_max"), ".2f"),
            f(r.get("I1"), ".10e"), f(r.get("I1_rel_diff"), ".1e"), str(r.get("status"))]) + " |")


def pick(recs, variant, alpha, depth, ranks, modes="merged"):
    for r in recs:
        if (r["variant"], r["alpha"], r["depth"], r["ranks"], r["modes"]) == (variant, alpha, depth, ranks, modes) \
                and r.get("status") == "ok" and abs(r["theta"] - PI4) < 1e-9 and r["delta"] == 0.1:
            return r
    return None


def tier(recs):
    print("### Iterations vs ranks (depth 11, 352,716 ADOs)\n")
    ranks = [1, 2, 4, 8, 16, 32]
    print("| route | alpha | " + " | ".join(str(r) for r in ranks) + " |\n|" + "---|" * (len(ranks) + 2))
    for variant, label in (("tier", "tier (GMRES(30))"), ("bjacobi_ilu1", "iterative (block Jacobi/ILU(1))")):
        for alpha in (4.0, 0.5):
            cells = [str(r["iterations"]) if (r := pick(recs, variant, alpha, 11, n)) else "-" for n in ranks]
            print(f"| {label} | {alpha:g} | " + " | ".join(cells) + " |")
    print("\n### Time, iterations and memory, 1 and 2 ranks\n")
    head = ["ADOs", "alpha", "route", "its (1 / 2 ranks)", "total s 1 rank", "total s 2 ranks", "efficiency",
            "KB/ADO 1 rank", "peak MiB/rank (2 ranks)", "load (others' cores)"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for depth in (11, 13):
        for alpha in (4.0, 0.5):
            for variant in ("bjacobi_ilu1", "tier", "tier_g50", "tier_g100", "tier_bcgs", "tier_lgmres"):
                one, two = pick(recs, variant, alpha, depth, 1), pick(recs, variant, alpha, depth, 2)
                if one is None:
                    continue
                eff = one["total_s"] / (2 * two["total_s"]) if two else None
                load = "/".join(f(r.get("others_cores_busy"), ".1f") for r in (one, two) if r)
                print(f"| {one['n_ados']:,} | {alpha:g} | {variant} | {one['iterations']} / "
                      f"{two['iterations'] if two else '-'} | {one['total_s']:.1f} | {f(two and two['total_s'], '.1f')} | "
                      f"{f(eff, '.2f')} | {one['kb_per_ado']:.2f} | {f(two and two['peak_rss_mb'], ',.0f')} | {load} |")
    print("\n### Largest points (2 ranks)\n")
    for r in recs:
        if r.get("variant", "").startswith("tier") and r.get("depth", 0) >= 14:
            print(f"- depth {r['depth']} ({r.get('n_ados', 0):,} ADOs), alpha {r['alpha']:g}, {r['ranks']} ranks, "
                  f"{r['variant']}: {r.get('status')}, {r.get('iterations')} its, true residual "
                  f"{f(r.get('residual'), '.1e')}, total {f(r.get('total_s'), ',.0f')} s, peak "
                  f"{f(r.get('peak_rss_mb'), ',.0f')} MiB/rank ({f(r.get('kb_per_ado'), '.2f')} KB/ADO), "
                  f"I1 = {f(r.get('I1'), '.10e')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", action="store_true")
    args = ap.parse_args()
    recs = json.loads((HERE / "results.json").read_text())
    tier(recs) if args.tier else full(recs)


if __name__ == "__main__":
    main()
