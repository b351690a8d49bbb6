"""The input tables [model], [hierarchy], [solver] and [output] as frozen dataclasses ([bath] and
its per-bath sub-tables: bath_table.py, re-exported here). Units (docs/model.md s1): hbar = k_B = 1; energies, temperatures
and rates in units of the bath cutoff omega_c = 1; angles in radians."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .bath_table import BathConfig, ExponentsConfig, PerBathConfig  # noqa: F401 (re-exported)
from .errors import value_error
from .petsc_options import PetscOptionsTable
from .registries import MATRIX_TYPES, MODE_FORMS, SOLVER_METHODS, TRUNCATIONS
from .schema import TableBase, documented_field
from .values import (ANGLE_2PI, ANGLE_PI, COUPLING, MAX_DEPTH, MAX_ENERGY, TEMPERATURE, Bool, Choice, HDF5Path, Integer,
                     Number)

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
class HierarchyConfig(TableBase):
    """[hierarchy] Truncation and scaling of the auxiliary density operators (ADOs)."""

    _TABLE: ClassVar[str] = "hierarchy"

    depth: int = documented_field(4, "Truncation depth L: ADOs with sum(n) + sum(m) <= L are kept; the depth "
                      "needed grows with alpha.", Integer(lo=1, hi=MAX_DEPTH))
    truncation: str = documented_field("total", 'Truncation scheme: "total" keeps sum(n) + sum(m) <= depth.',
                           Choice(TRUNCATIONS))
    rescale: bool = documented_field(True, "Rescale the ADOs (e.g. by sqrt(n!) |a|^(n/2)) for conditioning; "
                         "the physics is unchanged.", Bool())
    modes: str = documented_field(
        "merged", 'Hierarchy indices: "merged" (one per function of the basis C^R and C^I share: '
        "4 + n_bose per bath for the paper's J; 19,448 ADOs at depth 7, 293,930 at depth 9) or "
        '"separate" (one per basis function of C^R and one per basis function of C^I, docs/model.md '
        "s3: 8 + n_bose per bath; 480,700 ADOs at depth 7, 10,015,005 at depth 9). Both give the same "
        "currents at every depth (docs/heom.md s1), so a file computed with one resumes with the other.",
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


