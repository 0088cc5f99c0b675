"""``BacktestResult`` built from the kernel's records: the trades frame, the trade arrays, the position."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stratlab.engine import EXIT_REASONS, TRADE_COLUMNS, run_backtest
from tests.engine.tables import flat_bars, signals, table


def test_trade_columns_are_the_trade_records_fields() -> None:
    # The order trades.csv has always been written in.
    assert TRADE_COLUMNS == (
        "entry_time_ms", "exit_time_ms", "side", "size", "entry_price", "exit_price", "fees", "slippage_cost",
        "funding", "pnl", "exit_reason", "adds", "bars_held", "entry_bar", "exit_bar",
    )  # fmt: skip


def test_the_trades_frame_has_the_same_columns_and_dtypes_with_or_without_trades() -> None:
    candles = table([(100, 101, 99, 100), (100, 103, 99, 102), (102, 104, 101, 103), (103, 104, 102, 103)])
    traded = run_backtest(candles, signals(4, {0: 1, 1: -1}), {"size_units": 1.0}).trades
    empty = run_backtest(table(flat_bars(4)), np.zeros(4, dtype=np.int8)).trades
    assert len(traded) == 2 and len(empty) == 0
    assert list(traded.columns) == list(empty.columns) == list(TRADE_COLUMNS)
    assert traded.dtypes.to_dict() == empty.dtypes.to_dict()
    # Exit reasons are names (plain strings), sides and counts integers, times the bars' open times.
    assert traded["exit_reason"].tolist() == ["signal", "end"]
    assert set(traded["exit_reason"]) <= set(EXIT_REASONS)
    assert pd.api.types.is_string_dtype(traded["exit_reason"])
    assert traded["side"].tolist() == [1, -1] and traded["side"].dtype == np.int8
    assert traded["entry_time_ms"].tolist() == candles.timestamp_ms[[1, 2]].tolist()
    assert (traded["bars_held"] == traded["exit_bar"] - traded["entry_bar"]).all()


def test_trade_arrays_are_the_frames_columns_without_pandas() -> None:
    candles = table([(100, 101, 99, 100), (100, 103, 99, 102), (102, 104, 101, 103), (103, 104, 102, 103)])
    result = run_backtest(candles, signals(4, {0: 1, 1: -1}), {"size_units": 1.0})
    arrays = result.trade_arrays
    assert tuple(arrays) == TRADE_COLUMNS
    for name in ("pnl", "size", "entry_bar", "fees"):
        np.testing.assert_array_equal(arrays[name], result.trades[name].to_numpy())
    # The result owns its rows: a later backtest (which reuses the kernel's buffers) leaves them alone.
    before = result.trade_rows.copy()
    run_backtest(candles, signals(4, {0: -1}), {"size_units": 2.0})
    assert (result.trade_rows == before).all()
    assert list(result.position) == [0.0, 1.0, -1.0, 0.0]
