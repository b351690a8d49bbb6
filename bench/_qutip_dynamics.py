"""One QuTiP transient (python bench/_qutip_dynamics.py SPEC.json): HEOMSolver.run with its ADOs.

SPEC (written by dynamics_qutip.py from nesb_hpc's own decomposition, so both codes see the SAME
exponents): {"delta", "vectors": [[x, y, z], [x, y, z]], "depth", "baths": [{"ck_real", "vk_real",
"ck_imag", "vk_imag", "imag_at_zero"}, ...], "combine": bool, "bloch0": [x, y, z], "tlist": [...],
"rtol", "atol"}. Prints one JSON line: per time t, I1, I2, <V1 B1>, <V2 B2> and rho_00's Bloch
vector. Imports nothing from nesb_hpc (it runs in whatever environment has QuTiP).

Readouts from QuTiP's ADOs r_n (derivation: _qutip_point.py's docstring; docs/dynamics.md s6).
QuTiP's tier-0 equation is d/dt r_0 = L_S r_0 - i sum_k [Q_k, r_{e_k}], for every exponent type
(R, I and the combined RI), so Tr_B(B_b rho_tot) = sum_{k in b} r_{e_k} and

    <V_b B_b> = sum_{k in b} Tr[Q_b r_{e_k}],
    I_b = -sum_{k in b} vk_k Tr[Q_b r_{e_k}] + 2 C^I_b(0) Tr[Q_b^2 r_0]     (energy out of bath b).
"""

from __future__ import annotations

import json
import sys
import time


def run(spec: dict) -> dict:
    import numpy as np
    import qutip
    from qutip import qeye, sigmax, sigmay, sigmaz
    from qutip.solver.heom import BosonicBath, HEOMSolver

    sig = [sigmax(), sigmay(), sigmaz()]
    H = spec["delta"] * sigmaz()
    Qs = [sum(c * s for c, s in zip(v, sig)) for v in spec["vectors"]]
    baths = [BosonicBath(Q, b["ck_real"], b["vk_real"], b["ck_imag"], b["vk_imag"],
                         combine=bool(spec.get("combine", True)), tag=i)
             for i, (Q, b) in enumerate(zip(Qs, spec["baths"]))]
    options = {"store_ados": True, "store_states": True, "progress_bar": "", "method": "adams",
               "rtol": spec.get("rtol", 1e-11), "atol": spec.get("atol", 1e-13), "nsteps": 10**7}
    t0 = time.perf_counter()
    solver = HEOMSolver(H, baths, max_depth=spec["depth"], options=options)
    x = spec["bloch0"]
    rho0 = 0.5 * (qeye(2) + sum(c * s for c, s in zip(x, sig)))
    result = solver.run(rho0, spec["tlist"])
    wall = time.perf_counter() - t0
    exps = solver.ados.exponents
    K = len(exps)
    rows = []
    for t, ados in zip(result.times, result.ado_states):
        r0 = ados.extract((0,) * K).full()
        currents, energies = [], []
        for b, (Q, bspec) in enumerate(zip(Qs, spec["baths"])):
            q = Q.full()
            cur, en = 0.0 + 0.0j, 0.0 + 0.0j
            for k, e in enumerate(exps):
                if e.tag != b:
                    continue
                r = ados.extract(tuple(1 if i == k else 0 for i in range(K))).full()
                tr = np.trace(q @ r)
                en += tr
                cur += -e.vk * tr
            cur += 2.0 * bspec["imag_at_zero"] * np.trace(q @ q @ r0)
            currents.append(complex(cur))
            energies.append(complex(en))
        bloch = [float(np.trace(s.full() @ r0).real) for s in sig]
        rows.append({"t": float(t), "I": [c.real for c in currents], "I_imag": [c.imag for c in currents],
                     "E_int": [e.real for e in energies], "E_int_imag": [e.imag for e in energies],
                     "bloch": bloch, "trace": float(np.trace(r0).real)})
    return {"tool": "qutip", "qutip_version": qutip.__version__, "n_ados": len(solver.ados.labels),
            "n_modes": K, "wall_s": wall, "rows": rows}


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    print(json.dumps(run(spec)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
