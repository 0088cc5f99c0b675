"""A book: one manifest traded one closed bar at a time, exactly as its backtest traded it.

A book holds the bars it has seen (the warm-up bars before its first traded bar, then every bar it traded), the
engine's ``Stepper`` (the kernel's state) and the order decided at the last close. For each new closed bar it

1. lets the bar fill the pending order at its open and run its range and close through the kernel
   (``Stepper.step``: the same numba rules as ``run_backtest``);
2. appends the bar, computes the registered strategy's signals and per-bar stop distances on every bar seen so far
   (``Strategy.signals`` / ``stops``, ``per_bar_distances`` for the config's ATR levels), and keeps the last bar's
   signal and distances as the order for the next bar's open.

Because strategies are causal (their tests change the bars after ``i`` and check nothing at or before ``i`` moves),
the signal of the last bar of a prefix is the signal the backtest read on the whole series. Signals are computed on
every bar since the book's first warm-up bar, never on a trailing window: indicators with memory (EMA, RSI, ATR)
would differ in their last bits, and a crossing can hang on those. A book whose warm-up starts at its manifest's
first bar therefore reproduces the manifest's backtest trade for trade (``tests/live/test_parity.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stratlab.data.candles import Candles
from stratlab.data.timeframes import parse_timeframe
from stratlab.engine import BacktestConfig
from stratlab.engine.backtest import per_bar_distances
from stratlab.engine.stepper import OhlcBar, Stepper, StepResult
from stratlab.errors import DataError
from stratlab.live.feeds import ClosedBar
from stratlab.strategies import StrategySource, use_source

FloatArray = npt.NDArray[np.float64]
_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class PendingOrder:
    """The order decided at a close, filled at the next bar's open: the signal and that bar's stop distances."""

    order: int = 0
    tp_distance: float = math.nan
    sl_distance: float = math.nan


@dataclass(frozen=True)
class BookBar:
    """What one bar did to a book: the kernel's step and the order it left for the next bar."""

    bar: ClosedBar
    index: int
    step: StepResult
    pending: PendingOrder
    refused: str | None  # why an entry this bar would have made was refused, else None
    flattened: str | None  # why the position was closed by the runner (a kill), else None


EntryCheck = Callable[[StepResult], str | None]


