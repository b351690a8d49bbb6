"""nesb_hpc against QuTiP's HEOMSolver steady state on an identical hierarchy.

    .venv/bin/python bench/qutip_compare.py                       # validate, then scale until QuTiP stops
    .venv/bin/python bench/qutip_compare.py --quick               # validation only, small depths
    .venv/bin/python bench/qutip_compare.py --merged              # both codes with merged R/I modes

Problem: the two-bath model (V1 = sx, V2 = cos(theta) sz + sin(theta) sx, H = Delta sz, Delta = 0.1,
theta = pi/4, T1 = 1, T2 = 0.9) with Drude-Lorentz baths J = pi alpha w / (1 + w^2)
(nesb_hpc.bath.drude_lorentz; QuTiP's lambda = pi alpha / 2, gamma = 1), decomposed by nesb_hpc's
exact_decomposition (Pade, n_bose terms): every basis function is an exponential, so QuTiP takes
the SAME exponents, read off our BasisFamily (ck = a, vk = -eta_jj, phi0 = 1), as
BosonicBath(Q, ck_real, vk_real, ck_imag, vk_imag, combine=False): R and I stay separate modes,
as in nesb_hpc's extended hierarchy, so both have C(K + L, L) ADOs (checked). With --merged, QuTiP's
combine=True merges the R and I exponents of equal rate into one "RI" mode, and nesb_hpc runs with
[hierarchy] modes = "merged": again identical hierarchies, with fewer modes. QuTiP runs in its own
virtual environment (bench/.venv-qutip, `pip install qutip`), single-threaded like one MPI rank.

Phases: (1) validation at small depths: ADO counts equal, QuTiP's I1 + I2 = 0, |I1(QuTiP) -
I1(nesb_hpc)| <= 1e-8 |I1|, and at T1 = T2 both currents vanish (up to the Pade truncation's
spurious current), which checks the -2 C^I(0) term of the current; (2) growing depth: QuTiP (build
and steady_state, one process per depth, bounded by --timeout and --mem-limit) beside nesb_hpc on 1
and 2 ranks, until QuTiP fails; (3) nesb_hpc alone at growing depth until a run would exceed the
time or the memory limit: the largest problem it solves in the same time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (BENCH, GIB, NESB_PYTHON, QUTIP_PYTHON, assembly_wall_s, available_gib, fmt,  # noqa: E402
                     last_json, load_results, log, machine, markdown_table, phase_peaks, run_bounded, store,
                     wait_for_quiet, with_model)

DELTA, THETA = 0.1, 0.7853981633974483


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--n-bose", type=int, default=2)
    p.add_argument("--decomposition", choices=("pade", "matsubara"), default="pade")
    p.add_argument("--validate-depths", default="2,3,4")
    p.add_argument("--depths", default="4,5,6,7,8,9,10,11,12",
                   help="depths for QuTiP beside nesb_hpc; stops at QuTiP's first failure")
    p.add_argument("--nesb-depths", default="13,14,15,16,17,18,19,20,22,24",
                   help="further depths for nesb_hpc alone (phase 3)")
    p.add_argument("--nesb-ranks", default="1,2")
    p.add_argument("--largest-ranks", type=int, default=2, help="ranks for phase 3")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per run (default 900 = 15 min)")
    p.add_argument("--mem-limit", type=float, default=18.0, help="GiB per run, whole process tree")
    p.add_argument("--phases", default="1,2,3")
    p.add_argument("--output", type=Path, default=BENCH / "results.json")
    p.add_argument("--quick", action="store_true", help="validation only at depths 2,3")
    p.add_argument("--merged", action="store_true",
                   help="both codes merge R and I modes of equal rate: QuTiP combine=True, nesb_hpc modes = merged")
    p.add_argument("--report", action="store_true", help="run nothing: print the tables from the stored records")
    p.add_argument("--wait-quiet", type=float, default=None, metavar="CORES",
                   help="before each run wait (up to --max-wait s) until other processes keep fewer than CORES cores busy")
    p.add_argument("--max-wait", type=float, default=1800.0)
    args = p.parse_args(argv)
    if args.quick:
        args.validate_depths, args.phases = "2,3", "1"
    return args


def quiet(args) -> None:
    if args.wait_quiet is not None:
        busy = wait_for_quiet(args.wait_quiet, args.max_wait)
        log(f"  others keep {busy:.2f} cores busy")


def save(args, rec: dict) -> None:
    if not args.report:
        store(args.output, rec)


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def decomposition(args, T1: float, T2: float):
    """nesb_hpc's baths and the QuTiP exponents read off them (all-exponential families)."""
    import numpy as np

    from nesb_hpc.bath import drude_lorentz, exact_decomposition

    baths = [exact_decomposition(drude_lorentz(args.alpha).rational(), T, args.decomposition, args.n_bose)
             for T in (T1, T2)]
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


