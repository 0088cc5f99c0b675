"""Robustness of a champion, checked against computations made another way: every neighbour, grid cell, cost row and
other symbol against a backtest configured by hand; the Monte Carlo against enumerated permutations, a constant
series worked by hand and arch's stationary bootstrap; bad input refused in one line."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import StationaryBootstrap

from stratlab.data.candles import Candles
from stratlab.data.dates import day_end_exclusive_ms, day_start_ms
from stratlab.data.demo import DEFAULT_SYMBOLS, DemoSpec, DemoSymbol, generate_demo_market
from stratlab.data.loader import load_ohlcv
from stratlab.data.store import MarketStore
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.errors import ConfigError
from stratlab.indicators import sma
from stratlab.report.robustness import (
    KpiRow,
    Neighbour,
    block_bootstrap,
    cost_stress,
    json_ready,
    make_champion,
    neighbourhood,
    neighbours,
    other_symbols,
    plateau,
    reshuffle_trades,
    robustness_report,
    stationary_bootstrap_indices,
    trade_returns,
)
from stratlab.strategies import DIRECTION, FloatParam, IntParam, ParamSpace, Strategy, get_strategy
from stratlab.strategies.base import Int8Array, get_float, get_int
from tests.conftest import JAN_2025_MS, make_frame

SOURCE = "demo"
FIRST_DAY, LAST_DAY = "2025-01-05", "2025-02-10"
# A profitable rsi_reversion on the demo BTC (+66 % over the two months, 13 trades), found by a random search.
RSI_PARAMS: dict[str, object] = {"period": 18, "lower": 32, "upper": 81, "direction": "both"}
SOL = DemoSymbol(name="SOL", start_price=150.0, annual_vol=0.8, market_loading=0.8, daily_volume=1_000_000.0)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return generate_demo_market(DemoSpec(months=2, symbols=(*DEFAULT_SYMBOLS, SOL)))


@pytest.fixture(scope="module")
def store_root(frames: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BTC, ETH, SOL on 5m; LATE on 5m a year later (nothing in the champion's dates); XRP on 1h only; BTC and ETH of
    another source."""
    root = tmp_path_factory.mktemp("robustness") / "market_data"
    store = MarketStore(root)
    for name, frame in frames.items():
        store.write_candles(SOURCE, name, "5m", frame, origin="test")
    year_ms = 365 * 86_400_000
    store.write_candles(SOURCE, "LATE", "5m", make_frame(500, start_ms=JAN_2025_MS + year_ms), origin="test")
    store.write_candles(SOURCE, "XRP", "1h", make_frame(500, step_ms=3_600_000), origin="test")
    for name in ("BTC", "ETH"):
        store.write_candles("elsewhere", name, "5m", frames[name], origin="test")
    return root


@pytest.fixture(scope="module")
def btc(store_root: Path) -> Candles:
    return load_ohlcv(SOURCE, "BTC", "5m", FIRST_DAY, LAST_DAY, data_root=store_root)


def window(candles: Candles) -> tuple[int, int]:
    """A traded window that leaves bars after it, so cutting the signals at the end matters."""
    return 300, len(candles) - 200


def direct_backtest(
    candles: Candles, strategy: Strategy, params: Mapping[str, object], config: BacktestConfig, start: int, end: int
) -> BacktestResult:
    """The champion's backtest as evaluate.py runs a trial: signals on the candles cut at the end, then [start, end)."""
    cut = candles.slice(0, end)
    return run_backtest(
        cut, strategy.signals(cut, params), config, stops=strategy.stops(cut, params), start=start, end=end
    )


def assert_same_kpis(row: Any, result: BacktestResult) -> None:
    assert row is not None
    assert row.return_pct == result.return_pct
    assert row.max_drawdown_pct == result.max_drawdown_pct
    assert row.n_trades == result.n_trades
    assert row.sharpe == result.kpis.sharpe


