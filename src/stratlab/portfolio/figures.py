"""The figures of a daily return series: equity, drawdown, annual return, volatility, Sharpe ratio and beta.

Conventions, the KPI record's (``stratlab.metrics``) applied to one return per UTC day:

- equity starts at 1 before the first day and compounds each day's return: ``E_t = Π (1 + r_s)`` for s ≤ t;
- drawdown on day t is ``1 − E_t / max(1, E_1 … E_t)`` in percent (the initial equity is the first peak); sampled
  once a day, so it is never deeper than the per-bar drawdown of the backtests behind it;
- annual return is the CAGR ``E_T ^ (periods per year / days) − 1``, undefined at or below zero equity;
- volatility is the sample standard deviation (ddof 1) times √(periods per year); the Sharpe ratio is
  ``stratlab.selection.overfitting.sharpe_ratio`` (mean over sample std, no risk-free rate) times √(periods per
  year), as the KPI record annualises it;
- beta is ``cov(r, b) / var(b)`` of the daily returns ``r`` against a benchmark's ``b`` on the same days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratlab.selection.overfitting import sharpe_ratio

FloatArray = npt.NDArray[np.float64]


def flat_columns(returns: FloatArray) -> npt.NDArray[np.intp]:
    """Columns whose every value is the same: no Sharpe ratio, no correlation (compared exactly, as a standard
    deviation of a constant column can come out a rounding error above zero)."""
    return np.flatnonzero(np.ptp(returns, axis=0) == 0)


def annualised_sharpe(returns: FloatArray, periods_per_year: int) -> float | None:
    """Mean over sample std of daily returns, times √(periods per year); None without variance."""
    per_period = sharpe_ratio(returns)
    return None if per_period is None else per_period * math.sqrt(periods_per_year)


def equity_curve(returns: FloatArray) -> FloatArray:
    """The equity after each day, from 1 before the first day."""
    equity: FloatArray = np.cumprod(1.0 + np.asarray(returns, dtype=np.float64), dtype=np.float64)
    return equity


def drawdown_pct(equity: FloatArray) -> FloatArray:
    """How far each day's equity is below the highest equity so far (the initial 1 included), in percent."""
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    drawdown: FloatArray = (1.0 - equity / peak) * 100.0
    return drawdown


def compound_annual_return_pct(final_equity: float, n_days: int, periods_per_year: int) -> float | None:
    """CAGR in percent; None without days, at or below zero equity, or beyond a float."""
    if n_days <= 0 or final_equity <= 0:
        return None
    try:
        return (float(final_equity ** (periods_per_year / n_days)) - 1.0) * 100.0
    except OverflowError:
        return None


def beta(returns: FloatArray, benchmark: FloatArray) -> float | None:
    """cov(returns, benchmark) / var(benchmark); None under two days or for a benchmark that does not move."""
    if returns.size < 2:
        return None
    centred = benchmark - benchmark.mean()
    variance = float(np.mean(centred**2))
    if variance <= 0:
        return None
    return float(np.mean(centred * (returns - returns.mean()))) / variance


@dataclass(frozen=True)
class ReturnFigures:
    """The headline figures of a daily return series (see the module's conventions)."""

    n_days: int
    total_return_pct: float
    annual_return_pct: float | None
    annual_volatility_pct: float
    sharpe: float | None
    max_drawdown_pct: float


def return_figures(returns: FloatArray, periods_per_year: int) -> ReturnFigures:
    values = np.asarray(returns, dtype=np.float64)
    equity = equity_curve(values)
    final = float(equity[-1]) if equity.size else 1.0
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return ReturnFigures(
        n_days=int(values.size),
        total_return_pct=(final - 1.0) * 100.0,
        annual_return_pct=compound_annual_return_pct(final, int(values.size), periods_per_year),
        annual_volatility_pct=std * math.sqrt(periods_per_year) * 100.0,
        sharpe=annualised_sharpe(values, periods_per_year),
        max_drawdown_pct=float(drawdown_pct(equity).max()) if equity.size else 0.0,
    )


__all__ = [
    "ReturnFigures",
    "annualised_sharpe",
    "beta",
    "compound_annual_return_pct",
    "drawdown_pct",
    "equity_curve",
    "flat_columns",
    "return_figures",
]