QUTIP_METHOD = "qutip steady_state (scipy spsolve, SuperLU)"


def stored(args, tool: str, depth: int, ranks: int, T2: float, method: str) -> dict:
    """--report: the stored record of this run (or a placeholder saying it is missing)."""
    for r in load_results(args.output):
        if (r.get("tool"), r.get("problem"), r.get("ranks"), r.get("alpha"), r.get("depth"), r.get("n_bose"),
                r.get("decomposition"), r.get("method"), r.get("T2"), r.get("modes", "separate")) == (
                tool, "drude", ranks, args.alpha, depth, args.n_bose, args.decomposition, method, T2, _modes(args)):
            return r
    return {"tool": tool, "depth": depth, "ranks": ranks, "status": "not stored", "wall_s": float("nan")}


def run_qutip(args, depth: int, T1: float, T2: float, solve: bool = True) -> dict:
    if args.report:
        return stored(args, "qutip", depth, 1, T2, QUTIP_METHOD)
    _, baths = decomposition(args, T1, T2)
    spec = {"delta": DELTA, "theta": THETA, "depth": depth, "baths": baths, "solve": solve, "combine": args.merged}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir="/tmp") as fh:
        json.dump(spec, fh)
        path = fh.name
    quiet(args)
    limit = min(args.mem_limit, 0.9 * available_gib())
    out = run_bounded([str(QUTIP_PYTHON), str(BENCH / "_qutip_point.py"), path], args.timeout, limit)
    Path(path).unlink(missing_ok=True)
    rec = last_json(out["stdout"]) or {"tool": "qutip", "depth": depth, "status": f"rc={out['rc']}"}
    if out["killed"]:
        rec["status"] = f"killed ({out['killed']}) after {'build' if rec.get('status') == 'built' else 'start'}"
    elif rec.get("status") != "ok":
        rec["error"] = out["stderr"][-1500:]
    rec.update(_common_fields(args, depth, T1, T2, out, limit))
    rec.update({"ranks": 1, "method": QUTIP_METHOD, "matrix_type": "csr complex",
                "extra_petsc": ""})
    if "build_s" in rec:
        rec["assembly_s"] = rec["build_s"]
    if rec.get("status") == "ok":
        rec["total_s"] = rec["build_s"] + rec["solve_s"]
    return rec


def run_nesb(args, depth: int, ranks: int, T1: float, T2: float, method: str = "iterative") -> dict:
    if args.report:
        return stored(args, "nesb_hpc", depth, ranks, T2, method)
    cmd = ["mpirun", "-n", str(ranks), str(NESB_PYTHON), str(BENCH / "_point.py"), "--problem", "drude",
           "--alpha", repr(args.alpha), "--depth", str(depth), "--n-bose", str(args.n_bose),
           "--decomposition", args.decomposition, "--T1", repr(T1), "--T2", repr(T2), "--method", method,
           "--modes", _modes(args)]
    quiet(args)
    limit = min(args.mem_limit, 0.9 * available_gib())
    out = run_bounded(cmd, args.timeout, limit)
    rec = last_json(out["stdout"]) or {"tool": "nesb_hpc", "problem": "drude", "ranks": ranks, "depth": depth,
                                       "status": out["killed"] or f"rc={out['rc']}", "error": out["stderr"][-1500:]}
    rec.update(_common_fields(args, depth, T1, T2, out, limit))
    rec.update({"method": method, "matrix_type": "aij", "extra_petsc": ""})
    rec["phase_peak_mb"] = phase_peaks(rec, out["timeline"])
    rec = with_model(rec)
    if "estimate_mb" in rec and rec.get("peak_rss_mb"):
        rec["estimate_ratio"] = rec["estimate_mb"] / rec["peak_rss_mb"]
    return rec


