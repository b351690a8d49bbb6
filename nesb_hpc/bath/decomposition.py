"""Exact decompositions of C(t) into bases closed under differentiation (physics.md section 2,
docs/decomposition.md for the derivation with every factor).

The one contract between a bath and the hierarchy is a pair of ``BasisFamily`` objects, one for
C^R = Re C and one for C^I = Im C:

    C^X(t) = sum_j a_j phi_j(t),    d/dt phi_j = sum_j' eta_jj' phi_j',    phi_j(0) = phi0_j,

with real a, eta, phi0 (so the hierarchy is a real linear system, physics.md section 3). Times are
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
from dataclasses import dataclass, field
from math import factorial

import numpy as np
from scipy.linalg import block_diag, solve_triangular
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


@dataclass(frozen=True)
class BasisFamily:
    """C^X(t) = a . phi(t) with d/dt phi = eta phi, phi(0) = phi0 (all real)."""

    a: np.ndarray
    eta: np.ndarray
    phi0: np.ndarray
    labels: tuple[str, ...] = field(default=())
    # per basis function: (gamma, Omega, k, part) for (g t)^k/k! e^{-g t} times cos (part 0) or
    # sin (part 1) of Omega t, or (gamma, Omega, k, part, nodes) for a Newton function (module doc);
    # identifies functions shared by C^R and C^I (empty: none are shared)
    keys: tuple[tuple, ...] = field(default=())

    @property
    def size(self) -> int:
        return int(self.a.size)

    def basis(self, t) -> np.ndarray:
        """phi_j(t) for every j: array (size, len(t)), phi(t) = expm(eta t) phi0 (per block of eta)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        out = np.zeros((self.size, t.size))
        for idx in _connected_blocks(self.eta):
            if idx.size == 1:
                j = idx[0]
                out[j] = self.phi0[j] * np.exp(self.eta[j, j] * t)
            else:
                out[idx] = (expm_batched(self.eta[np.ix_(idx, idx)], t) @ self.phi0[idx]).T
        return out

    def evaluate(self, t) -> np.ndarray:
        """C^X(t) on the grid t."""
        return self.a @ self.basis(t)

    def scaled(self, factor: float) -> "BasisFamily":
        return BasisFamily(self.a * factor, self.eta, self.phi0, self.labels, self.keys)


def expm_batched(A: np.ndarray, t) -> np.ndarray:
    """expm(A t) for every t (array (len(t), n, n)) of a small matrix A.

    Scaling and squaring of the Taylor series of the shifted matrix F = A - c, c = tr(A)/n, with
    ||F t|| / 2^j <= 1/2 and 24 terms (truncation 2^-25/25! ~ 1e-33), times e^{c t}. It is used
    instead of scipy.linalg.expm, whose special treatment of triangular matrices (SciPy 1.10) loses
    accuracy when diagonal entries nearly coincide, exactly the near-confluent chains here:
    expm of the 5x5 chain with rates (1, 1, 1, 1, 1 + 1e-15) at t = 10 is off by 4e-5 there, by
    1e-16 here. For a chain (bidiagonal A) the Taylor series of the scaled F is exact for equal
    rates (nilpotent) and the squarings multiply triangular matrices of divided differences.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    n = A.shape[0]
    c = np.trace(A) / n
    F = A - c * np.eye(n)
    norm = float(np.max(np.sum(np.abs(F), axis=0))) if n else 0.0
    with np.errstate(divide="ignore"):
        js = np.where(np.abs(t) * norm > 0.5, np.ceil(np.log2(np.abs(t) * norm / 0.5)), 0).astype(int)
    out = np.empty((t.size, n, n), dtype=np.result_type(A, 1.0))
    eye = np.eye(n)
    for j in np.unique(js):
        sel = js == j
        X = (t[sel] / 2.0 ** j)[:, None, None] * F
        S = eye + X / 24.0
        for k in range(23, 0, -1):
            S = eye + (X @ S) / k
        for _ in range(j):
            S = S @ S
        out[sel] = S * np.exp(c * t[sel])[:, None, None]
    return out


def _connected_blocks(eta: np.ndarray) -> list[np.ndarray]:
    """Index sets of the diagonal blocks of eta (connected components of its nonzero pattern)."""
    n = eta.shape[0]
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(eta)):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[ri] = rj
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return [np.array(g) for g in groups.values()]


@dataclass(frozen=True)
class BathDecomposition:
    """A bath's correlation function C = C^R + i C^I as two basis families."""

    real: BasisFamily
    imag: BasisFamily
    description: str = ""

    def correlation(self, t) -> np.ndarray:
        """C(t) = C^R(t) + i C^I(t) (complex array)."""
        return self.real.evaluate(t) + 1j * self.imag.evaluate(t)

    @property
    def imag_at_zero(self) -> float:
        """C^I(0) = a^I . phi^I(0): zero for an exact decomposition (enters the current if not)."""
        return float(self.imag.a @ self.imag.phi0)

    @property
    def n_modes(self) -> int:
        return self.real.size + self.imag.size

    def scaled(self, factor: float) -> "BathDecomposition":
        return BathDecomposition(self.real.scaled(factor), self.imag.scaled(factor), self.description)