class _History:
    """Bars seen, in growing arrays; ``candles()`` is a read-only view of them (no copy per bar)."""

    def __init__(self, seen: Candles) -> None:
        self.source, self.symbol, self.timeframe = seen.source, seen.symbol, seen.timeframe
        n = len(seen)
        capacity = max(1024, 2 * n)
        self.timestamp_ms = np.empty(capacity, dtype=np.int64)
        self.columns = {name: np.empty(capacity, dtype=np.float64) for name in _FIELDS}
        self.n = 0
        self._extend(seen.timestamp_ms, {name: getattr(seen, name) for name in _FIELDS})

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * self.timestamp_ms.shape[0])
        stamps = np.empty(capacity, dtype=np.int64)
        stamps[: self.n] = self.timestamp_ms[: self.n]
        self.timestamp_ms = stamps
        for name, column in self.columns.items():
            grown = np.empty(capacity, dtype=np.float64)
            grown[: self.n] = column[: self.n]
            self.columns[name] = grown

    def _extend(self, stamps: npt.NDArray[np.int64], values: dict[str, FloatArray]) -> None:
        count = len(stamps)
        if self.n + count > self.timestamp_ms.shape[0]:
            self._grow(self.n + count)
        self.timestamp_ms[self.n : self.n + count] = stamps
        for name in _FIELDS:
            self.columns[name][self.n : self.n + count] = values[name]
        self.n += count

    def append(self, bar: ClosedBar) -> None:
        if self.n and bar.time_ms <= self.timestamp_ms[self.n - 1]:
            raise DataError(
                f"{self.source}/{self.symbol}/{self.timeframe.name}: bar at {bar.time_ms} arrived after the bar at "
                f"{int(self.timestamp_ms[self.n - 1])}; bars must come in time order, each once"
            )
        self._extend(
            np.array([bar.time_ms], dtype=np.int64),
            {name: np.array([getattr(bar, name)], dtype=np.float64) for name in _FIELDS},
        )

    def _view(self, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
        # A read-only view of the filled part: Candles keeps it without copying; later appends write past its end.
        view = array[: self.n]
        view.flags.writeable = False
        return view

    def candles(self) -> Candles:
        return Candles(
            source=self.source,
            symbol=self.symbol,
            timeframe=self.timeframe,
            timestamp_ms=self._view(self.timestamp_ms),
            open=self._view(self.columns["open"]),
            high=self._view(self.columns["high"]),
            low=self._view(self.columns["low"]),
            close=self._view(self.columns["close"]),
            volume=self._view(self.columns["volume"]),
        )


class Book:
    """One manifest's strategy, parameters and backtest config, traded bar by bar (see the module).

    ``warmup`` holds the bars before the first traded bar (closed, from the store); ``state``, ``pending`` and
    ``traded_bars`` restore a book after a restart, with ``warmup`` then holding every bar the book had seen.
    """

    def __init__(
        self,
        strategy: str,
        params: dict[str, object],
        config: BacktestConfig,
        warmup: Candles,
        *,
        state: bytes | None = None,
        pending: PendingOrder | None = None,
        traded_bars: int = 0,
        source: StrategySource | None = None,
    ) -> None:
        # A user strategy trades as its manifest recorded it: a changed file is refused, not traded.
        self.strategy = use_source(strategy, source, used_by="paper book")
        self.params = self.strategy.space.validate(params)
        self.config = config
        self.timeframe = parse_timeframe(warmup.timeframe)
        self.history = _History(warmup)
        self.stepper = Stepper(config, self.timeframe.approx_ms, state)
        self.pending = pending or PendingOrder()
        self.traded_bars = traded_bars

    @property
    def last_time_ms(self) -> int | None:
        return int(self.history.timestamp_ms[self.history.n - 1]) if self.history.n else None

    @property
    def last_close(self) -> float:
        return float(self.history.columns["close"][self.history.n - 1]) if self.history.n else math.nan

    def _ohlc(self, bar: ClosedBar) -> OhlcBar:
        return OhlcBar(self.history.n, bar.time_ms, bar.open, bar.high, bar.low, bar.close)

    def _order(self) -> PendingOrder:
        # The first traded bar has no order: the signal of the bar before it was decided before trading began
        # (run_backtest ignores signals before its start bar the same way).
        return PendingOrder() if self.traded_bars == 0 else self.pending

    def warm(self, bar: ClosedBar) -> None:
        """A bar before the first traded one: history for the indicators, nothing traded."""
        self.history.append(bar)

    def target_position(self) -> float:
        """The position the pending order leads to at the next open, sized at the last close: what a venue is
        brought to at this close (the kernel fills the same order at the next bar's open)."""
        close = self.last_close
        flat_bar = ClosedBar(self.last_time_ms or 0, close, close, close, close, 0.0)
        pending = self._order()
        return self.stepper.preview(
            self._ohlc(flat_bar), pending.order, pending.tp_distance, pending.sl_distance
        ).position_after

    def advance(self, bar: ClosedBar, *, entry_check: EntryCheck | None = None, flatten: str | None = None) -> BookBar:
        """Trade ``bar``. ``entry_check`` sees the preview of a bar that opens a position and returns why it is
        refused (or None); ``flatten`` (a reason) closes any position at the bar's open and opens none."""
        if self.history.n and bar.time_ms <= self.history.timestamp_ms[self.history.n - 1]:
            self.history.append(bar)  # raises the one-line error
        ohlc = self._ohlc(bar)
        pending = self._order()
        refused = None
        if flatten is not None:
            step = self.stepper.flatten(ohlc, last=bar.last)
        else:
            if entry_check is not None:
                preview = self.stepper.preview(
                    ohlc, pending.order, pending.tp_distance, pending.sl_distance, last=bar.last
                )
                refused = entry_check(preview) if preview.opened else None
            step = self.stepper.step(
                ohlc, pending.order, pending.tp_distance, pending.sl_distance, last=bar.last,
                refuse_entry=refused is not None,
            )  # fmt: skip
        self.history.append(bar)
        self.traded_bars += 1
        self.pending = self._next_order()
        return BookBar(bar, ohlc.index, step, self.pending, refused, flatten)

    def _next_order(self) -> PendingOrder:
        """The signal and stop distances of the last bar seen, computed on every bar seen."""
        candles = self.history.candles()
        signals = self.strategy.signals(candles, self.params)
        stops = self.strategy.stops(candles, self.params)
        tp, sl = per_bar_distances(candles, self.config, stops)
        order = int(signals[-1])
        return PendingOrder(
            order=order,
            tp_distance=float(tp[-1]) if tp.size and order else math.nan,
            sl_distance=float(sl[-1]) if sl.size and order else math.nan,
        )


__all__ = ["Book", "BookBar", "EntryCheck", "PendingOrder"]
