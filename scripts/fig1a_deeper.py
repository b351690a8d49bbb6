"""One Fig. 1a point one or two depths beyond its ladder (results/README.md, "The turnover").

    python scripts/fig1a_deeper.py ALPHA DEPTH [METHOD]      # theta = pi/4, Delta = 0.05, one Pade term

Solves the point of input/fig1a.toml (merged modes, n_bose = 1) at ALPHA and DEPTH and prints the
current, the solve's iterations, true residual and time, to compare with the ladder's last rungs
in results/fig1a.h5. Serial (no mpirun); METHOD "iterative" (block Jacobi/ILU(1), ~6.7 KB per
ADO) or "tier" (~2.1 KB per ADO).
"""

import resource
import sys
import time

import nesb_hpc

alpha, depth = float(sys.argv[1]), int(sys.argv[2])
method = sys.argv[3] if len(sys.argv) > 3 else "iterative"
t0 = time.perf_counter()
r = nesb_hpc.solve_point(delta=0.05, theta="pi/4", alpha=alpha, T1=1.0, T2=0.9, depth=depth, n_bose=1,
                         tolerance=1e-3, method=method)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(f"alpha = {alpha:g}, theta = pi/4, depth {depth} ({r.n_ados:,} ADOs), {method}: I1 = {r.I1:.6e} "
      f"({r.status}, {r.iterations} iterations, true residual {r.residual:.1e}, "
      f"{time.perf_counter() - t0:.0f} s, {peak:.1f} GiB)", flush=True)
