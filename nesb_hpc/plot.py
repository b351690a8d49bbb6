"""``python -m nesb_hpc plot RESULTS.h5``: the natural figures of each study kind (PNG and PDF by
default), ready for a paper or a talk (plotting/style.py: labels with units, theta in multiples of
pi, one marker per theory, the fixed parameters in a caption line).

  point           nothing to plot (one number; NothingToPlot carries it)
  sweep           I against the axis key, one curve per value of the other swept keys; Redfield /
                  NE-PTRE beside the HEOM where they apply (weak coupling); inaccurate points open
  optimize_theta  theta_opt and I_opt against the axis key (paper Fig. 3); error bars from each
                  optimum's depth and decomposition checks, points above their tolerance open
  rectification   the ratio against alpha1/alpha2 (the paper's axis) in the paper's orientation
                  |I(T2,T1)|/|I(T1,T2)| (or the other), with the golden-rule ratio, and both currents
  convergence     I / I(last rung) and the relative change against depth; with a swept key also the
                  converged I against the axis key (-converged: error bars, unconverged points open)
  noise           with S1 stored: S1 and the Fano factor S1/(2 Delta I1) (-noise)
  dynamics        I1 and -I2, and <sz>, against time, one colour per point, each point's steady state
                  dashed (-dynamics); points still running are drawn as far as they are stored

Serial, matplotlib's Agg backend; reads the file only (it may be read while a study runs), through
results_file.read_results_file, which refuses anything not written by nesb_hpc.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .plotting import figures
from .plotting.style import PlotOptions, caption


class PlotError(Exception):
    """The file cannot be plotted (not a results file, or nothing finished yet)."""


class NothingToPlot(Exception):
    """The study has no curve (a single point): the message says its result instead."""


def plot_results(path: str, out_dir: str | None = None, options: PlotOptions | None = None) -> list[str]:
    """Write the study's figures (beside the file, or in out_dir); returns their names. Raises
    PlotError (with the reason) for anything that is not a plottable results file."""
    from .results_file import UnreadableResults, read_dynamics_table, read_results_file

    try:
        attrs, rows, summary = read_results_file(path)
        transients = read_dynamics_table(path) if attrs.get("study_kind") == "dynamics" else None
    except UnreadableResults as exc:
        raise PlotError(str(exc)) from None
    try:
        return _plot(path, out_dir, options or PlotOptions(), attrs, rows, summary, transients)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise PlotError(f"{path} is not a well-formed results file ({type(exc).__name__}: {exc})") from None


def _axis(study: dict) -> str | None:
    swept = figures.swept_keys(study)
    if not swept:
        return None
    return study.get("axis") or max(swept, key=lambda k: (len(study[k]), -figures.SWEEP_KEYS.index(k)))


def _plot(path, out_dir, options: PlotOptions, attrs, rows, summary, transients=None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    normalised = json.loads(attrs["input_normalised"])
    study, model = normalised.get("study", {}), normalised.get("model", {})
    kind = attrs.get("study_kind", "point")
    status = figures.statuses(summary)
    good = summary[np.isin(status, figures.GOOD)]
    if kind == "dynamics":
        if transients is None or transients.size == 0:
            raise PlotError(f"{path} has no transient stored yet (its /dynamics table is empty)")
    elif good.size == 0 and not (kind in ("convergence", "rectification", "optimize_theta", "sweep") and summary.size):
        raise PlotError(f"{path} has no finished point with a good status yet")
    if kind == "point":
        shown = good if good.size else summary
        raise NothingToPlot(f"{path}: one point, I = {shown[0]['I1']:.10e} (nothing to plot)")
    axis = _axis(study)
    if axis is None and kind not in ("convergence", "dynamics"):
        raise PlotError(f"{path}: the study sweeps nothing, a single point has no curve to plot")
    out_dir = out_dir or os.path.dirname(os.path.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0])
    hierarchy = normalised.get("hierarchy", {})
    note = f"{hierarchy.get('modes', 'separate')} modes"
    if kind == "dynamics":
        note = f"depth {hierarchy.get('depth', '?')}, {note}; {figures.initial_state_text(normalised.get('dynamics', {}))}"
    fixed = caption(study, model, figures.swept_keys(study), note)
    style = plt.style.context(options.style) if options.style else plt.style.context("default")
    written = []
    with style:
        for name, fig in _figures(plt, kind, axis, study, rows, summary, status, options, normalised, transients):
            fig.text(0.01, 0.005, fixed, fontsize=7, color="0.3", ha="left", va="bottom")
            fig.tight_layout(rect=(0, 0.04, 1, 1))
            for ext in options.formats:
                target = f"{base}-{name}.{ext}"
                fig.savefig(target, dpi=options.dpi if ext == "png" else None, bbox_inches="tight")
                written.append(target)
            plt.close(fig)
    return written


def _figures(plt, kind, axis, study, rows, summary, status, options, normalised, transients=None):
    """(name, figure) for each figure of the study."""
    size = options.size
    if kind == "dynamics":
        log_time = normalised.get("dynamics", {}).get("spacing") == "log"
        yield "dynamics", figures.dynamics(plt, transients, rows, summary, study, size, log_time)
        return
    if kind == "convergence":
        if axis is not None:
            view = figures.converged_view(rows, summary)
            if view.size:
                yield "converged", figures.sweep(plt, view, study, axis, size, good=figures.statuses(view) == "converged",
                                                 error=view["error"])
        yield "convergence", figures.convergence(plt, rows, summary, study, size)
    elif kind == "sweep":
        # inaccurate points (C(t) missed [bath] tolerance) are drawn open, like unconverged ones
        shown = summary[np.isin(status, ("ok", "converged", "inaccurate"))]
        yield "sweep", figures.sweep(plt, shown, study, axis, size, good=figures.statuses(shown) != "inaccurate",
                                     open_label="inaccurate C(t)")
    elif kind == "optimize_theta":
        shown = summary[np.isfinite(summary["theta_opt"])]
        yield "optimize_theta", figures.optimize(plt, shown, study, axis, size)
    elif kind == "rectification":
        shown = summary[np.isfinite(summary["ratio"])]
        yield "rectification", figures.rectification(plt, shown, study, axis, size, options.ratio,
                                                     _golden_ratio(shown, normalised))
    else:
        raise PlotError(f"unknown study kind {kind!r}")
    names = summary.dtype.names or ()
    if axis is not None and "S1" in names:
        noisy = summary[np.isfinite(summary["S1"]) & np.isin(status, ("ok", "converged", "not_converged"))]
        if noisy.size:
            yield "noise", figures.noise(plt, noisy, study, axis, size)


def _golden_ratio(rows, normalised: dict) -> np.ndarray | None:
    """|I_gr(T1, T2)| / |I_gr(T2, T1)| per point (golden rule, docs/model.md s6), from each bath's
    J; None where the input gives a bath's C(t) directly, or where a bath's table file cannot be
    read from here (the figure then goes without the golden-rule line)."""
    from .analytic import golden_rule_current
    from .bath import densities
    from .config import InputError, parse_config

    try:
        cfg = parse_config(normalised)
    except InputError:
        return None
    if any(b.spectral_density == "exponents" for b in cfg.bath.per_bath()):
        return None
    out = np.full(len(rows), np.nan)
    for i, r in enumerate(rows):
        J1, J2 = densities(cfg.bath, (float(r["alpha1"]), float(r["alpha2"])))
        args = (float(r["delta"]), J1, J2, float(r["theta1"]), float(r["theta"]))
        try:
            forward = golden_rule_current(float(r["delta"]), float(r["T1"]), float(r["T2"]), *args[1:])
            reverse = golden_rule_current(float(r["delta"]), float(r["T2"]), float(r["T1"]), *args[1:])
        except ValueError:
            continue
        out[i] = abs(forward) / abs(reverse) if reverse else np.nan
    return out
