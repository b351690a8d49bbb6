"""The choices the input offers, taken from the layers that implement them, so that adding a
spectral density, a Bose expansion, a solver route or a matrix format is one entry in that
layer's table (docs/architecture.md). Nothing here imports PETSc."""

from __future__ import annotations

from ..bath import FITTED_DENSITIES
from ..bath import SPECTRAL_DENSITIES as _SPECTRAL_DENSITY_TABLE
from ..bath.bose import BOSE_EXPANSIONS
from ..hierarchy import TRUNCATIONS
from ..liouvillian import MODE_FORMS
from ..routes import METHODS
from ..sizing import MATRIX_TYPES

SPECTRAL_DENSITIES = tuple(_SPECTRAL_DENSITY_TABLE)
DECOMPOSITIONS = tuple(BOSE_EXPANSIONS)
SOLVER_METHODS = METHODS

__all__ = ["DECOMPOSITIONS", "FITTED_DENSITIES", "MATRIX_TYPES", "MODE_FORMS", "SOLVER_METHODS", "SPECTRAL_DENSITIES", "TRUNCATIONS"]
