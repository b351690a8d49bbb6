"""The problem of one point: what the HEOM of one parameter point is made of, built once.

From the validated input and a request (a [model], a depth and a number of Bose terms): the
coupling directions V_b = n_b . sigma, each bath's decomposition of C(t), the hierarchy modes,
the ADO hierarchy and the 4x4 Pauli blocks. The solve (point.py), the study's sizing
(planning.py), bench/ and the tests all build a point through here. Pure numpy; no MPI, no PETSc.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .bath import decompose_baths
from .bath.decomposition import BathDecomposition
from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes
from .partition import count_ados
from .pauli import PauliBlocks, bloch_vector


@dataclass(frozen=True)
class HierarchySpec:
    """How the hierarchy is truncated and stored: total depth L, rescaled ADOs, matrix format
    (sizing.MATRIX_TYPES) and mode form (liouvillian.MODE_FORMS)."""

    depth: int
    rescale: bool = True
    matrix_type: str = "aij"
    modes: str = "separate"


def coupling_vectors(model) -> np.ndarray:
    """Unit Bloch vectors (n_1, n_2) of V1 and V2 from the [model] polar and azimuthal angles
    (docs/model.md s1: V1 = sx, V2 = cos(theta) sz + sin(theta) sx by default)."""
    return np.array([bloch_vector(model.theta1, model.phi1), bloch_vector(model.theta, model.phi2)])


def bath_of(cfg, n_bose: int):
    """The [bath] table with n_bose Bose-function terms (a ladder rung may differ from [bath])."""
    return cfg.bath if n_bose == cfg.bath.n_bose else dataclasses.replace(cfg.bath, n_bose=n_bose)


def spec_of(cfg, depth: int) -> HierarchySpec:
    """The hierarchy of the input's [hierarchy] and [solver] tables at `depth`."""
    return HierarchySpec(depth, cfg.hierarchy.rescale, cfg.solver.matrix_type, cfg.hierarchy.modes)


@dataclass(frozen=True)
class Problem:
    """One point's HEOM: H_S = delta sz, couplings V_b = vectors[b] . sigma, baths[b]'s C(t)."""

    delta: float
    baths: tuple[BathDecomposition, ...]
    vectors: np.ndarray
    spec: HierarchySpec

    @classmethod
    def of(cls, baths, vectors, delta: float, spec: HierarchySpec) -> "Problem":
        return cls(float(delta), tuple(baths), np.asarray(vectors, dtype=float), spec)

    @classmethod
    def from_request(cls, cfg, request) -> "Problem":
        """The point of an input (RunConfig) and a request (model, depth, n_bose)."""
        m = request.model
        baths = decompose_baths(m, bath_of(cfg, request.n_bose))
        return cls.of(baths, coupling_vectors(m), m.delta, spec_of(cfg, request.depth))

    @cached_property
    def modes(self) -> HierarchyModes:
        return HierarchyModes.from_baths(list(self.baths), rescale=self.spec.rescale, form=self.spec.modes)

    @cached_property
    def pauli(self) -> PauliBlocks:
        return PauliBlocks.build(self.delta, self.vectors)

    @property
    def n_ados(self) -> int:
        """C(K + L, L), exactly, without building the hierarchy (it may be far too large to)."""
        return count_ados(self.modes.size, self.spec.depth)

    @cached_property
    def hier(self) -> TierOrderedHierarchy:
        return TierOrderedHierarchy(self.modes.size, self.spec.depth)
