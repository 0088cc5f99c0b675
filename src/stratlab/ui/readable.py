"""Backtest tables as people read them: UTC date-times, long/short, per-trade return %, exit reasons by name, and the
months a part covers only partly.

The engine's trade records keep machine values (epoch ms, +1/-1, reason codes); the UI shows this view of them.
Numbers stay numbers (the table sorts by them); the page formats them with thousands separators.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stratlab.data.timeframes import DAY_MS
from stratlab.engine import BacktestResult

SIDE_NAMES = {1: "long", -1: "short"}


def utc_times(ms: pd.Series) -> pd.Series:
    """Epoch milliseconds as UTC date-times."""
    return pd.to_datetime(ms, unit="ms", utc=True)


def trade_return_pct(trades: pd.DataFrame) -> pd.Series:
    """A trade's net PnL (fees and funding paid) as a percent of its notional at the average entry price."""
    notional = trades["size"] * trades["entry_price"]
    return (trades["pnl"] / notional.where(notional > 0) * 100.0).astype(float)


def trades_table(result: BacktestResult) -> pd.DataFrame:
    """One row per trade, in exit order, for people (see the module notes)."""
    trades = result.trades
    return pd.DataFrame(
        {
            "entry (UTC)": utc_times(trades["entry_time_ms"]),
            "exit (UTC)": utc_times(trades["exit_time_ms"]),
            "side": trades["side"].map(SIDE_NAMES),
            "size": trades["size"],
            "entry price": trades["entry_price"],
            "exit price": trades["exit_price"],
            "return %": trade_return_pct(trades),
            "PnL": trades["pnl"],
            "fees": trades["fees"],
            "funding": trades["funding"],
            "bars held": trades["bars_held"],
            "adds": trades["adds"],
            "exit": trades["exit_reason"].str.replace("_", " "),
        }
    )


def readable_value(value: object) -> str:
    """A parameter's value for a table: a float to 6 significant digits (a searched 4.576681077189211 reads 4.57668),
    an integer with thousands separators, anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"


def partial_months(result: BacktestResult) -> set[tuple[int, int]]:
    """(year, month) of the first and last months the backtest's bars cover only in part: a heat map cell over a
    few days is not a month's return."""
    stamps = result.timestamp_ms
    if stamps.size == 0:
        return set()
    first = pd.Timestamp(int(stamps[0]), unit="ms", tz="UTC")
    last_bar_end = pd.Timestamp(int(stamps[-1]) + _bar_ms(stamps), unit="ms", tz="UTC")
    partial = set()
    if first != first.normalize().replace(day=1):
        partial.add((first.year, first.month))
    month_after = (last_bar_end - pd.Timedelta(milliseconds=1)).normalize().replace(day=1) + pd.DateOffset(months=1)
    if last_bar_end < month_after:
        last_month = last_bar_end - pd.Timedelta(milliseconds=1)
        partial.add((last_month.year, last_month.month))
    return partial


def _bar_ms(stamps: np.ndarray) -> int:
    """The bar length: the smallest step between bars (a day for a single bar, which cannot tell)."""
    return int(np.diff(stamps).min()) if stamps.size > 1 else DAY_MS


__all__ = ["SIDE_NAMES", "partial_months", "readable_value", "trade_return_pct", "trades_table", "utc_times"]
