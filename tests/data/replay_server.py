"""A local stand-in for the Hyperliquid info API and Binance's spot market endpoints, on 127.0.0.1.

It answers in the exchanges' own formats (Hyperliquid candles with string prices and ``t/T/s/i/n`` fields; Binance
klines as arrays of strings), synthesising candles deterministically for any window, so that two runs, or two pages
that overlap, see the same bars. Static answers (``meta``, ``metaAndAssetCtxs``, ``spotMeta``, ``exchangeInfo``) come
from ``tests/data/fixtures``.

Its own grid arithmetic is written here on purpose, independent of ``stratlab.data.timeframes``: a test that uses
the same code on both sides could not catch a mistake in it.

Scriptable: ``now_ms`` (bars after it do not exist; the bar containing it is served, still open), ``first_ms``
(listing time), ``gaps`` (no bars in these spans), ``delay_s`` (every answer), ``history_bars`` (only the most recent
N bars are served, as on Hyperliquid), ``ignore_end_time`` (a sloppy server that answers up to now), and ``queue()``
for one-off answers (a 429 with ``Retry-After``, a 503, a slow answer, a body of the test's choosing). Every request
is recorded with its arrival time.
"""

from __future__ import annotations

import calendar
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from tests.local_http import LocalHttpServer

FIXTURES = Path(__file__).parent / "fixtures"
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "4h": 4 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": 7 * DAY,
}
MONTH = "1M"
# Weeks open on Mondays; 1970-01-05 was the first Monday after the epoch.
WEEK_ORIGIN = 4 * DAY
HYPERLIQUID_CAP = 5000
BINANCE_DEFAULT_LIMIT = 500
BINANCE_MAX_LIMIT = 1000
BASE_PRICE = {"BTC": 30_000.0, "ETH": 2_000.0, "SOL": 150.0}


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# ---------------------------------------------------------------------------------------------------------------
# the candle grid and the deterministic market


