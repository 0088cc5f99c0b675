"""Alerts for people watching a runner: fills, halts, daily summaries, errors, start and stop.

Three ways to deliver them (``NotifyMode``): ``none``; ``log`` (one INFO line each, logger
``stratlab.live.alerts``); ``telegram`` (the Bot API's ``sendMessage``, plain text, over ``httpx``).

Alerts must never hold up or break trading, so the Telegram notifier hands each message to a background thread
through a bounded queue: ``send()`` returns at once and never raises. That thread retries what may succeed later
(429 after the ``retry_after`` the Bot API asks for, capped; 5xx and lost connections with a growing backoff) and
drops, with one log line naming the message, what cannot: a 4xx other than 429 (a bad token, an unknown chat) at
once, anything else once its retries are spent. ``close(timeout_s)`` delivers what it can within the timeout.

The bot token is a password to the bot, and the Bot API wants it in the URL path. It is kept out of every text
the notifier writes (log lines, error messages, ``repr``, the alert texts themselves: ``mask_secret``), and out of
``httpx``'s own request log: the client only ever sees a URL with the token masked, which the transport fills in
just before the request goes on the wire.

The ``*_text`` formatters compose the messages, so each kind of alert reads the same wherever it is sent from.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from stratlab.data.dates import format_day, format_ms
from stratlab.data.sources.http_retry import (
    RetryPolicy,
    TransientError,
    is_retryable_status,
    one_line,
    unresolved_host_error,
    with_retries,
)
from stratlab.errors import ConfigError, DownloadError, StratlabError
from stratlab.settings import Settings

log = logging.getLogger(__name__)

# How a secret reads wherever it would have been printed (the same as pydantic's SecretStr).
MASK = "**********"
# The Bot API rejects a longer text ("message is too long"): 4,096 characters.
TELEGRAM_MAX_CHARS = 4096
# Pending alerts at most; more means Telegram has been unreachable for a long while (see _enqueue).
ALERT_QUEUE_SIZE = 100
# One sendMessage call may take this long before it counts as a failed attempt.
REQUEST_TIMEOUT_S = 10.0
# 4 retries after 1, 2, 4, 8 s (plus jitter) for 5xx and lost connections; a 429's retry_after is obeyed up to 30 s.
TELEGRAM_RETRY_POLICY = RetryPolicy(max_retries=4, base_delay_s=1.0, max_delay_s=15.0, max_retry_after_s=30.0)
# close() waits this much beyond its timeout for the sending thread to write its last log lines.
_CLOSE_GRACE_S = 0.25
_PREVIEW_CHARS = 80
_REQUEST_LABEL = "telegram sendMessage"


class NotifyMode(StrEnum):
    NONE = "none"
    LOG = "log"
    TELEGRAM = "telegram"


class Notifier(Protocol):
    def send(self, text: str) -> None:
        """Deliver ``text`` eventually; never raises, never blocks trading (queued; retried; dropped with a log
        line)."""

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is still pending, waiting at most ``timeout_s``."""


