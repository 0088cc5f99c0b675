"""The KPI families on their own, on the cases the peer and by-hand tests leave out, and the record read from the
engine's trade rows by column name, whatever their layout.

Expected values are worked out by hand in the comments, never taken from a previous run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from stratlab.data.candles import Candles
from stratlab.engine import EXIT_REASONS, TRADE_COLUMNS, BacktestResult
from stratlab.metrics import KPI_NAMES, compute_kpis
from stratlab.metrics import families as f
from stratlab.metrics.daily import daily_series
from tests.metrics.test_kpis_by_hand import DAY_MS, HOUR_MS, Record, candles_for, record, trade_table
from tests.metrics.test_vs_peers import ALL, Market, backtest

FIVE_MINUTES_MS = 300_000


# the trades are read by the engine's column names ------------------------------------------------------------------


def structured_trade_rows(result: BacktestResult) -> npt.NDArray[np.void]:
    """The backtest's trades as one numpy structured array whose fields are the engine's ``TRADE_COLUMNS``."""
    frame = result.trades
    columns = {name: frame[name].to_numpy() for name in TRADE_COLUMNS}
    columns["exit_reason"] = frame["exit_reason"].map(EXIT_REASONS.index).to_numpy(np.int8)
    rows = np.empty(len(frame), dtype=[(name, columns[name].dtype) for name in TRADE_COLUMNS])
    for name in TRADE_COLUMNS:
        rows[name] = columns[name]
    return rows


@dataclasses.dataclass(frozen=True)
class StructuredTrades:
    """A backtest record whose trades are a structured array (and which has nothing else of the result)."""

    candles: Candles
    start: int
    end: int
    equity: npt.NDArray[np.float64]
    initial_equity: float
    n_trades: int
    trade_arrays: npt.NDArray[np.void]
    stopped_early: str | None


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_the_record_is_the_same_from_structured_trade_rows(market: Market, config_name: str) -> None:
    result = backtest(market, config_name)
    rows = structured_trade_rows(result)
    assert rows.dtype.names == TRADE_COLUMNS
    as_rows = StructuredTrades(
        result.candles, result.start, result.end, result.equity, result.initial_equity, result.n_trades, rows, None
    )
    ours, expected = compute_kpis(as_rows), result.kpis
    # Bit for bit: the same numbers read through another layout go through the same arithmetic.
    assert ours.to_dict() == expected.to_dict()
    assert list(ours.notes.items()) == list(expected.notes.items())


# per-trade figures and trading activity ------------------------------------------------------------------------


def test_expectancy_pct_weighs_each_trade_by_its_own_notional() -> None:
    # 2 × 50 = 100 notional earning 10 (+10 %), 1 × 200 = 200 losing 4 (-2 %): the mean trade return is +4 %, while
    # the pooled return (6 / 300 = 2 %) would be a different figure.
    kpis = compute_kpis(
        record([100.0] * 3, size=[2.0, 1.0], entry_price=[50.0, 200.0], exit_price=[55.0, 196.0], pnl=[10.0, -4.0])
    )
    assert kpis.expectancy_pct == pytest.approx(4.0)
    assert kpis.worst_trade_pct == pytest.approx(-2.0)
    assert kpis.expectancy == pytest.approx(3.0)


def test_holding_time_in_hours_follows_the_bar_length_and_trades_per_day_the_days() -> None:
    # 5m bars over two UTC days (576 bars); three trades held 12, 24 and 3 bars: median 12 bars = 1 hour.
    kpis = compute_kpis(
        record(
            [100.0] * 576,
            step_ms=FIVE_MINUTES_MS,
            entry_bar=[10.0, 100.0, 400.0],
            exit_bar=[22.0, 124.0, 403.0],
            pnl=[1.0, 2.0, -1.0],
        )
    )
    assert kpis.median_holding_bars == 12.0 and kpis.median_holding_hours == pytest.approx(1.0)
    assert kpis.n_days == 2 and kpis.trades_per_day == pytest.approx(1.5)
    # Bars 10..22, 100..124 and 400..403: 13 + 25 + 4 = 42 of 576.
    assert kpis.exposure_pct == pytest.approx(42 / 576 * 100)


def test_the_trade_table_keeps_the_notionals_it_derives() -> None:
    table = f.trade_table(
        trade_table(size=[2.0, 0.5], entry_price=[10.0, 100.0], exit_price=[12.0, 90.0], entry_bar=[3.0, 7.0]), 2
    )
    np.testing.assert_array_equal(table.entry_notional, [20.0, 50.0])
    assert table.traded_notional == pytest.approx(20.0 + 50.0 + 24.0 + 45.0)
    assert table.entry_bar.dtype == np.int64 and list(table.entry_bar) == [3, 7]


# costs and capacity --------------------------------------------------------------------------------------------


def test_fees_over_a_losing_gross_are_undefined_and_no_fees_are_zero() -> None:
    # Price PnL before costs: -5 + 2 fees + 1 funding = -2: fees cannot be a share of a loss.
    losing = compute_kpis(record([100.0] * 3, pnl=[-5.0], fees=[2.0], funding=[1.0]))
    assert losing.fees_pct_of_gross is None and losing.notes["fees_pct_of_gross"] == "gross PnL is not positive"
    # No fees at all: nothing was paid, whatever the gross.
    free = compute_kpis(record([100.0] * 3, pnl=[-5.0]))
    assert free.fees_pct_of_gross == 0.0 and "fees_pct_of_gross" not in free.notes


def test_capacity_leaves_out_entry_bars_without_volume() -> None:
    frame = pd.DataFrame(
        {
            "timestamp_ms": 1_735_689_600_000 + HOUR_MS * np.arange(4, dtype=np.int64),
            "open": np.full(4, 10.0),
            "high": np.full(4, 10.0),
            "low": np.full(4, 10.0),
            "close": np.full(4, 10.0),
            "volume": [0.0, 100.0, 0.0, 50.0],  # traded value 0, 1,000, 0, 500
        }
    )
    candles = Candles.from_frame(frame, source="test", symbol="X", timeframe="1h")
    trades = trade_table(
        entry_bar=[0.0, 1.0, 3.0], exit_bar=[0.0, 2.0, 3.0], size=[5.0, 2.0, 2.0], entry_price=[10.0] * 3
    )
    kpis = compute_kpis(Record(candles, np.full(4, 1000.0), trades, 1000.0))
    # Bar 0 traded nothing: left out. 20 of 1,000 (2 %) and 20 of 500 (4 %).
    assert kpis.capacity_median_pct == pytest.approx(3.0)
    assert kpis.capacity_max_pct == pytest.approx(4.0)
    only_dry = trade_table(entry_bar=[0.0, 2.0], exit_bar=[0.0, 2.0], entry_price=[10.0] * 2)
    dry = compute_kpis(Record(candles, np.full(4, 1000.0), only_dry, 1000.0))
    assert dry.capacity_median_pct is None and dry.capacity_max_pct is None and dry.capacity_flag is False
    assert dry.notes["capacity_max_pct"] == "entry bars carry no volume"


# drawdown and returns ------------------------------------------------------------------------------------------


def test_a_drawdown_from_the_initial_equity_that_never_recovers_lasts_to_the_end() -> None:
    # From 100 straight down to 90, then 92 and 95: under the initial peak from bar 0 to the end (4 bars).
    drawdown = f.per_bar_drawdown(np.array([97.0, 90.0, 92.0, 95.0]), 100.0)
    assert drawdown.max_fraction == pytest.approx(0.10)
    assert drawdown.max_bars == 4 and drawdown.longest_underwater_bars == 4
    assert drawdown.ulcer_index_pct == pytest.approx(math.sqrt((9 + 100 + 64 + 25) / 4))
    rising = f.per_bar_drawdown(np.array([100.0, 101.0, 101.0]), 100.0)
    assert (rising.max_fraction, rising.max_bars, rising.longest_underwater_bars, rising.ulcer_index_pct) == (
        0.0,
        0,
        0,
        0.0,
    )


def test_cagr_and_calmar_are_undefined_when_equity_is_wiped_out() -> None:
    kpis = compute_kpis(record([60.0, -5.0, 0.0]))
    assert kpis.return_pct == pytest.approx(-100.0) and kpis.final_equity == 0.0
    assert kpis.cagr_pct is None and kpis.notes["cagr_pct"] == "equity at or below zero"
    assert kpis.calmar is None


def test_moments_of_daily_returns_by_hand() -> None:
    moments = f.return_moments(np.array([0.01, -0.02, 0.04]))
    assert moments.mean == pytest.approx(0.01)
    assert moments.std == pytest.approx(math.sqrt((0.0 + 0.0009 + 0.0009) / 2))
    assert f.return_moments(np.array([0.03])) == f.ReturnMoments(mean=0.03, std=0.0)
    assert f.return_moments(np.array([])) == f.ReturnMoments(mean=0.0, std=0.0)


# tails ---------------------------------------------------------------------------------------------------------


def test_tail_figures_by_hand() -> None:
    # -10 % .. +10 % in steps of 1 %, shuffled. Linear percentiles over 21 values sit at rank p × 20: the 1st at
    # 0.2 (-9.8 %), the 5th at 1 (-9 %), the 95th at 19 (+9 %).
    returns = np.random.default_rng(5).permutation(np.arange(-10, 11) / 100.0)
    notes = f.Notes()
    tails = f.tail_figures(returns, notes)
    assert tails["var_99_pct"] == pytest.approx(-9.8) and tails["var_95_pct"] == pytest.approx(-9.0)
    # At or below -9.8 %: only -10 %; at or below -9 %: -10 % and -9 %.
    assert tails["cvar_99_pct"] == pytest.approx(-10.0) and tails["cvar_95_pct"] == pytest.approx(-9.5)
    assert tails["tail_ratio"] == pytest.approx(1.0) and tails["worst_day_pct"] == pytest.approx(-10.0)
    assert notes.why == {}


# benchmark -----------------------------------------------------------------------------------------------------


def daily_candles(opens: list[float], closes: list[float]) -> Candles:
    n = len(closes)
    frame = pd.DataFrame(
        {
            "timestamp_ms": 1_735_689_600_000 + DAY_MS * np.arange(n, dtype=np.int64),
            "open": opens,
            "high": np.maximum(opens, closes),
            "low": np.minimum(opens, closes),
            "close": closes,
            "volume": np.ones(n),
        }
    )
    return Candles.from_frame(frame, source="test", symbol="X", timeframe="1d")


def test_beta_and_alpha_by_hand() -> None:
    # Buy and hold from the first open (100) to the closes 110, 104.5, 106.59: daily returns +10 %, -5 %, +2 %, and
    # 6.59 % in all. The strategy earns twice the market plus 0.1 % a day: beta 2, alpha (1.001) ^ 365 - 1.
    candles = daily_candles([100.0, 109.0, 105.0], [110.0, 104.5, 106.59])
    market = np.array([0.10, -0.05, 0.02])
    equity = np.asarray(1000.0 * np.cumprod(1.0 + 2.0 * market + 0.001), dtype=np.float64)
    kpis = compute_kpis(Record(candles, equity, trade_table(pnl=[]), 1000.0))
    assert kpis.buy_hold_return_pct == pytest.approx(6.59)
    assert kpis.beta == pytest.approx(2.0)
    assert kpis.alpha_pct == pytest.approx((1.001**365 - 1.0) * 100.0)


def test_a_flat_market_has_no_beta() -> None:
    candles = daily_candles([100.0] * 3, [100.0] * 3)
    kpis = compute_kpis(Record(candles, np.array([1000.0, 1010.0, 1005.0]), trade_table(pnl=[]), 1000.0))
    assert kpis.buy_hold_return_pct == 0.0
    assert kpis.beta is None and kpis.alpha_pct is None
    assert kpis.notes["beta"] == kpis.notes["alpha_pct"] == "needs 2 days and a moving benchmark"


def test_the_benchmark_uses_the_days_of_the_window() -> None:
    # Hourly bars over two days; the window starts at 06:00 on day 0. Buy and hold from that bar's open.
    n = 48
    candles = candles_for(n, step_ms=HOUR_MS)
    closes = 100.0 + np.arange(n, dtype=np.float64)
    opens = closes - 0.5
    candles = dataclasses.replace(candles, open=opens, high=closes, low=opens, close=closes)
    daily = daily_series(candles.timestamp_ms[6:], np.full(n - 6, 1000.0), 1000.0)
    figures = f.benchmark_figures(opens[6:], closes[6:], daily, 0.0, 365, f.Notes())
    # First open 105.5, last close 147.
    assert figures["buy_hold_return_pct"] == pytest.approx((147.0 / 105.5 - 1.0) * 100.0)
    assert list(daily.last_bar) == [17, 41]  # the window's bars 17 (23:00 on day 0) and 41 (the last)


# degenerate windows --------------------------------------------------------------------------------------------


def test_an_empty_window_gives_defined_values_and_says_why() -> None:
    rec = Record(candles_for(3, step_ms=DAY_MS), np.empty(0), trade_table(pnl=[]), 100.0)
    kpis = compute_kpis(rec)
    assert kpis.n_days == 0 and kpis.active_days == 0 and kpis.final_equity == 100.0 and kpis.return_pct == 0.0
    assert kpis.max_drawdown_pct == 0.0 and kpis.ulcer_index_pct == 0.0 and kpis.exposure_pct == 0.0
    assert kpis.trades_per_day == 0.0 and kpis.buy_hold_return_pct == 0.0
    for name in ("var_95_pct", "var_99_pct", "cvar_95_pct", "cvar_99_pct", "tail_ratio", "worst_day_pct", "cagr_pct"):
        assert kpis[name] is None and kpis.notes[name] == "no days", name


def test_stopped_early_and_the_conventions_pass_through() -> None:
    rec: Any = record([100.0, 99.0])
    rec.stopped_early = "max_drawdown"
    kpis = compute_kpis(rec)
    assert kpis.stopped_early == "max_drawdown"
    assert kpis.periods_per_year == 365 and kpis.top_k_days == 5


@pytest.mark.parametrize(
    "rec",
    [
        pytest.param(Record(candles_for(3, step_ms=DAY_MS), np.empty(0), trade_table(pnl=[]), 100.0), id="empty"),
        pytest.param(record([100.0] * 5), id="flat-without-trades"),
        pytest.param(record([60.0, -5.0, 0.0], pnl=[-100.0]), id="wiped-out"),
        pytest.param(record([101.0], pnl=[1.0]), id="one-day"),
    ],
)
def test_every_undefined_figure_says_why(rec: Record) -> None:
    kpis = compute_kpis(rec)
    # ``stopped_early`` is None when no early stop ended the run: a fact, not an undefined figure.
    undefined = [name for name in KPI_NAMES if kpis[name] is None and name != "stopped_early"]
    assert undefined  # the case is degenerate enough to leave figures undefined
    assert [name for name in undefined if name not in kpis.notes] == []


def test_a_cagr_beyond_a_float_is_undefined_with_its_reason() -> None:
    """Ten times the equity in one day, compounded over 365 days, is 10^365: no float holds it."""
    notes = f.Notes()
    figures = f.return_figures(1_000.0, 10_000.0, 1, 365, notes)
    assert figures["cagr_pct"] is None and figures["return_pct"] == pytest.approx(900.0)
    assert "too large" in notes.why["cagr_pct"]
