"""The dry-run memory model (nesb_hpc.sizing) applied to benchmark records and planned runs.

The model itself (baseline + max(assembly transient, solve footprint) per rank, from the solve's
partition, with the ILU fill and GMRES's basis) lives in nesb_hpc/sizing.py, fitted to
bench/_memory_breakdown.py's measurements and checked against every record of results.json by
tests/test_sizing.py. This module only rebuilds a record's problem and asks sizing for the peak:

  a priori       what --dry-run prints: a full GMRES basis (restart vectors);
  a posteriori   the record's iteration count: min(its, restart) vectors.
"""

from __future__ import annotations

import numpy as np

MIB = 2.0**20


def problem_of(rec: dict):
    """(hier, modes, pauli) of a _point.py record (problem "paper" or "drude", its mode form)."""
    from nesb_hpc.bath import RationalCutoff, drude_lorentz, exact_decomposition
    from nesb_hpc.pauli import bloch_vector
    from nesb_hpc.problem import HierarchySpec, Problem

    J = RationalCutoff(alpha=rec["alpha"]) if rec["problem"] == "paper" else drude_lorentz(rec["alpha"])
    baths = [exact_decomposition(J.rational(), T, rec["decomposition"], rec["n_bose"]) for T in (rec["T1"], rec["T2"])]
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(rec["theta"])])
    p = Problem.of(baths, vecs, rec["delta"], HierarchySpec(rec["depth"], modes=rec.get("modes", "separate")))
    return p.hier, p.modes, p.pauli


def restart_of(rec: dict) -> int:
    return int(rec.get("petsc_options", {}).get("ksp_gmres_restart", 100))


def for_record(rec: dict) -> dict | None:
    """sizing.estimate for a successful nesb_hpc record: a-priori and a-posteriori peak of the
    largest rank, and every rank's a-priori peak (MiB)."""
    if rec.get("status") != "ok" or rec.get("tool") != "nesb_hpc" or rec.get("matrix_type", "aij") != "aij":
        return None
    from nesb_hpc.sizing import estimate

    hier, modes, pauli = problem_of(rec)
    method = rec.get("method", "iterative")
    prior = estimate(hier, modes, pauli, rec["ranks"], method, "aij", restart_of(rec))
    post = estimate(hier, modes, pauli, rec["ranks"], method, "aij", restart_of(rec), rec["iterations"])
    return {"sizing_mb": prior.total_bytes_per_rank / MIB,
            "sizing_posterior_mb": post.total_bytes_per_rank / MIB,
            "sizing_ranks_mb": [float(v) / MIB for v in prior.per_rank.peak_bytes]}


def tree_gib(hier, modes, pauli, ranks: int, method: str = "iterative") -> float:
    """A-priori peak resident memory of all ranks together (GiB): what a run may need of the machine."""
    from nesb_hpc.sizing import rank_sizes

    return float(rank_sizes(hier, modes, pauli, ranks, method).peak_bytes.sum()) / 2**30
