"""The input tables [model], [bath] (+ [bath.bath1], [bath.bath2]), [hierarchy], [solver] and
[output] as frozen dataclasses. Units (docs/model.md s1): hbar = k_B = 1; energies, temperatures
and rates in units of the bath cutoff omega_c = 1; angles in radians."""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass
from typing import ClassVar

from .errors import InputError, fmt, value_error
from .petsc_options import PetscOptionsTable
from .registries import DECOMPOSITIONS, MATRIX_TYPES, MODE_FORMS, SOLVER_METHODS, SPECTRAL_DENSITIES, TRUNCATIONS
from .schema import SubTable, TableBase, documented_field, parser_of
from .values import (ANGLE_2PI, ANGLE_PI, COUPLING, ENERGY, MAX_BOSE_TERMS, MAX_DEPTH, MAX_ENERGY, TEMPERATURE, AutoOr, Bool,
                     Choice, ComplexList, HDF5Path, Integer, Number)

@dataclass(frozen=True)
class ModelConfig(TableBase):
    """[model] The two-level system H_S = Delta*sz and its couplings V1 (x) B1 + V2 (x) B2.

    A coupling direction on the Bloch sphere is V = cos(th) sz + sin(th) (cos(ph) sx + sin(ph) sy);
    the paper's model is V1 = sx (theta1 = pi/2, phi1 = 0) and V2 = cos(theta) sz + sin(theta) sx.
    """

    _TABLE: ClassVar[str] = "model"
    # ``alpha`` in the input sets both alpha1 and alpha2; it is not stored.
    _SHORTHANDS: ClassVar[dict[str, tuple[str, ...]]] = {"alpha": ("alpha1", "alpha2")}
    _SHORTHAND_DOCS: ClassVar[dict[str, str]] = {
        "alpha": "Shorthand for both coupling strengths: sets alpha1 = alpha2 = alpha. Giving it "
                 "together with alpha1 or alpha2 is an error.",
    }

    delta: float = documented_field(0.1, "Half the gap Delta of H_S = Delta*sz: levels at +-Delta, splitting "
                        "E = 2*Delta.", Number(lo=0.0, hi=MAX_ENERGY), units="omega_c")
    theta: float = documented_field(math.pi / 2, "Polar angle of the bath-2 coupling V2 = cos(theta) sz + "
                        "sin(theta) sx (rotated by phi2 about z). With the default V1 = sx, "
                        "theta = pi/2 is the commuting model; any other value makes the "
                        "couplings non-commuting.",
                        ANGLE_PI, units="rad", default_text='"pi/2"')
    alpha1: float = documented_field(0.01, "Dimensionless coupling strength of bath 1: multiplies J_1(w), "
                         "hence C_1(t).", COUPLING, units="dimensionless")
    alpha2: float = documented_field(0.01, "Dimensionless coupling strength of bath 2: multiplies J_2(w), "
                         "hence C_2(t).", COUPLING, units="dimensionless")
    T1: float = documented_field(1.0, "Temperature of bath 1 (beta_1 = 1/T1).", TEMPERATURE, units="omega_c")
    T2: float = documented_field(0.9, "Temperature of bath 2 (beta_2 = 1/T2).", TEMPERATURE, units="omega_c")
    theta1: float = documented_field(math.pi / 2, "Polar angle of the bath-1 coupling V1 = cos(theta1) sz + "
                         "sin(theta1) (cos(phi1) sx + sin(phi1) sy); the default gives V1 = sx.",
                         ANGLE_PI, units="rad", default_text='"pi/2"')
    phi1: float = documented_field(0.0, "Azimuthal angle of the bath-1 coupling V1 (see theta1).",
                       ANGLE_2PI, units="rad")
    phi2: float = documented_field(0.0, "Azimuthal angle of the bath-2 coupling: V2 = cos(theta) sz + "
                       "sin(theta) (cos(phi2) sx + sin(phi2) sy).", ANGLE_2PI, units="rad")

    @classmethod
    def _check(cls, values, table):
        if values["alpha1"] == 0.0 and values["alpha2"] == 0.0:
            # no bath couples: every diagonal state is stationary and no current is defined
            allowed = "alpha1 > 0 or alpha2 > 0 (at least one coupled bath; alpha = 0 for one bath is fine)"
            raise value_error(f"{table}.alpha1", 0.0, "and alpha2 = 0.0 leave the system uncoupled, so its "
                         f"steady state is not unique: allowed is {allowed}", allowed)


