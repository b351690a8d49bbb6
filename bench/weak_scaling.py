"""Weak-scaling projection to 64 and 1024 ranks, from the partition alone (no PETSc, no solve).

    .venv/bin/python bench/weak_scaling.py            # the table (~35 s of one core)
    .venv/bin/python bench/weak_scaling.py --check    # halo code against build_block_rows (~3 s)

The paper's model (J = pi alpha w^3/(1+w^2)^4, exact Pade decomposition, n_bose = 1; sizes do not
depend on alpha) with merged modes (10) and, for comparison, separate modes (18). For 2, 64 and
1024 ranks it picks the depth whose ADOs per rank are nearest the 2-rank load (--target-ados, the
size measured on 2 ranks: 480,700 ADOs at depth 7, separate), then reports, exactly:

  * per-rank ADOs, unknowns, stored nonzeros (nesb_hpc.sizing.rank_sizes: the solve's partition
    and exact per-row counts) and their spread over ranks;
  * per-rank peak memory by the dry-run model (sizing.estimate, a priori: a full GMRES(100) basis;
    the model of a 1-2 rank machine, see bench/README.md);
  * the halo of a rank: the distinct ADO columns outside its own range that its rows reference
    (4 unknowns each to receive per matrix-vector product), the neighbour ranks they belong to,
    and the share of its stored blocks that point off-rank (couplings block Jacobi drops). It is
    computed for a sample of ranks (first, middle, last, the largest memory peak, the most
    nonzeros; every rank on 2 ranks), from each row's multi-index: the global number of n + e_j,
    n - e_j and n - e_j + e_k follows from the per-coordinate terms of rank(n) (hierarchy.py's
    formula) with prefix sums, O(1) per neighbour instead of a full ranking, in chunks of rows.
    --check verifies every column against build_block_rows on small hierarchies.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _common import fmt, markdown_table  # noqa: E402

from nesb_hpc.bath import RationalCutoff, exact_decomposition  # noqa: E402
from nesb_hpc.hierarchy import TierOrderedHierarchy  # noqa: E402
from nesb_hpc.liouvillian import HierarchyModes, build_block_rows  # noqa: E402
from nesb_hpc.pauli import PauliBlocks, bloch_vector  # noqa: E402
from nesb_hpc.sizing import estimate  # noqa: E402

MIB = 2.0**20
MEASURED_2_RANK_ADOS = 480_700 // 2   # paper's model, separate, depth 7, 2 ranks (bench/results.json)
HALO_BYTES_PER_UNKNOWN = 40.0         # ghost value, its index, the scatter's two sides (not in the model)


def problem(form: str, n_bose: int = 1):
    J = RationalCutoff(alpha=1.0)
    baths = [exact_decomposition(J.rational(), T, "pade", n_bose) for T in (1.0, 0.9)]
    modes = HierarchyModes.from_baths(baths, form=form)
    pauli = PauliBlocks.build(0.1, np.array([bloch_vector(np.pi / 2), bloch_vector(np.pi / 4)]))
    return modes, pauli


def depth_for(n_modes: int, ranks: int, target: float) -> int:
    """The depth whose C(K + L, L) / ranks is nearest target (on a log scale)."""
    best, best_err = 0, math.inf
    for depth in range(1, 200):
        per = math.comb(n_modes + depth, depth) / ranks
        err = abs(math.log(per / target))
        if err < best_err:
            best, best_err = depth, err
        if per > 10 * target:
            break
    return best


# ----------------------------------------------------------------------------- neighbours


class Couplings:
    """The columns build_block_rows puts in a row, without building it: n + e_j (up couplings),
    n - e_j (down couplings, n_j > 0) and n - e_j + e_k (moves, n_j > 0), as global ADO numbers.

    rank(n) = offset(|n|) + sum_{i < K-1} T_i(r_i, n_i), T_i(r, v) = C(r + k, k) - C(r - v + k, k),
    k = K-1-i, r_i = |n| - n_0 - ... - n_{i-1}. Changing n by +-e_j shifts r_i by +-1 for i <= j
    and leaves the terms of i > j alone; a move j -> k shifts the r_i between j and k. With prefix
    sums of T_i(r_i, n_i), T_i(r_i + 1, n_i) and T_i(r_i - 1, n_i) every neighbour's number is a
    few array operations."""

    def __init__(self, hier: TierOrderedHierarchy, modes: HierarchyModes):
        self.hier, self.K, self.L = hier, hier.n_modes, hier.depth
        self.B = hier._binom
        self.offs = hier.tier_offsets
        self.up = np.nonzero(modes.up)[0]
        self.down = np.nonzero((modes.down_c != 0) | (modes.down_a != 0))[0]
        off = modes.hop - np.diag(np.diag(modes.hop))
        self.moves = [(int(j), int(k)) for j, k in zip(*np.nonzero(off))]

    def _T(self, i: int, r: np.ndarray, v: np.ndarray) -> np.ndarray:
        k = self.K - 1 - i
        if k == 0:
            return np.zeros(r.shape, dtype=np.int64)
        return self.B[r + k, k] - self.B[r - v + k, k]

    def columns(self, lo: int, hi: int):
        """For the rows [lo, hi): yields (rows, cols) pairs (row = local index) of every coupling
        except the diagonal block, one neighbour kind at a time."""
        K, L, offs = self.K, self.L, self.offs
        n = self.hier.unrank(np.arange(lo, hi)).astype(np.int64)
        N = n.shape[0]
        t = n.sum(axis=1)
        r = t[:, None] - np.concatenate([np.zeros((N, 1), np.int64), np.cumsum(n, axis=1)[:, :-1]], axis=1)

        def prefix(shift):
            T = np.stack([self._T(i, np.maximum(r[:, i] + shift, 0), n[:, i]) for i in range(K)], axis=1)
            return np.concatenate([np.zeros((N, 1), np.int64), np.cumsum(T, axis=1)], axis=1)

        C0, Cp, Cm = prefix(0), prefix(1), prefix(-1)
        total = C0[:, K]
        rows = np.arange(N)
        below_top = t < L
        for j in self.up:
            s = below_top
            col = (offs[np.minimum(t + 1, L)] + Cp[:, j] + self._T(j, r[:, j] + 1, n[:, j] + 1)
                   + total - C0[:, j + 1])
            yield rows[s], col[s]
        for j in self.down:
            s = n[:, j] > 0
            rs, ns = np.maximum(r[:, j] - 1, 0), np.maximum(n[:, j] - 1, 0)
            col = offs[np.maximum(t - 1, 0)] + Cm[:, j] + self._T(j, rs, ns) + total - C0[:, j + 1]
            yield rows[s], col[s]
        for j, k in self.moves:
            s = n[:, j] > 0
            if j < k:
                col = (offs[t] + C0[:, j] + self._T(j, r[:, j], np.maximum(n[:, j] - 1, 0))
                       + Cp[:, k] - Cp[:, j + 1] + self._T(k, r[:, k] + 1, n[:, k] + 1) + total - C0[:, k + 1])
            else:
                col = (offs[t] + C0[:, k] + self._T(k, r[:, k], n[:, k] + 1) + Cm[:, j] - Cm[:, k + 1]
                       + self._T(j, np.maximum(r[:, j] - 1, 0), np.maximum(n[:, j] - 1, 0)) + total - C0[:, j + 1])
            yield rows[s], col[s]


def halo(cp: Couplings, lo: int, hi: int, bounds: np.ndarray, chunk: int = 1 << 16) -> dict:
    """Off-rank columns of the rows [lo, hi): distinct ADOs, their owners, off-rank block share."""
    seen, refs, blocks = [], 0, 0
    for a in range(lo, hi, chunk):
        b = min(a + chunk, hi)
        blocks += b - a                                  # diagonal blocks
        part = []
        for _, col in cp.columns(a, b):
            blocks += col.size
            outside = col[(col < lo) | (col >= hi)]
            refs += outside.size
            part.append(outside)
        if part:
            seen.append(np.unique(np.concatenate(part)))
    cols = np.unique(np.concatenate(seen)) if seen else np.zeros(0, np.int64)
    owners = np.unique(np.searchsorted(bounds, cols, side="right") - 1)
    return {"halo_ados": int(cols.size), "neighbour_ranks": int(owners.size), "offrank_blocks": refs,
            "blocks": blocks}


def check() -> int:
    """Every column Couplings yields equals build_block_rows' (small hierarchies, both forms)."""
    for form, depth in (("separate", 4), ("merged", 6), ("separate", 2)):
        modes, pauli = problem(form)
        hier = TierOrderedHierarchy(modes.size, depth)
        cp = Couplings(hier, modes)
        for lo, hi in ((0, hier.size), (hier.size // 3, hier.size // 2 + 7)):
            rows = build_block_rows(hier, modes, pauli, lo, hi)
            want = {(int(rr), int(c)) for rr, c in zip(np.repeat(np.arange(hi - lo), np.diff(rows.indptr)), rows.cols)
                    if c != lo + rr}
            got = set()
            for rr, c in cp.columns(lo, hi):
                got |= {(int(x), int(y)) for x, y in zip(rr, c)}
            assert got == want, (form, depth, lo, hi, len(got ^ want))
            # and the halo against the built rows
            bounds = np.array([0, lo, hi, hier.size])
            h = halo(cp, lo, hi, np.unique(bounds), chunk=97)
            built = rows.cols[(rows.cols < lo) | (rows.cols >= hi)]
            assert h["halo_ados"] == np.unique(built).size and h["offrank_blocks"] == built.size
            assert h["blocks"] == rows.n_blocks
        print(f"check {form} depth {depth}: {hier.size:,} ADOs, columns and halo agree with build_block_rows")
    # the halo of every rank of a real partition, and its neighbour ranks, against the built rows
    modes, pauli = problem("merged")
    hier = TierOrderedHierarchy(modes.size, 8)
    ranks = 16
    est = estimate(hier, modes, pauli, ranks, "iterative")
    pr, cp = est.per_rank, Couplings(hier, modes)
    bounds = np.concatenate([pr.lo[::-1], pr.hi[:1]])
    for q in range(ranks):
        lo, hi = int(pr.lo[q]), int(pr.hi[q])
        cols = build_block_rows(hier, modes, pauli, lo, hi).cols
        off = np.unique(cols[(cols < lo) | (cols >= hi)])
        h = halo(cp, lo, hi, bounds, chunk=1000)
        assert h["halo_ados"] == off.size and h["blocks"] == pr.blocks[q]
        assert h["neighbour_ranks"] == np.unique(np.searchsorted(bounds, off, side="right") - 1).size
    print(f"check merged depth 8 on {ranks} ranks: every rank's halo agrees with build_block_rows")
    return 0


# ----------------------------------------------------------------------------- projection


def project(form: str, ranks_list, target: float, restart: int = 100) -> list[dict]:
    modes, pauli = problem(form)
    out = []
    for ranks in ranks_list:
        depth = depth_for(modes.size, ranks, target)
        hier = TierOrderedHierarchy(modes.size, depth)
        t0 = time.process_time()
        est = estimate(hier, modes, pauli, ranks, "iterative", "aij", restart)
        pr = est.per_rank
        bounds = np.concatenate([pr.lo[::-1], pr.hi[:1]])      # part boundaries (ADO order)
        largest = est.largest_rank
        sample = sorted({0, ranks // 2, ranks - 1, largest, int(np.argmax(pr.nonzeros))})
        cp = Couplings(hier, modes)
        halos = {p: halo(cp, int(pr.lo[p]), int(pr.hi[p]), bounds) for p in sample}
        worst = max(sample, key=lambda p: halos[p]["halo_ados"] / max(int(pr.ados[p]), 1))
        h = halos[largest]
        out.append({
            "form": form, "n_modes": modes.size, "ranks": ranks, "depth": depth, "n_ados": hier.size,
            "nonzeros": est.nonzeros, "ados_min": int(pr.ados.min()), "ados_max": int(pr.ados.max()),
            "ados_mean": hier.size / ranks, "nnz_mean": est.nonzeros / ranks, "nnz_max": int(pr.nonzeros.max()),
            "nnz_min": int(pr.nonzeros.min()), "largest_rank": largest,
            "largest_ados": int(pr.ados[largest]), "largest_unknowns": int(pr.unknowns[largest]),
            "largest_nnz": int(pr.nonzeros[largest]), "peak_mib": est.total_bytes_per_rank / MIB,
            "peak_mean_mib": float(pr.peak_bytes.mean()) / MIB,
            "halo_unknowns": 4 * h["halo_ados"], "halo_ratio": h["halo_ados"] / int(pr.ados[largest]),
            "neighbour_ranks": h["neighbour_ranks"], "offrank_share": h["offrank_blocks"] / h["blocks"],
            "halo_mib": HALO_BYTES_PER_UNKNOWN * 4 * h["halo_ados"] / MIB,
            "sample": {int(p): {**halos[p], "ados": int(pr.ados[p]), "nonzeros": int(pr.nonzeros[p])} for p in sample},
            "worst_rank": worst, "worst_halo_ratio": halos[worst]["halo_ados"] / int(pr.ados[worst]),
            "worst_neighbours": max(halos[p]["neighbour_ranks"] for p in sample),
            "cpu_s": time.process_time() - t0,
        })
    return out


def table(rows: list[dict]) -> str:
    header = ["modes", "ranks", "depth", "ADOs", "ADOs/rank (min..max)", "nonzeros/rank max/mean",
              "largest rank: ADOs", "unknowns", "nonzeros", "peak MiB (model)", "halo unknowns",
              "halo/local", "neighbour ranks", "off-rank blocks", "worst sampled halo/local", "halo buffers MiB"]
    out = []
    for r in rows:
        out.append([f"{r['form']} ({r['n_modes']})", r["ranks"], r["depth"], f"{r['n_ados']:,}",
                    f"{r['ados_min']:,}..{r['ados_max']:,}", fmt(r["nnz_max"] / r["nnz_mean"], ".2f"),
                    f"{r['largest_ados']:,}", f"{r['largest_unknowns']:,}", f"{r['largest_nnz']:,}",
                    fmt(r["peak_mib"], ",.0f"), f"{r['halo_unknowns']:,}", fmt(r["halo_ratio"], ".2f"),
                    r["neighbour_ranks"], fmt(100 * r["offrank_share"], ".0f") + "%",
                    fmt(r["worst_halo_ratio"], ".2f") + f" (rank {r['worst_rank']})", fmt(r["halo_mib"], ",.0f")])
    return markdown_table(header, out)


def anchors(path: Path) -> str:
    """The measured 1- and 2-rank runs of the same model (separate, depth 7, 480,700 ADOs)."""
    recs = [r for r in json.loads(path.read_text()) if r.get("tool") == "nesb_hpc" and r.get("problem") == "paper"
            and r.get("depth") == 7 and r.get("status") == "ok" and not r.get("extra_petsc")]
    header = ["alpha", "ranks", "ADOs/rank (max)", "GMRES its", "KSPSolve s", "s per iteration (incl. ILU)",
              "total s", "peak MiB/rank (max)"]
    rows = []
    for r in sorted(recs, key=lambda r: (r["alpha"], r["ranks"])):
        rows.append([fmt(r["alpha"], "g"), r["ranks"], f"{max(r['local_unknowns']) // 4:,}", r["iterations"],
                     fmt(r["ksp_solve_s"], ".1f"), fmt(r["ksp_solve_s"] / r["iterations"], ".3f"),
                     fmt(r["total_s"], ".1f"), fmt(r["peak_rss_mb"], ",.0f")])
    return markdown_table(header, rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="verify the halo code against build_block_rows, then stop")
    p.add_argument("--ranks", default="2,64,1024")
    p.add_argument("--target-ados", type=float, default=MEASURED_2_RANK_ADOS,
                   help="ADOs per rank to keep (default: the measured 2-rank size, 240,350)")
    p.add_argument("--forms", default="merged,separate")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    if args.check:
        return check()
    ranks = [int(x) for x in args.ranks.split(",")]
    rows = []
    for form in args.forms.split(","):
        rows += project(form, ranks, args.target_ados)
    print(f"weak scaling at ~{args.target_ados:,.0f} ADOs per rank (paper's J, n_bose = 1, GMRES(100) + "
          "block Jacobi/ILU(1) memory model, a priori)\n")
    print(table(rows))
    print("\nmeasured anchors (bench/results.json):\n")
    print(anchors(BENCH / "results.json"))
    print("\nCPU seconds per configuration: " + ", ".join(f"{r['form']}/{r['ranks']}: {r['cpu_s']:.1f}" for r in rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
