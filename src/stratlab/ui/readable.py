"""Backtest tables as people read them: UTC date-times, long/short, per-trade return %, exit reasons by name, and the
months a part covers only partly.

The engine's trade records keep machine values (epoch ms, +1/-1, reason codes); the UI shows this view of them.
Numbers stay numbers (the table sorts by them); the page formats them with thousands separators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from stratlab.data.dates import format_ms
from stratlab.data.timeframes import DAY_MS
from stratlab.engine import BacktestResult
from stratlab.metrics import Kpis
from stratlab.optimize.backtest_space import SEARCHED_BACKTEST
from stratlab.strategies import get_strategy

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


def params_of(text: object) -> dict[str, Any]:
    """A trial's parameters from a table cell (JSON text of an object); anything else (a damaged cell) is no
    parameters, so the row still shows."""
    try:
        params = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def readable_value(value: object) -> str:
    """A parameter's value for a table: a float to 6 significant digits (a searched 4.576681077189211 reads 4.57668),
    an integer with thousands separators, anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"


def parameters_table(strategy: str, params: Mapping[str, Any], searched: Mapping[str, Any]) -> pd.DataFrame:
    """A trial's parameters for people: the strategy's, then the backtest settings the run searched for it (TP, SL,
    position mode and that mode's settings), each with what it means (its spec's description)."""
    specs = {spec.name: spec for spec in get_strategy(strategy).space.params}
    settings = {spec.name: spec for spec in SEARCHED_BACKTEST.params}
    rows = [
        {"parameter": name, "value": readable_value(value), "searched as": "strategy",
         "meaning": specs[name].description if name in specs else ""}
        for name, value in params.items()
    ] + [
        {"parameter": name, "value": readable_value(value), "searched as": "backtest setting",
         "meaning": settings[name].description if name in settings else ""}
        for name, value in searched.items()
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["parameter", "value", "searched as", "meaning"])


def validity_text(kpis: Kpis) -> str:
    """ "valid", or "invalid: " and why (too few trades, too few active days, ...)."""
    if kpis["is_valid"]:
        return "valid"
    return "invalid: " + ("; ".join(kpis["invalid_reasons"]) or "no reason recorded")


def period_text(first_bar_ms: int, last_bar_ms: int) -> str:
    """A dataset's period from its first to its last bar, in UTC."""
    return f"{format_ms(first_bar_ms)} → {format_ms(last_bar_ms)}"


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


__all__ = [
    "SIDE_NAMES",
    "parameters_table",
    "params_of",
    "partial_months",
    "period_text",
    "readable_value",
    "trade_return_pct",
    "trades_table",
    "utc_times",
    "validity_text",
]
