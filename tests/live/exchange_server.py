"""A local stand-in for Hyperliquid's trading API (``POST /info`` and ``POST /exchange``), on 127.0.0.1.

It answers in Hyperliquid's own formats: ``metaAndAssetCtxs``/``meta``/``spotMeta`` from ``tests/data/fixtures``,
``clearinghouseState`` with ``assetPositions`` whose ``szi`` is the signed size, ``orderStatus`` by oid or cloid
(``{"status": "unknownOid"}`` when it has none), ``frontendOpenOrders``/``openOrders``, ``userFills``/
``userFillsByTime``; ``/exchange`` takes ``order`` and ``cancel`` actions and answers
``{"status": "ok", "response": {"type": "order", "data": {"statuses": [...]}}}`` where each status is
``{"filled": {"totalSz", "avgPx", "oid"}}``, ``{"resting": {"oid"}}`` or ``{"error": "<message>"}``.

Positions, the USDC balance, resting orders and fills live in memory. An IOC order fills in full at the coin's mark
price (settable) when its limit crosses the mark, and pays the taker fee (0.045 %). Orders are checked the way the
venue checks them, with arithmetic written here independently of ccxt's: sizes with more decimals than the coin's
``szDecimals``, prices with more than 5 significant figures or more than ``6 - szDecimals`` decimals, a value below
10 USDC, a reduce-only order that would grow the position, and a cloid the account has already used (the venue keeps
one order per cloid) are each answered with an error status. Signatures are not verified (they cannot be without the
key's owner), but an action without ``signature`` or ``nonce`` is refused.

Scriptable: ``reject_next_order(message)`` answers the next order with that error; ``delay_next_order(seconds,
process=...)`` holds the next ``/exchange`` answer past the client's timeout, having applied the order or not (the
answer was lost, or the request never arrived). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.local_http import LocalHttpServer

FIXTURES = Path(__file__).parent.parent / "data" / "fixtures"
TAKER_FEE_RATE = Decimal("0.00045")
MIN_ORDER_VALUE = Decimal(10)
PERP_MAX_DECIMALS = 6
SIGNIFICANT_FIGURES = 5
DUPLICATE_CLOID_ERROR = "Order has a duplicate client order id (cloid)."
IOC_NO_MATCH_ERROR = "Order could not immediately match against any resting orders."


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _text(value: Decimal) -> str:
    """A decimal as Hyperliquid writes numbers: plain notation, at least one decimal place."""
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def decimals_of(text: str) -> int:
    return len(text.split(".", 1)[1].rstrip("0")) if "." in text else 0


def significant_figures(text: str) -> int:
    """Digits from the first non-zero one to the last non-zero one ("0.0012340" -> 4)."""
    return len(text.lstrip("-").replace(".", "").lstrip("0").rstrip("0"))


def valid_price(text: str, sz_decimals: int) -> bool:
    """Hyperliquid's perp price rule: an integer is always valid; otherwise at most 5 significant figures and at
    most ``6 - szDecimals`` decimal places."""
    value = Decimal(text)
    if value == value.to_integral_value():
        return True
    if decimals_of(text) > PERP_MAX_DECIMALS - sz_decimals:
        return False
    return significant_figures(text) <= SIGNIFICANT_FIGURES


@dataclass
class Position:
    szi: Decimal = Decimal(0)
    entry_px: Decimal = Decimal(0)


@dataclass
class OrderRecord:
    oid: int
    coin: str
    side: str  # "B" or "A"
    limit_px: str
    orig_sz: str
    sz: str  # remaining
    reduce_only: bool
    tif: str
    cloid: str | None
    timestamp: int
    status: str  # open, filled, canceled, rejected


@dataclass(frozen=True)
class Recorded:
    kind: str  # the /info type, or the /exchange action type
    path: str
    body: Any
    at: float


@dataclass
class _NextExchange:
    delay_s: float = 0.0
    process: bool = True
    reject: str | None = None


@dataclass
class ExchangeState:
    usdc: Decimal = Decimal(10_000)
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[int, OrderRecord] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)


class ExchangeServer(LocalHttpServer):
    def __init__(self, *, usdc: float = 10_000.0) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._next_exchange: list[_NextExchange] = []
        self.state = ExchangeState(usdc=Decimal(str(usdc)))
        self.meta_and_ctxs = load_fixture("hyperliquid_meta_and_asset_ctxs.json")
        self.meta = load_fixture("hyperliquid_meta.json")
        self.spot_meta = load_fixture("hyperliquid_spot_meta.json")
        universe = self.meta_and_ctxs[0]["universe"]
        self.asset_names: list[str] = [asset["name"] for asset in universe]
        self.sz_decimals: dict[str, int] = {asset["name"]: int(asset["szDecimals"]) for asset in universe}
        self.marks: dict[str, Decimal] = {
            asset["name"]: Decimal(ctx["markPx"]) for asset, ctx in zip(universe, self.meta_and_ctxs[1], strict=True)
        }
        self._next_oid = 1_000
        self._next_tid = 50_000
        self._listen(_make_handler(self))

    # lifecycle ------------------------------------------------------------------------------------------------

    # scripting and inspection ---------------------------------------------------------------------------------

    def set_mark(self, coin: str, price: float) -> None:
        with self._lock:
            self.marks[coin] = Decimal(str(price))

    def reject_next_order(self, message: str) -> None:
        with self._lock:
            self._next_exchange.append(_NextExchange(reject=message))

    def delay_next_order(self, seconds: float, *, process: bool) -> None:
        """Hold the next ``/exchange`` answer ``seconds``; ``process=False``: the order is never applied."""
        with self._lock:
            self._next_exchange.append(_NextExchange(delay_s=seconds, process=process))

    def add_resting_order(self, coin: str, side: str, size: str, price: str, cloid: str | None = None) -> int:
        """A GTC order resting on the book, as if placed from elsewhere (the venue's web page)."""
        with self._lock:
            oid = self._new_oid()
            self.state.orders[oid] = OrderRecord(
                oid, coin, side, price, size, size, False, "Gtc", cloid, int(time.time() * 1000), "open"
            )
            return oid

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_of(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if r.kind == kind]

    def exchange_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/exchange"]

    def orders_sent(self) -> list[dict[str, Any]]:
        """Every order wire object (``a b p s r t c``) the server received, in order."""
        return [o for r in self.requests_of("order") for o in r.body["action"]["orders"]]

    def position(self, coin: str) -> Decimal:
        with self._lock:
            held = self.state.positions.get(coin)
            return held.szi if held else Decimal(0)

    def fills_of(self, oid: int) -> list[dict[str, Any]]:
        with self._lock:
            return [f for f in self.state.fills if f["oid"] == oid]

    def orders_with_cloid(self, cloid: str) -> list[OrderRecord]:
        with self._lock:
            return [o for o in self.state.orders.values() if o.cloid == cloid]

    # answers --------------------------------------------------------------------------------------------------

    def _new_oid(self) -> int:
        self._next_oid += 1
        return self._next_oid

    def answer(self, path: str, raw_body: bytes) -> tuple[int, str, float]:
        try:
            body = json.loads(raw_body or b"null")
        except json.JSONDecodeError:
            body = None
        if path == "/info":
            kind = str(body.get("type")) if isinstance(body, dict) else "invalid"
        elif path == "/exchange":
            action = body.get("action") if isinstance(body, dict) else None
            kind = str(action.get("type")) if isinstance(action, dict) else "invalid"
        else:
            kind = "unknown"
        with self._lock:
            self._requests.append(Recorded(kind, path, body, time.monotonic()))
            if path == "/info":
                return (*self._info(kind, body), 0.0)
            if path == "/exchange":
                script = self._next_exchange.pop(0) if self._next_exchange else _NextExchange()
                if script.reject is not None and kind == "order":
                    statuses = [{"error": script.reject} for _ in body["action"]["orders"]]
                    return 200, json.dumps(_order_answer(statuses)), 0.0
                if not script.process:
                    return 200, json.dumps({"status": "err", "response": "never applied"}), script.delay_s
                status, text = self._exchange(kind, body)
                return status, text, script.delay_s
        return 404, "Not Found", 0.0

    def _info(self, kind: str, body: Any) -> tuple[int, str]:
        state = self.state
        if kind == "metaAndAssetCtxs":
            return 200, json.dumps(self.meta_and_ctxs)
        if kind == "meta":
            return 200, json.dumps(self.meta)
        if kind == "spotMeta":
            return 200, json.dumps(self.spot_meta)
        if kind == "spotMetaAndAssetCtxs":
            ctxs = [{"markPx": "1.0", "midPx": "1.0", "prevDayPx": "1.0", "dayNtlVlm": "0.0"}] * len(
                self.spot_meta["universe"]
            )
            return 200, json.dumps([self.spot_meta, ctxs])
        if kind == "userAbstraction":
            return 200, json.dumps("default")
        if kind == "clearinghouseState":
            return 200, json.dumps(self._clearinghouse_state())
        if kind == "spotClearinghouseState":
            return 200, json.dumps({"balances": [{"coin": "USDC", "hold": "0.0", "total": _text(state.usdc)}]})
        if kind in ("frontendOpenOrders", "openOrders"):
            resting = [o for o in state.orders.values() if o.status == "open"]
            return 200, json.dumps([_frontend_order(o) for o in resting])
        if kind == "orderStatus":
            return 200, json.dumps(self._order_status(body.get("oid")))
        if kind in ("userFills", "userFillsByTime"):
            start = int(body.get("startTime", 0))
            return 200, json.dumps([f for f in state.fills if f["time"] >= start])
        return 422, "Failed to deserialize the JSON body into the target type"

    def _clearinghouse_state(self) -> dict[str, Any]:
        asset_positions = []
        notional_total = Decimal(0)
        unrealized_total = Decimal(0)
        for coin, held in self.state.positions.items():
            if held.szi == 0:
                continue
            mark = self.marks[coin]
            value = abs(held.szi) * mark
            unrealized = held.szi * (mark - held.entry_px)
            notional_total += value
            unrealized_total += unrealized
            asset_positions.append(
                {
                    "position": {
                        "coin": coin,
                        "szi": _text(held.szi),
                        "entryPx": _text(held.entry_px),
                        "positionValue": _text(value),
                        "unrealizedPnl": _text(unrealized),
                        "returnOnEquity": "0.0",
                        "leverage": {"type": "cross", "value": 1},
                        "liquidationPx": None,
                        "marginUsed": _text(value),
                        "maxLeverage": 40,
                        "cumFunding": {"allTime": "0.0", "sinceChange": "0.0", "sinceOpen": "0.0"},
                    },
                    "type": "oneWay",
                }
            )
        account_value = self.state.usdc + unrealized_total
        summary = {
            "accountValue": _text(account_value),
            "totalNtlPos": _text(notional_total),
            "totalRawUsd": _text(self.state.usdc),
            "totalMarginUsed": _text(notional_total),
        }
        return {
            "assetPositions": asset_positions,
            "crossMaintenanceMarginUsed": "0.0",
            "crossMarginSummary": summary,
            "marginSummary": summary,
            "time": int(time.time() * 1000),
            "withdrawable": _text(account_value - notional_total),
        }

    def _order_status(self, oid: Any) -> dict[str, Any]:
        found = None
        for order in self.state.orders.values():
            if (isinstance(oid, str) and order.cloid == oid) or (isinstance(oid, int) and order.oid == oid):
                found = order
        if found is None:
            return {"status": "unknownOid"}
        return {
            "status": "order",
            "order": {"order": _frontend_order(found), "status": found.status, "statusTimestamp": found.timestamp},
        }

    def _exchange(self, kind: str, body: Any) -> tuple[int, str]:
        if not isinstance(body, dict) or "signature" not in body or "nonce" not in body:
            return 422, "Failed to deserialize the JSON body into the target type"
        action = body["action"]
        if kind == "order":
            return 200, json.dumps(_order_answer([self._place(wire) for wire in action["orders"]]))
        if kind == "cancel":
            statuses: list[Any] = []
            for cancel in action["cancels"]:
                order = self.state.orders.get(int(cancel["o"]))
                if order is None or order.status != "open":
                    statuses.append({"error": "Order was never placed, already canceled, or filled."})
                else:
                    order.status = "canceled"
                    statuses.append("success")
            return 200, json.dumps({"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}})
        if kind in ("approveBuilderFee", "setReferrer"):
            return 200, json.dumps({"status": "ok", "response": {"type": "default"}})
        return 200, json.dumps({"status": "err", "response": f"Unknown action type {kind!r}"})

    def _place(self, wire: dict[str, Any]) -> dict[str, Any]:
        asset = int(wire["a"])
        if not 0 <= asset < len(self.asset_names):
            return {"error": f"Unknown asset {asset}."}
        coin = self.asset_names[asset]
        cloid = wire.get("c")
        if cloid is not None and any(o.cloid == cloid for o in self.state.orders.values()):
            return {"error": DUPLICATE_CLOID_ERROR}
        size_text, price_text = str(wire["s"]), str(wire["p"])
        if decimals_of(size_text) > self.sz_decimals[coin] or Decimal(size_text) <= 0:
            return {"error": "Order has invalid size."}
        if not valid_price(price_text, self.sz_decimals[coin]):
            return {"error": "Price must be divisible by tick size."}
        size, limit = Decimal(size_text), Decimal(price_text)
        mark = self.marks[coin]
        if size * mark < MIN_ORDER_VALUE:
            return {"error": "Order must have minimum value of $10."}
        is_buy = bool(wire["b"])
        reduce_only = bool(wire["r"])
        held = self.state.positions.setdefault(coin, Position())
        if reduce_only:
            if held.szi == 0 or (held.szi > 0) == is_buy:
                return {"error": "Reduce only order would increase position."}
            size = min(size, abs(held.szi))
        tif = wire["t"].get("limit", {}).get("tif", "Gtc")
        crosses = limit >= mark if is_buy else limit <= mark
        now = int(time.time() * 1000)
        oid = self._new_oid()
        record = OrderRecord(
            oid, coin, "B" if is_buy else "A", price_text, size_text, size_text, reduce_only, tif, cloid, now, "open"
        )
        self.state.orders[oid] = record
        if not crosses:
            if tif == "Ioc":
                record.status = "canceled"
                return {"error": IOC_NO_MATCH_ERROR}
            return {"resting": {"oid": oid}}
        self._fill(record, held, size, mark, is_buy, now)
        return {"filled": {"totalSz": _text(size), "avgPx": _text(mark), "oid": oid}}

    def _fill(self, record: OrderRecord, held: Position, size: Decimal, price: Decimal, is_buy: bool, now: int) -> None:
        signed = size if is_buy else -size
        start = held.szi
        closed_pnl = Decimal(0)
        if start != 0 and (start > 0) != is_buy:
            closing = min(size, abs(start))
            closed_pnl = closing * (price - held.entry_px) * (1 if start > 0 else -1)
        new = start + signed
        if new == 0:
            held.entry_px = Decimal(0)
        elif start == 0 or (start > 0) != (new > 0):
            held.entry_px = price
        elif (start > 0) == is_buy:
            held.entry_px = (held.entry_px * abs(start) + price * size) / abs(new)
        held.szi = new
        fee = size * price * TAKER_FEE_RATE
        self.state.usdc += closed_pnl - fee
        record.sz = "0.0"
        record.status = "filled"
        self._next_tid += 1
        self.state.fills.append(
            {
                "coin": record.coin,
                "px": _text(price),
                "sz": _text(size),
                "side": record.side,
                "time": now,
                "startPosition": _text(start),
                "dir": "Open Long" if is_buy else "Open Short",
                "closedPnl": _text(closed_pnl),
                "hash": "0x" + format(record.oid, "064x"),
                "oid": record.oid,
                "crossed": True,
                "fee": _text(fee),
                "tid": self._next_tid,
                "cloid": record.cloid,
                "feeToken": "USDC",
            }
        )


def _order_answer(statuses: list[Any]) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}


def _frontend_order(order: OrderRecord) -> dict[str, Any]:
    return {
        "coin": order.coin,
        "side": order.side,
        "limitPx": order.limit_px,
        "sz": order.sz,
        "oid": order.oid,
        "timestamp": order.timestamp,
        "triggerCondition": "N/A",
        "isTrigger": False,
        "triggerPx": "0.0",
        "children": [],
        "isPositionTpsl": False,
        "reduceOnly": order.reduce_only,
        "orderType": "Limit",
        "origSz": order.orig_sz,
        "tif": order.tif,
        "cloid": order.cloid,
    }


def _make_handler(server: ExchangeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, text, delay = server.answer(self.path, raw)
            if delay:
                time.sleep(delay)
            payload = text.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (its timeout): nothing to answer to.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
