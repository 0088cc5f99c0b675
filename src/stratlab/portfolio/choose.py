"""Which candidates make the portfolio: the subset with the highest Sharpe ratio whose members are not too alike.

The rule: among the candidates (columns of a days × candidates matrix of daily returns, every column varying), choose
the subset whose portfolio (weights by the ``WeightRule`` on that subset, rebalanced daily) has the highest Sharpe
ratio, subject to every pair of members having a Pearson correlation of daily returns at most ``max_corr``. The cap
is on the signed correlation: two strategies that move against each other diversify, and are allowed.

- Exact search (up to ``EXACT_SEARCH_LIMIT`` candidates): every subset that keeps the cap is scored, by a
  depth-first walk that never extends a subset with a candidate too correlated with one of its members (at most
  2^15 − 1 subsets). Ties go to the smaller subset, then to the subset met first (candidates in column order).
- Greedy forward selection (more candidates): start from the best single candidate; at each step add the candidate,
  correlated at most ``max_corr`` with every member, that raises the portfolio's Sharpe ratio most; stop when none
  raises it. It can miss the best subset (a pair that only pays together), which the exact search would find.

A subset's Sharpe ratio comes from the candidates' mean vector and sample covariance matrix (ddof 1): the
portfolio's mean is ``w·μ`` and its sample variance ``wᵀΣw``, exactly those of the weighted daily series, without
building that series for each of the thousands of subsets.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratlab.errors import ConfigError
from stratlab.portfolio.figures import flat_columns
from stratlab.portfolio.weights import WeightRule, inverse_volatility_weights

FloatArray = npt.NDArray[np.float64]
EXACT_SEARCH_LIMIT = 15
# Two subsets whose Sharpe ratios differ by less than this (relative) are a tie: float sums in another order.
SHARPE_TIE_RTOL = 1e-12


class SearchMethod(enum.StrEnum):
    EXACT = "exact"
    GREEDY = "greedy"


@dataclass(frozen=True)
class MemberChoice:
    """The chosen columns (in column order), their weights, the portfolio's annualised Sharpe ratio, how it was
    searched, and how many subsets were scored."""

    members: tuple[int, ...]
    weights: FloatArray
    sharpe: float
    method: SearchMethod
    subsets_scored: int


class _Moments:
    """The per-day mean, sample covariance, std and correlation of every candidate."""

    def __init__(self, returns: FloatArray, rule: WeightRule) -> None:
        self.mean = returns.mean(axis=0)
        self.covariance = np.atleast_2d(np.cov(returns, rowvar=False, ddof=1))
        self.std = np.sqrt(np.diag(self.covariance))
        self.correlation = self.covariance / np.outer(self.std, self.std)
        self.rule = rule

    def weights(self, subset: tuple[int, ...]) -> FloatArray:
        if self.rule == WeightRule.EQUAL:
            return np.full(len(subset), 1.0 / len(subset))
        return inverse_volatility_weights(self.std[list(subset)])

    def sharpe(self, subset: tuple[int, ...]) -> float | None:
        """Per-day Sharpe ratio of the subset's portfolio; None when its returns cancel out to no variance."""
        index = list(subset)
        w = self.weights(subset)
        variance = float(w @ self.covariance[np.ix_(index, index)] @ w)
        if variance <= 0:
            return None
        return float(w @ self.mean[index]) / math.sqrt(variance)


def check_returns(returns: FloatArray) -> None:
    """A days × candidates matrix of finite returns, two days at least, every column varying."""
    if returns.ndim != 2 or returns.shape[1] == 0:
        raise ConfigError("returns: expected a days × candidates matrix with at least one candidate")
    if returns.shape[0] < 2:
        raise ConfigError(f"returns: at least 2 days are needed, got {returns.shape[0]}")
    if not np.all(np.isfinite(returns)):
        raise ConfigError("returns: every daily return must be a finite number")
    flat = flat_columns(returns)
    if flat.size:
        raise ConfigError(f"returns: candidate column {int(flat[0])} does not vary, so it has no Sharpe ratio")


