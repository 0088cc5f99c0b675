"""Mirror a book's position to a venue through ccxt market orders, so that a retry never trades twice.

Venues: ``hyperliquid_perps`` (ccxt's ``hyperliquid`` class, perpetuals only) and ``ccxt_<exchange id>`` (any
exchange ccxt knows, with ``STRATLAB_CCXT_API_KEY``/``STRATLAB_CCXT_API_SECRET``). Hyperliquid signs every action
with a wallet's private key: ``STRATLAB_HYPERLIQUID_WALLET_ADDRESS`` (the account, ``0x`` + 40 hex) and
``STRATLAB_HYPERLIQUID_PRIVATE_KEY`` (the key of that wallet or of an API wallet approved for it). A dry run needs
none of them: it loads the public market list for precision and sends no order.

One order, in this order of checks:

1. Precision first, without a request: the amount is rounded to the lot size (Hyperliquid: ``szDecimals``
   decimals, to the nearest), the reference price to the tick (Hyperliquid: 5 significant figures and at most
   ``6 - szDecimals`` decimals). An amount that rounds to zero, or whose value at the reference price is below the
   venue's minimum notional (Hyperliquid: 10 USDC), is rejected here and never sent.
2. A dry run stops here: the outcome's reason is the exact order, on one line.
3. The order is sent as a market order under the caller's client id (Hyperliquid: a ``cloid``, ``0x`` + 32 hex, see
   ``client_order_id``). On Hyperliquid a market order is an IOC limit order at the reference price moved by ccxt's
   ``defaultSlippage`` (5 %) against us, so ccxt is given the reference price.
4. A venue reject is reported with the venue's own message and never sent again. The venue keeps one order per
   client id, so a reject can also mean that this id was already placed (a retry after a crash): the broker asks
   for the order by its client id before reporting the reject, and reports that earlier order if it exists.
5. No answer (timeout, lost connection): the order may or may not have reached the venue. The broker asks for it
   by client id; only when the venue does not know the id is it sent once more, under the same id; if that second
   attempt gets no answer either and the venue still does not know the id, the outcome is ``unknown``. The resend
   is Hyperliquid's only: on a ccxt exchange, whether ``fetch_order`` finds an order by client id depends on the
   exchange, so "not found" there is ``unknown`` rather than a reason to send again. A rate-limit answer is a reject
   (nothing was placed).

Fees: ccxt attaches its own builder code to every Hyperliquid order, with a fee of 0.01 % of the notional, or 0 %
when ``options['builderFee']`` is False -- and even then it first sends an ``approveBuilderFee`` action and a
``setReferrer`` action on the account's behalf. The broker turns the builder fee off and attaches no builder at all
(nor sends either action), so an order pays exactly the venue's own fee. The fee of a fill is read from the
account's fills (``userFillsByTime``) when the venue's order answer does not carry it.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from pydantic import SecretStr

from stratlab.data.sources.ccxt_exchange import SOURCE_PREFIX, market_types_for, rebase_api_urls, store_symbol_for
from stratlab.data.sources.http_retry import one_line
from stratlab.data.sources.hyperliquid import SOURCE_NAME as HYPERLIQUID_VENUE
from stratlab.errors import ConfigError, DownloadError
from stratlab.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

HYPERLIQUID_EXCHANGE_ID = "hyperliquid"
FEE_NOTE_BUILDER_OFF = (
    "Hyperliquid builder fee off (options['builderFee'] = False, and no builder code attached): "
    "orders pay the venue's own fee only"
)
FEE_NOTE_VENUE = "the venue's own trading fee (no fee added by stratlab or ccxt)"
# How far before an order's send time its fills are looked for (clock differences between us and the venue).
_FILLS_LOOKBACK_MS = 60_000
_CLIENT_ID_HEX_CHARS = 32

OrderStatus = Literal["filled", "rejected", "dry_run", "unknown"]


def client_order_id(*parts: str | int) -> str:
    """A client order id that a retry of the same decision reproduces: ``0x`` + 32 hex (Hyperliquid's 16-byte cloid).

    The parts (a manifest's name, a bar's time, a sequence number ...) are joined with a separator that cannot
    appear in them by accident, so ``("a", "bc")`` and ``("ab", "c")`` differ; an int and its decimal string are the
    same part.
    """
    if not parts:
        raise ValueError("client_order_id needs at least one part")
    text = "\x1f".join(str(part) for part in parts)
    return "0x" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:_CLIENT_ID_HEX_CHARS]


@dataclass(frozen=True)
class OrderIntent:
    symbol: str  # the venue's ccxt symbol, e.g. "BTC/USDC:USDC"
    side: Literal["buy", "sell"]
    amount: float  # base units, before precision
    reduce_only: bool
    client_id: str  # deterministic, from the runner's state: a retry with the same id is never doubled
    reference_price: float  # the last close, for min-notional checks and the dry-run log


@dataclass(frozen=True)
class OrderOutcome:
    client_id: str
    status: OrderStatus
    amount: float  # filled base units (filled), or the amount after precision (rejected, dry_run, unknown)
    price: float | None  # average fill price (filled), the reference price after precision (dry_run), else None
    fee: float | None  # in the settlement currency, when the venue reports it
    reason: str  # one line for people


@dataclass(frozen=True)
class _Prepared:
    """An order after the venue's precision rules, ready to send."""

    intent: OrderIntent
    amount: float
    amount_text: str
    price_text: str
    base: str
    quote: str


class ExchangeBroker:
    """One venue account: places market orders, reads positions and open orders. Not thread-safe."""

    def __init__(
        self,
        venue: str,
        *,
        settings: Settings,
        base_url: str | None = None,
        dry_run: bool = False,
        wallet_address: str | None = None,
        private_key: str | None = None,
        timeout_s: float | None = None,
        enable_rate_limit: bool = True,
    ) -> None:
        self.venue = venue
        self.dry_run = dry_run
        self.exchange_id = _exchange_id_of(venue)
        self.is_hyperliquid = venue == HYPERLIQUID_VENUE
        timeout = timeout_s if timeout_s is not None else settings.download_timeout_s
        config: dict[str, Any] = {"enableRateLimit": enable_rate_limit, "timeout": round(timeout * 1000)}
        if self.is_hyperliquid:
            account = {
                "walletAddress": wallet_address or settings.hyperliquid_wallet_address,
                "privateKey": private_key or _secret(settings.hyperliquid_private_key),
            }
            needs = "the account's wallet address and a private key: set STRATLAB_HYPERLIQUID_WALLET_ADDRESS and "
            needs += "STRATLAB_HYPERLIQUID_PRIVATE_KEY"
            url: str | None = base_url or settings.hyperliquid_base_url
        else:
            account = {"apiKey": _secret(settings.ccxt_api_key), "secret": _secret(settings.ccxt_api_secret)}
            needs = "an API key and secret: set STRATLAB_CCXT_API_KEY and STRATLAB_CCXT_API_SECRET"
            url = base_url or settings.ccxt_base_url
        if not dry_run and not all(account.values()):
            raise ConfigError(f"{venue}: placing orders needs {needs} (or trade with a dry run)")
        config.update({key: value for key, value in account.items() if value})
        self._exchange = _build_exchange(self.exchange_id, config)
        if url:
            self._exchange.urls["api"] = rebase_api_urls(self._exchange.urls["api"], url)
        self.fee_note = FEE_NOTE_BUILDER_OFF if self.is_hyperliquid else FEE_NOTE_VENUE
        self._markets_loaded = False
        self._types_limited = False
        self._all_types_option: Any = None

    # context -----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._exchange.close()

    def __enter__(self) -> ExchangeBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # markets -----------------------------------------------------------------------------------------------------

    def _markets(self, symbol: str | None = None) -> dict[str, Any]:
        """The venue's markets, loaded once. Asked for a ccxt symbol first, a ccxt exchange loads only the market
        types that symbol needs (each type costs requests; see ``market_types_for``)."""
        if not self._markets_loaded:
            types = market_types_for(self.exchange_id, symbol) if symbol and not self.is_hyperliquid else None
            if types is not None:
                self._all_types_option = self._exchange.options.get("fetchMarkets")
                current = self._all_types_option if isinstance(self._all_types_option, dict) else {}
                self._exchange.options["fetchMarkets"] = {**current, "types": types}
                self._types_limited = True
            self._call(self._exchange.load_markets, "load markets")
            self._markets_loaded = True
        markets: dict[str, Any] = self._exchange.markets or {}
        return markets

    def _market(self, symbol: str) -> dict[str, Any]:
        markets = self._markets(symbol)
        if symbol not in markets and self._types_limited:
            # A symbol of another market type than the first one asked for: load every type.
            self._exchange.options["fetchMarkets"] = self._all_types_option
            self._types_limited = False
            self._call(lambda: self._exchange.load_markets(True), "load markets")
            markets = self._exchange.markets or {}
        if symbol not in markets:
            hints = difflib.get_close_matches(symbol, list(markets), n=3)
            hint = f"; did you mean {', '.join(hints)}?" if hints else f" ({len(markets)} markets listed)"
            raise ConfigError(f"{self.venue}: unknown symbol {symbol!r}{hint}")
        market: dict[str, Any] = markets[symbol]
        return market

    def venue_symbol(self, store_symbol: str) -> str:
        """The ccxt symbol of a store series: ``BTC`` -> ``BTC/USDC:USDC`` on Hyperliquid, ``BTC-USDT`` -> ``BTC/USDT``
        on a ccxt exchange (the store's path-safe name of the symbol)."""
        markets = self._markets()
        if store_symbol in markets:
            return store_symbol
        for symbol, market in markets.items():
            if self.is_hyperliquid and market.get("baseName") == store_symbol and market.get("swap"):
                return symbol
            if not self.is_hyperliquid and store_symbol_for(symbol) == store_symbol:
                return symbol
        names = [str(m.get("baseName")) for m in markets.values()] if self.is_hyperliquid else list(markets)
        hints = difflib.get_close_matches(store_symbol, names, n=3)
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        raise ConfigError(f"{self.venue}: no market for store symbol {store_symbol!r}{hint}")

    # reading the account -----------------------------------------------------------------------------------------

    def positions(self, symbols: list[str]) -> dict[str, float]:
        """Signed base quantity (long > 0, short < 0) per venue symbol; 0.0 for a symbol without a position."""
        self._require_account("read positions")
        for symbol in symbols:
            self._market(symbol)
        result = dict.fromkeys(symbols, 0.0)
        contract_symbols = [s for s in symbols if self._market(s).get("contract")]
        if contract_symbols:
            rows = self._call(lambda: self._exchange.fetch_positions(contract_symbols), "fetch positions")
            for row in rows:
                symbol = row.get("symbol")
                if symbol not in result:
                    continue
                size = float(row.get("contracts") or 0.0) * float(self._market(symbol).get("contractSize") or 1.0)
                result[symbol] += -size if row.get("side") == "short" else size
        spot_symbols = [s for s in symbols if not self._market(s).get("contract")]
        if spot_symbols:
            # A spot "position" is the base currency held.
            balance = self._call(self._exchange.fetch_balance, "fetch balance")
            for symbol in spot_symbols:
                held = balance.get(self._market(symbol)["base"]) or {}
                result[symbol] = float(held.get("total") or 0.0)
        return result

    def account_value(self, symbols: list[str]) -> tuple[float, str]:
        """The account's total in the currency its orders on ``symbols`` settle in (USDC on Hyperliquid): what a
        runner's capital must not exceed."""
        self._require_account("read the balance")
        market = self._market(symbols[0])
        currency = str(market.get("settle") or market.get("quote"))
        balance = self._call(self._exchange.fetch_balance, "fetch balance")
        held = balance.get(currency) or {}
        return float(held.get("total") or 0.0), currency

    def open_orders(self, symbols: list[str]) -> list[dict[str, Any]]:
        """The account's resting orders on these symbols, each as ``{symbol, side, amount, remaining, price, id,
        client_id, reduce_only}``."""
        self._require_account("read open orders")
        for symbol in symbols:
            self._market(symbol)
        if self.is_hyperliquid:
            # One request (frontendOpenOrders) answers for every coin; the symbols asked for are picked below.
            rows = self._call(self._exchange.fetch_open_orders, "fetch open orders")
        else:
            rows = []
            for symbol in symbols:
                rows += self._call(partial(self._exchange.fetch_open_orders, symbol), f"fetch open orders {symbol}")
        wanted = set(symbols)
        return [
            {
                "symbol": row.get("symbol"),
                "side": row.get("side"),
                "amount": row.get("amount"),
                "remaining": row.get("remaining"),
                "price": row.get("price"),
                "id": row.get("id"),
                "client_id": row.get("clientOrderId"),
                "reduce_only": row.get("reduceOnly"),
            }
            for row in rows
            if row.get("symbol") in wanted
        ]

    def find_order(self, symbol: str, client_id: str) -> OrderOutcome | None:
        """The order placed under ``client_id``, as an outcome; None when the venue knows no such order.

        Raises ``DownloadError`` when the venue cannot be asked (no answer, an error answer): "could not tell" is
        not "not there"."""
        self._require_account("look up an order")
        market = self._market(symbol)
        import ccxt

        try:
            order = self._exchange.fetch_order(client_id, symbol, {"clientOrderId": client_id})
        except ccxt.OrderNotFound:
            return None
        except ccxt.BaseError as exc:
            raise DownloadError(f"{self.venue}: look up order {client_id}: {_describe(exc)}") from None
        if not order or order.get("id") is None:
            return None
        return self._outcome_of_order(order, market, client_id, amount_hint=None)

    # placing -----------------------------------------------------------------------------------------------------

    def place(self, order: OrderIntent) -> OrderOutcome:
        """Send one market order (see the module's notes for the checks, the retry rule and the outcomes)."""
        prepared_or_reject = self._prepare(order)
        if isinstance(prepared_or_reject, OrderOutcome):
            log.info("%s: %s", self.venue, prepared_or_reject.reason)
            return prepared_or_reject
        prepared = prepared_or_reject
        if self.dry_run:
            outcome = OrderOutcome(
                order.client_id, "dry_run", prepared.amount, float(prepared.price_text), None, self._describe(prepared)
            )
            log.info("%s: %s", self.venue, outcome.reason)
            return outcome
        outcome = self._send_with_one_resend(prepared)
        log.info("%s: %s: %s", self.venue, self._describe(prepared), outcome.reason)
        return outcome

    def _prepare(self, order: OrderIntent) -> _Prepared | OrderOutcome:
        import ccxt

        market = self._market(order.symbol)
        base, quote = str(market.get("base")), str(market.get("settle") or market.get("quote"))
        if order.side not in ("buy", "sell"):
            raise ConfigError(f"{self.venue}: order side must be 'buy' or 'sell', not {order.side!r}")
        if not order.amount > 0 or not order.reference_price > 0:
            return self._rejected(order, 0.0, f"nothing to send: amount {order.amount} at {order.reference_price}")
        try:
            amount_text = self._exchange.amount_to_precision(order.symbol, order.amount)
            price_text = self._exchange.price_to_precision(order.symbol, order.reference_price)
        except ccxt.InvalidOrder:
            step = _float((market.get("precision") or {}).get("amount"))
            lot = f" of {step:g} {base}" if step is not None else ""
            return self._rejected(order, 0.0, f"{order.amount:g} {base} rounds to zero at the venue's lot size{lot}")
        amount = float(amount_text)
        notional = amount * order.reference_price
        minimum = ((market.get("limits") or {}).get("cost") or {}).get("min")
        if amount <= 0:
            return self._rejected(order, 0.0, f"{order.amount:g} {base} rounds to zero at the venue's lot size")
        if minimum is not None and notional < float(minimum):
            return self._rejected(
                order,
                amount,
                f"{order.side} {amount_text} {base} at {price_text} is worth {notional:,.2f} {quote}, "
                f"below the venue's minimum notional of {float(minimum):g} {quote}",
            )
        return _Prepared(order, amount, amount_text, price_text, base, quote)

    def tradable_amount(self, symbol: str, amount: float, reference_price: float) -> float:
        """``amount`` (base units) as the venue would take it: rounded to its lot size, or 0.0 when it rounds away or
        is worth less than the venue's minimum notional at ``reference_price`` (what ``place`` would reject unsent)."""
        if not amount > 0 or not reference_price > 0:
            return 0.0
        prepared = self._prepare(OrderIntent(symbol, "buy", amount, False, "0x0", reference_price))
        return prepared.amount if isinstance(prepared, _Prepared) else 0.0

    def _describe(self, prepared: _Prepared) -> str:
        """The exact order, on one line (the dry-run log, and the prefix of every order's log line)."""
        order = prepared.intent
        limit = ""
        if self.is_hyperliquid:
            slippage = float(self._exchange.options.get("defaultSlippage", 0.05))
            bound = order.reference_price * (1 + slippage if order.side == "buy" else 1 - slippage)
            limit = f", IOC limit {self._exchange.price_to_precision(order.symbol, bound)} ({slippage:.0%} slippage)"
        verb = "would send" if self.dry_run else "sent"
        return (
            f"{verb} market {order.side} {prepared.amount_text} {prepared.base} on {order.symbol} at reference "
            f"{prepared.price_text} {prepared.quote}{limit}, reduce-only {'yes' if order.reduce_only else 'no'}, "
            f"client id {order.client_id}" + (" (dry run: nothing sent)" if self.dry_run else "")
        )

    def _send_with_one_resend(self, prepared: _Prepared) -> OrderOutcome:
        first = self._send(prepared)
        if first is not None:
            return first
        # No answer: did the order reach the venue?
        found = self._look_up_after_silence(prepared)
        if isinstance(found, OrderOutcome):
            return found
        if found == "cannot tell":
            return self._unknown(
                prepared, "no answer to the order, and the venue could not be asked whether it arrived"
            )
        if not self.is_hyperliquid:
            # Only Hyperliquid's lookup by client id is known (and tested) to find every order: elsewhere "not found"
            # may mean "not looked up by that id", and sending again could trade twice.
            return self._unknown(
                prepared, "no answer to the order and the venue does not show it; check the venue before placing again"
            )
        second = self._send(prepared)
        if second is not None:
            return second
        found = self._look_up_after_silence(prepared)
        if isinstance(found, OrderOutcome):
            return found
        return self._unknown(prepared, "no answer to the order, sent twice under the same client id; check the venue")

    def _look_up_after_silence(self, prepared: _Prepared) -> OrderOutcome | Literal["absent", "cannot tell"]:
        try:
            found = self.find_order(prepared.intent.symbol, prepared.intent.client_id)
        except DownloadError as exc:
            log.warning("%s", exc)
            return "cannot tell"
        return found if found is not None else "absent"

    def _send(self, prepared: _Prepared) -> OrderOutcome | None:
        """One attempt: the outcome, or None when the venue did not answer."""
        import ccxt

        order = prepared.intent
        params: dict[str, Any] = {"clientOrderId": order.client_id}
        if order.reduce_only:
            params["reduceOnly"] = True
        # Hyperliquid needs the price to bound its IOC order; other venues take a market order without one.
        price = order.reference_price if self.is_hyperliquid else None
        sent_ms = int(time.time() * 1000)
        try:
            created = self._exchange.create_order(order.symbol, "market", order.side, prepared.amount, price, params)
        except ccxt.RateLimitExceeded as exc:
            # The venue answered, refusing the request: nothing was placed, and an immediate retry is refused too.
            return self._rejected(order, prepared.amount, f"rate-limited by the venue: {_venue_message(exc)}")
        except ccxt.NetworkError as exc:
            log.warning("%s: no answer to order %s: %s", self.venue, order.client_id, _describe(exc))
            return None
        except ccxt.BaseError as exc:
            return self._after_reject(prepared, _venue_message(exc))
        if created.get("status") == "rejected":
            return self._after_reject(prepared, _venue_message_of_info(created.get("info")))
        return self._outcome_of_order(created, self._market(order.symbol), order.client_id, prepared.amount, sent_ms)

    def _after_reject(self, prepared: _Prepared, message: str) -> OrderOutcome:
        """A reject is final; but it may be the venue refusing a client id it already holds (this order, placed
        before a crash), and then that earlier order is the outcome."""
        order = prepared.intent
        with contextlib.suppress(DownloadError):
            earlier = self.find_order(order.symbol, order.client_id)
            if earlier is not None and earlier.status == "filled":
                return OrderOutcome(
                    earlier.client_id,
                    "filled",
                    earlier.amount,
                    earlier.price,
                    earlier.fee,
                    f"already placed under this client id (the venue answered: {message}); {earlier.reason}",
                )
        return self._rejected(order, prepared.amount, f"rejected by the venue: {message}")

    def _outcome_of_order(
        self,
        order: dict[str, Any],
        market: dict[str, Any],
        client_id: str,
        amount_hint: float | None,
        sent_ms: int | None = None,
    ) -> OrderOutcome:
        status = order.get("status")
        filled = _float(order.get("filled"))
        if filled is None and status == "closed":
            filled = _float(order.get("amount"))
        filled = filled or 0.0
        average = _float(order.get("average"))
        fee = _float((order.get("fee") or {}).get("cost"))
        if filled > 0 and (average is None or fee is None):
            since = sent_ms if sent_ms is not None else (order.get("timestamp") or int(time.time() * 1000))
            from_fills = self._fills_of(str(market["symbol"]), str(order.get("id")), int(since) - _FILLS_LOOKBACK_MS)
            if from_fills is not None:
                amount_from_fills, average_from_fills, fee_from_fills = from_fills
                average = average if average is not None else average_from_fills
                fee = fee if fee is not None else fee_from_fills
                filled = filled or amount_from_fills
        quote = str(market.get("settle") or market.get("quote"))
        venue_status = _raw_status(order) or str(status)
        if filled > 0:
            part = ""
            requested = amount_hint if amount_hint is not None else _float(order.get("amount"))
            if requested is not None and filled < requested * (1 - 1e-9):
                part = f" (partial: {filled:g} of {requested:g})"
            price_text = f" at {average:,.6g} {quote}" if average is not None else ""
            fee_text = f", fee {fee:.6g} {quote}" if fee is not None else ""
            reason = (
                f"filled {filled:g} {market.get('base')}{price_text}{fee_text}{part}, venue order {order.get('id')}"
            )
            return OrderOutcome(client_id, "filled", filled, average, fee, reason)
        if status in ("canceled", "rejected", "expired"):
            return OrderOutcome(
                client_id, "rejected", amount_hint or 0.0, None, None, f"venue order {order.get('id')}: {venue_status}"
            )
        return OrderOutcome(
            client_id,
            "unknown",
            amount_hint or 0.0,
            None,
            None,
            f"venue order {order.get('id')} is {venue_status} with nothing filled; check the venue",
        )

    def _fills_of(self, symbol: str, venue_order_id: str, since_ms: int) -> tuple[float, float, float] | None:
        """(amount, average price, fee) of a venue order's fills, or None when they cannot be read."""
        if not self._exchange.has.get("fetchMyTrades"):
            return None
        import ccxt

        try:
            trades = self._exchange.fetch_my_trades(symbol, since_ms)
        except ccxt.BaseError as exc:
            log.warning("%s: fills of order %s unread: %s", self.venue, venue_order_id, _describe(exc))
            return None
        mine = [t for t in trades if str(t.get("order")) == venue_order_id]
        amount = sum(float(t.get("amount") or 0.0) for t in mine)
        if not mine or amount <= 0:
            return None
        average = sum(float(t.get("amount") or 0.0) * float(t.get("price") or 0.0) for t in mine) / amount
        fee = sum(float((t.get("fee") or {}).get("cost") or 0.0) for t in mine)
        return amount, average, fee

    # small rules -------------------------------------------------------------------------------------------------

    def _rejected(self, order: OrderIntent, amount: float, reason: str) -> OrderOutcome:
        return OrderOutcome(order.client_id, "rejected", amount, None, None, reason)

    def _unknown(self, prepared: _Prepared, reason: str) -> OrderOutcome:
        return OrderOutcome(prepared.intent.client_id, "unknown", prepared.amount, None, None, reason)

    def _require_account(self, what: str) -> None:
        if self.is_hyperliquid and not self._exchange.walletAddress:
            raise ConfigError(f"{self.venue}: to {what}, set STRATLAB_HYPERLIQUID_WALLET_ADDRESS")
        if not self.is_hyperliquid and not self._exchange.apiKey:
            raise ConfigError(f"{self.venue}: to {what}, set STRATLAB_CCXT_API_KEY and STRATLAB_CCXT_API_SECRET")

    def _call(self, call: Callable[[], T], what: str) -> T:
        import ccxt

        try:
            return call()
        except ccxt.BaseError as exc:
            raise DownloadError(f"{self.venue}: {what}: {_describe(exc)}") from None


# ---------------------------------------------------------------------------------------------------------------
# building the ccxt exchange


def _exchange_id_of(venue: str) -> str:
    import ccxt

    if venue == HYPERLIQUID_VENUE:
        return HYPERLIQUID_EXCHANGE_ID
    if venue.startswith(SOURCE_PREFIX):
        exchange_id = venue[len(SOURCE_PREFIX) :]
        if exchange_id in ccxt.exchanges:
            return exchange_id
        hints = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=3)
        hint = f"; did you mean {', '.join(SOURCE_PREFIX + h for h in hints)}?" if hints else ""
        raise ConfigError(f"venue {venue!r}: ccxt has no exchange {exchange_id!r}{hint}")
    raise ConfigError(f"unknown venue {venue!r}: use {HYPERLIQUID_VENUE} or {SOURCE_PREFIX}<exchange id>")


