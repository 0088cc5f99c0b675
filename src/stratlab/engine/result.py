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
from stratlab.engine.schema import TRADE_COLUMNS, RecordArray
from stratlab.metrics import Kpis, compute_kpis

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """One backtest over ``candles`` bars ``[start, end)``.

    ``equity`` (marked to each close, after that bar's fills and costs) and ``position`` (signed quantity held after
    the bar) have one value per simulated bar, aligned with ``timestamp_ms``; the kernel logs the position only where
    it changes (``position_changes``, records of ``schema.POSITION_CHANGE_DTYPE``) and ``position`` expands that log
    on demand. ``trade_rows`` is the kernel's trade table (records of ``schema.TRADE_DTYPE``, whose field names are
    ``TRADE_COLUMNS``); ``trade_arrays`` gives its fields as arrays and ``trades`` as a DataFrame with exit reasons
    as names. Nothing is converted until asked: ``return_pct`` and ``max_drawdown_pct`` come straight from the
    kernel; ``kpis`` is the full record of ``stratlab.metrics``, computed on first use (a few milliseconds) so search
    loops that need only the headline figures do not pay for it.
    """

    candles: Candles
    config: BacktestConfig
    start: int
    end: int
    equity: FloatArray
    position_changes: RecordArray
    trade_rows: RecordArray
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
        changed_at = self.position_changes["bar"]
        last_change = np.searchsorted(changed_at, bars, side="right") - 1
        held = self.position_changes["position"][np.maximum(last_change, 0)] if changed_at.size else np.zeros(bars.size)
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
        """The trade table's fields as named arrays (views, no copy, no DataFrame)."""
        rows = self.trade_rows
        return {name: rows[name] for name in TRADE_COLUMNS}

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if self.equity.size else self.config.initial_equity

    @property
    def stopped_at_ms(self) -> int | None:
        return None if self.stopped_at_bar is None else int(self.candles.timestamp_ms[self.stopped_at_bar])

    @cached_property
    def trades(self) -> pd.DataFrame:
        """One row per trade, in exit order; times are bar open times (UTC epoch ms); side is +1 long, -1 short."""
        frame = pd.DataFrame(self.trade_rows, columns=list(TRADE_COLUMNS))
        reasons = np.array(k.EXIT_REASONS, dtype=object)[self.trade_rows["exit_reason"]]
        frame["exit_reason"] = pd.Series(reasons, index=frame.index, dtype=object).astype(str)  # names, not codes
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
