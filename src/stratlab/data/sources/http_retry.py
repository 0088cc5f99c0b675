"""Retries with capped exponential backoff, and a token bucket on request weight.

Small units that any HTTP client of the project reuses (the market-data sources, the Telegram alerts):

- ``TransientError``: raised by one attempt when trying again may succeed (429, 5xx, timeout, lost connection).
- ``unresolved_host_error``: a host name that does not resolve is not retried: no answer of the server can change,
  and a typo or a machine without network would otherwise wait out every retry (about a minute) before saying so.
- ``RetryPolicy`` + ``with_retries``: call again after a growing, jittered, capped pause, or the pause the server
  asked for in ``Retry-After``; a one-line ``DownloadError`` once the retries are spent.
- ``send_once``: one ``httpx`` request whose failures are sorted into ``TransientError`` and ``DownloadError``.
- ``TokenBucket``: spend at most N weight units per minute, charging before or after a request.

Error messages name the request as the caller labels it: a URL that carries a secret (a bot token in its path)
must be passed with a ``label`` that leaves the secret out.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from stratlab.errors import DownloadError

log = logging.getLogger(__name__)

T = TypeVar("T")

_SNIPPET_CHARS = 200


class TransientError(Exception):
    """One attempt failed in a way that trying again may fix; ``retry_after_s`` is the server's own hint."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying again.

    The n-th retry waits ``base_delay_s * 2**(n-1)`` plus up to ``jitter`` of that (so that many clients that failed
    together do not come back together), never more than ``max_delay_s``. A ``Retry-After`` from the server replaces
    that pause (capped at ``max_retry_after_s``): it knows better than our guess.
    """

    max_retries: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    jitter: float = 0.25
    max_retry_after_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.jitter < 0 or self.max_retry_after_s < 0:
            raise ValueError("retry delays and jitter must be >= 0")

    def delay_s(self, retry_number: int, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
        """Pause before retry number ``retry_number`` (1 for the first retry)."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(retry_number - 1, 0))
        spread = (rng or random).random() * self.jitter
        return min(self.max_delay_s, backoff * (1.0 + spread))


@dataclass(frozen=True)
class RetryEvent:
    """One failed attempt that will be retried: for logs, progress and counters."""

    retry_number: int
    max_retries: int
    delay_s: float
    error: TransientError


def with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[RetryEvent], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """``call()``, tried again on ``TransientError`` up to ``policy.max_retries`` times.

    Any other exception passes through at once. When the retries are spent, a ``DownloadError`` carries the last
    failure's message and the number of attempts, on one line.
    """
    retry_number = 0
    while True:
        try:
            return call()
        except TransientError as exc:
            retry_number += 1
            if retry_number > policy.max_retries:
                raise DownloadError(f"{exc.message} (gave up after {retry_number} attempts)") from None
            delay = policy.delay_s(retry_number, exc.retry_after_s, rng)
            event = RetryEvent(retry_number, policy.max_retries, delay, exc)
            log.warning("%s; retry %d of %d in %.1fs", exc.message, retry_number, policy.max_retries, delay)
            if on_retry is not None:
                on_retry(event)
            sleep(delay)


def is_retryable_status(status: int) -> bool:
    """429 (rate limit), 408/425 (request timeout / too early) and every 5xx are worth another try."""
    return status in {408, 425, 429} or 500 <= status <= 599


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date; None if absent or invalid."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(tz=UTC))).total_seconds(), 0.0)


def one_line(text: str, limit: int = _SNIPPET_CHARS) -> str:
    """Whitespace collapsed and cut to ``limit`` characters: error messages stay on one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _name_resolution_failure(exc: BaseException) -> socket.gaierror | None:
    """The DNS failure (``socket.gaierror``) behind a client's connection error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, socket.gaierror):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def unresolved_host_error(name: str, url: str | None, exc: BaseException) -> DownloadError | None:
    """A one-line ``DownloadError`` naming the host when ``exc`` comes from a name that did not resolve, else None.

    ``name`` labels the request in the message; ``url`` is the request's URL (only its host is shown).
    """
    failure = _name_resolution_failure(exc)
    if failure is None:
        return None
    host = urlsplit(url).hostname if url else None
    reason = failure.strerror or one_line(str(failure)) or type(failure).__name__
    return DownloadError(f"{name}: cannot resolve host {host or '?'!r} ({reason}); check the URL and the network")


def send_once(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    label: str | None = None,
    json: Any = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """One request: a 2xx response, a ``TransientError`` worth retrying, or a ``DownloadError`` for good.

    ``label`` names the request in messages (default ``METHOD URL``).
    """
    name = label or f"{method} {url}"
    try:
        response = client.request(method, url, json=json, params=params)
    except httpx.TimeoutException as exc:
        raise TransientError(f"{name}: timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        unresolved = unresolved_host_error(name, url, exc)
        if unresolved is not None:
            raise unresolved from None
        reason = one_line(str(exc)) or type(exc).__name__
        raise TransientError(f"{name}: connection failed ({reason})") from None
    if response.is_success:
        return response
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if is_retryable_status(response.status_code):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientError(f"{name}: {status}", retry_after_s=retry_after)
    body = one_line(response.text)
    raise DownloadError(f"{name}: {status}" + (f": {body}" if body else ""))


class TokenBucket:
    """At most ``per_minute`` weight per minute on average, with bursts up to ``capacity`` (default: one minute).

    ``acquire(w)`` waits until ``w`` is available, then spends it; ``charge(w)`` spends without waiting, for costs
    known only from the answer (the balance may go negative and the next ``acquire`` waits it off). Thread-safe: a
    waiting caller holds the lock, so callers are served in turn.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be > 0, got {per_minute}")
        self.rate_per_s = per_minute / 60.0
        self.capacity = float(capacity if capacity is not None else per_minute)
        if self.capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {self.capacity}")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()
        self.spent = 0.0
        self.waited_s = 0.0

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate_per_s)
        self._stamp = now

    def acquire(self, weight: float) -> float:
        """Wait until ``weight`` can be spent (a weight above ``capacity`` waits for a full bucket); the wait in s."""
        with self._lock:
            self._refill()
            needed = min(weight, self.capacity)
            waited = 0.0
            if self._tokens < needed:
                waited = (needed - self._tokens) / self.rate_per_s
                self._sleep(waited)
                self._refill()
            self._tokens -= weight
            self.spent += weight
            self.waited_s += waited
            return waited

    def charge(self, weight: float) -> None:
        """Spend ``weight`` now, without waiting."""
        with self._lock:
            self._refill()
            self._tokens -= weight
            self.spent += weight


__all__ = [
    "RetryEvent",
    "RetryPolicy",
    "TokenBucket",
    "TransientError",
    "is_retryable_status",
    "one_line",
    "parse_retry_after",
    "send_once",
    "unresolved_host_error",
    "with_retries",
]
