"""One tier-sweep run: ``mpirun -n R python bench/scaling/tier_point.py --alpha A --depth L [...] [-- PETSc options]``.

Solves the point of bench/_point.py (same arguments and JSON record fields) with
nesb_hpc.tier_sweep: sector partition, the Liouvillian as a MatShell on Kronecker-factored
scalar CSR pieces, GMRES (or -nesb_ksp_type ...) right-preconditioned by the tier-sweep block DILU
(PCSHELL). Variants (--variant):

  tier_dilu           GMRES(100), MGS (today's Krylov settings)
  tier_dilu_gK        GMRES(K) with classical Gram-Schmidt + refinement if needed (K = 30, 50, ...)
  tier_dilu_<ksp>     another Krylov method (bcgs, bcgsl, ibcgs, tfqmr, gcr, fgmres)
  tier_jacobi         the same operator, point-block Jacobi (D = A_nn): what the sweep adds

--check compares the MatShell with the assembled Liouvillian of nesb_hpc (build_block_rows +
impose_steady_state_conditions, ADO numbering) on a random vector (small problems only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

T_START = time.perf_counter()


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="tier_dilu")
    p.add_argument("--problem", choices=("paper", "drude"), default="paper")
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--depth", type=int, required=True)
    p.add_argument("--n-bose", type=int, default=1)
    p.add_argument("--decomposition", choices=("pade", "matsubara"), default="pade")
    p.add_argument("--delta", type=float, default=0.1)
    p.add_argument("--theta", type=float, default=0.7853981633974483)
    p.add_argument("--T1", type=float, default=1.0)
    p.add_argument("--T2", type=float, default=0.9)
    p.add_argument("--modes", default="merged", choices=("separate", "merged"))
    p.add_argument("--rtol", type=float, default=1e-12)
    p.add_argument("--max-it", type=int, default=3000)
    p.add_argument("--check", action="store_true")
    if "--" in argv:
        k = argv.index("--")
        ours, petsc = argv[:k], argv[k + 1:]
    else:
        ours, petsc = argv, []
    return p.parse_args(ours), petsc


def variant_options(v: str) -> dict:
    o = {"ksp_type": "gmres", "ksp_gmres_restart": "100", "ksp_gmres_modifiedgramschmidt": "true"}
    if v in ("tier_dilu", "tier_jacobi"):
        return o
    tail = v.split("_")[-1]
    if tail.startswith("g") and tail[1:].isdigit():
        return {"ksp_type": "gmres", "ksp_gmres_restart": tail[1:], "ksp_gmres_cgs_refinement_type": "refine_ifneeded"}
    if tail.startswith("mgs") and tail[3:].isdigit():
        return {"ksp_type": "gmres", "ksp_gmres_restart": tail[3:], "ksp_gmres_modifiedgramschmidt": "true"}
    if tail.startswith("fg") and tail[2:].isdigit():
        return {"ksp_type": "fgmres", "ksp_gmres_restart": tail[2:]}
    if tail.startswith("bcgsl"):
        return {"ksp_type": "bcgsl", "ksp_bcgsl_ell": tail[5:] or "2"}
    return {"ksp_type": tail}


def main(argv=None) -> int:
    args, petsc = parse(sys.argv[1:] if argv is None else argv)
    from nesb_hpc import petsc_env

    petsc_env.init(petsc)
    import numpy as np
    from mpi4py import MPI
    from petsc4py import PETSc

    from nesb_hpc.bath import RationalCutoff, drude_lorentz, exact_decomposition
    from nesb_hpc.hierarchy import TierOrderedHierarchy
    from nesb_hpc.liouvillian import HierarchyModes
    from nesb_hpc.observables import observable_indices, steady_state_observables
    from nesb_hpc.pauli import PauliBlocks, bloch_vector
    from nesb_hpc.point import _gather_entries, peak_rss_mb
    from nesb_hpc.steady_state import SolverSettings, acceptable_residual, petsc_options
    from nesb_hpc.tier_sweep import BS, SectorPartition, TierSweep

    comm = MPI.COMM_WORLD
    pcomm = PETSc.COMM_WORLD
    t_import = time.perf_counter() - T_START
    J = RationalCutoff(alpha=args.alpha) if args.problem == "paper" else drude_lorentz(args.alpha)
    baths = [exact_decomposition(J.rational(), T, args.decomposition, args.n_bose) for T in (args.T1, args.T2)]
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(args.theta)])
    modes = HierarchyModes.from_baths(baths, form=args.modes)
    hier = TierOrderedHierarchy(modes.size, args.depth)
    pauli = PauliBlocks.build(args.delta, vecs)
    N = hier.size
    comm.Barrier()
    t0 = time.perf_counter()
    part = SectorPartition.build(hier, modes, comm.size)
    t_part = time.perf_counter()
    op = TierSweep(pcomm, hier, modes, pauli, part)
    t_rows = time.perf_counter()
    n = op.n
    A = PETSc.Mat().createPython(((BS * n, BS * N), (BS * n, BS * N)), context=op, comm=pcomm)
    A.setUp()
    if args.check:
        return check(args, comm, pcomm, op, A, hier, modes, pauli, part)
    settings = SolverSettings(method="iterative", rtol=args.rtol, max_it=args.max_it)
    defaults = {"ksp_rtol": repr(args.rtol), "ksp_atol": "1e-50", "ksp_max_it": str(args.max_it),
                "ksp_pc_side": "right", **variant_options(args.variant)}
    ksp = PETSc.KSP().create(comm=pcomm)
    ksp.setOptionsPrefix("nesb_")
    ksp.setOperators(A)
    pc = ksp.getPC()
    if args.variant == "tier_jacobi":
        op.setup()   # pivots, then overwrite with plain point-block Jacobi
        D = np.broadcast_to(op.LH, (n, BS, BS)) + op.d[:, None, None] * np.eye(BS)
        D = D.copy()
        if op.r00 >= 0:
            D[op.r00] = np.eye(BS) if op.conserved else D[op.r00]
            if not op.conserved:
                D[op.r00, 0, :] = [1, 0, 0, 0]
        op.Dinv = np.linalg.inv(D)

        class Jac:
            def apply(self, pc, x, y):
                X = x.getArray(readonly=True).reshape(-1, BS)
                y.getArray()[:] = np.matmul(op.Dinv, X[:, :, None])[:, :, 0].reshape(-1)
        pc.setType(PETSc.PC.Type.PYTHON)
        pc.setPythonContext(Jac())
    else:
        pc.setType(PETSc.PC.Type.PYTHON)
        pc.setPythonContext(op)
    b = A.createVecLeft()
    b.set(0.0)
    barr = b.getArray()          # every rank: the write invalidates PETSc's cached norm everywhere
    if op.r00 >= 0:
        barr[BS * op.r00] = 1.0
    del barr
    x = b.duplicate()
    with petsc_options(defaults, ()) as effective:
        ksp.setFromOptions()
    comm.Barrier()
    t_setup0 = time.perf_counter()
    cpu0 = time.process_time()
    if args.variant != "tier_jacobi":
        op.setup()
    t_setup = time.perf_counter()
    if effective.get("ksp_type") in ("bcgs", "bcgsl", "ibcgs", "tfqmr", "qmrcgs"):
        # BiCG-type methods break down on b = e_0 (the shadow residual sees one entry): start
        # from x0 = M^{-1} b, whose residual is dense
        op.apply(None, b, x)
        ksp.setInitialGuessNonzero(True)
    ksp.solve(b, x)
    reason = ksp.getConvergedReason()
    r = b.duplicate()
    A.mult(x, r)
    r.aypx(-1.0, b)
    residual = float(r.norm() / b.norm())
    its = ksp.getIterationNumber()
    accept = acceptable_residual(settings)
    refinements = 0
    while reason > 0 and residual > accept and refinements < 3:
        ksp.setInitialGuessNonzero(True)
        ksp.solve(b, x)
        reason = ksp.getConvergedReason()
        A.mult(x, r)
        r.aypx(-1.0, b)
        residual = float(r.norm() / b.norm())
        its += ksp.getIterationNumber()
        refinements += 1
    t_solve = time.perf_counter()
    cpu_solve = time.process_time() - cpu0
    wanted = observable_indices(hier)
    ado, comp = np.divmod(wanted, BS)
    y = _gather_entries(x, BS * part.perm[ado] + comp)
    ok = reason > 0 and residual <= accept
    obs = steady_state_observables(y, hier, modes, pauli.coupling_vectors) if ok else None
    I = obs.currents if obs is not None else [float("nan")] * 2
    mem = op.stored_bytes()
    peaks = comm.gather(peak_rss_mb(), root=0)
    mx = lambda v: comm.allreduce(v, op=MPI.MAX)
    ghosts = comm.gather(op.n_ghost, root=0)
    nbrs = comm.gather(op.ghost_owner_count, root=0)
    ados_r = comm.gather(op.n, root=0)
    blocks = comm.allreduce(op.blocks)
    mems = comm.gather(mem, root=0)
    cpus = comm.gather(cpu_solve, root=0)
    tmax = {k: mx(v) for k, v in (("partition_s", t_part - t0), ("rows_s", t_rows - t_part),
                                  ("pc_setup_s", t_setup - t_setup0), ("ksp_solve_s", t_solve - t_setup),
                                  ("solve_s", t_solve - t_setup0), ("total_s", t_solve - t0))}
    if comm.rank == 0:
        name = "KSP" if reason > 0 else "KSP"
        rname = [k for k in dir(PETSc.KSP.ConvergedReason) if getattr(PETSc.KSP.ConvergedReason, k) == reason]
        rec = {
            "tool": "nesb_hpc.tier_sweep", "variant": args.variant, "problem": args.problem, "ranks": comm.size,
            "alpha": args.alpha, "depth": args.depth, "n_bose": args.n_bose, "decomposition": args.decomposition,
            "delta": args.delta, "theta": args.theta, "T1": args.T1, "T2": args.T2, "modes": args.modes,
            "n_modes": modes.size, "n_ados": N, "n_unknowns": BS * N, "blocks": blocks,
            "n_sectors": part.n_sectors, "dilu_is_ilu0": op.ilu0,
            "petsc_options": {**effective}, "extra_petsc": " ".join(petsc),
            **tmax, "solve_cpu_s_ranks": cpus, "import_s": t_import, "applies": op.applies, "mults": op.mults,
            "status": "ok" if ok else "failed", "reason": rname[0] if rname else str(reason),
            "iterations": its, "refinements": refinements, "residual": residual,
            "peak_rss_mb": max(peaks), "peak_rss_mb_ranks": peaks,
            "ados_per_rank": ados_r, "ghost_ados_per_rank": ghosts, "neighbour_ranks": nbrs,
            "halo_ratio_max": max(g / max(a, 1) for g, a in zip(ghosts, ados_r)),
            "stored_bytes_rank0": mems[0], "stored_bytes_sum": {k: sum(m[k] for m in mems) for k in mems[0]},
            "I1": float(I[0]), "I2": float(I[1]),
            "conservation": abs(I[0] + I[1]) / max(abs(I[0]), abs(I[1]), 1e-300),
            "petsc_version": ".".join(map(str, PETSc.Sys.getVersion())),
        }
        print(json.dumps(rec), flush=True)
    for obj in (ksp, A, b, x, r):
        obj.destroy()
    op.free()
    comm.Barrier()
    return 0 if ok else 3


def check(args, comm, pcomm, op, A, hier, modes, pauli, part) -> int:
    """The MatShell against nesb_hpc's own rows (whole matrix on every rank: small problems)."""
    import numpy as np
    import scipy.sparse as sp

    from nesb_hpc.liouvillian import build_block_rows, impose_steady_state_conditions
    from nesb_hpc.tier_sweep import BS

    N = hier.size
    rows = impose_steady_state_conditions(build_block_rows(hier, modes, pauli, 0, N), pauli)
    brow = np.repeat(np.arange(N), np.diff(rows.indptr))
    M = sp.bsr_matrix((rows.values, rows.cols, rows.indptr), shape=(BS * N, BS * N)).tocsr()
    rng = np.random.default_rng(1)
    xg = rng.standard_normal(BS * N)
    yg = M @ xg
    # x in the partition's numbering
    x = A.createVecRight()
    y = A.createVecLeft()
    ados = part.inv[op.lo:op.hi]
    x.getArray()[:] = xg.reshape(N, BS)[ados].reshape(-1)
    A.mult(x, y)
    err = np.max(np.abs(y.getArray().reshape(-1, BS) - yg.reshape(N, BS)[ados]))
    err = comm.allreduce(err, op=__import__("mpi4py").MPI.MAX)
    # the preconditioner: M_dilu y = x solved, then check (D+L) D^-1 (D+U) z = x on one rank
    op.setup()
    pc_err = float("nan")
    if comm.size == 1:
        order = part.inv                      # row -> ADO
        P = sp.csr_matrix((np.ones(N), (np.arange(N), order)), shape=(N, N))
        Pk = sp.kron(P, sp.eye(BS)).tocsr()
        Ap = (Pk @ M @ Pk.T).tocsr()          # matrix in the partition's row order
        t_row = hier.tier_of_rank(order)
        phi_row = np.zeros(N)
        # strictly earlier / later blocks (rows are already in the sweep order)
        Ab = Ap.tobsr(blocksize=(BS, BS))
        Lm = sp.tril(Ap, k=0).tolil()
        # block lower part: block columns < block row
        coo = Ap.tocoo()
        br, bc = coo.row // BS, coo.col // BS
        low = bc < br
        upp = bc > br
        Lp = sp.csr_matrix((coo.data[low], (coo.row[low], coo.col[low])), shape=Ap.shape)
        Up = sp.csr_matrix((coo.data[upp], (coo.row[upp], coo.col[upp])), shape=Ap.shape)
        Dm = sp.block_diag([np.linalg.inv(d) for d in op.Dinv]).tocsr()
        Dinv = sp.block_diag(list(op.Dinv)).tocsr()
        Mp = (Dm + Lp) @ Dinv @ (Dm + Up)
        xv = rng.standard_normal(BS * N)
        xx = A.createVecRight()
        yy = A.createVecLeft()
        xx.getArray()[:] = xv
        op.apply(None, xx, yy)
        pc_err = float(np.max(np.abs(Mp @ yy.getArray() - xv)) / np.max(np.abs(xv)))
        # DILU property: diag of M equals diag of A
        dd = (Mp - Ap).tobsr(blocksize=(BS, BS))
        dg = max(float(np.max(np.abs(dd.diagonal()))), 0.0)
        if comm.rank == 0:
            print(f"block-diagonal of M - A: {dg:.2e}")
    # the preconditioner on a vector given in ADO numbering: the same on every rank count
    xa = np.random.default_rng(7).standard_normal((N, BS))
    xx = A.createVecRight()
    yy = A.createVecLeft()
    xx.getArray()[:] = xa[ados].reshape(-1)
    op.apply(None, xx, yy)
    za = np.zeros((N, BS))
    za[ados] = yy.getArray().reshape(-1, BS)
    za = comm.allreduce(za)
    np.save(f"/tmp/pc_check_{args.modes}_{comm.size}.npy", za)
    if comm.rank == 0:
        try:
            z1 = np.load(f"/tmp/pc_check_{args.modes}_1.npy")
            print("pc vs 1 rank:", float(np.max(np.abs(z1 - za)) / np.max(np.abs(z1))))
        except OSError:
            pass
        print(json.dumps({"check": "matshell_vs_build_block_rows", "ranks": comm.size, "n_ados": N,
                          "modes": args.modes, "max_abs_err": err, "pc_residual_1rank": pc_err,
                          "ghosts_rank0": op.n_ghost, "n_sectors": part.n_sectors}))
    return 0 if err < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
