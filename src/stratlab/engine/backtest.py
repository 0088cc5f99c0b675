"""``run_backtest``: validate the inputs, pack the config, call the kernel, wrap the arrays in a result."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.data.timeframes import HOUR_MS
from stratlab.engine import _kernel as k
from stratlab.engine.config import BacktestConfig, validated_config
from stratlab.engine.result import BacktestResult
from stratlab.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
Int8Array = npt.NDArray[np.int8]
_EMPTY = np.empty(0, dtype=np.float64)
_FUNDING_PERIOD_MS = 8 * HOUR_MS

_MODES = {"none": k.MODE_NONE, "grid": k.MODE_GRID, "martingale": k.MODE_MARTINGALE}
_OPPOSITE = {"reverse": k.OPPOSITE_REVERSE, "close": k.OPPOSITE_CLOSE, "ignore": k.OPPOSITE_IGNORE}


class PerBarStops(Protocol):
    """Per-bar TP/SL price distances a strategy may provide (NaN where it sets none)."""

    @property
    def take_profit(self) -> FloatArray: ...

    @property
    def stop_loss(self) -> FloatArray: ...


def _fraction(pct: float | None) -> float:
    return math.nan if pct is None else pct / 100.0


@functools.lru_cache(maxsize=256)
def _packed_settings(config: BacktestConfig, bar_ms: int) -> FloatArray:
    # The optimiser runs thousands of backtests with few distinct configs: pack each once, read-only.
    settings = pack_settings(config, bar_ms)
    settings.flags.writeable = False
    return settings


def pack_settings(config: BacktestConfig, bar_ms: int) -> FloatArray:
    """The config as the kernel's settings vector (rates as fractions, codes as numbers, None as NaN/-1)."""
    s = np.empty(k.N_SETTINGS, dtype=np.float64)
    s[k.S_INITIAL_EQUITY] = config.initial_equity
    s[k.S_FEE_RATE] = config.fee_bps / 10_000.0
    s[k.S_SLIPPAGE_RATE] = config.slippage_bps / 10_000.0
    s[k.S_TP_FRACTION] = _fraction(config.tp_pct)
    s[k.S_SL_FRACTION] = _fraction(config.sl_pct)
    s[k.S_MODE] = _MODES[config.position_mode]
    s[k.S_GRID_STEP] = config.grid_step_pct / 100.0
    s[k.S_GRID_MAX_ADDS] = config.grid_max_adds
    s[k.S_GRID_SIZE_MULT] = config.grid_size_mult
    s[k.S_MARTINGALE_MULT] = config.martingale_mult
    s[k.S_MARTINGALE_MAX_STEPS] = config.martingale_max_steps
    if config.size_units is not None:
        s[k.S_SIZING] = k.SIZING_UNITS
    elif config.risk_pct is not None:
        s[k.S_SIZING] = k.SIZING_RISK
    else:
        s[k.S_SIZING] = k.SIZING_PCT
    s[k.S_SIZE_FRACTION] = config.size_pct / 100.0
    s[k.S_RISK_FRACTION] = _fraction(config.risk_pct)
    s[k.S_SIZE_UNITS] = math.nan if config.size_units is None else config.size_units
    s[k.S_LEVERAGE] = config.leverage
    s[k.S_MAINTENANCE_MARGIN] = config.maintenance_margin_pct / 100.0
    s[k.S_OPPOSITE] = _OPPOSITE[config.on_opposite]
    s[k.S_FUNDING_PER_BAR] = config.funding_bps_per_8h / 10_000.0 * bar_ms / _FUNDING_PERIOD_MS
    s[k.S_MAX_DRAWDOWN_STOP] = _fraction(config.max_drawdown_stop_pct)
    s[k.S_MAX_CONSECUTIVE_LOSSES] = -1 if config.max_consecutive_losses is None else config.max_consecutive_losses
    s[k.S_MAX_IDLE_BARS] = -1 if config.max_idle_bars is None else config.max_idle_bars
    return s


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
    """Per-thread output buffers the kernel writes into; results copy out only the rows used."""

    def __init__(self) -> None:
        self.trades = np.empty((0, k.N_TRADE_FIELDS), dtype=np.float64)
        self.changes = np.empty((0, 2), dtype=np.float64)

    def buffers(self, rows: int) -> tuple[FloatArray, FloatArray]:
        if self.trades.shape[0] < rows:
            self.trades = np.empty((rows, k.N_TRADE_FIELDS), dtype=np.float64)
            self.changes = np.empty((rows, 2), dtype=np.float64)
        return self.trades, self.changes


_scratch = _Scratch()


def _distances(candles: Candles, config: BacktestConfig, stops: PerBarStops | None) -> tuple[FloatArray, FloatArray]:
    """Per-bar TP and SL distances: the strategy's where it gives one, else the config's ATR multiples, else none."""
    n = len(candles)
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
    """Simulate trading ``signals`` on ``candles`` bars ``[start, end)`` under ``config`` (see DESIGN.md).

    Bars before ``start`` only warm up indicators (ATR levels); signals from ``start`` on are traded. A position
    still open at ``end - 1`` is closed at that bar's close.
    """
    cfg = validated_config(config)
    n = len(candles)
    stop_bar = n if end is None else end
    if not 0 <= start < stop_bar <= n:
        raise ConfigError(f"start/end: need 0 <= start < end <= {n} bars, got start={start}, end={stop_bar}")
    sig = checked_signals(signals, n)
    tp_distance, sl_distance = _distances(candles, cfg, stops)
    settings = _packed_settings(cfg, candles.timeframe.approx_ms)

    bars = stop_bar - start
    # A trade needs an entry and a position change needs a bar: one row per bar bounds both tables.
    equity = np.empty(bars, dtype=np.float64)
    trades, changes = _scratch.buffers(bars + 1)
    n_trades, n_changes, max_drawdown, stop_reason, stopped_bar = k.simulate_nb(
        candles.open, candles.high, candles.low, candles.close, sig, tp_distance, sl_distance, settings,
        start, stop_bar, equity, changes, trades,
    )  # fmt: skip
    if stop_reason == k.BAD_SIGNAL:
        raise _bad_signal(sig, int(stopped_bar))
    if not -1 <= sig[stop_bar - 1] <= 1:  # the one signal in the window the kernel never reads
        raise _bad_signal(sig, stop_bar - 1)
    result = BacktestResult(
        candles=candles,
        config=cfg,
        start=start,
        end=stop_bar,
        equity=equity,
        position_changes=changes[:n_changes].copy(),
        trade_rows=trades[:n_trades].copy(),
        max_drawdown_fraction=float(max_drawdown),
        stopped_early=k.STOP_REASONS[stop_reason] or None,
        stopped_at_bar=None if stop_reason == k.STOP_NONE else int(stopped_bar),
    )
    return result


__all__ = ["PerBarStops", "checked_signals", "pack_settings", "run_backtest"]
