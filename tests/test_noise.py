"""Zero-frequency noise of the bath energy (nesb_hpc.counting, nesb_hpc.noise; docs/noise.md).

Oracles, each independent of the others:
  1. The first cumulant is the current: lambda'(0) by finite differences of the eigenvalue of the
     package's L(s) (N points on a circle in the complex s plane: the trapezoidal Cauchy formula,
     spectrally accurate), and by the perturbative formula, both against observables.heat_currents.
     The same finite differences check the perturbative second cumulant (the extra solve).
  2. A literal transcription of the influence functional with a counting field (below,
     ``LiteralCountingHEOM``): complex 2x2 ADOs, one field per basis function AND per branch of its
     inner vertex, the time-shifted C(t + chi), C(-t + chi) written into the outer couplings. It
     shares nothing with nesb_hpc.counting (no symmetric split, no real Pauli form, no rescaling,
     no numbering); its eigenvalue's derivatives must equal the package's perturbative cumulants.
  3. Physics: fluctuation-dissipation S = 2 T^2 dI/dT1 at T1 = T2 = T (exact for the true model),
     the two-state sequential-transfer noise at weak coupling (analytic.golden_rule_noise), and
     the contact terms of kinked or jumping correlation functions against the same weak-coupling
     formula with the decomposition's own spectrum.
  4. Solver: 1 and 2 ranks agree; S1 + S2 + 2 S12 = 0 (energy conservation at second order,
     measured to rounding at every depth); merged and separate modes agree at every depth.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from mpi4py import MPI
from scipy.linalg import block_diag, expm

from nesb_hpc import counting
from nesb_hpc.analytic import golden_rule_current, golden_rule_noise, sequential_transfer_counting
from nesb_hpc.bath import BasisFamily, BathDecomposition, RationalCutoff, exact_decomposition, shared_basis
from nesb_hpc.hierarchy import TierOrderedHierarchy
from nesb_hpc.liouvillian import HierarchyModes, build_block_rows, impose_steady_state_conditions
from nesb_hpc.observables import heat_currents
from nesb_hpc.pauli import PauliBlocks, bloch_vector
from nesb_hpc.point import HierarchySpec, solve_point
from nesb_hpc.routes import SolverSettings

COMM = MPI.COMM_WORLD


def paper_baths(alpha, T1=1.0, T2=0.9, n_bose=1, alpha2=None):
    a2 = alpha if alpha2 is None else alpha2
    return [exact_decomposition(RationalCutoff(alpha=a).rational(), T, "pade", n_bose) for a, T in ((alpha, T1), (a2, T2))]


def couplings(theta):
    return np.array([bloch_vector(np.pi / 2), bloch_vector(theta)])


# ---------------------------------------------------------------------------------------------
# Dense (serial) tools: the package's L(s) as a sparse matrix, its steady state, the perturbative
# cumulants with scipy's LU, and the eigenvalue lambda(s) of a sparse matrix nearest 0.


def to_sparse(rows, n_ados):
    r = np.repeat(np.arange(rows.hi - rows.lo), np.diff(rows.indptr))
    R = 4 * (rows.lo + r)[:, None, None] + np.arange(4)[None, :, None] + np.zeros((1, 1, 4), dtype=np.int64)
    C = 4 * rows.cols[:, None, None] + np.zeros((1, 4, 1), dtype=np.int64) + np.arange(4)[None, None, :]
    return sp.csr_matrix((rows.values.reshape(-1), (R.reshape(-1), C.reshape(-1))), shape=(4 * n_ados,) * 2)


class DensePoint:
    """One point of the package's hierarchy, solved serially with scipy (no PETSc)."""

    def __init__(self, baths, vectors, delta, depth, form="merged"):
        self.modes = HierarchyModes.from_baths(baths, form=form)
        self.hier = TierOrderedHierarchy(self.modes.size, depth)
        self.pauli = PauliBlocks.build(delta, vectors)
        n = self.n = self.hier.size
        self.L0 = to_sparse(build_block_rows(self.hier, self.modes, self.pauli, 0, n), n)
        A = to_sparse(impose_steady_state_conditions(build_block_rows(self.hier, self.modes, self.pauli, 0, n),
                                                     self.pauli), n)
        self.lu = spla.splu(A.tocsc(), permc_spec="MMD_AT_PLUS_A")
        b = np.zeros(4 * n)
        b[0] = 1.0
        self.y = self.lu.solve(b)
        self.currents = heat_currents(self.y, self.hier, self.modes, self.pauli.coupling_vectors)

    def cumulants(self, bath=0):
        """(lambda', lambda'') by the perturbative formula of noise.py, with scipy's LU."""
        h, m, p, y = self.hier, self.modes, self.pauli, self.y
        D1 = to_sparse(counting.derivative_rows(h, m, p, bath, 1, 0, self.n), self.n)
        D2 = to_sparse(counting.derivative_rows(h, m, p, bath, 2, 0, self.n), self.n)
        w = D1 @ y
        rhs = -(w - w[0] * y)
        rhs[0] = 0.0
        r = self.lu.solve(rhs)
        n01 = 4 * counting.first_tiers(h)
        second = (D2 @ y)[0] + 2.0 * (D1 @ r)[0] + counting.contact_moment_weights(h, m, p, bath) @ y[:n01]
        return w[0], second

    def increment(self, s, bath=0):
        """L(s) - L(0) (sparse, complex s allowed), with the generator contact terms."""
        coef = counting.increment_coefficients(self.modes, self.pauli, bath, s)
        return to_sparse(counting.coupling_rows(self.hier, self.modes, self.pauli, coef, 0, self.n), self.n)

    def eigenvalue(self, s, bath=0):
        one = np.zeros(4 * self.n)
        one[0] = 1.0
        return eigenvalue_near_zero(self.L0, self.increment(s, bath), one)


