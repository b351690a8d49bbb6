"""The merged hierarchy (one index per basis function shared by C^R and C^I) against the separate one.

Oracle: the merged fields Y_j are fixed linear combinations of the separate fields Xi^R_k, Xi^I_k
(liouvillian.HierarchyModes), so the merged hierarchy truncated at depth L is the separate one
truncated at L restricted to polynomials in the Y's: the two give the SAME steady-state currents
at every depth, not only as L grows. With LU solves (true residuals ~1e-14) they must agree to
1e-9 relative (the currents are differences of O(1) populations weighted by couplings ~1e-2, so
rounding of ~1e-14 relative in the ADOs is amplified at most ~1e3 times; measured: <= 1e-11).
The separate form is itself checked entry by entry against a dense complex construction
(test_liouvillian_dense.py).
"""

import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from nesb_hpc.assembly import assemble_matrix
from nesb_hpc.bath.bose import pade
from nesb_hpc.partition import ownership
from nesb_hpc.bath import (RationalCutoff, Underdamped, drude_lorentz, exact_decomposition, from_exponents,
                           shared_basis)
from nesb_hpc.hierarchy import TierOrderedHierarchy
from nesb_hpc.liouvillian import HierarchyModes, build_block_rows
from nesb_hpc.pauli import PauliBlocks, bloch_vector
from nesb_hpc.point import HierarchySpec, solve_point
from nesb_hpc.partition import count_nonzeros
from nesb_hpc.routes import SolverSettings

from heom_helpers import CONSERVATION_TOL

COMM = MPI.COMM_WORLD
AGREE = 1e-9


def paper_baths(alpha=0.1, n_bose=1, kind="pade", temps=(1.0, 0.9)):
    return [exact_decomposition(RationalCutoff(alpha=alpha).rational(), T, kind, n_bose) for T in temps]


BATHS = {
    "paper_pade": paper_baths(),
    "paper_strong": paper_baths(alpha=2.0, n_bose=2),
    "paper_matsubara": paper_baths(n_bose=3, kind="matsubara"),
    "underdamped": [exact_decomposition(Underdamped(alpha=0.2, omega0=1.0, gamma=0.4).rational(), T, "pade", 1)
                    for T in (1.0, 0.5)],
    "drude_lorentz": [exact_decomposition(drude_lorentz(0.05, 1.0).rational(), T, "pade", 2) for T in (1.0, 0.6)],
    # QuTiP vocabulary, a rate shared by C^R and C^I and one only in C^R
    "exponents": [from_exponents([0.3, 0.1], [1.0, 2.5], [-0.2], [1.0]),
                  from_exponents([0.2, 0.05], [0.8, 3.0], [-0.1], [0.8])],
    # Newton chains of nearly coincident poles (decomposition.py): a Bose pole 5% from the cutoff
    # pole and one exactly on it (a Jordan chain of 5); the underdamped J near critical damping with
    # a Bose pole at its rate (a self-conjugate chain with a complex pair); nearly equal cancelling
    # exponents, one of them shared with C^I (the chain's first function)
    "paper_near_poles": paper_baths(n_bose=3, temps=(1.05 / pade(3).xi[0], 1.0 / pade(3).xi[1])),
    "underdamped_critical": [exact_decomposition(Underdamped(alpha=0.2, omega0=1.0, gamma=1.99).rational(), T, "pade", 3)
                             for T in (1.0, 0.995 / pade(3).xi[0])],
    "exponents_near_rates": [from_exponents([40.0, -40.0, 0.1], [1.0, 1.02, 3.0], [-0.3], [1.0]),
                             from_exponents([30.0, -30.0], [0.8, 0.81], [-0.2], [0.8])],
}


@pytest.mark.parametrize("name", list(BATHS))
def test_shared_basis_represents_both_families(name):
    """a_R . phi(t) = C^R(t) and a_I . phi(t) = C^I(t) on the union basis, which is closed under d/dt."""
    from scipy.linalg import expm

    t = np.linspace(0.0, 15.0, 31)
    for dec in BATHS[name]:
        sb = shared_basis(dec)
        assert max(dec.real.size, dec.imag.size) <= sb.size <= dec.n_modes
        phi = np.stack([expm(sb.eta * ti) @ sb.phi0 for ti in t], axis=1)
        for a, fam in ((sb.a_real, dec.real), (sb.a_imag, dec.imag)):
            ref = fam.evaluate(t)
            assert np.max(np.abs(a @ phi - ref)) <= 1e-12 * np.max(np.abs(dec.correlation(t)))


