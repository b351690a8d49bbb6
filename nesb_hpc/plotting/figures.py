"""One figure per study kind, from a results file's rows and summaries (pure matplotlib; no file
access). Filled markers: good points; open markers (with error bars where an estimate exists):
points that did not converge, or whose C(t) missed [bath] tolerance (inaccurate)."""

from __future__ import annotations

import math

import numpy as np

from ..config import SWEEP_KEYS
from ..study import MODEL_COLUMNS
from .style import (ANALYTIC_MAX_ALPHA, LABELS, SYMBOLS, THEORIES, log_apt, pi_ticks, scale_of, series_label, set_scales,
                    value_text)

CURRENT = r"heat current $I = I_1$"
CURRENT_UNIT = r"$\omega_c^2$"
GOOD = ("ok", "converged")


def column(key: str) -> str:
    """The stored column of a swept key (alpha sets alpha1 = alpha2)."""
    return "alpha1" if key == "alpha" else key


def swept_keys(study: dict) -> list[str]:
    return [k for k in SWEEP_KEYS if k in study]


def series(rows: np.ndarray, study: dict, axis: str) -> list[tuple[str, np.ndarray]]:
    """[(label, index array sorted along the axis)] for each combination of the other swept keys."""
    others = [k for k in swept_keys(study) if k != axis]
    groups: dict[tuple, list[int]] = {}
    for i, s in enumerate(rows):
        groups.setdefault(tuple(float(s[column(k)]) for k in others), []).append(i)
    out = []
    for values, idx in sorted(groups.items()):
        idx = np.array(idx)
        idx = idx[np.argsort(rows[column(axis)][idx])]
        out.append((series_label(others, values), idx))
    return out


def statuses(rows) -> np.ndarray:
    return np.array([s.decode() if isinstance(s, bytes) else str(s) for s in rows["status"]])


# HEOM-only figures with several curves: one marker shape and size per curve, so that curves lying
# on top of each other stay visible (largest drawn first)
SERIES_MARKERS = [("s", 7.5), ("o", 6.0), ("^", 5.0), ("D", 4.0), ("v", 3.5), ("p", 3.0)]


def _points(ax, x, y, good, color, label, err=None, theory="HEOM", open_label="not converged", series=None):
    """Filled markers for good points, open ones for the others, one line through all, error bars.
    series: the curve's number in a HEOM-only figure (its own marker shape and size)."""
    look = dict(THEORIES[theory])
    ms = 5
    if series is not None:
        look["marker"], ms = SERIES_MARKERS[series % len(SERIES_MARKERS)]
    if err is not None and np.any(np.isfinite(err) & (err > 0)):
        ax.errorbar(x, y, yerr=np.where(np.isfinite(err), err, 0.0), fmt="none", ecolor=color, elinewidth=0.8,
                    capsize=2)
    ax.plot(x, y, ls=look["ls"], color=color, lw=1)
    ax.plot(x[good], y[good], ls="none", marker=look["marker"], color=color, ms=ms,
            label=f"{theory} {label}".strip())
    if np.any(~good):
        ax.plot(x[~good], y[~good], ls="none", marker=look["marker"], color=color, ms=ms + 1, mfc="none",
                label=f"{open_label} {label}".strip() if series is None else None)
        if series is not None and not any(h.get_label() == f"open: {open_label}" for h in ax.get_lines()):
            ax.plot([], [], ls="none", marker="o", mfc="none", color="0.4", label=f"open: {open_label}")


def current_axes(ax, values) -> float:
    """Label the y axis as the heat current; returns the factor the plotted values are divided by."""
    if log_apt(values):
        ax.set_yscale("log")
        ax.set_ylabel(f"{CURRENT} [{CURRENT_UNIT}]")
        return 1.0
    factor, prefix = scale_of(values)
    ax.set_ylabel(f"{CURRENT} [{prefix}{CURRENT_UNIT}]")
    return factor


