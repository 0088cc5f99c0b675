"""Hyperliquid perpetuals candles from the public info API (``POST {base}/info``).

A ``candleSnapshot`` answers at most 5,000 candles, so a request never asks for a wider window and an answer is
never cut short. Prices and volume arrive as strings and are parsed here; every answer is checked (a list, the
asked coin and interval) before it reaches the store. Hyperliquid answers an unknown coin with HTTP 500 or an empty
list, which would look like an outage or a gap, so ``prepare`` checks the coin against the ``meta`` universe first.

Requests are weighed as Hyperliquid counts them (20 per request plus 1 per 60 candles returned) and spent from a
``TokenBucket``: the base before the request, the rest once the answer says how many candles it held.

Order books: ``POST /info {"type": "l2Book", "coin": X}`` answers ``{"coin", "time", "levels": [bids, asks]}``,
each level ``{"px", "sz", "n"}`` with strings for numbers, best first, at most 20 levels a side (weight 2). The
websocket at ``/ws`` pushes the same object on the ``l2Book`` channel after ``{"method": "subscribe",
"subscription": {"type": "l2Book", "coin": X}}`` (``HyperliquidBookStream``).
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import pandas as pd
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException
from websockets.sync.client import ClientConnection, connect

from stratlab.data.candles import ohlcv_frame
from stratlab.data.dates import format_ms
from stratlab.data.orderbook.schema import BookSnapshot, storable_snapshot, venue_side
from stratlab.data.sources.http_retry import TokenBucket, TransientError, one_line, send_once, unresolved_host_error
from stratlab.data.timeframes import Timeframe
from stratlab.errors import ConfigError, DownloadError

log = logging.getLogger(__name__)

SOURCE_NAME = "hyperliquid_perps"
MAX_CANDLES_PER_ANSWER = 5000
BASE_WEIGHT = 20
CANDLES_PER_EXTRA_WEIGHT = 60
INTERVALS: tuple[str, ...] = (
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
)
_CANDLE_KEYS = ("t", "s", "i", "o", "h", "l", "c", "v")
L2_BOOK_WEIGHT = 2
MAX_BOOK_LEVELS = 20
# The server closes a websocket that has sent nothing for a minute; a ping well before that keeps it open.
WS_PING_EVERY_S = 30.0


def candle_snapshot_weight(candles: int) -> int:
    """Rate-limit weight of one ``candleSnapshot`` that returned ``candles`` candles."""
    return BASE_WEIGHT + math.ceil(candles / CANDLES_PER_EXTRA_WEIGHT)


class HyperliquidSource:
    """``hyperliquid_perps``: candles of one perpetual (``BTC``, ``ETH``, ...) from a Hyperliquid info endpoint."""

    ends_on_short_page = False

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 20.0,
        limiter: TokenBucket | None = None,
        client: httpx.Client | None = None,
        name: str = SOURCE_NAME,
    ) -> None:
        self._name = name
        self.info_url = base_url.rstrip("/") + "/info"
        self.limiter = limiter
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_s))
        self._owns_client = client is None
        self._universe: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self._name

    def __enter__(self) -> HyperliquidSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def max_bars_per_request(self, timeframe: Timeframe) -> int:
        return MAX_CANDLES_PER_ANSWER

    def store_symbol(self, symbol: str) -> str:
        return symbol

    # requests --------------------------------------------------------------------------------------------

    def _post(self, body: dict[str, Any], what: str, weight: int = BASE_WEIGHT) -> Any:
        label = f"{self.name}: POST {self.info_url} ({what})"
        if self.limiter is not None:
            self.limiter.acquire(weight)
        response = send_once(self._client, "POST", self.info_url, json=body, label=label)
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DownloadError(f"{label}: answer is not JSON: {one_line(response.text)!r}") from None
        if isinstance(answer, dict) and "error" in answer:
            raise DownloadError(f"{label}: error answer: {one_line(str(answer['error']))}")
        return answer

    def universe(self) -> tuple[str, ...]:
        """Names of the perpetuals the endpoint lists in ``meta`` (read once per source object)."""
        if self._universe is None:
            answer = self._post({"type": "meta"}, "meta")
            assets = answer.get("universe") if isinstance(answer, dict) else None
            if not isinstance(assets, list) or not all(isinstance(a, dict) and "name" in a for a in assets):
                raise DownloadError(
                    f"{self.name}: POST {self.info_url} (meta): expected {{'universe': [{{'name': ...}}, ...]}}, "
                    f"got {one_line(json.dumps(answer))!r}"
                )
            self._universe = tuple(str(a["name"]) for a in assets)
        return self._universe

    def prepare(self, symbol: str, timeframe: Timeframe) -> None:
        if timeframe.name not in INTERVALS:
            raise ConfigError(
                f"{self.name}: timeframe {timeframe.name!r} not served (intervals: {' '.join(INTERVALS)})"
            )
        self.check_coin(symbol)

    def check_coin(self, symbol: str) -> None:
        """A ``DownloadError`` with close names when ``symbol`` is not one of the listed perpetuals."""
        known = self.universe()
        if symbol in known:
            return
        hints = [name for name in known if name.upper() == symbol.upper()]
        hints += difflib.get_close_matches(symbol, known, n=3)
        hint = f"; did you mean {', '.join(dict.fromkeys(hints))}?" if hints else ""
        raise DownloadError(
            f"{self.name}: unknown coin {symbol!r}: not among the {len(known)} perpetuals listed by "
            f"{self.info_url}{hint}"
        )

    def fetch_page(self, symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int, limit: int) -> pd.DataFrame:
        # endTime is sent inclusive-safe (end - 1) so a window of 5000 bars never yields 5001.
        body = {
            "type": "candleSnapshot",
            "req": {"coin": symbol, "interval": timeframe.name, "startTime": start_ms, "endTime": end_ms - 1},
        }
        what = f"candleSnapshot {symbol} {timeframe.name} from {format_ms(start_ms)}"
        answer = self._post(body, what)
        if not isinstance(answer, list):
            raise DownloadError(
                f"{self.name}: POST {self.info_url} ({what}): expected a list of candles, "
                f"got {one_line(json.dumps(answer))!r}"
            )
        if self.limiter is not None:
            self.limiter.charge(candle_snapshot_weight(len(answer)) - BASE_WEIGHT)
        if len(answer) > MAX_CANDLES_PER_ANSWER:
            # More than the documented cap means the API changed; better to stop than to guess.
            raise DownloadError(
                f"{self.name}: {what}: {len(answer)} candles in one answer (cap {MAX_CANDLES_PER_ANSWER})"
            )
        return parse_candles(answer, coin=symbol, interval=timeframe.name, context=f"{self.name}: {what}")

    # order books ------------------------------------------------------------------------------------------

    def prepare_order_book(self, symbol: str, levels: int) -> None:
        """Check the depth asked for and the coin (against ``meta``) before any snapshot is requested."""
        if not 1 <= levels <= MAX_BOOK_LEVELS:
            raise ConfigError(f"{self.name}: --levels {levels}: the l2Book serves 1 to {MAX_BOOK_LEVELS} levels a side")
        self.check_coin(symbol)

    def fetch_order_book(self, symbol: str, levels: int) -> BookSnapshot:
        """The current ``l2Book`` of ``symbol``, cut to ``levels`` levels a side."""
        what = f"l2Book {symbol}"
        answer = self._post({"type": "l2Book", "coin": symbol}, what, weight=L2_BOOK_WEIGHT)
        if answer is None:
            # Hyperliquid answers null for a coin it does not list.
            raise DownloadError(f"{self.name}: POST {self.info_url} ({what}): no book (null answer): unknown coin?")
        return parse_l2_book(answer, coin=symbol, levels=levels, context=f"{self.name}: {what}")


_LEVEL = "{px, sz, n}"


def _px_sz(level: Any) -> tuple[Any, Any]:
    return level["px"], level["sz"]


def parse_l2_book(answer: Any, *, coin: str, levels: int, context: str) -> BookSnapshot:
    """An ``l2Book`` answer (REST, or the ``data`` of a websocket message) -> a checked ``BookSnapshot``."""
    if not isinstance(answer, dict) or not {"coin", "time", "levels"} <= set(answer):
        raise DownloadError(f"{context}: expected {{coin, time, levels}}, got {one_line(json.dumps(answer))!r}")
    if answer["coin"] != coin:
        raise DownloadError(f"{context}: book of {answer['coin']!r}, asked for {coin!r}")
    sides = answer["levels"]
    if not isinstance(sides, list) or len(sides) != 2:
        raise DownloadError(f"{context}: levels is not [bids, asks]: {one_line(json.dumps(sides))!r}")
    try:
        stamp = int(answer["time"])
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, which JSON parsing lets through
        raise DownloadError(f"{context}: time {answer['time']!r} is not epoch ms") from None
    bid_price, bid_size = venue_side(sides[0], levels, _px_sz, context=context, side="bid", shape=_LEVEL)
    ask_price, ask_size = venue_side(sides[1], levels, _px_sz, context=context, side="ask", shape=_LEVEL)
    return storable_snapshot(BookSnapshot(stamp, bid_price, bid_size, ask_price, ask_size), context)


def _reason(exc: BaseException) -> str:
    return one_line(str(exc)) or type(exc).__name__


def websocket_url(base_url: str) -> str:
    """The websocket endpoint beside an API root: ``https://host`` -> ``wss://host/ws``, ``http`` -> ``ws``."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path + "/ws", "", ""))


