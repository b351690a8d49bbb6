"""The [bath] table with its per-bath sub-tables [bath.bath1] and [bath.bath2].

[bath] holds every key of a bath (its spectral density, the density's parameters, how C(t) is
decomposed and how accurately); both baths use it. A sub-table may give any of those keys again
for its bath alone, and holds the exponents of spectral_density = "exponents":

    [bath]                        # both baths: the paper's J, exact decomposition
    spectral_density = "rational"
    [bath.bath2]                  # bath 2 only: an Ohmic exponential cutoff, fitted
    spectral_density = "exponential"
    s = 1

``BathConfig.per_bath()`` is the one accessor every consumer uses: each bath's effective values
as a ``BathSpec``. Validation runs on those effective values, per bath, and names the table where
the offending key is written ("[bath.bath2] gamma = 2.5 ...", or "[bath] gamma = 2.5 (bath 2)
..." when the shared value fails only for the settings of bath 2). Sub-tables keep only the keys
given, so an input without them normalises (``to_dict``) exactly as before they existed.
Units (docs/model.md s1): energies, temperatures and rates in omega_c.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, make_dataclass
from typing import ClassVar

from .errors import InputError, fmt, value_error
from .registries import DECOMPOSITIONS, FITTED_DENSITIES, SPECTRAL_DENSITIES
from .schema import SubTable, TableBase, documented_field
from .values import (ENERGY, MAX_BOSE_TERMS, MAX_ENERGY, AutoOr, Choice, ComplexList, Exponent, FilePath, Integer,
                     Number, Unset)


@dataclass(frozen=True)
class _SharedBathKeys(TableBase):
    """The keys of one bath; [bath] gives them for both, a sub-table for its bath alone."""

    spectral_density: str = documented_field(
        "rational", 'Form of J(w): "rational" pi alpha w^s omega_c^(1-s) / (1 + (w/omega_c)^2)'
        '^cutoff_power (the paper: s = 3, cutoff_power = 4); "drude_lorentz" its s = 1, '
        'cutoff_power = 1 case; "underdamped" alpha omega0^2 gamma w / ((omega0^2 - w^2)^2 + '
        'gamma^2 w^2); "exponential" pi alpha w^s omega_c^(1-s) exp(-w/omega_c) (s = 1 Ohmic, s > 1 '
        'super-Ohmic; always fitted); "tabulated" alpha times the J(w) of the table in file (always '
        'fitted); "exponents" C(t) given directly in [bath.bath1] and [bath.bath2] '
        "(alpha_nu multiplies the given C(t): set alpha = 1 to use them as given).",
        Choice(SPECTRAL_DENSITIES))
    s: int | float = documented_field(
        3, 'Spectral exponent s: of "rational" an odd integer (C(t) then follows exactly from residues), '
        'of "exponential" any number > 0 (1 Ohmic, 3 super-Ohmic).', Exponent(hi=99))
    cutoff_power: int = documented_field(4, 'Power p of the "rational" cutoff 1/(1 + (w/omega_c)^2)^p; '
                                         "needs 2*cutoff_power > s + 1 (finite C(0)).", Integer(lo=1, hi=100))
    omega_c: float = documented_field(1.0, 'Cutoff frequency of "rational", "drude_lorentz" and "exponential" '
                                      "(1 makes it the energy unit).", ENERGY, units="omega_c")
    omega0: float = documented_field(1.0, 'Resonance frequency of "underdamped".', ENERGY, units="omega_c")
    gamma: float = documented_field(0.2, 'Peak width of "underdamped"; needs gamma < 2*omega0 (distinct '
                                    "poles).", ENERGY, units="omega_c")
    file: str | None = documented_field(
        None, 'The table of "tabulated": a text file of two columns, w and J(w) at alpha = 1 in the '
        "convention above (units omega_c), from w = 0 with J(0) = 0, w strictly increasing, J >= 0; "
        "'#' starts a comment. Read and checked when the input is. Monotone cubic (PCHIP) "
        "interpolation between the rows, J = 0 beyond the last (tabulate until J has decayed).",
        Unset(FilePath()), default_text="absent")
    decomposition: str = documented_field("pade", "Expansion of the Bose function coth(w/2T) into poles: "
                                          '"pade" (Pade spectrum decomposition, Hu, Xu, Yan 2010: far faster '
                                          'convergence) or "matsubara". Not used by fits and "exponents".',
                                          Choice(DECOMPOSITIONS))
    n_bose: int | str = documented_field(
        "auto", 'Number of Pade/Matsubara terms per bath (each adds an exponential to C^R(t), i.e. one '
        'hierarchy mode per bath). "auto": per bath and temperature the smallest number whose '
        "decomposed C(t) meets tolerance against quadrature (docs/decomposition.md: 2 at T = 0.9-1, "
        "3 at T = 0.3, 6 at 0.1, 14 at 0.02 for the paper's J, Pade, 1e-4); an integer fixes it. Too "
        'few make a spurious current at T1 = T2. Not used by fits ("exponential", "tabulated", '
        "fit_tolerance > 0) and \"exponents\".", AutoOr(Integer(lo=0, hi=MAX_BOSE_TERMS)))
    tolerance: float = documented_field(
        1e-4, 'Largest relative error max_t |C_dec - C| / max_t |C| of the decomposed C(t) against '
        'quadrature: n_bose = "auto" meets it, and a solve whose decomposition misses it is stored '
        'with status "inaccurate" (for a fit: the larger of tolerance and fit_tolerance). 1e-4 is '
        "met by the paper's settings with 2 Pade terms at T = 0.9-1 and moves the current by less than "
        "1e-5 (relative) in the cases measured (docs/decomposition.md), below the depth truncation.",
        Number(lo=0.0, lo_open=True), units="dimensionless")
    fit_tolerance: float = documented_field(
        0.0, "0: no fit, the exact decomposition (n_bose Bose-function terms); for \"exponential\" and "
        '"tabulated", which have none, 0 means: fit to [bath] tolerance. > 0: fit C(t) instead with the '
        "fewest exponentials whose rates C^R and C^I share (ESPRIT; coinciding rates become t^k e^(-g t) "
        "chains; docs/fit.md), to max_t |C_fit - C| / max_t |C| <= fit_tolerance. Not for "
        '"drude_lorentz" (infinite C^R(0)); "exponents" ignores it.', Number(lo=0.0), units="dimensionless")
    fit_max_terms: int = documented_field(
        12, "Largest number of basis functions per bath and part (C^R, C^I) of a fit, i.e. of shared rates "
        "(a complex-conjugate pair counts 2); a fit that needs more stops the run. The measured needs "
        "(docs/fit.md) are within it: 4-8 for the paper's J at 1e-3-1e-8 (T = 0.9-10), 7-10 for the "
        "\"exponential\" cutoff (s = 1 and 3, T = 0.1-1) at 1e-3 and 1e-4.", Integer(lo=1, hi=64))


BATH_KEYS = tuple(f.name for f in fields(_SharedBathKeys))
_EXPONENT_DOCS = {
    "ck_real": ("Coefficients of C^R(t) = sum_k ck_real[k] exp(-vk_real[k] t).", ComplexList(), "omega_c^2"),
    "vk_real": ("Decay rates of C^R(t), one per ck_real.", ComplexList(positive_real=True, max_abs=MAX_ENERGY),
                "omega_c"),
    "ck_imag": ("Coefficients of C^I(t) = sum_k ck_imag[k] exp(-vk_imag[k] t).", ComplexList(), "omega_c^2"),
    "vk_imag": ("Decay rates of C^I(t), one per ck_imag.", ComplexList(positive_real=True, max_abs=MAX_ENERGY),
                "omega_c"),
}
EXPONENT_KEYS = tuple(_EXPONENT_DOCS)
_PAIRS = (("ck_real", "vk_real"), ("ck_imag", "vk_imag"))


class _PerBathBase(TableBase):
    _TABLE: ClassVar[str] = "bath.bathN"  # only for direct construction; files name bath1/bath2

    @classmethod
    def _check(cls, values, table):
        for ck, vk in _PAIRS:
            if values[ck] is not None and values[vk] is not None and len(values[ck]) != len(values[vk]):
                allowed = f"one rate in {vk} per coefficient in {ck}"
                raise InputError(
                    f"input error: [{table}] {vk} = {fmt(values[vk])} has {len(values[vk])} "
                    f"entries but {ck} has {len(values[ck])}: allowed is {allowed}",
                    key=f"{table}.{vk}", value=values[vk], allowed=allowed)

    def given(self) -> dict:
        """The keys this sub-table gives (name -> parsed value)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _override_field(f):
    meta = f.metadata
    doc = f"This bath's {f.name}, instead of [bath] {f.name}."
    return (f.name, f.type, documented_field(None, doc, Unset(meta["parse"]), units=meta["units"],
                                             default_text="([bath]'s)"))