def sweep(plt, rows, study, axis, size, good=None, error=None, open_label="not converged"):
    """I against the axis key, one curve per value of the other swept keys; the weak-coupling
    theories stored beside the HEOM where they apply (max(alpha1, alpha2) <= ANALYTIC_MAX_ALPHA)."""
    fig, ax = plt.subplots(figsize=size or (5.5, 4))
    good = statuses(rows) != "" if good is None else good
    factor = current_axes(ax, rows["I1"])
    for n, (label, idx) in enumerate(series(rows, study, axis)):
        color = f"C{n % 10}"
        x = rows[column(axis)][idx]
        err = None if error is None else error[idx] / factor
        _points(ax, x, rows["I1"][idx] / factor, good[idx], color, label, err, open_label=open_label)
        weak = np.maximum(rows["alpha1"][idx], rows["alpha2"][idx]) <= ANALYTIC_MAX_ALPHA
        for col, theory in (("I_redfield", "Redfield"), ("I_ptre", "NE-PTRE")):
            if col not in rows.dtype.names:
                continue
            ya = rows[col][idx]
            # a theory that vanishes here (Redfield at theta = 0, to rounding) has nothing to show
            shown = weak & np.isfinite(ya) & (np.abs(ya) > 1e-9 * np.nanmax(np.abs(rows["I1"])))
            if ax.get_yscale() == "log":
                shown &= ya > 0
            if np.any(shown):
                look = THEORIES[theory]
                ax.plot(x[shown], ya[shown] / factor, marker=look["marker"], ls=look["ls"], color=color, ms=5,
                        mfc="none", lw=0.8, label=f"{theory} {label}".strip())
    set_scales(ax, axis, rows[column(axis)])
    ax.set_xlabel(LABELS.get(axis, axis))
    ax.legend(fontsize=7, frameon=False)
    return fig


def converged_view(rows: np.ndarray, summary: np.ndarray) -> np.ndarray:
    """A convergence study's points as sweep rows: I1 = the deepest usable rung's current, its
    analytic currents, "error" = the ladder's estimate (absolute), "status"."""
    names = [n for n in summary.dtype.names if n in MODEL_COLUMNS]
    dtype = [(n, "f8") for n in names] + [(c, "f8") for c in ("I1", "I_redfield", "I_ptre", "error")] \
        + [("status", "S16")]
    out = []
    usable = np.isin(statuses(rows), ("ok", "inaccurate"))
    for s in summary:
        mine = rows[(rows["point"] == s["point"]) & usable & (rows["role"] == b"rung")]
        if mine.size == 0:
            continue
        last = mine[np.argmax(mine["eval"])]
        out.append(tuple(float(s[n]) for n in names) + (float(last["I1"]), float(last["I_redfield"]),
                   float(last["I_ptre"]), float(s["error"]), s["status"]))
    return np.array(out, dtype=dtype)