def eigenvalue_near_zero(L0, dL, one, max_iter=20):
    """The eigenvalue lambda of L0 + dL that tends to 0 with dL, where <one| L0 = 0.

    Newton on g(lambda) = <one| dL |rho(lambda)> - lambda, where rho(lambda) solves
    (L0 + dL - lambda) rho = 0 in every row but the first and <one|rho> = 1 (one sparse LU per step,
    which also gives rho' = d rho/d lambda); g = 0 makes rho the eigenvector. lambda = <one|dL|rho>
    keeps its relative accuracy however small it is (<one| L0 = 0 removes L0's large entries).
    """
    N = L0.shape[0]
    keep = sp.diags(np.r_[0.0, np.ones(N - 1)])
    border = sp.csr_matrix((one[one != 0], (np.zeros(np.count_nonzero(one), dtype=int), np.nonzero(one)[0])),
                           shape=(N, N))
    b = np.zeros(N, dtype=complex)
    b[0] = 1.0
    lam, converged = 0.0, False
    for _ in range(max_iter):
        lu = spla.splu((keep @ (L0 + dL - lam * sp.identity(N)) + border).tocsc().astype(complex),
                       permc_spec="MMD_AT_PLUS_A")
        rho = lu.solve(b)
        rhs = rho.copy()
        rhs[0] = 0.0
        drho = lu.solve(rhs)
        g = one @ (dL @ rho) - lam
        step = g / (one @ (dL @ drho) - 1.0)
        lam = lam - step
        if converged:                          # one more step after convergence: rounding only
            return lam
        converged = abs(step) <= 1e-12 * abs(lam)   # quadratic: the next step is ~1e-16 or rounding
    raise AssertionError("the eigenvalue iteration did not converge")


def circle_derivatives(f, radius, n_points=8, real_analytic=True):
    """(f'(0), f''(0)) from f on n_points of the circle |s| = radius: trapezoidal Cauchy formula,
    error ~ (radius / R)^n_points for f analytic in |s| < R. real_analytic: f(conj s) = conj f(s),
    so only the upper half circle is evaluated."""
    k = np.arange(n_points)
    pts = radius * np.exp(2j * np.pi * k / n_points)
    vals = np.empty(n_points, dtype=complex)
    for i in range(n_points):
        if real_analytic and i > n_points // 2:
            vals[i] = np.conj(vals[n_points - i])
        else:
            vals[i] = f(pts[i])
    d1 = np.mean(vals * np.exp(-2j * np.pi * k / n_points)) / radius
    d2 = 2.0 * np.mean(vals * np.exp(-4j * np.pi * k / n_points)) / radius**2
    return d1, d2


