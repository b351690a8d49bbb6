"""Transient heat currents (nesb_hpc.dynamics): dy/dt = L y with PETSc TS.

Oracles, each independent of the integrator's own bookkeeping:
  - the steady-state solve (point.solve_point, direct LU): the long-time state must equal it;
  - energy conservation: d/dt (<H_S> + <V1 B1> + <V2 B2>) = I1 + I2 exactly for the truncated
    hierarchy (docs/dynamics.md s3), checked from L y at every output (rounding) and in integral
    form from the integrated trajectory (the integrator's tolerance);
  - pure dephasing (V1 = V2 = sz commute with H_S): I_nu(t) = 2 C^I_nu(t) and <V_nu B_nu>(t) =
    2 Int_0^t C^I_nu at every time and depth, from quadrature of J (docs/dynamics.md s4);
  - scipy's expm of tests/physics/test_liouvillian_dense.py's independent complex construction;
  - the separate and the merged mode forms, which must agree at every time (same truncation);
  - rank-count independence (1e-10) and restarts from checkpoints.
Small hierarchies throughout (depth 2-3: 66-286 ADOs merged, 190 separate): every check here is
a property of the equations at any depth, so depth convergence is not what they test.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc
from scipy.integrate import quad
from scipy.linalg import expm

from nesb_hpc import dynamics as dyn
from nesb_hpc.bath import RationalCutoff, exact_decomposition
from nesb_hpc.observables import interaction_energies
from nesb_hpc.pauli import bloch_vector
from nesb_hpc.point import HierarchySpec, solve_point
from nesb_hpc.steady_state import SolverSettings

COMM = MPI.COMM_WORLD
THETA = np.pi / 4
DELTA = 0.1


def paper_baths(alpha, temps=(1.0, 0.9), alpha2=None):
    a2 = alpha if alpha2 is None else alpha2
    return [exact_decomposition(RationalCutoff(alpha=a).rational(), T, "pade", 1) for a, T in zip((alpha, a2), temps)]


def vectors(theta=THETA):
    return np.array([bloch_vector(np.pi / 2), bloch_vector(theta)])


def operator(comm, alpha, depth, modes="merged", theta=THETA, delta=DELTA, baths=None, vecs=None, bounds=None):
    baths = paper_baths(alpha) if baths is None else baths
    vecs = vectors(theta) if vecs is None else vecs
    return dyn.build_operator(comm, baths, vecs, delta, HierarchySpec(depth, True, "aij", modes), bounds)


def run(op, times, state="down", settings=None, **kw):
    """Evolve from a product state (or a given vector), return the observables and the result."""
    y0 = dyn.product_state(op, state) if not isinstance(state, PETSc.Vec) else state
    try:
        res = dyn.evolve(op, y0, kw.pop("t0", 0.0), times, settings or dyn.DynamicsSettings(), **kw)
    finally:
        if not isinstance(state, PETSc.Vec):
            y0.destroy()
    return res


def table(res, key):
    return np.array([getattr(o, key) for o in res.observables])


# ---------------------------------------------------------------------------------------------
# 1. Long times: the steady state; every output: energy balance and the trace


@pytest.mark.mpi
@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_long_time_state_is_the_steady_state(alpha):
    """From rho_00 = down, baths thermal: at t = 1000 (the slowest rates at depth 3 are 0.027 at
    alpha = 0.1 and 0.079 at alpha = 1: relaxed to 1e-6 by t = 465 and 160, measured) the currents
    and rho_00 equal the direct steady-state solve of the same hierarchy to 1e-6 (measured ~1e-13).
    Merged modes, depth 3 (286 ADOs), theta = pi/4, Delta = 0.1, T1 = 1, T2 = 0.9."""
    spec = HierarchySpec(3, True, "aij", "merged")
    ss = solve_point(COMM, paper_baths(alpha), vectors(), DELTA, spec, SolverSettings(method="direct"))
    assert ss.status == "ok"
    op = operator(COMM, alpha, 3)
    try:
        res = run(op, dyn.output_times(1000.0, 100))
    finally:
        op.destroy()
    res.state.destroy()
    assert res.completed and res.reason == "CONVERGED_TIME" and res.time == pytest.approx(1000.0, abs=1e-9)
    last = res.observables[-1]
    scale = abs(ss.I1)
    assert np.max(np.abs(last.currents - ss.currents)) <= 1e-6 * scale, (last.currents, ss.currents)
    assert np.max(np.abs(last.bloch - ss.observables.bloch)) <= 1e-6, (last.bloch, ss.observables.bloch)
    # a genuine transient: the first output (t = 10) is far from the steady state
    assert np.max(np.abs(res.observables[0].currents - ss.currents)) > 1e-2 * scale
    # Tr rho_00 is conserved by every linear integrator (its row of L is zero): rounding only
    assert np.max(np.abs(table(res, "bloch")[:, 0] - 1.0)) <= 1e-12
    # the energy balance from L y holds at every output time (an identity of the truncated
    # hierarchy, so only rounding enters: measured <= 3e-13 of the largest rate or current)
    assert max(o.energy_balance for o in res.observables) <= 1e-10


@pytest.mark.parametrize("modes, depth", [("separate", 2), ("merged", 3)])
def test_energy_balance_integrated_along_the_trajectory(modes, depth):
    """E(t) - E(0) = Int_0^t (I1 + I2), E = <H_S> + <V1 B1> + <V2 B2>, from the integrated
    trajectory (not from L y): composite Simpson on 4000 intervals of [0, 40] at strong coupling
    (alpha = 1), where the interaction energies are large (~0.22). Measured 7.6e-10 of max|E_int|:
    Simpson's own error (1.2e-8 at h = 0.02, 2e-7 at h = 0.04, scaling as h^4), so the
    trajectory's error at rtol 1e-10 is below that. Bound 1e-8."""
    op = operator(MPI.COMM_SELF, 1.0, depth, modes)
    times = np.linspace(0.0, 40.0, 4001)[1:]
    try:
        res = run(op, times, settings=dyn.DynamicsSettings(rtol=1e-10, atol=1e-14), emit_initial=True)
    finally:
        op.destroy()
    res.state.destroy()
    t = table(res, "t")
    energy = table(res, "system_energy") + table(res, "interaction_energies").sum(axis=1)
    power = table(res, "currents").sum(axis=1)
    h = t[1] - t[0]
    simpson = np.concatenate([[0.0], np.cumsum(h / 3 * (power[0:-1:2] + 4 * power[1::2] + power[2::2]))])
    scale = np.max(np.abs(table(res, "interaction_energies")))
    assert scale > 0.1
    err = np.max(np.abs(energy[::2] - energy[0] - simpson))
    assert err <= 1e-8 * scale, err / scale
    # the exchange is real: the energy moved by far more than the tolerance
    assert np.max(np.abs(energy - energy[0])) > 1e-3


