"""Hyperliquid perpetuals candles from the public info API (``POST {base}/info``).

A ``candleSnapshot`` answers at most 5,000 candles, so a request never asks for a wider window and an answer is
never cut short. Prices and volume arrive as strings and are parsed here; every answer is checked (a list, the
asked coin and interval) before it reaches the store. Hyperliquid answers an unknown coin with HTTP 500 or an empty
list, which would look like an outage or a gap, so ``prepare`` checks the coin against the ``meta`` universe first.

Requests are weighed as Hyperliquid counts them (20 per request plus 1 per 60 candles returned) and spent from a
``TokenBucket``: the base before the request, the rest once the answer says how many candles it held.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
from typing import Any

import httpx
import numpy as np
import pandas as pd

from stratlab.data.candles import ohlcv_frame
from stratlab.data.dates import format_ms
from stratlab.data.sources.http_retry import TokenBucket, one_line, send_once
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

    def _post(self, body: dict[str, Any], what: str) -> Any:
        label = f"{self.name}: POST {self.info_url} ({what})"
        if self.limiter is not None:
            self.limiter.acquire(BASE_WEIGHT)
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
    "MAX_CANDLES_PER_ANSWER",
    "SOURCE_NAME",
    "HyperliquidSource",
    "candle_snapshot_weight",
    "parse_candles",
]
