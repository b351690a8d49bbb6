"""``python -m nesb_hpc plot RESULTS.h5``: the natural figure of each study kind (PNG and PDF).

  point           nothing to plot (one number; printed instead)
  sweep           I vs the swept axis key, one curve per value of the other swept keys; HEOM as
                  squares, Redfield / NE-PTRE (if stored) as crosses of the same colour (paper Fig. 1)
  optimize_theta  theta_opt and I_opt vs the axis key (paper Fig. 3); optimum at a bound marked
  rectification   R = |I(T1, T2)| / |I(T2, T1)| vs the axis key, and both currents (paper Fig. 4)
  convergence     I / I(last rung) and the relative change vs depth, one curve per point,
                  with the tolerance; points that did not converge drawn open and dashed; and,
                  when a key is swept, the converged I vs the axis key like a sweep (error bars:
                  the last change; points that did not converge open, marked "not converged")

Log axes where apt: an axis is logarithmic when its values are positive and span more than a
decade. Serial, matplotlib's Agg backend; reads the file only (it may be read while a study runs).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from .config import SWEEP_KEYS
from .study import MODEL_COLUMNS

LABELS = {"alpha": r"$\alpha$", "alpha1": r"$\alpha_1$", "alpha2": r"$\alpha_2$", "delta": r"$\Delta$",
          "theta": r"$\theta$", "T1": r"$T_1$", "T2": r"$T_2$", "theta1": r"$\theta_1$",
          "phi1": r"$\phi_1$", "phi2": r"$\phi_2$"}


class PlotError(Exception):
    """The file cannot be plotted (not a results file, or nothing finished yet)."""


class NothingToPlot(Exception):
    """The study has no curve (a single point): the message says its result instead."""


def _column(key: str) -> str:
    """The stored column of a swept key (alpha sets alpha1 = alpha2)."""
    return "alpha1" if key == "alpha" else key


def _log_apt(values) -> bool:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    return v.size > 1 and bool(np.all(v > 0)) and v.max() / v.min() > 10.0


def _study_input(attrs: dict) -> dict:
    return json.loads(attrs["input_normalised"]).get("study", {})


def _swept(study: dict) -> list[str]:
    return [k for k in SWEEP_KEYS if k in study]


def _axis(study: dict) -> str | None:
    swept = _swept(study)
    if not swept:
        return None
    return study.get("axis") or max(swept, key=lambda k: (len(study[k]), -SWEEP_KEYS.index(k)))


def _series(summary: np.ndarray, study: dict, axis: str):
    """[(label, index array sorted along the axis)] for each combination of the other swept keys."""
    others = [k for k in _swept(study) if k != axis]
    groups: dict[tuple, list[int]] = {}
    for i, s in enumerate(summary):
        groups.setdefault(tuple(float(s[_column(k)]) for k in others), []).append(i)
    out = []
    for values, idx in sorted(groups.items()):
        idx = np.array(idx)
        idx = idx[np.argsort(summary[_column(axis)][idx])]
        label = ", ".join(f"{LABELS.get(k, k)} = {_fmt_value(k, v)}" for k, v in zip(others, values))
        out.append((label, idx))
    return out


def _fmt_value(key: str, value: float) -> str:
    if key.startswith(("theta", "phi")):
        frac = value / math.pi
        return f"{frac:.3g}$\\pi$" if value else "0"
    return f"{value:g}"


def _set_scales(ax, x, y=None) -> None:
    if _log_apt(x):
        ax.set_xscale("log")
    if y is not None and _log_apt(y):
        ax.set_yscale("log")


def _good(summary: np.ndarray) -> np.ndarray:
    status = np.array([s.decode() for s in summary["status"]])
    return summary[np.isin(status, ("ok", "converged"))]


def _save(fig, base: str) -> list[str]:
    out = []
    for ext in ("png", "pdf"):
        name = f"{base}.{ext}"
        fig.savefig(name, dpi=150 if ext == "png" else None, bbox_inches="tight")
        out.append(name)
    return out


def plot_results(path: str, out_dir: str | None = None) -> list[str]:
    """Write the study's figures as PNG and PDF (beside the file, or in out_dir); returns their names.
    Raises PlotError (with the reason) for anything that is not a plottable results file."""
    from .results_file import UnreadableResults, read_results_file

    try:
        attrs, rows, summary = read_results_file(path)
    except UnreadableResults as exc:
        raise PlotError(str(exc)) from None
    try:
        return _plot(path, out_dir, attrs, rows, summary)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise PlotError(f"{path} is not a well-formed results file ({type(exc).__name__}: {exc})") from None


def _plot(path: str, out_dir: str | None, attrs: dict, rows: np.ndarray, summary: np.ndarray) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = attrs.get("study_kind", "point")
    study = _study_input(attrs)
    good = _good(summary)
    if good.size == 0 and not (kind in ("convergence", "rectification") and summary.size):
        raise PlotError(f"{path} has no finished point with a good status yet")
    out_dir = out_dir or os.path.dirname(os.path.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0])
    if kind == "point":
        raise NothingToPlot(f"{path}: one point, I = {good[0]['I1']:.10e} (nothing to plot)")
    axis = _axis(study)
    written = []
    if kind == "convergence" and axis is not None:
        view = _converged_view(rows, summary)
        if view.size:
            fig = _plot_sweep(plt, view, study, axis, converged=view["converged"], error=view["error"])
            fig.suptitle(f"{os.path.basename(path)}: converged currents, {int(view['converged'].sum())} of "
                         f"{attrs.get('n_points', '?')} points converged", fontsize=9)
            fig.tight_layout(rect=(0, 0, 1, 0.95))
            written += _save(fig, f"{base}-converged")
            plt.close(fig)
    if kind == "convergence":
        fig = _plot_convergence(plt, rows, summary, study)
    elif axis is None:
        raise PlotError(f"{path}: the study sweeps nothing, a single point has no curve to plot")
    elif kind == "sweep":
        # inaccurate points (C(t) missed [bath] tolerance) are drawn open, like unconverged ones
        shown = summary[np.isin([s.decode() for s in summary["status"]], ("ok", "converged", "inaccurate"))]
        accurate = np.array([s.decode() != "inaccurate" for s in shown["status"]], dtype=bool)
        fig = _plot_sweep(plt, shown, study, axis, converged=None if accurate.all() else accurate,
                          error=np.zeros(len(shown)), open_label="inaccurate C(t)")
    elif kind == "optimize_theta":
        fig = _plot_optimize(plt, good, study, axis)
    elif kind == "rectification":
        # with depth ladders, points that did not converge are drawn too (open, with error bars)
        shown = summary[np.isfinite(summary["ratio"])] if "rel_error" in summary.dtype.names else good
        fig = _plot_rectification(plt, shown, study, axis)
    else:
        raise PlotError(f"{path}: unknown study kind {kind!r}")
    fig.suptitle(f"{os.path.basename(path)}: {kind}, {len(good)} of {attrs.get('n_points', '?')} points good",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    written += _save(fig, f"{base}-{kind}")
    plt.close(fig)
    noisy = good[np.isfinite(good["S1"])] if "S1" in (good.dtype.names or ()) else good[:0]
    if axis is not None and noisy.size:
        fig = _plot_noise(plt, noisy, study, axis)
        fig.suptitle(f"{os.path.basename(path)}: zero-frequency noise of the energy out of bath 1", fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        written += _save(fig, f"{base}-noise")
        plt.close(fig)
    return written


def _plot_noise(plt, rows, study, axis):
    """S1 = d<<Q1^2>>/dt and the Fano factor S1 / (2 Delta I1) against the axis key, one curve per
    value of the other swept keys (docs/noise.md). Rows: summaries with S1 and a current (I1 or I)."""
    current = rows["I1"] if "I1" in rows.dtype.names else rows["I"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for n, (label, idx) in enumerate(_series(rows, study, axis)):
        color = f"C{n % 10}"
        x = rows[_column(axis)][idx]
        left.plot(x, rows["S1"][idx], "o-", color=color, ms=4, label=label or None)
        with np.errstate(divide="ignore", invalid="ignore"):
            fano = rows["S1"][idx] / (2.0 * rows["delta"][idx] * current[idx])
        right.plot(x, fano, "o-", color=color, ms=4, label=label or None)
    for ax in (left, right):
        _set_scales(ax, rows[_column(axis)])
        ax.set_xlabel(LABELS.get(axis, axis))
    if _log_apt(rows["S1"]):
        left.set_yscale("log")
    left.set_ylabel(r"noise $S_1 = d\langle\langle Q_1^2\rangle\rangle/dt$ [$\omega_c^3$]")
    right.set_ylabel(r"Fano factor $S_1 / (2\Delta I_1)$")
    if any(label for label, _ in _series(rows, study, axis)):
        left.legend(fontsize=7)
    return fig


def _converged_view(rows: np.ndarray, summary: np.ndarray) -> np.ndarray:
    """A convergence study's points as sweep rows: I1 = the deepest good rung's current, its
    analytic currents, "error" = the last relative-change estimate (absolute), "converged"."""
    names = [n for n in summary.dtype.names if n in MODEL_COLUMNS]
    dtype = [(n, "f8") for n in names] + [(c, "f8") for c in ("I1", "I_redfield", "I_ptre", "error")] \
        + [("converged", "?")]
    out = []
    for s in summary:
        mine = rows[(rows["point"] == s["point"]) & (rows["status"] == b"ok") & (rows["role"] == b"rung")]
        if mine.size == 0:
            continue
        last = mine[np.argmax(mine["eval"])]
        out.append(tuple(float(s[n]) for n in names) + (float(last["I1"]), float(last["I_redfield"]),
                   float(last["I_ptre"]), float(s["error"]), s["status"] == b"converged"))
    return np.array(out, dtype=dtype)


def _plot_sweep(plt, good, study, axis, converged=None, error=None, open_label="not converged"):
    """I vs axis; with converged/error (a convergence study) error bars and open unconverged points
    (labelled open_label)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    series = _series(good, study, axis)
    x_all = good[_column(axis)]
    log_y = _log_apt(good["I1"])
    for n, (label, idx) in enumerate(series):
        color = f"C{n % 10}"
        x, y = good[_column(axis)][idx], good["I1"][idx]
        if converged is None:
            ax.plot(x, y, "s-", color=color, ms=5, label=f"HEOM {label}".strip())
        else:
            err = np.where(np.isfinite(error[idx]), error[idx], 0.0)
            ax.errorbar(x, y, yerr=err, fmt="-", color=color, lw=1, label=f"HEOM {label}".strip())
            ok = converged[idx]
            ax.plot(x[ok], y[ok], "s", color=color, ms=5)
            if np.any(~ok):
                ax.plot(x[~ok], y[~ok], "s", color=color, ms=7, mfc="none",
                        label=f"{open_label} {label}".strip())
        for col, theory in (("I_redfield", "Redfield"), ("I_ptre", "NE-PTRE")):
            ya = good[col][idx]
            # a theory that gives zero here (Redfield at theta = 0: the O(alpha) current vanishes,
            # to rounding) has nothing to show
            shown = np.isfinite(ya) & (np.abs(ya) > 1e-9 * np.nanmax(np.abs(good["I1"])))
            if log_y:
                shown &= ya > 0
            if np.any(shown):
                ax.plot(x[shown], ya[shown], "x--" if theory == "Redfield" else "x:", color=color, ms=7,
                        lw=0.8, label=f"{theory} {label}".strip())
    _set_scales(ax, x_all)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(LABELS.get(axis, axis))
    ax.set_ylabel(r"heat current $I = I_1$")
    ax.legend(fontsize=7)
    return fig


