"""The KPI record family by family: one function per rule set, each returning its share of the record by field name.

``compute_kpis`` (kpis.py) reads the backtest once into the shared inputs below (the daily series, the moments of
the daily returns, the per-bar drawdown, the trade table) and composes the families; the definitions are the
README's KPI table and the conventions in kpis.py. Families that can leave a figure undefined record why in a
shared ``Notes``, in the order they run. Loops over bars or trades live in ``_kernels``; here only whole-array numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

import numpy as np
import numpy.typing as npt

from stratlab.data.timeframes import DAY_MS, HOUR_MS
from stratlab.metrics import _kernels as k
from stratlab.metrics.daily import DailySeries
from stratlab.metrics.settings import KpiSettings

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


# shared inputs ----------------------------------------------------------------------------------------------------


class Notes:
    """Why figures are undefined (None) or zero by convention, by KPI name, in the order the families find out."""

    def __init__(self) -> None:
        self.why: dict[str, str] = {}

    def undefined(self, name: str, why: str) -> None:
        self.why[name] = why

    def all_undefined(self, names: tuple[str, ...], why: str) -> None:
        for name in names:
            self.why[name] = why

    def ratio(self, name: str, numerator: float, denominator: float, why: str) -> float | None:
        """numerator / denominator; over zero: 0 if the numerator is zero too (nothing happened), else undefined."""
        if denominator == 0.0 or not math.isfinite(denominator):
            self.why[name] = why
            return 0.0 if numerator == 0.0 else None
        return numerator / denominator

    def mean(self, name: str, values: FloatArray, why: str) -> float | None:
        """The mean of ``values``, undefined when there are none."""
        if values.size:
            return float(values.mean())
        self.why[name] = why
        return None


class TradeColumns(Protocol):
    """Per-trade arrays in exit order, by the engine's trade column names (``stratlab.engine.TRADE_COLUMNS``): a
    mapping of names to arrays or a structured array with those fields both fit."""

    def __getitem__(self, name: str, /) -> npt.NDArray[Any]: ...


@dataclass(frozen=True)
class TradeTable:
    """The trade columns the KPIs read, and the notionals derived from them once."""

    count: int
    pnl: FloatArray
    entry_bar: Int64Array  # candle index of the entry bar (the window's offset included)
    exit_bar: Int64Array
    entry_notional: FloatArray
    traded_notional: float  # entries, adds and exits
    fees: FloatArray
    funding: FloatArray
    slippage_cost: FloatArray


def trade_table(columns: TradeColumns, n_trades: int) -> TradeTable:
    """Read the trades by column name only, so any layout of the engine's trade rows with those names works."""
    size = columns["size"]
    entry_notional = size * columns["entry_price"]
    exit_notional = size * columns["exit_price"]
    return TradeTable(
        count=n_trades,
        pnl=columns["pnl"],
        entry_bar=columns["entry_bar"].astype(np.int64),
        exit_bar=columns["exit_bar"].astype(np.int64),
        entry_notional=entry_notional,
        traded_notional=float(entry_notional.sum() + exit_notional.sum()),
        fees=columns["fees"],
        funding=columns["funding"],
        slippage_cost=columns["slippage_cost"],
    )


@dataclass(frozen=True)
class ReturnMoments:
    """Mean and sample standard deviation (ddof 1) of the daily returns; 0 without days (mean) or under 2 (std)."""

    mean: float
    std: float


def return_moments(returns: FloatArray) -> ReturnMoments:
    n_days = returns.size
    return ReturnMoments(
        mean=float(returns.mean()) if n_days else 0.0,
        std=float(returns.std(ddof=1)) if n_days > 1 else 0.0,
    )


@dataclass(frozen=True)
class Drawdown:
    """The per-bar equity against its running peak, the initial equity being the first peak."""

    max_fraction: float  # the largest fall below the peak, as a fraction of the peak
    max_bars: int  # from the first bar below that peak to the bar that regains it (or the end); 0 without a fall
    longest_underwater_bars: int
    ulcer_index_pct: float  # √(mean over bars of the squared percent drawdown)