# ---------------------------------------------------------------------------------------------
# 2. Exact transients: pure dephasing


def _imag_correlation(alpha, t):
    """C^I(t) = -(1/pi) Int J(w) sin(wt) dw and Int_0^t C^I = -(1/pi) Int J(w) (1 - cos wt)/w dw for
    the paper's J = pi alpha w^3/(1+w^2)^4 (quadrature; no decomposition involved)."""
    f_sin = quad(lambda w: w**3 / (1 + w * w) ** 4, 0, np.inf, weight="sin", wvar=t)[0]
    f_one = quad(lambda w: w**2 / (1 + w * w) ** 4, 0, np.inf, epsabs=1e-14)[0]
    f_cos = quad(lambda w: w**2 / (1 + w * w) ** 4, 0, np.inf, weight="cos", wvar=t)[0]
    return -alpha * f_sin, -alpha * (f_one - f_cos)


@pytest.mark.parametrize("modes, depth", [("separate", 2), ("merged", 2), ("merged", 3)])
def test_pure_dephasing_currents_are_exact_at_every_time(modes, depth):
    """V1 = V2 = sz commute with H_S = Delta sz: each bath is displaced according to the spin's sz
    = +-1, and its energy grows by (1/pi) Int J(w) 2 (1 - cos wt)/w dw whatever the spin's state,
    so I_nu(t) = -d<H_Bnu>/dt = 2 C^I_nu(t) and <V_nu B_nu>(t) = 2 Int_0^t C^I_nu exactly
    (docs/dynamics.md s4; the hierarchy is exact for it at any depth >= 1). This pins each
    bath's current, its sign and the interaction-energy readout out of steady state, bath by
    bath, against quadrature. Bound 1e-7 of the largest value (rtol 1e-10; measured 3.3e-10 for
    I and 1.6e-9 for <V B>, equal in all three hierarchies: the quadrature's error)."""
    alphas = (0.5, 0.2)
    baths = paper_baths(alphas[0], (1.0, 0.5), alphas[1])
    sz = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    op = operator(MPI.COMM_SELF, None, depth, modes, baths=baths, vecs=sz)
    times = np.array([0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0])
    try:
        res = run(op, times, state=[0.6, 0.0, 0.8], settings=dyn.DynamicsSettings(rtol=1e-10, atol=1e-14))
    finally:
        op.destroy()
    res.state.destroy()
    exact = np.array([[_imag_correlation(a, t) for a in alphas] for t in times])   # (t, bath, 2)
    currents, energies = table(res, "currents"), table(res, "interaction_energies")
    scale_i, scale_e = np.max(np.abs(2 * exact[:, :, 0])), np.max(np.abs(2 * exact[:, :, 1]))
    assert np.max(np.abs(currents - 2 * exact[:, :, 0])) <= 1e-7 * scale_i
    assert np.max(np.abs(energies - 2 * exact[:, :, 1])) <= 1e-7 * scale_e
    # energy flows into both baths at first (C^I < 0 at small t)
    assert np.all(currents[0] < 0)


