"""Compositions of an integer (pure numpy): counts, ranks and weighted ranks, vectorised.

A composition of s into k parts is x in N^k with sum x = s; there are C(s + k - 1, k - 1). The
tier route's numbering (sectors.py) ranks an ADO's occupations within groups of modes as such
compositions: in descending lexicographic order (the largest first part first; hierarchy.py's
hockey-stick sums, reversed), or among those with a given weight sum_m p_m x_m (the group's share
of the move potential) by the table ``weighted_compositions``.
"""

from __future__ import annotations

from math import comb

import numpy as np


def binomials(n: int, k: int) -> np.ndarray:
    """C(a, b) for 0 <= a <= n, 0 <= b <= k (int64; 0 where b > a)."""
    table = np.zeros((n + 1, k + 1), dtype=np.int64)
    for a in range(n + 1):
        for b in range(min(a, k) + 1):
            table[a, b] = comb(a, b)
    return table


def compositions(B: np.ndarray, s, k: int):
    """Number of compositions of s into k parts, C(s + k - 1, k - 1) ([s == 0] for k = 0)."""
    s = np.asarray(s, dtype=np.int64)
    if k == 0:
        return (s == 0).astype(np.int64)
    return B[s + k - 1, k - 1]


def composition_unrank(B: np.ndarray, rank: np.ndarray, s: np.ndarray, k: int, smax: int) -> np.ndarray:
    """The compositions (N, k) of s into k parts with the descending-lexicographic ranks `rank`
    (the largest first part first; hierarchy.py's hockey-stick sums, reversed)."""
    w = compositions(B, s, k) - 1 - rank.astype(np.int64)      # ascending rank
    r = s.astype(np.int64).copy()
    out = np.zeros((rank.size, k), dtype=np.int64)
    for i in range(k - 1):
        kk = k - 1 - i
        below_all = B[r + kk, kk]
        xi = np.zeros_like(r)
        for v in range(1, smax + 1):
            xi += (v <= r) & (below_all - B[np.maximum(r - v, 0) + kk, kk] <= w)
        w -= below_all - B[r - xi + kk, kk]
        r -= xi
        out[:, i] = xi
    out[:, k - 1] = r
    return out


def weighted_compositions(p: np.ndarray, depth: int) -> np.ndarray:
    """C[i, s, w]: compositions of s into the parts i .. k-1 with sum_m p_m x_m = w (p: (k,) >= 0)."""
    k = p.size
    W = int(p.max(initial=0)) * depth
    C = np.zeros((k + 1, depth + 1, W + 1), dtype=np.int64)
    C[k, 0, 0] = 1
    for i in range(k - 1, -1, -1):
        for x in range(depth + 1):
            shift = int(p[i]) * x
            if shift > W:
                break
            C[i, x:, shift:] += C[i + 1, :depth + 1 - x, :W + 1 - shift]
    return C


def weighted_rank(C: np.ndarray, p: np.ndarray, x: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rank of the compositions x (N, k) among those with the same sum s and weight w = x . p,
    descending-lexicographic (the largest x_0 first)."""
    N, k = x.shape
    smax = C.shape[1] - 1
    W = C.shape[2] - 1
    out = np.zeros(N, dtype=np.int64)
    s, w = s.astype(np.int64).copy(), w.astype(np.int64).copy()
    for i in range(k - 1):
        xi = x[:, i]
        for v in range(1, smax + 1):
            rest_s, rest_w = s - v, w - int(p[i]) * v
            ok = (v > xi) & (rest_s >= 0) & (rest_w >= 0)
            if not ok.any():
                continue
            out += np.where(ok, C[i + 1, np.clip(rest_s, 0, smax), np.clip(rest_w, 0, W)], 0)
        s -= xi
        w -= int(p[i]) * xi
    return out