def per_bar_drawdown(equity: FloatArray, initial_equity: float) -> Drawdown:
    max_fraction, peak_bar, _trough, recovery_bar, longest, _longest_start, sum_sq = k.drawdown_stats_nb(
        equity, initial_equity
    )
    n_bars = equity.size
    max_bars = 0
    if max_fraction > 0.0:
        first_under = peak_bar + 1 if peak_bar >= 0 else 0  # a peak bar of -1 is the initial equity
        max_bars = (recovery_bar if recovery_bar >= 0 else n_bars) - first_under
    return Drawdown(
        max_fraction=max_fraction,
        max_bars=int(max_bars),
        longest_underwater_bars=int(longest),
        ulcer_index_pct=math.sqrt(sum_sq / n_bars) if n_bars else 0.0,
    )


# the families, in the order compute_kpis runs them (which is the order of the notes) ---------------------------


class ReturnFigures(TypedDict):
    return_pct: float
    cagr_pct: float | None
    final_equity: float


def return_figures(
    initial_equity: float, final_equity: float, n_days: int, periods: int, notes: Notes
) -> ReturnFigures:
    """Total return; CAGR = (final / initial) ^ (periods per year / days) − 1."""
    growth = final_equity / initial_equity
    cagr: float | None = None
    if not n_days:
        notes.undefined("cagr_pct", "no days")
    elif growth <= 0:
        notes.undefined("cagr_pct", "equity at or below zero")
    else:
        try:
            cagr = (float(growth) ** (periods / n_days) - 1.0) * 100.0
        except OverflowError:  # e.g. ten times the equity in one day, compounded over a year: beyond a float
            notes.undefined("cagr_pct", "too large to represent (a short, extreme run compounded over a year)")
    return {"return_pct": (growth - 1.0) * 100.0, "cagr_pct": cagr, "final_equity": final_equity}


class RiskAdjustedRatios(TypedDict):
    sharpe: float | None
    sortino: float | None
    calmar: float | None


def risk_adjusted_ratios(
    returns: FloatArray,
    moments: ReturnMoments,
    periods: int,
    cagr_pct: float | None,
    max_drawdown_fraction: float,
    notes: Notes,
) -> RiskAdjustedRatios:
    """Sharpe (over the sample std), Sortino (over the root mean square of the negative days, over all days), Calmar
    (CAGR over the per-bar max drawdown); no risk-free rate."""
    annualised_mean = moments.mean * math.sqrt(periods)
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if returns.size else 0.0
    return {
        "sharpe": notes.ratio("sharpe", annualised_mean, moments.std, "daily returns do not vary"),
        "sortino": notes.ratio("sortino", annualised_mean, downside, "no losing day"),
        "calmar": calmar_ratio(cagr_pct, max_drawdown_fraction, notes),
    }


def calmar_ratio(cagr_pct: float | None, max_drawdown_fraction: float, notes: Notes) -> float | None:
    """CAGR over the per-bar max drawdown (deeper than a daily one); undefined with the CAGR."""
    if cagr_pct is None:
        notes.undefined("calmar", "CAGR is undefined")
        return None
    return notes.ratio("calmar", cagr_pct / 100.0, max_drawdown_fraction, "no drawdown")


class DrawdownFigures(TypedDict):
    max_drawdown_pct: float
    max_drawdown_bars: int
    max_drawdown_days: float
    longest_underwater_bars: int
    longest_underwater_days: float
    ulcer_index_pct: float


def drawdown_figures(drawdown: Drawdown, bar_ms: int) -> DrawdownFigures:
    """The per-bar drawdown in percent, and its durations in bars and in days of bars."""
    return {
        "max_drawdown_pct": drawdown.max_fraction * 100.0,
        "max_drawdown_bars": drawdown.max_bars,
        "max_drawdown_days": drawdown.max_bars * bar_ms / DAY_MS,
        "longest_underwater_bars": drawdown.longest_underwater_bars,
        "longest_underwater_days": drawdown.longest_underwater_bars * bar_ms / DAY_MS,
        "ulcer_index_pct": drawdown.ulcer_index_pct,
    }


