"""How a portfolio's members share its capital: equally, or in inverse proportion to their daily volatility.

Weights are fixed fractions that sum to 1, held by rebalancing every day: the portfolio's return on a day is the
weighted sum of its members' returns that day.
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

from stratlab.errors import ConfigError
from stratlab.portfolio.figures import flat_columns

FloatArray = npt.NDArray[np.float64]


class WeightRule(enum.StrEnum):
    """``equal``: 1/k each; ``inverse-vol``: (1/σ_i) / Σ_j (1/σ_j), σ the sample std (ddof 1) of daily returns."""

    EQUAL = "equal"
    INVERSE_VOL = "inverse-vol"


def weights_for(returns: FloatArray, rule: WeightRule) -> FloatArray:
    """The weights of the columns of ``returns`` (days × members) under ``rule``; they sum to 1."""
    n_members = returns.shape[1]
    if n_members == 0:
        raise ConfigError("weights: a portfolio needs at least one member")
    if rule == WeightRule.EQUAL:
        return np.full(n_members, 1.0 / n_members)
    if flat_columns(returns).size:
        raise ConfigError("weights: inverse-vol needs members whose daily returns vary")
    return inverse_volatility_weights(returns.std(axis=0, ddof=1))


def inverse_volatility_weights(std: FloatArray) -> FloatArray:
    """Each member in proportion to 1/σ, so each brings about the same risk when they are uncorrelated."""
    if std.size == 0 or not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ConfigError("weights: inverse-vol needs members whose daily returns vary")
    inverse = 1.0 / std
    weights: FloatArray = inverse / inverse.sum()
    return weights


def portfolio_returns(returns: FloatArray, weights: FloatArray) -> FloatArray:
    """The daily returns of the portfolio rebalanced to ``weights`` every day: Σ_i w_i · r_i,t."""
    combined: FloatArray = returns @ weights
    return combined


__all__ = ["WeightRule", "inverse_volatility_weights", "portfolio_returns", "weights_for"]