def test_paper_bath_shares_its_cutoff_chain():
    """The paper's J: C^R and C^I share the t^k e^{-t} chain (k = 0..3), so 4 + n_bose per bath."""
    for n_bose in (1, 2, 4):
        for dec in paper_baths(n_bose=n_bose):
            assert dec.n_modes == 8 + n_bose
            assert shared_basis(dec).size == 4 + n_bose
    modes = HierarchyModes.from_baths(paper_baths(), form="merged")
    assert modes.size == 10 and TierOrderedHierarchy(modes.size, 7).size == 19448  # separate: 480,700


def _currents(baths, vecs, delta, depth, form, comm=COMM):
    res = solve_point(comm, baths, vecs, delta, HierarchySpec(depth, True, "aij", form),
                      SolverSettings(method="direct"))
    assert res.status == "ok" and res.report.residual < 1e-12, res.report.message
    assert abs(res.I1 + res.I2) <= CONSERVATION_TOL * max(abs(res.I1), abs(res.I2))
    return res


@pytest.mark.mpi
@pytest.mark.parametrize("name", list(BATHS))
@pytest.mark.parametrize("theta", [0.0, np.pi / 4])
def test_merged_equals_separate_at_every_depth(name, theta):
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(theta, 0.3)])
    for depth in (2, 3):
        sep = _currents(BATHS[name], vecs, 0.1, depth, "separate")
        mer = _currents(BATHS[name], vecs, 0.1, depth, "merged")
        assert mer.n_ados < sep.n_ados
        assert abs(mer.I1 - sep.I1) <= AGREE * abs(sep.I1), (depth, mer.I1, sep.I1)
        assert np.allclose(mer.observables.bloch, sep.observables.bloch, rtol=0, atol=1e-11)


@pytest.mark.mpi
def test_merged_strong_coupling_iterative_and_rank_independent():
    """alpha = 2, depth 5: the iterative route on COMM_WORLD equals LU on one rank and the separate form."""
    baths, vecs = paper_baths(alpha=2.0), np.array([bloch_vector(np.pi / 2), bloch_vector(np.pi / 4)])
    spec = HierarchySpec(5, True, "aij", "merged")
    it = solve_point(COMM, baths, vecs, 0.1, spec, SolverSettings(method="iterative", rtol=1e-12))
    lu = solve_point(MPI.COMM_SELF, baths, vecs, 0.1, spec, SolverSettings(method="direct"))
    sep = solve_point(COMM, baths, vecs, 0.1, HierarchySpec(5), SolverSettings(method="iterative", rtol=1e-12))
    assert it.status == lu.status == sep.status == "ok"
    assert it.n_ados == 3003 and sep.n_ados == 33649
    # iterative solves reach true residuals ~1e-12; at alpha = 2 the current is O(1e-2) of the
    # populations, so 1e-8 relative leaves a margin of ~100 over what the residual allows
    for other in (lu, sep):
        assert abs(it.I1 - other.I1) <= 1e-8 * abs(other.I1), (it.I1, other.I1)


@pytest.mark.mpi
def test_merged_assembly_is_exactly_preallocated_and_sized():
    baths = BATHS["underdamped"]
    modes = HierarchyModes.from_baths(baths, form="merged")
    hier = TierOrderedHierarchy(modes.size, 3)
    pauli = PauliBlocks.build(0.1, np.array([bloch_vector(np.pi / 2), bloch_vector(0.4, 0.3)]))
    bounds = ownership(hier, modes, pauli, COMM.size)
    rows = build_block_rows(hier, modes, pauli, bounds[COMM.rank], bounds[COMM.rank + 1])
    A, info = assemble_matrix(PETSc.Comm(COMM), rows, hier.size, "aij")
    total = COMM.allreduce(info.nonzeros_local)
    A.destroy()
    assert info.mallocs == 0
    blocks, aij, _ = count_nonzeros(hier, modes, pauli)
    assert total == aij and COMM.allreduce(rows.n_blocks) == blocks


def test_unknown_form_is_refused():
    with pytest.raises(ValueError, match="merged"):
        HierarchyModes.from_baths(paper_baths(), form="tanimura")
