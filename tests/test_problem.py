"""nesb_hpc.problem: a point's parts built once from an input and a request."""

from __future__ import annotations

import numpy as np

from nesb_hpc.bath import RationalCutoff, exact_decomposition
from nesb_hpc.config import parse_config
from nesb_hpc.problem import Problem, bath_of, coupling_vectors, spec_of
from nesb_hpc.study import Request


def test_from_request_is_the_parts_built_by_hand():
    cfg = parse_config({"model": {"alpha1": 0.1, "alpha2": 0.3, "theta": "pi/3", "T1": 2.0, "T2": 0.5},
                        "bath": {"n_bose": 2}, "hierarchy": {"depth": 3, "modes": "merged"}})
    p = Problem.from_request(cfg, Request(cfg.model, 5, 1))
    assert p.spec.depth == 5 and p.spec.modes == "merged"
    for dec, alpha, T in zip(p.baths, (0.1, 0.3), (2.0, 0.5)):
        ref = exact_decomposition(RationalCutoff(alpha=alpha).rational(), T, "pade", 1)   # the rung's n_bose
        t = np.linspace(0, 10, 7)
        assert np.allclose(dec.correlation(t), ref.correlation(t), rtol=1e-14, atol=0)
    assert np.allclose(coupling_vectors(cfg.model), [[1, 0, 0], [np.sin(np.pi / 3), 0, np.cos(np.pi / 3)]])
    assert p.modes.size == 2 * (4 + 1) and p.hier.size == p.n_ados == 3003
    assert bath_of(cfg, 2) is cfg.bath and bath_of(cfg, 4).n_bose == 4
    assert spec_of(cfg, 7).depth == 7 and spec_of(cfg, 7).matrix_type == "aij"