# ---------------------------------------------------------------------------------------------
# 3. Against expm of the independent dense complex construction


def _reference_observables(ref, rho, baths):
    """From the complex ADOs of ComplexHEOM: currents (physics.md s4), rho_00's Bloch vector and
    <V_nu B_nu> = Tr[V_nu (sum_R a rho_{e_j} + i sum_I a rho_{e_j})] (docs/dynamics.md s2)."""
    from physics.test_liouvillian_dense import PAULI

    currents = ref.currents(rho).real
    bloch = np.array([np.trace(PAULI[m] @ rho[0]).real for m in range(4)])
    energy = np.zeros(len(baths), dtype=complex)
    for j in range(ref.K):
        e = np.zeros(ref.K, dtype=np.int64)
        e[j] = 1
        nu = ref.bath[j]
        w = 1j * ref.a[j] if ref.is_imag[j] else ref.a[j]
        energy[nu] += w * np.trace(ref.V[nu] @ rho[ref.index[tuple(e)]])
    assert np.max(np.abs(energy.imag)) <= 1e-12
    return currents, bloch, energy.real


def test_transient_against_expm_of_the_dense_complex_hierarchy():
    """rho(t) = expm(L t) rho(0) of tests/physics/test_liouvillian_dense.py's ComplexHEOM (physics.md
    written as complex 2x2 ADOs, its own ordering; separate modes, depth 2: 190 ADOs, 760 complex
    unknowns) against TS on the package's real matrix, separate AND merged (66 ADOs; the same
    physics at equal depth), alpha = 0.5, asymmetric couplings. The observables of the reference
    are read with independent formulae. TS at rtol 1e-10; bound 1e-8 of each quantity's scale
    (measured <= 7e-11)."""
    from physics.test_liouvillian_dense import ComplexHEOM, vec, unvec

    baths = paper_baths(0.5, (1.0, 0.6), alpha2=0.3)
    vecs = np.array([bloch_vector(np.pi / 2), bloch_vector(np.pi / 3, 0.4)])
    ref = ComplexHEOM(baths, list(vecs), 0.2, 2)
    L = ref.liouvillian().toarray()
    rho0 = np.zeros((ref.N, 2, 2), dtype=complex)
    rho0[0] = np.array([[0.2, 0.3 - 0.1j], [0.3 + 0.1j, 0.8]])          # a mixed state, coherent
    x0 = np.concatenate([vec(r) for r in rho0])
    times = 0.5 * 2.0 ** np.arange(6)                                   # 0.5, 1, ..., 16
    want = []
    step = expm(L * times[0])                                           # expm(L t_k), squared on
    for k in range(times.size):
        x = step @ x0
        want.append(_reference_observables(ref, np.array([unvec(x[4 * i:4 * i + 4]) for i in range(ref.N)]), baths))
        step = step @ step
    bloch0 = [2 * 0.3, 2 * 0.1, 0.2 - 0.8]                            # (x1, x2, x3) of rho0[0]
    for modes in ("separate", "merged"):
        op = dyn.build_operator(MPI.COMM_SELF, baths, vecs, 0.2, HierarchySpec(2, True, "aij", modes))
        try:
            res = run(op, times, state=bloch0, settings=dyn.DynamicsSettings(rtol=1e-10, atol=1e-14))
        finally:
            op.destroy()
        res.state.destroy()
        for k, (currents, bloch, energy) in enumerate(want):
            o = res.observables[k]
            assert np.max(np.abs(o.currents - currents)) <= 1e-8 * np.max(np.abs(currents)), (modes, k)
            assert np.max(np.abs(o.bloch - bloch)) <= 1e-8, (modes, k)
            assert np.max(np.abs(o.interaction_energies - energy)) <= 1e-8 * np.max(np.abs(energy)), (modes, k)