# One class for both sub-tables, generated from the [bath] keys so that the two can never differ
# in a key, a parser or a range; plus C(t) as exponentials (QuTiP's vocabulary).
PerBathConfig = make_dataclass(
    "PerBathConfig",
    [_override_field(f) for f in fields(_SharedBathKeys)]
    + [(name, "tuple[complex, ...] | None",
        documented_field(None, f"{doc} Only with spectral_density = \"exponents\", which needs all four.",
                         Unset(parse), units=units, default_text="absent"))
       for name, (doc, parse, units) in _EXPONENT_DOCS.items()],
    bases=(_PerBathBase,), frozen=True)
PerBathConfig.__module__ = __name__
PerBathConfig.__doc__ = (
    "[bath.bath1] / [bath.bath2] One bath's own settings: any [bath] key given here replaces the "
    "shared value for this bath alone (e.g. [bath.bath2] spectral_density = \"exponential\", s = 1: "
    "an Ohmic bath 2 beside the paper's bath 1); the other keys come from [bath], and each bath is "
    "checked with its own values. [study] n_bose and n_bose_check set both baths' Bose terms and "
    "cannot be combined with a per-bath n_bose. With spectral_density = \"exponents\", C(t) as sums of exponentials "
    "(QuTiP's vocabulary): C^R(t) = sum_k ck_real[k] exp(-vk_real[k] t), C^I(t) = sum_k ck_imag[k] "
    "exp(-vk_imag[k] t); entries are real numbers or [re, im] pairs (stored as complex), and the bath's "
    "alpha multiplies this C(t) (alpha = 1 uses the exponents as given).")
