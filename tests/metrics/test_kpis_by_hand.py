"""KPIs worked out by hand: trade-level figures, drawdown durations, daily reconstruction, degenerate cases.

Most cases feed ``compute_kpis`` a small hand-made record (any object with the ``BacktestRecord`` attributes), so the
equity curve and the trades are exactly what the comment says; a few run a real backtest on a candle table.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from stratlab.data.candles import Candles
from stratlab.engine import run_backtest
from stratlab.errors import ConfigError
from stratlab.metrics import KPI_NAMES, KpiSettings, compute_kpis, monthly_returns, periods_per_year_for
from tests.engine.tables import START_MS, signals, table

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def candles_for(n: int, *, step_ms: int, close: float = 100.0, volume: float = 10.0, source: str = "test") -> Candles:
    timeframe = {300_000: "5m", HOUR_MS: "1h", DAY_MS: "1d"}[step_ms]
    frame = pd.DataFrame(
        {
            "timestamp_ms": START_MS + step_ms * np.arange(n, dtype=np.int64),
            "open": np.full(n, close),
            "high": np.full(n, close),
            "low": np.full(n, close),
            "close": np.full(n, close),
            "volume": np.full(n, volume),
        }
    )
    return Candles.from_frame(frame, source=source, symbol="X", timeframe=timeframe)


def trade_table(**columns: list[float]) -> dict[str, npt.NDArray[Any]]:
    n = len(next(iter(columns.values())))
    base = {
        "entry_bar": np.zeros(n),
        "exit_bar": np.zeros(n),
        "side": np.ones(n),
        "size": np.ones(n),
        "entry_price": np.full(n, 100.0),
        "exit_price": np.full(n, 100.0),
        "fees": np.zeros(n),
        "slippage_cost": np.zeros(n),
        "funding": np.zeros(n),
        "pnl": np.zeros(n),
        "exit_reason": np.zeros(n),
        "adds": np.zeros(n),
    }
    base.update({name: np.asarray(values, dtype=np.float64) for name, values in columns.items()})
    return base


@dataclasses.dataclass
class Record:
    """A backtest written by hand: exactly the attributes ``compute_kpis`` reads."""

    candles: Candles
    equity: npt.NDArray[np.float64]
    trade_arrays: dict[str, npt.NDArray[Any]]
    initial_equity: float = 100.0
    start: int = 0
    stopped_early: str | None = None

    @property
    def end(self) -> int:
        return self.start + self.equity.size

    @property
    def n_trades(self) -> int:
        return int(self.trade_arrays["pnl"].size)


def record(equity: list[float], *, step_ms: int = DAY_MS, initial: float = 100.0, **trades: list[float]) -> Record:
    values = np.asarray(equity, dtype=np.float64)
    return Record(
        candles_for(values.size, step_ms=step_ms),
        values,
        trade_table(**trades) if trades else trade_table(pnl=[]),
        initial,
    )


# trade-level figures ---------------------------------------------------------------------------------------


def test_profit_factor_win_rate_expectancy_and_payoff() -> None:
    pnl = [30.0, -10.0, 20.0, -5.0, -5.0, 10.0]
    kpis = compute_kpis(record([100.0] * 6, pnl=pnl))
    # Gross profit 60, gross loss 20.
    assert kpis.profit_factor == pytest.approx(3.0)
    assert kpis.win_rate_pct == pytest.approx(50.0)
    assert kpis.expectancy == pytest.approx(40.0 / 6)
    assert kpis.avg_win == pytest.approx(20.0) and kpis.avg_loss == pytest.approx(-20.0 / 3)
    assert kpis.payoff_ratio == pytest.approx(3.0)
    # Entry notional is 1 × 100 per trade: trade returns are pnl %.
    assert kpis.expectancy_pct == pytest.approx(40.0 / 6)
    assert kpis.worst_trade_pnl == -10.0 and kpis.worst_trade_pct == pytest.approx(-10.0)


@pytest.mark.parametrize(
    ("pnl", "streak"),
    [([1, -1, -1, 1, -1, -1, -1, 2], 3), ([-1, -1], 2), ([1, 2, 3], 0), ([-1, 0, -1], 1), ([], 0)],
)
def test_max_consecutive_losses(pnl: list[float], streak: int) -> None:
    kpis = compute_kpis(record([100.0] * 3, pnl=[float(p) for p in pnl]))
    assert kpis.max_consecutive_losses == streak


def test_holding_time_exposure_and_turnover() -> None:
    # Hourly bars, 10 of them. Trades hold bars 1-3 and 3-6 (a reversal on bar 3, counted once) and 8-8.
    trades = {
        "entry_bar": [1.0, 3.0, 8.0],
        "exit_bar": [3.0, 6.0, 8.0],
        "size": [2.0, 1.0, 4.0],
        "entry_price": [100.0, 110.0, 50.0],
        "exit_price": [110.0, 100.0, 50.0],
        "pnl": [20.0, 10.0, 0.0],
    }
    kpis = compute_kpis(record([1000.0] * 10, step_ms=HOUR_MS, initial=1000.0, **trades))
    # Held 2, 3 and 0 bars: median 2 bars = 2 hours.
    assert kpis.median_holding_bars == 2.0 and kpis.median_holding_hours == 2.0
    # Bars 1..6 and 8: 7 of 10.
    assert kpis.exposure_pct == pytest.approx(70.0)
    # Traded notional: (200 + 220) + (110 + 100) + (200 + 200) = 1,030 over a mean equity of 1,000.
    assert kpis.turnover_x == pytest.approx(1.03)


def test_capacity_is_entry_notional_over_the_entry_bars_traded_value() -> None:
    candles = candles_for(6, step_ms=HOUR_MS, close=50.0, volume=100.0)  # 5,000 traded per bar
    trades = trade_table(
        entry_bar=[1.0, 2.0, 4.0], exit_bar=[1.0, 3.0, 5.0], size=[1.0, 2.0, 30.0], entry_price=[50.0] * 3
    )
    rec = Record(candles, np.full(6, 10_000.0), trades, 10_000.0)
    kpis = compute_kpis(rec)
    # Notional 50, 100 and 1,500 against 5,000: 1 %, 2 %, 30 %.
    assert kpis.capacity_median_pct == pytest.approx(2.0)
    assert kpis.capacity_max_pct == pytest.approx(30.0)
    assert kpis.capacity_flag is True
    relaxed = compute_kpis(rec, KpiSettings(capacity_threshold_pct=50.0))
    assert relaxed.capacity_flag is False


def test_costs_fees_share_slippage_bps_and_funding() -> None:
    trades = {
        "size": [1.0, 1.0],
        "entry_price": [100.0, 100.0],
        "exit_price": [120.0, 90.0],
        "fees": [2.0, 1.0],
        "slippage_cost": [0.5, 0.3],
        "funding": [1.0, -0.5],
        "pnl": [17.0, -10.5],
    }
    kpis = compute_kpis(record([100.0] * 3, **trades))
    # Gross (before fees and funding) = (17 - 10.5) + 3 + 0.5 = 10; fees 3 are 30 % of it.
    assert kpis.fees_paid == 3.0 and kpis.funding_paid == 0.5
    assert kpis.fees_pct_of_gross == pytest.approx(30.0)
    # Slippage 0.8 over a traded notional of 220 + 190 = 410.
    assert kpis.slippage_cost == pytest.approx(0.8)
    assert kpis.slippage_bps == pytest.approx(0.8 / 410 * 10_000)


# drawdown and days -----------------------------------------------------------------------------------------


def test_drawdown_depth_duration_underwater_and_ulcer() -> None:
    # Daily equity from 100: peak 120 on day 1, trough 90 on day 3 (25 % down), back to 120 on day 5; a second,
    # longer but shallower dip (days 7..10 under 130) that never recovers.
    equity = [110.0, 120.0, 100.0, 90.0, 110.0, 120.0, 130.0, 125.0, 124.0, 126.0, 127.0]
    kpis = compute_kpis(record(equity))
    assert kpis.max_drawdown_pct == pytest.approx(25.0)
    # Under the 120 peak on days 2, 3, 4; day 5 recovers it.
    assert kpis.max_drawdown_bars == 3 and kpis.max_drawdown_days == 3.0
    # Longest stretch under a running peak: days 7..10 (4 bars), still under at the end.
    assert kpis.longest_underwater_bars == 4 and kpis.longest_underwater_days == 4.0
    drawdowns = [0, 0, 100 / 6, 25, 100 / 12, 0, 0, 500 / 130, 600 / 130, 400 / 130, 300 / 130]
    assert kpis.ulcer_index_pct == pytest.approx(math.sqrt(sum(d * d for d in drawdowns) / 11))


def test_daily_reconstruction_on_utc_days() -> None:
    # Hourly bars from 2025-01-01 00:00 UTC over 3 days; equity steps at 13:00 on day 0 and 02:00 on day 2.
    equity = np.full(72, 100.0)
    equity[13:] = 110.0
    equity[50:] = 99.0
    kpis = compute_kpis(record(list(equity), step_ms=HOUR_MS))
    # Day returns: +10 %, 0 %, -10 %: one green day out of two active days.
    assert kpis.n_days == 3 and kpis.active_days == 2
    assert kpis.green_days_pct == pytest.approx(50.0)
    assert kpis.worst_day_pct == pytest.approx(-10.0)
    assert kpis.daily_pnl_median == pytest.approx(0.0)


def test_top_days_share_and_cagr_by_hand() -> None:
    # Ten days of PnL 5, -1, 3, 0, 2, 1, -2, 4, 0, 1 on 100: total +13.
    pnl = [5, -1, 3, 0, 2, 1, -2, 4, 0, 1]
    equity = list(100 + np.cumsum(pnl, dtype=float))
    kpis = compute_kpis(record(equity), KpiSettings(top_k_days=3))
    # Best three days 5 + 4 + 3 = 12 of 13.
    assert kpis.top_days_pnl_share_pct == pytest.approx(12 / 13 * 100)
    assert kpis.top_k_days == 3
    assert kpis.cagr_pct == pytest.approx((1.13 ** (365 / 10) - 1) * 100)
    assert kpis.return_pct == pytest.approx(13.0)


def test_fx_sources_annualise_over_252_days_and_settings_override() -> None:
    assert periods_per_year_for("mt5_icmarkets", KpiSettings()) == 252
    assert periods_per_year_for("hyperliquid_perps", KpiSettings()) == 365
    assert periods_per_year_for("mt5_icmarkets", KpiSettings(periods_per_year=260)) == 260
    rec = record([101.0, 100.0, 102.0, 101.5])
    rec.candles = candles_for(4, step_ms=DAY_MS, source="mt5_icmarkets")
    returns = np.array([0.01, -1 / 101, 0.02, -0.5 / 102])
    assert compute_kpis(rec).sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(252))


# degenerate runs -------------------------------------------------------------------------------------------


def test_no_trades_and_flat_equity_give_defined_values_and_reasons() -> None:
    kpis = compute_kpis(record([100.0] * 30))
    assert kpis.n_trades == 0 and kpis.return_pct == 0.0 and kpis.max_drawdown_pct == 0.0
    assert kpis.sharpe == 0.0 and kpis.sortino == 0.0 and kpis.calmar == 0.0
    assert kpis.profit_factor == 0.0 and kpis.win_rate_pct == 0.0
    for name in ("expectancy", "avg_win", "avg_loss", "payoff_ratio", "median_holding_bars", "capacity_max_pct"):
        assert kpis[name] is None and name in kpis.notes
    assert kpis.top_days_pnl_share_pct is None and "no net profit" in kpis.notes["top_days_pnl_share_pct"]
    assert not kpis.is_valid
    assert any("too few trades" in r for r in kpis.invalid_reasons)
    assert any("zero variance" in r for r in kpis.invalid_reasons)
    # Nothing in the record is NaN or infinite, and it serialises as JSON.
    for name in KPI_NAMES:
        value = kpis[name]
        assert not (isinstance(value, float) and not math.isfinite(value)), name
    json.dumps(kpis.to_dict(), allow_nan=False)


def test_ratios_over_zero_are_none_with_a_note() -> None:
    # Only winning trades: no loss to divide by.
    kpis = compute_kpis(record([100.0, 101.0, 103.0], pnl=[1.0, 2.0]))
    assert kpis.profit_factor is None and kpis.notes["profit_factor"] == "no losing trade"
    assert kpis.sortino is None and "no losing day" in kpis.notes["sortino"]
    assert kpis.calmar is None and kpis.notes["calmar"] == "no drawdown"


def test_sharpe_outlier_flag_and_validity_thresholds() -> None:
    rising = list(100 * 1.01 ** np.arange(1, 31) * (1 + 0.001 * np.sin(np.arange(30))))
    kpis = compute_kpis(record(rising, pnl=[1.0] * 12))
    assert kpis.sharpe is not None and kpis.sharpe > 5
    assert kpis.sharpe_outlier
    assert kpis.is_valid
    assert not compute_kpis(record(rising, pnl=[1.0] * 12), KpiSettings(sharpe_cap=1e6)).sharpe_outlier
    strict = compute_kpis(record(rising, pnl=[1.0] * 12), KpiSettings(min_trades=20, min_active_days=40))
    assert strict.invalid_reasons == ("too few trades (12 < 20)", "too few active days (30 < 40)")


@pytest.mark.parametrize("field", ["top_k_days", "capacity_threshold_pct", "sharpe_cap", "periods_per_year"])
def test_bad_kpi_settings_name_the_field(field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        KpiSettings(**{field: 0})


def test_monthly_returns_compound_to_the_total() -> None:
    # Daily equity over 2025-01-01 .. 2025-03-31: +10 % in January, -5 % in February, +2 % in March.
    days = pd.date_range("2025-01-01", "2025-03-31", freq="D")
    equity = np.where(days.month == 1, 110.0, np.where(days.month == 2, 104.5, 106.59))
    table = monthly_returns(record(list(equity)))
    assert table.loc[2025, 1] == pytest.approx(10.0)
    assert table.loc[2025, 2] == pytest.approx(-5.0)
    assert table.loc[2025, 3] == pytest.approx(2.0)
    assert math.isnan(table.loc[2025, 4])
    assert table.loc[2025, "year"] == pytest.approx(6.59)


# on a real backtest ----------------------------------------------------------------------------------------


def test_a_real_backtest_carries_the_record() -> None:
    rows = [(100, 101, 99, 100), (100, 103, 99, 102), (102, 104, 101, 103), (103, 103, 96, 97), (97, 98, 96, 97)]
    result = run_backtest(table(rows), signals(5, {0: 1, 2: -1}), {"fee_bps": 0.0, "size_units": 10.0})
    kpis = result.kpis
    # Long 10 from 100 (bar 1) to 103 (bar 3): +30; short 10 from 103 to the last close 97: +60.
    assert kpis.n_trades == 2 and kpis.profit_factor is None and kpis.win_rate_pct == 100.0
    assert kpis.return_pct == pytest.approx(0.9) and kpis.final_equity == pytest.approx(10_090.0)
    assert kpis.expectancy == pytest.approx(45.0)
    assert result.kpis is kpis  # computed once