# ---------------------------------------------------------------------------------------------
# 4. Rank counts, checkpoints, restarts


@pytest.mark.mpi
def test_rank_count_independence():
    """The same evolution on the whole communicator and on one rank: 1e-10 relative (measured
    4e-13 on 2 ranks: the reductions' order moves the adaptive steps by rounding; BDF(5) with its
    block-Jacobi stage solves, 1e-13)."""
    times = dyn.output_times(60.0, 30)
    out = {}
    for name, comm in (("world", COMM), ("self", MPI.COMM_SELF)):
        op = operator(comm, 1.0, 3)
        try:
            res = run(op, times, state="up")
        finally:
            op.destroy()
        res.state.destroy()
        out[name] = (table(res, "currents"), table(res, "bloch"), table(res, "interaction_energies"))
    for a, b in zip(out["world"], out["self"]):
        assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b))


@pytest.mark.mpi
def test_checkpoint_and_restart():
    """A callback stops the run at t = 10 (the driver's SIGTERM path); the returned state, time and
    step continue it to t = 30. Against the uninterrupted run: the step sequences differ after the
    stop, so they agree to the integrator's tolerance (bound 1e-7 relative, rtol 1e-10). The
    checkpoint written in ADO order (state_to_array) and read back on one rank continues exactly
    as on all ranks (1e-10)."""
    times = dyn.output_times(30.0, 30)
    settings = dyn.DynamicsSettings(rtol=1e-10, atol=1e-14)
    op = operator(COMM, 1.0, 3)
    try:
        full = run(op, times, settings=settings)
        full.state.destroy()
        first = run(op, times, settings=settings, callback=lambda o: o.t >= 10.0)
        assert not first.completed and first.reason == "CONVERGED_USER"
        assert first.observables[-1].t == 10.0 and first.time >= 10.0
        later = times[times > first.time]
        second = dyn.evolve(op, first.state, first.time, later, settings, dt0=first.time_step)
        second.state.destroy()
        saved = dyn.state_to_array(op, first.state)
        first.state.destroy()
    finally:
        op.destroy()
    assert second.completed
    a = np.array([o.currents for o in first.observables + second.observables])
    assert a.shape[0] == times.size
    b = table(full, "currents")
    assert np.max(np.abs(a - b)) <= 1e-7 * np.max(np.abs(b))
    # the checkpoint on one rank
    alone = operator(MPI.COMM_SELF, 1.0, 3)
    try:
        y = dyn.state_from_array(alone, COMM.bcast(saved, root=0))
        third = dyn.evolve(alone, y, first.time, later, settings, dt0=first.time_step)
        y.destroy()
        third.state.destroy()
    finally:
        alone.destroy()
    c = table(third, "currents")
    assert np.max(np.abs(c - table(second, "currents"))) <= 1e-10 * np.max(np.abs(c))


