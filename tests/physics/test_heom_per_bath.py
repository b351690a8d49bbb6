"""A point whose two baths have different spectral densities (#15 item 4), through the input.

Bath 1 has the paper's J (rational, s = 3, p = 4; exact decomposition, Pade n_bose = 2), bath 2
an Ohmic exponential cutoff (s = 1; fitted to [bath] tolerance 1e-4 against quadrature, 9-10
functions), given as [bath.bath2]. Small hierarchy: depth 3, merged modes. Checked:

1. I1 + I2 = 0 to 1e-8 relative (docs/model.md s4: the tier-0/1 equations; a solver check).
2. The input's route against two independent ones: (a) the decompositions built by hand from
   the densities (RationalCutoff, ExponentialCutoff) and solved directly: the config plumbing
   gives each bath its own J (1e-10); (b) the mirror point: the baths' labels exchanged
   (bath 1 the exponential at T2 with V2's direction, bath 2 the paper's J at T1 with V1's), a
   relabelling of the same physics, so I1(mirror) = I2 = -I1 (1e-9; the hierarchy's modes come
   in another order, the truncation by total depth does not depend on it).
3. Weak coupling: I / I_golden(J1 = paper, J2 = Ohmic) extrapolated to alpha -> 0 from alpha =
   1e-3 and 2e-3 is 1 within 0.5% (tests/physics/test_heom_limits.py's rule), at theta = pi/2 and
   pi/4. A mix-up of the two J's would be off by far more: J_Ohmic(0.2)/J_paper(0.2) = 24.

Collective (mpi-marked): serially and on 2 ranks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

import nesb_hpc
from nesb_hpc.analytic import golden_rule_current
from nesb_hpc.bath import ExponentialCutoff, RationalCutoff, exact_decomposition, fit_bath
from nesb_hpc.pauli import bloch_vector
from nesb_hpc.point import HierarchySpec, solve_point
from nesb_hpc.routes import SolverSettings

from heom_helpers import CONSERVATION_TOL

COMM = MPI.COMM_WORLD
pytestmark = [pytest.mark.mpi, pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")]
DELTA, T1, T2 = 0.1, 1.0, 0.5
OHMIC = {"spectral_density": "exponential", "s": 1}


def config(alpha1, alpha2, theta, *, T1=T1, T2=T2, theta1=math.pi / 2, mirror=False, depth=3):
    paper = {"spectral_density": "rational", "s": 3, "n_bose": 2}   # s: the shared one may be Ohmic
    bath = {**paper, "bath2": OHMIC} if not mirror else {**OHMIC, "bath2": paper}
    return {"model": {"delta": DELTA, "alpha1": alpha1, "alpha2": alpha2, "T1": T1, "T2": T2,
                      "theta": theta, "theta1": theta1},
            "bath": {**bath, "tolerance": 1e-4},
            "hierarchy": {"depth": depth, "modes": "merged"}, "solver": {"method": "direct"}}


def solve(cfg):
    res = nesb_hpc.solve_point(cfg, comm=COMM)
    assert res.status == "ok", (res.reason, res.row["reason"])
    assert abs(res.I1 + res.I2) <= CONSERVATION_TOL * max(abs(res.I1), abs(res.I2)), (res.I1, res.I2)
    return res


def test_two_different_densities_conserve_energy_and_match_independent_routes():
    alpha, theta = 0.05, math.pi / 4
    res = solve(config(alpha, alpha, theta))
    assert res.I1 > 0 and res.n_bose1 == 2 and res.n_bose2 == -1       # exact bath 1, fitted bath 2
    assert res.decomposition_error <= 1e-4
    # (a) the same decompositions built by hand, solved directly
    baths = [exact_decomposition(RationalCutoff(alpha=alpha).rational(), T1, "pade", 2),
             fit_bath(ExponentialCutoff(alpha, 1.0), T2, 1e-4, 12)]
    vecs = np.array([bloch_vector(math.pi / 2), bloch_vector(theta)])
    direct = solve_point(COMM, baths, vecs, DELTA, HierarchySpec(3, True, "aij", "merged"),
                         SolverSettings(method="direct", rtol=1e-12))
    assert abs(direct.I1 - res.I1) <= 1e-10 * abs(res.I1), (direct.I1, res.I1)
    # (b) the mirror point: labels exchanged, J, T, alpha and coupling direction together
    mirror = solve(config(alpha, alpha, math.pi / 2, T1=T2, T2=T1, theta1=theta, mirror=True))
    assert abs(mirror.I1 + res.I1) <= 1e-9 * abs(res.I1), (mirror.I1, res.I1)
    # different J's matter: both baths with the paper's J give another current
    same = solve({**config(alpha, alpha, theta), "bath": {"spectral_density": "rational", "n_bose": 3}})
    assert abs(same.I1 - res.I1) > 0.1 * abs(res.I1)


@pytest.mark.parametrize("theta", [math.pi / 2, math.pi / 4])
def test_weak_coupling_is_the_golden_rule_with_both_densities(theta):
    ratios = []
    for alpha in (1e-3, 2e-3):
        res = solve(config(alpha, alpha, theta))
        J1, J2 = RationalCutoff(alpha=alpha), ExponentialCutoff(alpha, 1.0)
        ratios.append(res.I1 / golden_rule_current(DELTA, T1, T2, J1, J2, math.pi / 2, theta))
    extrapolated = 2 * ratios[0] - ratios[1]
    assert abs(extrapolated - 1) < 5e-3, ratios