# ---------------------------------------------------------------------------------------------
# 1. lambda'(0) is the current, lambda''(0) the perturbative noise (package's own L(s)).


@pytest.mark.parametrize("theta", [0.0, np.pi / 4, np.pi / 2])
@pytest.mark.parametrize("alpha", [0.01, 1.0])
def test_first_cumulant_is_the_current(theta, alpha):
    """At depth 3 (merged, 286 ADOs), T1 = 1, T2 = 0.9, Delta = 0.1: the finite-difference and the
    perturbative lambda'(0) equal heat_currents' I1 to 1e-8 relative (measured <= 2e-12; the
    circle of radius 0.05 with 8 points leaves a truncation ~(0.05/R)^8 and rounding ~1e-16/0.05
    of the eigenvalue's scale), and the finite-difference lambda''(0) equals the perturbative S
    to 1e-8 (measured <= 1e-11): the extra solve, its right-hand side and sign are right."""
    p = DensePoint(paper_baths(alpha), couplings(theta), 0.1, 3)
    I1 = p.currents[0]
    first, second = p.cumulants()
    d1, d2 = circle_derivatives(p.eigenvalue, 0.05)
    assert abs(first - I1) <= 1e-8 * abs(I1), (first, I1)
    assert abs(d1 - I1) <= 1e-8 * abs(I1), (d1, I1)
    assert abs(d2 - second) <= 1e-8 * abs(second), (d2, second)
    assert abs(d1.imag) <= 1e-8 * abs(I1) and abs(d2.imag) <= 1e-8 * abs(second)
    # the noise of bath 1 and of bath 2: S > 0, and S1 + S2 + 2 S12 = 0 is checked collectively below
    assert second > 0


def test_derivative_coefficients_are_derivatives_of_the_rotation():
    """counting.derivative_coefficients = d/ds, d^2/ds^2 of increment_coefficients at 0 (central
    differences at h = 1e-4: error ~h^2 |hop|^4 ~ 1e-6 relative for rates up to ~7), merged and
    separate, both baths; and increments vanish at s = 0."""
    for form in ("merged", "separate"):
        modes = HierarchyModes.from_baths(paper_baths(0.3), form=form)
        pauli = PauliBlocks.build(0.1, couplings(np.pi / 3))
        for bath in (0, 1):
            h = 1e-4
            inc = {k: counting.increment_coefficients(modes, pauli, bath, k * h, contact=False) for k in (-1, 0, 1)}
            first = counting.derivative_coefficients(modes, pauli, bath, 1)
            second = counting.derivative_coefficients(modes, pauli, bath, 2)
            for name in ("down_P", "down_Q", "up_P", "up_Q"):
                plus, zero, minus = (getattr(inc[k], name) for k in (1, 0, -1))
                d1, d2 = getattr(first, name), getattr(second, name)
                scale = max(np.max(np.abs(d1)), np.max(np.abs(d2)))
                assert np.max(np.abs(zero)) == 0.0 and scale > 0
                assert np.max(np.abs((plus - minus) / (2 * h) - d1)) <= 1e-6 * scale, (form, bath, name)
                assert np.max(np.abs((plus + minus) / h**2 - d2)) <= 1e-4 * scale, (form, bath, name)
                assert np.max(np.abs(np.imag(plus))) == 0.0      # real s: real coefficients
                other = modes.bath != bath
                assert np.all(plus[other] == 0) and np.all(d1[other] == 0)


def test_rows_split_over_ranges_equal_the_whole():
    """coupling_rows of [0, k) and [k, n) are the rows of [0, n) (what each rank builds)."""
    p = DensePoint(paper_baths(0.1), couplings(np.pi / 4), 0.1, 3)
    whole = to_sparse(counting.derivative_rows(p.hier, p.modes, p.pauli, 0, 1, 0, p.n), p.n)
    k = p.n // 3
    parts = sum(to_sparse(counting.derivative_rows(p.hier, p.modes, p.pauli, 0, 1, lo, hi), p.n)
                for lo, hi in ((0, k), (k, p.n)))
    assert abs(whole - parts).max() == 0.0 and whole.nnz > 0


