"""[study]: what to compute (one point or a study of many), its keys registered once per kind
(parser, default, meaning, the kinds that take them) and their cross-checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

from .errors import InputError, did_you_mean, fmt, value_error
from .schema import TableBase, build_table, documented_field, parser_of, to_toml
from .tables import ModelConfig
from .values import (MAX_BOSE_TERMS, MAX_DEPTH, MAX_STUDY_POINTS, MAX_SWEEP_VALUES, AngleInterval, AutoOr, Bool,
                     Choice, Integer, IntOrList, Ladder, NameList, Number)

STUDY_KINDS = ("point", "sweep", "optimize_theta", "rectification", "convergence", "dynamics")
# Extension point for new study kinds: kind -> {parameter key: parser(value, key) -> value}.
# Parsers raise InputError, return hashable values and must accept their own output. Filled
# below from STUDY_KEYS (each key is documented once); defaults of keys not given come from
# StudyConfig.get.
STUDY_PARAMS: dict[str, dict[str, Callable[[Any, str], Any]]] = {}

# ----------------------------------------------------------------------------- [study]
# A study is a set of parameter points. Every kind but "point" takes swept [model] keys (lists or
# ranges, combined as a grid or zipped); each kind adds its own keys. Keys are registered once in
# STUDY_KEYS (parser, default, doc, kinds); STUDY_PARAMS is derived from it.

SWEEP_KEYS = ("alpha", "alpha1", "alpha2", "delta", "theta", "T1", "T2", "theta1", "phi1", "phi2")
ANALYTIC_THEORIES = ("redfield", "ne-ptre")
COMBINE_MODES = ("grid", "zip")
SPACINGS = ("linear", "log")
INCOMPATIBLE_CHOICES = ("refuse", "new_file")
COORDINATOR_CHOICES = ("auto", "shared", "dedicated")
DEDICATED_FROM_RANKS = 16  # coordinator = "auto": a rank of its own from this many ranks on
# Keys that say how a study is run, not what it computes: they may change between a run and its
# resumption (they are left out of the keys that match stored points to the input).
STUDY_LAYOUT_KEYS = ("ranks_per_point", "memory_per_rank", "coordinator", "axis",
                     "if_incompatible", "time_limit")


def model_parser(name: str) -> Callable:
    """The [model] parser behind a swept key (alpha -> alpha1's)."""
    return parser_of(ModelConfig, ModelConfig._SHORTHANDS.get(name, (name,))[0])


@dataclass(frozen=True)
class SweptValues:
    """A list of [model] values, or a range table -> tuple of floats valid for that model key."""

    model_key: str
    type_name: ClassVar[str] = "list|range"

    @property
    def entry_allowed(self) -> str:
        return model_parser(self.model_key).allowed

    @property
    def allowed(self) -> str:
        return (f"a non-empty list of at most {MAX_SWEEP_VALUES:,} values or a range table {{start = ..., "
                f'stop = ..., num = N, spacing = "linear" or "log"}}, each value {self.entry_allowed}')

    def _range(self, table: Mapping, key: str) -> tuple[float, ...]:
        known = ("start", "stop", "num", "spacing")
        for name in table:
            if name not in known:
                raise InputError(
                    f'input error: [{key.rpartition(".")[0]}] {key.rpartition(".")[2]} range has '
                    f'unknown key "{name}": allowed keys are {", ".join(known)}'
                    f"{did_you_mean(str(name), known)}", key=f"{key}.{name}", value=table[name],
                    allowed=", ".join(known))
        for name in ("start", "stop", "num"):
            if name not in table:
                allowed = "a range table with start, stop and num (spacing optional)"
                raise value_error(key, dict(table), f'has no "{name}": allowed is {allowed}', allowed)
        parse = model_parser(self.model_key)
        start = parse(table["start"], f"{key}.start")
        stop = parse(table["stop"], f"{key}.stop")
        num = Integer(lo=1, hi=MAX_SWEEP_VALUES)(table["num"], f"{key}.num")
        spacing = Choice(SPACINGS)(table.get("spacing", "linear"), f"{key}.spacing")
        if num == 1:
            return (start,)
        if spacing == "log":
            if not (start > 0 and stop > 0):
                allowed = "start > 0 and stop > 0 with spacing = \"log\""
                raise value_error(key, dict(table), f"cannot be log-spaced: allowed is {allowed}",
                             allowed)
            values = [start * (stop / start) ** (i / (num - 1)) for i in range(num)]
        else:
            values = [start + (stop - start) * i / (num - 1) for i in range(num)]
        values[0], values[-1] = start, stop  # the ends exactly as written
        return tuple(parse(v, key) for v in values)

    def __call__(self, value, key):
        if isinstance(value, Mapping):
            return self._range(value, key)
        if not isinstance(value, (list, tuple)) or not value or len(value) > MAX_SWEEP_VALUES:
            raise value_error(key, value, f"must be {self.allowed}", self.allowed)
        parse = model_parser(self.model_key)
        out = []
        for i, entry in enumerate(value, start=1):
            try:
                out.append(parse(entry, key))
            except InputError:
                allowed = f"entries {self.entry_allowed}"
                raise value_error(key, value, f"has an invalid entry {i} = {fmt(entry)}: allowed are "
                             f"{allowed}", allowed) from None
        return tuple(out)


@dataclass(frozen=True)
class StudyKey:
    """One [study] key: its parser, default, meaning and the kinds that take it."""

    parse: Callable
    default: Any
    doc: str
    kinds: tuple[str, ...]
    units: str = ""
    default_text: str = ""


MULTI_POINT_KINDS = ("sweep", "optimize_theta", "rectification", "convergence")
# kinds whose points come from swept keys (the transients of "dynamics": one point without any)
SWEEPING_KINDS = (*MULTI_POINT_KINDS, "dynamics")
SWEPT_DOC = (
    f"Any of the [model] keys {', '.join(SWEEP_KEYS)} (not theta with \"optimize_theta\") "
    "given here is swept: its values replace [model]'s, every other [model] key keeps its value. "
    'A list (angles as numbers or strings such as "pi/4"), or a range table {start, stop, num, '
    'spacing = "linear" or "log"}. Points are numbered in that key order, the first swept key '
    'varying slowest. Example: alpha = {start = 1e-3, stop = 1, num = 7, spacing = "log"}. '
    'Kinds: "sweep", "optimize_theta", "rectification", "convergence", "dynamics".')
SWEPT_ALLOWED = ('a non-empty list of values or a range table {start = ..., stop = ..., num = N, '
                  'spacing = "linear" or "log"}, each value allowed for the [model] key')
STUDY_KEYS: dict[str, StudyKey] = {
    **{name: StudyKey(
        SweptValues(name), None, SWEPT_DOC,
        tuple(k for k in SWEEPING_KINDS if not (k == "optimize_theta" and name == "theta")),
        default_text="not swept") for name in SWEEP_KEYS},
    "combine": StudyKey(
        Choice(COMBINE_MODES), "grid", 'How several swept keys combine: "grid" every combination, '
        '"zip" the i-th values together (lists of equal length).', SWEEPING_KINDS),
    "axis": StudyKey(
        Choice(SWEEP_KEYS), None, "The swept key on the horizontal axis of `nesb_hpc plot` (the "
        "others label the curves); default the swept key with most values.", SWEEPING_KINDS,
        default_text="most values"),
    "ranks_per_point": StudyKey(
        AutoOr(Integer(lo=1, hi=10**7)), "auto", "MPI ranks that solve one point together: the world is "
        "split into groups of this size that take points as they come; \"auto\" picks the "
        "smallest size whose dry-run memory estimate fits memory_per_rank. Never more groups than "
        "unfinished points are formed (larger groups instead).", SWEEPING_KINDS),
    "coordinator": StudyKey(
        Choice(COORDINATOR_CHOICES), "auto", "World rank 0 hands out the points and writes every "
        'result. "shared": it also solves, in the first group (results of the other groups reach '
        'the file when it is between solves); "dedicated": it only coordinates (results are '
        'written the moment a group finishes them; costs one rank); "auto": dedicated from '
        f"{DEDICATED_FROM_RANKS} ranks on, shared below.", SWEEPING_KINDS),
    "memory_per_rank": StudyKey(
        AutoOr(Number(lo=0.0, lo_open=True, hi=1e9)), "auto", "Memory one rank may use: a solve "
        "whose dry-run estimate exceeds it is not started (kind \"point\": the run is refused with "
        "advice; studies: the point ends with status memory_limit and is continued on a re-run, "
        "e.g. with more ranks; --force-memory overrides), and ranks_per_point = \"auto\" sizes "
        "groups by it. \"auto\" reads SLURM_MEM_PER_CPU, SLURM_MEM_PER_NODE or the node's "
        "available memory divided among its ranks.", ("point", *SWEEPING_KINDS), units="MiB"),
    "analytic": StudyKey(
        NameList(ANALYTIC_THEORIES), (), 'Analytic currents evaluated beside every HEOM solve and '
        'stored as I_redfield and I_ptre: "redfield" (Bloch-Redfield, any couplings, not for '
        'spectral_density = "exponents"), "ne-ptre" (NE-PTRE, only at theta = 0 with V1 = sx); '
        "NaN where a theory does not apply.", ("point", *SWEEPING_KINDS), default_text="[]"),
    "noise": StudyKey(
        Bool(), False, "Also compute the zero-frequency noise of the energy transferred out of each "
        "bath, S_nu = lim d<<Q_nu^2>>/dt, and the cross term <<Q1 Q2>>/t, from the counting-field "
        "HEOM (docs/noise.md): one extra linear solve per bath with the steady state's matrix and "
        "preconditioner; stored as S1, S2, S12 beside I1, I2 [omega_c^3]. Not with "
        'method = "slepc".', ("point", *MULTI_POINT_KINDS), units="omega_c^3"),
    "if_incompatible": StudyKey(
        Choice(INCOMPATIBLE_CHOICES), "refuse", "If [output] path holds results of a different "
        'input: "refuse" stops with a message naming the difference; "new_file" writes to the '
        "first of PATH-2.h5, PATH-3.h5, ... that is absent or holds this input (and resumes "
        "it). A file of the same input is always resumed.", ("point", *SWEEPING_KINDS)),
    "theta_bounds": StudyKey(
        AngleInterval(), (0.0, math.pi / 2), "Interval in which optimize_theta searches for the "
        "theta that maximises the heat current.", ("optimize_theta",), units="rad",
        default_text='[0, "pi/2"]'),
    "xtol": StudyKey(
        Number(lo=0.0, lo_open=True, hi=0.5), 0.01, "Tolerance of theta_opt: the bounded search "
        "(grid scan, then Brent's method on the bracket of the best grid point) stops when theta_opt "
        "is known to about this; an optimum at a bound is reported exactly at the bound.",
        ("optimize_theta",), units="rad"),
    "n_grid": StudyKey(
        Integer(lo=3, hi=1000), 5, "Equally spaced thetas (both bounds included) scanned before the "
        "refinement; more guard against several local maxima.", ("optimize_theta",)),
    "depths": StudyKey(
        Ladder(lo=1, hi=MAX_DEPTH), None, "Hierarchy depths of the convergence ladder, one rung each (replaces "
        "[hierarchy] depth). rectification: optional, a ladder for each direction (the ratio's "
        "error estimate is the sum of both directions' relative errors).",
        ("convergence", "rectification"), default_text="required for convergence"),
    "n_bose": StudyKey(
        IntOrList(lo=0, hi=MAX_BOSE_TERMS), None, "Pade/Matsubara terms per bath of each rung: one integer for all "
        "rungs or a list as long as depths (replaces [bath] n_bose).", ("convergence", "rectification"),
        default_text="[bath] n_bose"),
    "tolerance": StudyKey(
        Number(lo=0.0, lo_open=True, hi=1.0, hi_open=True), 1e-3, "The ladder is converged once "
        "converged_changes successive rung-to-rung changes of the current are below this (relative); "
        "the largest of them is the reported error estimate. optimize_theta: the largest relative change "
        "of I_opt under check_depth and n_bose_check for a good point.",
        ("convergence", "rectification", "optimize_theta"), units="dimensionless"),
    "check_depth": StudyKey(
        Integer(lo=0, hi=MAX_DEPTH), 0, "optimize_theta: solve I_opt again at theta_opt at this depth (0: no "
        "check); the relative change is the point's depth error (column depth_error), and above tolerance "
        "the point is not converged.", ("optimize_theta",)),
    "converged_changes": StudyKey(
        Integer(lo=1, hi=10), 2, "How many successive changes below tolerance make a ladder converged. "
        "2 (the default) guards against a single lucky small change where the current oscillates "
        "with depth (strong coupling: alpha = 4 oscillates at the 1e-3 level); 1 stops at the first.",
        ("convergence", "rectification")),
    "n_bose_check": StudyKey(
        Integer(lo=0, hi=MAX_BOSE_TERMS), 0, "Check a ladder converged in depth in the bath decomposition as well: "
        "the rung two below the last is solved again with this many Pade/Matsubara terms; the "
        "relative change is added to the error estimate (column decomposition_error), and above "
        "tolerance the point is not converged; optimize_theta: I_opt solved again at theta_opt with "
        "this many terms. 0: no check.", ("convergence", "rectification", "optimize_theta")),
    "time_limit": StudyKey(
        Number(lo=0.0, hi=1e9), 0.0, "Seconds one point's ladder may take (0: no limit): the next rung is "
        "not started if the time spent plus its predicted time exceeds it. A point stopped by this "
        "or by memory_per_rank is continued when the study is re-run.", ("convergence", "rectification"),
        units="s"),
}
STUDY_PARAMS.update({kind: {name: k.parse for name, k in STUDY_KEYS.items() if kind in k.kinds}
                     for kind in STUDY_KINDS})


@dataclass(frozen=True)
class StudyParams:
    """The non-``kind`` keys of [study] -> sorted tuple of (name, value) pairs."""

    type_name: ClassVar[str] = "keys"

    @property
    def allowed(self) -> str:
        return "per kind: " + "; ".join(f'"{kind}": {", ".join(keys) or "no other keys"}'
                                        for kind, keys in STUDY_PARAMS.items())

    def __call__(self, value, key):
        items = value.items() if isinstance(value, Mapping) else value
        return tuple(sorted(items))


@dataclass(frozen=True)
class StudyConfig(TableBase):
    """[study] What to compute: one point, or a study of many points (sweep, theta optimisation,
    rectification, convergence ladder)."""

    # New kinds extend STUDY_KINDS and register their keys in STUDY_KEYS (-> STUDY_PARAMS).
    _TABLE: ClassVar[str] = "study"

    kind: str = documented_field(
        "point", '"point": the steady state at [model]; "sweep": every point of the swept [model] '
        'keys; "optimize_theta": at every point, the theta in theta_bounds that maximises the heat '
        'current (every evaluation kept); "rectification": every point with T1, T2 and with them '
        'exchanged, and the ratio R = |I(T1, T2)| / |I(T2, T1)|; "convergence": every point on a '
        "ladder of depths (and n_bose) until the current changes by less than tolerance; "
        '"dynamics": at every point (one, or those of the swept keys), the transient from [dynamics]\'s '
        "initial state to t_end beside the steady state of the same hierarchy.",
        Choice(STUDY_KINDS))
    params: tuple[tuple[str, Any], ...] = documented_field(
        (), "The other keys of [study]: parameters of the chosen kind (stored as params, sorted "
        '(name, value) pairs); "point" takes only analytic, if_incompatible and memory_per_rank.', StudyParams(),
        default_text="none")

    @classmethod
    def _from_mapping(cls, data, table):
        if not isinstance(data, Mapping):
            allowed = f"a table [{table}]"
            raise value_error(table, data, f"must be {allowed}", allowed)
        params = {k: v for k, v in data.items() if k != "kind"}
        return build_table(cls, {"kind": data.get("kind", "point"), "params": params}, table)

    @classmethod
    def _check(cls, values, table):
        kind = values["kind"]
        parsers = STUDY_PARAMS.get(kind, {})
        keys = ["kind", *parsers]
        out = []
        for name, value in values["params"]:
            if name not in parsers:
                hint = did_you_mean(str(name), keys)
                if not hint and name in STUDY_KEYS:
                    kinds = ", ".join(f'"{k}"' for k in STUDY_KEYS[name].kinds)
                    hint = f" ({name} belongs to kind = {kinds})"
                raise InputError(
                    f'input error: [{table}] unknown key "{name}": allowed keys for kind = '
                    f'"{kind}" are {", ".join(keys)}{hint}',
                    key=f"{table}.{name}", value=value, allowed=", ".join(keys))
            out.append((name, parsers[name](value, f"{table}.{name}")))
        params = dict(out)
        values["params"] = tuple(sorted(out))
        cls._check_combination(kind, params, table)

    @staticmethod
    def _check_combination(kind: str, params: dict, table: str) -> None:
        swept = {k: params[k] for k in SWEEP_KEYS if k in params}
        for target in ("alpha1", "alpha2"):
            if "alpha" in swept and target in swept:
                allowed = "either alpha (sets alpha1 and alpha2) or alpha1, alpha2"
                raise InputError(
                    f"input error: [{table}] alpha = {fmt(swept['alpha'])} cannot be combined with "
                    f"{target} = {fmt(swept[target])}: allowed is {allowed}",
                    key=f"{table}.alpha", value=swept["alpha"], allowed=allowed)
        n_points = math.prod(len(v) for v in swept.values()) if params.get("combine") != "zip" else 0
        if n_points > MAX_STUDY_POINTS:
            allowed = f"at most {MAX_STUDY_POINTS:,} points in one study (split it into several inputs)"
            given = " x ".join(f"{len(v)} {k}" for k, v in swept.items())
            raise InputError(f"input error: [{table}] sweeps {given} = {n_points:,} points: allowed is "
                             f"{allowed}", key=f"{table}.{next(iter(swept))}", value=n_points, allowed=allowed)
        if kind == "sweep" and not swept:
            allowed = f"one or more of {', '.join(SWEEP_KEYS)} as a list or range"
            raise InputError(f'input error: [{table}] kind = "sweep" has no swept key: allowed is '
                             f"{allowed}", key=f"{table}.kind", value=kind, allowed=allowed)
        if params.get("combine") == "zip":
            lengths = {k: len(v) for k, v in swept.items()}
            if len(set(lengths.values())) > 1:
                allowed = 'swept keys of equal length with combine = "zip"'
                given = ", ".join(f"{k} has {n}" for k, n in lengths.items())
                raise InputError(f'input error: [{table}] combine = "zip" needs lists of equal '
                                 f"length, but {given} values: allowed is {allowed}",
                                 key=f"{table}.combine", value="zip", allowed=allowed)
        axis = params.get("axis")
        if axis is not None and axis not in swept:
            allowed = f"a swept key ({', '.join(swept) or 'none is swept'})"
            raise value_error(f"{table}.axis", axis, f"is not swept: allowed is {allowed}", allowed)
        if kind == "rectification" and "depths" not in params:
            for key in ("n_bose", "tolerance", "time_limit", "n_bose_check"):
                if key in params:
                    allowed = "with kind = \"rectification\" only together with depths (a ladder per direction)"
                    raise value_error(f"{table}.{key}", params[key], f"is given without depths: allowed is {allowed}",
                                 allowed)
        if kind == "convergence" or (kind == "rectification" and "depths" in params):
            if "depths" not in params:
                allowed = "a ladder such as depths = [2, 3, 4, 5]"
                raise InputError(f'input error: [{table}] kind = "convergence" needs the key '
                                 f'"depths": allowed is {allowed}', key=f"{table}.depths",
                                 value=None, allowed=allowed)
            n_bose = params.get("n_bose")
            if isinstance(n_bose, tuple) and len(n_bose) != len(params["depths"]):
                allowed = f"one integer, or a list of {len(params['depths'])} (one per depth)"
                raise value_error(f"{table}.n_bose", n_bose, f"has {len(n_bose)} entries but depths has "
                             f"{len(params['depths'])}: allowed is {allowed}", allowed)
            depths = params["depths"]
            nbs = n_bose if isinstance(n_bose, tuple) else None
            for i in range(1, len(depths)):
                grows = depths[i] > depths[i - 1] or (nbs is not None and nbs[i] > nbs[i - 1])
                if not grows or (nbs is not None and nbs[i] < nbs[i - 1]):
                    allowed = ("rungs that each grow: a larger depth, or the same depth with more "
                               "n_bose terms, neither decreasing")
                    what = f"depth {depths[i]}" + (f", n_bose {nbs[i]}" if nbs is not None else "")
                    raise value_error(f"{table}.depths", depths, f"repeats or shrinks rung {i} ({what}): "
                                 f"allowed is {allowed}", allowed)

    def get(self, name: str) -> Any:
        """A [study] key's value, or its default if not given (KeyError for unknown names)."""
        return dict(self.params).get(name, STUDY_KEYS[name].default)

    def swept(self) -> dict[str, tuple[float, ...]]:
        """The swept [model] keys and their values, in SWEEP_KEYS order (the first varies slowest)."""
        params = dict(self.params)
        return {k: params[k] for k in SWEEP_KEYS if k in params}

    def to_dict(self) -> dict:
        return {"kind": self.kind, **{k: to_toml(v) for k, v in self.params}}