@dataclass(frozen=True)
class ExponentsConfig(TableBase):
    """[bath.bath1] / [bath.bath2] C(t) of one bath as sums of exponentials (QuTiP's vocabulary).

    C(t) = C^R(t) + i C^I(t),  C^R(t) = sum_k ck_real[k] exp(-vk_real[k] t),
    C^I(t) = sum_k ck_imag[k] exp(-vk_imag[k] t). Entries are real numbers or [re, im] pairs
    (stored as complex). The bath's alpha multiplies this C(t): set alpha = 1 to use the
    exponents as given.
    """

    _TABLE: ClassVar[str] = "bath.bathN"  # only for direct construction; files name bath1/bath2

    ck_real: tuple[complex, ...] = documented_field(MISSING, "Coefficients of C^R(t) = sum_k ck_real[k] "
                                        "exp(-vk_real[k] t).", ComplexList(), units="omega_c^2")
    vk_real: tuple[complex, ...] = documented_field(MISSING, "Decay rates of C^R(t), one per ck_real.",
                                        ComplexList(positive_real=True, max_abs=MAX_ENERGY),
                                        units="omega_c")
    ck_imag: tuple[complex, ...] = documented_field(MISSING, "Coefficients of C^I(t) = sum_k ck_imag[k] "
                                        "exp(-vk_imag[k] t).", ComplexList(), units="omega_c^2")
    vk_imag: tuple[complex, ...] = documented_field(MISSING, "Decay rates of C^I(t), one per ck_imag.",
                                        ComplexList(positive_real=True, max_abs=MAX_ENERGY),
                                        units="omega_c")

    @classmethod
    def _check(cls, values, table):
        for ck, vk in (("ck_real", "vk_real"), ("ck_imag", "vk_imag")):
            if len(values[ck]) != len(values[vk]):
                allowed = f"one rate in {vk} per coefficient in {ck}"
                raise InputError(
                    f"input error: [{table}] {vk} = {fmt(values[vk])} has {len(values[vk])} "
                    f"entries but {ck} has {len(values[ck])}: allowed is {allowed}",
                    key=f"{table}.{vk}", value=values[vk], allowed=allowed)


