"""Exact decompositions of C(t) into bases closed under differentiation (docs/model.md s2,
docs/decomposition.md for the derivation with every factor).

The one contract between a bath and the hierarchy is a pair of ``BasisFamily`` objects, one for
C^R = Re C and one for C^I = Im C:

    C^X(t) = sum_j a_j phi_j(t),    d/dt phi_j = sum_j' eta_jj' phi_j',    phi_j(0) = phi0_j,

with real a, eta, phi0 (so the hierarchy is a real linear system, docs/model.md s3). Times are
in units of 1/omega_c, rates and frequencies in units of omega_c (hbar = k_B = omega_c = 1).

Exact route for a rational, odd J(w) (spectral.RationalPoles). With rates v = -i w (a pole z of
the integrand in the upper half plane is a decay rate v = -i z, Re v > 0) and t > 0, closing the
contour in the upper half plane gives

    C^R(t) = -sum_{Re v > 0} Res_v[ j(v) b(v) e^{-vt} ],    C^I(t) = -i sum_{Re v > 0} Res_v[ j(v) e^{-vt} ],
    j(v) = J(iv),   b(v) = B(iv),

B the Bose factor coth(w/2T) or its sum-over-poles approximant (bose.py): Pade uses the approximant
everywhere (C is then the exact transform of J times the approximant, Hu-Xu-Yan); Matsubara keeps
the exact coth at the poles of J and truncates only the Bose poles nu_k = 2 pi k T, k <= n_bose.
The nodes are the poles of J (rates v_J, with their orders) and the Bose poles nu_k (simple).

Near-coincident poles. When a Bose pole nu_k approaches a pole of J (or two poles of J approach
each other, as for the underdamped J when gamma -> 2 omega0) the separate residues grow like
1/(distance)^order with opposite signs and cancel; at coincidence the pole order rises. Nodes
closer than a relative distance CLUSTER_RHO (|v_a - v_b| <= rho max(|v_a|, |v_b|); only J-J and
J-Bose pairs are linked, single linkage) are therefore treated together. For a cluster of nodes
v_1..v_N (repeated by multiplicity; the Bose nodes first and the poles of J last) and
F = G(v) e^{-vt} / prod_i (v - v_i), G analytic on the cluster, the sum of the residues is the
divided difference of G g, g(v) = e^{-vt}, which the Leibniz rule splits as

    sum_cluster Res F = (G g)[v_1..v_N] = sum_k G[v_1..v_k] g[v_k..v_N].

Both kinds of divided difference are computed without cancellation: G[v_1..v_k] is row 0 of G(V),
V the upper bidiagonal matrix with diagonal v_1..v_N and ones above it (Opitz' formula:
f(V)_{ik} = f[v_i..v_k]); G is a product of rational factors (exact triangular solves), and for
Matsubara of -i cot(v/2T) written as its poles near the cluster (rational, exact) plus the
Maclaurin series of the rest (Hurwitz zeta coefficients). The Newton functions g[v_k..v_N](t)
satisfy d/dt g[v_k..v_N] = -v_k g[v_k..v_N] - g[v_{k+1}..v_N] and tend to the confluent chain
(-t)^p/p! e^{-vt} at coincidence. In "p-order" u_p = v_{N-p} (u_0 = the last node, a pole of J)
the basis of one cluster ("chain") is

    chi_p(t) = s^p (-1)^p g[u_p, ..., u_0](t),   s = Re u_0,   p = 0..N-1,
    d/dt chi_p = -u_p chi_p + s chi_{p-1},       chi_p(0) = delta_p0,

i.e. (s t)^p/p! e^{-u t} when all nodes are equal: the (g t)^k/k! e^{-g t} chain of a pole of
order k + 1. The first functions (p < N_J, the poles of J only) are the ones C^I uses, so the
merged hierarchy still shares them (same keys, same rows of eta).

Real basis. A cluster closed under complex conjugation (real rates, or conjugate pairs placed next
to each other, u then conj(u) with Im u > 0) gives N real functions Re chi_p, with

    eta_pp = -Re u_p,   eta_p,p-1 = s,   eta_p,p+1 = -(Im u_p)^2 / s  (only where Im u_p > 0);

a cluster whose mirror image is another cluster (complex rates away from the real axis) gives
2N functions c_p = Re chi_p, s_p = -Im chi_p (Im u > 0), the mirror contributing the complex
conjugate: (g t)^k/k! e^{-g t} (cos, sin)(W t) when the nodes are equal. Functions are identified
by keys: (gamma, Omega, k, part) for those equal-node ones (as before), and
(gamma, Omega, k, part, nodes) with nodes = (u_0, ..., u_k) for the general Newton functions.

The QuTiP vocabulary (ck, vk lists) enters through ``from_exponents``: exactly equal rates are
merged, and nearly equal rates with coefficients of opposite phase (the signature of a confluent
pole split by rounding or by a near coincidence) are converted to the same Newton chains.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import zeta

from .bose import bose_expansion
from .spectral import RationalPoles

# Nodes closer than this relative distance form one cluster (one Newton chain). A node left
# outside at relative distance d from a pole of order m has a residue ~ d^-m times the cluster's
# size, cancelled by the cluster's: the cancellation ratio kappa = sum_j |a_j| max|phi_j| / max|C|
# of the paper's J (m = 4, Pade n_bose = 3, 10, 40, T = 0.02..2) is at most 1200, 150, 37, 14 for
# rho = 0.2, 0.3, 0.4, 0.5 (median 4.2, the t^k e^{-t} chain's own; it was 1e4 to 1e30 in the
# bands before). Larger rho lengthens the chains at low T (13 nodes at T = 0.02 for 0.4, 16 for
# 0.5) without changing the number of functions; 0.4 keeps kappa within 10 times the chain's own.
CLUSTER_RHO = 0.4



from .basis import BasisFamily, BathDecomposition, SharedBasis, expm_batched, shared_basis  # noqa: F401 (re-exported)
from .newton import (Chain, _cancelling_links, _close, _components, _family, _merge_equal_rates,  # noqa: F401
                     _order_nodes, _real_family, _Term, basis_function)

# ---------------------------------------------------------------------------------------------
# Clusters


def _pole_clusters(jrates: list[complex], brates: list[float], rho: float) -> list[tuple[list[int], list[int]]]:
    """Clusters of the poles of J (rates jrates, Re > 0) and the Bose poles (brates) as index lists
    (into jrates, into brates): single linkage within rho of J-J and J-Bose pairs (module doc).

    The rates and the relation are symmetric under conjugation, so the mirror image of a cluster is
    a cluster; one holding rates of both half planes is joined with its mirror, after which every
    cluster is closed under conjugation or the mirror image of another."""
    nj, nb = len(jrates), len(brates)
    edges = [(a, b) for a in range(nj) for b in range(a + 1, nj) if _close(jrates[a], jrates[b], rho)]
    edges += [(a, nj + b) for a in range(nj) for b in range(nb) if _close(jrates[a], brates[b], rho)]
    for comp in _components(nj + nb, edges):
        ims = [jrates[i].imag for i in comp if i < nj]
        if ims and not (all(x > 0 for x in ims) or all(x < 0 for x in ims)):
            edges += [(i, k) for i in comp if i < nj for k in range(nj) if jrates[k] == jrates[i].conjugate()]
    return [([i for i in c if i < nj], [i - nj for i in c if i >= nj]) for c in _components(nj + nb, edges)]


# ---------------------------------------------------------------------------------------------
# Matrix functions of the bidiagonal node matrix V (Opitz: f(V)[i, k] = f[v_i..v_k])


def _node_matrix(v: list[complex]) -> np.ndarray:
    return np.diag(np.asarray(v, dtype=complex)) + np.eye(len(v), k=1)


def _shift_inverse(V: np.ndarray, c: complex) -> np.ndarray:
    """(V - c)^{-1}: divided differences of 1/(v - c), by back substitution (each entry a product)."""
    n = V.shape[0]
    return solve_triangular(V - c * np.eye(n), np.eye(n, dtype=complex), lower=False)


def _shift_product(V: np.ndarray, roots) -> np.ndarray:
    n = V.shape[0]
    out = np.eye(n, dtype=complex)
    for r in roots:
        out = out @ (V - r * np.eye(n))
    return out


def _scaled_hurwitz(s: int, q: int) -> float:
    """q^s zeta(s, q) = sum_{l >= 0} (1 + l/q)^{-s} (in [1, 1 + q/(s-1)]), without under/overflow."""
    if s * math.log(q) < 600.0:
        return float(zeta(s, q) * float(q) ** s)
    l_max = int(q * math.expm1(46.0 / s)) + 2  # (1 + l/q)^{-s} < 1e-20 beyond
    return float(np.sum((1.0 + np.arange(l_max + 1) / q) ** (-float(s))))


def _cot_remainder(Y: np.ndarray, M: int, n_terms: int = 70) -> np.ndarray:
    """sum_{|l| > M} 1/(y - pi l) = cot(y) - sum_{|l| <= M} 1/(y - pi l) of the matrix Y:

        = -(2 / (pi q)) sum_n c_n yh^{2n+1},   yh = y/(pi q),  q = M + 1,  c_n = q^{2n+2} zeta(2n+2, q),

    the Maclaurin series (radius pi q), used where every eigenvalue has |yh| <= 1/4, so that 70
    terms leave 4^-140 times binomial factors (< 1e-40 for chains of up to 20 nodes)."""
    q = M + 1
    Yh = Y / (math.pi * q)
    Y2 = Yh @ Yh
    n = Y.shape[0]
    acc = np.zeros((n, n), dtype=complex)
    for k in range(n_terms - 1, -1, -1):
        acc = acc @ Y2 + _scaled_hurwitz(2 * k + 2, q) * np.eye(n)
    return -(2.0 / (math.pi * q)) * (acc @ Yh)


def _bose_factor(V, cluster_bose, bose_nodes, kind: str, T: float) -> np.ndarray:
    """b(V) prod_{k in cluster}(V - nu_k), b(v) = B(iv) (module doc), exactly.

    Pade:      b(v) = -i [2T/v + sum_j 2 eta_j T (1/(v - nu_j) + 1/(v + nu_j))];
    Matsubara: b(v) = -i cot(v/2T) = -i [sum_{|l| <= M} 2T/(v - nu_{k*+l}) + cot-remainder(y)],
               y = (v - nu_{k*})/2T, the window chosen so that the remainder's series converges fast.
    Poles in the cluster become polynomials; all others are exact triangular solves.
    """
    n = V.shape[0]
    in_cl = {bose_nodes[i][2]: bose_nodes[i][0] for i in cluster_bose}  # index -> rate
    roots = list(in_cl.values())
    P = _shift_product(V, roots)

    def pole_term(index, rate, weight):
        if index in in_cl:
            return weight * _shift_product(V, [r for k, r in in_cl.items() if k != index])
        return weight * (_shift_inverse(V, rate) @ P)

    if kind == "pade":
        acc = 2.0 * T * (_shift_inverse(V, 0.0) @ P)
        for rate, weight, index in bose_nodes:
            acc = acc + pole_term(index, rate, weight) + weight * (_shift_inverse(V, -rate) @ P)
        return -1j * acc
    # Matsubara: the window of explicit poles nu_{k*+l}, |l| <= M, around the cluster
    diag = np.diag(V)
    kstar = int(round(float(np.mean(diag.real)) / (2 * math.pi * T)))
    y = (diag - 2 * math.pi * T * kstar) / (2 * T)
    M = int(math.ceil(4.0 * float(np.max(np.abs(y))) / math.pi))
    if any(abs(k - kstar) > M for k in in_cl):
        raise AssertionError("a Matsubara node of the cluster lies outside the explicit window")
    acc = _cot_remainder((V - 2 * math.pi * T * kstar * np.eye(n)) / (2 * T), M) @ P
    for k in range(kstar - M, kstar + M + 1):
        acc = acc + pole_term(k, 2 * math.pi * T * k, 2.0 * T)
    return -1j * acc


def _j_factor(J: RationalPoles, V: np.ndarray, in_cluster: set[int]) -> np.ndarray:
    """j(V) prod_{poles in cluster}(V - v_k)^{m_k}, j(v) = J(iv) = P i^(s - sum m) v^s / prod (v - v_k)^m_k."""
    m_tot = sum(J.multiplicities)
    out = J.prefactor * (1j) ** ((J.power - m_tot) % 4) * np.linalg.matrix_power(V, J.power)
    for idx, (z, m) in enumerate(zip(J.poles, J.multiplicities)):
        if idx in in_cluster:
            continue
        inv = _shift_inverse(V, complex(-1j * z))
        for _ in range(m):
            out = out @ inv
    return out


def exact_decomposition(J: RationalPoles, T: float, bose_kind: str = "pade", n_bose: int = 3,
                        rho: float = CLUSTER_RHO) -> BathDecomposition:
    """Residue decomposition of C(t) for a rational odd J at temperature T (> 0), exact and free of
    cancellation at every T (module doc).

    Cutoff (J) poles: Matsubara uses the exact coth there (only the Matsubara tail is truncated);
    Pade uses its approximant everywhere (C is then the exact transform of J * approximant,
    Hu-Xu-Yan). An isolated Bose pole nu_j = xi_j T contributes c_j e^{-nu_j t},
    c_j = i J(i nu_j) 2 eta_j T; Bose poles within rho of a pole of J join its cluster (module doc).
    Matsubara poles beyond n_bose that fall within rho of a pole of J are kept in its cluster: the
    truncated series would otherwise carry their diverging residue uncancelled (their number adds
    to the chain, so such a decomposition has that many more functions).
    """
    if T <= 0:
        raise ValueError(f"temperature {T} must be > 0")
    if bose_kind not in ("pade", "matsubara"):
        bose_expansion(bose_kind, 0)  # raises the usual message
    bose = bose_expansion(bose_kind, n_bose)
    rates = [complex(-1j * z) for z in J.poles]
    jnodes = [i for i, v in enumerate(rates) if v.real > 0]
    # Bose nodes: (rate, weight 2 eta T, index); Matsubara index k has rate 2 pi k T
    if bose_kind == "matsubara":
        bnodes = [((2.0 * math.pi * k) * T, 2.0 * T, k) for k in range(1, n_bose + 1)]
        extra = set()
        for i in jnodes:
            k_max = int(abs(rates[i]) / ((1.0 - rho) * 2 * math.pi * T)) + 1
            for k in range(n_bose + 1, k_max + 1):
                if _close(rates[i], 2 * math.pi * T * k, rho):
                    extra.add(k)
        bnodes += [((2.0 * math.pi * k) * T, 2.0 * T, k) for k in sorted(extra)]
    else:
        bnodes = [(float(xi * T), float(2.0 * e * T), j) for j, (e, xi) in enumerate(zip(bose.eta, bose.xi))]
    groups = _pole_clusters([rates[i] for i in jnodes], [b[0] for b in bnodes], rho)
    groups = [({jnodes[i] for i in jl}, set(bl)) for jl, bl in groups]
    real_items, imag_items = [], []
    for jset, bset in groups:
        if not jset:  # an isolated Bose pole
            for b in sorted(bset):
                nu, w, _ = bnodes[b]
                c = 1j * complex(J(1j * nu)) * w
                real_items.append((Chain((complex(nu),)), np.array([c])))
            continue
        ims = [rates[i].imag for i in jset]
        if all(x < 0 for x in ims):
            continue  # the mirror of a paired cluster: its conjugate
        self_conj = not all(x > 0 for x in ims)
        jlist = [(rates[i], J.multiplicities[i]) for i in sorted(jset)]
        if self_conj:
            u_j = _order_nodes([(v, m) for v, m in jlist if v.imag >= 0])
        else:
            u_j = [v for v, m in sorted(jlist, key=lambda vm: (vm[0].real, vm[0].imag)) for _ in range(m)]
        bl = sorted(bset, key=lambda b: bnodes[b][0])
        u = u_j + [complex(bnodes[b][0]) for b in bl]
        n, n_j = len(u), len(u_j)
        s = u[0].real
        V = _node_matrix(u[::-1])  # Newton order v_1..v_N = u_{N-1}..u_0
        jV = _j_factor(J, V, jset)
        GR = jV @ _bose_factor(V, bl, bnodes, bose_kind, T)
        # C^R: -(G_R g)[v_1..v_N] = sum_p b_p chi_p with b_p = -G_R[v_1..v_{N-p}] (-1/s)^p
        bR = np.array([-GR[0, n - 1 - p] * (-1.0 / s) ** p for p in range(n)])
        GI = jV[n - n_j:, n - n_j:]
        bI = np.array([-1j * GI[0, n_j - 1 - p] * (-1.0 / s) ** p for p in range(n_j)])
        chain = Chain(tuple(u), self_conj)
        real_items.append((chain, bR))
        imag_items.append((chain.prefix(n_j), bI))
    real = _chop(_family(real_items, "C^R"))
    imag = _chop(_family(imag_items, "C^I"))
    desc = f"exact residues, {bose_kind} n_bose={n_bose}, T={T:g}"
    return BathDecomposition(real, imag, desc)


def _chop(family: BasisFamily, rel: float = 1e-13) -> BasisFamily:
    """Set coefficients that are rounding noise of an exact zero (e.g. a^I_0, as C^I(0) = 0) to 0.

    The residues are computed to ~1e-15 relative; coefficients whose combined size is below
    1e-13 of the family's largest are zero, and an exact zero removes its up-couplings.
    """
    a = family.a.copy()
    size = np.abs(a)
    order = np.argsort(size)
    # drop the smallest coefficients only while their combined size stays below the threshold,
    # so that many tiny but genuine terms (hundreds of Matsubara poles) are not dropped together
    dropped = order[np.cumsum(size[order]) < rel * np.max(size, initial=0.0)]
    a[dropped] = 0.0
    return BasisFamily(a, family.eta, family.phi0, family.labels, family.keys)



def from_exponents(ck_real, vk_real, ck_imag, vk_imag, scale: float = 1.0) -> BathDecomposition:
    """QuTiP vocabulary: C^R = sum ck_real e^{-vk_real t}, C^I = sum ck_imag e^{-vk_imag t}, times scale.

    Complex rates must come in conjugate pairs (C^R, C^I are real functions); they become
    e^{-gamma t} (cos, sin)(Omega t) pairs with a real 2x2 eta. Nearly equal rates whose weights
    cancel (a near-coincidence of poles) become one Newton chain with weights that do not cancel
    (module doc); the rates both lists contain come first in such chains, so shared functions keep
    shared keys.
    """
    def terms(ck, vk):
        if len(ck) != len(vk):
            raise ValueError("ck and vk lists must have equal lengths")
        return _merge_equal_rates([(complex(v), np.array([complex(c) * scale])) for c, v in zip(ck, vk)])

    tr, ti = terms(ck_real, vk_real), terms(ck_imag, vk_imag)
    return _pair_of_families(tr, ti, ("C^R (ck_real, vk_real)", "C^I (ck_imag, vk_imag)"), "exponents (QuTiP vocabulary)")


def _pair_of_families(tr: list[_Term], ti: list[_Term], what: tuple[str, str], description: str) -> BathDecomposition:
    """C^R and C^I from complex terms, chained alike: a pair of rates whose weights cancel in either
    family is one chain in both, the rates both have first, so shared functions keep shared keys."""
    links = _cancelling_links(tr) + _cancelling_links(ti)
    return BathDecomposition(
        _real_family(tr, what[0], shared=[v for v, _ in ti], links=links),
        _real_family(ti, what[1], shared=[v for v, _ in tr], links=links),
        description,
    )
