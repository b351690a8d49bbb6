"""nesb_hpc.sectors: the tier route's partition and its closed-form numbering, against brute force.

Oracles: the numbering is a bijection of the hierarchy onto 0 .. N-1 and every rank's ADOs fill
its own contiguous range (tier L first); every move points to a later row of the same rank; the
rows of equal move potential are contiguous inside each rank's tier (the levels the sweep solves on
slices); the closed-form per-rank counts (ADOs, blocks, ghosts, rows with moves) equal those of the
rows build_block_rows really makes; cyclic moves are refused with a message naming the route.
"""

from __future__ import annotations

import numpy as np
import pytest

from nesb_hpc.bath import Underdamped, drude_lorentz, exact_decomposition
from nesb_hpc.hierarchy import TierOrderedHierarchy
from nesb_hpc.liouvillian import HierarchyModes, build_block_rows
from nesb_hpc.sectors import (CyclicMoves, SectorPartition, mode_positions, move_pairs, moves_are_acyclic,
                              sector_groups)

from heom_helpers import paper_problem


def _all_rows(part: SectorPartition):
    idx = part.hier.unrank(np.arange(part.hier.size)).astype(np.int64)
    return idx, part.rows_of(idx)


def _problems():
    out = [("merged", paper_problem("merged", 5)), ("separate", paper_problem("separate", 3)),
           ("matsubara3", paper_problem("merged", 4, n_bose=3, decomposition="matsubara"))]
    dl = [exact_decomposition(drude_lorentz(0.05, 1.0).rational(), T, "pade", 2) for T in (1.0, 0.6)]
    modes = HierarchyModes.from_baths(dl, form="merged")
    out.append(("drude", (TierOrderedHierarchy(modes.size, 5), modes)))
    return [(name, p if isinstance(p, tuple) else (p.hier, p.modes)) for name, p in out]


PROBLEMS = _problems()


@pytest.mark.parametrize("name, problem", PROBLEMS, ids=[n for n, _ in PROBLEMS])
@pytest.mark.parametrize("ranks", [1, 2, 3, 7])
def test_numbering_is_a_bijection_with_moves_later_and_levels_contiguous(name, problem, ranks):
    hier, modes = problem
    part = SectorPartition.build(hier, modes, ranks)
    idx, rows = _all_rows(part)
    assert np.array_equal(np.sort(rows), np.arange(hier.size))
    owner = part.owner_of_rows(rows)
    phi = idx @ mode_positions(modes)
    for r in range(ranks):
        tb = part.tier_bounds(r)
        assert tb[-1] == part.ados(r)
        for i, t in enumerate(range(hier.depth, -1, -1)):
            mine = part.tier_ados(r, t)
            local = part.rows_of(mine) - part.offsets[r]
            assert np.array_equal(local, np.arange(tb[i], tb[i + 1]))       # tier t's rows, in order
            assert np.all(mine.sum(axis=1) == t)
            assert np.all(np.diff(mine @ mode_positions(modes)) >= 0)      # levels of phi contiguous
    assert np.array_equal(part.tier_of_rows(rows), idx.sum(axis=1))
    for j, k in move_pairs(modes):
        sel = idx[:, j] > 0
        nb = idx[sel].copy()
        nb[:, j] -= 1
        nb[:, k] += 1
        to = part.rows_of(nb)
        assert np.all(to > rows[sel]) and np.array_equal(part.owner_of_rows(to), owner[sel])
        assert np.all(nb @ mode_positions(modes) > phi[sel])


def _built_counts(hier, modes, pauli, part):
    """Per rank: ADOs, off-diagonal blocks, ghosts and rows with moves of the rows build_block_rows
    makes (the whole matrix at once; small problems)."""
    full = build_block_rows(hier, modes, pauli, 0, hier.size)
    idx, rows = _all_rows(part)
    owner = part.owner_of_rows(rows)
    brow = np.repeat(np.arange(hier.size), np.diff(full.indptr))
    off = full.cols != brow
    R = part.ranks
    ados = np.bincount(owner, minlength=R)
    blocks = np.bincount(owner[brow[off]], minlength=R)
    ghosts = [np.unique(full.cols[off & (owner[brow] == r)]) for r in range(R)]
    ghosts = np.array([int(np.sum(owner[g] != r)) for r, g in enumerate(ghosts)])
    sources = sorted({j for j, _ in move_pairs(modes)})
    moving = np.bincount(owner[np.any(idx[:, sources] > 0, axis=1)], minlength=R) if sources else np.zeros(R)
    return ados, blocks, ghosts, moving


