"""Transient heat currents: nesb_hpc.dynamics against QuTiP's HEOMSolver.run on an identical hierarchy.

    .venv/bin/python bench/dynamics_qutip.py                     # alpha 0.5, depths 2,3,4, t in [0, 20]
    .venv/bin/python bench/dynamics_qutip.py --depths 5 --t-end 40

Problem: the two-bath model (V1 = sx, V2 = cos(theta) sz + sin(theta) sx, H = Delta sz, Delta = 0.1,
theta = pi/4, T1 = 1, T2 = 0.9) with Drude-Lorentz baths J = pi alpha w / (1 + w^2) (QuTiP's
lambda = pi alpha / 2, gamma = 1), decomposed by nesb_hpc (exact residues, Pade n_bose terms):
every basis function is an exponential, so QuTiP takes the SAME exponents (ck = a, vk = -eta_jj),
with combine=True (an R and an I exponent of equal rate share one "RI" mode), against nesb_hpc's
modes = "merged": identical hierarchies (equal ADO counts, checked), as in bench/qutip_compare.py
--merged for the steady state. Drude-Lorentz has C^I(0) = -lambda gamma != 0, so the current's
+2 C^I(0) Tr[V^2 rho_00] term is exercised out of steady state too.

Initial state: rho_00 = (1 + r.sigma)/2 with r = (0.6, 0.2, -0.6), baths thermal. Both codes
integrate to tight tolerances (nesb_hpc: TS RK 5(4) at rtol 1e-10; QuTiP: its ODE integrator at
rtol 1e-11, atol 1e-13) and report I1, I2, <V1 B1>, <V2 B2> and rho_00 at the same times; the
table gives the largest difference relative to each quantity's largest magnitude over the run.
Pass: <= 1e-6 (measured ~1e-10 here).

QuTiP runs in this interpreter if it imports qutip, else in bench/.venv-qutip (`python3 -m venv
bench/.venv-qutip && bench/.venv-qutip/bin/pip install qutip`), as a subprocess that imports
nothing from nesb_hpc (bench/_qutip_dynamics.py). Without QuTiP the script says so and exits 2;
tests/test_dynamics.py skips its comparison then.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
QUTIP_VENV_PYTHON = BENCH / ".venv-qutip" / "bin" / "python"
DELTA, THETA, T1, T2 = 0.1, 0.7853981633974483, 1.0, 0.9
BLOCH0 = (0.6, 0.2, -0.6)
TOLERANCE = 1e-6


def qutip_python() -> str | None:
    """An interpreter that has QuTiP: this one, else bench/.venv-qutip's, else None."""
    if importlib.util.find_spec("qutip") is not None:
        return sys.executable
    if QUTIP_VENV_PYTHON.exists():
        return str(QUTIP_VENV_PYTHON)
    return None


def baths_and_exponents(alpha: float, n_bose: int):
    """nesb_hpc's Drude-Lorentz decompositions and the QuTiP exponents read off them."""
    import numpy as np

    from nesb_hpc.bath import drude_lorentz, exact_decomposition

    baths = [exact_decomposition(drude_lorentz(alpha).rational(), T, "pade", n_bose) for T in (T1, T2)]
    spec = []
    for dec in baths:
        out = {}
        for fam, tag in ((dec.real, "real"), (dec.imag, "imag")):
            off = fam.eta - np.diag(np.diag(fam.eta))
            if np.any(off != 0) or np.any(fam.phi0 != 1.0):
                raise ValueError("not an all-exponential family: QuTiP cannot take it")
            out[f"ck_{tag}"] = [float(a) for a in fam.a]
            out[f"vk_{tag}"] = [float(-e) for e in np.diag(fam.eta)]
        out["imag_at_zero"] = dec.imag_at_zero
        spec.append(out)
    return baths, spec


def run_nesb(comm, alpha: float, depth: int, n_bose: int, times) -> dict:
    """Collective on comm. nesb_hpc's transient on the merged hierarchy (rows as QuTiP's worker)."""
    import numpy as np

    from nesb_hpc import dynamics as dyn
    from nesb_hpc.pauli import bloch_vector
    from nesb_hpc.point import HierarchySpec

    baths, _ = baths_and_exponents(alpha, n_bose)
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(THETA)])
    t0 = time.perf_counter()
    op = dyn.build_operator(comm, baths, vecs, DELTA, HierarchySpec(depth, True, "aij", "merged"))
    try:
        y0 = dyn.product_state(op, BLOCH0)
        res = dyn.evolve(op, y0, 0.0, times, dyn.DynamicsSettings(rtol=1e-10, atol=1e-14))
        y0.destroy()
        res.state.destroy()
    finally:
        n_ados = op.hier.size
        op.destroy()
    rows = [{"t": o.t, "I": list(map(float, o.currents)), "E_int": list(map(float, o.interaction_energies)),
             "bloch": list(map(float, o.bloch[1:])), "trace": float(o.bloch[0])} for o in res.observables]
    return {"tool": "nesb_hpc", "n_ados": n_ados, "wall_s": time.perf_counter() - t0, "steps": res.steps,
            "rows": rows}