def _modes(args) -> str:
    return "merged" if args.merged else "separate"


def _common_fields(args, depth, T1, T2, out, limit) -> dict:
    return {"problem": "drude", "modes": _modes(args), "alpha": args.alpha, "depth": depth, "n_bose": args.n_bose,
            "decomposition": args.decomposition, "delta": DELTA, "theta": THETA, "T1": T1, "T2": T2,
            "machine": machine(), "wall_s": out["wall_s"], "killed": out["killed"],
            "others_cores_busy": out["others_cores_busy"],
            "max_tree_rss_gib": out["max_tree_rss_gib"], "timeout_s": args.timeout, "mem_limit_gib": limit,
            "date": dt.datetime.now().isoformat(timespec="seconds"), "study": "qutip_compare"}


def nesb_total(rec: dict) -> float:
    return rec["total_s"] if rec.get("status") == "ok" else float("nan")


def predicted_gib(args, depth: int, ranks: int) -> float:
    """Peak resident memory of all ranks together by nesb_hpc.sizing (a priori: restart vectors)."""
    import numpy as np

    import memory_model
    from nesb_hpc.hierarchy import TierOrderedHierarchy
    from nesb_hpc.liouvillian import HierarchyModes
    from nesb_hpc.pauli import PauliBlocks, bloch_vector

    baths, _ = decomposition(args, 1.0, 0.9)
    modes = HierarchyModes.from_baths(baths, form=_modes(args))
    hier = TierOrderedHierarchy(modes.size, depth)
    pauli = PauliBlocks.build(DELTA, np.array([bloch_vector(np.pi / 2), bloch_vector(THETA)]))
    return memory_model.tree_gib(hier, modes, pauli, ranks)


def phase_validate(args) -> list[list]:
    rows = []
    for T2 in (0.9, 1.0):
        for depth in ints(args.validate_depths):
            if T2 == 1.0 and depth != ints(args.validate_depths)[-1]:
                continue
            q = run_qutip(args, depth, 1.0, T2)
            save(args, q)
            for method in ("direct", "iterative"):
                n = run_nesb(args, depth, 1, 1.0, T2, method)
                save(args, n)
                ok = q.get("status") == "ok" and n.get("status") == "ok"
                scale = max(abs(n.get("I1", 0.0)), 1e-300)
                rel = abs(q["I1"] - n["I1_corrected"]) / scale if ok else float("nan")
                rows.append([depth, T2, f"{q.get('n_ados', 0):,} / {n.get('n_ados', 0):,}", method,
                             fmt(q.get("I1"), ".12e"), fmt(n.get("I1_corrected"), ".12e"), fmt(n.get("I1"), ".6e"),
                             fmt(rel, ".1e") if T2 != 1.0 else f"abs {abs(q['I1'] - n['I1_corrected']):.1e}" if ok else "-",
                             fmt(q.get("conservation"), ".1e"), fmt(n.get("conservation_corrected"), ".1e"),
                             fmt(n.get("conservation"), ".1e"),
                             fmt(q.get("residual"), ".1e"), fmt(n.get("residual"), ".1e")])
                log(f"  validate depth {depth} T2={T2} {method}: QuTiP I1={q.get('I1')} nesb I1={n.get('I1_corrected')}"
                    f" (reported {n.get('I1')}) rel={rel:.2e}")
                if T2 != 1.0 and ok and (q["n_ados"] != n["n_ados"] or rel > 1e-8):
                    log("  VALIDATION FAILED")
    return rows


