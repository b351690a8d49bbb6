"""The numbers behind results/README.md, read from the figure files (python scripts/results_report.py).

Each section tests one claim of the paper against the committed data: fitted exponents, plateaus,
maxima, regimes and ratios, with the convergence status and error estimate of the points used.
Reads only; missing files are reported and skipped.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from nesb_hpc.results_file import read_attrs, read_results, read_summary

RESULTS = Path(__file__).resolve().parents[1] / "results"
PI = math.pi


def load(name):
    path = RESULTS / f"{name}.h5"
    if not path.exists():
        print(f"\n## {name}: no data ({path} missing)")
        return None
    s = read_summary(str(path))
    return s[np.argsort(s["point"])], read_results(str(path)), read_attrs(str(path))


def status_line(s) -> str:
    st = [x.decode() for x in s["status"]]
    counts = {k: st.count(k) for k in sorted(set(st))}
    names = s.dtype.names
    if "rel_error" in names:
        err = s["rel_error"]
    elif "depth_error" in names:      # an optimisation: the optimum's depth and decomposition checks
        err = np.fmax(np.nan_to_num(s["depth_error"], nan=0.0), np.nan_to_num(s["decomposition_error"], nan=0.0))
    else:
        err = np.array([np.nan])
    worst = np.nanmax(err) if s.size and np.any(np.isfinite(err)) else float("nan")
    return f"{s.size} points: {counts}; largest relative error estimate {worst:.1e}"


def slope(x, y) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def series(s, key, value, tol=1e-9):
    sel = s[np.abs(s[key] - value) <= tol * max(1.0, abs(value))]
    return sel


def last_rung_column(rows, s, col):
    out = []
    for p in s["point"]:
        mine = rows[(rows["point"] == p) & (rows["status"] == b"ok") & (rows["role"] == b"rung")]
        out.append(float(mine[np.argmax(mine["eval"])][col]) if mine.size else math.nan)
    return np.array(out)


def curve(s, theta: float, x: str):
    """(selection, order along x, x sorted, I sorted) of the points at one theta."""
    sel = np.abs(s["theta"] - theta) < 1e-9
    order = np.argsort(s[x][sel])
    return sel, order, s[x][sel][order], s["I"][sel][order]


def section(name: str, title: str):
    """The figure's (summary, rows, NE-PTRE currents of the last rungs), its heading printed; or None."""
    d = load(name)
    if d is None:
        return None
    s, rows, _ = d
    print(f"\n## {title}\n")
    print(status_line(s))
    return s, rows, (last_rung_column(rows, s, "I_ptre") if "I" in s.dtype.names else None)


def fig1a():
    d = section("fig1a", "Fig. 1a: I vs alpha, Delta = 0.05")
    if d is None:
        return
    s, rows, ptre = d
    red = last_rung_column(rows, s, "I_redfield")
    peaks = {}
    for th in (0.0, PI / 4, PI / 2):
        sel, order, a, I = curve(s, th, "alpha1")
        weak = a <= 1.01e-2
        k = int(np.argmax(I))
        peaks[th] = (a[k], I[k])
        print(f"- theta = {th / PI:.2g} pi: log-log slope for alpha <= 0.01: {slope(a[weak], I[weak]):.3f}; "
              f"max I = {I[k]:.4e} at alpha = {a[k]:.3g} (turnover: I(alpha = {a[-1]:.3g}) = {I[-1]:.4e})")
        if th == 0.0:
            r = (s["I"][sel] / ptre[sel])[order]
            print(f"  HEOM / NE-PTRE at alpha = {', '.join(f'{x:.3g}' for x in a[weak])}: "
                  f"{', '.join(f'{x:.4f}' for x in r[weak])}")
        if th == PI / 2:
            r = (s["I"][sel] / red[sel])[order]
            print(f"  HEOM / Redfield at alpha = {', '.join(f'{x:.3g}' for x in a[weak])}: "
                  f"{', '.join(f'{x:.4f}' for x in r[weak])}")
    base = peaks[PI / 2][1]
    for th in (0.0, PI / 4):
        print(f"- max I(theta = {th / PI:.2g} pi) / max I(theta = pi/2) = {peaks[th][1] / base:.2f}")
    print("- the turnover (alpha >= 1: I, status, relative error estimate; the maximum by a parabola in\n"
          "  log alpha through the largest point and its neighbours):")
    for th in (0.0, PI / 4, PI / 2):
        sel, order, a, I = curve(s, th, "alpha1")
        status = [x.decode() for x in s["status"][sel][order]]
        err = s["rel_error"][sel][order]
        strong = a >= 0.99
        print(f"  theta = {th / PI:.2g} pi: " + "; ".join(
            f"{x:.3g}: {y:.4e} ({st}, {e:.1e})" for x, y, st, e, keep in zip(a, I, status, err, strong) if keep))
        print(f"    {turnover(a, I)}")