def mask_secret(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` (as is, or percent-encoded as in a URL) replaced by ``MASK``.

    An empty secret masks nothing (there is nothing to hide, and replacing "" would garble the text)."""
    if not secret:
        return text
    for form in dict.fromkeys((secret, quote(secret, safe=""), quote(secret))):
        text = text.replace(form, MASK)
    return text


def make_notifier(mode: NotifyMode | str, settings: Settings) -> Notifier:
    """The notifier for ``mode``; Telegram reads its token, chat and API root from ``settings``.

    A Telegram notifier without a token or chat id is a ``ConfigError`` naming the variables to set."""
    try:
        mode = NotifyMode(mode)
    except ValueError:
        choices = ", ".join(m.value for m in NotifyMode)
        raise ConfigError(f"notify mode: expected one of {choices}, got {mode!r}") from None
    if mode is NotifyMode.NONE:
        return SilentNotifier()
    if mode is NotifyMode.LOG:
        return LogNotifier()
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    chat_id = (settings.telegram_chat_id or "").strip()
    missing = [
        name
        for name, value in (("STRATLAB_TELEGRAM_BOT_TOKEN", token.strip()), ("STRATLAB_TELEGRAM_CHAT_ID", chat_id))
        if not value
    ]
    if missing:
        raise ConfigError(
            "Telegram alerts need STRATLAB_TELEGRAM_BOT_TOKEN and STRATLAB_TELEGRAM_CHAT_ID; not set: "
            + ", ".join(missing)
        )
    return TelegramNotifier(token.strip(), chat_id, base_url=settings.telegram_base_url)


class SilentNotifier:
    """``none``: alerts go nowhere."""

    def send(self, text: str) -> None:
        pass

    def close(self, timeout_s: float = 5.0) -> None:
        pass


class LogNotifier:
    """``log``: each alert one line of the log file (a multi-line alert joined with " | ", so it stays one line).
    DEBUG, the log file's level: the runner prints every event on the console already."""

    def send(self, text: str) -> None:
        log.debug("alert: %s", " | ".join(line.strip() for line in text.splitlines() if line.strip()))

    def close(self, timeout_s: float = 5.0) -> None:
        pass


def preview(text: str) -> str:
    """The start of an alert on one line, to name it in a log line."""
    return repr(one_line(text, _PREVIEW_CHARS))


def telegram_text(text: str) -> str:
    """``text`` cut to what ``sendMessage`` accepts, marked with "…" where it was cut.

    The limit is counted in UTF-16 code units, the unit Telegram measures texts in; it is never more than the
    number of characters, so the cut text fits whichever way the count is made."""
    if _utf16_units(text) <= TELEGRAM_MAX_CHARS:
        return text
    budget = TELEGRAM_MAX_CHARS - 1  # room for the "…"
    kept: list[str] = []
    for char in text:
        budget -= _utf16_units(char)
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _TokenTransport(httpx.BaseTransport):
    """Puts the bot token into the URL path at the last moment.

    The client is given ``/bot**********/sendMessage``, so whatever ``httpx`` logs or puts in an exception names
    that URL; only the request sent on the wire carries the token."""

    def __init__(self, token: str, inner: httpx.BaseTransport) -> None:
        self._masked_path = f"/bot{MASK}/".encode()
        self._real_path = f"/bot{quote(token, safe=':')}/".encode()
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url.copy_with(raw_path=request.url.raw_path.replace(self._masked_path, self._real_path, 1))
        real = httpx.Request(
            request.method, url, headers=request.headers, stream=request.stream, extensions=request.extensions
        )
        return self._inner.handle_request(real)

    def close(self) -> None:
        self._inner.close()


class _NoTimeLeftError(Exception):
    """close()'s timeout ends before the next attempt could be made or finished."""


class TelegramNotifier:
    """``telegram``: alerts sent with the Bot API's ``sendMessage`` by a background thread (see the module notes).

    ``policy``, ``queue_size`` and ``request_timeout_s`` default to the module's constants."""

    def __init__(
        self,
        token: str,
        chat_id: str,
        *,
        base_url: str = "https://api.telegram.org",
        policy: RetryPolicy = TELEGRAM_RETRY_POLICY,
        queue_size: int = ALERT_QUEUE_SIZE,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self._token = token
        self.chat_id = chat_id
        self.base_url = base_url.rstrip("/")
        self._policy = policy
        self._queue_size = queue_size
        self._request_timeout_s = request_timeout_s
        self._url = f"{self.base_url}/bot{MASK}/sendMessage"
        self._client = httpx.Client(transport=_TokenTransport(token, httpx.HTTPTransport()), timeout=request_timeout_s)
        self._pending: deque[str] = deque()
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._deadline: float | None = None  # time.monotonic() by which close() wants the thread done
        self._thread = threading.Thread(target=self._run, name="stratlab-telegram-alerts", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"TelegramNotifier(chat_id={self.chat_id!r}, base_url={self.base_url!r}, token={MASK!r})"

    def _mask(self, text: str) -> str:
        return mask_secret(text, self._token)

    # the caller's side ----------------------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Queue ``text`` (the token masked, cut to Telegram's limit) and return at once."""
        try:
            self._enqueue(telegram_text(self._mask(str(text))))
        except Exception as exc:  # an alert must never break the caller, whatever went wrong
            log.error("telegram alert not queued: %s", self._mask(one_line(f"{type(exc).__name__}: {exc}")))

    def _enqueue(self, text: str) -> None:
        """Add ``text`` to the queue; a full queue drops its OLDEST alert.

        A full queue means Telegram has been unreachable for a long while; the newest alerts tell the state the
        person has to act on now (the latest halt, the latest position), so they are the ones to keep."""
        if not text.strip():
            log.warning("telegram alert not sent: the text is empty (the Bot API rejects empty messages)")
            return
        with self._lock:
            if self._closing.is_set():
                log.warning("telegram alert not sent, the notifier is closed: %s", preview(text))
                return
            if len(self._pending) >= self._queue_size:
                dropped = self._pending.popleft()
                log.warning(
                    "telegram alert dropped, %d alerts already waiting (the oldest goes): %s",
                    self._queue_size,
                    preview(dropped),
                )
            self._pending.append(text)
            self._lock.notify()

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is pending within ``timeout_s``; what cannot be is dropped with a log line."""
        with self._lock:
            if not self._closing.is_set():
                self._deadline = time.monotonic() + max(timeout_s, 0.0)
                self._closing.set()
                self._lock.notify_all()
        self._thread.join(max(timeout_s, 0.0) + _CLOSE_GRACE_S)
        if self._thread.is_alive():
            log.warning("telegram alerts: the sending thread did not finish within %.1fs; left behind", timeout_s)

    # the sending thread ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (text := self._next()) is not None:
                self._deliver(text)
        finally:
            self._client.close()

    def _next(self) -> str | None:
        """The next alert to send, waiting for one; None once closing with nothing left, or out of time (what is
        left then is dropped with one line)."""
        with self._lock:
            while not self._pending and not self._closing.is_set():
                self._lock.wait()
            if self._out_of_time() and self._pending:
                left = [preview(text) for text in self._pending]
                self._pending.clear()
                log.warning(
                    "%d telegram alert(s) not sent before close: %s", len(left), one_line(", ".join(left), 1000)
                )
            return self._pending.popleft() if self._pending else None

    def _out_of_time(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _deliver(self, text: str) -> None:
        """Send one alert with retries; a failure for good is one log line naming the alert."""
        try:
            with_retries(lambda: self._post(text), self._policy, sleep=self._pause)
        except DownloadError as exc:
            log.warning("telegram alert dropped: %s; alert: %s", self._mask(str(exc)), preview(text))
        except _NoTimeLeftError:
            log.warning("telegram alert not sent before close (no time left to try again): %s", preview(text))
        except Exception as exc:  # the thread must outlive any surprise, or every later alert would be lost
            log.error(
                "telegram alert dropped: %s; alert: %s",
                self._mask(one_line(f"{type(exc).__name__}: {exc}")),
                preview(text),
            )
        else:
            log.debug("telegram alert delivered: %s", preview(text))

    def _pause(self, delay_s: float) -> None:
        """Wait ``delay_s`` before a retry; close() cuts the wait short when the retry would end past its
        deadline."""
        end = time.monotonic() + delay_s
        while (remaining := end - time.monotonic()) > 0:
            if self._deadline is not None:
                if end > self._deadline:
                    raise _NoTimeLeftError
                time.sleep(remaining)
                return
            self._closing.wait(remaining)  # woken by close(), which may leave too little time for this retry

    def _attempt_timeout_s(self) -> float:
        """The request timeout, shortened to what is left of close()'s timeout."""
        if self._deadline is None:
            return self._request_timeout_s
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _NoTimeLeftError
        return min(self._request_timeout_s, left)

    def _post(self, text: str) -> None:
        """One ``sendMessage`` call: returns once delivered; ``TransientError`` if worth another try,
        ``DownloadError`` if not."""
        try:
            response = self._client.post(
                self._url, json={"chat_id": self.chat_id, "text": text}, timeout=self._attempt_timeout_s()
            )
        except httpx.TimeoutException as exc:
            if self._out_of_time():
                raise _NoTimeLeftError from None
            raise TransientError(f"{_REQUEST_LABEL}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            unresolved = unresolved_host_error(_REQUEST_LABEL, self.base_url, exc)
            if unresolved is not None:
                raise unresolved from None
            reason = self._mask(one_line(str(exc))) or type(exc).__name__
            raise TransientError(f"{_REQUEST_LABEL}: connection failed ({reason})") from None
        answer = _json_object(response)
        if response.is_success and answer.get("ok", True) is not False:
            return
        status = response.status_code
        description = self._mask(one_line(str(answer.get("description") or response.text or response.reason_phrase)))
        message = f"{_REQUEST_LABEL}: HTTP {status}: {description}"
        if is_retryable_status(status):
            raise TransientError(message, retry_after_s=_retry_after_s(answer, response))
        raise DownloadError(message)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The Bot API's answer object; ``{}`` when the body is not one (a proxy's HTML error page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after_s(answer: Mapping[str, Any], response: httpx.Response) -> float | None:
    """The wait a 429 asks for: ``parameters.retry_after`` in the Bot API's answer, else a ``Retry-After``
    header."""
    parameters = answer.get("parameters")
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if value is None:
        value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


# ---------------------------------------------------------------------------------------------------------------
# the messages (plain text; times in UTC)


def format_quantity(value: float) -> str:
    """A size or a price to 6 significant digits with thousands separators, never in exponent form:
    ``64,250.5``, ``0.000123457``, ``1,234,568``."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    decimals = min(12, max(0, 5 - math.floor(math.log10(abs(value)))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_money(value: float, *, signed: bool = False) -> str:
    """An amount of the quote currency to the cent: ``10,234.50``, or ``+234.50`` with ``signed``."""
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def format_pct(value: float) -> str:
    """A percentage with its sign: ``+2.35%``, ``-12.30%``."""
    return f"{value:+,.2f}%"


def format_position(quantity: float) -> str:
    """A signed position as people say it: ``long 0.5``, ``short 0.5``, ``flat``."""
    if quantity > 0:
        return f"long {format_quantity(quantity)}"
    if quantity < 0:
        return f"short {format_quantity(-quantity)}"
    return "flat"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def fill_text(
    book: str,
    *,
    side: str,
    amount: float,
    price: float,
    time_ms: int,
    position_after: float,
    reason: str = "",
    fee: float | None = None,
    pnl: float | None = None,
) -> str:
    """A fill: ``BTC 1h ema_cross: bought 0.5 at 64,250.5 on 2025-03-01 12:05 UTC (take profit); now long 0.5;
    fee 3.21; realised PnL +12.34``. ``side`` is "buy" or "sell"; ``position_after`` the signed position after
    it; ``pnl`` what a closing fill realised."""
    verb = {"buy": "bought", "sell": "sold"}.get(side, side)
    text = f"{book}: {verb} {format_quantity(amount)} at {format_quantity(price)} on {format_ms(time_ms)}"
    if reason:
        text += f" ({reason})"
    text += f"; now {format_position(position_after)}"
    if fee is not None:
        text += f"; fee {format_money(fee)}"
    if pnl is not None:
        text += f"; realised PnL {format_money(pnl, signed=True)}"
    return text


def halt_text(
    book: str, *, reason: str, time_ms: int, equity: float | None = None, drawdown_pct: float | None = None
) -> str:
    """A halt: ``HALTED BTC 1h ema_cross on 2025-03-01 12:05 UTC: daily loss limit reached`` and, when given, a
    second line ``Equity 9,500.00; drawdown -5.00%``."""
    text = f"HALTED {book} on {format_ms(time_ms)}: {reason}"
    figures = []
    if equity is not None:
        figures.append(f"Equity {format_money(equity)}")
    if drawdown_pct is not None:
        figures.append(f"drawdown {format_pct(drawdown_pct)}")
    return text + ("\n" + "; ".join(figures) if figures else "")


def daily_summary_text(
    day_ms: int,
    *,
    equity: float,
    pnl: float,
    return_pct: float,
    trades: int,
    positions: Mapping[str, float] | None = None,
    drawdown_pct: float | None = None,
) -> str:
    """The day's summary (``day_ms``: any time on that UTC day); ``positions``: each book's signed position.

    ``Daily summary 2025-03-01 (UTC)`` / ``Equity 10,234.50; day PnL +234.50 (+2.35%); 3 trades; drawdown
    -1.20%`` / ``BTC 1h ema_cross: long 0.5``, one line per book."""
    figures = [
        f"Equity {format_money(equity)}",
        f"day PnL {format_money(pnl, signed=True)} ({format_pct(return_pct)})",
        _count(trades, "trade"),
    ]
    if drawdown_pct is not None:
        figures.append(f"drawdown {format_pct(drawdown_pct)}")
    lines = [f"Daily summary {format_day(day_ms)} (UTC)", "; ".join(figures)]
    lines += [f"{book}: {format_position(quantity)}" for book, quantity in (positions or {}).items()]
    return "\n".join(lines)


def error_text(what: str, error: str | BaseException, *, time_ms: int | None = None) -> str:
    """An error while doing ``what``: ``ERROR placing the BTC order on 2025-03-01 12:05 UTC: <the error on one
    line>``. Our own errors read as their message; any other exception is named by its type too."""
    if isinstance(error, StratlabError | str):
        detail = str(error)
    else:
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    when = f" on {format_ms(time_ms)}" if time_ms is not None else ""
    return f"ERROR {what}{when}: {one_line(detail, 1000)}"


def start_text(name: str, *, mode: str, books: Sequence[str], time_ms: int) -> str:
    """The runner started: ``Started demo (paper) on 2025-03-01 12:05 UTC with 2 books`` and a line per book."""
    return "\n".join([f"Started {name} ({mode}) on {format_ms(time_ms)} with {_count(len(books), 'book')}", *books])


def stop_text(name: str, *, reason: str, time_ms: int, equity: float | None = None) -> str:
    """The runner stopped: ``Stopped demo on 2025-03-01 12:05 UTC: stop requested; equity 10,234.50``."""
    text = f"Stopped {name} on {format_ms(time_ms)}: {reason}"
    return text + (f"; equity {format_money(equity)}" if equity is not None else "")


__all__ = [
    "ALERT_QUEUE_SIZE",
    "MASK",
    "REQUEST_TIMEOUT_S",
    "TELEGRAM_MAX_CHARS",
    "TELEGRAM_RETRY_POLICY",
    "LogNotifier",
    "Notifier",
    "NotifyMode",
    "SilentNotifier",
    "TelegramNotifier",
    "daily_summary_text",
    "error_text",
    "fill_text",
    "format_money",
    "format_pct",
    "format_position",
    "format_quantity",
    "halt_text",
    "make_notifier",
    "mask_secret",
    "preview",
    "start_text",
    "stop_text",
    "telegram_text",
]