def optimize(plt, rows, study, axis, size):
    """theta_opt and I_opt against the axis key (paper Fig. 3); error bars on I_opt from the
    optimum's own checks (depth and decomposition), points above their tolerance open."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=size or (9, 3.8))
    good = np.isin(statuses(rows), GOOD)
    checks = [rows[c] for c in ("depth_error", "decomposition_error") if c in rows.dtype.names]
    rel = np.nanmax(np.vstack(checks), axis=0) if checks and np.any(np.isfinite(np.vstack(checks))) else None
    factor = current_axes(a2, rows["I_opt"])
    a2.set_ylabel(a2.get_ylabel().replace(CURRENT, r"optimal current $I_{\rm opt}$"))
    for n, (label, idx) in enumerate(series(rows, study, axis)):
        color = f"C{n % 10}"
        x = rows[column(axis)][idx]
        _points(a1, x, rows["theta_opt"][idx], good[idx], color, label, rows["xtol"][idx], series=n)
        err = None if rel is None else rel[idx] * np.abs(rows["I_opt"][idx]) / factor
        _points(a2, x, rows["I_opt"][idx] / factor, good[idx], color, label, err, series=n)
    for ax in (a1, a2):
        set_scales(ax, axis, rows[column(axis)])
        ax.set_xlabel(LABELS.get(axis, axis))
    a1.set_ylim(-0.05, math.pi / 2 + 0.05 if np.nanmax(rows["theta_opt"]) <= math.pi / 2 + 1e-9 else math.pi + 0.05)
    pi_ticks(a1, "y")
    a1.set_ylabel(r"optimal angle $\theta_{\rm opt}$")
    a1.legend(fontsize=7, frameon=False)
    return fig


def rectification(plt, rows, study, axis, size, orientation="reverse", golden=None):
    """The rectification ratio against alpha1/alpha2 where one coupling is swept and the other fixed
    (the paper's axis; otherwise against the axis key), in the paper's orientation
    |I(T2, T1)| / |I(T1, T2)| ("reverse") or its inverse, with the golden-rule ratio beside the HEOM
    one (how much of the rectification the effective coupling asymmetry explains), and both currents."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=size or (9.5, 3.8))
    good = statuses(rows) == "converged" if "rel_error" in rows.dtype.names else np.isin(statuses(rows), GOOD)
    forward, reverse = np.abs(rows["I_forward"]), np.abs(rows["I_reverse"])
    ratio = reverse / forward if orientation == "reverse" else forward / reverse
    names = {"reverse": r"$R = |I(T_2, T_1)|\,/\,|I(T_1, T_2)|$", "forward": r"$R = |I(T_1, T_2)|\,/\,|I(T_2, T_1)|$"}
    x_of = (lambda r: r["alpha1"] / r["alpha2"]) if axis in ("alpha1", "alpha2") else (lambda r: r[column(axis)])
    x_all = x_of(rows)
    for n, (label, idx) in enumerate(series(rows, study, axis)):
        color = f"C{n % 10}"
        x = x_all[idx]
        err = rows["rel_error"][idx] * ratio[idx] if "rel_error" in rows.dtype.names else None
        _points(a1, x, ratio[idx], good[idx], color, label, err)
        if golden is not None and np.any(np.isfinite(golden[idx])):
            g = golden[idx] if orientation == "forward" else 1.0 / golden[idx]
            look = THEORIES["golden rule"]
            a1.plot(x, g, marker=look["marker"], ls=look["ls"], color=color, ms=5, mfc="none", lw=0.8,
                    label=f"golden rule {label}".strip())
        a2.plot(x, forward[idx], marker="s", ls="-", color=color, ms=5, label=r"$|I(T_1, T_2)|$ " + label)
        a2.plot(x, reverse[idx], marker="o", ls="--", color=color, ms=5, mfc="none", label=r"$|I(T_2, T_1)|$ " + label)
    x_label = r"coupling ratio $\alpha_1 / \alpha_2$" if axis in ("alpha1", "alpha2") else LABELS.get(axis, axis)
    for ax in (a1, a2):
        set_scales(ax, "ratio" if axis in ("alpha1", "alpha2") else axis, x_all)
        ax.set_xlabel(x_label)
        ax.legend(fontsize=7, frameon=False)
    a1.axhline(1.0, color="0.6", lw=0.8)
    if log_apt(ratio):
        a1.set_yscale("log")
    a1.set_ylabel(f"rectification {names[orientation]}")
    if log_apt(np.concatenate([forward, reverse])):
        a2.set_yscale("log")
    a2.set_ylabel(f"heat current [{CURRENT_UNIT}]")
    return fig


def convergence(plt, rows, summary, study, size):
    """Every rung of every finished point: I / I(last rung) and the relative change against depth,
    with the tolerance; points that did not converge dashed and open."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=size or (9, 3.8))
    swept = swept_keys(study)
    tol = study.get("tolerance", 1e-3)
    usable = np.isin(statuses(rows), ("ok", "inaccurate"))
    for n, s in enumerate(summary):
        color = f"C{n % 10}"
        mine = rows[(rows["point"] == s["point"]) & usable & (rows["role"] == b"rung")]
        mine = mine[np.argsort(mine["eval"])]
        label = series_label(swept, [float(s[column(k)]) for k in swept]) or f"point {int(s['point'])}"
        status = s["status"].decode()
        style = dict(color=color, ms=5, ls="-" if status == "converged" else "--",
                     mfc=color if status == "converged" else "none")
        if status != "converged":
            label += f" ({status.replace('_', ' ')})"
        depth, current = mine["depth"], mine["I1"]
        if current.size:
            a1.plot(depth, current / current[-1], marker="s", label=label, **style)
        if current.size > 1:
            change = np.abs(np.diff(current)) / np.abs(current[1:])
            a2.semilogy(depth[1:], change, marker="s", label=label, **style)
    a2.axhline(tol, color="0.4", ls="--", lw=0.8, label=f"tolerance {tol:g}")
    for ax in (a1, a2):
        ax.set_xlabel("hierarchy depth $L$")
        ax.xaxis.get_major_locator().set_params(integer=True)
    a1.set_ylabel(r"$I(L) / I(L_{\rm last})$")
    a2.set_ylabel(r"relative change $|I(L) - I(L-1)| / |I(L)|$")
    if len(summary) <= 12:
        a2.legend(fontsize=6, frameon=False)
    return fig


def noise(plt, rows, study, axis, size):
    """S1 = d<<Q1^2>>/dt and the Fano factor S1 / (2 Delta I1) against the axis key, one curve per
    value of the other swept keys (docs/noise.md). Rows: summaries with S1 and a current (I1 or I)."""
    current = rows["I1"] if "I1" in rows.dtype.names else rows["I"]
    good = np.isin(statuses(rows), GOOD)
    fig, (left, right) = plt.subplots(1, 2, figsize=size or (9, 3.6))
    for n, (label, idx) in enumerate(series(rows, study, axis)):
        color = f"C{n % 10}"
        x = rows[column(axis)][idx]
        _points(left, x, rows["S1"][idx], good[idx], color, label, series=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            fano = rows["S1"][idx] / (2.0 * rows["delta"][idx] * current[idx])
        _points(right, x, fano, good[idx], color, label, series=n)
    for ax in (left, right):
        set_scales(ax, axis, rows[column(axis)])
        ax.set_xlabel(LABELS.get(axis, axis))
    if log_apt(rows["S1"]):
        left.set_yscale("log")
    left.set_ylabel(r"noise $S_1 = d\langle\langle Q_1^2\rangle\rangle/dt$ [$\omega_c^3$]")
    right.set_ylabel(r"Fano factor $S_1 / (2\Delta I_1)$")
    left.legend(fontsize=7, frameon=False)
    return fig


TIME = r"time $t$ [$1/\omega_c$]"
STATE_NAMES = {"up": r"$|{\uparrow}\rangle$", "down": r"$|{\downarrow}\rangle$", "mixed": r"$1/2$"}


def initial_state_text(dynamics: dict) -> str:
    """The initial state of a transient for a caption: rho_00 and thermal baths, or the quench."""
    quench = dynamics.get("quench_from") or {}
    if quench:
        keys = ", ".join(f"${SYMBOLS.get(k, k)}$ = {value_text(k, float(v))}" for k, v in quench.items())
        how = dynamics.get("quench", "correlated")
        return f"from the steady state at {keys} ({how} quench at $t = 0$)"
    rho0 = dynamics.get("rho0", "down")
    state = STATE_NAMES.get(rho0) if isinstance(rho0, str) else rf"$\vec r$ = ({', '.join(f'{x:g}' for x in rho0)})"
    return rf"from $\rho_S$ = {state}, baths thermal"


def dynamics(plt, table, rows, summary, study, size, log_time=False):
    """I1 and -I2 (left) and <sz> (right) against time, one colour per point, each point's steady
    state of the same hierarchy dashed (it equals I1 = -I2 there); points that are not finished or
    not good are labelled with their status ("running" while a study is under way)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=size or (10, 3.8))
    steady = rows[(rows["role"] == b"steady_state") & np.isin(statuses(rows), ("ok", "inaccurate"))]
    swept = swept_keys(study)
    points = sorted({int(p) for p in table["point"]})
    factor, prefix = scale_of(np.concatenate([table["I1"], -table["I2"]]))
    finished = {int(s["point"]): s["status"].decode() for s in summary}
    for n, point in enumerate(points):
        color = f"C{n % 10}"
        mine = table[table["point"] == point]
        mine = mine[np.argsort(mine["t"], kind="stable")]
        if log_time:
            mine = mine[mine["t"] > 0]
        ss = steady[steady["point"] == point]
        label = series_label(swept, [float(ss[0][column(k)]) for k in swept]) if swept and ss.size else ""
        label = label or (f"point {point}" if len(points) > 1 else "transient")
        status = finished.get(point, "running")
        if status not in GOOD:
            label += f" ({status.replace('_', ' ')})"
        a1.plot(mine["t"], mine["I1"] / factor, color=color, lw=1.2)
        a1.plot(mine["t"], -mine["I2"] / factor, color=color, lw=1.0, ls=":")
        a2.plot(mine["t"], mine["sz"], color=color, lw=1.2, label=label)
        if ss.size:
            a1.axhline(float(ss[0]["I1"]) / factor, color=color, ls="--", lw=0.8)
            a2.axhline(float(ss[0]["x3"]), color=color, ls="--", lw=0.8)
    for style, text in (("-", r"$I_1$"), (":", r"$-I_2$"), ("--", "steady state")):
        a1.plot([], [], color="0.35", ls=style, lw=1.0, label=text)
    a2.plot([], [], color="0.35", ls="--", lw=0.8, label="steady state")
    a1.axhline(0.0, color="0.7", lw=0.6)
    for ax in (a1, a2):
        ax.set_xlabel(TIME)
        if log_time:
            ax.set_xscale("log")
        ax.legend(fontsize=7, frameon=False)
    a1.set_ylabel(f"heat current [{prefix}{CURRENT_UNIT}]")
    a2.set_ylabel(r"$\langle\sigma_z\rangle$ (populations $(1 \pm \langle\sigma_z\rangle)/2$)")
    return fig
