"""The KPI record against quantstats 0.0.86, empyrical-reloaded 0.7 and ffn 1.4, on realistic backtests.

Markets are seeded random walks (Student t returns), traded on random entry events under a few configs (fees,
slippage, TP/SL, leverage). Two kinds of data:

* daily bars ("1d"): the per-bar equity is the daily equity, so even figures defined on the per-bar curve (max
  drawdown, Calmar, Ulcer) must equal the peers' daily ones;
* 5m bars over about three months, starting mid-day and, for the MetaTrader source, without weekends: the test
  rebuilds the UTC days with pandas and feeds the peers those daily returns; max drawdown is per bar there (deeper
  than a daily one) and is checked against numpy and ffn on the bars.

The peers always get daily returns, PnL and benchmark returns built here with pandas from the per-bar equity and the
candles, never ``stratlab.metrics.daily_series``. Where the definitions agree the figures must match to a relative
1e-9. What each peer does, read in its source, and where it differs:

* Sharpe: empyrical ``sharpe_ratio``, quantstats ``sharpe``, ffn ``calc_sharpe``: mean / std (ddof 1) × √periods,
  as ours.
* Sortino: all three divide by √(mean of min(r, 0)²) over all days, as ours.
* CAGR: empyrical ``annual_return`` and quantstats ``cagr`` (0.0.86 counts years as observations / periods, not
  calendar time) are (Π(1 + r)) ^ (periods / days) − 1, as ours. ffn ``calc_cagr`` uses calendar years between the
  first and last date (``year_frac``): not compared.
* Max drawdown: empyrical and quantstats anchor the running peak at the starting equity, as ours; they see days,
  so they are compared on daily bars only. ffn ``calc_max_drawdown`` takes prices: fed the per-bar equity with the
  initial equity in front, it is compared on both kinds of data.
* Calmar: empyrical ``calmar_ratio`` and quantstats ``calmar`` are CAGR over the daily max drawdown; ours divides by
  the per-bar one. Equal on daily bars; on 5m bars ours is checked as the peers' CAGR over the numpy per-bar drawdown.
* Drawdown durations: quantstats ``drawdown_details`` counts calendar days from an episode's first underwater day
  to its last; ours counts bars under water. Compared where every calendar day has a bar (crypto, daily bars).
* Ulcer index: ours is √(mean over bars of squared percent drawdowns). ffn ``to_ulcer_index`` is the same in percent
  points but averages over the prices it gets, so with the initial equity put in front its mean has one more (zero)
  term: ours = ffn × √((n + 1) / n). quantstats ``ulcer_index`` uses fractions and divides by n − 1 (daily only):
  ours = 100 × quantstats × √((n − 1) / n). Both relations are checked, and a 5-value case by hand.
* VaR: empyrical ``value_at_risk`` is the historical percentile, as ours. quantstats ``value_at_risk`` is
  parametric (normal quantile from mean and std): a different estimator, not compared.
* CVaR: quantstats ``cvar(method="historical")`` averages the returns at or below the (linear) quantile, as ours.
  empyrical ``conditional_value_at_risk`` averages the lowest ⌊(n − 1) × cutoff⌋ + 1 returns: the same set unless
  returns tie at the cutoff (stop-loss days can lose exactly the same); then each is checked against its own
  definition by hand. quantstats' default method is parametric.
* Tail ratio: |95th percentile| / |5th percentile| in empyrical and quantstats, as ours.
* Beta: empyrical ``alpha_beta`` and quantstats ``greeks``, as ours. Alpha: empyrical compounds the mean daily
  excess, (1 + mean(r − β b)) ^ periods − 1, as ours; quantstats ``greeks`` annualises it arithmetically
  (mean(r − β b) × periods), so ours = (1 + quantstats / periods) ^ periods − 1 is what is checked against it.
* Skew: ours is the adjusted Fisher-Pearson skew of daily PnL (money). quantstats ``skew`` is pandas ``Series.skew``
  of what it gets; it is fed the daily PnL here.
* Green days: quantstats ``win_rate`` is positive days over non-zero days, as ours (flat days are not counted).
* Worst day: quantstats ``worst``, the lowest daily return.
* Monthly returns: quantstats ``monthly_returns`` compounds daily returns within each month and year, as ours, but
  writes 0 where a month has no data (ours NaN). Also checked against a pandas ``resample("ME")`` of daily equity.
* Rolling Sharpe: quantstats ``rolling_sharpe`` is pandas rolling mean / std (ddof 1) × √periods, as ours; also
  checked against numpy over sliding windows.
* Trade figures (profit factor, payoff ratio, average win and loss, losing streak, win rate): quantstats computes them
  per period (day); ours are per trade. Its functions are definitions over any series, so they are fed the per-trade
  PnL to check ours.

Not compared: quantstats ``exposure`` (the share of days with a non-zero return, rounded up to a whole percent; ours
is the share of bars with a position open) and volatility (not a KPI of ours). Annualisation: 365 for a crypto source,
252 for ``mt5_icmarkets``, and an override of ``KpiSettings.periods_per_year``.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import empyrical
import ffn
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import quantstats as qs

from stratlab.data.candles import Candles
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.metrics import Kpis, KpiSettings, compute_kpis, daily_series, monthly_returns, rolling_sharpe

FloatArray = npt.NDArray[np.float64]

RTOL = 1e-9
DAY_MS = 86_400_000
ROLLING_WINDOW_DAYS = 30


# markets and backtests --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Market:
    """A seeded random walk (``vol``: the typical bar return) and the costs and stop distance it is traded with."""

    name: str
    source: str
    timeframe: str
    start: str  # first bar, UTC
    days: int  # calendar span
    vol: float
    event_rate: float  # chance of an entry event per bar
    fee_bps: float
    stop_pct: float  # SL distance; TP twice as far
    weekdays_only: bool = False
    window: tuple[int, int] = (0, 0)  # bars left out at the start (warm-up) and at the end
    seed: int = 0

    @property
    def periods(self) -> int:
        return 252 if self.source.startswith("mt5_") else 365


CRYPTO = {"source": "binance", "fee_bps": 4.5}
# MetaTrader FX: no weekend bars, lower commission.
FX = {"source": "mt5_icmarkets", "fee_bps": 0.7, "weekdays_only": True}
DAILY_MARKETS = (
    Market(name="crypto-1d", timeframe="1d", start="2022-03-14", days=640, vol=0.03, event_rate=0.15, stop_pct=5.0,
           seed=1, **CRYPTO),
    Market(name="mt5-1d", timeframe="1d", start="2021-07-05", days=700, vol=0.006, event_rate=0.15, stop_pct=1.0,
           seed=2, **FX),
)  # fmt: skip
INTRADAY_MARKETS = (
    # Starts mid-day and trades a window that begins and ends inside a day: the first and last UTC days are partial.
    Market(name="crypto-5m", timeframe="5m", start="2024-01-20 13:35", days=100, vol=0.0015, event_rate=0.01,
           stop_pct=1.0, window=(300, 47), seed=3, **CRYPTO),
    Market(name="mt5-5m", timeframe="5m", start="2023-09-04 00:00", days=90, vol=0.0004, event_rate=0.01,
           stop_pct=0.25, seed=4, **FX),
)  # fmt: skip
CONFIG_NAMES = ("fees", "tp-sl", "leveraged")


def config_for(market: Market, name: str) -> BacktestConfig:
    """Reversing on every opposite event with fees only; with slippage and TP/SL; at 1.5x notional with a SL."""
    stop, fee = market.stop_pct, market.fee_bps
    return {
        "fees": BacktestConfig(fee_bps=fee),
        "tp-sl": BacktestConfig(fee_bps=fee, slippage_bps=0.5, tp_pct=2.0 * stop, sl_pct=stop),
        "leveraged": BacktestConfig(fee_bps=fee, leverage=3.0, size_pct=50.0, sl_pct=stop, on_opposite="close"),
    }[name]


def market_frame(market: Market) -> pd.DataFrame:
    step = pd.Timedelta(minutes=5) if market.timeframe == "5m" else pd.Timedelta(days=1)
    times = pd.date_range(market.start, periods=int(pd.Timedelta(days=market.days) / step), freq=step)
    if market.weekdays_only:
        times = times[times.day_of_week < 5]
    n = len(times)
    rng = np.random.default_rng(market.seed)
    returns = rng.standard_t(4, n) * market.vol / math.sqrt(2.0)  # t(4) has variance 2
    close = 100.0 * np.exp(np.cumsum(returns))
    gaps = rng.normal(0.0, market.vol * 0.1, n)  # the next bar opens near, not at, the previous close
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(gaps)
    wicks = np.abs(rng.normal(0.0, market.vol * 0.6, (2, n)))
    return pd.DataFrame(
        {
            "timestamp_ms": (times.as_unit("ms").asi8).astype(np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * (1.0 + wicks[0]),
            "low": np.minimum(open_, close) * (1.0 - wicks[1]),
            "close": close,
            "volume": rng.gamma(2.0, 50.0, n),
        }
    )


@functools.cache
def candles_of(market: Market) -> Candles:
    return Candles.from_frame(market_frame(market), source=market.source, symbol="X", timeframe=market.timeframe)


@functools.cache
def backtest(market: Market, config_name: str) -> BacktestResult:
    candles = candles_of(market)
    n = len(candles)
    rng = np.random.default_rng(market.seed + 100)
    events = np.where(rng.random(n) < market.event_rate, rng.choice(np.array([-1, 1]), n), 0).astype(np.int8)
    config = config_for(market, config_name)
    start, cut = market.window
    return run_backtest(candles, events, config, start=start, end=n - cut)


def case_params(markets: tuple[Market, ...]) -> list[Any]:
    return [pytest.param(m, c, id=f"{m.name}-{c}") for m in markets for c in CONFIG_NAMES]


DAILY = case_params(DAILY_MARKETS)
INTRADAY = case_params(INTRADAY_MARKETS)
ALL = DAILY + INTRADAY


# the daily series, rebuilt here with pandas ------------------------------------------------------------------------


@dataclass(frozen=True)
class Days:
    """UTC days of a backtest: equity at the day's last bar, PnL and return over the day, benchmark return."""

    equity: pd.Series
    pnl: pd.Series
    returns: pd.Series
    benchmark: pd.Series
    periods: int
    kpis: Kpis = field(repr=False)


