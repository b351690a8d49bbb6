"""Observables from the tier-0 and tier-1 ADOs (pure numpy; physics.md section 4).

Bath-energy current out of bath nu into the system, I_nu = -d<H_Bnu>/dt:

    I_nu = sum_{j,j' in R_nu} a_j eta_jj' Tr[V_nu rho_{e_j'}] + i sum_{j,j' in I_nu} a_j eta_jj' Tr[V_nu rho_{e_j'}]
           + 2 C^I_nu(0) Tr[V_nu^2 rho_00]

In the Pauli form rho_{e_j} = i^{[j in I]} (x0 + x.sigma)/2 and V = n.sigma, Tr[V rho_{e_j}] = n . x
for R modes and i n . x for I modes, so I_nu = sum a eta (n.x)|_R - sum a eta (n.x)|_I + 2 C^I(0) x0:
``HierarchyModes.readout`` holds these weights (eta^T a, -eta^T a), and eta phi(0) for the merged
form, where every ADO is Hermitian and the current is Tr[V (-i) Int dF/dt(t-s) rho ds] = sum_j
(eta phi0)_j Tr[V rho_{e_j}] (liouvillian.HierarchyModes). (physics.md prints -2 C^I(0);
only +2 conserves energy, I1 + I2 = 0, when C^I(0) != 0: tests/test_steady_state.py.)
(The system-side current i<[H_S, V] B> is a different quantity when couplings do not commute.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hierarchy import TierOrderedHierarchy
from .liouvillian import HierarchyModes


CURRENT_FLOOR = 1e-15   # [omega_c^2]; the smallest currents of interest (alpha = 1e-5) are ~1e-11


def observable_indices(hier: TierOrderedHierarchy) -> np.ndarray:
    """Global scalar indices of the unknowns the observables need: ADO 0 and all of tier 1."""
    n_ados = int(hier.tier_offsets[min(2, hier.depth + 1)])
    return np.arange(4 * n_ados, dtype=np.int64)


@dataclass(frozen=True)
class SteadyStateObservables:
    currents: np.ndarray        # (n_baths,) I_nu, energy per unit time out of bath nu
    rho: np.ndarray             # 2x2 reduced density matrix rho_00
    bloch: np.ndarray           # (x0, x1, x2, x3) of rho_00
    conservation: float         # |sum_nu I_nu| / max |I_nu| (0 when all are below CURRENT_FLOOR)
    positivity: float           # min eigenvalue of rho_00 (>= 0 for a physical state)


def heat_currents(y: np.ndarray, hier: TierOrderedHierarchy, modes: HierarchyModes,
                  coupling_vectors: np.ndarray) -> np.ndarray:
    """I_nu for every bath from the (rescaled) unknowns y of ADO 0 and tier 1 (see module doc)."""
    y = np.asarray(y, dtype=float).reshape(-1, 4)
    n_baths = coupling_vectors.shape[0]
    K = modes.size
    first = hier.rank(np.eye(K, dtype=np.int64))          # ADO number of e_j
    x_first = y[first] * modes.scale[:, None]              # undo the rescaling, s_{e_j} = c_j
    x0 = y[0, 0]
    out = np.zeros(n_baths)
    for nu in range(n_baths):
        sel = modes.bath == nu
        out[nu] = float(modes.readout[sel] @ (x_first[sel, 1:] @ coupling_vectors[nu]))
        # + 2 C^I(0) Tr[V^2 rho_00] (V^2 = 1): the sign that makes I1 + I2 = 0 and agrees with
        # QuTiP to 1e-15 on Drude-Lorentz baths (C^I(0) = -lambda gamma); physics.md s4 prints -2
        out[nu] += 2.0 * modes.imag_at_zero[nu] * x0
    return out


def reduced_density_matrix(y0: np.ndarray) -> np.ndarray:
    """rho_00 = (x0 + x.sigma)/2 from its Pauli components (scale of ADO 0 is 1)."""
    from .pauli import SIGMA

    return np.tensordot(np.asarray(y0, dtype=float), SIGMA, axes=1) / 2.0


def steady_state_observables(y: np.ndarray, hier, modes, coupling_vectors) -> SteadyStateObservables:
    y = np.asarray(y, dtype=float).reshape(-1, 4)
    currents = heat_currents(y, hier, modes, coupling_vectors)
    rho = reduced_density_matrix(y[0])
    scale = float(np.max(np.abs(currents))) if currents.size else 0.0
    # below the floor the currents are rounding noise of an exact zero (e.g. one bath uncoupled,
    # alpha = 0: its current is 0 and the other's ~1e-18), and their ratio says nothing
    conservation = abs(float(currents.sum())) / scale if scale > CURRENT_FLOOR else 0.0
    positivity = float(np.min(np.linalg.eigvalsh(rho)))
    return SteadyStateObservables(currents, rho, y[0].copy(), conservation, positivity)
