"""The live broker's side of the runner: bring the venue to each book's position, one market order per leg.

At each close the runner knows the position each book will hold after the next open (its pending order, sized at
this close: ``Book.target_position``); the mirror sends the difference from what the venue holds for that book:

- a reduce-only leg first when the position shrinks, closes or reverses (it can never open the other side by
  mistake), then a leg that opens or grows;
- each leg under a client order id derived from the runner, the book, the bar, the venue position it starts from,
  the target and the leg (``client_order_id``),
  committed as ``sending`` in the state database before it is sent. After a crash the runner asks the venue for
  every ``sending`` order by its id before anything else; the bar that sent it is traded again after the restart
  and produces the same ids, so an order that did reach the venue is never sent twice;
- an order the venue rejects (or leaves unknown) is reported and not sent again: the runner commits the bar and
  stops with the venue's reason; started again (after a person looked), it trades on from the books' state;
- a leg smaller than the venue's lot size or minimum order is not sent (the venue holds the nearest position it
  can); a full close always is;
- after every fill, the venue's positions are read and must equal the sum of the books' positions on that symbol;
  on start too, the venue must hold no resting orders on them, and the account's value (in the settlement
  currency) must cover the books' capital. A disagreement stops the runner with one line:
  it never trades on a position it does not understand.

Exits at a take profit or stop loss inside a bar are the kernel's (paper) fills at the level; on the venue they are
market orders at the close of the bar that reached the level (no resting trigger orders are placed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from stratlab.errors import DataError, DownloadError
from stratlab.live.alerts import format_position, format_quantity
from stratlab.live.exchange import ExchangeBroker, OrderIntent, OrderOutcome, client_order_id
from stratlab.live.state import Event, StateStore

# Below this fraction of a position, a difference is rounding, not an order.
_TOLERANCE = 1e-9


def legs(current: float, target: float) -> list[tuple[Literal["buy", "sell"], float, bool]]:
    """(side, amount, reduce_only) legs taking a venue position from ``current`` to ``target``: reduce first."""
    out: list[tuple[Literal["buy", "sell"], float, bool]] = []
    if abs(target - current) <= _TOLERANCE * max(abs(current), abs(target), 1.0):
        return out
    same_side = current * target > 0
    if current != 0 and (not same_side or abs(target) < abs(current)):
        reduce = abs(current) if not same_side else abs(current) - abs(target)
        out.append(("sell" if current > 0 else "buy", reduce, True))
    if target != 0 and (not same_side or abs(target) > abs(current)):
        grow = abs(target) if not same_side else abs(target) - abs(current)
        out.append(("buy" if target > 0 else "sell", grow, False))
    return out


class VenueMirror:
    """Mirrors books to one venue account through an ``ExchangeBroker`` (see the module)."""

    def __init__(self, broker: ExchangeBroker, store: StateStore) -> None:
        self.broker = broker
        self.store = store
        self.runner_id = f"{store.state_dir.name}:{store.runner()['created_ms']}"
        self.positions = {row.book_id: row.venue_position for row in store.books()}
        self.symbols: dict[str, str] = {}  # store symbol -> venue symbol
        self.book_symbols: dict[str, str] = {}  # book id -> venue symbol
        self.failure: str | None = None  # an order the venue rejected or left unknown: the runner stops on it

    def _symbol(self, store_symbol: str) -> str:
        if store_symbol not in self.symbols:
            self.symbols[store_symbol] = self.broker.venue_symbol(store_symbol)
        return self.symbols[store_symbol]

    # on start -----------------------------------------------------------------------------------------------------

    def reconcile(self, books: Sequence[tuple[str, str, float]], capital: float = 0.0) -> None:
        """Settle orders in flight, then check that the venue holds what the books say (see the module)."""
        for book_id, _, position in books:
            self.positions.setdefault(book_id, position)
        book_symbols = {book_id: self._symbol(symbol) for book_id, symbol, _ in books}
        self.book_symbols.update(book_symbols)
        self._settle_in_flight()
        if self.broker.dry_run:
            self.store.log(
                [Event("reconcile", "dry run: the venue's account is not read; orders are logged, not sent")]
            )
            return
        self._check_positions(book_symbols)
        symbols = sorted(set(book_symbols.values()))
        value, currency = self.broker.account_value(symbols)
        if capital > value:
            raise DataError(
                f"{self.broker.venue}: the account holds {value:,.2f} {currency}, the books trade with {capital:,.2f}: "
                f"start with --capital {value:,.0f} or less (or fund the account)"
            )
        resting = self.broker.open_orders(symbols)
        if resting:
            first = resting[0]
            raise DataError(
                f"{self.broker.venue}: {len(resting)} resting order(s) on {', '.join(symbols)} (first: {first['side']} "
                f"{first['amount']} {first['symbol']}, id {first['id']}); this runner places market orders only: "
                "cancel them on the venue before starting"
            )
        agreed = (
            f"{self.broker.venue}: positions agree with the books, no resting order, account {value:,.2f} {currency}; "
            f"{self.broker.fee_note}"
        )
        self.store.log([Event("reconcile", agreed)])

    def _settle_in_flight(self) -> None:
        for order in self.store.orders_in_flight().to_dict("records"):
            found = None if self.broker.dry_run else self.broker.find_order(order["symbol"], order["client_id"])
            if found is None:
                self.store.record_order(
                    {
                        "client_id": order["client_id"],
                        "status": "not_sent",
                        "reason": "not found on the venue after a restart",
                    }
                )
                continue
            self._record(
                order["book_id"],
                order["bar_ms"],
                order["symbol"],
                order["side"],
                found,
                reduce_only=order["reduce_only"],
            )

    def _check_positions(self, book_symbols: dict[str, str]) -> None:
        symbols = sorted(set(book_symbols.values()))
        held = self.broker.positions(symbols)
        for symbol in symbols:
            expected = sum(self.positions[b] for b, s in book_symbols.items() if s == symbol)
            venue = held.get(symbol, 0.0)
            if not math.isclose(venue, expected, rel_tol=1e-6, abs_tol=1e-9):
                raise DataError(
                    f"{self.broker.venue}: the account holds {format_position(venue)} {symbol}, the runner's books "
                    f"{format_position(expected)}; close or adjust the position on the venue (or start a new "
                    "--state-dir) before trading"
                )

    # each close ---------------------------------------------------------------------------------------------------

    def _record(
        self, book_id: str, bar_ms: int, symbol: str, side: str, outcome: OrderOutcome, *, reduce_only: bool
    ) -> None:
        """The order's outcome and, when it filled (or would have, in a dry run), the book's new venue position: one
        transaction, so a crash never separates a fill from the position it moved."""
        moved = None
        if outcome.status in ("filled", "dry_run"):
            signed = outcome.amount if side == "buy" else -outcome.amount
            self.positions[book_id] = self.positions.get(book_id, 0.0) + signed
            moved = (book_id, self.positions[book_id])
        self.store.record_order(
            {
                "client_id": outcome.client_id, "book_id": book_id, "bar_ms": bar_ms, "symbol": symbol, "side": side,
                "amount": outcome.amount, "reduce_only": reduce_only, "status": outcome.status, "price": outcome.price,
                "fee": outcome.fee, "reason": outcome.reason,
            },
            venue_position=moved,
        )  # fmt: skip

    def sync(self, book_id: str, store_symbol: str, target: float, reference_price: float, bar_ms: int) -> list[Event]:
        """Send the legs from the venue's position for ``book_id`` to ``target``; the events say what happened."""
        symbol = self._symbol(store_symbol)
        self.book_symbols[book_id] = symbol
        current = self.positions.get(book_id, 0.0)
        events = []
        filled = False
        for leg, (side, wanted, reduce_only) in enumerate(legs(current, target)):
            closing = reduce_only and (target == 0 or target * current < 0)
            amount = self.broker.tradable_amount(symbol, wanted, reference_price)
            if amount == 0.0 and not closing:
                # A difference smaller than the venue's lot or minimum order (a resize by a few units of the last
                # digit): nothing to send; the venue keeps the nearest position it can hold.
                continue
            amount = amount or wanted
            # The id names the decision: the bar, where the venue stood, where it goes, and the leg. Traded again
            # after a crash from the same position, the bar makes the same ids (the venue refuses a second order
            # with one); from a position that moved meanwhile (a leg that did fill), the rest is a new decision.
            client_id = client_order_id(self.runner_id, book_id, bar_ms, repr(current), repr(target), leg)
            self.store.record_order(
                {
                    "client_id": client_id, "book_id": book_id, "bar_ms": bar_ms, "symbol": symbol, "side": side,
                    "amount": amount, "reduce_only": reduce_only, "status": "sending", "reason": "",
                }
            )  # fmt: skip
            outcome = self.broker.place(OrderIntent(symbol, side, amount, reduce_only, client_id, reference_price))
            self._record(book_id, bar_ms, symbol, side, outcome, reduce_only=reduce_only)
            if outcome.status in ("filled", "dry_run"):
                filled = filled or outcome.status == "filled"
                price = format_quantity(outcome.price) if outcome.price is not None else "?"
                verb = "would send" if outcome.status == "dry_run" else ("bought" if side == "buy" else "sold")
                events.append(
                    Event("order", f"{book_id}: {verb} {format_quantity(outcome.amount)} {symbol} at {price}"
                          f"{' (reduce-only)' if reduce_only else ''}; {outcome.reason}", bar_ms=bar_ms)
                )  # fmt: skip
                continue
            events.append(Event("order", f"{book_id}: order {outcome.status}: {outcome.reason}", "error", bar_ms))
            # Never retried blindly: the runner stops after committing this bar, and a person looks first.
            self.failure = f"{book_id}: {side} {format_quantity(amount)} {symbol} {outcome.status}: {outcome.reason}"
            break
        if filled:
            self._check_after_fill(symbol)
        return events

    def _check_after_fill(self, symbol: str) -> None:
        try:
            self._check_positions({b: s for b, s in self.book_symbols.items() if s == symbol})
        except DownloadError as exc:
            raise DataError(f"{self.broker.venue}: positions could not be read after a fill ({exc})") from None

    def close(self) -> None:
        self.broker.close()


__all__ = ["VenueMirror", "legs"]
