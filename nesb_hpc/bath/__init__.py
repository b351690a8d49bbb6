"""Baths: spectral densities, Bose-function expansions and decompositions of C(t).

``decompose_baths(model, bath)`` is the one entry point the driver uses: it turns the validated
input into one ``BathDecomposition`` per bath, the only contract with the hierarchy.
"""

from __future__ import annotations

from typing import Callable

from .accuracy import decomposition_error, error_grid, select_n_bose
from .decomposition import (BasisFamily, BathDecomposition, Chain, SharedBasis, exact_decomposition, from_exponents,
                            shared_basis)
from .fit import FittedDecomposition, fit_bath, fit_decomposition
from .quadrature import correlation_quadrature
from .spectral import RationalCutoff, Underdamped, drude_lorentz

__all__ = [
    "BasisFamily", "BathDecomposition", "Chain", "FittedDecomposition", "RationalCutoff", "Underdamped",
    "correlation_quadrature", "decompose_baths", "decomposition_error", "drude_lorentz", "error_grid",
    "exact_decomposition", "fit_bath", "fit_decomposition", "from_exponents", "select_n_bose", "shared_basis",
    "SharedBasis", "SPECTRAL_DENSITIES", "spectral_densities", "N_BOSE_AUTO", "resolved_n_bose",
]


# The spectral densities the input offers ([bath] spectral_density): name -> J(alpha, [bath] table),
# a callable in the project's convention (spectral.py), or None where C(t) is given directly.
# A new density is one entry here (its keys go in config/tables.py's BathConfig).
SPECTRAL_DENSITIES: dict[str, Callable] = {
    "rational": lambda alpha, bath: RationalCutoff(alpha=alpha, s=bath.s, cutoff_power=bath.cutoff_power,
                                                   omega_c=bath.omega_c),
    "drude_lorentz": lambda alpha, bath: drude_lorentz(alpha, bath.omega_c),
    "underdamped": lambda alpha, bath: Underdamped(alpha=alpha, omega0=bath.omega0, gamma=bath.gamma),
    "exponents": lambda alpha, bath: None,
}


def spectral_densities(model, bath) -> list:
    """J_1, J_2 (callables, project convention) for the input's [model] and [bath] tables.

    None for kind "exponents" (C(t) is given directly)."""
    make = SPECTRAL_DENSITIES[bath.spectral_density]
    return [make(alpha, bath) for alpha in (model.alpha1, model.alpha2)]


def decompose_baths(model, bath) -> list[BathDecomposition]:
    """One decomposition per bath: exact residues (rational J) with n_bose Bose terms (chosen per
    bath by resolved_n_bose when "auto"), a fit of C(t) to [bath] fit_tolerance when that is > 0
    (fit.py; cached per J at alpha = 1 and T), or the given QuTiP exponents (fit_tolerance is
    ignored for those)."""
    temps = (model.T1, model.T2)
    alphas = (model.alpha1, model.alpha2)
    if bath.spectral_density == "exponents":
        return [from_exponents(e.ck_real, e.vk_real, e.ck_imag, e.vk_imag, scale=a)
                for e, a in zip((bath.bath1, bath.bath2), alphas)]
    if bath.fit_tolerance > 0:
        return [fit_bath(J, T, bath.fit_tolerance, bath.fit_max_terms)
                for J, T in zip(spectral_densities(model, bath), temps)]
    return [exact_decomposition(J.rational(), T, bath.decomposition, n)
            for J, T, n in zip(spectral_densities(model, bath), temps, resolved_n_bose(model, bath))]


N_BOSE_AUTO = -1                  # how "auto" is stored in integer columns
_SELECTED: dict[tuple, int] = {}  # (J at alpha = 1, T, expansion, tolerance) -> n_bose


def resolved_n_bose(model, bath) -> tuple[int, ...]:
    """The Bose terms of each bath's exact decomposition: [bath] n_bose, or for "auto" the smallest
    number meeting [bath] tolerance at that bath's J and T (select_n_bose; memoised per process:
    it does not depend on alpha). N_BOSE_AUTO for baths without Bose terms (fits, exponents)."""
    if bath.spectral_density == "exponents" or bath.fit_tolerance > 0:
        return (N_BOSE_AUTO, N_BOSE_AUTO)
    if bath.n_bose != "auto":
        return (int(bath.n_bose), int(bath.n_bose))
    out = []
    for alpha, T in ((model.alpha1, model.T1), (model.alpha2, model.T2)):
        J = SPECTRAL_DENSITIES[bath.spectral_density](1.0, bath)   # the choice is alpha-independent
        key = (repr(J), float(T), bath.decomposition, float(bath.tolerance))
        if key not in _SELECTED:
            _SELECTED[key] = select_n_bose(J, T, bath.decomposition, bath.tolerance)[0]
        out.append(_SELECTED[key])
    return tuple(out)
