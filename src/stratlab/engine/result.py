"""``BacktestResult``: what one backtest produced, as arrays first and DataFrames on demand."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from stratlab.data.candles import Candles
from stratlab.engine import _kernel as k
from stratlab.engine.config import BacktestConfig
from stratlab.metrics import Kpis, compute_kpis

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]

TRADE_COLUMNS = (
    "entry_time_ms",
    "exit_time_ms",
    "side",
    "size",
    "entry_price",
    "exit_price",
    "fees",
    "slippage_cost",
    "funding",
    "pnl",
    "exit_reason",
    "adds",
    "bars_held",
    "entry_bar",
    "exit_bar",
)


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """One backtest over ``candles`` bars ``[start, end)``.

    ``equity`` (marked to each close, after that bar's fills and costs) and ``position`` (signed quantity held after
    the bar) have one value per simulated bar, aligned with ``timestamp_ms``; the kernel logs the position only where
    it changes (``position_changes``: bar, position) and ``position`` expands that log on demand. ``trade_rows`` is
    the kernel's raw trade table; ``trade_arrays`` names its columns and ``trades`` is the same as a DataFrame with
    times and names. ``return_pct`` and ``max_drawdown_pct`` come straight from the kernel; ``kpis`` is the full
    record of ``stratlab.metrics``, computed on first use (a few milliseconds) so search loops that need only the
    headline figures do not pay for it.
    """

    candles: Candles
    config: BacktestConfig
    start: int
    end: int
    equity: FloatArray
    position_changes: FloatArray
    trade_rows: FloatArray
    max_drawdown_fraction: float
    stopped_early: str | None
    stopped_at_bar: int | None

    @property
    def timestamp_ms(self) -> Int64Array:
        return self.candles.timestamp_ms[self.start : self.end]

    @cached_property
    def position(self) -> FloatArray:
        """Signed quantity held after each simulated bar."""
        bars = np.arange(self.start, self.end, dtype=np.float64)
        changed_at = self.position_changes[:, 0]
        last_change = np.searchsorted(changed_at, bars, side="right") - 1
        held = self.position_changes[np.maximum(last_change, 0), 1] if changed_at.size else np.zeros(bars.size)
        out: FloatArray = np.where(last_change >= 0, held, 0.0)
        return out

    @property
    def n_trades(self) -> int:
        return int(self.trade_rows.shape[0])

    @property
    def initial_equity(self) -> float:
        return self.config.initial_equity

    @property
    def return_pct(self) -> float:
        return (self.final_equity / self.config.initial_equity - 1.0) * 100.0

    @property
    def max_drawdown_pct(self) -> float:
        return self.max_drawdown_fraction * 100.0

    @cached_property
    def kpis(self) -> Kpis:
        """The full KPI record with the default ``KpiSettings`` (call ``compute_kpis`` for others)."""
        return compute_kpis(self)

    @cached_property
    def trade_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The trade table as named column views (no copy, no DataFrame)."""
        rows = self.trade_rows
        names = {
            "entry_bar": k.T_ENTRY_BAR,
            "exit_bar": k.T_EXIT_BAR,
            "side": k.T_SIDE,
            "size": k.T_SIZE,
            "entry_price": k.T_ENTRY_PRICE,
            "exit_price": k.T_EXIT_PRICE,
            "fees": k.T_FEES,
            "slippage_cost": k.T_SLIPPAGE_COST,
            "funding": k.T_FUNDING,
            "pnl": k.T_PNL,
            "exit_reason": k.T_EXIT_REASON,
            "adds": k.T_ADDS,
        }
        return {name: rows[:, column] for name, column in names.items()}

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if self.equity.size else self.config.initial_equity

    @property
    def stopped_at_ms(self) -> int | None:
        return None if self.stopped_at_bar is None else int(self.candles.timestamp_ms[self.stopped_at_bar])

    @cached_property
    def trades(self) -> pd.DataFrame:
        """One row per trade, in exit order; times are bar open times (UTC epoch ms); side is +1 long, -1 short."""
        rows = self.trade_rows
        entry_bar = rows[:, k.T_ENTRY_BAR].astype(np.int64)
        exit_bar = rows[:, k.T_EXIT_BAR].astype(np.int64)
        ts = self.candles.timestamp_ms
        reasons = np.array(k.EXIT_REASONS, dtype=object)
        frame = pd.DataFrame(
            {
                "entry_time_ms": ts[entry_bar],
                "exit_time_ms": ts[exit_bar],
                "side": rows[:, k.T_SIDE].astype(np.int8),
                "size": rows[:, k.T_SIZE],
                "entry_price": rows[:, k.T_ENTRY_PRICE],
                "exit_price": rows[:, k.T_EXIT_PRICE],
                "fees": rows[:, k.T_FEES],
                "slippage_cost": rows[:, k.T_SLIPPAGE_COST],
                "funding": rows[:, k.T_FUNDING],
                "pnl": rows[:, k.T_PNL],
                "exit_reason": reasons[rows[:, k.T_EXIT_REASON].astype(np.int64)],
                "adds": rows[:, k.T_ADDS].astype(np.int64),
                "bars_held": exit_bar - entry_bar,
                "entry_bar": entry_bar,
                "exit_bar": exit_bar,
            },
            columns=list(TRADE_COLUMNS),
        )
        frame["exit_reason"] = frame["exit_reason"].astype(str)
        return frame

    def equity_frame(self) -> pd.DataFrame:
        """Per bar: time, close, equity, drawdown (% below the running peak), position."""
        equity = self.equity
        peak = np.maximum.accumulate(np.maximum(equity, self.config.initial_equity)) if equity.size else equity
        drawdown_pct = np.where(peak > 0, (peak - equity) / np.where(peak > 0, peak, 1.0) * 100.0, 0.0)
        return pd.DataFrame(
            {
                "timestamp_ms": self.timestamp_ms,
                "close": self.candles.close[self.start : self.end],
                "equity": equity,
                "drawdown_pct": drawdown_pct,
                "position": self.position,
            }
        )


__all__ = ["TRADE_COLUMNS", "BacktestResult"]