class ContinuousBand(Strategy):
    """A test strategy with a float parameter that has no step: close crossing a band ``width_pct`` around its SMA."""

    name = "continuous_band"
    summary = "close crosses above the upper band -> long, below the lower band -> short"
    space = ParamSpace(
        params=(
            IntParam(name="period", low=5, high=60, default=20),
            FloatParam(name="width_pct", low=0.0, high=2.0, default=0.3),
            DIRECTION,
        )
    )

    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        mean = sma(candles.close, get_int(params, "period"))
        width = get_float(params, "width_pct") / 100.0
        above = np.nan_to_num(candles.close - mean * (1.0 + width), nan=0.0) > 0
        below = np.nan_to_num(mean * (1.0 - width) - candles.close, nan=0.0) > 0
        events = np.zeros(len(candles), dtype=np.int8)
        events[1:][above[1:] & ~above[:-1]] = 1
        events[1:][below[1:] & ~below[:-1]] = -1
        return events

    def warmup(self, params: Mapping[str, object]) -> int:
        return get_int(params, "period")


# 1. neighbourhood ------------------------------------------------------------------------------------------


def test_each_neighbour_is_the_backtest_of_that_one_parameter_moved_one_declared_step(btc: Candles) -> None:
    strategy = get_strategy("bollinger_breakout")
    params = {"period": 30, "num_std": 2.0, "direction": "both"}
    config = BacktestConfig(tp_pct=2.0, sl_pct=1.0)
    start, end = window(btc)
    champion = make_champion(btc, strategy.name, params, config, start, end)
    found = {(n.param, n.steps): n for n in neighbours(champion)}
    expected_values = {("period", -1): 29, ("period", 1): 31, ("num_std", -1): 1.9, ("num_std", 1): 2.1}
    assert {key: n.value for key, n in found.items()} == expected_values
    for (name, steps), value in expected_values.items():
        neighbour = found[(name, steps)]
        assert neighbour.skipped is None
        direct = direct_backtest(btc, strategy, {**params, name: value}, config, start, end)
        assert_same_kpis(neighbour.kpis, direct)


def test_a_float_without_a_step_moves_by_five_percent_of_its_range(btc: Candles) -> None:
    strategy = ContinuousBand()
    params = {"period": 20, "width_pct": 0.3, "direction": "both"}
    start, end = window(btc)
    champion = make_champion(btc, strategy, params, BacktestConfig(), start, end)
    around = neighbourhood(champion)
    width = {n.steps: n for n in around.neighbours if n.param == "width_pct"}
    assert width[-1].value == pytest.approx(0.3 - 0.05 * 2.0) and width[1].value == pytest.approx(0.3 + 0.1)
    step = next(p for p in around.params if p.name == "width_pct")
    assert step.step == pytest.approx(0.1) and "5%" in step.step_rule
    direct = direct_backtest(btc, strategy, {**params, "width_pct": 0.4}, BacktestConfig(), start, end)
    assert_same_kpis(width[1].kpis, direct)


def test_neighbours_outside_the_bounds_or_breaking_a_constraint_are_skipped_with_the_reason(btc: Candles) -> None:
    start, end = window(btc)
    at_bounds = make_champion(btc, "rsi_reversion", {"period": 14, "lower": 45, "upper": 55}, None, start, end)
    found = {(n.param, n.steps): n for n in neighbours(at_bounds)}
    assert found[("lower", 1)].kpis is None and "outside 5 .. 45" in (found[("lower", 1)].skipped or "")
    assert found[("upper", -1)].kpis is None and "outside 55 .. 95" in (found[("upper", -1)].skipped or "")
    assert found[("lower", -1)].skipped is None and found[("upper", 1)].skipped is None

    touching = make_champion(btc, "ma_cross", {"fast": 20, "slow": 21}, None, start, end)
    found = {(n.param, n.steps): n for n in neighbours(touching)}
    for key in (("fast", 1), ("slow", -1)):
        assert found[key].kpis is None and found[key].skipped == "breaks the constraint fast < slow"
    assert found[("fast", -1)].kpis is not None and found[("slow", 1)].kpis is not None