# ---------------------------------------------------------------------------------------------
# Newton chains: the basis of one cluster of nodes


@dataclass(frozen=True)
class Chain:
    """The basis chi_p = s^p (-1)^p g[u_p..u_0], p = 0..N-1, of one cluster (module doc), g = e^{-vt}.

    nodes: the rates u_0, u_1, ... (Re u > 0) in p-order, repeated by multiplicity;
    self_conjugate: True for a cluster closed under conjugation (real functions Re chi_p; every
      u with Im u > 0 is immediately followed by conj(u)), False for one whose mirror image is a
      separate cluster (all Im u > 0; functions Re chi_p, -Im chi_p, the mirror adds the conjugate).
    """

    nodes: tuple[complex, ...]
    self_conjugate: bool = True

    def __post_init__(self):
        u = self.nodes
        if not u:
            raise ValueError("a chain needs at least one node")
        if any(not x.real > 0 for x in u):
            raise ValueError(f"decay rates Re(v) = {[x.real for x in u]} must be > 0")
        if self.self_conjugate:
            for p, x in enumerate(u):
                if x.imag > 0 and (p + 1 == len(u) or u[p + 1] != x.conjugate()):
                    raise ValueError(f"node {x} of a self-conjugate chain is not followed by its conjugate")
                if x.imag < 0 and (p == 0 or u[p - 1] != x.conjugate()):
                    raise ValueError(f"node {x} of a self-conjugate chain is not preceded by its conjugate")
        elif any(not x.imag > 0 for x in u):
            raise ValueError("a paired chain (self_conjugate=False) takes nodes with Im > 0 only")

    @property
    def size(self) -> int:
        return len(self.nodes)

    @property
    def scale(self) -> float:
        return float(self.nodes[0].real)

    @property
    def n_functions(self) -> int:
        return self.size if self.self_conjugate else 2 * self.size

    def prefix(self, n: int) -> "Chain":
        """The chain of the first n nodes (its functions are the first ones of this chain)."""
        return Chain(self.nodes[:n], self.self_conjugate)

    def _is_open(self, p: int) -> bool:
        """chi_p is complex in a self-conjugate chain (u_p is the first of a conjugate pair)."""
        return self.self_conjugate and self.nodes[p].imag > 0

    def closed_prefixes(self) -> list[int]:
        """Lengths n at which the prefix chain is closed under d/dt (and real)."""
        return [n for n in range(1, self.size + 1) if not self._is_open(n - 1)]

    def _pure(self, p: int) -> bool:
        return all(x == self.nodes[0] for x in self.nodes[1:p + 1])

    def keys(self) -> list[tuple]:
        u0 = self.nodes[0]
        g, w = float(u0.real), float(abs(u0.imag))
        out = []
        for p in range(self.size):
            extra = () if self._pure(p) else (tuple(complex(x) for x in self.nodes[:p + 1]),)
            parts = (0,) if self.self_conjugate else (0, 1)
            out.extend((g, w, p, part) + extra for part in parts)
        return out

    def labels(self) -> list[str]:
        u0 = self.nodes[0]
        g, w = u0.real, abs(u0.imag)
        out = []
        for p in range(self.size):
            if self._pure(p):
                if w == 0.0:
                    out.append(f"(g t)^{p}/{p}! e^(-g t), g={g:.6g}")
                elif self.self_conjugate:  # p = 0 only: Re e^{-u t}
                    out.append(f"(g t)^{p}/{p}! e^(-g t) cos(W t), g={g:.6g}, W={w:.6g}")
                else:
                    out.extend([f"(g t)^{p}/{p}! e^(-g t) cos(W t), g={g:.6g}, W={w:.6g}",
                                f"(g t)^{p}/{p}! e^(-g t) sin(W t), g={g:.6g}, W={w:.6g}"])
            else:
                nodes = ", ".join(f"{x.real:.6g}{x.imag:+.6g}i" if x.imag else f"{x.real:.6g}"
                                  for x in self.nodes[:p + 1])
                what = f"newton s^{p}(-1)^{p} g[u_{p}..u_0], s={g:.6g}, u=({nodes})"
                out.extend([f"Re {what}"] if self.self_conjugate else [f"Re {what}", f"-Im {what}"])
        return out

    def eta(self) -> np.ndarray:
        """d/dt of the real functions (module doc), in the order of keys()."""
        u, s = self.nodes, self.scale
        n = self.size
        if self.self_conjugate:
            eta = np.zeros((n, n))
            for p in range(n):
                eta[p, p] = -u[p].real
                if p > 0:
                    eta[p, p - 1] = s
                if self._is_open(p):
                    eta[p, p + 1] = -u[p].imag ** 2 / s
            return eta
        # ordering (c_0, s_0, c_1, s_1, ...): d/dt c_p = -g_p c_p - W_p s_p + s c_{p-1},
        #                                     d/dt s_p = W_p c_p - g_p s_p + s s_{p-1}
        eta = np.zeros((2 * n, 2 * n))
        for p in range(n):
            c, sn = 2 * p, 2 * p + 1
            eta[c, c] = eta[sn, sn] = -u[p].real
            eta[c, sn], eta[sn, c] = -u[p].imag, u[p].imag
            if p > 0:
                eta[c, c - 2] = eta[sn, sn - 2] = s
        return eta

    def phi0(self) -> np.ndarray:
        out = np.zeros(self.n_functions)
        out[0] = 1.0
        return out

    def real_coefficients(self, b: np.ndarray, what: str, imag_tol: float = 1e-10) -> np.ndarray:
        """Real weights of the functions for the complex contribution sum_p b_p chi_p.

        Self-conjugate chain: the contribution must be real; with Im chi_p = -(Im u_p / s) chi_{p+1}
        where u_p is the first of a pair, a_q = Re b_q + Im b_{q-1} Im u_{q-1} / s there.
        Paired chain: the mirror adds the conjugate, 2 Re(b chi) = 2 Re b c_p + 2 Im b s_p.
        """
        b = np.asarray(b, dtype=complex)
        if self.self_conjugate:
            u, s = self.nodes, self.scale
            a = b.real.copy()
            resid = b.imag.copy()
            for q in range(1, self.size):
                if self._is_open(q - 1):
                    a[q] += b[q - 1].imag * u[q - 1].imag / s
                    resid[q] -= b[q - 1].real * u[q - 1].imag / s
            if np.max(np.abs(resid)) > imag_tol * max(np.max(np.abs(b)), 1e-300):
                raise ValueError(f"{what}: the terms of rates {self.nodes} have complex weights "
                                 f"({b}): C^X must be real")
            return a
        return np.column_stack([2.0 * b.real, 2.0 * b.imag]).ravel()

    def complex_functions(self, t) -> np.ndarray:
        """chi_p(t), p = 0..N-1, complex (array (N, len(t)))."""
        return _chi(self.nodes, t)