ExponentsConfig = PerBathConfig   # its name before the sub-tables took every [bath] key


@dataclass(frozen=True)
class BathSpec:
    """One bath's effective settings (BathConfig.per_bath): the [bath] keys with its sub-table's
    overrides applied, the exponents (None unless spectral_density = "exponents"), and the
    table its own keys are written in (for messages)."""

    spectral_density: str
    s: int | float
    cutoff_power: int
    omega_c: float
    omega0: float
    gamma: float
    file: str | None
    decomposition: str
    n_bose: int | str
    tolerance: float
    fit_tolerance: float
    fit_max_terms: int
    ck_real: tuple | None = None
    vk_real: tuple | None = None
    ck_imag: tuple | None = None
    vk_imag: tuple | None = None
    table: str = "bath"

    @property
    def fitted(self) -> bool:
        """C(t) is fitted: fit_tolerance > 0, or a density without an exact decomposition."""
        if self.spectral_density == "exponents":
            return False
        return self.fit_tolerance > 0 or self.spectral_density in FITTED_DENSITIES

    @property
    def fit_target(self) -> float:
        """The fit's tolerance: fit_tolerance, or [bath] tolerance where fit_tolerance = 0."""
        return self.fit_tolerance if self.fit_tolerance > 0 else self.tolerance

    @property
    def limit(self) -> float:
        """The largest accepted relative C(t) error (status "inaccurate" beyond)."""
        return max(self.tolerance, self.fit_tolerance)


@dataclass(frozen=True)
class BathConfig(_SharedBathKeys):
    """[bath] The spectral density J(w) of the baths and how C(t) is decomposed; [bath.bath1] and
    [bath.bath2] may replace any of these keys for one bath.

    Bath nu has J_nu = alpha_nu times its spectral density (these keys, or its sub-table's) at
    temperature T_nu, and C_nu(t) = (1/pi) Int_0^inf J_nu(w) [coth(w/2T_nu) cos(wt) - i sin(wt)] dw.
    Keys that a bath's spectral_density does not use are checked but ignored.
    """

    _TABLE: ClassVar[str] = "bath"

    bath1: PerBathConfig | None = documented_field(
        None, "Sub-table [bath.bath1]: bath 1's own keys (any [bath] key, replacing the shared value for "
        'bath 1), and its C_1(t) as exponentials with spectral_density = "exponents".',
        SubTable(PerBathConfig, "bath.bath1", optional=True), default_text="absent")
    bath2: PerBathConfig | None = documented_field(
        None, "Sub-table [bath.bath2]: bath 2's own keys (any [bath] key, replacing the shared value for "
        'bath 2), and its C_2(t) as exponentials with spectral_density = "exponents".',
        SubTable(PerBathConfig, "bath.bath2", optional=True), default_text="absent")

    def per_bath(self) -> tuple[BathSpec, BathSpec]:
        """Each bath's effective settings ([bath] with its sub-table applied), bath 1 first."""
        return tuple(_spec(self.__dict__, sub, self._TABLE) for sub in ("bath1", "bath2"))

    @property
    def overridden(self) -> bool:
        """Does a sub-table give any [bath] key (not only exponents)?"""
        return any(sub is not None and set(sub.given()) & set(BATH_KEYS) for sub in (self.bath1, self.bath2))

    @classmethod
    def _check(cls, values, table):
        subs = [values[sub] for sub in ("bath1", "bath2")]
        if not any(sub is not None and sub.given() for sub in subs):
            _check_bath(_spec(values, "bath1", table), {}, table, "", "")
            return
        for n, sub in enumerate(("bath1", "bath2"), start=1):
            given = values[sub].given() if values[sub] is not None else {}
            which = f" (bath {n})" if set(given) & set(BATH_KEYS) else ""
            _check_bath(_spec(values, sub, table), given, table, sub, which)


