"""Full (non-secular) Bloch-Redfield steady state and heat currents, O(alpha), any coupling directions.

H = Delta sz + sum_nu [H_Bnu + V_nu B_nu], V_nu = n_nu . sigma (unit Bloch vectors), eigenbasis of
H_S = Delta sz: index 0 <-> +Delta, 1 <-> -Delta (the Pauli basis). Second order in V_nu B_nu,
Markov (TCL2), no secular approximation (docs/analytic.md, section 2):

    d rho/dt = -i [H_S, rho] + sum_nu D_nu(rho),    D_nu(rho) = -[V_nu, Lam_nu rho - rho Lam_nu^dag],
    Lam_nu = Int_0^inf C_nu(tau) V_nu(-tau) dtau,  (Lam_nu)_ab = (V_nu)_ab Gamma_nu(E_b - E_a),

Gamma_nu(omega) = Int_0^inf C_nu(t) e^{i omega t} dt = S_nu(omega)/2 + i D_nu(omega) (the half-Fourier
transforms of ``quadrature.half_fourier``: closed form by residues for rational J, real-axis
quadrature otherwise). The Lamb shifts D_nu are kept. Heat current from bath nu:

    I_nu = Tr[H_S D_nu(rho_ss)]     [energy / time],

which equals the bath-energy current -d<H_Bnu>/dt to O(alpha) (they differ at O(alpha^2), beyond the
accuracy of the theory; docs/analytic.md), and obeys I_1 + I_2 = 0 exactly at the steady state.

Steady state: Bloch form rho = (1 + r . sigma)/2, dr/dt = A r + b (A, b real), A r = -b. When A is
singular (populations frozen: both couplings along z; Delta = 0) the minimal-norm solution is taken,
i.e. the frozen components are set to 0 (docs/model.md s5's Tr(sx rho) = 0 at Delta = 0,
theta = pi/2). At Delta = 0 the system Hamiltonian vanishes, so I_1 = I_2 = 0 exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .golden_rule import check_point
from .half_fourier import half_fourier

SIGMA = (
    np.array([[0, 1], [1, 0]], dtype=complex),
    np.array([[0, -1j], [1j, 0]], dtype=complex),
    np.array([[1, 0], [0, -1]], dtype=complex),
)
IDENTITY = np.eye(2, dtype=complex)


@dataclass(frozen=True)
class RedfieldResult:
    """Bloch-Redfield steady state.

    I1, I2: energy leaving bath 1, 2 per unit time (Tr[H_S D_nu(rho)]; I1 + I2 = 0);
    rho: 2x2 reduced density matrix in the sz basis (index 0 = level +Delta);
    error: absolute error estimate of I1 (propagated quadrature errors of Gamma + |I1 + I2|).
    """

    I1: float
    I2: float
    rho: np.ndarray
    error: float

    @property
    def I(self) -> float:  # noqa: E743 - the paper's name for the current
        """The heat current I = I1."""
        return self.I1


def _unit_vector(n: Sequence[float], name: str) -> np.ndarray:
    v = np.asarray(n, dtype=float).reshape(-1)
    if v.size != 3 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} = {n!r}: need a real 3-vector (Bloch direction)")
    if abs(np.linalg.norm(v) - 1.0) > 1e-8:
        raise ValueError(f"{name} = {n!r}: need a unit vector (|n| = {np.linalg.norm(v):.12g}); "
                         "the coupling strength belongs in J")
    return v


def _dissipator(V: np.ndarray, Lam: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """D(rho) = -[V, Lam rho - rho Lam^dag]."""
    X = Lam @ rho - rho @ Lam.conj().T
    return -(V @ X - X @ V)


def _lambda(V: np.ndarray, gam) -> np.ndarray:
    """(Lam)_ab = V_ab Gamma(E_b - E_a), E_0 = +delta, E_1 = -delta; gam = (Gamma(0), Gamma(E), Gamma(-E))."""
    g0, gE, gmE = gam
    return np.array([[V[0, 0] * g0, V[0, 1] * gmE], [V[1, 0] * gE, V[1, 1] * g0]])


def _solve(delta: float, Vs, Lams):
    """Steady state and currents for given Lam_nu; returns (rho, [I_nu])."""
    H = delta * SIGMA[2]

    def L(rho):
        out = -1j * (H @ rho - rho @ H)
        for V, Lam in zip(Vs, Lams):
            out = out + _dissipator(V, Lam, rho)
        return out

    A = np.array([[0.5 * np.trace(SIGMA[j] @ L(SIGMA[k])).real for k in range(3)] for j in range(3)])
    b = np.array([0.5 * np.trace(SIGMA[j] @ L(IDENTITY)).real for j in range(3)])
    try:
        r = np.linalg.solve(A, -b)
        if not np.all(np.isfinite(r)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        r = np.linalg.lstsq(A, -b, rcond=None)[0]
    rho = 0.5 * (IDENTITY + sum(rk * s for rk, s in zip(r, SIGMA)))
    currents = [float(np.trace(H @ _dissipator(V, Lam, rho)).real) for V, Lam in zip(Vs, Lams)]
    return rho, currents


def redfield_current(
    delta: float,
    T1: float,
    T2: float,
    J1: Callable,
    J2: Callable,
    n1: Sequence[float] = (1.0, 0.0, 0.0),
    n2: Sequence[float] = (1.0, 0.0, 0.0),
    method: str = "auto",
) -> RedfieldResult:
    """Non-secular Bloch-Redfield steady-state heat currents for V_nu = n_nu . sigma.

    delta: half gap (>= 0); T1, T2 (> 0); J1, J2: spectral densities (callables, project
    convention; rational ones get closed-form Gamma); n1, n2: unit Bloch vectors (n = (sin th, 0,
    cos th) is the paper's sigma_theta); method: passed to ``quadrature.half_fourier``.
    Returns RedfieldResult(I1, I2, rho, error); I1 > 0 when heat flows out of bath 1.
    """
    check_point(delta, T1, T2)
    v1, v2 = _unit_vector(n1, "n1"), _unit_vector(n2, "n2")
    delta = float(delta)
    if delta == 0.0:
        return RedfieldResult(0.0, 0.0, 0.5 * IDENTITY, 0.0)
    Vs = [sum(c * s for c, s in zip(v, SIGMA)) for v in (v1, v2)]
    E = 2.0 * delta
    gams, errs = [], []
    for J, T in ((J1, T1), (J2, T2)):
        qs = [half_fourier(J, T, om, method=method) for om in (0.0, E, -E)]
        gams.append([q.value for q in qs])
        errs.append([q.error for q in qs])
    Lams = [_lambda(V, g) for V, g in zip(Vs, gams)]
    rho, (I1, I2) = _solve(delta, Vs, Lams)

    # error: first-order propagation of each Gamma's error estimate. Re Gamma = S/2 is a closed
    # form (perturbed by its rounding); the quadrature/residue error is that of Im Gamma.
    err = abs(I1 + I2)
    for nu in range(2):
        for k, e in enumerate(errs[nu]):
            for d in (4e-16 * abs(gams[nu][k].real), 1j * e):
                if d == 0:
                    continue
                g = list(gams[nu])
                g[k] = g[k] + d
                L2 = list(Lams)
                L2[nu] = _lambda(Vs[nu], g)
                err += abs(_solve(delta, Vs, L2)[1][0] - I1)
    return RedfieldResult(I1, I2, rho, float(err))
