"""Baths: spectral densities, Bose-function expansions and decompositions of C(t).

``decompose_baths(model, bath)`` is the one entry point the driver uses: it turns the validated
input into one ``BathDecomposition`` per bath, the only contract with the hierarchy. Every
function here reads the [bath] table through ``bath.per_bath()`` (config.bath_table): each bath's
own spectral density and settings, [bath] with its sub-table [bath.bath1] / [bath.bath2] applied.
"""

from __future__ import annotations

from typing import Callable

from .accuracy import decomposition_error, error_grid, select_n_bose
from .decomposition import (BasisFamily, BathDecomposition, Chain, SharedBasis, exact_decomposition, from_exponents,
                            shared_basis)
from .fit import FittedDecomposition, fit_bath, fit_decomposition
from .quadrature import correlation_quadrature
from .reference import CorrelationReference, correlation_reference
from .spectral import ExponentialCutoff, RationalCutoff, Underdamped, drude_lorentz
from .tabulated import Tabulated, tabulated_density

__all__ = [
    "BasisFamily", "BathDecomposition", "Chain", "CorrelationReference", "ExponentialCutoff", "FittedDecomposition",
    "RationalCutoff", "Tabulated", "Underdamped", "correlation_quadrature", "correlation_reference", "decompose_bath",
    "decompose_baths", "decomposition_error", "drude_lorentz", "error_grid", "exact_decomposition", "fit_bath",
    "fit_decomposition", "from_exponents", "select_n_bose", "shared_basis", "SharedBasis", "SPECTRAL_DENSITIES",
    "FITTED_DENSITIES", "spectral_densities", "densities", "N_BOSE_AUTO", "resolved_n_bose", "tabulated_density",
]


# The spectral densities the input offers ([bath] spectral_density): name -> J(alpha, bath), a
# callable in the project's convention (spectral.py, tabulated.py) built from one bath's settings
# (config.bath_table.BathSpec), or None where C(t) is given directly. A new density is one entry
# here (its keys go in config/bath_table.py), and one in FITTED_DENSITIES if it has no .rational().
SPECTRAL_DENSITIES: dict[str, Callable] = {
    "rational": lambda alpha, bath: RationalCutoff(alpha=alpha, s=bath.s, cutoff_power=bath.cutoff_power,
                                                   omega_c=bath.omega_c),
    "drude_lorentz": lambda alpha, bath: drude_lorentz(alpha, bath.omega_c),
    "underdamped": lambda alpha, bath: Underdamped(alpha=alpha, omega0=bath.omega0, gamma=bath.gamma),
    "exponential": lambda alpha, bath: ExponentialCutoff(alpha=alpha, s=float(bath.s), omega_c=bath.omega_c),
    "tabulated": lambda alpha, bath: tabulated_density(alpha, bath.file),
    "exponents": lambda alpha, bath: None,
}
# Densities whose C(t) is no finite sum of exponentials: always fitted ([bath] fit_tolerance = 0
# then means "fit to [bath] tolerance"), n_bose and decomposition do not apply.
FITTED_DENSITIES = ("exponential", "tabulated")


def densities(bath, alphas) -> list:
    """J_1, J_2 (callables, project convention; None for "exponents") of a [bath] table at the
    couplings alphas = (alpha1, alpha2)."""
    return [SPECTRAL_DENSITIES[b.spectral_density](alpha, b) for b, alpha in zip(bath.per_bath(), alphas)]


def spectral_densities(model, bath) -> list:
    """J_1, J_2 (callables, project convention) for the input's [model] and [bath] tables.

    None for kind "exponents" (C(t) is given directly)."""
    return densities(bath, (model.alpha1, model.alpha2))


def decompose_bath(spec, alpha: float, T: float, n_bose: int) -> BathDecomposition:
    """One bath's decomposition from its settings (config.bath_table.BathSpec): the given QuTiP
    exponents (fit_tolerance ignored), a fit of C(t) (fit.py; to fit_tolerance, or to tolerance for
    a density without exact decomposition; cached per J at alpha = 1 and T), or exact residues
    with n_bose Bose terms."""
    if spec.spectral_density == "exponents":
        return from_exponents(spec.ck_real, spec.vk_real, spec.ck_imag, spec.vk_imag, scale=alpha)
    J = SPECTRAL_DENSITIES[spec.spectral_density](alpha, spec)
    if spec.fitted:
        return fit_bath(J, T, spec.fit_target, spec.fit_max_terms)
    return exact_decomposition(J.rational(), T, spec.decomposition, n_bose)


def decompose_baths(model, bath) -> list[BathDecomposition]:
    """One decomposition per bath (decompose_bath), each with its own settings; the exact ones
    with n_bose Bose terms, chosen per bath by resolved_n_bose when "auto"."""
    temps, alphas = (model.T1, model.T2), (model.alpha1, model.alpha2)
    return [decompose_bath(spec, a, T, n)
            for spec, a, T, n in zip(bath.per_bath(), alphas, temps, resolved_n_bose(model, bath))]


N_BOSE_AUTO = -1                  # how "auto" is stored in integer columns
_SELECTED: dict[tuple, int] = {}  # (J at alpha = 1, T, expansion, tolerance) -> n_bose


def resolved_n_bose(model, bath) -> tuple[int, ...]:
    """The Bose terms of each bath's exact decomposition: its n_bose, or for "auto" the smallest
    number meeting its tolerance at that bath's J and T (select_n_bose; memoised per process: it
    does not depend on alpha). N_BOSE_AUTO for baths without Bose terms (fits, exponents)."""
    out = []
    for spec, T in zip(bath.per_bath(), (model.T1, model.T2)):
        if spec.spectral_density == "exponents" or spec.fitted:
            out.append(N_BOSE_AUTO)
        elif spec.n_bose != "auto":
            out.append(int(spec.n_bose))
        else:
            J = SPECTRAL_DENSITIES[spec.spectral_density](1.0, spec)   # the choice is alpha-independent
            key = (repr(J), float(T), spec.decomposition, float(spec.tolerance))
            if key not in _SELECTED:
                _SELECTED[key] = select_n_bose(J, T, spec.decomposition, spec.tolerance)[0]
            out.append(_SELECTED[key])
    return tuple(out)