@pytest.mark.parametrize("form, depth", [("merged", 5), ("separate", 3)])
@pytest.mark.parametrize("ranks", [1, 2, 5, 16])
def test_closed_form_counts_are_the_built_rows(form, depth, ranks):
    p = paper_problem(form, depth)
    part = SectorPartition.build(p.hier, p.modes, ranks)
    rc = part.rank_counts(p.modes)
    ados, blocks, ghosts, moving = _built_counts(p.hier, p.modes, p.pauli, part)
    assert np.array_equal(rc.ados, ados) and np.array_equal(rc.blocks, blocks)
    assert np.array_equal(rc.ghosts, ghosts) and np.array_equal(rc.move_rows, moving)
    assert rc.down_entries.sum() >= rc.down_blocks.sum()       # a block with Lc and A parts: 2 scalars


def test_the_tier_is_split_over_every_rank_by_whole_sectors():
    """Each rank holds a slice of every large tier (the sweep keeps all ranks busy), balanced by ADOs."""
    p = paper_problem("merged", 9)
    part = SectorPartition.build(p.hier, p.modes, 4)
    tiers = np.array([np.diff(part.tier_bounds(r))[::-1] for r in range(4)])    # (rank, tier)
    assert np.all(tiers[:, tiers.sum(axis=0) > 100] > 0)
    big = tiers.sum(axis=0) > 20000                  # whole sectors: balanced where there are many
    assert np.max(tiers[:, big].max(axis=0) / tiers[:, big].mean(axis=0)) < 1.05
    assert part.ados(0) + part.ados(1) + part.ados(2) + part.ados(3) == p.hier.size


def test_more_ranks_than_ados():
    p = paper_problem("merged", 1)
    part = SectorPartition.build(p.hier, p.modes, 64)
    assert part.offsets[-1] == p.hier.size and sum(part.ados(r) == 0 for r in range(64)) > 0
    idx, rows = _all_rows(part)
    assert np.array_equal(np.sort(rows), np.arange(p.hier.size))


def test_coarsened_groups_still_number_everything():
    """A small table budget joins the groups (fewer, larger sectors): still a bijection, moves later."""
    p = paper_problem("separate", 3)
    fine = sector_groups(p.modes, 3)
    coarse = sector_groups(p.modes, 3, max_table=20000)
    assert len(coarse) < len(fine)
    part = SectorPartition.build(p.hier, p.modes, 3, max_table=20000)
    idx, rows = _all_rows(part)
    assert np.array_equal(np.sort(rows), np.arange(p.hier.size))
    for j, k in move_pairs(p.modes):
        sel = idx[:, j] > 0
        nb = idx[sel].copy()
        nb[:, j] -= 1
        nb[:, k] += 1
        assert np.all(part.rows_of(nb) > rows[sel])


def test_cyclic_moves_are_refused_with_a_message():
    """Underdamped baths: their e^{-gt} cos/sin pairs move both ways."""
    baths = [exact_decomposition(Underdamped(alpha=0.2, omega0=1.0, gamma=0.4).rational(), T, "pade", 1)
             for T in (1.0, 0.5)]
    modes = HierarchyModes.from_baths(baths, form="merged")
    assert not moves_are_acyclic(modes)
    with pytest.raises(CyclicMoves, match='method = "tier".*underdamped.*"iterative"'):
        SectorPartition.build(TierOrderedHierarchy(modes.size, 3), modes, 2)
    assert isinstance(CyclicMoves("x"), ValueError)
    assert moves_are_acyclic(paper_problem("merged", 3).modes)


def test_the_tables_stay_small():
    """No table of the whole problem (the prototype kept 16 bytes per ADO on every rank): the
    numbering's tables are per sector and value of phi, ~L^6 entries where the ADOs grow ~L^10
    (paper's J, merged: 7 MiB at depth 16, 1.4 bytes per ADO; 18 MiB at depth 20, 0.6)."""
    per_ado = []
    for depth in (12, 16):
        p = paper_problem("merged", depth)
        part = SectorPartition.build(p.hier, p.modes, 2)
        per_ado.append(part.table_bytes() / p.n_ados)
    assert per_ado[1] < 2.0 and per_ado[1] < 0.5 * per_ado[0]