def phase_scale(args) -> list[dict]:
    pairs = []
    for depth in ints(args.depths):
        log(f"depth {depth}: QuTiP ...")
        q = run_qutip(args, depth, 1.0, 0.9)
        save(args, q)
        log(f"  QuTiP: {q.get('status')} ADOs {q.get('n_ados')} build {fmt(q.get('build_s'))} s "
            f"solve {fmt(q.get('solve_s'))} s peak {fmt(q.get('peak_rss_mb', q.get('build_peak_rss_mb')))} MiB")
        ns = {}
        for ranks in ints(args.nesb_ranks):
            n = run_nesb(args, depth, ranks, 1.0, 0.9)
            save(args, n)
            ns[ranks] = n
            log(f"  nesb_hpc {ranks} rank(s): {n.get('status')} total {fmt(nesb_total(n))} s "
                f"peak {fmt(n.get('peak_rss_mb'))} MiB/rank I1 {n.get('I1_corrected')}")
        pairs.append({"depth": depth, "qutip": q, "nesb": ns})
        if q.get("status") != "ok":
            break
    return pairs


def phase_largest(args) -> list[dict]:
    out = []
    ranks = args.largest_ranks
    for depth in ints(args.nesb_depths):
        need = predicted_gib(args, depth, ranks)
        avail = available_gib()
        if need > min(args.mem_limit, 0.9 * avail):
            log(f"depth {depth}: the memory model predicts {need:.1f} GiB > limit ({args.mem_limit} GiB, "
                f"available {avail:.1f} GiB): stop")
            out.append({"depth": depth, "status": f"not run: model predicts {need:.1f} GiB"})
            break
        log(f"depth {depth}: nesb_hpc on {ranks} ranks (model {need:.1f} GiB) ...")
        n = run_nesb(args, depth, ranks, 1.0, 0.9)
        save(args, n)
        log(f"  {n.get('status')} ADOs {n.get('n_ados')} total {fmt(nesb_total(n))} s wall {n['wall_s']:.0f} s "
            f"peak {fmt(n.get('peak_rss_mb'))} MiB/rank its {n.get('iterations')}")
        out.append(n)
        if n.get("status") != "ok":
            break
        # the next depth costs about ADO-ratio times more: stop if it cannot finish in time
        from math import comb

        K = n["n_modes"]
        growth = comb(K + depth + 1, depth + 1) / comb(K + depth, depth)
        if n["wall_s"] * growth > args.timeout * 1.1:
            log(f"  the next depth would take ~{n['wall_s'] * growth:.0f} s > {args.timeout:.0f} s: stop")
            break
    return out


def scale_table(pairs: list[dict]) -> str:
    header = ["depth", "ADOs", "unknowns", "QuTiP build s", "QuTiP solve s", "QuTiP total s", "QuTiP peak MiB",
              "nesb 1 rank s", "nesb 1 rank MiB", "nesb 2 ranks s", "nesb 2 ranks MiB (sum)", "time ratio 1r",
              "time ratio 2r", "memory ratio 1r", "memory ratio 1r above baseline", "|dI1|/I1"]
    rows = []
    for p in pairs:
        q, n1, n2 = p["qutip"], p["nesb"].get(1, {}), p["nesb"].get(2, {})
        q_total = (q.get("build_s", float("nan")) + q.get("solve_s", float("nan"))) if q.get("status") == "ok" else float("nan")
        # a killed run has no ru_maxrss of its own: the watcher's largest RSS before the kill
        q_peak = q.get("peak_rss_mb") or q.get("max_tree_rss_gib", float("nan")) * 1024
        t1, t2 = nesb_total(n1), nesb_total(n2)
        m1 = n1.get("peak_rss_mb", float("nan"))
        m2 = sum(n2.get("peak_rss_mb_ranks", [])) or float("nan")
        rel = abs(q["I1"] - n1["I1_corrected"]) / abs(n1["I1_corrected"]) if q.get("status") == "ok" and n1.get("status") == "ok" else float("nan")
        status = q.get("status", "")
        rows.append([p["depth"], f"{q.get('n_ados', n1.get('n_ados', 0)):,}", f"{4 * q.get('n_ados', n1.get('n_ados', 0)):,}",
                     fmt(q.get("build_s"), ".2f"), fmt(q.get("solve_s"), ".2f") if status == "ok" else status,
                     fmt(q_total, ".2f"), fmt(q_peak, ".0f") + ("" if status == "ok" else " at kill"), fmt(t1, ".2f"), fmt(m1, ".0f"), fmt(t2, ".2f"), fmt(m2, ".0f"),
                     fmt(q_total / t1, ".0f"), fmt(q_total / t2, ".0f"), fmt(q_peak / m1, ".1f") if status == "ok" else "-",
                     fmt((q_peak - q.get("baseline_rss_mb", 0)) / (m1 - n1.get("baseline_rss_mb", 0)), ".0f")
                     if status == "ok" and n1.get("status") == "ok" else "-",
                     fmt(rel, ".1e")])
    return markdown_table(header, rows)


