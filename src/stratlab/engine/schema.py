"""The kernel's records, named once: its settings, its state, and the trades and position changes it writes.

Each is a numpy structured dtype; numba reads and writes a row of one by field name, so no rule indexes by a
number and no count is kept by hand.

``KERNEL_SETTINGS`` declares the settings record: one line per field, with its type and how it comes from a
``BacktestConfig`` (rates as fractions, choices as codes, "off" as NaN, inf or -1). A new config field that the
kernel must read takes that one line here, besides the field in ``config.py`` and the rule in ``_kernel.py`` that
uses it: numba needs a fixed, typed layout, so the record cannot simply mirror the config.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stratlab.data.timeframes import HOUR_MS
from stratlab.engine import _kernel as k
from stratlab.engine.config import BacktestConfig, OppositePolicy, PositionMode, validated_config
from stratlab.errors import ConfigError

RecordArray = npt.NDArray[np.void]

_FUNDING_PERIOD_MS = 8 * HOUR_MS
MODE_CODES = {
    PositionMode.NONE: k.MODE_NONE,
    PositionMode.GRID: k.MODE_GRID,
    PositionMode.MARTINGALE: k.MODE_MARTINGALE,
}
OPPOSITE_CODES = {
    OppositePolicy.REVERSE: k.OPPOSITE_REVERSE,
    OppositePolicy.CLOSE: k.OPPOSITE_CLOSE,
    OppositePolicy.IGNORE: k.OPPOSITE_IGNORE,
}


@dataclass(frozen=True)
class KernelSetting:
    """One field of the settings record: its name in the kernel, its type, and its value for a config and a bar
    length (ms)."""

    name: str
    dtype: type[np.generic]
    value: Callable[[BacktestConfig, int], float]


def _fraction(pct: float | None) -> float:
    return math.nan if pct is None else pct / 100.0


def _limit(pct: float | None) -> float:
    # inf when off: the stop floor, peak × (1 - limit), is then -inf and never reached.
    return math.inf if pct is None else pct / 100.0


def _sizing(config: BacktestConfig) -> int:
    if config.size_units is not None:
        return k.SIZING_UNITS
    if config.risk_pct is not None:
        return k.SIZING_RISK
    return k.SIZING_PCT


def _funding_per_bar(config: BacktestConfig, bar_ms: int) -> float:
    return config.funding_bps_per_8h / 10_000.0 * bar_ms / _FUNDING_PERIOD_MS


F8, I8 = np.float64, np.int64
KERNEL_SETTINGS = (
    KernelSetting("initial_equity", F8, lambda c, _: c.initial_equity),
    KernelSetting("fee_rate", F8, lambda c, _: c.fee_bps / 10_000.0),
    KernelSetting("slippage_rate", F8, lambda c, _: c.slippage_bps / 10_000.0),
    KernelSetting("tp_fraction", F8, lambda c, _: _fraction(c.tp_pct)),
    KernelSetting("sl_fraction", F8, lambda c, _: _fraction(c.sl_pct)),
    KernelSetting("mode", I8, lambda c, _: MODE_CODES[c.position_mode]),
    KernelSetting("grid_step", F8, lambda c, _: c.grid_step_pct / 100.0),
    KernelSetting("grid_max_adds", I8, lambda c, _: c.grid_max_adds),
    KernelSetting("grid_size_mult", F8, lambda c, _: c.grid_size_mult),
    KernelSetting("martingale_mult", F8, lambda c, _: c.martingale_mult),
    KernelSetting("martingale_max_steps", I8, lambda c, _: c.martingale_max_steps),
    KernelSetting("sizing", I8, lambda c, _: _sizing(c)),
    KernelSetting("size_fraction", F8, lambda c, _: c.size_pct / 100.0),
    KernelSetting("risk_fraction", F8, lambda c, _: _fraction(c.risk_pct)),
    KernelSetting("size_units", F8, lambda c, _: math.nan if c.size_units is None else c.size_units),
    KernelSetting("leverage", F8, lambda c, _: c.leverage),
    KernelSetting("maintenance_margin", F8, lambda c, _: c.maintenance_margin_pct / 100.0),
    KernelSetting("opposite", I8, lambda c, _: OPPOSITE_CODES[c.on_opposite]),
    KernelSetting("funding_per_bar", F8, _funding_per_bar),
    KernelSetting("max_drawdown_stop", F8, lambda c, _: _limit(c.max_drawdown_stop_pct)),
    KernelSetting("max_consecutive_losses", I8, lambda c, _: c.max_consecutive_losses or -1),
    KernelSetting("max_idle_bars", I8, lambda c, _: c.max_idle_bars or -1),
    KernelSetting("max_holding_bars", I8, lambda c, _: c.max_holding_bars or -1),
    KernelSetting("min_target_cost_multiple", F8, lambda c, _: c.min_target_cost_multiple or 0.0),
)
SETTINGS_DTYPE = np.dtype([(setting.name, setting.dtype) for setting in KERNEL_SETTINGS], align=True)


def pack_settings(config: BacktestConfig | Mapping[str, Any] | None, bar_ms: int) -> RecordArray:
    """The config (a BacktestConfig, a mapping of its fields, or None for the defaults: checked, a bad field is a
    one-line ConfigError) as the kernel's settings record (an array of one row), for bars of ``bar_ms``."""
    config = validated_config(config)
    record = np.empty(1, dtype=SETTINGS_DTYPE)
    for setting in KERNEL_SETTINGS:
        record[setting.name] = setting.value(config, bar_ms)
    return record