# ---------------------------------------------------------------------------------------------
# 2. A literal transcription of the counting influence functional (independent of counting.py).


class LiteralCountingHEOM:
    """docs/noise.md section 1, literally. Bath correlation C(t) = sum_groups c_g . phi_g(t) (t > 0),
    with phi_g(t) = e^{eta_g t} phi0_g and complex c_g: the merged form has one group per bath (the
    shared basis, c = a^R + i a^I), the separate form two (c = a^R on C^R's basis, c = i a^I on
    C^I's). Fields Y^X_j = -i Int phi_j(t-s) X(s) ds for X = V^L and X = V^R separately. With the
    counting field chi on bath ``counted``, the outer couplings carry the shifted functions:

        d rho/dt = ... - i V^L [c . Y^L - (e^{-eta^T chi} c*) . Y^R] + i V^R [(e^{eta^T chi} c) . Y^L - c* . Y^R],

    from C(-t + chi) = c* . phi(t - chi) (later vertex forward) and C(t + chi) (later vertex
    backward). Total-depth truncation over all fields. Complex vec(rho) column-stacked.
    """

    def __init__(self, baths, vectors, delta, depth, form, counted=0):
        I2 = np.eye(2, dtype=complex)
        sig = [np.array([[0, 1], [1, 0]], complex), np.array([[0, -1j], [1j, 0]]), np.diag([1.0 + 0j, -1.0])]
        self.left = lambda A: np.kron(I2, A)
        self.right = lambda A: np.kron(A.T, I2)
        H = delta * sig[2]
        V = [sum(n[k] * sig[k] for k in range(3)) for n in vectors]
        groups = []
        for b, dec in enumerate(baths):
            if form == "merged":
                sb = shared_basis(dec)
                groups.append((b, sb.eta, sb.phi0, sb.a_real + 1j * sb.a_imag))
            else:
                groups.append((b, dec.real.eta, dec.real.phi0, dec.real.a + 0j))
                groups.append((b, dec.imag.eta, dec.imag.phi0, 1j * dec.imag.a))
        self.groups, self.V, self.counted = groups, V, counted
        fields = [(g, br, j) for g, grp in enumerate(groups) for br in "LR" for j in range(grp[2].size)]
        where = {f: i for i, f in enumerate(fields)}
        K = len(fields)
        ados = [tuple(np.bincount(c, minlength=K)) for t in range(depth + 1)
                for c in itertools.combinations_with_replacement(range(K), t)]
        index = {n: i for i, n in enumerate(ados)}
        N = self.N = len(ados)
        fixed, raise_ = {}, {f: ([], []) for f in range(K)}

        def add(i, nb, block):
            k = index.get(tuple(nb))
            if k is not None:
                fixed[(i, k)] = fixed.get((i, k), 0) + block

        LS = -1j * (self.left(H) - self.right(H))
        for i, n in enumerate(ados):
            n = np.array(n)
            add(i, n, LS)
            for f, (g, br, j) in enumerate(fields):
                b, eta, phi0, c = groups[g]
                X = self.left(V[b]) if br == "L" else self.right(V[b])
                if n[f] > 0:
                    for k in np.nonzero(eta[j])[0]:                   # d/dt Y_j = sum_k eta_jk Y_k ...
                        nb = n.copy()
                        nb[f] -= 1
                        nb[where[(g, br, k)]] += 1
                        add(i, nb, n[f] * eta[j, k] * np.eye(4))
                    if phi0[j] != 0:                                  # ... - i phi_j(0) X
                        nb = n.copy()
                        nb[f] -= 1
                        add(i, nb, -1j * n[f] * phi0[j] * X)
                nb = n.copy()
                nb[f] += 1
                k = index.get(tuple(nb))
                if k is not None:
                    if b == counted:
                        raise_[f][0].append(i)
                        raise_[f][1].append(k)
                    else:
                        add(i, nb, self.outer(f, fields, 0.0))
        self.fields = fields
        self.raise_ = {f: sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(N, N)) for f, (r, c) in raise_.items() if r}
        rows, cols, vals = [], [], []
        for (i, k), blk in fixed.items():
            r, cc = np.nonzero(np.ones((4, 4)))
            rows.append(4 * i + r)
            cols.append(4 * k + cc)
            vals.append(np.asarray(blk, dtype=complex)[r, cc])
        self.fixed = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(4 * N, 4 * N))
        self.L0 = self.matrix(0.0)
        self.one = np.zeros(4 * N)
        self.one[0] = self.one[3] = 1.0                 # Tr rho_0 = vec(rho_0)[0] + vec(rho_0)[3]

    def outer(self, f, fields, chi):
        g, br, j = fields[f]
        b, eta, phi0, c = self.groups[g]
        Vb = self.V[b]
        if br == "L":
            return -1j * c[j] * self.left(Vb) + 1j * (expm(eta.T * chi) @ c)[j] * self.right(Vb)
        return 1j * (expm(-eta.T * chi) @ np.conj(c))[j] * self.left(Vb) - 1j * np.conj(c[j]) * self.right(Vb)

    def matrix(self, chi):
        out = self.fixed.copy()
        for f, R in self.raise_.items():
            out = out + sp.kron(R, self.outer(f, self.fields, chi), format="csr")
        return out

    def eigenvalue_of_s(self, s):
        """lambda at the package's real counting parameter s = i chi."""
        return eigenvalue_near_zero(self.L0, self.matrix(-1j * s) - self.L0, self.one)


