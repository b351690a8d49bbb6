"""Markdown tables from bench/scaling/results.json (every variant, including the ones that lost).

    .venv/bin/python bench/scaling/report.py > /tmp/tables.md
"""
import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent


def f(x, spec):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def main():
    recs = json.loads((HERE / "results.json").read_text())
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


if __name__ == "__main__":
    main()
