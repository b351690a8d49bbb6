"""Newton chains: the basis of one cluster of nearly coincident rates, exact at any separation
including coincidence, and the real families built from lists of complex terms (residues,
QuTiP exponents, fits) with nearly equal cancelling rates turned into such chains
(docs/decomposition.md)."""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
from scipy.linalg import block_diag

from .basis import BasisFamily, connected_components, expm_batched

CLUSTER_RHO = 0.4   # see decomposition.py


def _close(a: complex, b: complex, rho: float) -> bool:
    return abs(a - b) <= rho * max(abs(a), abs(b))


def _components(n: int, edges) -> list[list[int]]:
    return connected_components(n, edges)


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


