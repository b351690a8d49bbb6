"""Superoperators on 2x2 matrices in the real Pauli basis (physics.md section 3).

An ADO is rho = i^|m| (x0 I + x1 sx + x2 sy + x3 sz) / 2 with real x. A superoperator S acts on x
through the 4x4 matrix  M[S]_{mu nu} = Tr(sigma_mu S(sigma_nu)) / 2. The three kinds the extended
HEOM needs are real:

    LH   = M[-i [H_S, .]],   H_S = Delta sz          (system Liouvillian)
    Lc_b = M[-i [V_b, .]]                            (commutator with bath b's coupling)
    A_b  = M[{V_b, .}]                               (anticommutator with bath b's coupling)

Coupling operators are unit Bloch vectors: V = n . sigma with n = (sin th cos ph, sin th sin ph, cos th).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BS = 4  # real unknowns per ADO, (x0, x1, x2, x3): the block size of every hierarchy matrix

SIGMA = np.array(
    [
        [[1, 0], [0, 1]],
        [[0, 1], [1, 0]],
        [[0, -1j], [1j, 0]],
        [[1, 0], [0, -1]],
    ],
    dtype=complex,
)


def bloch_vector(polar: float, azimuth: float = 0.0) -> np.ndarray:
    """Unit vector (x, y, z) at polar angle `polar` from z and azimuth `azimuth` from x (radians)."""
    return np.array([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)])


def operator_from_bloch(n: np.ndarray) -> np.ndarray:
    """The 2x2 matrix n . sigma."""
    return np.tensordot(np.asarray(n, dtype=float), SIGMA[1:], axes=1)


def pauli_matrix_of(superop) -> np.ndarray:
    """M[S]_{mu nu} = Tr(sigma_mu S(sigma_nu)) / 2 for a superoperator given as a callable."""
    m = np.array([[np.trace(SIGMA[mu] @ superop(SIGMA[nu])) / 2 for nu in range(4)] for mu in range(4)])
    if np.max(np.abs(m.imag)) > 1e-14:
        raise ValueError("superoperator is not real in the Pauli basis")
    return m.real.copy()


@dataclass(frozen=True)
class PauliBlocks:
    """The real 4x4 blocks of the HEOM for system H_S = Delta sz and couplings V_b = n_b . sigma."""

    LH: np.ndarray                # (4, 4)
    Lc: np.ndarray                # (n_baths, 4, 4)
    A: np.ndarray                 # (n_baths, 4, 4)
    coupling_vectors: np.ndarray  # (n_baths, 3) unit Bloch vectors n_b

    @classmethod
    def build(cls, delta: float, coupling_vectors) -> "PauliBlocks":
        H = delta * SIGMA[3]
        vecs = np.atleast_2d(np.asarray(coupling_vectors, dtype=float))
        Vs = [operator_from_bloch(n) for n in vecs]
        LH = pauli_matrix_of(lambda X: -1j * (H @ X - X @ H))
        Lc = np.array([pauli_matrix_of(lambda X, V=V: -1j * (V @ X - X @ V)) for V in Vs])
        A = np.array([pauli_matrix_of(lambda X, V=V: V @ X + X @ V) for V in Vs])
        return cls(LH, Lc, A, vecs)

    def conserved_direction(self, tol: float = 1e-12) -> np.ndarray | None:
        """A Bloch vector q with q . sigma commuting with H_S and every V_b, or None.

        Then Tr(q . sigma rho_00) is conserved and the steady state is not unique
        (physics.md section 5: Delta = 0 with parallel couplings, e.g. theta = pi/2).
        """
        # rows mu = 1..3 of LH and Lc_b: q^T M[1:, :] = 0 for all of them
        stack = np.concatenate([self.LH[1:, :]] + [lc[1:, :] for lc in self.Lc], axis=1)
        u, s, _ = np.linalg.svd(stack)
        if s[-1] > tol * max(1.0, s[0]):
            return None
        return u[:, -1]
