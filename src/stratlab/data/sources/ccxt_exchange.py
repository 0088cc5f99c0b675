"""Candles from any exchange ccxt supports, as source ``ccxt_<exchange id>`` (e.g. ``ccxt_binance``).

ccxt's sync ``fetch_ohlcv(symbol, timeframe, since, limit)`` answers one page; the download loop pages itself. Most
exchanges answer "the first ``limit`` bars at or after ``since``", so an empty or short page means there is nothing
later. Hyperliquid is the exception: ccxt sends a time window whose end defaults to now and Hyperliquid caps an
answer at 5,000 candles, so the window's end is passed explicitly (``until``) and its pages are windows.

Store symbols: a ccxt symbol such as ``BTC/USDC:USDC`` or ``BTC/USDT`` is stored under a path-safe name in which
every character other than a letter, digit, ``_``, ``.`` or ``-`` becomes ``-`` (``BTC-USDC-USDC``, ``BTC-USDT``).

``base_url`` points every API URL of the exchange at another host: each URL keeps its path and takes the base's
scheme, host, port and path prefix (``https://api.binance.com/api/v3`` -> ``http://127.0.0.1:8080/api/v3``).

ccxt's own rate limiter stays on. Its network-type errors (rate limit, DDoS protection, exchange not available,
timeouts) become retries, except an HTTP 4xx that ccxt files under "not available" (400, 403, 404) and a host name
that does not resolve, which no retry fixes. API keys are not passed: candles are public, and keys would make ccxt
call private endpoints.

Order books: ``fetch_order_book(symbol, limit)`` answers ``{"bids": [[price, amount, ...], ...], "asks": [...],
"timestamp": ms or None, ...}`` best first; ``prepare_order_book`` loads the markets without a timeframe check.
Some venues send no time with a book (Binance spot): its snapshot is then stamped with the time it was received.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from stratlab.data.candles import ohlcv_frame
from stratlab.data.dates import format_ms, now_ms
from stratlab.data.orderbook.schema import BookSnapshot, storable_snapshot, venue_side
from stratlab.data.sources.http_retry import (
    TransientError,
    is_retryable_status,
    one_line,
    parse_retry_after,
    unresolved_host_error,
)
from stratlab.data.timeframes import Timeframe
from stratlab.errors import ConfigError, DownloadError

T = TypeVar("T")

SOURCE_PREFIX = "ccxt_"
DEFAULT_PAGE_BARS = 500
# Exchanges whose ccxt fetch_ohlcv reads `until` as the window's end (checked in ccxt's source).
_WINDOWED_EXCHANGES = frozenset({"hyperliquid"})
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def store_symbol_for(symbol: str) -> str:
    """The path-safe store name of a ccxt symbol: ``BTC/USDC:USDC`` -> ``BTC-USDC-USDC``."""
    return _UNSAFE_CHARS.sub("-", symbol.strip())


def rebase_url(url: str, base_url: str) -> str:
    """``url`` with its scheme and host replaced by ``base_url`` (whose own path, if any, becomes a prefix)."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return base_url.rstrip("/") + parts.path + query


def rebase_api_urls(api: Any, base_url: str) -> Any:
    """``exchange.urls['api']`` (a URL or a nested dict of them) with every URL rebased on ``base_url``."""
    if isinstance(api, str):
        return rebase_url(api, base_url)
    if isinstance(api, Mapping):
        return {key: rebase_api_urls(value, base_url) for key, value in api.items()}
    return api


def market_types_for(exchange_id: str, symbol: str) -> list[str] | None:
    """The market types ``load_markets`` needs for ``symbol``, for exchanges whose every type costs a request."""
    is_contract = ":" in symbol
    if exchange_id == "hyperliquid":
        # A bare coin name ("BTC") is what a Hyperliquid user types for its perpetual.
        return ["spot"] if "/" in symbol and not is_contract else ["swap"]
    if exchange_id == "binance":
        if not is_contract:
            return ["spot"]
        pair, settle = symbol.split(":", 1)
        quote = pair.split("/")[-1]
        return ["linear"] if settle.split("-")[0] == quote else ["inverse"]
    return None


