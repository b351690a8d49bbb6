"""Where a rank's memory goes: ``mpirun -n R python bench/_memory_breakdown.py --alpha A --depth L``.

Repeats solve_point's steps one by one (build_block_rows -> impose_steady_state_conditions ->
assemble_matrix -> KSP with nesb_hpc's own "iterative" defaults) and records, per rank, the
current and the peak resident memory after each step, the PETSc-reported sizes of the matrix and
of the ILU factor, and the iteration count, so the dry-run model (nesb_hpc.sizing) can be checked
term by term. Prints one JSON record (rank 0). Used by run_bench.py --breakdown.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _point import build_baths, parse  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_now_mb() -> float:
    with open("/proc/self/statm", encoding="utf-8") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    args, petsc = parse(sys.argv[1:])
    from nesb_hpc import petsc_env

    petsc_env.init(petsc)
    import numpy as np
    from mpi4py import MPI
    from petsc4py import PETSc

    from nesb_hpc.assembly import assemble_matrix, block_rows_to_csr, vector_from_local
    from nesb_hpc.liouvillian import build_block_rows, impose_steady_state_conditions
    from nesb_hpc.partition import ownership, process_range, reverse_numbering, steady_state_rhs
    from nesb_hpc.pauli import BS, bloch_vector
    from nesb_hpc.problem import HierarchySpec, Problem
    from nesb_hpc.routes import SolverSettings
    from nesb_hpc.sizing import estimate
    from nesb_hpc.solver_options import PREFIX, petsc_options, route_options

    comm = MPI.COMM_WORLD
    pcomm = PETSc.Comm(comm)
    steps = []

    def mark(name, **extra):
        steps.append({"step": name, "rss_mb": rss_now_mb(), "peak_mb": rss_peak_mb(), "t": time.perf_counter(), **extra})

    mark("start")
    baths = build_baths(args)
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(args.theta)])
    problem = Problem.of(baths, vecs, args.delta, HierarchySpec(args.depth))
    hier, modes, pauli = problem.hier, problem.modes, problem.pauli
    lo, hi = process_range(ownership(hier, modes, pauli, comm.size), comm.rank, comm.size)  # as point.prepare_point
    rows = impose_steady_state_conditions(build_block_rows(hier, modes, pauli, lo, hi), pauli)
    rows = reverse_numbering(rows, hier.size)
    rhs = steady_state_rhs(rows, hier.size)
    rows_bytes = rows.values.nbytes + rows.cols.nbytes + rows.indptr.nbytes
    mark("rows", bytes=rows_bytes, blocks=rows.n_blocks)
    csr = block_rows_to_csr(rows)
    csr_bytes = sum(a.nbytes for a in csr)
    mark("csr (transient, as inside assemble_matrix)", bytes=csr_bytes, nonzeros=int(csr[1].size))
    del csr
    A, info = assemble_matrix(pcomm, rows, hier.size, args.matrix_type)
    del rows
    mark("matrix (rows freed)", bytes=info.memory_bytes_local, nonzeros=info.nonzeros_local)

    settings = SolverSettings(method="iterative", rtol=args.rtol, max_it=args.max_it)
    b = vector_from_local(pcomm, rhs, BS * hier.size)
    x = b.duplicate()
    ksp = PETSc.KSP().create(comm=pcomm)
    ksp.setOptionsPrefix(PREFIX)
    ksp.setOperators(A)
    with petsc_options(route_options("iterative", settings), settings.petsc_options):
        ksp.setFromOptions()
        ksp.setUp()
        ksp.setUpOnBlocks()  # the ILU factorisation (otherwise done inside the first KSPSolve)
    mark("KSP setup incl. ILU factor")
    ksp.solve(b, x)
    its = ksp.getIterationNumber()
    mark("solve", iterations=its)
    restart = int(PETSc.Options().getInt(PREFIX + "ksp_gmres_restart", 100))
    ksp.destroy()
    # petsc4py 3.18 cannot reach block Jacobi's sub-KSP: factor this rank's diagonal block the same
    # way (ILU(1), RCM, nonzero shift) to read the factor's size
    D = A.getDiagonalBlock()
    pc = PETSc.PC().create(comm=PETSc.COMM_SELF)
    pc.setType("ilu")
    pc.setOperators(D)
    pc.setFactorLevels(1)
    pc.setFactorOrdering("rcm")
    pc.setFactorShift(PETSc.Mat.FactorShiftType.NONZERO)
    pc.setUp()
    finfo = pc.getFactorMatrix().getInfo(PETSc.Mat.InfoType.LOCAL)
    factor = {"bytes": float(finfo["memory"]), "nonzeros": int(finfo["nz_used"]),
              "diag_block_nonzeros": int(D.getInfo(PETSc.Mat.InfoType.LOCAL)["nz_used"])}
    pc.destroy()

    n_local = BS * (hi - lo)
    est = estimate(hier, modes, pauli, comm.size, "iterative", args.matrix_type, restart=restart)
    for obj in (x, b, A):
        obj.destroy()
    t0 = steps[0]["t"]
    for s in steps:
        s["t"] -= t0
    allsteps = comm.gather(steps, root=0)
    locals_ = comm.gather({"n_local_unknowns": n_local, "ados": hi - lo, "ilu": factor}, root=0)
    if comm.rank == 0:
        print(json.dumps({
            "ranks": comm.size, "alpha": args.alpha, "depth": args.depth, "problem": args.problem,
            "n_ados": hier.size, "iterations": its, "restart": restart,
            "per_rank": [{"local": loc, "steps": st} for loc, st in zip(locals_, allsteps)],
            "model": {"matrix_mb": est.matrix_bytes_per_rank / 2**20, "solver_mb": est.solver_bytes_per_rank / 2**20,
                      "total_mb": est.total_bytes_per_rank / 2**20},
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
