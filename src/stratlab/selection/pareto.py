"""Pareto fronts of two objectives: maximise return, minimise drawdown (both in percent).

Conventions, shared by every function here:

- A point dominates another if its return is >= and its drawdown <= the other's, and it is strictly better in at least
  one of the two. Exact duplicates therefore do not dominate each other: every copy of a front point is on the front.
- A row with a NaN or infinite return or drawdown is never on the front and is never compared with the others; it is
  not an error either (a failed or degenerate trial is a normal outcome of a search).
- Fronts are listed by drawdown ascending, then return descending, then input index (so copies keep their input order).

Both functions are O(n log n): sort by drawdown, then sweep the best return seen so far (the two-objective case of
Kung, Luccio and Preparata's maxima algorithm; ``pareto_ranks`` adds the patience-sorting layer search of Jensen's
non-dominated sorting for two objectives). ``pareto_front`` on 5,000 points takes a few tenths of a millisecond.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


def _as_pair(returns_pct: ArrayLike, drawdowns_pct: ArrayLike) -> tuple[FloatArray, FloatArray]:
    returns = np.asarray(returns_pct, dtype=np.float64)
    drawdowns = np.asarray(drawdowns_pct, dtype=np.float64)
    if returns.ndim != 1 or drawdowns.ndim != 1:
        raise ValueError(
            f"returns_pct and drawdowns_pct must be 1-D (got shapes {returns.shape} and {drawdowns.shape})"
        )
    if returns.size != drawdowns.size:
        raise ValueError(f"returns_pct and drawdowns_pct differ in length ({returns.size} != {drawdowns.size})")
    return returns, drawdowns


def _sorted_finite(returns: FloatArray, drawdowns: FloatArray) -> Int64Array:
    """Indices of the finite rows by drawdown ascending, return descending, index ascending (lexsort is stable)."""
    finite = np.flatnonzero(np.isfinite(returns) & np.isfinite(drawdowns))
    order = np.lexsort((-returns[finite], drawdowns[finite]))
    return finite[order].astype(np.int64)


def pareto_front(returns_pct: ArrayLike, drawdowns_pct: ArrayLike) -> Int64Array:
    """Indices of the non-dominated points (maximise return, minimise drawdown), ordered by drawdown then return desc.

    A point dominates another if it is >= in return and <= in drawdown and strictly better in one. Exact duplicates
    do not dominate each other: all copies are on the front. NaN/inf rows are never on the front (and are not an
    error). Inputs must be 1-D and of equal length (``ValueError`` otherwise).
    """
    returns, drawdowns = _as_pair(returns_pct, drawdowns_pct)
    finite = np.flatnonzero(np.isfinite(returns) & np.isfinite(drawdowns))
    # One unstable sort on drawdown only (lexsort on both keys is several times slower): within a run of equal
    # drawdowns only copies of the run's best point can survive, so their order is settled at the end.
    idx = finite[np.argsort(drawdowns[finite])]
    if idx.size == 0:
        return idx.astype(np.int64)
    r, d = returns[idx], drawdowns[idx]
    new_group = np.concatenate(([True], d[1:] != d[:-1]))
    starts = np.flatnonzero(new_group)
    group = np.cumsum(new_group) - 1
    best_in_group = np.maximum.reduceat(r, starts)
    # Best return over every strictly lower drawdown: one equal to ours already dominates us (same return, lower DD).
    best_below = np.concatenate(([-np.inf], np.maximum.accumulate(best_in_group)[:-1]))
    on_front = (r == best_in_group[group]) & (r > best_below[group])
    front: Int64Array = idx[on_front].astype(np.int64)
    front_dd = drawdowns[front]
    if np.any(front_dd[1:] == front_dd[:-1]):  # copies on the front: put them in input order
        front = front[np.lexsort((front, front_dd))]
    return front


def pareto_ranks(returns_pct: ArrayLike, drawdowns_pct: ArrayLike) -> Int64Array:
    """Non-dominated sorting layer of every row: 0 = the front, 1 = the front once layer 0 is removed, and so on.

    Copies of a point share its rank. NaN/inf rows get -1. ``pareto_ranks(r, d) == 0`` selects exactly the rows of
    ``pareto_front(r, d)``.
    """
    returns, drawdowns = _as_pair(returns_pct, drawdowns_pct)
    ranks = np.full(returns.size, -1, dtype=np.int64)
    idx = _sorted_finite(returns, drawdowns)
    if idx.size == 0:
        return ranks
    r, d = returns[idx], drawdowns[idx]
    # Collapse exact copies first: once they are gone, in this order a row is dominated by an earlier row exactly
    # when that row's return is >= its own, and never by a later one.
    is_new = np.concatenate(([True], (d[1:] != d[:-1]) | (r[1:] != r[:-1])))
    copy_of = np.cumsum(is_new) - 1
    distinct_returns: list[float] = r[is_new].tolist()
    # neg_best[k] = -(best return in layer k so far); it is non-decreasing in k, so the layer a row joins (the first
    # whose best return is below its own) is found by bisection.
    neg_best: list[float] = []
    distinct_ranks = np.empty(len(distinct_returns), dtype=np.int64)
    for j, value in enumerate(distinct_returns):
        layer = bisect_right(neg_best, -value)
        if layer == len(neg_best):
            neg_best.append(-value)
        else:
            neg_best[layer] = -value
        distinct_ranks[j] = layer
    ranks[idx] = distinct_ranks[copy_of]
    return ranks


__all__ = ["pareto_front", "pareto_ranks"]