class CcxtSource:
    """One ccxt exchange, built lazily by ``prepare`` (which markets to load depends on the symbol)."""

    def __init__(self, exchange_id: str, *, base_url: str | None = None, timeout_s: float = 20.0) -> None:
        import ccxt

        if exchange_id not in ccxt.exchanges:
            hints = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=3)
            hint = f"; did you mean {', '.join(SOURCE_PREFIX + h for h in hints)}?" if hints else ""
            raise ConfigError(f"source {SOURCE_PREFIX}{exchange_id!r}: ccxt has no exchange {exchange_id!r}{hint}")
        self.exchange_id = exchange_id
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._exchange: Any = None
        self._market: dict[str, Any] | None = None
        self._last_status: int | None = None
        self._last_headers: Mapping[str, str] | None = None

    @property
    def name(self) -> str:
        return SOURCE_PREFIX + self.exchange_id

    @property
    def ends_on_short_page(self) -> bool:
        return self.exchange_id not in _WINDOWED_EXCHANGES

    @property
    def exchange(self) -> Any:
        """The ccxt exchange object (after ``prepare``)."""
        if self._exchange is None:
            raise RuntimeError("CcxtSource.prepare() has not run")
        return self._exchange

    def store_symbol(self, symbol: str) -> str:
        return store_symbol_for(symbol)

    def close(self) -> None:
        if self._exchange is not None:
            self._exchange.close()

    def __enter__(self) -> CcxtSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self, symbol: str) -> Any:
        import ccxt

        exchange = getattr(ccxt, self.exchange_id)({"enableRateLimit": True, "timeout": round(self.timeout_s * 1000)})
        types = market_types_for(self.exchange_id, symbol)
        if types is not None:
            current = exchange.options.get("fetchMarkets")
            exchange.options["fetchMarkets"] = (
                {**current, "types": types} if isinstance(current, dict) else {"types": types}
            )
        if self.base_url:
            exchange.urls["api"] = rebase_api_urls(exchange.urls["api"], self.base_url)
        original = exchange.on_rest_response

        # ccxt's exceptions carry neither the HTTP status nor the headers; this hook keeps both for _call.
        def record_response(code: int, reason: str, url: str, method: str, headers: Any, body: str, *rest: Any) -> Any:
            self._last_status = int(code) if code is not None else None
            self._last_headers = headers
            return original(code, reason, url, method, headers, body, *rest)

        exchange.on_rest_response = record_response
        return exchange

    def _call(self, call: Callable[[], T], what: str) -> T:
        import ccxt

        self._last_status = None
        self._last_headers = None
        try:
            return call()
        except ccxt.NetworkError as exc:
            url = getattr(self._exchange, "last_request_url", None)  # ccxt records it before sending
            unresolved = unresolved_host_error(f"{self.name}: {what}", url, exc)
            if unresolved is not None:
                raise unresolved from None
            message = f"{self.name}: {what}: {type(exc).__name__}: {one_line(str(exc))}"
            status = self._last_status
            if status is not None and 400 <= status < 500 and not is_retryable_status(status):
                raise DownloadError(message) from None
            retry_after = parse_retry_after(self._last_headers.get("Retry-After")) if self._last_headers else None
            raise TransientError(message, retry_after_s=retry_after) from None
        except ccxt.BaseError as exc:
            raise DownloadError(f"{self.name}: {what}: {type(exc).__name__}: {one_line(str(exc))}") from None

    def _built(self, symbol: str) -> Any:
        """The exchange, built on first use (which markets it loads depends on the symbol)."""
        if self._exchange is None:
            self._exchange = self._build(symbol)
        return self._exchange

    def _select_market(self, symbol: str) -> None:
        """Load the markets once and keep ``symbol``'s; ``DownloadError`` with close names when it is not one."""
        exchange = self.exchange
        if not exchange.markets:
            self._call(exchange.load_markets, "load markets")
        markets: dict[str, Any] = exchange.markets or {}
        if symbol not in markets:
            raise DownloadError(f"{self.name}: unknown symbol {symbol!r}{_symbol_hint(symbol, list(markets))}")
        self._market = markets[symbol]

    def prepare(self, symbol: str, timeframe: Timeframe) -> None:
        exchange = self._built(symbol)
        # Checked before load_markets: it needs no request, and a refused timeframe should cost none.
        if timeframe.name not in (exchange.timeframes or {}):
            served = " ".join(exchange.timeframes or {}) or "none"
            raise ConfigError(f"{self.name}: timeframe {timeframe.name!r} not served (timeframes: {served})")
        self._select_market(symbol)

    def prepare_order_book(self, symbol: str, levels: int) -> None:
        """Build the exchange, load its markets and check the symbol and that it serves order books."""
        exchange = self._built(symbol)
        if not (exchange.has or {}).get("fetchOrderBook"):
            raise ConfigError(f"{self.name}: ccxt cannot fetch order books from this exchange")
        self._select_market(symbol)

    def fetch_order_book(self, symbol: str, levels: int) -> BookSnapshot:
        """The current book of ``symbol``, ``levels`` levels a side (asked of the venue as the limit)."""
        exchange = self.exchange
        what = f"fetch_order_book {symbol}"
        book = self._call(lambda: exchange.fetch_order_book(symbol, levels), what)
        return order_book_snapshot(book, levels=levels, received_ms=now_ms(), context=f"{self.name}: {what}")

    def max_bars_per_request(self, timeframe: Timeframe) -> int:
        if self._exchange is None or self._market is None:
            return DEFAULT_PAGE_BARS
        limit = _features_limit(self._exchange.features, self._market)
        return limit if limit is not None and limit > 0 else DEFAULT_PAGE_BARS

    def fetch_page(self, symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int, limit: int) -> pd.DataFrame:
        exchange = self.exchange
        params: dict[str, Any] = {}
        if self.exchange_id in _WINDOWED_EXCHANGES:
            params["until"] = end_ms - 1
        what = f"fetch_ohlcv {symbol} {timeframe.name} since {format_ms(start_ms)}"
        rows = self._call(lambda: exchange.fetch_ohlcv(symbol, timeframe.name, start_ms, limit, params), what)
        return ohlcv_rows_to_frame(rows, context=f"{self.name}: {what}")


