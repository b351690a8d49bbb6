"""Typed, validated input: the TOML input file as frozen dataclasses, one per table.

    [model]  [bath] (+ [bath.bath1], [bath.bath2])  [hierarchy]  [solver]  [study]  [dynamics]  [output]

Every field carries its meaning, units and allowed values as ``dataclasses.field`` metadata,
together with the parser that enforces them; validation and the ``--help`` key reference are
generated from that one place. Conversion happens here, at the boundary: the rest of the package
sees floats, ints, tuples of complex and checked names, never raw TOML. Unknown tables and keys
are errors, and every error is a single :class:`InputError` naming the key, the offending value
and what is allowed.

Modules (one concept each):
  errors         InputError and the wording of messages
  values         value parsers (numbers, angles, choices, lists) and the physical ranges
  petsc_options  [solver.petsc_options]: flattening and the options the input may not set
  schema         the table machinery (documented fields, building, validation, the base class)
  registries     the choices offered, from the layers that implement them
  bath_table     [bath] and its per-bath sub-tables [bath.bath1], [bath.bath2]; BathSpec per bath
  tables         [model], [hierarchy], [solver], [output]
  study_table    [study] and its per-kind key registry
  dynamics_table [dynamics]: the transient of kind "dynamics" (initial state, quench, output times)
  loading        RunConfig (a whole input), parse_config, load_config
  reference      the --help key reference

Units (docs/model.md s1): hbar = k_B = 1, energies, temperatures and rates in units of the bath
cutoff omega_c = 1, angles in radians.
"""

from .bath_table import BathConfig, BathSpec, ExponentsConfig, PerBathConfig
from .dynamics_table import DynamicsConfig
from .errors import InputError
from .loading import TABLE_CLASSES, TABLES, RunConfig, default_config_path, load_config, model_with, parse_config
from .petsc_options import check_petsc_options_safe, flatten_petsc_options
from .reference import key_reference
from .registries import DECOMPOSITIONS, MATRIX_TYPES, MODE_FORMS, SOLVER_METHODS, SPECTRAL_DENSITIES, TRUNCATIONS
from .study_table import (DEDICATED_FROM_RANKS, STUDY_KINDS, STUDY_LAYOUT_KEYS, STUDY_PARAMS, SWEEP_KEYS,
                          StudyConfig)
from .tables import HierarchyConfig, ModelConfig, OutputConfig, SolverConfig
from .values import parse_angle

__all__ = [
    "InputError", "RunConfig", "ModelConfig", "BathConfig", "BathSpec", "ExponentsConfig", "PerBathConfig",
    "HierarchyConfig",
    "SolverConfig", "StudyConfig", "DynamicsConfig", "OutputConfig", "model_with", "TABLES", "TABLE_CLASSES", "SPECTRAL_DENSITIES",
    "DECOMPOSITIONS", "TRUNCATIONS", "SOLVER_METHODS", "MATRIX_TYPES", "MODE_FORMS", "STUDY_KINDS",
    "STUDY_PARAMS", "STUDY_LAYOUT_KEYS", "SWEEP_KEYS", "DEDICATED_FROM_RANKS", "load_config",
    "parse_config", "default_config_path", "key_reference", "parse_angle", "flatten_petsc_options",
    "check_petsc_options_safe",
]
