"""nesb_hpc.sweep_rows: a rank's rows of the Liouvillian as scalar CSR pieces (pure; no PETSc).

Oracle: liouvillian.build_block_rows, the rows the assembled routes use (itself checked entry by
entry against a dense complex construction, tests/physics/test_liouvillian_dense.py). Every rank's
pieces are built here in one process and applied with numpy, (S X) M^T per kind plus the diagonal
and the moves; the product must equal the assembled Liouvillian's in the sector numbering on every
rank count (1e-13 relative), and the stored pieces must be what the memory model counts.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nesb_hpc.bath import drude_lorentz, exact_decomposition
from nesb_hpc.hierarchy import TierOrderedHierarchy
from nesb_hpc.liouvillian import HierarchyModes, build_block_rows
from nesb_hpc.pauli import PauliBlocks, bloch_vector
from nesb_hpc.sectors import SectorPartition, mode_positions
from nesb_hpc.sweep_rows import build_sweep_rows

from heom_helpers import paper_problem


def apply_rows(rows, X: np.ndarray) -> np.ndarray:
    """L x on one rank from its SweepRows (X: every ADO's 4 unknowns, in rows' global numbering)."""
    E = np.concatenate([X[rows.row0:rows.row0 + rows.n], X[rows.ghosts]])
    Y = E[:rows.n] @ rows.LH.T + rows.d[:, None] * E[:rows.n]
    for tr in rows.tiers:
        for *_, M, S in tr.up:
            Y[tr.r0:tr.r1] += (S @ E) @ M.T
        for M, S in tr.down:
            Y[tr.r0:tr.r1] += (S @ E) @ M.T
        for S in tr.moves:
            Y[tr.r0:tr.r1] += S @ E
    return Y


def _drude():
    baths = [exact_decomposition(drude_lorentz(0.5, 1.0).rational(), T, "pade", 2) for T in (1.0, 0.6)]
    modes = HierarchyModes.from_baths(baths, form="merged")
    pauli = PauliBlocks.build(0.1, np.array([bloch_vector(np.pi / 2), bloch_vector(0.4, 0.3)]))
    return TierOrderedHierarchy(modes.size, 4), modes, pauli


CASES = {"merged": lambda: (lambda p: (p.hier, p.modes, p.pauli))(paper_problem("merged", 5, alpha=4.0)),
         "separate": lambda: (lambda p: (p.hier, p.modes, p.pauli))(paper_problem("separate", 3, alpha=4.0)),
         "drude": _drude}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("ranks", [1, 2, 5])
def test_pieces_apply_the_liouvillian(case, ranks):
    hier, modes, pauli = CASES[case]()
    part = SectorPartition.build(hier, modes, ranks)
    N = hier.size
    full = build_block_rows(hier, modes, pauli, 0, N)
    L = sp.bsr_matrix((full.values, full.cols, full.indptr), shape=(4 * N, 4 * N)).tocsr()
    ado_rows = part.rows_of(hier.unrank(np.arange(N)))          # ADO number -> row
    x = np.random.default_rng(3).standard_normal((N, 4))
    want = (L @ x.reshape(-1)).reshape(N, 4)
    X = np.empty_like(x)
    X[ado_rows] = x                                             # in the sector numbering
    got = np.empty_like(x)
    for r in range(ranks):
        rows = build_sweep_rows(hier, modes, pauli, part, r)
        got[rows.row0:rows.row0 + rows.n] = apply_rows(rows, X)
        # ghosts: off-rank rows, sorted by tier and row, with tier bounds
        assert np.all((rows.ghosts < rows.row0) | (rows.ghosts >= rows.row0 + rows.n))
        gt = part.tier_of_rows(rows.ghosts)
        assert np.all(np.diff(gt) >= 0) and np.array_equal(np.searchsorted(gt, np.arange(hier.depth + 2)),
                                                           rows.ghost_tier_bounds)
        # levels: contiguous rows of one phi each, ascending, covering the tier (t > 0 with moves)
        for tr in rows.tiers:
            if tr.levels:
                assert tr.levels[0][0] == tr.r0 and tr.levels[-1][1] == tr.r1
                assert all(a1 == b0 for (_, a1, _), (b0, _, _) in zip(tr.levels[:-1], tr.levels[1:]))
        if rows.r00 >= 0:
            assert rows.row0 + rows.r00 == part.rows_of(np.zeros((1, modes.size), dtype=np.int64))[0]
    assert np.max(np.abs(got[ado_rows] - want)) <= 1e-13 * np.max(np.abs(want))


def test_stored_pieces_are_what_the_memory_model_counts():
    """12 bytes per stored scalar (value + int32 column), the closed-form counts of the partition."""
    p = paper_problem("merged", 6)
    part = SectorPartition.build(p.hier, p.modes, 3)
    rc = part.rank_counts(p.modes)
    for r in range(3):
        rows = build_sweep_rows(p.hier, p.modes, p.pauli, part, r)
        assert rows.stored_scalars() == rc.up_blocks[r] + rc.down_entries[r] + rc.move_blocks[r]
        assert rows.n_ghosts == rc.ghosts[r] and rows.n == rc.ados[r]
        for tr in rows.tiers:
            for S in tr.matrices():
                assert S.indices.dtype == np.int32 and S.data.dtype == np.float64
        per_scalar = (rows.nbytes() - rows.d.nbytes - rows.ghosts.nbytes) / rows.stored_scalars()
        assert 12.0 <= per_scalar < 16.0


def test_up_entries_hold_every_up_mode_in_order():
    """The pivots' Schur updates read the mode of each up entry from its position in the row."""
    p = paper_problem("merged", 4)
    part = SectorPartition.build(p.hier, p.modes, 1)
    rows = build_sweep_rows(p.hier, p.modes, p.pauli, part, 0)
    pos = mode_positions(p.modes)
    assert pos.max() > 0
    for tr in rows.tiers:
        for bath, js, _, S in tr.up:
            assert tr.t < p.hier.depth and np.all(np.diff(S.indptr) == js.size)
            assert np.all(p.modes.bath[js] == bath)
        if tr.t == p.hier.depth:
            assert not tr.up
