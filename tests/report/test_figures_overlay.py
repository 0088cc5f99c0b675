"""The backtest chart's additions: buy-and-hold on the equity panel (checked against the candles by hand), a marker at
each split boundary, log scales on demand; and the champion's chart as it was without them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.report.figures import backtest_chart_data, backtest_figure
from stratlab.report.split import PartName, SplitPart
from stratlab.strategies import get_strategy

START, END = 2_000, 12_000  # bars of the loaded series the backtest trades (not from the first bar)


@pytest.fixture(scope="module")
def result(demo_root: Path) -> BacktestResult:
    candles = load_ohlcv("demo", "ETH", "5m", "2025-01-01", "2025-02-28", data_root=demo_root)
    strategy = get_strategy("ma_cross")
    params = strategy.space.defaults()
    config = BacktestConfig(initial_equity=25_000.0)
    return run_backtest(candles, strategy.signals(candles, params), config, start=START, end=END)


def parts_of(result: BacktestResult, cuts: list[int]) -> list[SplitPart]:
    stamps = result.candles.timestamp_ms
    bounds = [START, *cuts, END]
    names = [PartName.TRAIN, PartName.VALIDATION, PartName.HOLDOUT][: len(bounds) - 1]
    return [
        SplitPart(name=n, start=a, end=b, first_bar_ms=int(stamps[a]), last_bar_ms=int(stamps[b - 1]))
        for n, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)
    ]


def test_buy_and_hold_is_initial_equity_times_close_over_the_first_close(
    result: BacktestResult, demo_root: Path
) -> None:
    # By hand from the stored candles (read again, as a frame), not from the result's arrays.
    frame = load_ohlcv("demo", "ETH", "5m", "2025-01-01", "2025-02-28", data_root=demo_root).to_frame()
    closes = frame["close"].to_numpy()[START:END]
    by_hand = [25_000.0 * c / closes[0] for c in closes]
    unthinned = backtest_chart_data(result, max_points=END - START, buy_and_hold=True)
    assert unthinned.bucket_bars == 1
    assert unthinned.buy_hold is not None
    np.testing.assert_allclose(unthinned.buy_hold, by_hand, rtol=1e-12)
    assert unthinned.buy_hold[0] == 25_000.0
    # Thinned: each point is the bucket's last bar, as the equity is.
    thinned = backtest_chart_data(result, max_points=100, buy_and_hold=True)
    lasts = np.minimum(np.arange(0, END - START, thinned.bucket_bars) + thinned.bucket_bars - 1, END - START - 1)
    assert thinned.buy_hold is not None and len(thinned.buy_hold) == len(thinned.equity) <= 100
    np.testing.assert_allclose(thinned.buy_hold, np.asarray(by_hand)[lasts], rtol=1e-12)
    # The figure draws it on the equity panel.
    figure = backtest_figure(thinned)
    trace = next(t for t in figure.data if t.name == "buy and hold")
    assert trace.yaxis == "y2" and list(trace.y) == pytest.approx(list(thinned.buy_hold))


def test_split_boundaries_are_dashed_lines_through_all_panels_with_both_parts_named(result: BacktestResult) -> None:
    parts = parts_of(result, [6_000, 9_000])
    figure = backtest_figure(backtest_chart_data(result, parts=parts))
    stamps = result.candles.timestamp_ms
    lines = figure.layout.shapes
    assert len(lines) == 2
    for line, bar in zip(lines, (6_000, 9_000), strict=True):
        assert np.datetime64(line.x0.replace(tzinfo=None), "ms").astype(np.int64) == stamps[bar]
        assert (line.yref, line.y0, line.y1) == ("paper", 0, 1)
    assert [a.text for a in figure.layout.annotations] == ["train | validation", "validation | holdout"]


def test_log_scale_on_demand_for_price_and_equity_only(result: BacktestResult) -> None:
    data = backtest_chart_data(result, parts=parts_of(result, [7_000]), buy_and_hold=True)
    logged = backtest_figure(data, log_y=True)
    assert (logged.layout.yaxis.type, logged.layout.yaxis2.type, logged.layout.yaxis3.type) == ("log", "log", None)
    assert backtest_figure(data).layout.yaxis.type is None


def test_the_default_chart_has_no_overlay_no_marker_and_linear_axes(result: BacktestResult) -> None:
    data = backtest_chart_data(result)
    assert data.buy_hold is None and data.boundaries == ()
    figure = backtest_figure(data)
    assert [t.name for t in figure.data][-2:] == ["equity", "drawdown %"]
    assert not figure.layout.shapes and not figure.layout.annotations
    assert figure.layout.yaxis.type is None and figure.layout.yaxis2.type is None
