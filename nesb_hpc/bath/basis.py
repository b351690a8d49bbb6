"""The contract between a bath and the hierarchy: C^R and C^I as families of basis functions
closed under d/dt (docs/model.md s2, docs/decomposition.md), and their shared basis for merged
modes. Times in 1/omega_c, rates in omega_c."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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

    Scaling and squaring of the Taylor series of the shifted matrix F = A - c, c = max_j A_jj, with
    ||F t|| / 2^j <= 1/2 and 24 terms (truncation 2^-25/25! ~ 1e-33), times e^{c t}. The shift by
    the largest diagonal entry (the slowest rate of a chain) keeps every squaring bounded: with
    the mean, a chain of rates 4.9 .. 12.4 overflowed at t = 170 (e^{+680} times e^{-1400}: NaN),
    which a fit's long window reaches. It is used
    instead of scipy.linalg.expm, whose special treatment of triangular matrices (SciPy 1.10) loses
    accuracy when diagonal entries nearly coincide, exactly the near-confluent chains here:
    expm of the 5x5 chain with rates (1, 1, 1, 1, 1 + 1e-15) at t = 10 is off by 4e-5 there, by
    1e-16 here. For a chain (bidiagonal A) the Taylor series of the scaled F is exact for equal
    rates (nilpotent) and the squarings multiply triangular matrices of divided differences.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    n = A.shape[0]
    c = float(np.max(np.real(np.diag(A)))) if n else 0.0
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


def connected_components(n: int, edges) -> list[list[int]]:
    """The connected components of the graph on 0..n-1 with the given edges (union-find), each
    sorted, in the order of their smallest member."""
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in edges:
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())


def _connected_blocks(eta: np.ndarray) -> list[np.ndarray]:
    """Index sets of the diagonal blocks of eta (connected components of its nonzero pattern)."""
    return [np.array(g) for g in connected_components(eta.shape[0], zip(*np.nonzero(eta)))]


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