# ---------------------------------------------------------------------------------------------
# 5. Quenches


@pytest.mark.mpi
def test_steady_state_as_initial_vector_stays():
    """The steady state of the same parameters (steady_state_vector) does not move: currents
    constant to 1e-9 relative over t in [0, 20], rates d<H_S>/dt and d<V B>/dt ~ 0."""
    op = operator(COMM, 1.0, 3)
    try:
        y, report = dyn.steady_state_vector(op, SolverSettings(method="direct"))
        assert report.converged
        res = run(op, dyn.output_times(20.0, 10), state=y, emit_initial=True)
        y.destroy()
        res.state.destroy()
    finally:
        op.destroy()
    I = table(res, "currents")
    assert np.max(np.abs(I - I[0])) <= 1e-9 * np.max(np.abs(I))
    assert np.max(np.abs(table(res, "interaction_energy_rates"))) <= 1e-9 * np.max(np.abs(I))


def _quench(comm, modes, depth, ratio):
    """Steady state at alpha = 0.3, then alpha = 0.6 from t = 0 (coupling_ratio = sqrt(2))."""
    new = operator(comm, 0.6, depth, modes)
    old = operator(comm, 0.3, depth, modes, bounds=new.bounds)
    try:
        y_old, report = dyn.steady_state_vector(old, SolverSettings(method="direct"))
        assert report.converged
        before = dyn.observe(old, 0.0, y_old)
        y = dyn.quench_state(y_old, old, new, ratio)
        y_old.destroy()
        res = run(new, np.array([0.5, 1.0, 2.0, 5.0, 10.0]), state=y, emit_initial=True,
                  settings=dyn.DynamicsSettings(rtol=1e-10, atol=1e-14))
        y.destroy()
        res.state.destroy()
    finally:
        old.destroy()
        new.destroy()
    return res, before


@pytest.mark.mpi
def test_coupling_quench_is_the_same_in_both_mode_forms():
    """A coupling quench keeps the fields continuous: the separate form's ADOs scale by
    (g_old/g_new)^|n| and the merged form's by (g_new/g_old)^|n| (docs/dynamics.md s5). Both forms
    describe the same physics at equal depth, so after the quench their currents and interaction
    energies must agree at every time (bound 1e-7, rtol 1e-10); with the ratio left out (the
    scaled ADOs carried over unchanged) they disagree by far more, so the check is sharp."""
    ratio = [np.sqrt(2.0), np.sqrt(2.0)]
    (sep, sep_before), (mer, mer_before) = _quench(COMM, "separate", 2, ratio), _quench(COMM, "merged", 2, ratio)
    for key in ("currents", "interaction_energies", "bloch"):
        a, b = table(sep, key), table(mer, key)
        assert np.max(np.abs(a - b)) <= 1e-7 * np.max(np.abs(a)), key
    # at the quench rho_00 is continuous and <V B> = g <V B0> jumps by g_new/g_old, with B0's
    # field continuous (1e-12: the mapping is exact, only rounding)
    for res, before in ((sep, sep_before), (mer, mer_before)):
        at0 = res.observables[0]
        assert np.max(np.abs(at0.bloch - before.bloch)) <= 1e-12
        assert np.max(np.abs(at0.interaction_energies - np.sqrt(2.0) * before.interaction_energies)) <= \
            1e-12 * np.max(np.abs(before.interaction_energies))
    (wrong_sep, _), (wrong_mer, _) = _quench(COMM, "separate", 2, None), _quench(COMM, "merged", 2, None)
    a, b = table(wrong_sep, "currents"), table(wrong_mer, "currents")
    assert np.max(np.abs(a - b)) > 1e-2 * np.max(np.abs(a))


