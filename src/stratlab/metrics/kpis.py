"""The KPI record of a backtest: every figure a quant asks for, named with its unit, computed in a few milliseconds.

Conventions (also in the README's KPI table):

- Daily figures use UTC days: a day's equity is the equity at its last bar; its return is that over the previous
  day's (the first day's over the initial equity); its PnL the difference. Days without bars are not days.
- Annualisation follows the data: crypto trades every day (365 periods a year), FX/CFD sources (``mt5_*``) 252;
  ``KpiSettings.periods_per_year`` overrides it. Sharpe = mean / sample std (ddof 1) of daily returns × √periods;
  Sortino uses the root mean square of the negative daily returns over all days; CAGR = (final / initial) ^
  (periods / days) − 1; Calmar = CAGR / max drawdown of the per-bar equity (deeper than a daily one).
- Percent fields are percents (2.5 means 2.5 %); money fields are in the quote currency of the candles.
- A ratio whose numerator and denominator are both zero (no trades, a flat curve) is 0.0: nothing happened.
  A figure that is otherwise undefined (a non-zero amount over zero, no trades to average) is ``None``. Either way
  ``notes[name]`` says why, and nothing is ever NaN or inf.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.metrics import families as f
from stratlab.metrics.daily import DailySeries, daily_series
from stratlab.metrics.families import TradeColumns
from stratlab.metrics.settings import (
    CRYPTO_PERIODS_PER_YEAR,
    TRADING_DAYS_PER_YEAR,
    KpiSettings,
    periods_per_year_for,
)

FloatArray = npt.NDArray[np.float64]


class BacktestRecord(Protocol):
    """What ``compute_kpis`` reads from a backtest (``stratlab.engine.BacktestResult`` is one)."""

    @property
    def candles(self) -> Candles: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def equity(self) -> FloatArray: ...
    @property
    def initial_equity(self) -> float: ...
    @property
    def n_trades(self) -> int: ...
    @property
    def trade_arrays(self) -> TradeColumns: ...
    @property
    def stopped_early(self) -> str | None: ...


@dataclass(frozen=True, kw_only=True)
class Kpis:
    """One backtest's figures. Field names are a contract: report columns, database columns, manifest keys."""

    # performance
    return_pct: float
    cagr_pct: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    profit_factor: float | None
    win_rate_pct: float | None
    expectancy: float | None
    expectancy_pct: float | None
    avg_win: float | None
    avg_loss: float | None
    payoff_ratio: float | None
    exposure_pct: float
    turnover_x: float
    n_trades: int
    trades_per_day: float
    final_equity: float
    # risk
    max_drawdown_pct: float
    max_drawdown_bars: int
    max_drawdown_days: float
    longest_underwater_bars: int
    longest_underwater_days: float
    ulcer_index_pct: float
    var_95_pct: float | None
    cvar_95_pct: float | None
    var_99_pct: float | None
    cvar_99_pct: float | None
    tail_ratio: float | None
    top_days_pnl_share_pct: float | None
    worst_day_pct: float | None
    worst_trade_pct: float | None
    worst_trade_pnl: float | None
    max_consecutive_losses: int
    # consistency
    green_days_pct: float | None
    daily_pnl_median: float | None
    daily_pnl_skew: float | None
    median_holding_bars: float | None
    median_holding_hours: float | None
    n_days: int
    active_days: int
    # execution
    fees_paid: float
    fees_pct_of_gross: float | None
    slippage_cost: float
    slippage_bps: float | None
    funding_paid: float
    capacity_median_pct: float | None
    capacity_max_pct: float | None
    capacity_flag: bool
    # benchmark
    buy_hold_return_pct: float
    alpha_pct: float | None
    beta: float | None
    # validity
    is_valid: bool
    invalid_reasons: tuple[str, ...]
    sharpe_outlier: bool
    stopped_early: str | None
    periods_per_year: int
    top_k_days: int
    notes: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        # Mapping-style access keeps report code generic over KPI names.
        if name not in _FIELD_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples as lists)."""
        out = dataclasses.asdict(self)
        out["invalid_reasons"] = list(self.invalid_reasons)
        return out


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Kpis))
KPI_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Kpis) if f.name != "notes")


def compute_kpis(result: BacktestRecord, settings: KpiSettings | None = None) -> Kpis:
    """Every KPI of ``result`` (candles, window and trades come with it), family by family (see ``families``)."""
    cfg = settings or KpiSettings()
    candles, start, end = result.candles, result.start, result.end
    equity, initial = result.equity, result.initial_equity
    final = float(equity[-1]) if equity.size else initial
    bar_ms = candles.timeframe.approx_ms
    periods = periods_per_year_for(candles.source, cfg)
    notes = f.Notes()

    daily = daily_series(candles.timestamp_ms[start:end], equity, initial)
    moments = f.return_moments(daily.returns)
    drawdown = f.per_bar_drawdown(equity, initial)
    trades = f.trade_table(result.trade_arrays, result.n_trades)
    returns = f.return_figures(initial, final, daily.n_days, periods, notes)
    ratios = f.risk_adjusted_ratios(daily.returns, moments, periods, returns["cagr_pct"], drawdown.max_fraction, notes)
    tails = f.tail_figures(daily.returns, notes)
    consistency = f.daily_consistency(daily, final - initial, cfg.top_k_days, notes)
    per_trade = f.trade_statistics(trades, bar_ms, notes)
    activity = f.trading_activity(trades, equity, initial, start, daily.n_days)
    costs = f.cost_figures(trades, notes)
    capacity = f.capacity_figures(trades, candles.volume, candles.close, cfg.capacity_threshold_pct, notes)
    benchmark = f.benchmark_figures(
        candles.open[start:end], candles.close[start:end], daily, moments.mean, periods, notes
    )
    valid = f.validity(trades.count, consistency["active_days"], moments.std, ratios["sharpe"], cfg)
    return Kpis(
        **returns,
        **ratios,
        **f.drawdown_figures(drawdown, bar_ms),
        **tails,
        **consistency,
        **per_trade,
        **activity,
        **costs,
        **capacity,
        **benchmark,
        **valid,
        stopped_early=result.stopped_early,
        periods_per_year=periods,
        top_k_days=cfg.top_k_days,
        notes=notes.why,
    )


__all__ = [
    "CRYPTO_PERIODS_PER_YEAR",
    "KPI_NAMES",
    "TRADING_DAYS_PER_YEAR",
    "BacktestRecord",
    "DailySeries",
    "KpiSettings",
    "Kpis",
    "TradeColumns",
    "compute_kpis",
    "daily_series",
    "periods_per_year_for",
]