@dataclass(frozen=True)
class BathConfig(TableBase):
    """[bath] The spectral density J(w) of both baths and how C(t) is decomposed.

    Bath nu has J_nu = alpha_nu * J at temperature T_nu, and
    C_nu(t) = (1/pi) Int_0^inf J_nu(w) [coth(w/2T_nu) cos(wt) - i sin(wt)] dw.
    Keys that the chosen spectral_density does not use are checked but ignored.
    """

    _TABLE: ClassVar[str] = "bath"

    spectral_density: str = documented_field(
        "rational", 'Form of J(w): "rational" pi alpha w^s omega_c^(1-s) / (1 + (w/omega_c)^2)'
        '^cutoff_power (the paper: s = 3, cutoff_power = 4); "drude_lorentz" its s = 1, '
        'cutoff_power = 1 case; "underdamped" alpha omega0^2 gamma w / ((omega0^2 - w^2)^2 + '
        'gamma^2 w^2); "exponents" C(t) given directly in [bath.bath1] and [bath.bath2] '
        "(alpha_nu multiplies the given C(t): set alpha = 1 to use them as given).",
        Choice(SPECTRAL_DENSITIES))
    s: int = documented_field(3, 'Spectral exponent s of "rational" (odd, so that C(t) follows exactly from '
                  "residues).", Integer(lo=1, odd=True, hi=99))
    cutoff_power: int = documented_field(4, 'Power p of the "rational" cutoff 1/(1 + (w/omega_c)^2)^p; '
                             "needs 2*cutoff_power > s + 1 (finite C(0)).", Integer(lo=1, hi=100))
    omega_c: float = documented_field(1.0, 'Cutoff frequency of "rational" and "drude_lorentz" (1 makes it '
                          "the energy unit).", ENERGY, units="omega_c")
    omega0: float = documented_field(1.0, 'Resonance frequency of "underdamped".', ENERGY, units="omega_c")
    gamma: float = documented_field(0.2, 'Peak width of "underdamped"; needs gamma < 2*omega0 (distinct '
                        "poles).", ENERGY, units="omega_c")
    decomposition: str = documented_field("pade", "Expansion of the Bose function coth(w/2T) into poles: "
                              '"pade" (Pade spectrum decomposition, Hu, Xu, Yan 2010: far faster '
                              'convergence) or "matsubara". Not used by "exponents".',
                              Choice(DECOMPOSITIONS))
    n_bose: int | str = documented_field(
        "auto", 'Number of Pade/Matsubara terms per bath (each adds an exponential to C^R(t), i.e. one '
        'hierarchy mode per bath). "auto": per bath and temperature the smallest number whose '
        "decomposed C(t) meets tolerance against quadrature (docs/decomposition.md: 2 at T = 0.9-1, "
        "3 at T = 0.3, 6 at 0.1, 14 at 0.02 for the paper's J, Pade, 1e-4); an integer fixes it. Too "
        "few make a spurious current at T1 = T2.", AutoOr(Integer(lo=0, hi=MAX_BOSE_TERMS)))
    tolerance: float = documented_field(
        1e-4, 'Largest relative error max_t |C_dec - C| / max_t |C| of the decomposed C(t) against '
        'quadrature: n_bose = "auto" meets it, and a solve whose decomposition misses it is stored '
        'with status "inaccurate" (for a fit: the larger of tolerance and fit_tolerance). 1e-4 is '
        "met by the paper's settings with 2 Pade terms at T = 0.9-1 and moves the current by less than "
        "1e-5 (relative) in the cases measured (docs/decomposition.md), below the depth truncation.",
        Number(lo=0.0, lo_open=True), units="dimensionless")
    fit_tolerance: float = documented_field(0.0, "0: no fit, the exact decomposition (n_bose Bose-function "
                                "terms). > 0: fit C(t) instead with the fewest exponentials whose rates "
                                "C^R and C^I share (ESPRIT; coinciding rates become t^k e^(-g t) "
                                "chains; docs/fit.md), to max_t |C_fit - C| / max_t "
                                '|C| <= fit_tolerance. For "rational" and "underdamped" ("drude_lorentz" '
                                'has an infinite C^R(0); "exponents" ignores it).', Number(lo=0.0),
                                units="dimensionless")
    fit_max_terms: int = documented_field(12, "Largest number of basis functions per bath and part (C^R, C^I) "
                              "of a fit, i.e. of shared rates (a complex-conjugate pair counts 2); "
                              "a fit that needs more stops the run.", Integer(lo=1, hi=64))
    bath1: ExponentsConfig | None = documented_field(
        None, 'Sub-table [bath.bath1]: C_1(t) as exponentials; required with spectral_density = '
        '"exponents", forbidden otherwise.', SubTable(ExponentsConfig, "bath.bath1", optional=True),
        default_text="absent")
    bath2: ExponentsConfig | None = documented_field(
        None, 'Sub-table [bath.bath2]: C_2(t) as exponentials; required with spectral_density = '
        '"exponents", forbidden otherwise.', SubTable(ExponentsConfig, "bath.bath2", optional=True),
        default_text="absent")

    @classmethod
    def _precheck(cls, values, table):
        # Which sub-tables may be present depends on the kind; say so before parsing them.
        kind = parser_of(cls, "spectral_density")(values["spectral_density"],
                                                f"{table}.spectral_density")
        for sub in ("bath1", "bath2"):
            given = values[sub] is not None
            if kind == "exponents" and not given:
                allowed = "both sub-tables [bath.bath1] and [bath.bath2]"
                raise InputError(
                    f'input error: [{table}] spectral_density = "exponents" needs the sub-table '
                    f"[{table}.{sub}], which is missing: allowed is {allowed}",
                    key=f"{table}.{sub}", value=None, allowed=allowed)
            if kind != "exponents" and given:
                allowed = ('sub-tables [bath.bath1] and [bath.bath2] only with '
                           'spectral_density = "exponents"')
                raise InputError(
                    f"input error: [{table}] sub-table [{table}.{sub}] = {fmt(values[sub])} is "
                    f"given but spectral_density = {fmt(kind)}: allowed is {allowed}",
                    key=f"{table}.{sub}", value=values[sub], allowed=allowed)

    @classmethod
    def _check(cls, values, table):
        kind = values["spectral_density"]
        if kind == "rational" and not 2 * values["cutoff_power"] > values["s"] + 1:
            allowed = f"an integer with 2*cutoff_power > s + 1 = {values['s'] + 1} (finite C(0))"
            raise value_error(f"{table}.cutoff_power", values["cutoff_power"],
                         f"is too small for s = {values['s']}: allowed is {allowed}", allowed)
        if kind == "underdamped" and not values["gamma"] < 2 * values["omega0"]:
            allowed = f"0 < gamma < 2*omega0 = {fmt(2 * values['omega0'])}"
            raise value_error(f"{table}.gamma", values["gamma"],
                         f"is out of range for omega0 = {fmt(values['omega0'])}: "
                         f"allowed is {allowed}", allowed)
        if kind == "drude_lorentz" and values["fit_tolerance"] > 0:
            allowed = 'fit_tolerance = 0 with spectral_density = "drude_lorentz"'
            raise value_error(f"{table}.fit_tolerance", values["fit_tolerance"],
                         'cannot be met by spectral_density = "drude_lorentz" (C^R(0) is infinite, '
                         f"so no relative error exists): allowed is {allowed}", allowed)