def _features_limit(features: Any, market: Mapping[str, Any]) -> int | None:
    """ccxt's documented fetchOHLCV page size for the market's type (spot, swap linear/inverse, ...)."""
    if not isinstance(features, Mapping):
        return None
    by_type = features.get(market.get("type"))
    if isinstance(by_type, Mapping) and "fetchOHLCV" not in by_type:
        sub_type = "linear" if market.get("linear") else "inverse" if market.get("inverse") else None
        by_type = by_type.get(sub_type) if sub_type else None
    if not isinstance(by_type, Mapping):
        return None
    ohlcv = by_type.get("fetchOHLCV")
    limit = ohlcv.get("limit") if isinstance(ohlcv, Mapping) else None
    return int(limit) if isinstance(limit, int | float) else None


def _symbol_hint(symbol: str, known: list[str]) -> str:
    base = symbol.split("/", 1)[0].split(":", 1)[0].upper()
    hints = [s for s in known if s.split("/")[0].upper() == base][:5]
    hints += difflib.get_close_matches(symbol, known, n=3)
    if hints:
        return f"; did you mean {', '.join(dict.fromkeys(hints))}?"
    return f" ({len(known)} markets loaded)"


def ohlcv_rows_to_frame(rows: Any, *, context: str) -> pd.DataFrame:
    """ccxt's ``[[t, o, h, l, c, v], ...]`` -> a frame in the store's columns (a missing value becomes NaN)."""
    if not isinstance(rows, list):
        raise DownloadError(f"{context}: expected a list of candles, got {one_line(repr(rows))!r}")
    stamps = np.empty(len(rows), dtype=np.int64)
    values = np.empty((len(rows), 5), dtype=np.float64)
    for index, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) < 6 or row[0] is None:
            raise DownloadError(f"{context}: candle {index} is not [t, o, h, l, c, v]: {one_line(json.dumps(row))!r}")
        try:
            stamps[index] = int(row[0])
            values[index] = [np.nan if v is None else float(v) for v in row[1:6]]
        except (TypeError, ValueError):
            raise DownloadError(f"{context}: candle {index} has a non-numeric field: {one_line(repr(row))!r}") from None
    return ohlcv_frame(stamps, values)


_ROW = "[price, amount]"


def _price_amount(row: Any) -> tuple[Any, Any]:
    return row[0], row[1]


def order_book_snapshot(book: Any, *, levels: int, received_ms: int, context: str) -> BookSnapshot:
    """ccxt's order-book structure -> a checked ``BookSnapshot`` (stamped ``received_ms`` when it has no time)."""
    if not isinstance(book, Mapping):
        raise DownloadError(f"{context}: expected an order book, got {one_line(repr(book))!r}")
    bid_price, bid_size = venue_side(book.get("bids"), levels, _price_amount, context=context, side="bid", shape=_ROW)
    ask_price, ask_size = venue_side(book.get("asks"), levels, _price_amount, context=context, side="ask", shape=_ROW)
    stamp = book.get("timestamp")
    snapshot = BookSnapshot(
        int(stamp) if isinstance(stamp, int | float) else received_ms, bid_price, bid_size, ask_price, ask_size
    )
    return storable_snapshot(snapshot, context)


__all__ = [
    "DEFAULT_PAGE_BARS",
    "SOURCE_PREFIX",
    "CcxtSource",
    "market_types_for",
    "ohlcv_rows_to_frame",
    "order_book_snapshot",
    "rebase_api_urls",
    "rebase_url",
    "store_symbol_for",
]
