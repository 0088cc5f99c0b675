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
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.errors import ConfigError
from stratlab.metrics import _kernels as k

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]

CRYPTO_PERIODS_PER_YEAR = 365
TRADING_DAYS_PER_YEAR = 252
# Sources whose markets close at weekends and nights (MetaTrader exports of FX/CFD brokers).
SESSION_SOURCE_PREFIXES = ("mt5_",)


class TradeColumns(Protocol):
    """Per-trade arrays in exit order (what ``BacktestResult.trade_arrays`` gives)."""

    def __getitem__(self, name: str) -> npt.NDArray[Any]: ...


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
class KpiSettings:
    """Thresholds and conventions of the KPI record; the defaults suit 5m crypto research."""

    periods_per_year: int | None = None  # None: 365 for crypto, 252 for mt5_* sources
    top_k_days: int = 5
    capacity_threshold_pct: float = 1.0  # trade notional above this % of its bar's traded value raises the flag
    sharpe_cap: float = 5.0  # a Sharpe above this is flagged as an outlier (too good to be true)
    min_trades: int = 10
    min_active_days: int = 5

    def __post_init__(self) -> None:
        checks = {
            "periods_per_year": self.periods_per_year is None or self.periods_per_year >= 1,
            "top_k_days": self.top_k_days >= 1,
            "capacity_threshold_pct": self.capacity_threshold_pct > 0,
            "sharpe_cap": self.sharpe_cap > 0,
            "min_trades": self.min_trades >= 0,
            "min_active_days": self.min_active_days >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"kpi settings: {name} is out of range (got {getattr(self, name)!r})")


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


def periods_per_year_for(source: str, settings: KpiSettings) -> int:
    """Annualisation periods: the override, else 252 for session markets (mt5_*), else 365."""
    if settings.periods_per_year is not None:
        return settings.periods_per_year
    return TRADING_DAYS_PER_YEAR if source.startswith(SESSION_SOURCE_PREFIXES) else CRYPTO_PERIODS_PER_YEAR


@dataclass(frozen=True)
class DailySeries:
    """The equity curve on UTC days: day start (ms), equity at the day's last bar, PnL and return over the day."""

    day_ms: Int64Array
    equity: FloatArray
    pnl: FloatArray
    returns: FloatArray