def _chi(nodes, t) -> np.ndarray:
    """chi_p(t) = s^p (-1)^p g[u_p..u_0](t), p = 0..N-1, s = Re u_0: column 0 of expm(E t) with E
    lower bidiagonal (diagonal -u_p, s below it), batched over t (Opitz' formula for e^{-vt})."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    n = len(nodes)
    E = np.diag(-np.asarray(nodes, dtype=complex)) + float(nodes[0].real) * np.eye(n, k=-1)
    if n == 1:
        return np.exp(E[0, 0] * t)[None, :]
    return expm_batched(E, t)[:, :, 0].T


def basis_function(key: tuple, t) -> np.ndarray:
    """The basis function a key names (BasisFamily.keys) on the grid t: in closed form for the
    equal-node chain (g t)^k/k! e^{-g t} (cos, sin)(W t), else Re chi_k (part 0) or -Im chi_k (part 1)."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    g, w, k, part = key[:4]
    if len(key) == 4:
        f = np.exp(-g * t)
        if k:
            f = f * (g * t) ** k / factorial(k)
        if w != 0.0:
            f = f * (np.cos(w * t) if part == 0 else np.sin(w * t))
        return f
    chi = _chi(key[4], t)[k]
    return chi.real if part == 0 else -chi.imag


def _family(items: list[tuple[Chain, np.ndarray]], what: str) -> BasisFamily:
    """The real family of chains with their complex coefficients b (module doc)."""
    a, blocks, phi0, labels, keys = [], [], [], [], []
    for chain, b in items:
        a.extend(chain.real_coefficients(b, what))
        blocks.append(chain.eta())
        phi0.extend(chain.phi0())
        labels.extend(chain.labels())
        keys.extend(chain.keys())
    eta = block_diag(*blocks) if blocks else np.zeros((0, 0))
    return BasisFamily(np.array(a, dtype=float), eta, np.array(phi0, dtype=float), tuple(labels), tuple(keys))


