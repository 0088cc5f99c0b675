"""``run_backtest``: validate the inputs, pack the config, run the kernel over the bars, wrap its arrays in a result."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.engine import _kernel as k
from stratlab.engine.config import BacktestConfig, validated_config
from stratlab.engine.result import BacktestResult
from stratlab.engine.schema import POSITION_CHANGE_DTYPE, STATE_DTYPE, TRADE_DTYPE, RecordArray, packed_settings
from stratlab.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]
_EMPTY = np.empty(0, dtype=np.float64)


class PerBarStops(Protocol):
    """Per-bar TP/SL price distances a strategy may provide (NaN where it sets none)."""

    @property
    def take_profit(self) -> FloatArray: ...

    @property
    def stop_loss(self) -> FloatArray: ...


def checked_signals(signals: npt.ArrayLike, n_bars: int) -> Int8Array:
    """Signals as a contiguous int8 array of length ``n_bars``, or a ``ConfigError``.

    Values other than -1/0/+1 in an int8 array are left to the kernel, which meets every non-zero signal anyway and
    reports the first bad one; other dtypes are checked here as they are converted.
    """
    array = np.asarray(signals)
    if array.ndim != 1 or array.shape[0] != n_bars:
        raise ConfigError(f"signals: expected {n_bars} values (one per bar), got shape {array.shape}")
    if array.dtype != np.int8:
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise ConfigError(f"signals: expected integers -1/0/+1, got dtype {array.dtype}")
        bad = ~np.isin(array, (-1, 0, 1))
        if bad.any():
            row = int(np.argmax(bad))
            raise ConfigError(f"signals: bar {row} holds {array[row].item()!r}; only -1, 0 and +1 are allowed")
        array = array.astype(np.int8)
    return np.ascontiguousarray(array)


def _bad_signal(signals: Int8Array, bar: int) -> ConfigError:
    return ConfigError(f"signals: bar {bar} holds {int(signals[bar])}; only -1, 0 and +1 are allowed")


class _Scratch(threading.local):
    """Per-thread buffers the kernel writes into (trades, position log, state); results copy out only the rows
    used."""

    def __init__(self) -> None:
        self.trades = np.empty(0, dtype=TRADE_DTYPE)
        self.changes = np.empty(0, dtype=POSITION_CHANGE_DTYPE)
        self.state = np.empty(1, dtype=STATE_DTYPE)

    def buffers(self, rows: int) -> tuple[RecordArray, RecordArray, RecordArray]:
        if self.trades.shape[0] < rows:
            self.trades = np.empty(rows, dtype=TRADE_DTYPE)
            self.changes = np.empty(rows, dtype=POSITION_CHANGE_DTYPE)
        return self.trades, self.changes, self.state


_scratch = _Scratch()


def _copied_rows(records: RecordArray, rows: int) -> RecordArray:
    """The first ``rows`` records, copied as bytes: numpy copies a padded structured array field by field, ten
    times slower."""
    copied: RecordArray = records[:rows].view(np.uint8).copy().view(records.dtype)
    return copied


def per_bar_distances(
    candles: Candles, config: BacktestConfig, stops: PerBarStops | None
) -> tuple[FloatArray, FloatArray]:
    """Per-bar TP and SL distances: the strategy's where it gives one, else the config's ATR multiples, else none
    (an empty array). The one rule for both the series backtest and a paper runner's bar-by-bar book."""
    n = len(candles)
    if config.risk_pct is not None and not config.sets_stop_loss and stops is None:
        raise ConfigError("backtest config: risk_pct needs a stop loss (sl_pct, sl_atr or the strategy's stops)")
    tp_from_strategy = sl_from_strategy = None
    if stops is not None:
        tp_from_strategy = _checked_distance(stops.take_profit, n, "stops.take_profit")
        sl_from_strategy = _checked_distance(stops.stop_loss, n, "stops.stop_loss")
    atr_values = None
    if config.uses_atr:
        from stratlab.indicators import atr

        atr_values = atr(candles.high, candles.low, candles.close, config.atr_period)

    def merge(from_strategy: FloatArray | None, multiple: float | None) -> FloatArray:
        from_config = None if multiple is None or atr_values is None else multiple * atr_values
        if from_strategy is None:
            return _EMPTY if from_config is None else from_config
        if from_config is None:
            return from_strategy
        return np.where(np.isnan(from_strategy), from_config, from_strategy)

    return merge(tp_from_strategy, config.tp_atr), merge(sl_from_strategy, config.sl_atr)


def _checked_distance(values: npt.ArrayLike, n: int, name: str) -> FloatArray:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise ConfigError(f"{name}: expected {n} values (one per bar), got shape {array.shape}")
    if (array[~np.isnan(array)] <= 0).any():
        raise ConfigError(f"{name}: distances must be positive (NaN for none)")
    return array


def run_backtest(
    candles: Candles,
    signals: npt.ArrayLike,
    config: BacktestConfig | Mapping[str, Any] | None = None,
    *,
    stops: PerBarStops | None = None,
    start: int = 0,
    end: int | None = None,
) -> BacktestResult:
    """Simulate trading ``signals`` on ``candles`` bars ``[start, end)`` under ``config`` (rules: README "Backtests").

    Bars before ``start`` only warm up indicators (ATR levels); signals from ``start`` on are traded. A position
    still open at ``end - 1`` is closed at that bar's close.
    """
    cfg = validated_config(config)
    n = len(candles)
    stop_bar = n if end is None else end
    if not 0 <= start < stop_bar <= n:
        raise ConfigError(f"start/end: need 0 <= start < end <= {n} bars, got start={start}, end={stop_bar}")
    sig = checked_signals(signals, n)
    tp_distance, sl_distance = per_bar_distances(candles, cfg, stops)
    settings = packed_settings(cfg, candles.timeframe.approx_ms)

    bars = stop_bar - start
    # A trade needs an entry and a position change needs a bar: one row per bar bounds both tables.
    equity = np.empty(bars, dtype=np.float64)
    trades, changes, state_record = _scratch.buffers(bars + 1)
    bad_signal_bar = k.simulate_nb(
        candles.timestamp_ms, candles.open, candles.high, candles.low, candles.close, sig, tp_distance, sl_distance,
        settings, start, stop_bar, equity, changes, trades, state_record,
    )  # fmt: skip
    if bad_signal_bar != k.NO_BAD_SIGNAL:
        raise _bad_signal(sig, int(bad_signal_bar))
    if not -1 <= sig[stop_bar - 1] <= 1:  # the one signal in the window the kernel never reads
        raise _bad_signal(sig, stop_bar - 1)
    state = state_record[0]
    stop_reason = int(state["stop_reason"])
    return BacktestResult(
        candles=candles,
        config=cfg,
        start=start,
        end=stop_bar,
        equity=equity,
        position_changes=_copied_rows(changes, int(state["n_changes"])),
        trade_rows=_copied_rows(trades, int(state["n_trades"])),
        max_drawdown_fraction=float(state["max_drawdown"]),
        stopped_early=k.STOP_REASONS[stop_reason] or None,
        stopped_at_bar=None if stop_reason == k.STOP_NONE else int(state["stop_bar"]),
    )


__all__ = ["PerBarStops", "checked_signals", "per_bar_distances", "run_backtest"]
