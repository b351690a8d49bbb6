"""Projection of the tier route to 64 and 1024 ranks at ~10M and ~100M ADOs (merged modes, paper's
J, n_bose = 1: 10 modes), and the largest depth 64 ranks of 4 GiB hold at alpha = 4.

    .venv/bin/python bench/scaling/projection.py [--alpha 4] [--latency-us 5] [--bandwidth-gbs 2]

Nothing here is a run at that size. The inputs are measured (bench/scaling/results.json: the
production route, variants "tier" = its default GMRES(30) and "tier_bcgs") or exact:

  per rank     ADOs, ghost ADOs and the largest rank, from the sector partition the solve would
               use (sectors.SectorPartition.rank_counts: closed form, exact for any rank count);
  memory       the dry-run model of the largest rank (sizing.estimate, method "tier": checked
               against every measured run by tests/test_sizing.py), with the route's Krylov vectors;
  iterations   independent of the ranks (measured equal on 1 to 32 ranks); their growth with
               depth extrapolated linearly from the measured depths on one rank;
  time/iter    s (tau n_r + sweep + product), tau the measured one-rank solve time per ADO per
               preconditioner application (apply + product + Krylov work), n_r the largest rank's
               ADOs, s = applications per iteration (1 GMRES, 2 BiCGStab); the sweep does
               2 (L + 1) dependent neighbour exchanges (latency each, at most 8 neighbours in
               flight) and moves each ghost's 32 bytes twice; the product one exchange.

Sectors are whole (the route as it is): at 1024 ranks a rank's share of a top tier is smaller than
the largest sectors, so the largest rank holds several times the mean (the "max/mean" column). The
"split" rows assume sectors split to the mean (the fix docs/tier_sweep.md s7 describes) with the
64-rank halo ratio plus a quarter; they are what the route would do after that change, not now.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 2.0**20
VARIANTS = {"tier": ("gmres", 1), "tier_bcgs": ("bcgs", 2)}


def problem(depth: int, alpha: float):
    sys.path.insert(0, str(HERE.parents[1] / "tests"))
    from heom_helpers import paper_problem

    return paper_problem("merged", depth, 1, alpha)


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def measured(recs, alpha):
    ok = [r for r in recs if r.get("status") == "ok" and r.get("alpha") == alpha and r.get("modes") == "merged"
          and abs(r.get("theta", 0) - 0.7853981633974483) < 1e-9 and r.get("delta") == 0.1 and r.get("n_bose") == 1]
    out = {}
    for v, (_, s) in VARIANTS.items():
        its = {r["depth"]: r["iterations"] for r in ok if r["variant"] == v}
        one = [r for r in ok if r["variant"] == v and r["ranks"] == 1]
        if not one:
            continue
        big = max(one, key=lambda r: (r["n_ados"], -r["ksp_solve_s"]))
        tau = big["ksp_solve_s"] / big["iterations"] / s / big["n_ados"]
        out[v] = {"its": its, "tau": tau, "tau_from": (big["depth"], big["ranks"], big.get("others_cores_busy"))}
    return out


def its_at(its: dict, depth: int) -> float:
    d = sorted(its)
    if len(d) == 1:
        return its[d[0]]
    a, b = d[0], d[-1]
    return its[b] + (its[b] - its[a]) / (b - a) * (depth - b)


def depth_for(n: float) -> int:
    return min(range(1, 60), key=lambda d: abs(math.log(math.comb(10 + d, d) / n)))


def partition(depth: int, ranks: int, alpha: float, ksp: str):
    """(ADOs, largest rank's ADOs, its ghosts, max/mean, its estimated peak bytes, neighbours bound)."""
    from nesb_hpc.sizing import estimate

    p = problem(depth, alpha)
    est = estimate(p.hier, p.modes, p.pauli, ranks, "tier", ksp_type=None if ksp == "gmres" else ksp)
    pr = est.per_rank
    r = int(pr.ados.argmax())
    return p.n_ados, int(pr.ados[r]), int(pr.ghosts[r]), float(pr.ados.max() / pr.ados.mean()), \
        float(est.total_bytes_per_rank), est


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alpha", type=float, default=4.0)
    p.add_argument("--latency-us", type=float, default=5.0)
    p.add_argument("--bandwidth-gbs", type=float, default=2.0, help="per rank, all ranks sending at once")
    p.add_argument("--mem-gib", type=float, default=4.0)
    args = p.parse_args(argv)
    m = measured(load(HERE / "results.json"), args.alpha)
    lat, bw = args.latency_us * 1e-6, args.bandwidth_gbs * 1e9
    print(f"measured (alpha = {args.alpha}): " + json.dumps(m, default=str))
    head = ["Krylov", "ADOs", "ranks", "sectors", "ADOs/rank (max)", "max/mean", "ghosts/local", "its",
            "ms/iteration", "solve s", "comm share", "GiB/rank (largest)"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for variant, (ksp, s) in VARIANTS.items():
        if variant not in m:
            continue
        mv = m[variant]
        for target in (10e6, 100e6):
            depth = depth_for(target)
            for ranks in (64, 1024):
                n, n_r, ghosts, imb, mem, _ = partition(depth, ranks, args.alpha, ksp)
                for split in ((False, True) if ranks >= 1024 else (False,)):
                    if split:     # assumed: sectors split to the mean, 64-rank halo ratio plus a quarter
                        _, n64, g64, _, _, _ = partition(depth, 64, args.alpha, ksp)
                        n_r, ghosts = n / ranks, 1.25 * g64 / n64 * n / ranks
                        mem = None
                    its = its_at(mv["its"], depth)
                    sweep = 2 * (depth + 1) * lat + 2 * ghosts * 32 / bw
                    product = lat + ghosts * 32 / bw
                    work = mv["tau"] * n_r
                    t_it = s * (work + sweep + product)
                    print("| " + " | ".join(str(x) for x in [
                        variant, f"{n / 1e6:.1f}M (L={depth})", ranks, "split (assumed)" if split else "whole",
                        f"{n_r:,.0f}", f"{imb:.2f}" if not split else "1.00", f"{ghosts / n_r:.2f}", f"{its:.0f}",
                        f"{t_it * 1e3:,.1f}", f"{t_it * its:,.0f}", f"{(sweep + product) / (work + sweep + product):.0%}",
                        f"{mem / 2**30:.2f}" if mem else "-"]) + " |", flush=True)
    for variant, (ksp, _) in VARIANTS.items():
        best = None
        for depth in range(14, 30):
            n, n_r, _, _, mem, _ = partition(depth, 64, args.alpha, ksp)
            if mem > args.mem_gib * 2**30:
                break
            best = (depth, n, n_r, mem)
        if best:
            print(f"\n{variant}: largest depth on 64 ranks x {args.mem_gib:g} GiB: {best[0]} ({best[1]:,} ADOs, "
                  f"largest rank {best[2]:,} ADOs, {best[3] / 2**30:.2f} GiB by the dry-run model)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