# ---------------------------------------------------------------------------------------------
# Clusters


def _close(a: complex, b: complex, rho: float) -> bool:
    return abs(a - b) <= rho * max(abs(a), abs(b))


def _components(n: int, edges) -> list[list[int]]:
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in edges:
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())


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


def _order_nodes(nodes: list[tuple[complex, int]]) -> list[complex]:
    """p-order of (rate, multiplicity) nodes of a self-conjugate set: sorted by (Re, |Im|); each
    conjugate pair as u, conj(u) (Im u > 0), repeated by multiplicity."""
    out = []
    for v, m in sorted(nodes, key=lambda vm: (vm[0].real, abs(vm[0].imag), -vm[0].imag)):
        if v.imag > 0:
            out.extend([v, v.conjugate()] * m)
        elif v.imag == 0:
            out.extend([complex(v.real, 0.0)] * m)
        # Im v < 0: placed with its partner
    return out


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


# ---------------------------------------------------------------------------------------------
# Families from lists of complex terms (QuTiP exponents, fits)

# A complex term: sum_k b_k t^k e^{-v t}
_Term = tuple[complex, np.ndarray]


def _merge_equal_rates(terms: list[_Term]) -> list[_Term]:
    """Combine terms sharing a rate exactly (to 1e-13) so the basis stays independent."""
    out: list[_Term] = []
    for v, b in terms:
        for i, (vv, bb) in enumerate(out):
            if abs(vv - v) <= 1e-13 * abs(v):
                n = max(b.size, bb.size)
                out[i] = (vv, np.pad(bb, (0, n - bb.size)) + np.pad(b, (0, n - b.size)))
                break
        else:
            out.append((v, b))
    return out


def _newton_weights(terms: list[_Term], u: list[complex]) -> np.ndarray:
    """b_p with sum_terms sum_r b_r t^r e^{-v t} = sum_p b_p chi_p on the chain u (p-order).

    t^r e^{-v t} = (-1)^r r! g^(r)(v)/r!, and g^(r)(v)/r! = sum_p g[u_p..u_0] tau_r(omega_p, v) with
    omega_p(x) = prod_{q<p} (x - u_q) (Newton form of the Hermite interpolant; v of multiplicity
    > r among the nodes); g[u_p..u_0] = (-1/s)^p chi_p. Products of differences only.
    """
    n, s = len(u), u[0].real
    out = np.zeros(n, dtype=complex)
    for v, b in terms:
        r_max = b.size
        poly = np.zeros(r_max, dtype=complex)
        poly[0] = 1.0  # Taylor coefficients of omega_p at v, p = 0
        for p in range(n):
            out[p] += sum(b[r] * (-1) ** r * factorial(r) * poly[r] for r in range(r_max))
            d = v - u[p]  # omega_{p+1} = omega_p (d + eps)
            poly = d * poly + np.concatenate([[0.0], poly[:-1]])
    return out * (-1.0 / s) ** np.arange(n)