def test_importance_picks_the_grid_axes_and_every_grid_cell_is_its_own_backtest(btc: Candles) -> None:
    strategy = get_strategy("rsi_reversion")
    # period 3 and lower 44 sit near their bounds (2 and 45), so -2 steps of period and +2 of lower are not values.
    params = {"period": 3, "lower": 44, "upper": 70, "direction": "both"}
    config = BacktestConfig(tp_pct=1.5, sl_pct=1.0)
    start, end = window(btc)
    champion = make_champion(btc, strategy.name, params, config, start, end)
    around = neighbourhood(champion)

    base = direct_backtest(btc, strategy, params, config, start, end).return_pct
    importance = {}
    for name in ("period", "lower", "upper"):
        changes = [
            abs(direct_backtest(btc, strategy, {**params, name: int(params[name]) + k}, config, start, end).return_pct
                - base)
            for k in (-1, 1)
        ]  # fmt: skip
        importance[name] = sum(changes) / 2
    assert {p.name: p.importance for p in around.params} == pytest.approx(importance)
    ranked = sorted(importance, key=lambda name: -importance[name])
    grid = around.grid
    assert grid is not None and (grid.x_param, grid.y_param) == (ranked[0], ranked[1])

    def axis(name: str) -> list[int | None]:
        low, high = {"period": (2, 50), "lower": (5, 45), "upper": (55, 95)}[name]
        return [v if low <= v <= high else None for v in (int(params[name]) + k for k in (-2, -1, 0, 1, 2))]

    assert list(grid.x_values) == axis(grid.x_param) and list(grid.y_values) == axis(grid.y_param)
    assert None in grid.x_values + grid.y_values
    for i, y in enumerate(grid.y_values):
        for j, x in enumerate(grid.x_values):
            cell = grid.cells[i][j]
            if x is None or y is None:
                assert cell is None
                continue
            direct = direct_backtest(btc, strategy, {**params, grid.x_param: x, grid.y_param: y}, config, start, end)
            assert_same_kpis(cell, direct)


def test_plateau_share_counts_neighbours_keeping_half_the_champions_return() -> None:
    def neighbour(return_pct: float | None) -> Neighbour:
        kpis = None if return_pct is None else KpiRow(return_pct, 1.0, None, 1)
        return Neighbour("p", 1, 1, kpis, None if kpis else "outside")

    # Champion +10 %: a neighbour must keep 5 %; 6 and 5 do, 4 and -2 do not, the skipped one does not count.
    result = plateau(10.0, [neighbour(6.0), neighbour(5.0), neighbour(4.0), neighbour(-2.0), neighbour(None)])
    assert result.plateau_share == 0.5 and result.threshold_return_pct == 5.0 and result.label == "plateau"
    result = plateau(10.0, [neighbour(6.0), neighbour(4.0), neighbour(-2.0)])
    assert result.plateau_share == pytest.approx(1 / 3) and result.label == "spike"
    losing = plateau(-3.0, [neighbour(6.0)])
    assert losing.plateau_share is None and losing.label is None and "not positive" in losing.reason


# 2. cost stress ---------------------------------------------------------------------------------------------


def test_cost_stress_multiplies_fees_and_slippage_as_a_config_written_by_hand(btc: Candles) -> None:
    strategy = get_strategy("rsi_reversion")
    config = BacktestConfig(fee_bps=3.0, slippage_bps=1.5, tp_pct=2.0, sl_pct=1.0)
    start, end = window(btc)
    champion = make_champion(btc, strategy.name, RSI_PARAMS, config, start, end)
    rows = cost_stress(champion)
    assert [(r.multiplier, r.fee_bps, r.slippage_bps) for r in rows] == [
        (1.0, 3.0, 1.5),
        (2.0, 6.0, 3.0),
        (3.0, 9.0, 4.5),
    ]
    for row in rows:
        by_hand = BacktestConfig(
            fee_bps=3.0 * row.multiplier, slippage_bps=1.5 * row.multiplier, tp_pct=2.0, sl_pct=1.0
        )
        assert_same_kpis(row.kpis, direct_backtest(btc, strategy, RSI_PARAMS, by_hand, start, end))
    assert rows[0].kpis is not None and rows[2].kpis is not None
    assert rows[2].kpis.return_pct < rows[0].kpis.return_pct
    refused = cost_stress(champion, (4000.0,))[0]
    assert refused.kpis is None and "fee_bps" in (refused.skipped or "")