@functools.cache
def days_of(market: Market, config_name: str) -> Days:
    result = backtest(market, config_name)
    candles = result.candles
    times = pd.to_datetime(result.timestamp_ms, unit="ms")
    day = times.floor("D")
    equity = pd.Series(result.equity, index=times).groupby(day).last()
    previous = equity.shift(1).fillna(result.initial_equity)
    pnl = equity - previous
    closes = pd.Series(candles.close[result.start : result.end], index=times).groupby(day).last()
    previous_close = closes.shift(1).fillna(candles.open[result.start])
    return Days(
        equity=equity,
        pnl=pnl,
        returns=pnl / previous,
        benchmark=closes / previous_close - 1.0,
        periods=market.periods,
        kpis=compute_kpis(result),
    )


def per_bar_drawdown(result: BacktestResult) -> FloatArray:
    """Fractional drawdown at each bar below the running peak, the initial equity being the first peak."""
    peak = np.maximum.accumulate(np.concatenate([[result.initial_equity], result.equity]))[1:]
    drawdown: FloatArray = 1.0 - result.equity / peak
    return drawdown


@contextmanager
def quiet() -> Iterator[None]:
    """The peers' deprecation and runtime chatter is not what these tests are about."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def fraction(pct: float | None) -> float | None:
    return None if pct is None else pct / 100.0


def check(ours: float | None, *peers: float) -> None:
    assert ours is not None
    for peer in peers:
        assert math.isfinite(peer)
        assert ours == pytest.approx(peer, rel=RTOL, abs=1e-12)


# the tests --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_the_backtests_are_realistic(market: Market, config_name: str) -> None:
    # Guards the fixtures: enough trades and days for every figure below to be defined and meaningful.
    result = backtest(market, config_name)
    days = days_of(market, config_name)
    assert result.n_trades >= 20
    assert result.stopped_early is None
    assert len(days.returns) >= 60
    assert (days.returns < 0).sum() >= 20
    assert days.kpis.periods_per_year == market.periods


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_daily_series_is_the_utc_days_of_the_per_bar_equity(market: Market, config_name: str) -> None:
    result = backtest(market, config_name)
    days = days_of(market, config_name)
    ours = daily_series(result.timestamp_ms, result.equity, result.initial_equity)
    expected_day_ms = days.equity.index.as_unit("ms").asi8
    np.testing.assert_array_equal(ours.day_ms, expected_day_ms)
    np.testing.assert_array_equal(ours.equity, days.equity.to_numpy())
    np.testing.assert_allclose(ours.pnl, days.pnl.to_numpy(), rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(ours.returns, days.returns.to_numpy(), rtol=RTOL, atol=1e-15)
    assert days.kpis.n_days == len(days.returns)
    if market.weekdays_only:
        assert not (days.equity.index.day_of_week >= 5).any()  # days without bars are not days


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_return_cagr_sharpe_sortino_match_peers(market: Market, config_name: str) -> None:
    days = days_of(market, config_name)
    r, periods, kpis = days.returns, days.periods, days.kpis
    with quiet():
        check(kpis.return_pct / 100.0, empyrical.cum_returns_final(r), qs.stats.comp(r))
        check(
            fraction(kpis.cagr_pct),
            empyrical.annual_return(r, annualization=periods),
            qs.stats.cagr(r, periods=periods),
        )
        check(
            kpis.sharpe,
            empyrical.sharpe_ratio(r, annualization=periods),
            qs.stats.sharpe(r, periods=periods),
            ffn.calc_sharpe(r, nperiods=periods),
        )
        check(
            kpis.sortino,
            empyrical.sortino_ratio(r, annualization=periods),
            qs.stats.sortino(r, periods=periods),
            ffn.calc_sortino_ratio(r, nperiods=periods),
        )


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_tail_figures_match_peers(market: Market, config_name: str) -> None:
    days = days_of(market, config_name)
    r, kpis = days.returns, days.kpis
    with quiet():
        check(kpis.var_95_pct, empyrical.value_at_risk(r, cutoff=0.05) * 100.0)
        check(kpis.var_99_pct, empyrical.value_at_risk(r, cutoff=0.01) * 100.0)
        for ours, cutoff in ((kpis.cvar_95_pct, 0.05), (kpis.cvar_99_pct, 0.01)):
            historical = qs.stats.cvar(r, confidence=1.0 - cutoff, method="historical", prepare_returns=False)
            check(ours, historical * 100.0)
            # empyrical averages a fixed count of the lowest days; the same days as ours unless some tie at the cutoff
            # (stop-loss days at a fixed distance lose exactly the same: it happens on the leveraged FX run).
            lowest = np.sort(r.to_numpy())
            at_or_below = int((lowest <= np.percentile(lowest, cutoff * 100.0)).sum())
            fixed_count = int((len(r) - 1) * cutoff) + 1
            peer = empyrical.conditional_value_at_risk(r, cutoff=cutoff) * 100.0
            if at_or_below == fixed_count:
                check(ours, peer)
            else:
                check(ours, float(lowest[:at_or_below].mean()) * 100.0)
                check(peer, float(lowest[:fixed_count].mean()) * 100.0)
        check(kpis.tail_ratio, empyrical.tail_ratio(r), qs.stats.tail_ratio(r, prepare_returns=False))
        check(kpis.worst_day_pct, qs.stats.worst(r, prepare_returns=False) * 100.0, float(r.min()) * 100.0)


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_day_counts_and_skew_match_peers(market: Market, config_name: str) -> None:
    days = days_of(market, config_name)
    kpis = days.kpis
    assert (days.returns == 0.0).any()  # flat days exist, so excluding them from the green share is exercised
    with quiet():
        check(kpis.green_days_pct, qs.stats.win_rate(days.returns, prepare_returns=False) * 100.0)
        check(kpis.daily_pnl_skew, qs.stats.skew(days.pnl, prepare_returns=False), float(days.pnl.skew()))
    assert kpis.active_days == int((days.pnl != 0.0).sum())
    check(kpis.daily_pnl_median, float(days.pnl.median()))


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_benchmark_figures_match_peers(market: Market, config_name: str) -> None:
    days = days_of(market, config_name)
    r, b, periods, kpis = days.returns, days.benchmark, days.periods, days.kpis
    with quiet():
        alpha, beta = empyrical.alpha_beta(r, b, annualization=periods)
        greeks = qs.stats.greeks(r, b, periods=periods, prepare_returns=False)
        check(kpis.buy_hold_return_pct / 100.0, empyrical.cum_returns_final(b))
    check(kpis.beta, beta, greeks["beta"])
    check(fraction(kpis.alpha_pct), alpha)
    # quantstats annualises alpha arithmetically; the same mean daily excess, compounded, is ours.
    check(fraction(kpis.alpha_pct), (1.0 + greeks["alpha"] / periods) ** periods - 1)


@pytest.mark.parametrize(("market", "config_name"), DAILY)
def test_drawdown_figures_on_daily_bars_match_peers(market: Market, config_name: str) -> None:
    result = backtest(market, config_name)
    days = days_of(market, config_name)
    r, periods, kpis = days.returns, days.periods, days.kpis
    n = result.equity.size
    with_start = pd.Series(np.concatenate([[result.initial_equity], result.equity]))
    with quiet():
        check(
            kpis.max_drawdown_pct / 100.0,
            -empyrical.max_drawdown(r),
            -qs.stats.max_drawdown(r),
            -ffn.calc_max_drawdown(with_start),
        )
        check(
            kpis.calmar,
            empyrical.calmar_ratio(r, annualization=periods),
            qs.stats.calmar(r, prepare_returns=False, periods=periods),
        )
        check(kpis.ulcer_index_pct, ffn.to_ulcer_index(with_start) * math.sqrt((n + 1) / n))
        check(kpis.ulcer_index_pct, 100.0 * qs.stats.ulcer_index(r) * math.sqrt((n - 1) / n))


@pytest.mark.parametrize(("market", "config_name"), [p for p in DAILY if not p.values[0].weekdays_only])
def test_drawdown_durations_on_continuous_daily_bars_match_quantstats(market: Market, config_name: str) -> None:
    # quantstats counts calendar days from an episode's first underwater day to its last, ours counts bars under
    # water: the same number when every calendar day has a bar (not on the MetaTrader market, which skips weekends).
    kpis = days_of(market, config_name).kpis
    with quiet():
        episodes = qs.stats.drawdown_details(qs.stats.to_drawdown_series(days_of(market, config_name).returns))
    deepest = episodes.loc[episodes["max drawdown"].idxmin()]
    check(-deepest["max drawdown"], kpis.max_drawdown_pct)
    assert kpis.max_drawdown_days == deepest["days"] == kpis.max_drawdown_bars
    assert kpis.longest_underwater_days == episodes["days"].max() == kpis.longest_underwater_bars


@pytest.mark.parametrize(("market", "config_name"), INTRADAY)
def test_drawdown_figures_on_5m_bars_are_per_bar(market: Market, config_name: str) -> None:
    result = backtest(market, config_name)
    days = days_of(market, config_name)
    r, periods, kpis = days.returns, days.periods, days.kpis
    drawdown = per_bar_drawdown(result)
    n = result.equity.size
    with_start = pd.Series(np.concatenate([[result.initial_equity], result.equity]))
    with quiet():
        daily_max = -empyrical.max_drawdown(r)
        assert daily_max == pytest.approx(-qs.stats.max_drawdown(r), rel=RTOL)
        check(kpis.max_drawdown_pct / 100.0, float(drawdown.max()), -ffn.calc_max_drawdown(with_start))
        assert kpis.max_drawdown_pct / 100.0 > daily_max  # intraday troughs lie between the days' last bars
        check(kpis.calmar, empyrical.annual_return(r, annualization=periods) / float(drawdown.max()))
        check(kpis.ulcer_index_pct, ffn.to_ulcer_index(with_start) * math.sqrt((n + 1) / n))
    check(kpis.ulcer_index_pct, math.sqrt(float(np.mean((100.0 * drawdown) ** 2))))


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_monthly_returns_match_quantstats_and_pandas(market: Market, config_name: str) -> None:
    result = backtest(market, config_name)
    days = days_of(market, config_name)
    ours = monthly_returns(result)
    with quiet():
        peer = qs.stats.monthly_returns(days.returns, eoy=True, compounded=True, prepare_returns=False)
    month_names = [name.upper() for name in pd.date_range("2001-01-01", periods=12, freq="MS").strftime("%b")]
    assert [str(year) for year in ours.index] == list(peer.index)
    for year in ours.index:
        for month, name in zip(range(1, 13), month_names, strict=True):
            value = ours.loc[year, month]
            if np.isnan(value):
                assert peer.loc[str(year), name] == 0.0  # quantstats writes 0 for a month without data
            else:
                check(value / 100.0, peer.loc[str(year), name])
        check(ours.loc[year, "year"] / 100.0, peer.loc[str(year), "EOY"])

    # A month's return is its last day's equity over the previous month's last day's (the first: initial equity).
    month_end = days.equity.resample("ME").last().dropna()
    expected = month_end / month_end.shift(1).fillna(result.initial_equity) - 1.0
    flat = ours.drop(columns="year").stack().dropna()
    np.testing.assert_allclose(flat.to_numpy() / 100.0, expected.to_numpy(), rtol=RTOL, atol=1e-15)
    total = result.final_equity / result.initial_equity
    check(float(np.prod(1.0 + flat.to_numpy() / 100.0)), total)
    check(float(np.prod(1.0 + ours["year"].to_numpy() / 100.0)), total)


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_rolling_sharpe_matches_quantstats_and_numpy(market: Market, config_name: str) -> None:
    result = backtest(market, config_name)
    days = days_of(market, config_name)
    ours = rolling_sharpe(result, window_days=ROLLING_WINDOW_DAYS)
    r = days.returns.to_numpy()
    windows = np.lib.stride_tricks.sliding_window_view(r, ROLLING_WINDOW_DAYS)
    expected = np.full(r.size, np.nan)
    expected[ROLLING_WINDOW_DAYS - 1 :] = windows.mean(axis=1) / windows.std(axis=1, ddof=1) * math.sqrt(days.periods)
    with quiet():
        peer = qs.stats.rolling_sharpe(
            days.returns, rolling_period=ROLLING_WINDOW_DAYS, periods_per_year=days.periods, prepare_returns=False
        )
    np.testing.assert_array_equal(ours.index.as_unit("ms").asi8, days.returns.index.as_unit("ms").asi8)
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(ours.to_numpy(), peer.to_numpy(), rtol=RTOL, atol=1e-9)
    assert np.isnan(ours.to_numpy()[: ROLLING_WINDOW_DAYS - 1]).all()


@pytest.mark.parametrize(("market", "config_name"), ALL)
def test_trade_figures_match_quantstats_fed_trade_pnl(market: Market, config_name: str) -> None:
    result = backtest(market, config_name)
    kpis = compute_kpis(result)
    trades = result.trades
    pnl = pd.Series(trades["pnl"].to_numpy(), index=pd.to_datetime(trades["exit_time_ms"], unit="ms"))
    assert (pnl != 0.0).all()  # quantstats' win rate leaves zeros out, ours counts every trade
    trade_return = pnl / (trades["size"].to_numpy() * trades["entry_price"].to_numpy())
    with quiet():
        check(kpis.profit_factor, qs.stats.profit_factor(pnl, prepare_returns=False))
        check(kpis.payoff_ratio, qs.stats.payoff_ratio(pnl, prepare_returns=False))
        check(kpis.avg_win, qs.stats.avg_win(pnl, prepare_returns=False))
        check(kpis.avg_loss, qs.stats.avg_loss(pnl, prepare_returns=False))
        check(kpis.win_rate_pct, qs.stats.win_rate(pnl, prepare_returns=False) * 100.0)
        check(kpis.worst_trade_pct, qs.stats.worst(trade_return, prepare_returns=False) * 100.0)
        assert kpis.max_consecutive_losses == int(qs.stats.consecutive_losses(pnl, prepare_returns=False))


# a case by hand where the peers' Ulcer conventions differ -----------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """A bare equity curve with no trades: enough of a backtest record for ``compute_kpis``."""

    candles: Candles
    equity: FloatArray
    initial_equity: float
    start: int = 0
    stopped_early: str | None = None
    n_trades: int = 0

    @property
    def end(self) -> int:
        return self.equity.size

    @property
    def trade_arrays(self) -> dict[str, FloatArray]:
        names = ("pnl", "size", "entry_price", "exit_price", "entry_bar", "exit_bar", "fees", "funding")
        return {name: np.empty(0) for name in (*names, "slippage_cost")}


def test_ulcer_index_by_hand_and_the_peers_conventions() -> None:
    equity = np.array([100.0, 90.0, 80.0, 100.0, 95.0])
    n = equity.size
    frame = pd.DataFrame(
        {
            "timestamp_ms": 1_704_067_200_000 + DAY_MS * np.arange(n, dtype=np.int64),
            "open": equity,
            "high": equity,
            "low": equity,
            "close": equity,
            "volume": np.ones(n),
        }
    )
    curve = Curve(Candles.from_frame(frame, source="test", symbol="X", timeframe="1d"), equity, 100.0)
    kpis = compute_kpis(curve)
    # Drawdowns from the running peak (100): 0, 10, 20, 0, 5 % → squares 0 + 100 + 400 + 0 + 25 = 525.
    check(kpis.ulcer_index_pct, math.sqrt(525.0 / 5))
    check(kpis.max_drawdown_pct, 20.0)
    returns = pd.Series(
        equity / np.concatenate([[100.0], equity[:-1]]) - 1.0, index=pd.to_datetime(frame["timestamp_ms"], unit="ms")
    )
    with quiet():
        # quantstats: fractions, over n - 1.
        check(qs.stats.ulcer_index(returns), math.sqrt(0.0525 / 4))
        # ffn: percent points, over the prices it gets (here the starting 100 and the five days).
        check(ffn.to_ulcer_index(pd.Series([100.0, *equity])), math.sqrt(525.0 / 6))


@pytest.mark.parametrize("periods", [52, 300])
def test_an_annualisation_override_reaches_every_annualised_figure(periods: int) -> None:
    market = DAILY_MARKETS[0]
    days = days_of(market, "tp-sl")
    kpis = compute_kpis(backtest(market, "tp-sl"), KpiSettings(periods_per_year=periods))
    r = days.returns
    assert kpis.periods_per_year == periods
    with quiet():
        check(kpis.sharpe, empyrical.sharpe_ratio(r, annualization=periods))
        check(kpis.sortino, empyrical.sortino_ratio(r, annualization=periods))
        check(
            fraction(kpis.cagr_pct),
            empyrical.annual_return(r, annualization=periods),
        )
        check(kpis.calmar, empyrical.calmar_ratio(r, annualization=periods))
        check(
            fraction(kpis.alpha_pct),
            empyrical.alpha(r, days.benchmark, annualization=periods),
        )