@pytest.mark.parametrize("form, depth, theta, alpha, counted", [
    ("merged", 2, np.pi / 4, 0.1, 0),
    ("merged", 2, 0.0, 1.0, 1),
    ("separate", 2, np.pi / 2, 0.01, 0),
])
def test_second_cumulant_against_literal_counting_hierarchy(form, depth, theta, alpha, counted):
    """The literal L/R construction's eigenvalue, differentiated on a circle (8 points, radius
    0.05), against the package's perturbative lambda', lambda'' at the same depth (the literal
    hierarchy truncated at depth L contains the package's, the extra fields being spectators
    that never feed rho_00: docs/noise.md s2). 1e-8 relative (measured 2e-11 to 6e-10 at depth
    2-3: the circle's truncation and the unscaled complex LU's rounding)."""
    baths = paper_baths(alpha)
    p = DensePoint(baths, couplings(theta), 0.1, depth, form)
    first, second = p.cumulants(counted)
    ref = LiteralCountingHEOM(baths, p.pauli.coupling_vectors, 0.1, depth, form, counted)
    d1, d2 = circle_derivatives(ref.eigenvalue_of_s, 0.05, real_analytic=False)
    assert abs(d1 - first) <= 1e-8 * abs(first), (d1, first)
    assert abs(d2 - second) <= 1e-8 * abs(second), (d2, second)
    assert abs(first - p.currents[counted]) <= 1e-10 * abs(first)


def test_merged_and_separate_noise_agree_at_every_depth():
    """As for the currents (test_merged_modes.py), the merged counting hierarchy is the separate one
    restricted to polynomials in its fields: S1 and S2 agree at depths 2 and 3 (LU; measured 5e-15,
    bound 1e-10)."""
    for depth in (2, 3):
        out = {}
        for form in ("merged", "separate"):
            p = DensePoint(paper_baths(0.3), couplings(np.pi / 4), 0.1, depth, form)
            out[form] = [p.cumulants(b)[1] for b in (0, 1)]
        assert np.allclose(out["merged"], out["separate"], rtol=1e-10, atol=0), (depth, out)


# ---------------------------------------------------------------------------------------------
# 3a. Weak coupling: sequential transfers (analytic.golden_rule_noise), and contact terms.


