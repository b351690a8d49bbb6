"""The weak-coupling currents stored beside each HEOM solve ([study] analytic), for a validated
[model] and [bath]: Bloch-Redfield (any couplings) and NE-PTRE (theta = 0 with V1 = sx)."""

from __future__ import annotations

import math

def analytic_currents(model, bath, theories: tuple[str, ...]) -> dict[str, float]:
    """I_redfield and I_ptre at a point (NaN where not asked for or not applicable).

    Redfield needs J (not spectral_density "exponents"); NE-PTRE holds only for theta = 0
    (V2 = sz) with V1 = sx (theta1 = pi/2, phi1 = 0).
    """
    from ..bath import spectral_densities
    from ..pauli import bloch_vector
    from .ne_ptre import ne_ptre_current
    from .redfield import redfield_current

    out = {"I_redfield": math.nan, "I_ptre": math.nan}
    if not theories:
        return out
    J1, J2 = spectral_densities(model, bath)
    if J1 is None or J2 is None:
        return out
    if "redfield" in theories:
        try:
            n1 = bloch_vector(model.theta1, model.phi1)
            n2 = bloch_vector(model.theta, model.phi2)
            out["I_redfield"] = float(redfield_current(model.delta, model.T1, model.T2, J1, J2, n1, n2).I1)
        except ValueError:
            pass
    v1_is_sx = math.isclose(model.theta1, math.pi / 2, abs_tol=1e-12) and model.phi1 == 0.0
    if "ne-ptre" in theories and model.theta == 0.0 and v1_is_sx:
        try:
            out["I_ptre"] = float(ne_ptre_current(model.delta, model.T1, model.T2, J1, J2).I)
        except ValueError:  # e.g. a J2 that is not super-Ohmic
            pass
    return out


