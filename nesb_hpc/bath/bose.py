"""Sum-over-poles expansions of the Bose function (Matsubara and Pade).

Both are written in one form (x = w / T):

    coth(x/2) ~= 2/x + sum_{j=1}^{N} 4 eta_j x / (x^2 + xi_j^2),

Matsubara: eta_j = 1, xi_j = 2 pi j (exact as N -> inf, slowly). Pade [N-1/N] (Hu, Xu, Yan,
J. Chem. Phys. 133, 101106 (2010)): xi_j and eta_j from the eigenvalues of two tridiagonal
matrices; exact through order x^(4N-1) around x = 0, far faster convergence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoseExpansion:
    """coth(x/2) ~= 2/x + sum_j 4 eta_j x/(x^2 + xi_j^2); poles at x = +-i xi_j with residue 2 eta_j."""

    kind: str
    eta: np.ndarray
    xi: np.ndarray

    def coth_half(self, x):
        """The approximant of coth(x/2) for complex x."""
        x = np.asarray(x, dtype=complex)
        out = 2.0 / x
        for e, z in zip(self.eta, self.xi):
            out = out + 4.0 * e * x / (x * x + z * z)
        return out


def matsubara(n_terms: int) -> BoseExpansion:
    """Matsubara expansion with n_terms poles, xi_j = 2 pi j."""
    j = np.arange(1, n_terms + 1, dtype=float)
    return BoseExpansion("matsubara", np.ones(n_terms), 2.0 * np.pi * j)


def _tridiagonal_positive_eigenvalues(b: np.ndarray) -> np.ndarray:
    """Positive eigenvalues of the symmetric tridiagonal matrix with off-diagonal 1/sqrt(b_m b_{m+1})."""
    off = 1.0 / np.sqrt(b[:-1] * b[1:])
    mat = np.diag(off, 1) + np.diag(off, -1)
    ev = np.linalg.eigvalsh(mat)
    return np.sort(ev[ev > 1e-14])[::-1]


def pade(n_terms: int) -> BoseExpansion:
    """[N-1/N] Pade spectrum decomposition of the Bose function (Hu, Xu, Yan 2010, Eqs. 11-13)."""
    n = n_terms
    if n == 0:
        return BoseExpansion("pade", np.zeros(0), np.zeros(0))
    m = np.arange(1, 2 * n + 1, dtype=float)
    xi = 2.0 / _tridiagonal_positive_eigenvalues(2 * m + 1)  # b_m = 2m + 1, 2N x 2N
    mt = np.arange(1, 2 * n, dtype=float)
    zeta = 2.0 / _tridiagonal_positive_eigenvalues(2 * mt + 3)  # b~_m = 2m + 3, (2N-1) x (2N-1)
    b_next = 2 * (n + 1) + 1
    eta = np.empty(n)
    for j in range(n):
        # product of N-1 ratios, not num/den: each product alone overflows for N >= 43 (NaN eta)
        ratios = (zeta**2 - xi[j] ** 2) / (np.delete(xi, j) ** 2 - xi[j] ** 2)
        eta[j] = 0.5 * n * b_next * np.prod(ratios)
    return BoseExpansion("pade", eta, xi)


# The expansions the input offers ([bath] decomposition): name -> constructor(n_terms).
BOSE_EXPANSIONS = {"pade": pade, "matsubara": matsubara}


def bose_expansion(kind: str, n_terms: int) -> BoseExpansion:
    """The input's `decomposition` key ("pade" or "matsubara") with n_terms poles."""
    if kind not in BOSE_EXPANSIONS:
        raise ValueError(f"unknown Bose-function expansion {kind!r}: allowed are {tuple(BOSE_EXPANSIONS)}")
    return BOSE_EXPANSIONS[kind](n_terms)