def with_exponentials(dec, real_terms=(), imag_terms=()):
    """dec with extra terms coef * e^{-rate t} added to C^R and to C^I."""
    def grow(fam, terms):
        a, eta, phi0, keys = [fam.a], [fam.eta], [fam.phi0], list(fam.keys)
        for coef, rate in terms:
            a.append([coef])
            eta.append(np.array([[-rate]]))
            phi0.append([1.0])
            keys.append((rate, 0.0, 0, 0))
        return BasisFamily(np.concatenate(a), block_diag(*eta), np.concatenate(phi0), (), tuple(keys))

    return BathDecomposition(grow(dec.real, real_terms), grow(dec.imag, imag_terms), dec.description)


def decomposition_spectrum(dec, w):
    """S(w) = Int C(t) e^{iwt} dt over the real line, C(-t) = C(t)*: 2 Re[c . (-(eta + iw))^{-1} phi0]."""
    sb = shared_basis(dec)
    c = sb.a_real + 1j * sb.a_imag
    return 2.0 * np.real(c @ np.linalg.solve(-(sb.eta + 1j * w * np.eye(sb.size)), sb.phi0))


def test_sequential_transfer_formula():
    """analytic: I equals golden_rule_current; at T1 = T2 the Markov chain obeys the
    fluctuation-dissipation relation exactly (central differences, h = 1e-4: 1e-7); S > 0."""
    J = RationalCutoff(alpha=0.01)
    assert abs(sequential_transfer_counting(0.2, 1.0, 2.0, 0.5, 3.0)[0] - 0.2 * (3.0 - 1.0) / 6.5) < 1e-15
    for delta in (0.05, 0.1, 0.5):
        E = 2 * delta
        k = [2 * float(J(E)) * n for n in (1 / np.expm1(E), 1 / np.expm1(E / 0.9))]
        I, S = sequential_transfer_counting(E, k[0], k[0] + 2 * float(J(E)), k[1], k[1] + 2 * float(J(E)))
        assert abs(I - golden_rule_current(delta, 1.0, 0.9, J, J)) <= 1e-14 * I
        assert abs(S - golden_rule_noise(delta, 1.0, 0.9, J, J)) <= 1e-14 * S and S > 0
        h, T = 1e-4, 0.7
        G = (golden_rule_current(delta, T + h, T, J, J) - golden_rule_current(delta, T - h, T, J, J)) / (2 * h)
        assert abs(golden_rule_noise(delta, T, T, J, J) / (2 * T * T * G) - 1) < 1e-7


@pytest.mark.mpi
@pytest.mark.parametrize("delta", [0.05, 0.1])
def test_golden_rule_noise_limit(delta):
    """theta = pi/2, depth 3: S1/S_golden = 1 + c alpha; the line through alpha = 1e-3, 2e-3 meets
    1 at alpha = 0 within 1e-3 (measured 2.3e-4 at Delta = 0.05 and 4e-5 at 0.1, as for the current,
    whose own test, test_heom_limits.py, allows 5e-3: the remainder is the O(alpha^2) curvature)."""
    ratios = []
    for alpha in (1e-3, 2e-3):
        res = solve_point(COMM, paper_baths(alpha), couplings(np.pi / 2), delta, HierarchySpec(3, True, "aij", "merged"),
                          SolverSettings(method="direct"), noise=True)
        assert res.status == "ok" and res.noise.status == "ok"
        J = RationalCutoff(alpha=alpha)
        ratios.append(res.noise.S1 / golden_rule_noise(delta, 1.0, 0.9, J, J))
    extrapolated = 2 * ratios[0] - ratios[1]
    assert abs(extrapolated - 1) < 1e-3, ratios