def choose_members(
    returns: FloatArray,
    *,
    max_corr: float,
    rule: WeightRule,
    periods_per_year: int,
    exact_limit: int = EXACT_SEARCH_LIMIT,
) -> MemberChoice:
    """The subset of the columns of ``returns`` with the highest Sharpe ratio under the correlation cap (see the
    module): exact search up to ``exact_limit`` candidates, greedy forward selection above."""
    if not -1.0 <= max_corr <= 1.0:
        raise ConfigError(f"max_corr: a correlation between -1 and 1, got {max_corr}")
    check_returns(returns)
    moments = _Moments(returns, rule)
    compatible = moments.correlation <= max_corr
    n_candidates = returns.shape[1]
    if n_candidates <= exact_limit:
        members, sharpe, scored = _exact_search(moments, compatible)
        method = SearchMethod.EXACT
    else:
        members, sharpe, scored = _greedy_search(moments, compatible)
        method = SearchMethod.GREEDY
    return MemberChoice(
        members=members,
        weights=moments.weights(members),
        sharpe=sharpe * math.sqrt(periods_per_year),
        method=method,
        subsets_scored=scored,
    )


def _better(sharpe: float, size: int, best_sharpe: float, best_size: int) -> bool:
    """A higher Sharpe ratio wins; at a tie, fewer members."""
    tolerance = SHARPE_TIE_RTOL * max(1.0, abs(best_sharpe))
    if sharpe > best_sharpe + tolerance:
        return True
    return abs(sharpe - best_sharpe) <= tolerance and size < best_size


def _subsets_under_cap(compatible: npt.NDArray[np.bool_]) -> Iterator[tuple[int, ...]]:
    """Every non-empty subset whose pairs are all compatible, depth first in column order."""
    n = compatible.shape[0]

    def extend(subset: tuple[int, ...], start: int) -> Iterator[tuple[int, ...]]:
        for column in range(start, n):
            if all(compatible[member, column] for member in subset):
                grown = (*subset, column)
                yield grown
                yield from extend(grown, column + 1)

    return extend((), 0)


def _exact_search(moments: _Moments, compatible: npt.NDArray[np.bool_]) -> tuple[tuple[int, ...], float, int]:
    best: tuple[int, ...] = ()
    best_sharpe, best_size = -math.inf, compatible.shape[0] + 1  # any scored subset beats "nothing yet"
    scored = 0
    for subset in _subsets_under_cap(compatible):
        scored += 1
        sharpe = moments.sharpe(subset)
        if sharpe is not None and _better(sharpe, len(subset), best_sharpe, best_size):
            best, best_sharpe, best_size = subset, sharpe, len(subset)
    return best, best_sharpe, scored


def _greedy_search(moments: _Moments, compatible: npt.NDArray[np.bool_]) -> tuple[tuple[int, ...], float, int]:
    n = compatible.shape[0]
    # Every column varies (check_returns), so every single candidate has a Sharpe ratio.
    singles = [moments.sharpe((column,)) or 0.0 for column in range(n)]
    start = max(range(n), key=lambda column: (singles[column], -column))  # ties: the first column
    members: tuple[int, ...] = (start,)
    sharpe, scored = singles[start], n
    while True:
        best_add, best_sharpe = None, sharpe
        for column in range(n):
            if column in members or not all(compatible[member, column] for member in members):
                continue
            grown = tuple(sorted((*members, column)))
            scored += 1
            candidate = moments.sharpe(grown)
            if candidate is not None and candidate > best_sharpe + SHARPE_TIE_RTOL * max(1.0, abs(best_sharpe)):
                best_add, best_sharpe = column, candidate
        if best_add is None:
            return members, sharpe, scored
        members, sharpe = tuple(sorted((*members, best_add))), best_sharpe


__all__ = ["EXACT_SEARCH_LIMIT", "MemberChoice", "SearchMethod", "check_returns", "choose_members"]
