"""[dynamics]: the transient of [study] kind = "dynamics" (docs/dynamics.md): the initial state (a
product state with thermal baths, or the steady state of other parameters: a quench), the output
times, the integrator's tolerances and PETSc TS options. Times in 1/omega_c."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from .errors import InputError, did_you_mean, fmt, value_error
from .petsc_options import PetscOptionsTable
from .schema import TableBase, documented_field, parser_of
from .tables import ModelConfig
from .values import AutoOr, Choice, Integer, Number, Unset

BLOCH_NAMES = {"up": (0.0, 0.0, 1.0), "down": (0.0, 0.0, -1.0), "mixed": (0.0, 0.0, 0.0)}
SPACINGS = ("linear", "log")
QUENCHES = ("correlated", "product")
# [model] keys a quench may change; with quench = "correlated" (the whole state carried over, a
# change of the Hamiltonian at t = 0) only those of the Hamiltonian
HAMILTONIAN_KEYS = ("alpha", "alpha1", "alpha2", "delta", "theta", "theta1", "phi1", "phi2")
QUENCH_KEYS = (*HAMILTONIAN_KEYS, "T1", "T2")
MAX_TIME = 1e7          # [1/omega_c]; relaxation takes ~1e2-1e3 (docs/dynamics.md s4)
MAX_OUTPUTS = 1_000_000


@dataclass(frozen=True)
class BlochState:
    """ "up", "down", "mixed" or a Bloch vector [rx, ry, rz] with |r| <= 1 -> the name or a tuple."""

    type_name: ClassVar[str] = "string|list"
    allowed: ClassVar[str] = ('"up" (rho_00 = |up><up|, <sz> = +1), "down" (<sz> = -1, the ground state for '
                              'Delta > 0), "mixed" (rho_00 = 1/2) or a Bloch vector [rx, ry, rz] of finite '
                              "numbers with rx^2 + ry^2 + rz^2 <= 1")

    def __call__(self, value, key):
        if isinstance(value, str):
            if value not in BLOCH_NAMES:
                raise value_error(key, value, f"is not allowed: allowed is {self.allowed}", self.allowed)
            return value
        if (not isinstance(value, (list, tuple)) or len(value) != 3
                or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) for x in value)):
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        r = tuple(float(x) for x in value)
        if math.fsum(x * x for x in r) > 1.0 + 1e-12:
            raise value_error(key, value, f"has length {math.sqrt(math.fsum(x * x for x in r)):.6g} > 1: allowed "
                              f"is {self.allowed}", self.allowed)
        return r


@dataclass(frozen=True)
class QuenchFrom:
    """A table of [model] keys -> sorted tuple of (key, value) pairs, each value checked by the
    [model] parser of its key (alpha sets alpha1 and alpha2, as in [model])."""

    type_name: ClassVar[str] = "table"
    allowed: ClassVar[str] = (f"a table of [model] keys ({', '.join(QUENCH_KEYS)}), each with a value allowed "
                              "for that key in [model]")

    def __call__(self, value, key):
        items = value if isinstance(value, tuple) else None
        if items is None:
            if not isinstance(value, Mapping):
                raise value_error(key, value, f"must be {self.allowed}", self.allowed)
            items = tuple(value.items())
        out = []
        for name, entry in items:
            if name not in QUENCH_KEYS:
                hint = did_you_mean(str(name), QUENCH_KEYS)
                raise InputError(f'input error: [{key}] unknown key "{name}": allowed keys are '
                                 f"{', '.join(QUENCH_KEYS)}{hint}", key=f"{key}.{name}", value=entry,
                                 allowed=", ".join(QUENCH_KEYS))
            target = ModelConfig._SHORTHANDS.get(name, (name,))[0]
            out.append((name, parser_of(ModelConfig, target)(entry, f"{key}.{name}")))
        names = {n for n, _ in out}
        if "alpha" in names and names & {"alpha1", "alpha2"}:
            allowed = "either alpha (sets alpha1 and alpha2) or alpha1, alpha2"
            raise value_error(key, dict(out), f"gives alpha together with alpha1 or alpha2: allowed is {allowed}",
                              allowed)
        return tuple(sorted(out))


@dataclass(frozen=True)
class DynamicsConfig(TableBase):
    """[dynamics] The transient of [study] kind = "dynamics" at every point (docs/dynamics.md):
    dy/dt = L y from an initial state to t_end, on the point's own hierarchy, with PETSc TS. Only
    with that kind (whose defaults are these)."""

    _TABLE: ClassVar[str] = "dynamics"

    rho0: Any = documented_field(
        None, "The system's state at t = 0, rho_00 = (1 + r . sigma)/2, with both baths thermal at "
        "their temperatures and uncorrelated with it (a product state: every ADO beyond tier 0 is "
        "zero). Not with quench_from.", Unset(BlochState()), default_text='"down"')
    quench_from: tuple[tuple[str, float], ...] = documented_field(
        (), "Start instead from the steady state of other parameters: the [model] keys given here "
        "(alpha, alpha1, alpha2, delta, theta, theta1, phi1, phi2, T1, T2) replace the point's for t < 0, "
        "and the point's parameters act from t = 0, e.g. quench_from = {alpha2 = 0.05}.",
        QuenchFrom(), default_text="none")
    quench: str | None = documented_field(
        None, 'How the state at t = 0 is made from quench_from\'s steady state. "correlated": the whole '
        "state, the system and its correlations with the baths (the hierarchy's auxiliary operators, "
        "rescaled to the new coupling strengths: docs/dynamics.md s2): a sudden change of the "
        "Hamiltonian, so only its keys (alpha, alpha1, alpha2, delta and the coupling angles) may "
        'differ. "product": only the system\'s reduced state rho_00 of that steady state, the baths '
        "fresh and thermal at the point's temperatures (also for T1, T2: a bath exchanged for one "
        "at another temperature). Only with quench_from.", Unset(Choice(QUENCHES)),
        default_text='"correlated"')
    t_end: float = documented_field(
        100.0, "The last output time (the evolution runs from t = 0). The approach to the steady state "
        "takes t ~ 100-500 (docs/dynamics.md s4).", Number(lo=0.0, lo_open=True, hi=MAX_TIME),
        units="1/omega_c")
    n_out: int = documented_field(
        200, "Output times after t = 0 (t = 0 is stored too): one row of the /dynamics table each.",
        Integer(lo=1, hi=MAX_OUTPUTS))
    spacing: str = documented_field(
        "linear", '"linear": t_end k / n_out, k = 1..n_out; "log": geometric from t_first to t_end '
        "(fast early transients and the slow approach in one table).", Choice(SPACINGS))
    t_first: Any = documented_field(
        "auto", 'The first output time with spacing = "log" ("auto": t_end / 1000).',
        AutoOr(Number(lo=0.0, lo_open=True, hi=MAX_TIME)), units="1/omega_c")
    rtol: float = documented_field(
        1e-8, "Relative tolerance of the integrator's local error per step (weighted RMS over the "
        "unknowns); the currents' global error came out 10-100 times larger (docs/dynamics.md s4).",
        Number(lo=0.0, lo_open=True, hi=1.0, hi_open=True), units="dimensionless")
    atol: float = documented_field(
        1e-12, "Absolute tolerance of the local error, in units of the rescaled unknowns (O(1) in "
        "rho_00, O(sqrt(alpha)) or less in tier 1).", Number(lo=0.0, lo_open=True, hi=1.0),
        units="dimensionless")
    checkpoint_interval: float = documented_field(
        30.0, "Wall-clock seconds between writes of a point's new rows and its state (the "
        "checkpoint a stopped or killed run resumes from), besides the write at the end; 0: at "
        "every output time. Checked, like a stop signal, at output times only (keep them closer "
        "than the time a stop may take). Each write copies the results file (its atomic write), "
        "so very large hierarchies want longer intervals. May change between a run and its resumption.",
        Number(lo=0.0, hi=1e7), units="s")
    petsc_options: tuple[tuple[str, str], ...] = documented_field(
        (), "PETSc options of the time evolution, as the table [dynamics.petsc_options] (as "
        "[solver.petsc_options], which applies to the steady-state solves): e.g. ts_type = \"bdf\" "
        "with ts_bdf_order = 5 (default: explicit Runge-Kutta 5(4), ts_rk_type = \"5dp\"; "
        "docs/dynamics.md s5). Options PETSc never reads are input errors.",
        PetscOptionsTable(), default_text="{}")

    def initial_state(self):
        """rho0 as given, or "down" when neither rho0 nor quench_from is."""
        return "down" if self.rho0 is None and not self.quench_from else self.rho0

    def quench_kind(self) -> str | None:
        """The quench ("correlated" by default) if quench_from is given, else None."""
        return (self.quench or "correlated") if self.quench_from else None

    @classmethod
    def _check(cls, values, table):
        quench_from, quench = values["quench_from"], values["quench"]
        if values["rho0"] is not None and quench_from:
            allowed = "either rho0 (a product state) or quench_from (a steady state)"
            raise value_error(f"{table}.rho0", values["rho0"], f"cannot be combined with quench_from = "
                              f"{fmt(dict(quench_from))}: allowed is {allowed}", allowed)
        if quench is not None and not quench_from:
            allowed = "quench only together with quench_from"
            raise value_error(f"{table}.quench", quench, f"is given without quench_from: allowed is {allowed}",
                              allowed)
        if (quench or "correlated") == "correlated":
            for name, value in quench_from:
                if name not in HAMILTONIAN_KEYS:
                    allowed = (f'with quench = "correlated", only {", ".join(HAMILTONIAN_KEYS)}: the hierarchy\'s '
                               "auxiliary operators of one temperature have no counterpart at another "
                               '(docs/dynamics.md s2); quench = "product" starts from that steady state\'s '
                               "rho_00 with the baths thermal at the point's temperatures")
                    raise value_error(f"{table}.quench_from.{name}", value, f"changes a temperature: allowed is "
                                      f"{allowed}", allowed)
        t_first = values["t_first"]
        if t_first != "auto":
            if values["spacing"] != "log":
                allowed = 't_first only with spacing = "log"'
                raise value_error(f"{table}.t_first", t_first, f"is given with spacing = "
                                  f"{fmt(values['spacing'])}: allowed is {allowed}", allowed)
            if not t_first < values["t_end"]:
                allowed = f"a time below t_end = {fmt(values['t_end'])}"
                raise value_error(f"{table}.t_first", t_first, f"is not below t_end: allowed is {allowed}", allowed)

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["quench_from"] = dict(self.quench_from)
        out["petsc_options"] = dict(self.petsc_options)
        return out