def _build_exchange(exchange_id: str, config: dict[str, Any]) -> Any:
    import ccxt

    if exchange_id != HYPERLIQUID_EXCHANGE_ID:
        return getattr(ccxt, exchange_id)(config)

    class HyperliquidWithoutBuilder(ccxt.hyperliquid):  # type: ignore[misc]
        """ccxt's Hyperliquid, without its builder code.

        ccxt approves its builder for the account (an ``approveBuilderFee`` action, at 0 % when ``builderFee`` is
        False) before the first order, and from then on attaches ``builder: {b, f}`` to every order. Skipping the
        approval keeps ``approvedBuilderFee`` False, which is what makes ccxt leave the builder out."""

        def handle_builder_fee_approval(self) -> bool:
            return True

    exchange = HyperliquidWithoutBuilder(config)
    exchange.options["builderFee"] = False
    exchange.options["approvedBuilderFee"] = False
    # ccxt would also set a referrer code on the account ("setReferrer") before the first order.
    exchange.options["refSet"] = True
    # Perpetuals only: spot and builder-deployed (HIP-3) markets would cost more requests and are not traded.
    exchange.options["fetchMarkets"] = {**exchange.options.get("fetchMarkets", {}), "types": ["swap"]}
    return exchange


def _secret(value: SecretStr | str | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value() or None
    return value or None


# ---------------------------------------------------------------------------------------------------------------
# reading ccxt's answers


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {one_line(str(exc))}"


def _venue_message(exc: BaseException) -> str:
    """The venue's own words from a ccxt error, whose text is ``"<exchange id> <response body>"``."""
    text = str(exc)
    _, _, body = text.partition(" ")
    with contextlib.suppress(json.JSONDecodeError, TypeError):
        message = _message_in(json.loads(body))
        if message:
            return one_line(message)
    return one_line(text)


def _venue_message_of_info(info: Any) -> str:
    return one_line(_message_in(info) or json.dumps(info))


def _message_in(answer: Any) -> str | None:
    """The error text of a Hyperliquid answer: ``{"status": "err", "response": "..."}`` or a per-order
    ``{"error": "..."}`` inside ``response.data.statuses``."""
    if not isinstance(answer, dict):
        return None
    if answer.get("status") == "err" and isinstance(answer.get("response"), str):
        return str(answer["response"])
    if isinstance(answer.get("error"), str):
        return str(answer["error"])
    statuses = ((answer.get("response") or {}).get("data") or {}).get("statuses")
    if isinstance(statuses, list):
        for status in statuses:
            if isinstance(status, dict) and isinstance(status.get("error"), str):
                return str(status["error"])
    return None


def _raw_status(order: dict[str, Any]) -> str | None:
    """Hyperliquid's own order status (``filled``, ``canceled``, ``perpMarginRejected`` ...), when ccxt kept it."""
    info = order.get("info")
    if isinstance(info, dict) and isinstance(info.get("status"), str):
        return str(info["status"])
    return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


__all__ = [
    "FEE_NOTE_BUILDER_OFF",
    "HYPERLIQUID_VENUE",
    "ExchangeBroker",
    "OrderIntent",
    "OrderOutcome",
    "client_order_id",
]