def _plot_optimize(plt, good, study, axis):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    x_all, y_all = [], []
    for n, (label, idx) in enumerate(_series(good, study, axis)):
        color = f"C{n % 10}"
        x = good[_column(axis)][idx]
        theta = good["theta_opt"][idx] / math.pi
        a1.errorbar(x, theta, yerr=good["xtol"][idx] / math.pi, fmt="s-", color=color, ms=5, label=label or None)
        a2.plot(x, good["I_opt"][idx], "s-", color=color, ms=5, label=label or None)
        x_all += list(x)
        y_all += list(good["I_opt"][idx])
    for ax in (a1, a2):
        _set_scales(ax, x_all)
        ax.set_xlabel(LABELS.get(axis, axis))
    if _log_apt(y_all):
        a2.set_yscale("log")
    a1.set_ylabel(r"$\theta_{\rm opt} / \pi$")
    a1.set_ylim(-0.03, 0.53 if np.nanmax(good["theta_opt"]) <= math.pi / 2 + 1e-9 else 1.03)
    a2.set_ylabel(r"$I_{\rm opt}$")
    if any(label for label, _ in _series(good, study, axis)):
        a1.legend(fontsize=7)
    return fig


def _plot_rectification(plt, good, study, axis):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    x_all = []
    for n, (label, idx) in enumerate(_series(good, study, axis)):
        color = f"C{n % 10}"
        x = good[_column(axis)][idx]
        x_all += list(x)
        ratio = good["ratio"][idx]
        if "rel_error" in good.dtype.names and np.any(np.isfinite(good["rel_error"][idx])):
            err = np.where(np.isfinite(good["rel_error"][idx]), good["rel_error"][idx], 0.0) * ratio
            a1.errorbar(x, ratio, yerr=err, fmt="-", color=color, lw=1)
            unconverged = good["status"][idx] != b"converged"
            a1.plot(x[~unconverged], ratio[~unconverged], "s", color=color, ms=5, label=f"HEOM {label}".strip())
            if np.any(unconverged):
                a1.plot(x[unconverged], ratio[unconverged], "s", color=color, ms=7, mfc="none",
                        label=f"not converged {label}".strip())
        else:
            a1.plot(x, ratio, "s-", color=color, ms=5, label=f"HEOM {label}".strip())
        for col, theory in (("ratio_redfield", "Redfield"), ("ratio_ptre", "NE-PTRE")):
            if np.any(np.isfinite(good[col][idx])):
                a1.plot(x, good[col][idx], "x--", color=color, ms=7, lw=0.8, label=f"{theory} {label}".strip())
        a2.plot(x, np.abs(good["I_forward"][idx]), "s-", color=color, ms=5, label=r"$|I(T_1, T_2)|$ " + label)
        a2.plot(x, np.abs(good["I_reverse"][idx]), "o--", color=color, ms=4, mfc="none",
                label=r"$|I(T_2, T_1)|$ " + label)
    for ax in (a1, a2):
        _set_scales(ax, x_all)
        ax.set_xlabel(LABELS.get(axis, axis))
        ax.legend(fontsize=7)
    a1.axhline(1.0, color="0.6", lw=0.8)
    if _log_apt(good["ratio"]):
        a1.set_yscale("log")
    a1.set_ylabel(r"$R = |I(T_1, T_2)| / |I(T_2, T_1)|$")
    a2.set_ylabel("heat current")
    if _log_apt(np.abs(np.concatenate([good["I_forward"], good["I_reverse"]]))):
        a2.set_yscale("log")
    return fig


def _plot_convergence(plt, rows, summary, study):
    """Every rung of every finished point; a point that did not converge is drawn open/dashed."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    swept = _swept(study)
    tol = study.get("tolerance", 1e-3)
    for n, s in enumerate(summary):
        color = f"C{n % 10}"
        mine = rows[(rows["point"] == s["point"]) & (rows["status"] == b"ok") & (rows["role"] == b"rung")]
        mine = mine[np.argsort(mine["eval"])]
        label = ", ".join(f"{LABELS.get(k, k)} = {_fmt_value(k, float(s[_column(k)]))}" for k in swept) \
            or f"point {int(s['point'])}"
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
        ax.set_xlabel("hierarchy depth")
        ax.xaxis.get_major_locator().set_params(integer=True)
    a1.set_ylabel(r"$I(\mathrm{depth}) / I(\mathrm{last\ rung})$")
    a2.set_ylabel("relative change from the previous rung")
    a2.legend(fontsize=7)
    return fig
