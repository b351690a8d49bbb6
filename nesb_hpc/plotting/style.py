"""How nesb_hpc figures look: axis labels with units, theta ticks in multiples of pi, one marker and
line style per theory, a caption line with the fixed parameters, numbers scaled into the label
instead of an offset text. Units: hbar = k_B = 1, energies in omega_c, currents in omega_c^2,
noise in omega_c^3 (docs/model.md s1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ANGLES = ("theta", "theta1", "phi1", "phi2")
LABELS = {
    "alpha": r"coupling $\alpha$", "alpha1": r"coupling $\alpha_1$", "alpha2": r"coupling $\alpha_2$",
    "delta": r"half gap $\Delta$ [$\omega_c$]", "theta": r"angle $\theta$", "T1": r"$T_1$ [$\omega_c$]",
    "T2": r"$T_2$ [$\omega_c$]", "theta1": r"angle $\theta_1$", "phi1": r"angle $\phi_1$", "phi2": r"angle $\phi_2$",
}
SYMBOLS = {"alpha": r"\alpha", "alpha1": r"\alpha_1", "alpha2": r"\alpha_2", "delta": r"\Delta", "theta": r"\theta",
           "T1": "T_1", "T2": "T_2", "theta1": r"\theta_1", "phi1": r"\phi_1", "phi2": r"\phi_2"}
# one look per theory, the same in every figure (open markers: not converged or inaccurate)
THEORIES = {
    "HEOM": dict(marker="s", ls="-"),
    "Redfield": dict(marker="^", ls="--"),
    "NE-PTRE": dict(marker="D", ls=":"),
    "golden rule": dict(marker="v", ls="-."),
}
# second-order theories are drawn only where they apply: weak coupling, max(alpha1, alpha2) <= this
# (their relative correction is c * alpha with c of 10-1000, docs/model.md s6); the values stay in the file
ANALYTIC_MAX_ALPHA = 0.1


@dataclass(frozen=True)
class PlotOptions:
    """What `nesb_hpc plot` may change: file formats, figure size (inches), a matplotlib style
    file, and for rectification the orientation of the ratio ("reverse": |I(T2,T1)| / |I(T1,T2)|,
    the paper's; "forward": its inverse)."""

    formats: tuple[str, ...] = ("png", "pdf")
    size: tuple[float, float] | None = None
    style: str | None = None
    ratio: str = "reverse"
    dpi: int = 200


def value_text(key: str, value: float) -> str:
    """A parameter's value for legends and captions: angles as fractions of pi."""
    if key in ANGLES:
        return pi_fraction(value)
    return f"{value:g}"


def pi_fraction(value: float) -> str:
    """0, pi/4, 3pi/8, ... (mathtext), or a decimal multiple of pi where no small fraction fits."""
    if value == 0:
        return "0"
    for den in (1, 2, 3, 4, 6, 8, 12, 16):
        num = value / math.pi * den
        if abs(num - round(num)) < 1e-9:
            num = int(round(num))
            head = "" if num == 1 else f"{num}"
            return rf"${head}\pi$" if den == 1 else rf"${head}\pi/{den}$"
    return rf"${value / math.pi:.3g}\pi$"


def series_label(keys, values) -> str:
    return ", ".join(f"${SYMBOLS.get(k, k)}$ = {value_text(k, v)}" for k, v in zip(keys, values))


def pi_ticks(ax, which: str = "x") -> None:
    """Ticks of an angle axis at multiples of pi/8 (pi/4 when the range is wider than pi), labelled."""
    import matplotlib.ticker as ticker

    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = (ax.get_xlim() if which == "x" else ax.get_ylim())
    step = math.pi / 8 if hi - lo <= math.pi / 2 + 1e-9 else math.pi / 4
    axis.set_major_locator(ticker.MultipleLocator(step))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: pi_fraction(round(v / step) * step)))


def log_apt(values) -> bool:
    v = np.asarray([x for x in np.ravel(values) if np.isfinite(x)], dtype=float)
    return v.size > 1 and bool(np.all(v > 0)) and v.max() / v.min() > 10.0


def set_scales(ax, x_key: str, x, y=None) -> None:
    """Log axes where the values are positive and span more than a decade; pi ticks for angles."""
    if x_key in ANGLES:
        pi_ticks(ax, "x")
    elif log_apt(x):
        ax.set_xscale("log")
    if y is not None and log_apt(y):
        ax.set_yscale("log")


def scale_of(values) -> tuple[float, str]:
    """(factor, label suffix) so that values / factor are O(1): e.g. (1e-6, r" [$10^{-6}\\,\\omega_c^2$]")
    replaces matplotlib's offset text; (1, "") when no scaling is needed."""
    v = np.abs(np.asarray([x for x in np.ravel(values) if np.isfinite(x)], dtype=float))
    if v.size == 0 or v.max() == 0:
        return 1.0, ""
    power = int(math.floor(math.log10(v.max())))
    if -2 <= power <= 2:
        return 1.0, ""
    return 10.0 ** power, rf"$10^{{{power}}}$ "


def caption(study: dict, model: dict, swept: list[str], extra: str = "") -> str:
    """One line of the fixed parameters: the [model] values the study does not vary (alpha for both
    baths when equal), and extra (depth, modes, ...)."""
    varied = {k for s in swept for k in (("alpha1", "alpha2") if s == "alpha" else (s,))}
    parts = []
    if "alpha1" not in varied and "alpha2" not in varied and model.get("alpha1") == model.get("alpha2"):
        parts.append(rf"$\alpha$ = {model['alpha1']:g}")
        varied |= {"alpha1", "alpha2"}
    for key in ("delta", "theta", "alpha1", "alpha2", "T1", "T2"):
        if key not in varied and key in model:
            if key == "theta" and study.get("kind") == "optimize_theta":
                continue
            parts.append(f"${SYMBOLS[key]}$ = {value_text(key, float(model[key]))}")
    return ", ".join(parts) + (f"; {extra}" if extra else "")