@pytest.mark.parametrize("real_terms, imag_terms", [
    (((0.3, 2.0),), ()),          # a kink: dC^R/dt(0+) = -0.6 alpha (contact -2 dC^R/dt(0+) = 200 S)
    ((), ((0.2, 1.5),)),          # a jump: C^I(0) = 0.2 alpha (current +2 C^I(0); noise moment term 0.4 S)
    (((0.3, 2.0),), ((0.2, 1.5),)),
])
def test_contact_terms_at_weak_coupling(real_terms, imag_terms):
    """Bath 1 = alpha (paper's J at alpha = 1, Pade 1, + exponentials making C^R kinked or C^I jump
    at t = 0), theta = pi/2, depth 3: the HEOM's I1 and S1 against the sequential-transfer formula
    with the rates of the decomposition's own spectrum S(+-E) (the exact O(alpha) result for the
    bath the decomposition defines), extrapolated to alpha -> 0 as above: within 5e-4 (measured
    <= 7e-5, as for the paper's bath alone). Without the contact terms the noise is off by
    factors (the kink's term is 200 times S)."""
    delta, E = 0.1, 0.2
    ratios = []
    for alpha in (1e-3, 2e-3):
        b1 = with_exponentials(exact_decomposition(RationalCutoff(alpha=1.0).rational(), 1.0, "pade", 1),
                               real_terms, imag_terms).scaled(alpha)
        b2 = exact_decomposition(RationalCutoff(alpha=alpha).rational(), 0.9, "pade", 1)
        p = DensePoint([b1, b2], couplings(np.pi / 2), delta, 3)
        first, second = p.cumulants()
        rates = [decomposition_spectrum(b, w) for b in (b1, b2) for w in (-E, E)]   # k_up = S(-E), k_down = S(E)
        I, S = sequential_transfer_counting(E, *rates)
        assert abs(first - p.currents[0]) <= 1e-10 * abs(first)
        ratios.append((p.currents[0] / I, second / S))
    extrapolated = 2 * np.array(ratios[0]) - np.array(ratios[1])
    assert np.all(np.abs(extrapolated - 1) < 5e-4), ratios


# ---------------------------------------------------------------------------------------------
# 3b. Fluctuation-dissipation at any coupling.

# (alpha, depth, n_bose): the smallest depth and Pade order at which every theta below meets 1e-4
# (docs/noise.md s7: measured deviations; n_bose = 1 leaves 0.9-1.3e-4 from the decomposition).
FDR_POINTS = [(0.01, 3, 2), (0.1, 4, 2), (1.0, 5, 2)]


def _fdr_current(alpha, theta, T1, T, depth, n_bose, noise=False):
    baths = [exact_decomposition(RationalCutoff(alpha=alpha).rational(), t, "pade", n_bose) for t in (T1, T)]
    res = solve_point(COMM, baths, couplings(theta), 0.1, HierarchySpec(depth, True, "aij", "merged"),
                      SolverSettings(method="auto", rtol=1e-13), noise=noise)
    assert res.status == "ok", res.report.message
    return res


def fdr_deviation(alpha, theta, depth, n_bose, T=1.0, h=0.01):
    """S1(T, T) / (2 T^2 G) - 1 with G = dI1/dT1 at T1 = T2 = T by Richardson-extrapolated central
    differences (steps h, 2h: error O(h^4), measured correction from the first to the extrapolated
    G <= 3e-5, so the remaining O(h^4) term is ~1e-9)."""
    eq = _fdr_current(alpha, theta, T, T, depth, n_bose, noise=True)
    I = {k: _fdr_current(alpha, theta, T + k * h, T, depth, n_bose).I1 for k in (-2, -1, 1, 2)}
    G1, G2 = (I[1] - I[-1]) / (2 * h), (I[2] - I[-2]) / (4 * h)
    G = (4 * G1 - G2) / 3
    return eq.noise.S1 / (2 * T * T * G) - 1, eq, G


@pytest.mark.mpi
@pytest.mark.parametrize("alpha, depth, n_bose", FDR_POINTS)
@pytest.mark.parametrize("theta", [0.0, np.pi / 4])
def test_fluctuation_dissipation(alpha, depth, n_bose, theta):
    """S1 = 2 T^2 dI1/dT1 at T1 = T2 = 1, Delta = 0.1, to 1e-4 relative (measured: 7e-8 / 3e-8 at
    alpha = 0.01, 2.5e-6 / 2.5e-6 at 0.1, 3.4e-5 / 2.5e-5 at alpha = 1, theta = 0 / pi/4; depth 6
    gives 3-4e-5, depths 7-8 1e-6). The truncated hierarchy meets it from these depths on, before S
    itself converges in depth (docs/noise.md s7)."""
    dev, eq, G = fdr_deviation(alpha, theta, depth, n_bose)
    assert abs(dev) < 1e-4, dev
    # equilibrium: the spurious current (truncation and Pade) is below 1e-4 of the current at
    # T2 = 0.9 (~0.1 G; measured <= 3e-5, at alpha = 1), and S1 + S2 + 2 S12 = 0 (identity)
    assert abs(eq.I1) < 1e-4 * 0.1 * G, (eq.I1, G)
    assert abs(eq.noise.S1 + eq.noise.S2 + 2 * eq.noise.S12) <= 1e-8 * eq.noise.S1


