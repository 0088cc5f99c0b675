"""``Stepper``: the backtest kernel driven one closed bar at a time, for a paper or live runner.

The series backtest (``run_backtest``) and a runner trade by the same rules because they call the same numba
functions: ``simulate_nb`` calls ``step`` (and ``final_step`` on the last bar) for every bar that is not quiet, and a
``Stepper`` calls them for every bar it is given. Nothing here decides a fill, a level or a cost.

What a runner needs beyond the series loop, and where it lives:

- **Room for the rows a bar writes.** The kernel writes a bar's trades and position change at the state's counts,
  into tables the caller sizes. A runner keeps its trades elsewhere (a database), so each call hands the kernel a
  scratch table of a few rows, starting the counts at zero for the call and adding them back afterwards: the counts
  are cursors only, no rule reads them.
- **A preview.** ``preview`` runs the same step on a copy of the state, so a risk manager can see whether a bar would
  open a position, and how large, before it lets it (an entry it refuses is then traded with ``refuse_entry``).
- **Refusing an entry without a second rule.** A flat account's order is dropped; an order that would reverse a
  position becomes the ``close`` policy's order for that bar (the settings record with ``on_opposite = close``), so the
  exit is the kernel's own. Grid adds to a position already open are not entries.
- **The state as bytes**, to persist after every bar and to restore after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratlab.engine import _kernel as k
from stratlab.engine.config import BacktestConfig, OppositePolicy
from stratlab.engine.schema import POSITION_CHANGE_DTYPE, STATE_DTYPE, TRADE_DTYPE, RecordArray, pack_settings
from stratlab.errors import ConfigError, DataError

# At most: an exit and a reversal's entry stopped out in the same bar, and the end of the data's close.
_TRADE_ROWS_PER_BAR = 4
_CHANGE_ROWS_PER_BAR = 2


@dataclass(frozen=True)
class OhlcBar:
    """One closed bar as the kernel reads it: its index in the book's history, open time (UTC ms) and prices."""

    index: int
    time_ms: int
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class StepResult:
    """What one bar did: the trades it booked (``TRADE_DTYPE`` rows), the signed position before and after, the
    equity at its close, whether it opened a position (and the notional of that entry), and whether trading stopped."""

    trades: RecordArray
    position_before: float
    position_after: float
    equity: float
    opened: bool
    entry_notional: float
    trading: bool
    stop_reason: str | None


class Stepper:
    """One account's kernel state, advanced by ``step`` one closed bar at a time."""

    def __init__(self, config: BacktestConfig, bar_ms: int, state: bytes | None = None) -> None:
        self.config = config
        self.settings = pack_settings(config, bar_ms)
        self.close_only_settings = pack_settings(config.replace(on_opposite=OppositePolicy.CLOSE), bar_ms)
        self.state = np.zeros(1, dtype=STATE_DTYPE)
        if state is None:
            k.start_state(self.state[0], self.settings[0])
        else:
            if len(state) != STATE_DTYPE.itemsize:
                raise DataError(
                    f"kernel state: {len(state)} bytes stored, this stratlab's state record has {STATE_DTYPE.itemsize}"
                )
            self.state = np.frombuffer(bytearray(state), dtype=STATE_DTYPE).copy()
        self._trades = np.zeros(_TRADE_ROWS_PER_BAR, dtype=TRADE_DTYPE)
        self._changes = np.zeros(_CHANGE_ROWS_PER_BAR, dtype=POSITION_CHANGE_DTYPE)

    # reading the account ------------------------------------------------------------------------------------------

    def state_bytes(self) -> bytes:
        return self.state.tobytes()

    @property
    def side(self) -> int:
        return int(self.state[0]["side"])

    @property
    def position(self) -> float:
        """Signed quantity held."""
        record = self.state[0]
        return float(record["side"] * record["qty"])

    @property
    def average_entry(self) -> float:
        return float(self.state[0]["average"])

    @property
    def equity(self) -> float:
        """At the last marked close."""
        return float(self.state[0]["equity"])

    @property
    def trading(self) -> bool:
        return bool(self.state[0]["trading"])

    @property
    def n_trades(self) -> int:
        return int(self.state[0]["n_trades"])

    @property
    def max_drawdown_fraction(self) -> float:
        return float(self.state[0]["max_drawdown"])

    @property
    def stop_reason(self) -> str | None:
        return k.STOP_REASONS[int(self.state[0]["stop_reason"])] or None

    # stepping -----------------------------------------------------------------------------------------------------

    def step(
        self, bar: OhlcBar, order: int, tp_distance: float, sl_distance: float, *, last: bool = False,
        refuse_entry: bool = False,
    ) -> StepResult:  # fmt: skip
        """Advance the account by ``bar``: ``order`` (+1/-1/0, decided at the previous close) fills at its open, then
        its range and close (``final_step`` when ``last``: the end of the data closes the position). With
        ``refuse_entry`` the bar opens no position (see the module)."""
        return self._run(self.state, bar, order, tp_distance, sl_distance, last=last, refuse_entry=refuse_entry)

    def preview(
        self, bar: OhlcBar, order: int, tp_distance: float, sl_distance: float, *, last: bool = False
    ) -> StepResult:
        """What ``step`` would do, leaving the account as it is."""
        return self._run(self.state.copy(), bar, order, tp_distance, sl_distance, last=last, refuse_entry=False)

    def flatten(self, bar: OhlcBar, *, last: bool = False) -> StepResult:
        """Close any open position at ``bar``'s open (the close policy's exit order) and open nothing."""
        order = -self.side
        return self._run(self.state, bar, order, np.nan, np.nan, last=last, refuse_entry=True)

    def _run(
        self, state: RecordArray, bar: OhlcBar, order: int, tp_distance: float, sl_distance: float, *, last: bool,
        refuse_entry: bool,
    ) -> StepResult:  # fmt: skip
        record = state[0]
        before = float(record["side"] * record["qty"])
        settings = self.settings
        if refuse_entry:
            if record["side"] == 0:
                order = 0
            else:
                settings = self.close_only_settings
        trades_before = int(record["n_trades"])
        changes_before = int(record["n_changes"])
        record["n_trades"] = 0
        record["n_changes"] = 0
        rule = k.final_step if last else k.step
        valid = rule(
            record, settings[0], self._trades, self._changes, bar.index, bar.time_ms,
            bar.open, bar.high, bar.low, bar.close, int(order), float(tp_distance), float(sl_distance),
        )  # fmt: skip
        booked = int(record["n_trades"])
        record["n_trades"] = trades_before + booked
        record["n_changes"] = changes_before + int(record["n_changes"])
        if not valid:
            raise ConfigError(f"order: {order!r} at bar {bar.index}; only -1, 0 and +1 are allowed")
        trades = self._trades[:booked].copy()
        held_from_here = record["side"] != 0 and record["entry_bar"] == bar.index
        opened = bool(held_from_here or (trades["entry_bar"] == bar.index).any())
        notional = float(record["qty"] * record["average"]) if held_from_here else 0.0
        if opened and not held_from_here:  # opened and closed within the bar: the entry's size is in its trade
            entered = trades[trades["entry_bar"] == bar.index][0]
            notional = float(entered["size"] * entered["entry_price"])
        stop = k.STOP_REASONS[int(record["stop_reason"])] or None
        return StepResult(
            trades=trades,
            position_before=before,
            position_after=float(record["side"] * record["qty"]),
            equity=float(record["equity"]),
            opened=opened,
            entry_notional=notional,
            trading=bool(record["trading"]),
            stop_reason=stop,
        )


__all__ = ["OhlcBar", "StepResult", "Stepper"]