def turnover(alpha, current) -> str:
    """alpha_max and I_max from the parabola in log alpha through the largest current and its two
    neighbours, and how far the current has fallen at the largest alpha; or why there is none."""
    k = int(np.argmax(current))
    if k == 0 or k == len(current) - 1:
        return f"no interior maximum: the largest current is at the grid's {'first' if k == 0 else 'last'} alpha"
    x, y = np.log(alpha[k - 1:k + 2]), current[k - 1:k + 2]
    c2, c1, c0 = np.polyfit(x, y, 2)
    x_max = -c1 / (2 * c2)
    return (f"alpha_max = {math.exp(x_max):.3g}, I_max = {c0 + c1 * x_max + c2 * x_max ** 2:.4e} "
            f"(largest point {current[k]:.4e} at alpha = {alpha[k]:.3g}); I(alpha = {alpha[-1]:.3g}) / I_max = "
            f"{current[-1] / current[k]:.3f}")


def fig1a_nbose2():
    d = section("fig1a-nbose2", "Fig. 1a's alpha >= 2 points with two Pade terms per bath")
    if d is None:
        return
    s, _, _ = d
    one = load("fig1a")
    for i in np.argsort(s["theta"] * 100 + s["alpha1"]):
        line = (f"- theta = {s['theta'][i] / PI:.2g} pi, alpha = {s['alpha1'][i]:.3g}: I = {s['I'][i]:.5e} "
                f"({s['status'][i].decode()}, error {s['rel_error'][i]:.1e}, depth {int(s['depth'][i])}, "
                f"decomposition check {s['decomposition_error'][i]:.1e})")
        if one is not None:
            o = one[0]
            m = (np.abs(o["theta"] - s["theta"][i]) < 1e-9) & (np.abs(o["alpha1"] - s["alpha1"][i]) < 1e-9)
            if m.any():
                line += f"; one Pade term: {o['I'][m][0]:.5e} ({o['I'][m][0] / s['I'][i] - 1:+.1e})"
        print(line)


def turnover_table():
    """Fig. 1a for alpha >= 1 as results/README.md tabulates it: two Pade terms where
    fig1a-nbose2 has the point, else fig1a's one; the maximum of each theta from those values."""
    one, two = load("fig1a"), load("fig1a-nbose2")
    if one is None:
        return
    print("\n## The turnover table (two Pade terms where computed, marked 2)\n")
    s1 = one[0]
    alphas = sorted({round(float(a), 6) for a in s1["alpha1"] if a >= 0.99})
    print("| theta | " + " | ".join(f"{a:g}" for a in alphas) + " | alpha_max | I_max |")
    print("|---|" + "---|" * (len(alphas) + 2))
    for th, name in ((0.0, "0"), (PI / 4, "pi/4"), (PI / 2, "pi/2")):
        cells, values = [], []
        for a in alphas:
            src, mark = s1, ""
            if two is not None:
                m2 = (np.abs(two[0]["theta"] - th) < 1e-9) & (np.abs(two[0]["alpha1"] - a) < 1e-6)
                if m2.any():
                    src, mark = two[0], "2"
            m = (np.abs(src["theta"] - th) < 1e-9) & (np.abs(src["alpha1"] - a) < 1e-6)
            i = int(np.flatnonzero(m)[0])
            star = "" if src["status"][i] == b"converged" else "*"
            values.append(float(src["I"][i]))
            cells.append(f"{src['I'][i]:.3e}{star} ({src['rel_error'][i]:.0e}){' ' + mark if mark else ''}")
        text = turnover(np.array(alphas), np.array(values))
        a_max = text.split("alpha_max = ")[1].split(",")[0] if "alpha_max" in text else "-"
        i_max = text.split("I_max = ")[1].split(" ")[0] if "I_max" in text else "-"
        print(f"| {name} | " + " | ".join(cells) + f" | {a_max} | {i_max} |")


def fig1b():
    d = section("fig1b", "Fig. 1b: I vs Delta, alpha = 0.01")
    if d is None:
        return
    s, rows, ptre = d
    for th in (0.0, PI / 4, PI / 2):
        sel, o, dl, I = curve(s, th, "delta")
        small = dl <= 0.011
        print(f"- theta = {th / PI:.2g} pi: I(Delta = {dl[0]:.3g}) = {I[0]:.4e}, I(Delta = 0.01) = "
              f"{I[np.argmin(np.abs(dl - 0.01))]:.4e}, max I = {I.max():.4e} at Delta = {dl[np.argmax(I)]:.3g}; "
              f"log-log slope for Delta <= 0.01: {slope(dl[small], np.abs(I[small])):.2f}")
        if th == 0.0:
            r = (s["I"][sel] / ptre[sel])[o]
            print(f"  HEOM / NE-PTRE for Delta <= 0.1: "
                  f"{', '.join(f'{x:.3f}' for x in r[dl <= 0.11])}")
            plateau = I[small]
            print(f"  plateau: I(Delta)/I(Delta_min) - 1 for Delta <= 0.01: "
                  f"{', '.join(f'{x:.1e}' for x in plateau / plateau[0] - 1)}")


