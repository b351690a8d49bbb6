"""ADO multi-indices: combinatorial ranking and unranking, ordered by tier.

An auxiliary density operator (ADO) is labelled by a multi-index n in N^K over the K hierarchy
modes (all basis functions of all baths, R and I families). With total-depth truncation
|n| = sum_j n_j <= L there are C(K + L, L) of them. They are numbered tier by tier (|n| = 0, 1,
..., L) and, within a tier, lexicographically (n_0 ascending, then n_1, ...), so that

    rank(n) = offset(|n|) + sum_{i < K-1} [C(r_i + k_i, k_i) - C(r_i - n_i + k_i, k_i)],

r_i = |n| - n_0 - ... - n_{i-1}, k_i = K - 1 - i (hockey-stick sum over the smaller values of
n_i). Both directions are vectorised over many indices, so a rank enumerates just the ADOs it owns
and finds any neighbour's global number without a table. Pure numpy; no MPI.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import comb

import numpy as np

TRUNCATIONS = ("total",)   # |n| = sum_j n_j <= depth (the only scheme; [hierarchy] truncation)


@dataclass(frozen=True)
class TierOrderedHierarchy:
    """All n in N^n_modes with |n| <= depth, tier-ordered (see the module docstring)."""

    n_modes: int
    depth: int

    def __post_init__(self):
        if self.n_modes < 1 or self.depth < 0:
            raise ValueError(f"need n_modes >= 1 and depth >= 0, got {self.n_modes}, {self.depth}")
        if comb(self.n_modes + self.depth, self.depth) >= 2**62:
            raise ValueError("hierarchy too large for 64-bit ranks")

    @cached_property
    def _binom(self) -> np.ndarray:
        """C(a, b) for 0 <= a <= K + L, 0 <= b <= K (int64; 0 where b > a)."""
        K, L = self.n_modes, self.depth
        table = np.zeros((K + L + 1, K + 1), dtype=np.int64)
        for a in range(K + L + 1):
            for b in range(min(a, K) + 1):
                table[a, b] = comb(a, b)
        return table

    @cached_property
    def tier_offsets(self) -> np.ndarray:
        """offsets[t] = rank of the first ADO of tier t; offsets[L + 1] = size."""
        K = self.n_modes
        counts = [comb(t + K - 1, K - 1) for t in range(self.depth + 1)]
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @property
    def size(self) -> int:
        return int(self.tier_offsets[-1])

    def tier_of_rank(self, ranks: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.tier_offsets, np.asarray(ranks), side="right") - 1

    def rank(self, idx: np.ndarray) -> np.ndarray:
        """Global numbers of the multi-indices idx (shape (N, K)); -1 where |n| > depth or n < 0."""
        idx = np.asarray(idx)
        K, B = self.n_modes, self._binom
        tier = idx.sum(axis=1, dtype=np.int64)
        valid = (tier <= self.depth) & np.all(idx >= 0, axis=1)
        r = np.where(valid, tier, 0)
        out = self.tier_offsets[r].copy()
        for i in range(K - 1):
            k = K - 1 - i
            ni = np.where(valid, idx[:, i].astype(np.int64), 0)
            out += B[r + k, k] - B[r - ni + k, k]
            r = r - ni
        out[~valid] = -1
        return out

    def unrank(self, ranks: np.ndarray) -> np.ndarray:
        """Multi-indices (shape (N, K), int16) of the global numbers ranks."""
        ranks = np.asarray(ranks, dtype=np.int64)
        K, L, B = self.n_modes, self.depth, self._binom
        if ranks.size and (ranks.min() < 0 or ranks.max() >= self.size):
            raise ValueError("rank out of range")
        tier = self.tier_of_rank(ranks)
        w = ranks - self.tier_offsets[tier]
        r = tier.astype(np.int64)
        out = np.zeros((ranks.size, K), dtype=np.int16)
        for i in range(K - 1):
            k = K - 1 - i
            below_all = B[r + k, k]
            ni = np.zeros_like(r)
            for v in range(1, L + 1):
                smaller = below_all - B[np.maximum(r - v, 0) + k, k]
                ni += (v <= r) & (smaller <= w)
            w = w - (below_all - B[r - ni + k, k])
            r = r - ni
            out[:, i] = ni
        out[:, K - 1] = r
        return out

    def partition(self, n_parts: int, weight_per_tier: np.ndarray | None = None) -> np.ndarray:
        """Split [0, size) into n_parts contiguous ranges of about equal weight.

        weight_per_tier[t]: cost of one ADO of tier t (e.g. its expected number of nonzero blocks);
        uniform if None. Returns boundaries b (length n_parts + 1), part p owns [b[p], b[p+1]).
        """
        counts = np.diff(self.tier_offsets)
        wt = np.ones(self.depth + 1) if weight_per_tier is None else np.asarray(weight_per_tier, float)
        cum_tier = np.concatenate([[0.0], np.cumsum(counts * wt)])
        targets = cum_tier[-1] * np.arange(n_parts + 1) / n_parts
        bounds = np.empty(n_parts + 1, dtype=np.int64)
        for p, target in enumerate(targets):
            t = min(int(np.searchsorted(cum_tier, target, side="right")) - 1, self.depth)
            within = (target - cum_tier[t]) / wt[t] if wt[t] > 0 else 0.0
            bounds[p] = min(self.tier_offsets[t] + int(round(within)), self.size)
        bounds[0], bounds[-1] = 0, self.size
        return np.maximum.accumulate(bounds)

    def expected_nonzero_modes(self) -> np.ndarray:
        """E[#{j : n_j > 0}] over the ADOs of each tier (for nonzero-balanced partitions)."""
        K = self.n_modes
        out = np.zeros(self.depth + 1)
        for t in range(1, self.depth + 1):
            zero_j = comb(t + K - 2, K - 2) / comb(t + K - 1, K - 1) if K > 1 else 0.0
            out[t] = K * (1.0 - zero_j)
        return out