class TailFigures(TypedDict):
    var_95_pct: float | None
    cvar_95_pct: float | None
    var_99_pct: float | None
    cvar_99_pct: float | None
    tail_ratio: float | None
    worst_day_pct: float | None


def tail_figures(returns: FloatArray, notes: Notes) -> TailFigures:
    """Historical VaR (percentiles with linear interpolation), CVaR (mean at or below them), the tail ratio
    |95th| / |5th| percentile, the worst day: all of daily returns."""
    if not returns.size:
        notes.all_undefined(
            ("var_95_pct", "var_99_pct", "cvar_95_pct", "cvar_99_pct", "tail_ratio", "worst_day_pct"), "no days"
        )
        return {
            "var_95_pct": None,
            "cvar_95_pct": None,
            "var_99_pct": None,
            "cvar_99_pct": None,
            "tail_ratio": None,
            "worst_day_pct": None,
        }
    p1, p5, p95 = np.percentile(returns, [1.0, 5.0, 95.0])
    return {
        "var_95_pct": float(p5) * 100.0,
        "cvar_95_pct": float(returns[returns <= p5].mean()) * 100.0,
        "var_99_pct": float(p1) * 100.0,
        "cvar_99_pct": float(returns[returns <= p1].mean()) * 100.0,
        "tail_ratio": notes.ratio("tail_ratio", abs(float(p95)), abs(float(p5)), "5th percentile day is flat"),
        "worst_day_pct": float(returns.min()) * 100.0,
    }


class DailyConsistency(TypedDict):
    top_days_pnl_share_pct: float | None
    green_days_pct: float | None
    daily_pnl_median: float | None
    daily_pnl_skew: float | None
    n_days: int
    active_days: int


def daily_consistency(daily: DailySeries, total_pnl: float, top_k_days: int, notes: Notes) -> DailyConsistency:
    """How evenly the PnL came: the best days' share of it, green days among active (PnL ≠ 0) days, median and
    skew of daily PnL."""
    pnl = daily.pnl
    active_days = int(np.count_nonzero(pnl))
    top_share = top_days_pnl_share(pnl, total_pnl, top_k_days, notes)
    green = notes.ratio("green_days_pct", float(np.count_nonzero(pnl > 0)) * 100.0, float(active_days), "no active day")
    median = float(np.median(pnl)) if pnl.size else None
    if median is None:
        notes.undefined("daily_pnl_median", "no days")
    skew = adjusted_skew(pnl)
    if skew is None:
        notes.undefined("daily_pnl_skew", "fewer than 3 days or no variation")
    return {
        "top_days_pnl_share_pct": top_share,
        "green_days_pct": green,
        "daily_pnl_median": median,
        "daily_pnl_skew": skew,
        "n_days": daily.n_days,
        "active_days": active_days,
    }


def top_days_pnl_share(daily_pnl: FloatArray, total_pnl: float, top_k_days: int, notes: Notes) -> float | None:
    """PnL of the best ``top_k_days`` days over the total PnL, in percent; undefined without a net profit."""
    if daily_pnl.size and total_pnl > 0:
        best = np.sort(daily_pnl)[::-1][:top_k_days]
        return float(best.sum()) / total_pnl * 100.0
    notes.undefined("top_days_pnl_share_pct", "no net profit to share out")
    return None


def adjusted_skew(values: FloatArray) -> float | None:
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


# Undefined without a trade (the ratios among the trade statistics have their own notes).
PER_TRADE_MEANS_AND_EXTREMES = (
    "expectancy",
    "expectancy_pct",
    "worst_trade_pct",
    "worst_trade_pnl",
    "median_holding_bars",
    "median_holding_hours",
)


