"""Per-rank sizes of the tier route's sector partition, in closed form (no PETSc, no ADO enumerated):
ADOs per rank (max/mean), ghost ADOs per local ADO, stored scalars, and the numbering's tables.

    .venv/bin/python bench/scaling/partition_stats.py --depth 11,13,16 --ranks 2,8,32,64,1024

Uses nesb_hpc.sectors.SectorPartition.rank_counts (the counts tests/test_sectors.py checks against
the rows build_block_rows makes) on the paper's J, merged modes, n_bose = 1 (10 modes).
"""

import argparse
import sys
import time

import numpy as np

from nesb_hpc.bath import RationalCutoff, exact_decomposition
from nesb_hpc.hierarchy import TierOrderedHierarchy
from nesb_hpc.liouvillian import HierarchyModes
from nesb_hpc.sectors import SectorPartition


def stats(depth: int, ranks: int, modes: HierarchyModes) -> dict:
    hier = TierOrderedHierarchy(modes.size, depth)
    t0 = time.perf_counter()
    part = SectorPartition.build(hier, modes, ranks)
    rc = part.rank_counts(modes)
    ados = rc.ados.astype(float)
    halo = rc.ghosts / np.maximum(ados, 1)
    top = np.array([np.diff(part.tier_bounds(r))[0] for r in range(ranks)])
    return {"depth": depth, "ranks": ranks, "ados": hier.size, "sectors": part.n_sectors,
            "ados_max": int(ados.max()), "imbalance": float(ados.max() / ados.mean()),
            "top_tier_imbalance": float(top.max() / max(top.mean(), 1)),
            "ghosts_per_local_max": float(halo.max()), "ghosts_per_local_mean": float(halo.mean()),
            "scalars_per_ado": float(rc.blocks.sum() / ados.sum()), "table_mib": part.table_bytes() / 2**20,
            "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", default="11,13")
    ap.add_argument("--ranks", default="2,4,8,16,32,64,1024")
    ap.add_argument("--modes", default="merged")
    a = ap.parse_args(argv)
    baths = [exact_decomposition(RationalCutoff(alpha=1.0).rational(), T, "pade", 1) for T in (1.0, 0.9)]
    modes = HierarchyModes.from_baths(baths, form=a.modes)
    head = ["depth", "ADOs", "ranks", "ADOs/rank max", "max/mean", "top tier max/mean", "ghosts/local max",
            "ghosts/local mean", "table MiB"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for depth in map(int, a.depth.split(",")):
        for ranks in map(int, a.ranks.split(",")):
            s = stats(depth, ranks, modes)
            print(f"| {depth} | {s['ados']:,} | {ranks} | {s['ados_max']:,} | {s['imbalance']:.2f} | "
                  f"{s['top_tier_imbalance']:.2f} | {s['ghosts_per_local_max']:.2f} | {s['ghosts_per_local_mean']:.2f} | "
                  f"{s['table_mib']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