@dataclass(frozen=True)
class HierarchyConfig(TableBase):
    """[hierarchy] Truncation and scaling of the auxiliary density operators (ADOs)."""

    _TABLE: ClassVar[str] = "hierarchy"

    depth: int = documented_field(4, "Truncation depth L: ADOs with sum(n) + sum(m) <= L are kept; the depth "
                      "needed grows with alpha.", Integer(lo=1, hi=MAX_DEPTH))
    truncation: str = documented_field("total", 'Truncation scheme: "total" keeps sum(n) + sum(m) <= depth.',
                           Choice(TRUNCATIONS))
    rescale: bool = documented_field(True, "Rescale the ADOs (e.g. by sqrt(n!) |a|^(n/2)) for conditioning; "
                         "the physics is unchanged.", Bool())
    modes: str = documented_field("separate", 'Hierarchy indices: "separate" (one per basis function of C^R '
                      'and one per basis function of C^I, docs/model.md s3) or "merged" (one '
                      "per function of the basis C^R and C^I share: 4 + n_bose instead of "
                      "8 + n_bose per bath for the paper's J, far fewer ADOs: 19,448 instead of "
                      "480,700 at depth 7). Both give the same currents at every depth "
                      "(docs/heom.md section 1).",
                      Choice(MODE_FORMS))


@dataclass(frozen=True)
class SolverConfig(TableBase):
    """[solver] How the steady state L x = 0, Tr rho = 1 is solved (PETSc/SLEPc)."""

    _TABLE: ClassVar[str] = "solver"

    method: str = documented_field("auto", '"direct": sparse LU of the trace-fixed system; "iterative": '
                       'preconditioned Krylov solve of it (block-Jacobi/ILU(1)); "tier": the same system '
                       'matrix-free, with a tier-sweep preconditioner whose iterations do not grow with '
                       'the ranks (~5x less memory; not for underdamped baths; docs/tier_sweep.md); '
                       '"slepc": null vector of L by shift-and-invert eigen-solve; "auto": direct for '
                       'small systems, else iterative on one rank and tier on two or more.',
                       Choice(SOLVER_METHODS))
    rtol: float = documented_field(1e-12, "Relative residual target of iterative solves (weak coupling needs "
                       "tight values: currents are 1e-7 to 1e-9).",
                       Number(lo=0.0, lo_open=True, hi=1.0, hi_open=True), units="dimensionless")
    max_it: int = documented_field(2000, "Maximum number of iterations of an iterative solve.",
                       Integer(lo=1, hi=10**8))
    matrix_type: str = documented_field("aij", '"aij": sparse matrix with block size 4 storing only the '
                            'nonzeros of each 4x4 ADO block (~3.7x fewer stored values); "baij": '
                            'dense 4x4 blocks (blocked kernels, more memory).',
                            Choice(MATRIX_TYPES))
    slepc_target: float = documented_field(1e-10, "Shift of the shift-and-invert null-vector search "
                               '(method = "slepc"): the eigenvalue of L closest to it is sought.',
                               Number(lo=0.0, lo_open=True, hi=1.0), units="omega_c")
    petsc_options: tuple[tuple[str, str], ...] = documented_field(
        (), "Extra PETSc options, as the table [solver.petsc_options]; nested tables flatten with "
        "\"_\" ([solver.petsc_options.pc] type = \"asm\" -> pc_type asm), values become strings "
        "(booleans true/false, \"\" for a flag). Stored as sorted (name, value) pairs.",
        PetscOptionsTable(), default_text="{}")

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["petsc_options"] = dict(self.petsc_options)
        return out


@dataclass(frozen=True)
class OutputConfig(TableBase):
    """[output] Where the results go."""

    _TABLE: ClassVar[str] = "output"

    path: str = documented_field("nesb_results.h5", "HDF5 file for the results (relative to the working "
                     "directory).", HDF5Path())
    overwrite: bool = documented_field(False, "Replace an existing file at path; if false, an existing file "
                           "is an error.", Bool())