class TradeStatistics(TypedDict):
    profit_factor: float | None
    win_rate_pct: float | None
    expectancy: float | None
    expectancy_pct: float | None
    avg_win: float | None
    avg_loss: float | None
    payoff_ratio: float | None
    worst_trade_pct: float | None
    worst_trade_pnl: float | None
    max_consecutive_losses: int
    median_holding_bars: float | None
    median_holding_hours: float | None


def trade_statistics(trades: TradeTable, bar_ms: int, notes: Notes) -> TradeStatistics:
    """Per-trade figures: gross profit / loss, wins, means (trade return = pnl / entry notional), the worst trade,
    the longest losing streak, the median bars from entry to exit."""
    pnl, any_trade = trades.pnl, trades.count > 0
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    profit_factor = notes.ratio("profit_factor", float(wins.sum()), float(-losses.sum()), "no losing trade")
    win_rate = notes.ratio("win_rate_pct", wins.size * 100.0, float(trades.count), "no trades")
    if not any_trade:
        notes.all_undefined(PER_TRADE_MEANS_AND_EXTREMES, "no trades")
    avg_win = notes.mean("avg_win", wins, "no winning trade")
    avg_loss = notes.mean("avg_loss", losses, "no losing trade")
    payoff = None if avg_win is None or avg_loss is None else avg_win / -avg_loss
    if payoff is None:
        notes.undefined("payoff_ratio", "needs winning and losing trades")
    trade_return_pct = pnl / trades.entry_notional * 100.0
    median_held = float(np.median(trades.exit_bar - trades.entry_bar)) if any_trade else None
    return {
        "profit_factor": profit_factor,
        "win_rate_pct": win_rate,
        "expectancy": float(pnl.mean()) if any_trade else None,
        "expectancy_pct": float(trade_return_pct.mean()) if any_trade else None,
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "payoff_ratio": payoff,
        "worst_trade_pct": float(trade_return_pct.min()) if any_trade else None,
        "worst_trade_pnl": float(pnl.min()) if any_trade else None,
        "max_consecutive_losses": int(k.max_losing_streak_nb(pnl)) if any_trade else 0,
        "median_holding_bars": median_held,
        "median_holding_hours": None if median_held is None else median_held * bar_ms / HOUR_MS,
    }


class TradingActivity(TypedDict):
    exposure_pct: float
    turnover_x: float
    n_trades: int
    trades_per_day: float


def trading_activity(
    trades: TradeTable, equity: FloatArray, initial_equity: float, first_bar: int, n_days: int
) -> TradingActivity:
    """How much it traded: bars with a position open (entry to exit bar) / bars, traded notional / mean equity,
    trades per day."""
    n_bars = equity.size
    covered = k.covered_bars_nb(trades.entry_bar, trades.exit_bar, first_bar, n_bars) if trades.count else 0
    mean_equity = float(equity.mean()) if n_bars else initial_equity
    return {
        "exposure_pct": covered / n_bars * 100.0 if n_bars else 0.0,
        "turnover_x": trades.traded_notional / mean_equity if mean_equity > 0 else 0.0,
        "n_trades": trades.count,
        "trades_per_day": trades.count / n_days if n_days else 0.0,
    }


class CostFigures(TypedDict):
    fees_paid: float
    fees_pct_of_gross: float | None
    slippage_cost: float
    slippage_bps: float | None
    funding_paid: float


def cost_figures(trades: TradeTable, notes: Notes) -> CostFigures:
    """Fees (also as a share of the price PnL before fees and funding), slippage (also in bps of traded notional),
    funding (negative: received)."""
    fees = float(trades.fees.sum())
    funding = float(trades.funding.sum())
    slippage = float(trades.slippage_cost.sum())
    gross = float(trades.pnl.sum()) + fees + funding  # fills include slippage, so it is in the price PnL already
    return {
        "fees_paid": fees,
        "fees_pct_of_gross": fees_share_of_gross(fees, gross, notes),
        "slippage_cost": slippage,
        "slippage_bps": notes.ratio("slippage_bps", slippage * 10_000.0, trades.traded_notional, "nothing traded"),
        "funding_paid": funding,
    }