def _month_start(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def _month_of(ts: int) -> tuple[int, int]:
    when = datetime.fromtimestamp(ts / 1000, tz=UTC)
    return when.year, when.month


def bar_open(interval: str, ts: int) -> int:
    """Open time of the bar of ``interval`` that contains ``ts``."""
    if interval == MONTH:
        return _month_start(*_month_of(ts))
    step = INTERVAL_MS[interval]
    origin = WEEK_ORIGIN if interval == "1w" else 0
    return ts - (ts - origin) % step


def bar_close(interval: str, open_ms: int) -> int:
    """Open time of the next bar."""
    if interval == MONTH:
        year, month = _month_of(open_ms)
        return _month_start(year + month // 12, month % 12 + 1)
    return open_ms + INTERVAL_MS[interval]


def opens_between(interval: str, first: int, last: int) -> list[int]:
    """Every bar open time ``t`` with ``first <= t <= last``."""
    t = bar_open(interval, first)
    if t < first:
        t = bar_close(interval, t)
    if interval != MONTH:
        step = INTERVAL_MS[interval]
        return list(range(t, last + 1, step)) if last >= t else []
    out = []
    while t <= last:
        out.append(t)
        t = bar_close(interval, t)
    return out


def _unit(keys: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of (key, salt) -> uniform floats in [0, 1)."""
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def _close_price(coin: str, interval: str, keys: np.ndarray) -> np.ndarray:
    salt = sum(ord(ch) * 131**i for i, ch in enumerate(coin + "/" + interval)) % 2**61
    k = keys.astype(np.float64)
    wave = 0.08 * np.sin(k / 977.0) + 0.03 * np.sin(k / 131.0)
    noise = 0.004 * (_unit(keys, salt) - 0.5)
    return BASE_PRICE.get(coin, 100.0) * np.exp(wave + noise)


@dataclass(frozen=True)
class Bar:
    t: int
    close_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


def synth_bars(coin: str, interval: str, opens: list[int]) -> list[Bar]:
    """The market's bars at these open times: a function of (coin, interval, open time) only."""
    if not opens:
        return []
    keys = np.array([t // MINUTE for t in opens], dtype=np.int64)
    close = _close_price(coin, interval, keys)
    step_keys = np.array([bar_open(interval, t - 1) // MINUTE for t in opens], dtype=np.int64)
    open_ = _close_price(coin, interval, step_keys)
    salt = len(coin) * 7919 + len(interval)
    high = np.maximum(open_, close) * (1 + 0.002 * _unit(keys, salt + 1))
    low = np.minimum(open_, close) * (1 - 0.002 * _unit(keys, salt + 2))
    volume = 0.01 + 20 * _unit(keys, salt + 3)
    trades = 1 + (300 * _unit(keys, salt + 4)).astype(np.int64)
    return [
        Bar(
            t,
            bar_close(interval, t),
            round(float(open_[i]), 1),
            round(float(high[i]), 1),
            round(float(low[i]), 1),
            round(float(close[i]), 1),
            round(float(volume[i]), 5),
            int(trades[i]),
        )
        for i, t in enumerate(opens)
    ]


def hyperliquid_candle(coin: str, interval: str, bar: Bar) -> dict[str, Any]:
    """One candle exactly as Hyperliquid sends it (``T`` is the last ms of the bar)."""
    return {
        "t": bar.t,
        "T": bar.close_ms - 1,
        "s": coin,
        "i": interval,
        "o": str(bar.open),
        "c": str(bar.close),
        "h": str(bar.high),
        "l": str(bar.low),
        "v": str(bar.volume),
        "n": bar.trades,
    }


def binance_kline(bar: Bar) -> list[Any]:
    quote_volume = bar.volume * bar.close
    return [
        bar.t,
        f"{bar.open:.8f}",
        f"{bar.high:.8f}",
        f"{bar.low:.8f}",
        f"{bar.close:.8f}",
        f"{bar.volume:.8f}",
        bar.close_ms - 1,
        f"{quote_volume:.8f}",
        bar.trades,
        f"{bar.volume / 2:.8f}",
        f"{quote_volume / 2:.8f}",
        "0",
    ]


# ---------------------------------------------------------------------------------------------------------------
# the server


@dataclass(frozen=True)
class Recorded:
    kind: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float
    status: int


@dataclass
class Scripted:
    """A one-off answer. ``status=None`` means "answer normally" (after ``delay_s``)."""

    status: int | None = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class ReplayServer(LocalHttpServer):
    def __init__(
        self,
        *,
        now_ms: int | None = None,
        first_ms: int | None = None,
        gaps: tuple[tuple[int, int], ...] = (),
        delay_s: float = 0.0,
        history_bars: int | None = None,
        ignore_end_time: bool = False,
    ) -> None:
        self.now_ms = now_ms
        self.first_ms = first_ms
        self.gaps = gaps
        self.delay_s = delay_s
        self.history_bars = history_bars
        self.ignore_end_time = ignore_end_time
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._queued: dict[str, list[Scripted]] = {}
        self.meta = load_fixture("hyperliquid_meta.json")
        self.meta_and_ctxs = load_fixture("hyperliquid_meta_and_asset_ctxs.json")
        self.spot_meta = load_fixture("hyperliquid_spot_meta.json")
        self.exchange_info = load_fixture("binance_exchange_info.json")
        self._listen(_make_handler(self))

    # lifecycle -----------------------------------------------------------------------------------------------

    # scripting and inspection --------------------------------------------------------------------------------

    def queue(self, kind: str, *answers: Scripted) -> None:
        """Answer the next requests of ``kind`` (``candleSnapshot``, ``meta``, ``klines``, ...) with these."""
        with self._lock:
            self._queued.setdefault(kind, []).extend(answers)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_of(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if r.kind == kind]

    def current_ms(self) -> int:
        return self.now_ms if self.now_ms is not None else int(time.time() * 1000)

    def available_bars(self, coin: str, interval: str, first: int, last: int) -> list[Bar]:
        """Bars with open time in ``[first, last]`` that exist on this market now (the open bar included)."""
        now = self.current_ms()
        last = min(last, now)
        if self.first_ms is not None:
            first = max(first, self.first_ms)
        if self.history_bars is not None:
            newest = bar_open(interval, now)
            if interval == MONTH:
                oldest_candidates = opens_between(interval, 0, newest)[-self.history_bars :]
                first = max(first, oldest_candidates[0])
            else:
                first = max(first, newest - (self.history_bars - 1) * INTERVAL_MS[interval])
        opens = [t for t in opens_between(interval, first, last) if not any(a <= t < b for a, b in self.gaps)]
        return synth_bars(coin, interval, opens)

    # answers --------------------------------------------------------------------------------------------------

    def _record(self, kind: str, method: str, path: str, query: dict[str, str], body: Any, status: int) -> None:
        with self._lock:
            self._requests.append(Recorded(kind, method, path, query, body, time.monotonic(), status))

    def _take_queued(self, kind: str) -> Scripted | None:
        with self._lock:
            pending = self._queued.get(kind)
            return pending.pop(0) if pending else None

    def answer(self, method: str, target: str, raw_body: bytes) -> tuple[int, dict[str, str], str, float]:
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        body: Any = None
        kind = "unknown"
        if method == "POST" and split.path == "/info":
            try:
                body = json.loads(raw_body or b"null")
            except json.JSONDecodeError:
                body = None
            kind = str(body.get("type")) if isinstance(body, dict) else "invalid"
        elif method == "GET" and split.path == "/api/v3/exchangeInfo":
            kind = "exchangeInfo"
        elif method == "GET" and split.path == "/api/v3/klines":
            kind = "klines"
        scripted = self._take_queued(kind)
        delay = self.delay_s + (scripted.delay_s if scripted else 0.0)
        if scripted is not None and scripted.status is not None:
            status, headers, text = scripted.status, dict(scripted.headers), scripted.body
        else:
            status, headers, text = self._normal_answer(kind, body, query)
        self._record(kind, method, split.path, query, body, status)
        return status, headers, text, delay

    def _normal_answer(self, kind: str, body: Any, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        as_json = {"Content-Type": "application/json"}
        if kind == "meta":
            return 200, as_json, json.dumps(self.meta)
        if kind == "metaAndAssetCtxs":
            return 200, as_json, json.dumps(self.meta_and_ctxs)
        if kind == "spotMeta":
            return 200, as_json, json.dumps(self.spot_meta)
        if kind == "candleSnapshot":
            return self._candle_snapshot(body)
        if kind == "exchangeInfo":
            return 200, as_json, json.dumps(self.exchange_info)
        if kind == "klines":
            return self._klines(query)
        return 422, {"Content-Type": "text/plain"}, "Failed to deserialize the JSON body into the target type"

    def _candle_snapshot(self, body: Any) -> tuple[int, dict[str, str], str]:
        req = body.get("req") if isinstance(body, dict) else None
        try:
            coin = str(req["coin"])
            interval = str(req["interval"])
            start = int(req["startTime"])
            end = int(req["endTime"])
        except (TypeError, KeyError, ValueError):
            return 422, {"Content-Type": "text/plain"}, "Failed to deserialize the JSON body into the target type"
        if interval not in INTERVAL_MS and interval != MONTH:
            return 422, {"Content-Type": "text/plain"}, "Failed to deserialize the JSON body into the target type"
        if coin not in {a["name"] for a in self.meta["universe"]}:
            return 500, {"Content-Type": "text/plain"}, "null"
        if self.ignore_end_time:
            end = self.current_ms()
        bars = self.available_bars(coin, interval, start, end)[:HYPERLIQUID_CAP]
        candles = [hyperliquid_candle(coin, interval, bar) for bar in bars]
        return 200, {"Content-Type": "application/json"}, json.dumps(candles)

    def _klines(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        as_json = {"Content-Type": "application/json"}
        symbols = {s["symbol"]: s["baseAsset"] for s in self.exchange_info["symbols"]}
        symbol = query.get("symbol", "")
        interval = query.get("interval", "")
        if symbol not in symbols:
            return 400, as_json, json.dumps({"code": -1121, "msg": "Invalid symbol."})
        if interval not in INTERVAL_MS and interval != MONTH:
            return 400, as_json, json.dumps({"code": -1120, "msg": "Invalid interval."})
        limit = min(int(query.get("limit", BINANCE_DEFAULT_LIMIT)), BINANCE_MAX_LIMIT)
        start = int(query.get("startTime", 0))
        end = int(query["endTime"]) if "endTime" in query else self.current_ms()
        if "startTime" not in query:
            # Without a start Binance answers the most recent `limit` bars.
            bars = self.available_bars(symbols[symbol], interval, 0, end)[-limit:]
        else:
            # Built a chunk at a time: a start years back must not synthesise millions of bars.
            bars = []
            chunk = (limit + 1) * INTERVAL_MS.get(interval, 31 * DAY)
            first = start
            while len(bars) < limit and first <= min(end, self.current_ms()):
                last = min(end, first + chunk - 1)
                bars += self.available_bars(symbols[symbol], interval, first, last)
                first = last + 1
            bars = bars[:limit]
        return 200, as_json, json.dumps([binance_kline(bar) for bar in bars])


def _make_handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, headers, text, delay = server.answer(method, self.path, raw)
            if delay:
                time.sleep(delay)
            payload = text.encode()
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (timeout, or killed): nothing to answer to.
                self.close_connection = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def expected_frame(server: ReplayServer, coin: str, interval: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    """The bars with open time in ``[start_ms, end_ms)`` that the server holds, in the store's columns."""
    bars = server.available_bars(coin, interval, start_ms, end_ms - 1)
    return pd.DataFrame(
        {
            "timestamp_ms": np.array([b.t for b in bars], dtype=np.int64),
            "open": np.array([b.open for b in bars], dtype=np.float64),
            "high": np.array([b.high for b in bars], dtype=np.float64),
            "low": np.array([b.low for b in bars], dtype=np.float64),
            "close": np.array([b.close for b in bars], dtype=np.float64),
            "volume": np.array([b.volume for b in bars], dtype=np.float64),
        }
    )