def test_quench_state_rejects_other_shapes():
    a = operator(MPI.COMM_SELF, 0.3, 2, "merged")
    b = operator(MPI.COMM_SELF, 0.3, 3, "merged")
    try:
        y = a.create_vector()
        with pytest.raises(ValueError):
            dyn.quench_state(y, a, b)
        with pytest.raises(ValueError):
            dyn.quench_state(y, a, a, [1.0])
        y.destroy()
    finally:
        a.destroy()
        b.destroy()


# ---------------------------------------------------------------------------------------------
# 6. Integrators and options


@pytest.mark.mpi
def test_implicit_integrator_and_options_precedence():
    """BDF(4) through the input's options (the shell operator shift I - L with the steady-state
    preconditioner on an assembled copy): the same transient as the default explicit RK 5(4) to
    1e-6 (both at rtol 1e-8, global errors ~1e-8), linear solves counted; the options are gone
    from the database afterwards; a command-line option wins over the input's."""
    times = np.array([1.0, 5.0, 20.0, 60.0])
    op = operator(COMM, 1.0, 3)
    opts = PETSc.Options()
    try:
        rk = run(op, times)
        bdf = run(op, times, settings=dyn.DynamicsSettings(
            petsc_options=(("ts_type", "bdf"), ("ts_bdf_order", "4")), pc_shift_ratio=2.0))
        opts.setValue("-nesb_ts_rk_type", "5bs")          # "command line"
        try:
            bs = run(op, times, settings=dyn.DynamicsSettings(petsc_options=(("ts_rk_type", "3bs"),)))
        finally:
            opts.delValue("-nesb_ts_rk_type")
    finally:
        op.destroy()
    for r in (rk, bdf, bs):
        r.state.destroy()
    assert rk.ts_type == "rk/5dp" and rk.output_mode == "interpolate" and rk.linear_iterations == 0
    assert bdf.ts_type == "bdf" and bdf.linear_iterations > 0 and 0 < bdf.pc_setups < bdf.jacobian_updates
    assert bs.ts_type == "rk/5bs" and bs.output_mode == "step" and bs.options["ts_rk_type"] == "5bs"
    assert not opts.hasName("-nesb_ts_type") and not opts.hasName("-nesb_ts_bdf_order")
    ref = table(rk, "currents")
    for other in (bdf, bs):
        assert np.max(np.abs(table(other, "currents") - ref)) <= 1e-6 * np.max(np.abs(ref)), other.ts_type


