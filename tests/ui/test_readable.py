"""Backtest tables as people read them, checked against the engine's raw records and the calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.metrics.tables import monthly_returns
from stratlab.strategies import get_strategy
from stratlab.ui.charts import monthly_figure
from stratlab.ui.readable import partial_months, readable_value, trades_table


def backtest(demo_root: Path, start: str, end: str) -> BacktestResult:
    candles = load_ohlcv("demo", "BTC", "5m", start, end, data_root=demo_root)
    strategy = get_strategy("rsi_reversion")
    params = strategy.space.defaults()
    config = BacktestConfig(fee_bps=5.0)
    return run_backtest(candles, strategy.signals(candles, params), config)


def test_trades_read_as_utc_times_sides_and_returns_on_notional(demo_root: Path) -> None:
    result = backtest(demo_root, "2025-02-01", "2025-02-28")
    raw = result.trade_rows
    table = trades_table(result)
    assert len(table) == raw.shape[0] > 10
    # Times: the bar open times of the entry and exit bars, as UTC date-times.
    first = table.iloc[0]
    entry_ms = int(result.candles.timestamp_ms[raw["entry_bar"][0]])
    assert first["entry (UTC)"] == pd.Timestamp(datetime.fromtimestamp(entry_ms / 1000, tz=UTC))
    assert str(table["entry (UTC)"].dt.tz) == "UTC"
    # Sides by name, both present in a "both directions" run, and nothing else.
    assert set(table["side"]) == {"long", "short"}
    assert (table["side"] == "long").sum() == int((raw["side"] == 1).sum())
    # Return %: net PnL over the notional at the average entry, by hand for every row.
    by_hand = raw["pnl"] / (raw["size"] * raw["entry_price"]) * 100.0
    np.testing.assert_allclose(table["return %"].to_numpy(), by_hand, rtol=1e-12)
    assert set(table["exit"]) <= {"signal", "take profit", "stop loss", "liquidation", "early stop", "end"}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2025-01-15", "2025-03-31", {(2025, 1)}),  # starts mid-January
        ("2025-01-01", "2025-03-10", {(2025, 3)}),  # ends mid-March
        ("2025-01-01", "2025-03-31", set()),  # whole months
        ("2025-02-10", "2025-02-20", {(2025, 2)}),  # one month, partly
    ],
)
def test_partial_months_are_the_first_and_last_months_the_bars_do_not_fill(
    demo_root: Path, start: str, end: str, expected: set[tuple[int, int]]
) -> None:
    assert partial_months(backtest(demo_root, start, end)) == expected


def test_the_heat_map_marks_partial_months_and_shows_the_year_total(demo_root: Path) -> None:
    result = backtest(demo_root, "2025-01-15", "2025-03-31")
    table = monthly_returns(result)
    figure = monthly_figure(table, partial_months(result))
    heat = figure.data[0]
    assert list(heat.x[:3]) == ["Jan", "Feb", "Mar"] and list(heat.x[-1:]) == ["Year"] and len(heat.x) == 13
    # The year's total is the months compounded (the table's own definition, checked here by hand).
    months = table.loc[2025, [1, 2, 3]].to_numpy(dtype=float)
    assert heat.z[0][12] == pytest.approx((np.prod(1 + months / 100) - 1) * 100, rel=1e-9)
    assert heat.text[0][0].endswith("*") and not heat.text[0][1].endswith("*")
    assert heat.customdata[0][0] == "partial month" and heat.customdata[0][1] == ""
    assert "partial month" in figure.layout.title.text
    assert heat.colorbar.title.text == "return %"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(4.576681077189211, "4.57668"), (0.3, "0.3"), (12_345, "12,345"), (True, "True"), ("ema", "ema"), (2.0, "2")],
)
def test_parameters_read_with_sensible_precision(value: object, shown: str) -> None:
    assert readable_value(value) == shown
