"""The global risk manager: one set of limits over every book a runner trades, each decision with its reason.

Limits (``RiskLimits``; None is off):

- ``max_position_pct``: an entry's notional at most this % of the runner's equity (all books);
- ``max_positions``: positions open at once, across books;
- ``max_exposure_pct``: the notional of every open position plus the new entry's, at most this % of equity;
- ``max_leverage``: a manifest configured with more leverage is refused when the runner starts;
- ``daily_loss_pct`` / ``daily_gain_pct``: once equity is this % below / above the UTC day's opening equity, no new
  entries until the next UTC day (exits, stops and grid adds of open positions go on);
- ``max_drawdown_pct``: equity this % below its peak since the start kills the runner: every position is closed at
  the next bar's open and the runner stops, refusing to start again until the kill is cleared;
- the kill-switch file (``KILL`` in the state directory): its presence kills the runner the same way.

Entries are judged on the kernel's own preview of the bar (``Book.advance`` with an entry check): the notional is the
one the kernel would fill, not an estimate. A refused entry is traded with ``refuse_entry`` (no second rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from stratlab.data.dates import format_ms
from stratlab.engine.stepper import StepResult
from stratlab.errors import ConfigError

DAY_MS = 86_400_000


class RiskLimits(BaseModel):
    """The runner's limits (see the module); every one optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_position_pct: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_positions: int | None = Field(default=None, ge=1)
    max_exposure_pct: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_leverage: float | None = Field(default=None, ge=1, allow_inf_nan=False)
    daily_loss_pct: float | None = Field(default=None, gt=0, lt=100, allow_inf_nan=False)
    daily_gain_pct: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_drawdown_pct: float | None = Field(default=None, gt=0, lt=100, allow_inf_nan=False)

    def check_leverage(self, book_id: str, leverage: float) -> None:
        """A book configured above ``max_leverage`` is refused before anything trades."""
        if self.max_leverage is not None and leverage > self.max_leverage:
            raise ConfigError(
                f"{book_id}: its backtest config trades at {leverage:g}x leverage, above the runner's limit "
                f"--max-leverage {self.max_leverage:g}"
            )

    def lines(self) -> list[str]:
        """The limits in force, for people."""
        shown = [
            ("max per position", self.max_position_pct, "{:g} % of equity"),
            ("max positions", self.max_positions, "{:d}"),
            ("max exposure", self.max_exposure_pct, "{:g} % of equity"),
            ("max leverage", self.max_leverage, "{:g}x"),
            ("daily loss halt", self.daily_loss_pct, "-{:g} %"),
            ("daily gain halt", self.daily_gain_pct, "+{:g} %"),
            ("max drawdown kill", self.max_drawdown_pct, "{:g} %"),
        ]
        return [f"{name}: {fmt.format(value)}" for name, value, fmt in shown if value is not None]


@dataclass
class RiskState:
    """What the limits remember between bars (persisted with every bar): the UTC day and its opening equity, the
    peak equity, a halt until the next day, and a kill."""

    day_ms: int | None = None
    day_open_equity: float | None = None
    peak_equity: float | None = None
    halted_day_ms: int | None = None
    halt_reason: str | None = None
    killed_reason: str | None = None


@dataclass(frozen=True)
class RiskDecision:
    """One decision, logged and shown in status: when (bar open, UTC ms), which book (None: all), the rule, what was
    done, and why in words."""

    bar_ms: int
    book_id: str | None
    rule: str
    action: str
    reason: str


@dataclass(frozen=True)
class OpenPosition:
    """A book's open position, as the risk manager sees it: its notional at the last close."""

    book_id: str
    notional: float


def utc_day_ms(time_ms: int) -> int:
    return time_ms - time_ms % DAY_MS


def _pct(value: float) -> str:
    return f"{value:+,.2f} %"


