"""The fast kernel against the plain bar-by-bar reference (tests/engine/reference.py) on random markets and configs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratlab.data.candles import Candles
from stratlab.engine import BacktestConfig, run_backtest
from tests.engine.reference import reference_backtest
from tests.engine.test_properties import N_BARS, configs, market, signal_arrays

COLUMNS = ["entry_bar", "exit_bar", "side", "size", "entry_price", "exit_price", "fees", "slippage_cost", "funding",
           "pnl", "exit_reason", "adds"]  # fmt: skip


class Stops:
    def __init__(self, take_profit: np.ndarray, stop_loss: np.ndarray) -> None:
        self.take_profit = take_profit
        self.stop_loss = stop_loss


@st.composite
def per_bar_stops(draw: st.DrawFn, candles: Candles) -> Stops | None:
    if not draw(st.booleans()):
        return None
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    width = candles.close * rng.uniform(0.002, 0.03, N_BARS)
    tp = np.where(rng.random(N_BARS) < 0.2, np.nan, 2 * width)
    sl = np.where(rng.random(N_BARS) < 0.2, np.nan, width)
    return Stops(tp, sl)


def compare(candles: Candles, sig: np.ndarray, config: BacktestConfig, stops: Stops | None) -> None:
    result = run_backtest(candles, sig, config, stops=stops)
    tp = [] if stops is None else stops.take_profit.tolist()
    sl = [] if stops is None else stops.stop_loss.tolist()
    expected = reference_backtest(candles, sig.tolist(), config, tp, sl)
    want = pd.DataFrame(expected.trades, columns=COLUMNS)
    got = result.trades[COLUMNS]
    assert len(got) == len(want), (got, want)
    for column in ("entry_bar", "exit_bar", "side", "exit_reason", "adds"):
        assert got[column].tolist() == want[column].tolist(), column
    for column in ("size", "entry_price", "exit_price", "fees", "slippage_cost", "funding", "pnl"):
        np.testing.assert_allclose(got[column], want[column].astype(float), rtol=1e-9, atol=1e-9, err_msg=column)
    np.testing.assert_allclose(result.equity, expected.equity, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(result.position, expected.position, rtol=1e-12, atol=0)
    assert result.stopped_early == expected.stopped_early


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), candles=market(), sig=signal_arrays(), config=configs)
def test_kernel_equals_the_reference(
    data: st.DataObject, candles: Candles, sig: np.ndarray, config: BacktestConfig
) -> None:
    compare(candles, sig, config, data.draw(per_bar_stops(candles)))


@pytest.mark.parametrize("sizing", [{"risk_pct": 2.0, "sl_pct": 1.0}, {"size_units": 3.0}])
@settings(max_examples=60, deadline=None)
@given(candles=market(), sig=signal_arrays())
def test_kernel_equals_the_reference_for_other_sizing(
    candles: Candles, sig: np.ndarray, sizing: dict[str, float]
) -> None:
    compare(candles, sig, BacktestConfig(**sizing, leverage=5.0, tp_pct=2.0), None)