def _cancelling_links(terms: list[_Term], rho: float = CLUSTER_RHO) -> list[tuple[complex, complex]]:
    """Pairs of rates within rho whose t^0 weights have opposite phase (Re(b_i conj b_j) < 0: their
    sum cancels, the signature of a confluent pole split into nearly equal rates)."""
    return [(v, w) for i, (v, b) in enumerate(terms) for w, c in terms[i + 1:]
            if _close(v, w, rho) and (b[0] * np.conj(c[0])).real < 0]


def _real_family(terms: list[_Term], what: str, imag_tol: float = 1e-10, shared=(),
                 rho: float = CLUSTER_RHO, links=()) -> BasisFamily:
    """Write a sum of complex terms (a real function of t) in the real basis of the module doc.

    Exactly equal rates are merged (_merge_equal_rates, by the caller); rates within rho whose
    weights cancel (_cancelling_links here, or given in `links`, e.g. the other family's) form one
    Newton chain, the rates also in `shared` (those of the other family) first so that common
    functions keep common keys. Raises ValueError if the terms do not add up to a real function.
    """
    scale = max([np.max(np.abs(b)) for _, b in terms] + [1e-300])
    for v, b in terms:
        if v.real <= 0:
            raise ValueError(f"{what}: decay rate Re(v) = {v.real} must be > 0")
        if abs(v.imag) <= 1e-12 * max(1.0, abs(v.real)):
            if np.max(np.abs(b.imag)) > imag_tol * scale:
                raise ValueError(f"{what}: a real rate {v.real:g} has complex coefficients {b}: C^X must be real")
        else:
            partner = [bb for vv, bb in terms if abs(vv - np.conj(v)) <= 1e-10 * abs(v) and bb.size == b.size]
            if not partner or np.max(np.abs(partner[0] - np.conj(b))) > imag_tol * scale:
                raise ValueError(f"{what}: complex rate {v} has no complex-conjugate partner: C^X must be real")
    # rates: real ones exactly real, pairs exactly conjugate (the Im > 0 member's value)
    clean = []
    for v, b in terms:
        if abs(v.imag) <= 1e-12 * max(1.0, abs(v.real)):
            clean.append((complex(v.real, 0.0), b.real.astype(complex)))
        elif v.imag > 0:
            clean.append((complex(v), b))
        else:
            up = [vv for vv, _ in terms if abs(vv - np.conj(v)) <= 1e-10 * abs(v)][0]
            clean.append((complex(up).conjugate(), b))
    n = len(clean)
    pairs = _cancelling_links(clean, rho) + [tuple(x) for x in links]

    def same(a, b):
        return abs(a - b) <= 1e-12 * abs(a)

    def linked(v, w):  # a link or its mirror image (conjugate pairs cancel with their partners)
        return any((same(v, a) and same(w, b)) or (same(v, b) and same(w, a)) or
                   (same(v, np.conj(a)) and same(w, np.conj(b))) or (same(v, np.conj(b)) and same(w, np.conj(a)))
                   for a, b in pairs)

    edges = [(i, j) for i in range(n) for j in range(i + 1, n)
             if _close(clean[i][0], clean[j][0], rho) and linked(clean[i][0], clean[j][0])]
    comps = _components(n, edges)
    shared = [complex(x) for x in shared]

    def in_shared(v):
        return any(abs(v - x) <= 1e-12 * abs(v) for x in shared)

    items, paired = [], []
    for comp in comps:
        cl = [clean[i] for i in comp]
        ims = [v.imag for v, _ in cl]
        if all(x < 0 for x in ims):
            continue  # mirror of a paired cluster
        self_conj = not all(x > 0 for x in ims)
        if not self_conj and any(x < 0 for x in ims):
            raise ValueError(f"{what}: a cluster of rates is not closed under conjugation")
        nodes = [(v, b.size) for v, b in cl if v.imag >= 0] if self_conj else [(v, b.size) for v, b in cl]
        first = [vm for vm in nodes if in_shared(vm[0])]
        rest = [vm for vm in nodes if not in_shared(vm[0])]
        if self_conj:
            u = _order_nodes(first) + _order_nodes(rest)
        else:
            u = [v for v, m in sorted(first, key=lambda x: (x[0].real, x[0].imag)) +
                 sorted(rest, key=lambda x: (x[0].real, x[0].imag)) for _ in range(m)]
        chain = Chain(tuple(u), self_conj)
        b = _newton_weights(cl if self_conj else [(v, bb) for v, bb in cl if v.imag > 0], u)
        (items if self_conj else paired).append((chain, b))
    return _family(items + paired, what)