class HyperliquidBookStream:
    """The ``l2Book`` websocket feed of one coin: ``open`` subscribes, ``next_snapshot`` waits for the next push.

    A connection that cannot be opened or is lost is a ``TransientError`` (the caller decides whether to reopen or
    to poll instead); an ``error`` message from the server, or an answer that is not a book, a ``DownloadError``.
    """

    def __init__(self, url: str, coin: str, levels: int, *, timeout_s: float = 20.0, name: str = SOURCE_NAME) -> None:
        self.url = url
        self.coin = coin
        self.levels = levels
        self.timeout_s = timeout_s
        self.context = f"{name}: websocket {url} (l2Book {coin})"
        self._connection: ClientConnection | None = None
        self._last_sent = 0.0

    def open(self) -> None:
        self.close()
        try:
            # legacy=True: the connection outlives this call (it is closed by close(), not by a with block).
            self._connection = connect(self.url, open_timeout=self.timeout_s, close_timeout=1.0, legacy=True)
        except InvalidURI as exc:
            raise ConfigError(f"{self.context}: not a websocket URL: {exc}") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            unresolved = unresolved_host_error(self.context, self.url.replace("ws", "http", 1), exc)
            if unresolved is not None:
                raise unresolved from None
            raise TransientError(
                f"{self.context}: cannot connect ({one_line(str(exc)) or type(exc).__name__})"
            ) from None
        subscription = {"type": "l2Book", "coin": self.coin}
        self._send({"method": "subscribe", "subscription": subscription})

    def _send(self, message: dict[str, Any]) -> None:
        connection = self._require_open()
        try:
            connection.send(json.dumps(message))
        except (OSError, WebSocketException) as exc:
            raise TransientError(
                f"{self.context}: connection lost ({one_line(str(exc)) or type(exc).__name__})"
            ) from None
        self._last_sent = time.monotonic()

    def _require_open(self) -> ClientConnection:
        if self._connection is None:
            raise TransientError(f"{self.context}: not connected")
        return self._connection

    def next_snapshot(self, timeout_s: float) -> BookSnapshot | None:
        """The next book pushed within ``timeout_s``, or None if none came (other messages are skipped)."""
        connection = self._require_open()
        if time.monotonic() - self._last_sent > WS_PING_EVERY_S:
            self._send({"method": "ping"})
        try:
            raw = connection.recv(timeout=max(timeout_s, 0.0))
        except TimeoutError:
            return None
        except (OSError, WebSocketException) as exc:
            raise TransientError(
                f"{self.context}: connection lost ({one_line(str(exc)) or type(exc).__name__})"
            ) from None
        try:
            message = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DownloadError(f"{self.context}: a message is not JSON: {one_line(str(raw))!r}") from None
        channel = message.get("channel") if isinstance(message, dict) else None
        if channel == "error":
            raise DownloadError(f"{self.context}: error message: {one_line(str(message.get('data')))}")
        if channel != "l2Book":
            return None  # subscriptionResponse, pong
        return parse_l2_book(message.get("data"), coin=self.coin, levels=self.levels, context=self.context)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def parse_candles(items: list[Any], *, coin: str, interval: str, context: str) -> pd.DataFrame:
    """Hyperliquid candle objects -> a frame in the store's columns; a ``DownloadError`` for anything unexpected."""
    stamps = np.empty(len(items), dtype=np.int64)
    values = np.empty((len(items), 5), dtype=np.float64)
    for row, item in enumerate(items):
        if not isinstance(item, dict) or any(key not in item for key in _CANDLE_KEYS):
            raise DownloadError(f"{context}: candle {row} is not a candle object: {one_line(json.dumps(item))!r}")
        if item["s"] != coin or item["i"] != interval:
            raise DownloadError(
                f"{context}: candle {row} is for {item['s']!r} {item['i']!r}, asked for {coin!r} {interval!r}"
            )
        try:
            stamps[row] = int(item["t"])
            values[row] = [float(item[key]) for key in ("o", "h", "l", "c", "v")]
        except (TypeError, ValueError):
            raise DownloadError(
                f"{context}: candle {row} has a non-numeric field: {one_line(json.dumps(item))!r}"
            ) from None
    return ohlcv_frame(stamps, values)


__all__ = [
    "INTERVALS",
    "L2_BOOK_WEIGHT",
    "MAX_BOOK_LEVELS",
    "MAX_CANDLES_PER_ANSWER",
    "SOURCE_NAME",
    "HyperliquidBookStream",
    "HyperliquidSource",
    "candle_snapshot_weight",
    "parse_candles",
    "parse_l2_book",
    "websocket_url",
]