def fig2(name, alphas):
    d = section(name, f"Fig. 2{name[-1]}: I vs theta, Delta = 0.1")
    if d is None:
        return
    s = d[0]
    for a in alphas:
        sel = np.abs(s["alpha1"] - a) < 1e-12
        th, I = s["theta"][sel], s["I"][sel]
        o = np.argsort(th)
        th, I = th[o], I[o]
        k = int(np.argmax(I))
        mono = "increasing" if np.all(np.diff(I) > 0) else "decreasing" if np.all(np.diff(I) < 0) else "not monotonic"
        print(f"- alpha = {a:g}: {mono}; max I = {I[k]:.4e} at theta = {th[k] / PI:.3f} pi; "
              f"I(0) = {I[0]:.4e}, I(pi/2) = {I[-1]:.4e}")
        err, status = s["rel_error"][sel][o], s["status"][sel][o]
        print("  " + "; ".join(f"{t / PI:.3f} pi: {x:.4e} ({e:.1e}{'' if st == b'converged' else ' *'})"
                               for t, x, e, st in zip(th, I, err, status)))


def fig3():
    d = section("fig3", "Fig. 3: theta_opt and I_opt vs alpha")
    if d is None:
        return
    s = d[0]
    for dl in sorted(set(s["delta"]), reverse=True):
        sel = np.abs(s["delta"] - dl) < 1e-12
        a, t, I = s["alpha1"][sel], s["theta_opt"][sel], s["I_opt"][sel]
        o = np.argsort(a)
        print(f"- Delta = {dl:g}: theta_opt/pi = " + ", ".join(f"{x:.3g}" for x in t[o] / PI)
              + " at alpha = " + ", ".join(f"{x:.2g}" for x in a[o]))
        print("  I_opt = " + ", ".join(f"{x:.3e}" for x in I[o]))
        for col in ("depth_error", "decomposition_error"):
            if col in s.dtype.names:
                print(f"  {col} = " + ", ".join(f"{x:.1e}" for x in s[col][sel][o]))


def fig4():
    d = section("fig4", "Fig. 4: rectification, alpha1 = 0.01, T1 = 10, T2 = 1, Delta = 0.5")
    if d is None:
        return
    s = d[0]
    by = {}
    for th in (PI / 2, PI / 8):
        sel = np.abs(s["theta"] - th) < 1e-9
        a2, R = s["alpha2"][sel], s["ratio"][sel]
        o = np.argsort(a2)
        by[th] = (a2[o], R[o])
        print(f"- theta = {th / PI:.3g} pi: R = " + ", ".join(f"{x:.4g}" for x in R[o]) + " at alpha1/alpha2 = "
              + ", ".join(f"{0.01 / x:.3g}" for x in a2[o]))
    (a, r2), (_, r8) = by[PI / 2], by[PI / 8]
    lr2, lr8 = np.abs(np.log(r2)), np.abs(np.log(r8))
    print(f"- 1/R(pi/8) > 1/R(pi/2) (reverse over forward) at {int(np.sum(1 / r8 > 1 / r2))} of {r2.size} points; "
          f"|ln R(pi/8)| > |ln R(pi/2)| at alpha1/alpha2 = "
          + ", ".join(f"{0.01 / x:.3g}" for x in a[lr8 > lr2]))
    print(f"- R(pi/8) > R(pi/2) at {int(np.sum(r8 > r2))} of {r2.size} points; |R - 1| at alpha1 = alpha2 "
          f"(interpolated in log alpha2): pi/2 {abs(np.interp(np.log(0.01), np.log(a), r2) - 1):.2e}, "
          f"pi/8 {abs(np.interp(np.log(0.01), np.log(a), r8) - 1):.2e}")


def checks():
    for name in ("fig3-depth", "nbose-check"):
        d = load(name)
        if d is None:
            continue
        s, rows, _ = d
        print(f"\n## {name}\n")
        for p in s:
            mine = rows[(rows["point"] == p["point"]) & (rows["status"] == b"ok")]
            mine = mine[np.argsort(mine["eval"])]
            I = mine["I1"]
            rel = np.abs(I - I[-1]) / abs(I[-1])
            label = f"alpha {p['alpha1']:g}/{p['alpha2']:g} T {p['T1']:g}/{p['T2']:g} Delta {p['delta']:g} theta {p['theta'] / PI:.3g} pi"
            rungs = ", ".join(f"L{int(r['depth'])}/nb{int(r['n_bose'])}: {x:.1e}" for r, x in zip(mine, rel))
            print(f"- {label}: |I - I(last)|/|I(last)| = {rungs}")


if __name__ == "__main__":
    fig1a(); fig1a_nbose2(); turnover_table(); fig1b(); fig2("fig2a", (0.01, 0.02)); fig2("fig2b", (1.0, 4.0)); fig3(); fig4(); checks()
    sys.exit(0)
