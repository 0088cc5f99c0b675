"""KPI tables that are not single numbers: monthly returns and rolling Sharpe."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from stratlab.metrics.daily import daily_series
from stratlab.metrics.kpis import BacktestRecord
from stratlab.metrics.settings import KpiSettings, periods_per_year_for


def _daily_frame(result: BacktestRecord) -> pd.DataFrame:
    ts = result.candles.timestamp_ms[result.start : result.end]
    daily = daily_series(ts, result.equity, result.initial_equity)
    index = pd.DatetimeIndex(pd.to_datetime(daily.day_ms, unit="ms", utc=True))
    return pd.DataFrame({"equity": daily.equity, "pnl": daily.pnl, "return": daily.returns}, index=index)


def monthly_returns(result: BacktestRecord) -> pd.DataFrame:
    """Return % per calendar month (UTC): rows are years, columns 1..12, plus the year's total; NaN where no data.

    A month's return is its last day's equity over the previous month's last day's (the first month's over the
    initial equity), so months compound to the total return.
    """
    frame = _daily_frame(result)
    if frame.empty:
        return pd.DataFrame(columns=[*range(1, 13), "year"], dtype=float)
    days = pd.DatetimeIndex(frame.index)
    month_end = frame["equity"].groupby([days.year, days.month]).last()
    previous = month_end.shift(1).fillna(result.initial_equity)
    monthly = (month_end / previous - 1.0) * 100.0
    table = monthly.unstack().reindex(columns=range(1, 13))
    table.index.name = "year"
    table.columns.name = "month"
    year_end = frame["equity"].groupby(days.year).last()
    table["year"] = (year_end / year_end.shift(1).fillna(result.initial_equity) - 1.0) * 100.0
    return table


def rolling_sharpe(result: BacktestRecord, window_days: int = 30, settings: KpiSettings | None = None) -> pd.Series:
    """Sharpe of the last ``window_days`` daily returns, annualised like the record's; NaN until the window fills
    and where the window's returns do not vary."""
    frame = _daily_frame(result)
    periods = periods_per_year_for(result.candles.source, settings or KpiSettings())
    rolling = frame["return"].rolling(window_days, min_periods=window_days)
    std = rolling.std(ddof=1)
    sharpe = rolling.mean() / std.where(std > 0) * math.sqrt(periods)
    return sharpe.astype(np.float64).rename("rolling_sharpe")


__all__ = ["monthly_returns", "rolling_sharpe"]