def daily_series(timestamp_ms: Int64Array, equity: FloatArray, initial_equity: float) -> DailySeries:
    """Reconstruct daily equity, PnL and returns from the per-bar curve (see the module conventions)."""
    last = k.day_last_bars_nb(timestamp_ms)
    day_equity = equity[last]
    previous = np.empty_like(day_equity)
    if day_equity.size:
        previous[0] = initial_equity
        previous[1:] = day_equity[:-1]
    pnl = day_equity - previous
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous > 0, pnl / np.where(previous > 0, previous, 1.0), 0.0)
    return DailySeries(timestamp_ms[last] // k.DAY_MS * k.DAY_MS, day_equity, pnl, returns)


class _Undefined:
    """Collects why figures are None."""

    def __init__(self) -> None:
        self.notes: dict[str, str] = {}

    def ratio(self, name: str, numerator: float, denominator: float, why: str) -> float | None:
        if denominator == 0.0 or not math.isfinite(denominator):
            self.notes[name] = why
            return 0.0 if numerator == 0.0 else None
        return numerator / denominator

    def none(self, name: str, why: str) -> None:
        self.notes[name] = why


def _skew(values: FloatArray) -> float | None:
    """Adjusted Fisher-Pearson skewness (pandas ``Series.skew``): None under 3 values or zero variance."""
    n = values.size
    if n < 3:
        return None
    centred = values - values.mean()
    m2 = float(np.mean(centred**2))
    if m2 == 0.0:
        return None
    m3 = float(np.mean(centred**3))
    skew: float = math.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
    return skew


def compute_kpis(result: BacktestRecord, settings: KpiSettings | None = None) -> Kpis:
    """Every KPI of ``result`` (candles, window and trades come with it)."""
    cfg = settings or KpiSettings()
    undefined = _Undefined()
    candles = result.candles
    start, end = result.start, result.end
    ts = candles.timestamp_ms[start:end]
    equity = result.equity
    initial = result.initial_equity
    n_bars = equity.size
    bar_ms = candles.timeframe.approx_ms
    periods = periods_per_year_for(candles.source, cfg)
    final = float(equity[-1]) if n_bars else initial

    # Drawdown over bars.
    max_dd, dd_peak, _dd_trough, dd_recovery, longest_under, _under_start, sum_sq = k.drawdown_stats_nb(equity, initial)
    if max_dd > 0.0:
        dd_from = dd_peak + 1 if dd_peak >= 0 else 0  # the first bar below the peak
        dd_until = dd_recovery if dd_recovery >= 0 else n_bars
        max_dd_bars = dd_until - dd_from
    else:
        max_dd_bars = 0

    # Daily series and its figures.
    daily = daily_series(ts, equity, initial)
    returns = daily.returns
    n_days = int(returns.size)
    active_days = int(np.count_nonzero(daily.pnl))
    growth = final / initial
    cagr = (growth ** (periods / n_days) - 1.0) * 100.0 if n_days and growth > 0 else None
    if cagr is None:
        undefined.none("cagr_pct", "no days" if not n_days else "equity at or below zero")
    mean_r = float(returns.mean()) if n_days else 0.0
    std_r = float(returns.std(ddof=1)) if n_days > 1 else 0.0
    sharpe = undefined.ratio("sharpe", mean_r * math.sqrt(periods), std_r, "daily returns do not vary")
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if n_days else 0.0
    sortino = undefined.ratio("sortino", mean_r * math.sqrt(periods), downside, "no losing day")
    calmar = None if cagr is None else undefined.ratio("calmar", cagr / 100.0, max_dd, "no drawdown")
    if n_days:
        p1, p5, p95 = np.percentile(returns, [1.0, 5.0, 95.0])
        var95: float | None = float(p5) * 100.0
        var99: float | None = float(p1) * 100.0
        cvar95: float | None = float(returns[returns <= p5].mean()) * 100.0
        cvar99: float | None = float(returns[returns <= p1].mean()) * 100.0
        tail = undefined.ratio("tail_ratio", abs(float(p95)), abs(float(p5)), "5th percentile day is flat")
        worst_day: float | None = float(returns.min()) * 100.0
    else:
        var95 = var99 = cvar95 = cvar99 = tail = worst_day = None
        for name in ("var_95_pct", "var_99_pct", "cvar_95_pct", "cvar_99_pct", "tail_ratio", "worst_day_pct"):
            undefined.none(name, "no days")
    total_pnl = final - initial
    if n_days and total_pnl > 0:
        best = np.sort(daily.pnl)[::-1][: cfg.top_k_days]
        top_share: float | None = float(best.sum()) / total_pnl * 100.0
    else:
        top_share = None
        undefined.none("top_days_pnl_share_pct", "no net profit to share out")
    green = undefined.ratio(
        "green_days_pct", float(np.count_nonzero(daily.pnl > 0)) * 100.0, float(active_days), "no active day"
    )
    pnl_median = float(np.median(daily.pnl)) if n_days else None
    pnl_skew = _skew(daily.pnl)
    if pnl_skew is None:
        undefined.none("daily_pnl_skew", "fewer than 3 days or no variation")

    # Trades.
    n_trades = result.n_trades
    trades = result.trade_arrays
    pnl = trades["pnl"]
    size = trades["size"]
    entry_notional = size * trades["entry_price"]
    exit_notional = size * trades["exit_price"]
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_win, gross_loss = float(wins.sum()), float(-losses.sum())
    profit_factor = undefined.ratio("profit_factor", gross_win, gross_loss, "no losing trade")
    win_rate = undefined.ratio("win_rate_pct", wins.size * 100.0, float(n_trades), "no trades")
    expectancy = float(pnl.mean()) if n_trades else None
    trade_return_pct = pnl / entry_notional * 100.0
    expectancy_pct = float(trade_return_pct.mean()) if n_trades else None
    avg_win = float(wins.mean()) if wins.size else None
    avg_loss = float(losses.mean()) if losses.size else None
    payoff = None if avg_win is None or avg_loss is None else avg_win / -avg_loss
    if not n_trades:
        for name in ("expectancy", "expectancy_pct", "worst_trade_pct", "worst_trade_pnl", "median_holding_bars"):
            undefined.none(name, "no trades")
    if avg_win is None:
        undefined.none("avg_win", "no winning trade")
    if avg_loss is None:
        undefined.none("avg_loss", "no losing trade")
    if payoff is None:
        undefined.none("payoff_ratio", "needs winning and losing trades")
    entry_bar = trades["entry_bar"].astype(np.int64)
    exit_bar = trades["exit_bar"].astype(np.int64)
    covered = k.covered_bars_nb(entry_bar, exit_bar, start, n_bars) if n_trades else 0
    exposure = covered / n_bars * 100.0 if n_bars else 0.0
    traded = float(entry_notional.sum() + exit_notional.sum())
    mean_equity = float(equity.mean()) if n_bars else initial
    turnover = traded / mean_equity if mean_equity > 0 else 0.0
    held = exit_bar - entry_bar
    median_held = float(np.median(held)) if n_trades else None

    fees = float(trades["fees"].sum())
    funding = float(trades["funding"].sum())
    slippage = float(trades["slippage_cost"].sum())
    gross = float(pnl.sum()) + fees + funding  # price PnL before fees and funding (fills include slippage)
    if gross > 0:
        fees_share: float | None = fees / gross * 100.0
    else:
        fees_share = None if fees else 0.0
        if fees:
            undefined.none("fees_pct_of_gross", "gross PnL is not positive")
    slippage_bps = undefined.ratio("slippage_bps", slippage * 10_000.0, traded, "nothing traded")

    # Capacity: each entry's notional against its bar's traded value (volume × close).
    capacity_median = capacity_max = None
    if n_trades:
        bar_value = candles.volume[entry_bar] * candles.close[entry_bar]
        traded_bars = bar_value > 0
        if traded_bars.any():
            share = entry_notional[traded_bars] / bar_value[traded_bars] * 100.0
            capacity_median, capacity_max = float(np.median(share)), float(share.max())
        else:
            undefined.none("capacity_median_pct", "entry bars carry no volume")
            undefined.none("capacity_max_pct", "entry bars carry no volume")
    else:
        undefined.none("capacity_median_pct", "no trades")
        undefined.none("capacity_max_pct", "no trades")
    capacity_flag = capacity_max is not None and capacity_max > cfg.capacity_threshold_pct

    # Benchmark: holding the instrument from the first open to the last close, on the same UTC days.
    closes = candles.close[start:end]
    first_open = float(candles.open[start]) if n_bars else 1.0
    buy_hold = (float(closes[-1]) / first_open - 1.0) * 100.0 if n_bars else 0.0
    alpha = beta = None
    if n_days > 1:
        day_close = closes[k.day_last_bars_nb(ts)]
        bench = np.diff(np.concatenate([[first_open], day_close])) / np.concatenate([[first_open], day_close[:-1]])
        bench_centred = bench - bench.mean()
        bench_var = float(np.mean(bench_centred**2))
        if bench_var > 0:
            beta = float(np.mean(bench_centred * (returns - mean_r))) / bench_var
            alpha = ((1.0 + float(np.mean(returns - beta * bench))) ** periods - 1.0) * 100.0
    if beta is None:
        undefined.none("beta", "needs 2 days and a moving benchmark")
        undefined.none("alpha_pct", "needs 2 days and a moving benchmark")

    reasons = []
    if n_trades < cfg.min_trades:
        reasons.append(f"too few trades ({n_trades} < {cfg.min_trades})")
    if active_days < cfg.min_active_days:
        reasons.append(f"too few active days ({active_days} < {cfg.min_active_days})")
    if std_r == 0.0:
        reasons.append("zero variance of daily returns")

    return Kpis(
        return_pct=(growth - 1.0) * 100.0,
        cagr_pct=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        profit_factor=profit_factor,
        win_rate_pct=win_rate,
        expectancy=expectancy,
        expectancy_pct=expectancy_pct,
        avg_win=avg_win,
        avg_loss=avg_loss,
        payoff_ratio=payoff,
        exposure_pct=exposure,
        turnover_x=turnover,
        n_trades=n_trades,
        trades_per_day=n_trades / n_days if n_days else 0.0,
        final_equity=final,
        max_drawdown_pct=max_dd * 100.0,
        max_drawdown_bars=int(max_dd_bars),
        max_drawdown_days=max_dd_bars * bar_ms / k.DAY_MS,
        longest_underwater_bars=int(longest_under),
        longest_underwater_days=longest_under * bar_ms / k.DAY_MS,
        ulcer_index_pct=math.sqrt(sum_sq / n_bars) if n_bars else 0.0,
        var_95_pct=var95,
        cvar_95_pct=cvar95,
        var_99_pct=var99,
        cvar_99_pct=cvar99,
        tail_ratio=tail,
        top_days_pnl_share_pct=top_share,
        worst_day_pct=worst_day,
        worst_trade_pct=float(trade_return_pct.min()) if n_trades else None,
        worst_trade_pnl=float(pnl.min()) if n_trades else None,
        max_consecutive_losses=int(k.max_losing_streak_nb(pnl)) if n_trades else 0,
        green_days_pct=green,
        daily_pnl_median=pnl_median,
        daily_pnl_skew=pnl_skew,
        median_holding_bars=median_held,
        median_holding_hours=None if median_held is None else median_held * bar_ms / 3_600_000,
        n_days=n_days,
        active_days=active_days,
        fees_paid=fees,
        fees_pct_of_gross=fees_share,
        slippage_cost=slippage,
        slippage_bps=slippage_bps,
        funding_paid=funding,
        capacity_median_pct=capacity_median,
        capacity_max_pct=capacity_max,
        capacity_flag=bool(capacity_flag),
        buy_hold_return_pct=buy_hold,
        alpha_pct=alpha,
        beta=beta,
        is_valid=not reasons,
        invalid_reasons=tuple(reasons),
        sharpe_outlier=sharpe is not None and sharpe > cfg.sharpe_cap,
        stopped_early=result.stopped_early,
        periods_per_year=periods,
        top_k_days=cfg.top_k_days,
        notes=undefined.notes,
    )


__all__ = [
    "CRYPTO_PERIODS_PER_YEAR",
    "KPI_NAMES",
    "TRADING_DAYS_PER_YEAR",
    "BacktestRecord",
    "DailySeries",
    "KpiSettings",
    "Kpis",
    "compute_kpis",
    "daily_series",
    "periods_per_year_for",
]