def _spec(values: dict, sub: str, table: str) -> BathSpec:
    over = values[sub]
    given = over.given() if over is not None else {}
    return BathSpec(**{k: given.get(k, values[k]) for k in BATH_KEYS},
                    **{k: given.get(k) for k in EXPONENT_KEYS},
                    table=f"{table}.{sub}" if given else table)


def _check_bath(spec: BathSpec, given: dict, table: str, sub: str, which: str) -> None:
    """The cross-key checks of one bath's effective values. A key given in the sub-table is named
    there; a shared one is named in [bath], with `which` ("(bath 2)") when the sub-table's other
    keys are what make it wrong."""

    def key(name):
        return f"{table}.{sub}.{name}" if name in given else f"{table}.{name}"

    def context(name):
        return "" if name in given else which

    def fail(name, problem, allowed):
        return value_error(key(name), getattr(spec, name), f"{context(name).strip()} {problem}".strip(), allowed)


    kind = spec.spectral_density
    kind_text = f"spectral_density = {fmt(kind)}"
    if kind == "rational":
        if not (isinstance(spec.s, int) and spec.s % 2 == 1):
            allowed = "an odd integer in [1, 99]"
            raise fail("s", f"is not allowed with {kind_text}: allowed is {allowed}", allowed)
        if not 2 * spec.cutoff_power > spec.s + 1:
            allowed = f"an integer with 2*cutoff_power > s + 1 = {spec.s + 1} (finite C(0))"
            raise fail("cutoff_power", f"is too small for s = {spec.s}: allowed is {allowed}", allowed)
    if kind == "underdamped" and not spec.gamma < 2 * spec.omega0:
        allowed = f"0 < gamma < 2*omega0 = {fmt(2 * spec.omega0)}"
        raise fail("gamma", f"is out of range for omega0 = {fmt(spec.omega0)}: allowed is {allowed}", allowed)
    if kind == "drude_lorentz" and spec.fit_tolerance > 0:
        allowed = 'fit_tolerance = 0 with spectral_density = "drude_lorentz"'
        raise fail("fit_tolerance", 'cannot be met by spectral_density = "drude_lorentz" (C^R(0) is infinite, '
                   f"so no relative error exists): allowed is {allowed}", allowed)
    if kind == "tabulated":
        _check_table(spec, key, context, kind_text)
    exps = {k: getattr(spec, k) for k in EXPONENT_KEYS if getattr(spec, k) is not None}
    where_kind = f"[{key('spectral_density').rpartition('.')[0]}]"
    if kind == "exponents":
        needed = "both sub-tables [bath.bath1] and [bath.bath2]" if not given else \
            f"ck_real, vk_real, ck_imag, vk_imag in [{table}.{sub}]"
        if not given:
            missing = f"[{table}.{sub}]" if sub else "[bath.bath1] and [bath.bath2]"
            raise InputError(f'input error: {where_kind} spectral_density = "exponents" needs the sub-table '
                             f"{missing}, which is missing: allowed is {needed}",
                             key=f"{table}.{sub or 'bath1'}", value=None, allowed=needed)
        for name in EXPONENT_KEYS:
            if name not in exps:
                allowed = "ck_real, vk_real, ck_imag, vk_imag (all four with spectral_density = \"exponents\")"
                raise InputError(f'input error: [{table}.{sub}] missing key "{name}": required keys are {allowed}',
                                 key=f"{table}.{sub}.{name}", value=None, allowed=allowed)
    elif exps:
        name = next(iter(exps))
        allowed = 'ck_real, vk_real, ck_imag, vk_imag only with spectral_density = "exponents"'
        raise value_error(f"{table}.{sub}.{name}", exps[name],
                          f"is given but {('bath ' + sub[-1]) if sub else 'the bath'} has {kind_text} "
                          f"({where_kind}): allowed is {allowed}", allowed)


def _check_table(spec: BathSpec, key, context, kind_text: str) -> None:
    """spectral_density = "tabulated": the file is given, and it reads as a table."""
    from ..bath.tabulated import FORMAT, TableError, load_table

    if spec.file is None:
        allowed = f"a key file = \"...\" with {kind_text}: {FORMAT}"
        raise InputError(f"input error: [{key('spectral_density').rpartition('.')[0]}] {kind_text} needs the key "
                         f"file, which is missing: allowed is {allowed}", key=key("file"), value=None, allowed=allowed)
    try:
        load_table(spec.file)
    except TableError as exc:
        where = context("file").strip()
        raise value_error(key("file"), spec.file, f"{where + ' ' if where else ''}{exc}: allowed is {FORMAT}",
                          FORMAT) from None