# 3. Monte Carlo ---------------------------------------------------------------------------------------------


def test_trade_returns_compound_to_the_backtests_final_return(btc: Candles) -> None:
    start, end = window(btc)
    champion = make_champion(btc, "rsi_reversion", RSI_PARAMS, None, start, end)
    result = champion.result
    pnl = result.trades["pnl"].to_numpy()
    equity_before = result.initial_equity + np.concatenate([[0.0], np.cumsum(pnl)[:-1]])
    np.testing.assert_allclose(trade_returns(result), pnl / equity_before)
    assert np.prod(1 + trade_returns(result)) == pytest.approx(result.final_equity / result.initial_equity)


def test_reshuffling_keeps_the_final_return_and_moves_the_drawdown(btc: Candles) -> None:
    start, end = window(btc)
    result = make_champion(btc, "rsi_reversion", RSI_PARAMS, None, start, end).result
    returns = trade_returns(result)
    shuffled = reshuffle_trades(returns, 1000, np.random.default_rng(3))
    assert shuffled.final_return_pct is not None and shuffled.max_drawdown_pct is not None
    for value in (shuffled.final_return_pct.p5, shuffled.final_return_pct.p50, shuffled.final_return_pct.p95):
        assert value == pytest.approx(result.return_pct, rel=1e-9)
    assert shuffled.max_drawdown_pct.p95 > shuffled.max_drawdown_pct.p5
    again = reshuffle_trades(returns, 1000, np.random.default_rng(3))
    assert again == shuffled


def drawdown_by_hand(returns: tuple[float, ...]) -> float:
    equity, peak, worst = 1.0, 1.0, 0.0
    for r in returns:
        equity *= 1 + r
        peak = max(peak, equity)
        worst = max(worst, 1 - equity / peak)
    return worst * 100


def test_reshuffled_drawdowns_lie_among_those_of_every_order_enumerated() -> None:
    returns = np.array([0.10, -0.20, 0.05, -0.10, 0.30])
    every_order = sorted({round(drawdown_by_hand(p), 9) for p in itertools.permutations(returns.tolist())})
    shuffled = reshuffle_trades(returns, 2000, np.random.default_rng(0))
    assert shuffled.max_drawdown_pct is not None
    # Drawn from the 120 orders: the percentiles stay within the shallowest and deepest order, and differ.
    lowest, highest = every_order[0] - 1e-9, every_order[-1] + 1e-9
    assert lowest <= shuffled.max_drawdown_pct.p5 < shuffled.max_drawdown_pct.p95 <= highest
    assert shuffled.observed_max_drawdown_pct == pytest.approx(drawdown_by_hand(tuple(returns.tolist())))
    assert shuffled.final_return_pct is not None
    assert shuffled.final_return_pct.p50 == pytest.approx((np.prod(1 + returns) - 1) * 100)
    assert reshuffle_trades(returns[:1], 10, np.random.default_rng(0)).reason == "1 trade(s): no order to reshuffle"


def test_the_bootstrap_of_a_constant_daily_return_is_that_return_on_every_path() -> None:
    days = 60
    day_ms = JAN_2025_MS + 86_400_000 * np.arange(days, dtype=np.int64)
    summary = block_bootstrap(day_ms, np.full(days, 0.002), 1000.0, 500, 5.0, np.random.default_rng(1))
    final = (1.002**days - 1) * 100
    assert summary.final_return_pct is not None and summary.max_drawdown_pct is not None
    for p in (summary.final_return_pct.p5, summary.final_return_pct.p50, summary.final_return_pct.p95):
        assert p == pytest.approx(final)
    assert summary.max_drawdown_pct.p95 == 0.0 and summary.loss_probability == 0.0
    assert summary.fan is not None
    expected_path = 1000.0 * 1.002 ** np.arange(1, days + 1)
    for path in (summary.fan.p5, summary.fan.p50, summary.fan.p95, summary.fan.observed):
        np.testing.assert_allclose(path, expected_path)
    np.testing.assert_array_equal(summary.fan.day_ms, day_ms)


