"""Local stand-ins for the venues' order-book endpoints, on 127.0.0.1.

``BookReplayServer`` is the candle replay server plus Hyperliquid's ``l2Book`` (``POST /info``: levels of
``{"px", "sz", "n"}`` strings, best first, at most 20 a side; ``null`` for a coin it does not list) and Binance
spot's ``GET /api/v3/depth`` (``{"lastUpdateId", "bids": [["px", "qty"]], "asks": [...]}``, no time). Every book it
serves is a function of the running count of books served, so a test can rebuild what it was sent; its time is
``book_start_ms + k * book_step_ms`` when a start is given (so a test can cross a UTC midnight), else the wall clock.

``HyperliquidWsServer`` speaks the ``l2Book`` websocket: after ``{"method": "subscribe", "subscription": {"type":
"l2Book", "coin": X}}`` it answers ``subscriptionResponse`` and then pushes a book every ``push_every_s`` on the
``l2Book`` channel (``pong`` to a ping, an ``error`` message for an unknown coin); ``drop_after`` closes each
connection after that many pushes.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.data.replay_server import BASE_PRICE, ReplayServer

HYPERLIQUID_LEVELS = 20
Levels = list[tuple[float, float]]


def book_levels(coin: str, k: int, depth: int = HYPERLIQUID_LEVELS) -> tuple[Levels, Levels]:
    """The k-th book of ``coin``: ``depth`` (price, size) levels a side, best first; one tick is 1.0 and the spread
    one to three ticks."""
    best_bid = float(round(BASE_PRICE.get(coin, 100.0) * (1 + 0.001 * math.sin(k / 5.0))))
    best_ask = best_bid + 1 + k % 3
    bids = [(best_bid - i, round(0.1 + ((k * 7 + i * 13) % 17) / 10.0, 4)) for i in range(depth)]
    asks = [(best_ask + i, round(0.1 + ((k * 11 + i * 5) % 19) / 10.0, 4)) for i in range(depth)]
    return bids, asks


def _hyperliquid_levels(levels: Levels) -> list[dict[str, Any]]:
    return [{"px": f"{price:g}", "sz": f"{size:g}", "n": 1 + i % 4} for i, (price, size) in enumerate(levels)]


def _binance_levels(levels: Levels) -> list[list[str]]:
    return [[f"{price:.8f}", f"{size:.8f}"] for price, size in levels]


def hyperliquid_book(coin: str, k: int, time_ms: int) -> dict[str, Any]:
    bids, asks = book_levels(coin, k)
    return {"coin": coin, "time": time_ms, "levels": [_hyperliquid_levels(bids), _hyperliquid_levels(asks)]}


class BookReplayServer(ReplayServer):
    def __init__(self, *, book_start_ms: int | None = None, book_step_ms: int = 1000, **kwargs: Any) -> None:
        self.book_start_ms = book_start_ms
        self.book_step_ms = book_step_ms
        self._books = 0
        self._last_book_ms = 0
        self._book_lock = threading.Lock()
        self.books_sent: list[tuple[str, int, int]] = []  # (coin, k, time_ms)
        super().__init__(**kwargs)

    def next_book(self, coin: str) -> tuple[int, int]:
        """(k, time) of the next book served: times strictly increase."""
        with self._book_lock:
            k = self._books
            self._books += 1
            if self.book_start_ms is not None:
                stamp = self.book_start_ms + k * self.book_step_ms
            else:
                stamp = max(int(time.time() * 1000), self._last_book_ms + 1)
            self._last_book_ms = stamp
            self.books_sent.append((coin, k, stamp))
            return k, stamp

    def answer(self, method: str, target: str, raw_body: bytes) -> tuple[int, dict[str, str], str, float]:
        split = urlsplit(target)
        if method != "GET" or split.path != "/api/v3/depth":
            return super().answer(method, target, raw_body)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        scripted = self._take_queued("depth")
        if scripted is not None and scripted.status is not None:
            status, headers, text = scripted.status, dict(scripted.headers), scripted.body
        else:
            status, headers, text = self._depth(query)
        self._record("depth", method, split.path, query, None, status)
        return status, headers, text, self.delay_s + (scripted.delay_s if scripted else 0.0)

    def _normal_answer(self, kind: str, body: Any, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        if kind != "l2Book":
            return super()._normal_answer(kind, body, query)
        as_json = {"Content-Type": "application/json"}
        coin = body.get("coin") if isinstance(body, dict) else None
        if coin not in {a["name"] for a in self.meta["universe"]}:
            return 200, as_json, "null"
        k, stamp = self.next_book(str(coin))
        return 200, as_json, json.dumps(hyperliquid_book(str(coin), k, stamp))

    def _depth(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        as_json = {"Content-Type": "application/json"}
        symbols = {s["symbol"]: s["baseAsset"] for s in self.exchange_info["symbols"]}
        symbol = query.get("symbol", "")
        if symbol not in symbols:
            return 400, as_json, json.dumps({"code": -1121, "msg": "Invalid symbol."})
        limit = int(query.get("limit", 100))
        k, _ = self.next_book(symbol)
        bids, asks = book_levels(symbols[symbol], k, depth=limit)
        answer = {"lastUpdateId": 1000 + k, "bids": _binance_levels(bids), "asks": _binance_levels(asks)}
        return 200, as_json, json.dumps(answer)


class HyperliquidWsServer:
    """Hyperliquid's ``l2Book`` websocket on 127.0.0.1 (books from ``books``, a ``BookReplayServer``)."""

    def __init__(self, books: BookReplayServer, *, push_every_s: float = 0.02, drop_after: int | None = None) -> None:
        self.books = books
        self.push_every_s = push_every_s
        self.drop_after = drop_after
        self.connections = 0
        self.subscriptions: list[dict[str, Any]] = []
        self.pushed = 0
        self._server: Server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/ws"

    def __enter__(self) -> HyperliquidWsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        coin: str | None = None
        pushed_here = 0
        try:
            while True:
                try:
                    raw = connection.recv(timeout=self.push_every_s)
                except TimeoutError:
                    raw = None
                if raw is not None:
                    message = json.loads(raw)
                    if message.get("method") == "ping":
                        connection.send(json.dumps({"channel": "pong"}))
                    elif message.get("method") == "subscribe":
                        subscription = message["subscription"]
                        self.subscriptions.append(subscription)
                        if subscription.get("coin") not in {a["name"] for a in self.books.meta["universe"]}:
                            error = f"Invalid subscription {json.dumps(subscription)}"
                            connection.send(json.dumps({"channel": "error", "data": error}))
                            continue
                        coin = subscription["coin"]
                        answer = {"method": "subscribe", "subscription": subscription}
                        connection.send(json.dumps({"channel": "subscriptionResponse", "data": answer}))
                if coin is not None:
                    if self.drop_after is not None and pushed_here >= self.drop_after:
                        return  # the connection closes under the client
                    k, stamp = self.books.next_book(coin)
                    connection.send(json.dumps({"channel": "l2Book", "data": hyperliquid_book(coin, k, stamp)}))
                    pushed_here += 1
                    self.pushed += 1
        except ConnectionClosed:
            return