@pytest.mark.mpi
def test_fluctuation_dissipation_needs_two_pade_terms():
    """alpha = 0.1, theta = 0, depth 4: one Pade term leaves the relation broken by 1.3e-4 (the
    decomposition's detailed-balance error); two bring it to 2e-6: it is the bath, not the
    hierarchy (docs/noise.md s7)."""
    one = fdr_deviation(0.1, 0.0, 4, 1)[0]
    two = fdr_deviation(0.1, 0.0, 4, 2)[0]
    assert abs(one) > 1e-4 and abs(two) < abs(one) / 20, (one, two)


# ---------------------------------------------------------------------------------------------
# 4. The collective function: ranks, routes, identities.


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["direct", "iterative"])
def test_rank_count_independence(method):
    """COMM_WORLD and COMM_SELF give the same I1, S1, S2, S12 to 1e-10 relative (alpha = 0.3,
    theta = pi/4, depth 4 merged); noise=True leaves the steady state untouched; S1 + S2 + 2 S12 = 0
    to 1e-10 (measured ~1e-14: an identity of the truncated hierarchy, like I1 + I2 = 0), while
    S1 - S2 (zero for the exact model) is a truncation error: 3.4e-4 of S1 here."""
    kw = dict(baths=paper_baths(0.3), coupling_vectors=couplings(np.pi / 4), delta=0.1,
              hierarchy=HierarchySpec(4, True, "aij", "merged"), settings=SolverSettings(method=method, rtol=1e-13))
    world = solve_point(COMM, noise=True, **kw)
    alone = solve_point(MPI.COMM_SELF, noise=True, **kw)
    plain = solve_point(COMM, **kw)
    assert plain.noise is None and abs(world.I1 - plain.I1) <= 1e-14 * abs(plain.I1)
    only1 = solve_point(COMM, noise=(0,), **kw)                 # S1 alone: one extra solve
    assert len(only1.noise.reports) == 1 and abs(only1.noise.S1 - world.noise.S1) <= 1e-12 * world.noise.S1
    for res in (world, alone):
        assert res.noise.status == "ok" and all(r.converged for r in res.noise.reports)
    for a, b in ((world.noise.second, alone.noise.second), (world.noise.first, alone.noise.first)):
        assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b)), (a, b)
    nz = world.noise
    assert abs(nz.first[0] - world.I1) <= 1e-10 * abs(world.I1)
    assert abs(nz.S1 + nz.S2 + 2 * nz.S12) <= 1e-10 * nz.S1
    assert abs(nz.S1 - nz.S2) <= 1e-3 * nz.S1
    assert "noise_solve_s" in world.timings


@pytest.mark.mpi
def test_noise_refuses_slepc_and_degenerate_points():
    """method = "slepc" has no steady-state matrix to solve with: refused before any collective.
    Delta = 0, theta = pi/2 (sx conserved): the steady state is not unique, the noise undefined."""
    kw = dict(baths=paper_baths(0.1), delta=0.1, hierarchy=HierarchySpec(2, True, "aij", "merged"))
    with pytest.raises(ValueError, match="linear route"):
        solve_point(COMM, coupling_vectors=couplings(np.pi / 4), settings=SolverSettings(method="slepc"), noise=True, **kw)
    kw["delta"] = 0.0
    res = solve_point(COMM, coupling_vectors=couplings(np.pi / 2), settings=SolverSettings(method="direct"),
                      noise=True, **kw)
    assert res.status == "ok" and res.noise.status == "undefined" and np.isnan(res.noise.S1)