def test_stationary_indices_run_in_wrapping_blocks_of_the_mean_length_and_cover_every_day() -> None:
    days, paths, mean_block = 200, 2000, 5.0
    indices = stationary_bootstrap_indices(days, paths, mean_block, np.random.default_rng(2))
    continues = indices[:, 1:] == (indices[:, :-1] + 1) % days
    # A block breaks with probability 1/5 a day (and a new block that happens to continue the old one looks whole).
    assert 1 - continues.mean() == pytest.approx((1 / mean_block) * (1 - 1 / days), abs=0.005)
    counts = np.bincount(indices.ravel(), minlength=days)
    assert counts.min() > 0.9 * indices.size / days and counts.max() < 1.1 * indices.size / days
    assert ((indices[:, :-1] == days - 1) & (indices[:, 1:] == 0)).any()  # blocks wrap around the end


def test_the_bootstraps_spread_of_an_autocorrelated_series_matches_archs_stationary_bootstrap() -> None:
    rng = np.random.default_rng(5)
    days, phi = 300, 0.6
    noise = rng.normal(0.0, 0.01, days)
    returns = np.empty(days)
    returns[0] = noise[0]
    for t in range(1, days):
        returns[t] = phi * returns[t - 1] + noise[t]
    ours = stationary_bootstrap_indices(days, 3000, 10.0, np.random.default_rng(6))
    our_sums = returns[ours].sum(axis=1)
    peer = StationaryBootstrap(10, returns, seed=7)
    peer_sums = np.array([positional[0].sum() for positional, _ in peer.bootstrap(3000)])
    # The spread of a sum of autocorrelated returns depends on the block length: the two agree; an iid resample
    # (mean block 1) is clearly narrower.
    assert our_sums.std() == pytest.approx(peer_sums.std(), rel=0.1)
    iid = returns[stationary_bootstrap_indices(days, 3000, 1.0, np.random.default_rng(8))].sum(axis=1)
    assert iid.std() < 0.75 * peer_sums.std()


# 4. other symbols -------------------------------------------------------------------------------------------


def test_other_symbols_are_the_store_s_other_series_of_that_source_and_timeframe(
    btc: Candles, store_root: Path, frames: dict[str, pd.DataFrame]
) -> None:
    strategy = get_strategy("rsi_reversion")
    config = BacktestConfig(tp_pct=2.0, sl_pct=1.0)
    start, end = window(btc)
    champion = make_champion(btc, strategy.name, RSI_PARAMS, config, start, end)
    rows = {row.symbol: row for row in other_symbols(champion, store_root)}
    assert sorted(rows) == ["ETH", "LATE", "SOL"]

    late = rows["LATE"]
    assert late.kpis is None and late.n_bars == 0 and "LATE" in (late.reason or "")
    first_ms, last_ms = day_start_ms(FIRST_DAY), day_end_exclusive_ms(LAST_DAY)
    trade_from, trade_to = int(btc.timestamp_ms[start]), int(btc.timestamp_ms[end - 1])
    for name in ("ETH", "SOL"):
        frame = frames[name]
        kept = frame[(frame["timestamp_ms"] >= first_ms) & (frame["timestamp_ms"] < last_ms)].reset_index(drop=True)
        candles = Candles.from_frame(kept, source=SOURCE, symbol=name, timeframe="5m")
        ts = kept["timestamp_ms"].to_numpy()
        traded = np.flatnonzero((ts >= trade_from) & (ts <= trade_to))
        direct = direct_backtest(candles, strategy, RSI_PARAMS, config, int(traded[0]), int(traded[-1]) + 1)
        row = rows[name]
        assert row.reason is None and row.n_bars == traded.size
        assert (row.first_bar_ms, row.last_bar_ms) == (trade_from, trade_to)
        assert_same_kpis(row.kpis, direct)
        assert row.buy_hold_return_pct == direct.kpis.buy_hold_return_pct