@dataclass(frozen=True)
class SharedBasis:
    """C^R and C^I of one bath on one basis closed under d/dt (the union of both families' bases):

        C^R(t) = a_R . phi(t),   C^I(t) = a_I . phi(t),   d/dt phi = eta phi,   phi(0) = phi0.

    The merged hierarchy (liouvillian.HierarchyModes, modes = "merged") has one index per function
    here instead of one per function of each family: for the paper's J, 4 + n_bose per bath
    instead of 8 + n_bose (the t^k e^{-t} chain is common to C^R and C^I).
    """

    a_real: np.ndarray
    a_imag: np.ndarray
    eta: np.ndarray
    phi0: np.ndarray
    labels: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return int(self.phi0.size)


def _same_key(k1: tuple, k2: tuple, rel: float) -> bool:
    """Two keys name the same function: equal order, part and node count; rates equal to rel."""
    if len(k1) != len(k2) or k1[2:4] != k2[2:4]:
        return False
    if abs(k1[0] - k2[0]) > rel * max(abs(k1[0]), 1e-300) or abs(k1[1] - k2[1]) > rel * max(abs(k1[0]), abs(k1[1])):
        return False
    if len(k1) == 5:
        n1, n2 = k1[4], k2[4]
        return len(n1) == len(n2) and all(abs(x - y) <= rel * abs(x) for x, y in zip(n1, n2))
    return True


def shared_basis(dec: BathDecomposition, rel: float = 1e-12) -> SharedBasis:
    """The union of dec.real's and dec.imag's bases, functions of both identified by their keys.

    A function of C^I is the same as one of C^R when their keys agree (rates to rel); eta and
    phi0 of a shared function must then agree too (they are properties of the function), which is
    checked. Families without keys share nothing (the direct sum, still exact).
    """
    R, I = dec.real, dec.imag
    index = list(range(R.size))          # joint index of each function of R, then of I

    n = R.size
    for key in (I.keys if len(I.keys) == I.size else [None] * I.size):
        match = [r for r, rk in enumerate(R.keys)
                 if key is not None and len(R.keys) == R.size and _same_key(rk, key, rel)]
        if match:
            index.append(match[0])
        else:
            index.append(n)
            n += 1
    index = np.array(index, dtype=np.int64)
    eta = np.zeros((n, n))
    phi0 = np.zeros(n)
    set_ = np.zeros((n, n), dtype=bool)
    a = [np.zeros(n), np.zeros(n)]
    labels = [""] * n
    for f, (fam, idx) in enumerate(((R, index[:R.size]), (I, index[R.size:]))):
        block = eta[np.ix_(idx, idx)]
        known = set_[np.ix_(idx, idx)]
        if np.any(known & (np.abs(block - fam.eta) > 1e-12 * (1.0 + np.abs(fam.eta)))):
            raise ValueError("C^R and C^I disagree on d/dt of a shared basis function")
        eta[np.ix_(idx, idx)] = fam.eta
        set_[np.ix_(idx, idx)] = True
        phi0[idx] = fam.phi0
        a[f][idx] = fam.a
        for i, lab in zip(idx, fam.labels or [""] * fam.size):
            labels[i] = labels[i] or lab
    return SharedBasis(a[0], a[1], eta, phi0, tuple(labels))


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
