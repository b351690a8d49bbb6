"""One QuTiP run (bench/.venv-qutip/bin/python bench/_qutip_point.py SPEC.json): HEOMSolver + steady_state.

SPEC (written by qutip_compare.py from nesb_hpc's own decomposition, so both codes see the SAME
exponents): {"delta", "theta", "depth", "baths": [{"ck_real", "vk_real", "ck_imag", "vk_imag",
"imag_at_zero"}, ...], "solve": bool, "combine": bool}. combine = true lets QuTiP merge an R and an
I exponent of equal rate into one "RI" mode (nesb_hpc's modes = "merged"); the current below holds
for those too (it is linear in the mode's field).

Prints a JSON line after the generator is built (so a steady state that times out still leaves
the build figures) and a final one after steady_state(). Runs in QuTiP's own virtual environment;
imports nothing from nesb_hpc.

Heat current from QuTiP's ADOs (derivation, docs/model.md s3-4). QuTiP's bosonic HEOM (qutip 5,
solver/heom/bofin_solvers.py) for exponent k of bath b, C^R = sum ck e^{-vk t} (type R) and
C^I = sum ck e^{-vk t} (type I), reads

    d/dt r_n = L_S r_n - sum_k n_k vk_k r_n - i sum_k [Q_k, r_{n+e_k}]
               - i sum_{k in R} n_k ck_k [Q_k, r_{n-e_k}] + sum_{k in I} n_k ck_k {Q_k, r_{n-e_k}},

and docs/model.md's hierarchy with phi_k = e^{-vk t} (a_k = ck, eta_kk = -vk, phi_k(0) = 1) is the
same equation for r_n = prod_k s_k^{n_k} rho_n with s_k = ck_k (R) and s_k = i ck_k (I): matching
the up-couplings fixes s_k, and the down-couplings then agree (n_k ck_k / s_k = n_k for R,
n_k ck_k / s_k = -i n_k for I, as docs/model.md has). docs/model.md s4's first-tier part,

    sum_{k in R_b} a_k eta_kk Tr[V rho_{e_k}] + i sum_{k in I_b} a_k eta_kk Tr[V rho_{e_k}],

becomes, with rho_{e_k} = r_{e_k} / s_k, the same expression for R and I exponents,
-sum_{k in b} vk_k Tr[Q_b r_{e_k}]. The boundary term of a decomposition with C^I(0) != 0
(Drude-Lorentz: C^I(0+) = -lambda gamma) is +2 C^I_b(0) Tr[Q_b^2 r_0] for the current OUT of the
bath (QuTiP's heat-transport tutorial, after Kato & Tanimura JCP 145, 224105 (2016), has
j = +sum vk Tr[Q r_e] - 2 C^I(0) Tr[Q^2 r_0] for the current INTO the bath, i.e. -I):

    I_b = -sum_{k in b} vk_k Tr[Q_b r_{e_k}] + 2 C^I_b(0) Tr[Q_b^2 r_0].

docs/model.md s4 (and nesb_hpc.observables) have the opposite sign of the C^I(0) term; with it,
I1 + I2 != 0 and I != 0 at T1 = T2 for Drude-Lorentz baths (this benchmark's validation shows
both). The record keeps the first-tier part (I*_tier1) separately, so either convention can be
rebuilt from it.
"""

from __future__ import annotations

import json
import resource
import sys
import time

T0 = time.perf_counter()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    import numpy as np
    import qutip
    from qutip import sigmax, sigmaz
    from qutip.solver.heom import BosonicBath, HEOMSolver

    t_import = time.perf_counter() - T0
    rss_import = rss_mb()
    delta, theta, depth = spec["delta"], spec["theta"], spec["depth"]
    H = delta * sigmaz()
    Qs = [sigmax(), np.cos(theta) * sigmaz() + np.sin(theta) * sigmax()]
    baths = [BosonicBath(Q, b["ck_real"], b["vk_real"], b["ck_imag"], b["vk_imag"], combine=bool(spec.get("combine", False)), tag=i)
             for i, (Q, b) in enumerate(zip(Qs, spec["baths"]))]

    t0 = time.perf_counter()
    solver = HEOMSolver(H, baths, max_depth=depth)
    t_build = time.perf_counter() - t0
    n_ados = len(solver.ados.labels)
    nnz = int(solver.rhs(0).data.as_scipy().nnz)
    rec = {
        "tool": "qutip", "qutip_version": qutip.__version__, "depth": depth,
        "n_modes": len(solver.ados.exponents), "n_ados": n_ados, "n_unknowns": 4 * n_ados,
        "nonzeros": nnz, "build_s": t_build, "import_s": t_import,
        "baseline_rss_mb": rss_import, "build_peak_rss_mb": rss_mb(), "status": "built",
    }
    print(json.dumps(rec), flush=True)
    if not spec.get("solve", True):
        return 0

    import scipy

    rec["scipy_version"] = scipy.__version__
    t0 = time.perf_counter()
    rho, ados = solver.steady_state(use_mkl=False)
    rec["solve_s"] = time.perf_counter() - t0
    rec["peak_rss_mb"] = rss_mb()
    n = 2

    # true relative residual of the system steady_state() solved: L x = e_0 with row 0 replaced by
    # Tr rho_00 = x[0] + x[3] = 1 (column-stacked 2x2 blocks)
    x = np.asarray(ados._ado_state).reshape(-1)
    r = solver.rhs(0).data.as_scipy() @ x
    r[0] = x[0] + x[n + 1] - 1.0
    rec["residual"] = float(np.linalg.norm(r))
    del r

    labels = solver.ados.labels
    exps = solver.ados.exponents
    rho0 = ados.extract(labels[0]).full()
    currents, imag_parts, tier1 = [], [], []
    for b, (Q, bspec) in enumerate(zip(Qs, spec["baths"])):
        q = Q.full()
        total = 0.0 + 0.0j
        for k, e in enumerate(exps):
            if e.tag != b:
                continue
            label = tuple(1 if i == k else 0 for i in range(len(exps)))
            r = ados.extract(label).full()
            total += -e.vk * np.trace(q @ r)
        tier1.append(float(total.real))
        total += 2.0 * bspec["imag_at_zero"] * np.trace(q @ q @ rho0)
        currents.append(float(total.real))
        imag_parts.append(float(total.imag))
    rec.update({
        "status": "ok", "I1": currents[0], "I2": currents[1], "I_imag": imag_parts,
        "I1_tier1": tier1[0], "I2_tier1": tier1[1], "imag_at_zero": [b["imag_at_zero"] for b in spec["baths"]],
        "conservation": abs(currents[0] + currents[1]) / max(abs(currents[0]), abs(currents[1]), 1e-300),
        "rho00": [[complex(z).real for z in row] for row in rho0],
        "rho00_imag": [[complex(z).imag for z in row] for row in rho0],
    })
    print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
