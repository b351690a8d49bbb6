"""Halo of the sector partitions without PETSc: per rank, off-rank ADOs its rows reference
(up and down couplings; moves never cross), neighbour ranks, and the tier balance.

    .venv/bin/python bench/scaling/partition_stats.py --depth 11 --ranks 2,8,32 --order rcb,lex
"""
import argparse
import sys
import time

import numpy as np

from nesb_hpc.bath import RationalCutoff, exact_decomposition
from nesb_hpc.hierarchy import TierOrderedHierarchy
from nesb_hpc.liouvillian import HierarchyModes
from nesb_hpc.tier_sweep import SectorPartition, move_pairs


def stats(hier, modes, part, ranks, sample=None):
    up = np.nonzero(modes.up)[0]
    down = np.nonzero((modes.down_c != 0) | (modes.down_a != 0))[0]
    out = []
    for p in (range(ranks) if sample is None else sample):
        lo, hi = part.offsets[p], part.offsets[p + 1]
        g = part.inv[lo:hi]
        cols = []
        for c0 in range(0, g.size, 1 << 17):
            idx = hier.unrank(g[c0:c0 + (1 << 17)]).astype(np.int64)
            t = idx.sum(1)
            for j in up:
                s = t < hier.depth
                nb = idx[s].copy(); nb[:, j] += 1
                cols.append(part.perm[hier.rank(nb)])
            for j in down:
                s = idx[:, j] > 0
                nb = idx[s].copy(); nb[:, j] -= 1
                cols.append(part.perm[hier.rank(nb)])
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        refs_off = int(np.count_nonzero((c < lo) | (c >= hi)))
        gh = np.unique(c[(c < lo) | (c >= hi)])
        owners = np.unique(np.searchsorted(part.offsets, gh, side="right") - 1)
        out.append({"rank": p, "ados": int(hi - lo), "ghosts": int(gh.size), "neighbours": int(owners.size),
                    "offrank_couplings": refs_off, "couplings": int(c.size)})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--ranks", default="2,4,8,16,32")
    ap.add_argument("--order", default="rcb,lex")
    ap.add_argument("--modes", default="merged")
    a = ap.parse_args()
    baths = [exact_decomposition(RationalCutoff(alpha=1.0).rational(), T, "pade", 1) for T in (1.0, 0.9)]
    modes = HierarchyModes.from_baths(baths, form=a.modes)
    hier = TierOrderedHierarchy(modes.size, a.depth)
    for order in a.order.split(","):
        for R in map(int, a.ranks.split(",")):
            t0 = time.time()
            part = SectorPartition.build(hier, modes, R, order=order)
            st = stats(hier, modes, part, R, sample=None if R <= 32 else [0, R // 2, R - 1])
            tb = np.diff(part.tier_bounds, axis=1)       # (ranks, tiers L..0)
            top = tb[:, 0]
            print(f"{order:4s} R={R:4d} L={a.depth} ADOs={hier.size:,} ghosts/local max {max(s['ghosts']/max(s['ados'],1) for s in st):.2f} "
                  f"mean {np.mean([s['ghosts']/max(s['ados'],1) for s in st]):.2f} off-rank couplings {sum(s['offrank_couplings'] for s in st)/sum(s['couplings'] for s in st):.1%} "
                  f"neighbours max {max(s['neighbours'] for s in st)} | top tier max/mean {top.max()/top.mean():.2f} "
                  f"ADOs max/mean {max(s['ados'] for s in st)/np.mean([s['ados'] for s in st]):.2f} ({time.time()-t0:.1f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