def run_qutip(python: str, alpha: float, depth: int, n_bose: int, times, timeout: float = 1800.0) -> dict:
    import numpy as np

    _, exps = baths_and_exponents(alpha, n_bose)
    vecs = [[1.0, 0.0, 0.0], [float(np.sin(THETA)), 0.0, float(np.cos(THETA))]]
    spec = {"delta": DELTA, "vectors": vecs, "depth": depth, "baths": exps, "combine": True,
            "bloch0": list(BLOCH0), "tlist": [0.0] + [float(t) for t in times], "rtol": 1e-11, "atol": 1e-13}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir="/tmp") as fh:
        json.dump(spec, fh)
        path = fh.name
    try:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        proc = subprocess.run([python, str(BENCH / "_qutip_dynamics.py"), path], capture_output=True, text=True,
                              timeout=timeout, env=env)
    finally:
        Path(path).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"QuTiP run failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["rows"] = out["rows"][1:]                       # drop t = 0 (QuTiP's tlist starts there)
    return out


def compare(comm, alpha: float = 0.5, depth: int = 3, n_bose: int = 2, t_end: float = 20.0, n_out: int = 40,
            python: str | None = None) -> dict:
    """Collective on comm (the nesb_hpc side). Largest differences relative to each quantity's scale."""
    import numpy as np

    from nesb_hpc import dynamics as dyn

    python = python or qutip_python()
    if python is None:
        raise RuntimeError("no QuTiP: pip install qutip (or create bench/.venv-qutip)")
    times = dyn.output_times(t_end, n_out)
    nesb = run_nesb(comm, alpha, depth, n_bose, times)
    qut = run_qutip(python, alpha, depth, n_bose, times)
    out = {"alpha": alpha, "depth": depth, "n_bose": n_bose, "t_end": t_end, "n_out": n_out,
           "n_ados_nesb": nesb["n_ados"], "n_ados_qutip": qut["n_ados"], "qutip_version": qut["qutip_version"],
           "wall_nesb_s": nesb["wall_s"], "wall_qutip_s": qut["wall_s"]}
    for key in ("I", "E_int", "bloch"):
        a = np.array([r[key] for r in nesb["rows"]])
        b = np.array([r[key] for r in qut["rows"]])
        out[f"{key}_rel_diff"] = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        out[f"{key}_scale"] = float(np.max(np.abs(b)))
    out["qutip_imag"] = max(max(abs(x) for x in r["I_imag"] + r["E_int_imag"]) for r in qut["rows"])
    out["qutip_conservation_t_end"] = abs(sum(qut["rows"][-1]["I"])) / max(abs(x) for x in qut["rows"][-1]["I"])
    i_nesb = np.array([r["I"] for r in nesb["rows"]])
    out["I1_at"] = {f"{r['t']:g}": r["I"][0] for r in nesb["rows"][:: max(1, n_out // 4)]}
    out["ok"] = (out["n_ados_nesb"] == out["n_ados_qutip"]
                 and max(out["I_rel_diff"], out["E_int_rel_diff"], out["bloch_rel_diff"]) <= TOLERANCE)
    out["I1_final"] = float(i_nesb[-1, 0])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--depths", default="2,3,4")
    p.add_argument("--n-bose", type=int, default=2)
    p.add_argument("--t-end", type=float, default=20.0)
    p.add_argument("--n-out", type=int, default=40)
    args = p.parse_args(argv)
    python = qutip_python()
    if python is None:
        print("no QuTiP: pip install qutip into this environment, or python3 -m venv bench/.venv-qutip && "
              "bench/.venv-qutip/bin/pip install qutip")
        return 2
    sys.path.insert(0, str(BENCH.parent))
    from nesb_hpc import petsc_env

    petsc_env.init([])
    from mpi4py import MPI

    print(f"Drude-Lorentz alpha = {args.alpha:g}, Pade n_bose = {args.n_bose}, Delta = {DELTA}, theta = pi/4, "
          f"T1 = {T1}, T2 = {T2}; rho_00(0) Bloch {BLOCH0}; {args.n_out} outputs in (0, {args.t_end:g}]; "
          f"merged modes / QuTiP combine=True\n")
    print("| depth | ADOs nesb / QuTiP | max dI/I | max d<VB>/<VB> | max d(rho_00) | QuTiP Im parts | "
          "nesb s | QuTiP s | ok |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok = True
    for depth in (int(d) for d in args.depths.split(",")):
        r = compare(MPI.COMM_WORLD, args.alpha, depth, args.n_bose, args.t_end, args.n_out, python)
        ok &= r["ok"]
        if MPI.COMM_WORLD.rank == 0:
            print(f"| {depth} | {r['n_ados_nesb']:,} / {r['n_ados_qutip']:,} | {r['I_rel_diff']:.1e} | "
                  f"{r['E_int_rel_diff']:.1e} | {r['bloch_rel_diff']:.1e} | {r['qutip_imag']:.0e} | "
                  f"{r['wall_nesb_s']:.2f} | {r['wall_qutip_s']:.2f} | {'yes' if r['ok'] else 'NO'} |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