@dataclass
class RiskManager:
    """Applies ``limits`` (see the module). ``state`` is restored from the runner's database after a restart."""

    limits: RiskLimits
    state: RiskState = field(default_factory=RiskState)

    # the day and the peak ---------------------------------------------------------------------------------------

    def start_bar(self, bar_ms: int, equity: float) -> list[RiskDecision]:
        """Before a bar trades: a new UTC day opens at the equity of the last close and lifts a daily halt."""
        decisions: list[RiskDecision] = []
        day = utc_day_ms(bar_ms)
        if self.state.day_ms != day:
            self.state.day_ms = day
            self.state.day_open_equity = equity
            if self.state.halted_day_ms is not None and self.state.halted_day_ms < day:
                decisions.append(
                    RiskDecision(bar_ms, None, "daily_limit", "resume", f"a new UTC day ({format_ms(day)[:10]})")
                )
                self.state.halted_day_ms = None
                self.state.halt_reason = None
        if self.state.peak_equity is None:
            self.state.peak_equity = equity
        return decisions

    def daily_pnl_pct(self, equity: float) -> float:
        opening = self.state.day_open_equity
        return 0.0 if not opening else (equity / opening - 1.0) * 100.0

    def end_bar(self, bar_ms: int, equity: float, kill_switch: bool) -> list[RiskDecision]:
        """After a bar's close: the daily limits and the drawdown kill on the runner's equity, and the kill switch."""
        decisions: list[RiskDecision] = []
        state = self.state
        state.peak_equity = max(state.peak_equity or equity, equity)
        if state.killed_reason is None:
            kill = self._kill_reason(equity, kill_switch)
            if kill is not None:
                state.killed_reason = kill
                decisions.append(RiskDecision(bar_ms, None, "kill", "close all and stop", kill))
        if state.halted_day_ms is None and state.killed_reason is None:
            halt = self._daily_halt(equity)
            if halt is not None:
                rule, reason = halt
                state.halted_day_ms = state.day_ms
                state.halt_reason = reason
                decisions.append(RiskDecision(bar_ms, None, rule, "halt new entries until the next UTC day", reason))
        return decisions

    def _kill_reason(self, equity: float, kill_switch: bool) -> str | None:
        if kill_switch:
            return "the kill-switch file is present"
        limit = self.limits.max_drawdown_pct
        peak = self.state.peak_equity
        if limit is not None and peak:
            drawdown = (1.0 - equity / peak) * 100.0
            if drawdown >= limit:
                return f"drawdown {drawdown:,.2f} % from the peak of {peak:,.2f} reached the {limit:g} % kill"
        return None

    def _daily_halt(self, equity: float) -> tuple[str, str] | None:
        pnl = self.daily_pnl_pct(equity)
        loss, gain = self.limits.daily_loss_pct, self.limits.daily_gain_pct
        if loss is not None and pnl <= -loss:
            return "daily_loss", f"today's PnL {_pct(pnl)} reached the daily loss limit of -{loss:g} %"
        if gain is not None and pnl >= gain:
            return "daily_gain", f"today's PnL {_pct(pnl)} reached the daily gain limit of +{gain:g} %"
        return None

    # entries ------------------------------------------------------------------------------------------------------

    @property
    def killed(self) -> bool:
        return self.state.killed_reason is not None

    def refuse_entry(
        self, book_id: str, preview: StepResult, equity: float, open_positions: Sequence[OpenPosition]
    ) -> tuple[str, str] | None:
        """(rule, reason) when the entry ``preview`` shows must not happen, else None. ``equity`` is the runner's,
        ``open_positions`` the other books' positions."""
        if self.state.killed_reason is not None:
            return "kill", f"the runner is killed: {self.state.killed_reason}"
        if self.state.halted_day_ms is not None:
            return "daily_limit", f"entries halted for the day: {self.state.halt_reason}"
        limits = self.limits
        others = [p for p in open_positions if p.book_id != book_id]
        if limits.max_positions is not None and len(others) + 1 > limits.max_positions:
            return "max_positions", (
                f"{len(others)} position(s) already open ({', '.join(p.book_id for p in others)}); "
                f"the limit is {limits.max_positions}"
            )
        share = preview.entry_notional / equity * 100.0 if equity > 0 else float("inf")
        if limits.max_position_pct is not None and share > limits.max_position_pct:
            return "max_position", (
                f"the entry's notional {preview.entry_notional:,.2f} is {share:,.1f} % of equity {equity:,.2f}; "
                f"the limit is {limits.max_position_pct:g} %"
            )
        if limits.max_exposure_pct is not None:
            total = sum(p.notional for p in others) + preview.entry_notional
            exposure = total / equity * 100.0 if equity > 0 else float("inf")
            if exposure > limits.max_exposure_pct:
                return "max_exposure", (
                    f"open notional with this entry {total:,.2f} would be {exposure:,.1f} % of equity; "
                    f"the limit is {limits.max_exposure_pct:g} %"
                )
        return None


__all__ = [
    "DAY_MS",
    "OpenPosition",
    "RiskDecision",
    "RiskLimits",
    "RiskManager",
    "RiskState",
    "utc_day_ms",
]