def test_output_times_and_initial_states():
    assert np.allclose(dyn.output_times(10.0, 4), [2.5, 5.0, 7.5, 10.0])
    t = dyn.output_times(100.0, 3, "log", t_start=1.0, t_first=2.0)
    assert np.allclose(t, [2.0, 1 + np.sqrt(99.0), 100.0])
    assert dyn.output_times(100.0, 5, "log")[0] == pytest.approx(0.1)
    for bad in (dict(t_end=0.0, n_out=3), dict(t_end=1.0, n_out=0), dict(t_end=1.0, n_out=2, spacing="cubic")):
        with pytest.raises(ValueError):
            dyn.output_times(**bad)
    assert np.array_equal(dyn.bloch_of_state("down"), [0, 0, -1])
    assert np.array_equal(dyn.bloch_of_state("mixed"), [0, 0, 0])
    for bad in ("left", [1.0, 1.0, 0.0], [0.1, 0.2]):
        with pytest.raises(ValueError):
            dyn.bloch_of_state(bad)
    with pytest.raises(ValueError):
        op = operator(MPI.COMM_SELF, 0.1, 2)
        try:
            dyn.evolve(op, op.L.createVecRight(), 1.0, [0.5], dyn.DynamicsSettings())
        finally:
            op.destroy()


@pytest.mark.mpi
def test_product_state_on_any_rank_count():
    """y_0 = (1, r), everything else zero, wherever ADO 0 lives (the last part: rank 0's last block)."""
    op = operator(COMM, 0.5, 2)
    try:
        y = dyn.product_state(op, [0.1, -0.2, 0.3])
        full = dyn.state_to_array(op, y)
        y.destroy()
    finally:
        op.destroy()
    if COMM.rank == 0:
        assert np.array_equal(full[:4], [1.0, 0.1, -0.2, 0.3]) and not np.any(full[4:])


def test_interaction_energy_readout_weights():
    """<V B> reads tier 1 with the up coefficients: a unit tier-1 ADO of mode j gives up_j n.x c_j."""
    from nesb_hpc.hierarchy import TierOrderedHierarchy
    from nesb_hpc.liouvillian import HierarchyModes

    for form in ("separate", "merged"):
        modes = HierarchyModes.from_baths(paper_baths(0.7), form=form)
        hier = TierOrderedHierarchy(modes.size, 2)
        vecs = vectors()
        for j in range(modes.size):
            y = np.zeros((hier.size, 4))
            y[hier.rank(np.eye(modes.size, dtype=np.int64)[j:j + 1])[0], 1:] = vecs[modes.bath[j]]
            e = interaction_energies(y, hier, modes, vecs)
            assert e[modes.bath[j]] == pytest.approx(modes.up[j] * modes.scale[j])
            assert e[1 - modes.bath[j]] == 0.0


# ---------------------------------------------------------------------------------------------
# 7. QuTiP's HEOMSolver.run on identical exponents and hierarchy (bench/dynamics_qutip.py)


