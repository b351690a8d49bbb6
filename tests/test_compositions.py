"""nesb_hpc.compositions: counts, ranks and weighted ranks of compositions, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nesb_hpc.compositions import (binomials, composition_unrank, compositions, weighted_compositions,
                                   weighted_rank)


def _all(s: int, k: int) -> list[tuple[int, ...]]:
    return [x for x in itertools.product(range(s + 1), repeat=k) if sum(x) == s]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_counts_and_descending_lexicographic_unrank(k):
    B = binomials(12, 6)
    for s in range(6):
        brute = sorted(_all(s, k), reverse=True)                 # the largest first part first
        assert compositions(B, s, k) == len(brute)
        got = composition_unrank(B, np.arange(len(brute)), np.full(len(brute), s), k, 6)
        assert [tuple(row) for row in got] == brute
    assert compositions(B, 0, 0) == 1 and compositions(B, 2, 0) == 0


@pytest.mark.parametrize("p", [[0, 1, 2, 3], [0, 0, 1], [0], [1, 1, 2]])
def test_weighted_counts_and_ranks(p):
    """C[0, s, w] counts the compositions of s with weight w = x . p; the weighted rank numbers
    each (s, w) class 0, 1, ... in descending lexicographic order."""
    p = np.array(p)
    depth = 5
    C = weighted_compositions(p, depth)
    for s in range(depth + 1):
        xs = np.array(_all(s, p.size), dtype=np.int64)
        w = xs @ p
        for value in np.unique(w):
            cls = xs[w == value]
            assert C[0, s, value] == len(cls)
            order = sorted(range(len(cls)), key=lambda i: tuple(-cls[i]))
            ranks = weighted_rank(C, p, cls, np.full(len(cls), s), np.full(len(cls), value))
            assert np.array_equal(ranks[order], np.arange(len(cls)))