def largest_table(recs: list[dict]) -> str:
    header = ["depth", "ranks", "ADOs", "unknowns", "nonzeros", "its", "true res.", "assembly s", "solve s",
              "total s", "wall s", "peak MiB/rank", "old estimate / peak", "sizing.estimate / peak (a priori)",
              "sizing.estimate / peak (a posteriori)", "I1", "others' cores", "status"]
    rows = []
    for r in recs:
        if "n_ados" not in r:
            rows.append([r["depth"]] + [""] * (len(header) - 2) + [r.get("status")])
            continue
        r = with_model(r)
        rows.append([r["depth"], r["ranks"], f"{r['n_ados']:,}", f"{r['n_unknowns']:,}", f"{r['nonzeros']:,}",
                     r["iterations"], fmt(r["residual"], ".1e"), fmt(assembly_wall_s(r), ".1f"), fmt(r["solve_s"], ".1f"),
                     fmt(nesb_total(r), ".1f"), fmt(r["wall_s"], ".0f"), fmt(r["peak_rss_mb"], ".0f"),
                     fmt(r["estimate_mb"] / r["peak_rss_mb"], ".2f"), fmt(r.get("sizing_ratio"), ".2f"),
                     fmt(r.get("sizing_posterior_ratio"), ".2f"), fmt(r["I1_corrected"], ".10e"),
                     fmt(r.get("others_cores_busy"), ".2f"), r["status"]])
    return markdown_table(header, rows)


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if not QUTIP_PYTHON.exists() and not args.report:
        log(f"no QuTiP environment at {QUTIP_PYTHON}: python3 -m venv bench/.venv-qutip && "
            "bench/.venv-qutip/bin/pip install qutip")
        return 2
    mach = machine()
    phases = set(ints(args.phases))
    print(f"machine: {mach['cpu']}, {mach['cores']} cores, {mach['mem_gib']} GiB, load {mach['load_1min']:.2f}")
    print(f"problem: Drude-Lorentz alpha = {args.alpha:g} (lambda = pi alpha / 2, gamma = 1), "
          f"{args.decomposition} n_bose = {args.n_bose}, Delta = {DELTA}, theta = pi/4, T1 = 1, T2 = 0.9; "
          f"limits {args.timeout:.0f} s and {args.mem_limit:g} GiB per run")
    code = 0
    if 1 in phases:
        rows = phase_validate(args)
        print("\nvalidation (QuTiP vs nesb_hpc on the same exponents; at T2 = T1 = 1 the currents should vanish):\n")
        print(markdown_table(["depth", "T2", "ADOs QuTiP / nesb", "nesb method", "I1 QuTiP",
                              "I1 nesb_hpc (C^I(0) sign fixed)", "I1 nesb_hpc as reported", "rel. diff",
                              "QuTiP |I1+I2|/|I1|", "nesb fixed |I1+I2|/|I1|", "nesb reported |I1+I2|/|I1|",
                              "QuTiP res.", "nesb res."], rows))
    if 2 in phases:
        pairs = phase_scale(args)
        print("\nQuTiP vs nesb_hpc (one process per run; QuTiP single-threaded; times: QuTiP build + steady_state, "
              "nesb_hpc assembly + solve; memory: peak RSS):\n")
        print(scale_table(pairs))
    if 3 in phases:
        recs = phase_largest(args)
        print(f"\nnesb_hpc alone at growing depth ({args.largest_ranks} ranks, limits {args.timeout:.0f} s, "
              f"{args.mem_limit:g} GiB):\n")
        print(largest_table(recs))
    return code


if __name__ == "__main__":
    sys.exit(main())