def test_transient_agrees_with_qutip():
    """Drude-Lorentz baths (C^I(0) != 0: the current's boundary term is exercised), Pade n_bose = 2,
    merged modes against QuTiP's combine=True (84 ADOs each at depth 3), 20 outputs in (0, 20]:
    I1, I2, <V1 B1>, <V2 B2> and rho_00 to 1e-6 of their scales (measured ~1e-12 at depths 2-6,
    alpha = 0.5 and 2: bench/README.md). Skipped without QuTiP (never a requirement)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import dynamics_qutip

    python = dynamics_qutip.qutip_python()
    if python is None:
        pytest.skip("QuTiP is not installed (pip install qutip, or bench/.venv-qutip)")
    r = dynamics_qutip.compare(MPI.COMM_SELF, alpha=0.5, depth=3, n_bose=2, t_end=20.0, n_out=20, python=python)
    assert r["n_ados_nesb"] == r["n_ados_qutip"] == 84
    for key in ("I_rel_diff", "E_int_rel_diff", "bloch_rel_diff"):
        assert r[key] <= 1e-6, (key, r[key])
    assert r["ok"]


@pytest.mark.mpi
def test_a_failing_callback_raises_on_every_rank():
    """A callback that raises on one rank only must not leave the others waiting in a collective."""
    op = operator(COMM, 0.5, 2)

    def callback(obs):
        if obs.t > 2.0 and COMM.rank == COMM.size - 1:
            raise KeyError("disk full")

    try:
        with pytest.raises((KeyError, RuntimeError)):
            run(op, dyn.output_times(5.0, 5), callback=callback)
    finally:
        op.destroy()


@pytest.mark.mpi
def test_checkpoints_on_request_leave_the_run_unchanged():
    """A callback returning CHECKPOINT has on_checkpoint(t, y, dt, counts) called on every rank at the end
    of that step (every output up to t reported) and the run goes on: the outputs are identical
    to a run without checkpoints (bit for bit: nothing in the integration changes), and a restart
    from a stored checkpoint continues to the same table to the integrator's tolerance (rtol 1e-10,
    bound 1e-7 as test_checkpoint_and_restart)."""
    times = dyn.output_times(20.0, 20)
    settings = dyn.DynamicsSettings(rtol=1e-10, atol=1e-14)
    saved = []
    op = operator(COMM, 1.0, 3)
    try:
        plain = run(op, times, settings=settings)
        plain.state.destroy()

        def on_checkpoint(t, y, dt, counts):
            assert counts["steps"] > 0 and counts["rhs_evaluations"] > counts["steps"]
            saved.append((t, dt, len(outputs), dyn.state_to_array(op, y)))

        outputs = []

        def callback(obs):
            outputs.append(obs.t)
            return dyn.CHECKPOINT if len(outputs) % 7 == 0 else None

        stored = run(op, times, settings=settings, callback=callback, on_checkpoint=on_checkpoint)
        stored.state.destroy()
        t_c, dt_c, n_c, array = saved[0]
        y = dyn.state_from_array(op, array)
        later = dyn.evolve(op, y, t_c, times[n_c:], settings, dt0=dt_c)
        y.destroy()
        later.state.destroy()
    finally:
        op.destroy()
    assert [n for _, _, n, _ in saved] == [7, 14] and all(t >= times[n - 1] for t, _, n, _ in saved)
    assert all(t < times[n] for t, _, n, _ in saved)
    a, b = table(plain, "currents"), table(stored, "currents")
    assert np.array_equal(a, b)
    c = np.concatenate([a[:7], table(later, "currents")])
    assert np.max(np.abs(c - a)) <= 1e-7 * np.max(np.abs(a))


@pytest.mark.mpi
def test_a_failing_checkpoint_raises_the_same_message_on_every_rank():
    op = operator(COMM, 0.5, 2)

    def on_checkpoint(t, y, dt, counts):
        if COMM.rank == COMM.size - 1:
            raise OSError("disk full")

    try:
        with pytest.raises(dyn.CallbackFailed, match="OSError: disk full"):
            run(op, dyn.output_times(5.0, 5), callback=lambda o: dyn.CHECKPOINT, on_checkpoint=on_checkpoint)
    finally:
        op.destroy()


def test_probe_names_options_petsc_never_reads():
    """The input's TS options set up on a tiny system as evolve() does: a typo, and a KSP option
    with an explicit type (no stage solve ever sets block Jacobi up), are never read; BDF's order and an implicit type's
    sub-preconditioner options are; a value PETSc refuses raises with its message."""
    from nesb_hpc.solver_options import OptionsRejected

    probe = dyn.probe_options
    assert probe(dyn.DynamicsSettings(petsc_options=(("ts_rk_type", "3bs"), ("ts_rtl", "1e-6")))) == ["ts_rtl"]
    assert probe(dyn.DynamicsSettings(petsc_options=(("sub_pc_factor_levels", "2"),))) == ["sub_pc_factor_levels"]
    implicit = (("ts_type", "bdf"), ("ts_bdf_order", "4"), ("sub_pc_factor_levels", "2"), ("ksp_rtol", "1e-10"))
    assert probe(dyn.DynamicsSettings(petsc_options=implicit)) == []
    with pytest.raises(OptionsRejected, match="nonexistent"):
        probe(dyn.DynamicsSettings(petsc_options=(("ts_type", "nonexistent"),)))