@functools.lru_cache(maxsize=256)
def packed_settings(config: BacktestConfig, bar_ms: int) -> RecordArray:
    """``pack_settings``, read-only and cached: the optimiser runs thousands of backtests with few distinct configs."""
    record = pack_settings(config, bar_ms)
    record.flags.writeable = False
    return record


# One row per trade, in exit order: these fields, in this order, are the columns of ``BacktestResult.trades``.
TRADE_DTYPE = np.dtype(
    [
        ("entry_time_ms", np.int64),  # bar open times, UTC epoch ms
        ("exit_time_ms", np.int64),
        ("side", np.int8),  # +1 long, -1 short
        ("size", np.float64),  # quantity at the exit (after every add)
        ("entry_price", np.float64),  # average entry fill, slippage included
        ("exit_price", np.float64),  # exit fill, slippage included
        ("fees", np.float64),
        ("slippage_cost", np.float64),
        ("funding", np.float64),
        ("pnl", np.float64),  # net: price pnl - fees - funding
        ("exit_reason", np.int8),  # an index into EXIT_REASONS
        ("adds", np.int64),
        ("bars_held", np.int64),
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),
    ],
    align=True,
)
TRADE_COLUMNS: tuple[str, ...] = tuple(TRADE_DTYPE.names or ())

# The position log: the signed quantity held after ``bar``, one row per bar where it changed.
POSITION_CHANGE_DTYPE = np.dtype([("bar", np.int64), ("position", np.float64)], align=True)

# The one state the rules advance: the account, the open position (when side != 0) and the output cursors.
STATE_DTYPE = np.dtype(
    [
        # account
        ("cash", np.float64),  # realised equity
        ("equity", np.float64),  # at the last marked close
        ("trading", np.bool_),
        ("stop_reason", np.int64),  # an index into STOP_REASONS
        ("stop_bar", np.int64),
        ("losses_in_row", np.int64),
        ("idle_bars", np.int64),
        ("peak", np.float64),
        ("max_drawdown", np.float64),  # a fraction
        ("trough_floor", np.float64),
        ("stop_floor", np.float64),
        # position
        ("side", np.int64),  # +1, -1, 0 flat
        ("qty", np.float64),
        ("average", np.float64),
        ("entry_bar", np.int64),
        ("entry_time_ms", np.int64),
        ("fees_paid", np.float64),
        ("slippage_paid", np.float64),
        ("funding_paid", np.float64),
        ("adds", np.int64),
        ("last_fill_market", np.float64),
        ("last_fill_notional", np.float64),
        ("trade_tp_distance", np.float64),
        ("trade_sl_distance", np.float64),
        ("tp_level", np.float64),
        ("stop_level", np.float64),
        ("stop_kind", np.int64),
        ("low_trigger", np.float64),
        ("high_trigger", np.float64),
        # output cursors
        ("n_trades", np.int64),
        ("n_changes", np.int64),
        ("last_position", np.float64),
    ],
    align=True,
)


def new_state(settings: RecordArray) -> RecordArray:
    """A fresh state record (an array of one row) for ``step``: flat, all cash, trading.

    ``step`` writes into the trade and position-log tables at the state's counts without bounds checks (numba's
    compiled code has none): a caller gives it room for two more trades and one more position change per bar."""
    if not isinstance(settings, np.ndarray) or settings.dtype != SETTINGS_DTYPE or settings.shape != (1,):
        raise ConfigError("new_state: expected the settings record of pack_settings (an array of one row)")
    state = np.zeros(1, dtype=STATE_DTYPE)
    k.start_state(state[0], settings[0])
    return state


__all__ = [
    "KERNEL_SETTINGS",
    "POSITION_CHANGE_DTYPE",
    "SETTINGS_DTYPE",
    "STATE_DTYPE",
    "TRADE_COLUMNS",
    "TRADE_DTYPE",
    "KernelSetting",
    "new_state",
    "pack_settings",
    "packed_settings",
]