def fees_share_of_gross(fees: float, gross: float, notes: Notes) -> float | None:
    """Fees over a positive gross PnL, in percent; no fees is 0 whatever the gross, other fees are undefined."""
    if gross > 0:
        return fees / gross * 100.0
    if not fees:
        return 0.0
    notes.undefined("fees_pct_of_gross", "gross PnL is not positive")
    return None


class CapacityFigures(TypedDict):
    capacity_median_pct: float | None
    capacity_max_pct: float | None
    capacity_flag: bool


def capacity_figures(
    trades: TradeTable, volume: FloatArray, close: FloatArray, threshold_pct: float, notes: Notes
) -> CapacityFigures:
    """Each entry's notional against its bar's traded value (volume × close; bars without volume left out), with a
    flag when the largest share is above ``threshold_pct``. ``volume`` and ``close`` are the whole candle columns."""
    median = largest = None
    if trades.count:
        bar_value = volume[trades.entry_bar] * close[trades.entry_bar]
        traded_bars = bar_value > 0
        if traded_bars.any():
            share = trades.entry_notional[traded_bars] / bar_value[traded_bars] * 100.0
            median, largest = float(np.median(share)), float(share.max())
    if median is None:
        why = "entry bars carry no volume" if trades.count else "no trades"
        notes.all_undefined(("capacity_median_pct", "capacity_max_pct"), why)
    return {
        "capacity_median_pct": median,
        "capacity_max_pct": largest,
        "capacity_flag": largest is not None and largest > threshold_pct,
    }


class BenchmarkFigures(TypedDict):
    buy_hold_return_pct: float
    alpha_pct: float | None
    beta: float | None


def benchmark_figures(
    opens: FloatArray, closes: FloatArray, daily: DailySeries, mean_return: float, periods: int, notes: Notes
) -> BenchmarkFigures:
    """Holding the instrument from the window's first open to its last close, on the same UTC days as the run
    (``opens``, ``closes``: the window's bars): beta = cov / var of daily returns, alpha = (1 + mean(r − β·b)) ^
    periods − 1."""
    n_bars = closes.size
    first_open = float(opens[0]) if n_bars else 1.0
    buy_hold = (float(closes[-1]) / first_open - 1.0) * 100.0 if n_bars else 0.0
    alpha = beta = None
    if daily.n_days > 1:
        day_close = closes[daily.last_bar]
        bench = np.diff(np.concatenate([[first_open], day_close])) / np.concatenate([[first_open], day_close[:-1]])
        bench_centred = bench - bench.mean()
        bench_var = float(np.mean(bench_centred**2))
        if bench_var > 0:
            beta = float(np.mean(bench_centred * (daily.returns - mean_return))) / bench_var
            alpha = ((1.0 + float(np.mean(daily.returns - beta * bench))) ** periods - 1.0) * 100.0
    if beta is None:
        notes.all_undefined(("beta", "alpha_pct"), "needs 2 days and a moving benchmark")
    return {"buy_hold_return_pct": buy_hold, "alpha_pct": alpha, "beta": beta}


class Validity(TypedDict):
    is_valid: bool
    invalid_reasons: tuple[str, ...]
    sharpe_outlier: bool


def validity(
    n_trades: int, active_days: int, daily_std: float, sharpe: float | None, settings: KpiSettings
) -> Validity:
    """Too few trades, too few active days or flat daily returns make a run invalid; a Sharpe above the cap is an
    outlier to look at before believing it."""
    reasons = []
    if n_trades < settings.min_trades:
        reasons.append(f"too few trades ({n_trades} < {settings.min_trades})")
    if active_days < settings.min_active_days:
        reasons.append(f"too few active days ({active_days} < {settings.min_active_days})")
    if daily_std == 0.0:
        reasons.append("zero variance of daily returns")
    return {
        "is_valid": not reasons,
        "invalid_reasons": tuple(reasons),
        "sharpe_outlier": sharpe is not None and sharpe > settings.sharpe_cap,
    }
