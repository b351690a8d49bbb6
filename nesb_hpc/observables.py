"""Observables from the tier-0 and tier-1 ADOs (pure numpy; docs/model.md s4).

Bath-energy current out of bath nu into the system, I_nu = -d<H_Bnu>/dt:

    I_nu = sum_{j,j' in R_nu} a_j eta_jj' Tr[V_nu rho_{e_j'}] + i sum_{j,j' in I_nu} a_j eta_jj' Tr[V_nu rho_{e_j'}]
           + 2 C^I_nu(0) Tr[V_nu^2 rho_00]

In the Pauli form rho_{e_j} = i^{[j in I]} (x0 + x.sigma)/2 and V = n.sigma, Tr[V rho_{e_j}] = n . x
for R modes and i n . x for I modes, so I_nu = sum a eta (n.x)|_R - sum a eta (n.x)|_I + 2 C^I(0) x0:
``HierarchyModes.readout`` holds these weights (eta^T a, -eta^T a), and eta phi(0) for the merged
form, where every ADO is Hermitian and the current is Tr[V (-i) Int dF/dt(t-s) rho ds] = sum_j
(eta phi0)_j Tr[V rho_{e_j}] (liouvillian.HierarchyModes). (The sign of the C^I(0) term is +2: only it conserves energy,
I1 + I2 = 0, when C^I(0) != 0: tests/test_steady_state.py; docs/model.md s4.)
(The system-side current i<[H_S, V] B> is a different quantity when couplings do not commute.)

Out of steady state (docs/dynamics.md, transient_observables): the same first-tier readout is the
instantaneous bath-energy current at every time of an evolution that starts from a product state
(baths thermal, all ADOs beyond tier 0 zero), and the interaction energy is

    <V_nu B_nu> = Tr[V_nu Tr_B(B_nu rho_tot)] = sum_{j in nu} up_j (n_nu . x_{e_j})

for both mode forms (up = a^R, -a^I separate; phi0 merged: the coefficient with which tier 1
feeds rho_00), so that d/dt (<H_S> + sum_nu <V_nu B_nu>) = sum_nu I_nu holds exactly for the
truncated hierarchy at any depth.
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
        # QuTiP to 1e-15 on Drude-Lorentz baths (C^I(0) = -lambda gamma); docs/model.md s4
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


def _first_tier(y: np.ndarray, hier: TierOrderedHierarchy, modes: HierarchyModes) -> np.ndarray:
    """x_{e_j} (unscaled Pauli components, shape (K, 4)) from the rescaled unknowns y."""
    y = np.asarray(y, dtype=float).reshape(-1, 4)
    first = hier.rank(np.eye(modes.size, dtype=np.int64))
    return y[first] * modes.scale[:, None]


def interaction_energies(y: np.ndarray, hier: TierOrderedHierarchy, modes: HierarchyModes,
                         coupling_vectors: np.ndarray) -> np.ndarray:
    """<V_nu B_nu> for every bath (energy units) from the unknowns y of ADO 0 and tier 1.

    Tr_B(B_nu rho_tot) = sum_{j in nu} up_j rho_{e_j} in the Pauli form of either mode form
    (separate: a^R_j rho_{e_j} + i a^I_j rho_{e_j}, with rho_{e_j} = i (x0 + x.sigma)/2 for an
    I mode, so the weight is up_j = -a^I_j; merged: phi0_j rho_{e_j}); with V_nu = n_nu . sigma,
    Tr[V_nu (x0 + x.sigma)/2] = n_nu . x. Linear in y (no constant term).
    """
    x_first = _first_tier(y, hier, modes)
    out = np.zeros(coupling_vectors.shape[0])
    for nu in range(out.size):
        sel = modes.bath == nu
        out[nu] = float(modes.up[sel] @ (x_first[sel, 1:] @ coupling_vectors[nu]))
    return out


@dataclass(frozen=True)
class TransientObservables:
    """What an evolution reports at one output time (energies in units of omega_c, times in 1/omega_c).

    t: time; currents: I_nu = -d<H_Bnu>/dt (energy per unit time out of bath nu);
    bloch: (Tr rho_00, <sx>, <sy>, <sz>); interaction_energies: <V_nu B_nu>;
    system_energy: <H_S> = Delta <sz>; and the time derivatives of the last two from the
    right-hand side L y (not from differences): system_energy_rate, interaction_energy_rates.
    """

    t: float
    currents: np.ndarray
    bloch: np.ndarray
    interaction_energies: np.ndarray
    system_energy: float
    interaction_energy_rates: np.ndarray
    system_energy_rate: float

    @property
    def energy_balance(self) -> float:
        """|d/dt (<H_S> + sum <V B>) - sum I| / max(|I_nu|, |d<V B>/dt|): zero for the truncated
        hierarchy at any depth (docs/dynamics.md), so a check of the evolution's state and readout."""
        lhs = self.system_energy_rate + float(np.sum(self.interaction_energy_rates))
        scale = float(np.max(np.abs(np.concatenate([self.currents, self.interaction_energy_rates]))))
        return abs(lhs - float(np.sum(self.currents))) / scale if scale > 0 else 0.0

    def as_dict(self) -> dict:
        """Flat columns for a table row: t, I1, I2, ..., sx, sy, sz, trace, E_S, E_int1, ..."""
        out = {"t": self.t}
        out.update({f"I{nu + 1}": float(v) for nu, v in enumerate(self.currents)})
        out.update({"trace": float(self.bloch[0]), "sx": float(self.bloch[1]), "sy": float(self.bloch[2]),
                    "sz": float(self.bloch[3]), "E_S": self.system_energy})
        out.update({f"E_int{nu + 1}": float(v) for nu, v in enumerate(self.interaction_energies)})
        out.update({"dE_S_dt": self.system_energy_rate})
        out.update({f"dE_int{nu + 1}_dt": float(v) for nu, v in enumerate(self.interaction_energy_rates)})
        out["energy_balance"] = self.energy_balance
        return out


def transient_observables(t: float, y: np.ndarray, ydot: np.ndarray, hier: TierOrderedHierarchy,
                          modes: HierarchyModes, coupling_vectors: np.ndarray, delta: float) -> TransientObservables:
    """Observables of the state y (ADO 0 and tier 1, rescaled unknowns, ADO order) at time t;
    ydot = (L y) on the same entries gives the rates. H_S = delta sz, so <H_S> = delta x3."""
    y = np.asarray(y, dtype=float).reshape(-1, 4)
    ydot = np.asarray(ydot, dtype=float).reshape(-1, 4)
    return TransientObservables(
        float(t), heat_currents(y, hier, modes, coupling_vectors), y[0].copy(),
        interaction_energies(y, hier, modes, coupling_vectors), float(delta * y[0, 3]),
        interaction_energies(ydot, hier, modes, coupling_vectors), float(delta * ydot[0, 3]))
