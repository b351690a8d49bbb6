"""A per-rank peak-memory model fitted to the measurements of bench/_memory_breakdown.py.

What the breakdown shows (AIJ, iterative route; numbers for 1 rank, depth 7, 480,700 ADOs):

  * baseline ~98 MiB per rank (Python, numpy, PETSc, MPI), not 150;
  * the Python row building (liouvillian.build_block_rows) peaks at ~366 B per stored 4x4 block
    (per-entry row/col/coef/kind arrays, their lexsort copies, the (nb, 4, 4) `kinds[knd]`
    temporary and the values), and block_rows_to_csr adds ~90 B per block on top: ~470 B per
    block in all, against 128 B of values that survive;
  * that memory is freed before the KSP exists and glibc hands it to PETSc again, so the peak is
    the LARGER of the assembly transient and the solve-phase footprint, not their sum;
  * solve phase: AIJ matrix (12 B per nonzero + 4 B per row), ILU(1) factor (12 B per factor
    nonzero; measured fill 2.9 x the local block on 1 rank, 1.2-1.3 x on each of 2 ranks), and
    GMRES's basis, allocated as iterations proceed: (min(its, restart) + ~6) vectors of 8 B per
    local unknown;
  * ranks own very different row counts (the partition balances nonzeros; top-tier rows are short),
    so the Krylov part must use the rank's own rows, not n / ranks.

    peak_r = 98 MiB + max(470 B * blocks_r, 12 B * nnz_r + 4 B * n_r + 12 B * f * nnz_r + 8 B * (k + 6) * n_r)

with f = 2.9 (1-rank fill, an upper bound for more ranks) and k = restart (a priori; or
min(iterations, restart) a posteriori). blocks_r, nnz_r, n_r come from the partition
(assembly.ado_ownership) and the exact per-tier counts (sizing.nonzeros_per_tier).
"""

from __future__ import annotations

import numpy as np

BASELINE_MIB = 98.0
ASSEMBLY_BYTES_PER_BLOCK = 470.0
ILU_FILL = 2.9
KRYLOV_EXTRA_VECTORS = 6


def local_sizes(hier, modes, pauli, ranks: int) -> list[dict]:
    """Per rank: ADOs, unknowns, blocks, AIJ nonzeros (tier averages inside a tier), as solve_point partitions."""
    from nesb_hpc.sizing import nonzeros_per_tier

    blocks_t, aij_t = nonzeros_per_tier(hier, modes, pauli)
    # the partition of assembly.ado_ownership (equal stored nonzeros), repeated here so that the
    # drivers never import petsc4py (which would start an MPI singleton in the driver process)
    bounds = hier.partition(ranks, aij_t / np.diff(hier.tier_offsets))
    offs = hier.tier_offsets
    counts = np.diff(offs)
    out = []
    for r in range(ranks):
        lo, hi = int(bounds[r]), int(bounds[r + 1])
        share = np.clip(np.minimum(offs[1:], hi) - np.maximum(offs[:-1], lo), 0, None) / counts
        out.append({"ados": hi - lo, "unknowns": 4 * (hi - lo), "blocks": float(share @ blocks_t),
                    "nonzeros": float(share @ aij_t)})
    return out


def peak_mib(sizes: list[dict], restart: int = 100, iterations: int | None = None) -> list[dict]:
    """The model's per-rank assembly, solve and peak MiB (iterations given: a-posteriori Krylov size)."""
    k = restart if iterations is None else min(iterations, restart)
    out = []
    for s in sizes:
        assembly = ASSEMBLY_BYTES_PER_BLOCK * s["blocks"]
        matrix = 12.0 * s["nonzeros"] + 4.0 * s["unknowns"]
        factor = 12.0 * ILU_FILL * s["nonzeros"]
        krylov = 8.0 * (k + KRYLOV_EXTRA_VECTORS) * s["unknowns"]
        solve = matrix + factor + krylov
        out.append({"assembly_mib": assembly / 2**20, "solve_mib": solve / 2**20,
                    "peak_mib": BASELINE_MIB + max(assembly, solve) / 2**20})
    return out


def for_record(rec: dict, restart: int = 100) -> dict | None:
    """Model values for a _point.py record (paper or drude problem): a-priori and a-posteriori peaks."""
    if rec.get("status") != "ok" or rec.get("tool") != "nesb_hpc" or rec.get("matrix_type", "aij") != "aij":
        return None
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _point import build_baths, parse

    from nesb_hpc.hierarchy import TierOrderedHierarchy
    from nesb_hpc.liouvillian import HierarchyModes
    from nesb_hpc.pauli import PauliBlocks, bloch_vector

    args, _ = parse(["--problem", rec["problem"], "--alpha", str(rec["alpha"]), "--depth", str(rec["depth"]),
                     "--n-bose", str(rec["n_bose"]), "--decomposition", rec["decomposition"],
                     "--T1", str(rec["T1"]), "--T2", str(rec["T2"])])
    baths = build_baths(args)
    modes = HierarchyModes.from_baths(baths)
    hier = TierOrderedHierarchy(modes.size, rec["depth"])
    pauli = PauliBlocks.build(rec["delta"], np.array([bloch_vector(np.pi / 2), bloch_vector(rec["theta"])]))
    sizes = local_sizes(hier, modes, pauli, rec["ranks"])
    prior = peak_mib(sizes, restart)
    post = peak_mib(sizes, restart, rec["iterations"])
    return {"model2_mb": max(p["peak_mib"] for p in prior),
            "model2_posterior_mb": max(p["peak_mib"] for p in post),
            "model2_ranks_mb": [p["peak_mib"] for p in prior],
            "local_unknowns": [s["unknowns"] for s in sizes]}
