"""A bounded one-dimensional maximiser that is honest at the bounds (optimize_theta's search).
Pure; no MPI, no PETSc."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


class EvaluationFailed(Exception):
    """An evaluation a task cannot do without did not converge (the task records it)."""


@dataclass(frozen=True)
class Maximum:
    """Result of maximize_bounded: the best x and f(x) seen, where it lies, every evaluation."""

    x: float
    f: float
    at_bound: str                               # "lower", "upper" or ""
    evaluations: tuple[tuple[float, float], ...]  # (x, f) in evaluation order


def maximize_bounded(f: Callable[[float], float], lo: float, hi: float, xtol: float,
                     n_grid: int = 5) -> Maximum:
    """Maximise f on [lo, hi] to about xtol, honest at the bounds.

    1. Scan n_grid equally spaced points, both bounds included.
    2. Refine with Brent's bounded method (scipy's "bounded" minimize_scalar, xatol = xtol) on the
       bracket [x_{i-1}, x_{i+1}] of the best grid point x_i (clipped to [lo, hi]).
    3. Report the best point ever evaluated. A maximum at a bound is reported exactly at the bound
       (the bound itself was evaluated in step 1; Brent never evaluates the bracket's ends).
    f is called at most once per distinct x; its exceptions propagate. Deterministic.
    """
    from scipy.optimize import minimize_scalar

    if not lo < hi:
        raise ValueError(f"empty interval [{lo}, {hi}]")
    memo: dict[float, float] = {}
    order: list[float] = []

    def F(x: float) -> float:
        x = float(x)
        if x not in memo:
            value = float(f(x))
            if not math.isfinite(value):
                raise EvaluationFailed(f"f({x:.6g}) = {value}")
            memo[x] = value
            order.append(x)
        return memo[x]

    grid = [lo + (hi - lo) * i / (n_grid - 1) for i in range(n_grid)]
    grid[-1] = hi
    values = [F(x) for x in grid]
    i = int(np.argmax(values))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, n_grid - 1)]
    minimize_scalar(lambda x: -F(x), bounds=(a, b), method="bounded", options={"xatol": xtol})
    # best value; ties go to the smaller x (deterministic)
    x_best = min(memo, key=lambda x: (-memo[x], x))
    at_bound = "lower" if x_best == lo else "upper" if x_best == hi else ""
    return Maximum(x_best, memo[x_best], at_bound, tuple((x, memo[x]) for x in order))