# the report -------------------------------------------------------------------------------------------------


def test_the_report_is_plain_json_with_every_check(btc: Candles, store_root: Path) -> None:
    start, end = window(btc)
    config = BacktestConfig(tp_pct=2.0, sl_pct=1.0)
    report = robustness_report(btc, "rsi_reversion", RSI_PARAMS, config, start, end, data_root=store_root, seed=4)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert set(report) == {
        "schema_version", "champion", "settings", "rules", "neighbourhood", "cost_stress", "monte_carlo",
        "other_symbols",
    }  # fmt: skip
    direct = direct_backtest(btc, get_strategy("rsi_reversion"), RSI_PARAMS, config, start, end)
    assert report["champion"]["kpis"]["return_pct"] == direct.return_pct
    assert report["cost_stress"][0]["kpis"] == report["champion"]["kpis"]
    grid = report["neighbourhood"]["grid"]
    assert len(grid["return_pct"]) == 5 and all(len(row) == 5 for row in grid["return_pct"])
    assert grid["return_pct"][2][2] == direct.return_pct  # the centre is the champion
    share = report["neighbourhood"]["plateau"]["plateau_share"]
    valid = [n["kpis"]["return_pct"] for n in report["neighbourhood"]["neighbours"] if n["kpis"] is not None]
    assert share == pytest.approx(sum(r >= direct.return_pct / 2 for r in valid) / len(valid))
    fan = report["monte_carlo"]["block_bootstrap"]["fan"]
    assert len(fan["day_ms"]) == len(fan["p50"]) == report["monte_carlo"]["block_bootstrap"]["n_days"]
    assert all(lo <= mid <= hi for lo, mid, hi in zip(fan["p5"], fan["p50"], fan["p95"], strict=True))
    assert [row["symbol"] for row in report["other_symbols"]] == ["ETH", "LATE", "SOL"]
    again = robustness_report(btc, "rsi_reversion", RSI_PARAMS, config, start, end, data_root=store_root, seed=4)
    assert again == report
    alone = robustness_report(btc, "rsi_reversion", RSI_PARAMS, config, start, end, check_other_symbols=False)
    assert alone["other_symbols"] is None


def test_json_ready_turns_numpy_and_non_finite_numbers_into_json() -> None:
    value = {"a": float("nan"), "b": [np.float64(np.inf), np.int64(3)], "c": (np.bool_(True), None, "x")}
    assert json_ready(value) == {"a": None, "b": [None, 3], "c": [True, None, "x"]}
    assert math.isnan(value["a"])  # the input is left alone


@pytest.mark.parametrize(
    ("params", "start", "end", "message"),
    [
        ({"period": 14, "speed": 3}, 10, 100, "unknown parameter 'speed'"),
        ({"period": 99}, 10, 100, "parameter 'period' must be"),
        ({}, 100, 100, "start/end: need 0 <= start < end"),
        ({}, 200, 100, "start/end: need 0 <= start < end"),
        ({}, 0, 10**9, "start/end: need 0 <= start < end"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(
    btc: Candles, params: dict[str, object], start: int, end: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        robustness_report(btc, "rsi_reversion", params, None, start, end, check_other_symbols=False)
    assert "\n" not in str(caught.value)


def test_bad_settings_are_one_line_naming_the_setting(btc: Candles) -> None:
    for kwargs, message in [
        ({"n_simulations": 0}, "n_simulations"),
        ({"mean_block_days": 0.5}, "mean_block_days"),
        ({"strategy": "no_such"}, "unknown strategy 'no_such'"),
    ]:
        arguments: dict[str, Any] = {"strategy": "rsi_reversion", "check_other_symbols": False, **kwargs}
        strategy = arguments.pop("strategy")
        with pytest.raises(ConfigError, match=message) as caught:
            robustness_report(btc, strategy, {}, None, 10, 500, **arguments)
        assert "\n" not in str(caught.value)
