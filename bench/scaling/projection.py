"""Projection of the tier-sweep design to 64 and 1024 ranks at 10M and 100M ADOs (merged modes,
paper's J, n_bose = 1: 10 modes), and the largest depth at alpha = 4 that 64 ranks of 4 GiB hold.

    .venv/bin/python bench/scaling/projection.py [--alpha 4] [--latency-us 5] [--bandwidth-gbs 2]

Everything comes from measured per-rank figures (bench/scaling/results.json and the halo table
below, from partition_stats.py), combined by a simple model; nothing here is a run at that size.

  iterations   rank-independent by construction (measured equal on 1..32 ranks); their growth
               with depth is extrapolated linearly from the measured depths (8, 11, 13, 14);
  time/iter    t = tau * n_r * imb + 2 (L + 1) * s * (latency + halo_tier_bytes / bandwidth)
                   + matvec exchange, with tau the measured 1-rank cost per ADO per iteration (the
               Python prototype, and the compiled estimate: PETSc's BAIJ ILU(0) + MatMult cost per
               ADO per iteration measured on the same machine), n_r the ADOs of the largest rank,
               s = PC applications per iteration (1 GMRES, 2 BiCGStab), every tier step of the
               sweep a neighbour exchange (sequential: the critical path), the halo (ghost ADOs x
               32 bytes) spread over the L tiers;
  memory       98 MiB + n_r x (measured bytes per ADO of the tier sweep, without the baseline)
               + the halo buffers (2 x 32 bytes per ghost) [+ the prototype's global ADO -> row
               map, 16 bytes per ADO of the WHOLE problem on every rank, which a closed-form
               sector ranking removes: shown separately].

The halo figures come from SectorPartition (whole sectors per rank, recursive coordinate
bisection of the class-sum fractions); at 1024 ranks the sectors of the top tiers are larger than
a rank's share, which unbalances the ranks (ADOs max/mean 3.0 measured at 1.1M and 3.3M ADOs):
the row "sector split" assumes the fix (sectors split along one bath's chain configuration, the
other bath's moves then crossing ranks inside a tier, solved level by level) at the measured
64-rank halo ratio.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 2.0**20
BASELINE = 98 * MIB
K = 10

# partition_stats.py (rcb), measured here: (ranks, depth) -> (ghosts/local max, ADOs max/mean, neighbours max)
HALO = {
    (2, 11): (0.20, 1.00, 1), (4, 11): (0.56, 1.01, 3), (8, 11): (1.25, 1.04, 7), (16, 11): (1.89, 1.11, 11),
    (32, 11): (2.97, 1.22, 18),
    (64, 13): (3.53, 1.21, 23), (64, 15): (3.36, 1.06, 24), (64, 17): (3.20, 1.06, 24),
    (1024, 13): (3.69, 3.00, 25), (1024, 15): (4.00, 3.00, 26),
}


def ados(depth: int) -> int:
    return math.comb(K + depth, depth)


def depth_for(n: float) -> int:
    return min(range(1, 60), key=lambda d: abs(math.log(ados(d) / n)))


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def measured(recs, alpha):
    ok = [r for r in recs if r.get("status") == "ok" and r.get("alpha") == alpha and r.get("modes") == "merged"
          and abs(r.get("theta", 0) - 0.7853981633974483) < 1e-9 and r.get("delta") == 0.1]
    out = {}
    for v in ("tier_dilu", "tier_dilu_bcgs"):
        same = (v, v + "_g100") if v == "tier_dilu" else (v,)      # GMRES(100) with MGS or CGS: same counts
        its = {r["depth"]: r["iterations"] for r in ok if r["variant"] in same and r["ranks"] == 1}
        one = [r for r in ok if r["variant"] == v and r["ranks"] == 1]
        big = max(one, key=lambda r: r["n_ados"]) if one else None
        mem = [r for r in ok if r["variant"] == v]
        mbig = max(mem, key=lambda r: r["n_ados"]) if mem else None
        if big is None:
            continue
        tau = big["ksp_solve_s"] / big["iterations"] / big["n_ados"]
        bpa = (mbig["peak_rss_mb_sum"] * MIB - BASELINE * mbig["ranks"]) / mbig["n_ados"]
        out[v] = {"its": its, "tau": tau, "bytes_per_ado": bpa, "tau_from": (big["depth"], big["ranks"]),
                  "mem_from": (mbig["depth"], mbig["ranks"], mbig["n_ados"])}
    base = [r for r in ok if r["variant"] == "bjacobi_baij_ilu0" and r["ranks"] == 1]
    if base:
        b = max(base, key=lambda r: r["n_ados"])
        out["compiled_tau"] = b["ksp_solve_s"] / b["iterations"] / b["n_ados"]
    return out


def its_at(its: dict, depth: int) -> float:
    d = sorted(its)
    if len(d) == 1:
        return its[d[0]]
    a, b = d[0], d[-1]
    slope = (its[b] - its[a]) / (b - a)
    return its[b] + slope * (depth - b)


def halo(ranks: int, depth: int, split: bool):
    if (ranks, depth) in HALO:
        h = HALO[(ranks, depth)]
    else:
        same = sorted((k for k in HALO if k[0] == ranks), key=lambda k: abs(k[1] - depth))
        h = HALO[same[0]] if same else (3.5, 1.1, 24)
    if split and ranks >= 1024:
        h = (HALO[(64, 17)][0] * 1.25, 1.1, h[2])   # assumed: split sectors, 64-rank halo plus a quarter
    return h


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alpha", type=float, default=4.0)
    p.add_argument("--latency-us", type=float, default=5.0)
    p.add_argument("--bandwidth-gbs", type=float, default=2.0, help="per rank, all ranks sending at once")
    p.add_argument("--mem-gib", type=float, default=4.0)
    args = p.parse_args(argv)
    m = measured(load(HERE / "results.json"), args.alpha)
    lat, bw = args.latency_us * 1e-6, args.bandwidth_gbs * 1e9
    print(f"measured (alpha = {args.alpha}): " + json.dumps({k: v for k, v in m.items()}, default=str))
    rows = []
    for variant, s in (("tier_dilu", 1), ("tier_dilu_bcgs", 2)):
        if variant not in m:
            continue
        mv = m[variant]
        for target in (10e6, 100e6):
            depth = depth_for(target)
            n = ados(depth)
            for ranks in (64, 1024):
                for split in ((False, True) if ranks >= 1024 else (False,)):
                    hr, imb, nbr = halo(ranks, depth, split)
                    n_r = n / ranks * imb
                    ghosts = hr * n_r
                    its = its_at(mv["its"], depth)
                    comm_sweep = 2 * (depth + 1) * (lat * min(nbr, 8) + ghosts * 32 / bw / (depth + 1))
                    comm_mv = lat * nbr + ghosts * 32 / bw
                    t_py = s * (mv["tau"] * n_r + comm_sweep + comm_mv)
                    taus = [("python", mv["tau"])]
                    if "compiled_tau" in m:
                        taus.append(("compiled", m["compiled_tau"]))
                    mem = BASELINE + n_r * mv["bytes_per_ado"] + 64 * ghosts
                    mapb = 16 * n
                    for label, tau in taus:
                        t_it = s * (tau * n_r + comm_sweep + comm_mv)
                        rows.append([variant, f"{n/1e6:.1f}M (L={depth})", ranks, "split" if split else "whole",
                                     f"{n_r:,.0f}", f"{hr:.2f}", f"{its:.0f}", label, f"{t_it*1e3:,.1f}",
                                     f"{t_it*its:,.0f}", f"{comm_sweep/(tau*n_r+comm_sweep+comm_mv):.0%}",
                                     f"{mem/2**30:.2f}", f"{(mem+mapb)/2**30:.2f}"])
    head = ["Krylov", "ADOs", "ranks", "sectors", "ADOs/rank (max)", "ghosts/local", "its", "kernel",
            "ms/iteration", "solve s", "sweep comm share", "GiB/rank", "GiB/rank + prototype map"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    # largest depth on 64 ranks of mem_gib
    for variant in ("tier_dilu", "tier_dilu_bcgs"):
        if variant not in m:
            continue
        best = None
        for depth in range(10, 40):
            n = ados(depth)
            hr, imb, _ = halo(64, depth, False)
            n_r = n / 64 * imb
            mem = BASELINE + n_r * m[variant]["bytes_per_ado"] + 64 * hr * n_r
            if mem <= args.mem_gib * 2**30:
                best = (depth, n, mem)
        if best:
            print(f"\n{variant}: largest depth on 64 ranks x {args.mem_gib:g} GiB: {best[0]} ({best[1]:,} ADOs, "
                  f"{best[2]/2**30:.2f} GiB on the largest rank, closed-form map; "
                  f"+{16*best[1]/2**30:.2f} GiB with the prototype's global map)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
