"""Spectral densities J(w) of the bosonic baths.

Convention (docs/model.md s1): the bath correlation function is

    C(t) = (1/pi) Int_0^inf J(w) [coth(w / 2T) cos(wt) - i sin(wt)] dw,

hbar = k_B = 1. Every J is odd in w (J(-w) = -J(w)) and takes numpy arrays. The rational ones
have ``.rational()``,

    J(w) = prefactor * w^s / prod_k (w - z_k)^{m_k},

so that C(t) follows exactly from the residues at the poles z_k in the upper half plane
(``nesb_hpc.bath.decomposition``). The others (``ExponentialCutoff`` here, ``tabulated.Tabulated``)
have C(t) that is no finite sum of exponentials: they are fitted (fit.py) against quadrature
(reference.py), and they say where J ends (``support``: J is zero or negligible beyond it) and on
which frequency C(t) varies (``frequency_scale``). Energies and frequencies are in units of the
cutoff omega_c of the model unless stated otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special


@dataclass(frozen=True)
class RationalPoles:
    """J(w) = prefactor * w**power / prod_k (w - poles[k])**multiplicities[k] (complex poles)."""

    prefactor: complex
    power: int
    poles: tuple[complex, ...]
    multiplicities: tuple[int, ...]

    def __call__(self, w):
        w = np.asarray(w, dtype=complex)
        den = np.ones_like(w)
        for z, m in zip(self.poles, self.multiplicities):
            den = den * (w - z) ** m
        return self.prefactor * w**self.power / den

    def upper_poles(self) -> list[tuple[complex, int]]:
        """Poles with Im z > 0 (they carry C(t) for t > 0), with their multiplicities."""
        return [(z, m) for z, m in zip(self.poles, self.multiplicities) if z.imag > 0]


@dataclass(frozen=True)
class RationalCutoff:
    """Super-Ohmic rational-cutoff spectral density of the paper (docs/model.md s1).

    J(w) = pi * alpha * w^s * omega_c^(1-s) / (1 + (w/omega_c)^2)^p     [energy]

    s: spectral exponent (odd positive integer, so that J is odd and analytic),
    p: cutoff power (p = 4 in the paper), 2p > s (2p > s + 1 for a finite C(0)).
    With s = 1, p = 1 this is the Drude-Lorentz density 2 lambda gamma w / (w^2 + gamma^2)
    with gamma = omega_c and lambda = pi * alpha * omega_c / 2 (QuTiP's convention).
    """

    alpha: float
    s: int = 3
    cutoff_power: int = 4
    omega_c: float = 1.0

    def __post_init__(self):
        if self.s < 1 or self.s % 2 == 0:
            raise ValueError(f"s = {self.s}: the exact decomposition needs an odd positive integer")
        if 2 * self.cutoff_power <= self.s:
            # J must vanish at infinity for the contour closure; C^R(0) is finite only if
            # 2p > s + 1 (Drude-Lorentz, s = p = 1, has the familiar log-divergent C^R(0))
            raise ValueError(f"cutoff_power = {self.cutoff_power}: need 2*cutoff_power > s")
        if self.omega_c <= 0:
            raise ValueError(f"omega_c = {self.omega_c}: must be > 0")

    def __call__(self, w):
        """J(w) for real w (odd extension to w < 0)."""
        w = np.asarray(w, dtype=float)
        wc, p = self.omega_c, self.cutoff_power
        return math.pi * self.alpha * w**self.s * wc ** (1 - self.s) / (1.0 + (w / wc) ** 2) ** p

    def rational(self) -> RationalPoles:
        # (1 + w^2/wc^2)^p = (w - i wc)^p (w + i wc)^p / wc^(2p)
        wc, p = self.omega_c, self.cutoff_power
        pref = math.pi * self.alpha * wc ** (1 - self.s + 2 * p)
        return RationalPoles(pref, self.s, (1j * wc, -1j * wc), (p, p))


def drude_lorentz(alpha: float, omega_c: float = 1.0) -> RationalCutoff:
    """Drude-Lorentz J(w) = pi alpha w / (1 + (w/omega_c)^2), i.e. lambda = pi alpha omega_c / 2."""
    return RationalCutoff(alpha=alpha, s=1, cutoff_power=1, omega_c=omega_c)


@dataclass(frozen=True)
class Underdamped:
    """Underdamped Brownian-oscillator spectral density (QuTiP's UnderDampedBath).

    J(w) = alpha * omega0^2 * gamma * w / ((omega0^2 - w^2)^2 + gamma^2 w^2)     [energy]

    i.e. QuTiP's lam**2 = alpha * omega0**2; requires 0 < gamma < 2 omega0 (distinct poles).
    """

    alpha: float
    omega0: float = 1.0
    gamma: float = 0.2

    def __post_init__(self):
        if not 0 < self.gamma < 2 * self.omega0:
            raise ValueError(f"gamma = {self.gamma}: need 0 < gamma < 2*omega0 = {2 * self.omega0}")

    def __call__(self, w):
        w = np.asarray(w, dtype=float)
        w0, g = self.omega0, self.gamma
        return self.alpha * w0**2 * g * w / ((w0**2 - w**2) ** 2 + g**2 * w**2)

    def rational(self) -> RationalPoles:
        w0, g = self.omega0, self.gamma
        om = math.sqrt(w0**2 - g**2 / 4)
        poles = (om + 0.5j * g, -om + 0.5j * g, om - 0.5j * g, -om - 0.5j * g)
        return RationalPoles(self.alpha * w0**2 * g, 1, poles, (1, 1, 1, 1))


@dataclass(frozen=True)
class ExponentialCutoff:
    """Ohmic (s = 1), sub-Ohmic (s < 1) or super-Ohmic (s > 1) density with an exponential cutoff,
    the standard spin-boson choice (Leggett et al., Rev. Mod. Phys. 59, 1 (1987)):

        J(w) = pi alpha w^s omega_c^(1-s) exp(-w/omega_c)     [energy], odd extension to w < 0.

    s > 0 real. At T = 0, C(t) = alpha omega_c^2 Gamma(s+1) / (1 + i omega_c t)^(s+1) (docs/model.md
    s1): a power-law tail t^-(s+1), no finite sum of exponentials, so the bath is fitted (fit.py).
    QuTiP's OhmicEnvironment(T, alpha_q, wc, s), J = alpha_q w^s wc^(1-s) e^(-w/wc) with the same
    C(t) convention, is this J with alpha_q = pi alpha.
    """

    alpha: float
    s: float = 1.0
    omega_c: float = 1.0

    def __post_init__(self):
        if not (self.s > 0 and self.omega_c > 0):
            raise ValueError(f"s = {self.s}, omega_c = {self.omega_c}: need s > 0 and omega_c > 0")

    def __call__(self, w):
        if isinstance(w, float):  # quadrature calls with one float at a time: 20 times faster
            a = abs(w)
            return math.copysign(math.pi * self.alpha * a**self.s * self.omega_c ** (1 - self.s)
                                 * math.exp(-a / self.omega_c), w) if w else 0.0
        w = np.asarray(w, dtype=float)
        a = np.abs(w)
        return np.sign(w) * math.pi * self.alpha * a**self.s * self.omega_c ** (1 - self.s) * np.exp(-a / self.omega_c)

    @property
    def support(self) -> float:
        """W with Int_W^inf J dw <= 1e-16 Int_0^inf J dw (the upper incomplete Gamma function
        Gamma(s+1, W/omega_c) <= 1e-16 Gamma(s+1)): 40 omega_c at s = 1, 46 at s = 3."""
        x = 1.0
        while special.gammaincc(self.s + 1.0, x) > 1e-16:
            x *= 1.05
        return float(x * self.omega_c)

    @property
    def frequency_scale(self) -> float:
        """C(t) is analytic for |Im t| < 1/omega_c (its singularities lie at t = +-i(1/omega_c + k/T))."""
        return float(self.omega_c)
