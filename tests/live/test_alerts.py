"""Alerts: Telegram's sendMessage through a local Bot API server (what it received is the reference), the log and
none modes, the token kept out of every text, and the message formatters against hand-written texts."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from stratlab.data.sources.http_retry import RetryPolicy
from stratlab.errors import ConfigError, DownloadError
from stratlab.live.alerts import (
    MASK,
    LogNotifier,
    NotifyMode,
    SilentNotifier,
    TelegramNotifier,
    daily_summary_text,
    error_text,
    fill_text,
    format_quantity,
    halt_text,
    make_notifier,
    mask_secret,
    start_text,
    stop_text,
)
from stratlab.settings import Settings
from tests.live.bot_api_server import BotApiServer, Scripted, server_error, slow, too_many_requests, unauthorized

TOKEN = "123456789:AAH-secret_Token-xyz"
CHAT = "4242"
# Retries in hundredths of a second: the retry rules are the same, the test just does not wait for them.
FAST = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.05, jitter=0.0, max_retry_after_s=30.0)
ALERTS_LOGGER = "stratlab.live.alerts"
# 2025-03-01 12:05 UTC
MARCH_1_1205_MS = 1_740_830_700_000


@pytest.fixture
def bot_api() -> Iterator[BotApiServer]:
    with BotApiServer(token=TOKEN, chats={CHAT}) as server:
        yield server


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger, httpx's request log included (the CLI quiets it unless --verbose)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="httpcore")
    return caplog


def notifier(url: str, token: str = TOKEN, policy: RetryPolicy = FAST, queue_size: int = 100) -> TelegramNotifier:
    return TelegramNotifier(token, CHAT, base_url=url, policy=policy, queue_size=queue_size)


def assert_token_nowhere(caplog: pytest.LogCaptureFixture, token: str = TOKEN) -> None:
    assert caplog.records, "nothing was logged, so nothing was checked"
    for record in caplog.records:
        assert token not in record.getMessage(), record.getMessage()
        assert token.split(":")[1] not in record.getMessage(), record.getMessage()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == ALERTS_LOGGER and r.levelno >= logging.WARNING]


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- delivery -------------------------------------------------------------------------------------------------


def test_a_message_arrives_with_the_chat_and_text_at_the_bots_path(
    bot_api: BotApiServer, all_logs: pytest.LogCaptureFixture
) -> None:
    alerts = notifier(bot_api.url)
    alerts.send("BTC 1h: bought 0.5")
    alerts.close(2.0)

    [request] = bot_api.requests
    assert request.method == "POST"
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.body == {"chat_id": CHAT, "text": "BTC 1h: bought 0.5"}
    assert request.status == 200
    # httpx logged the request with the token masked, and nothing else names it either
    assert any(r.name == "httpx" and f"/bot{MASK}/sendMessage" in r.getMessage() for r in all_logs.records)
    assert_token_nowhere(all_logs)


def test_close_flushes_every_queued_message_in_order(bot_api: BotApiServer) -> None:
    alerts = notifier(bot_api.url)
    texts = [f"alert {i}" for i in range(5)]
    for text in texts:
        alerts.send(text)
    alerts.close(3.0)
    assert [body["text"] for body in bot_api.delivered] == texts


def test_a_429_is_retried_after_retry_after_and_delivered_once(bot_api: BotApiServer) -> None:
    bot_api.queue(too_many_requests(retry_after=1))
    alerts = notifier(bot_api.url)
    alerts.send("halt")
    alerts.close(5.0)

    first, second = bot_api.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert [body["text"] for body in bot_api.delivered] == ["halt"]


def test_a_429_wait_is_capped(bot_api: BotApiServer) -> None:
    capped = RetryPolicy(max_retries=2, base_delay_s=0.01, jitter=0.0, max_retry_after_s=0.2)
    bot_api.queue(too_many_requests(retry_after=100))
    alerts = notifier(bot_api.url, policy=capped)
    alerts.send("halt")
    alerts.close(5.0)

    first, second = bot_api.requests
    assert 0.2 <= second.at - first.at < 2.0
    assert second.status == 200


def test_server_errors_are_retried_then_dropped_with_a_line_without_the_token(
    bot_api: BotApiServer, all_logs: pytest.LogCaptureFixture
) -> None:
    attempts = FAST.max_retries + 1
    bot_api.queue(*[server_error(500) for _ in range(attempts)])
    alerts = notifier(bot_api.url)
    alerts.send("fill that never arrives")
    alerts.send("the next alert")
    alerts.close(3.0)

    statuses = [r.status for r in bot_api.requests]
    assert statuses == [500] * attempts + [200]
    assert [body["text"] for body in bot_api.delivered] == ["the next alert"]
    [dropped] = warnings_of(all_logs)
    assert "dropped" in dropped and "fill that never arrives" in dropped and "HTTP 500" in dropped
    assert f"gave up after {attempts} attempts" in dropped
    assert_token_nowhere(all_logs)


def test_a_502_html_page_is_retried_like_any_5xx(bot_api: BotApiServer) -> None:
    bot_api.queue(Scripted(502, "<html><body>Bad Gateway</body></html>", {"Content-Type": "text/html"}))
    alerts = notifier(bot_api.url)
    alerts.send("fill")
    alerts.close(3.0)
    assert [r.status for r in bot_api.requests] == [502, 200]


def test_a_bad_token_is_dropped_at_once_not_retried(bot_api: BotApiServer, all_logs: pytest.LogCaptureFixture) -> None:
    wrong = "987654321:AAwrong_token"
    alerts = notifier(bot_api.url, token=wrong)
    alerts.send("fill")
    alerts.close(3.0)

    [request] = bot_api.requests
    assert (request.status, request.token) == (401, wrong)
    [dropped] = warnings_of(all_logs)
    assert "HTTP 401: Unauthorized" in dropped and "'fill'" in dropped
    assert_token_nowhere(all_logs, wrong)


def test_an_unknown_chat_is_dropped_at_once_with_the_apis_description(
    bot_api: BotApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    alerts = TelegramNotifier(TOKEN, "999", base_url=bot_api.url, policy=FAST)
    alerts.send("fill")
    alerts.close(3.0)
    assert [r.status for r in bot_api.requests] == [400]
    [dropped] = warnings_of(caplog)
    assert "Bad Request: chat not found" in dropped


def test_a_server_that_is_down_is_retried_then_dropped_without_the_token(all_logs: pytest.LogCaptureFixture) -> None:
    alerts = notifier(closed_port_url())
    alerts.send("nobody listens")
    alerts.close(3.0)

    [dropped] = warnings_of(all_logs)
    assert "connection failed" in dropped and "'nobody listens'" in dropped
    assert f"gave up after {FAST.max_retries + 1} attempts" in dropped
    assert_token_nowhere(all_logs)


def test_an_httpx_error_text_names_the_token_until_masked(bot_api: BotApiServer) -> None:
    bot_api.queue(unauthorized())
    with pytest.raises(httpx.HTTPStatusError) as caught:
        httpx.post(f"{bot_api.url}/bot{TOKEN}/sendMessage", json={"chat_id": CHAT, "text": "x"}).raise_for_status()
    raw = str(caught.value)
    assert TOKEN in raw  # the premise: httpx puts the URL, token and all, in its message
    masked = mask_secret(raw, TOKEN)
    assert TOKEN not in masked and f"/bot{MASK}/sendMessage" in masked
    assert mask_secret("a%3Ab", "a:b") == MASK  # the percent-encoded form of a URL too
    assert mask_secret("nothing to hide", "") == "nothing to hide"


def test_the_token_is_masked_in_repr_and_in_alert_texts(bot_api: BotApiServer) -> None:
    alerts = notifier(bot_api.url)
    assert TOKEN not in repr(alerts) and MASK in repr(alerts)
    alerts.send(f"order failed: GET /bot{TOKEN}/x")
    alerts.close(2.0)
    assert bot_api.delivered[0]["text"] == f"order failed: GET /bot{MASK}/x"


# --- never blocking, bounded --------------------------------------------------------------------------------


def test_send_returns_at_once_while_the_server_is_slow(bot_api: BotApiServer) -> None:
    bot_api.queue(slow(0.2), slow(0.2))
    alerts = notifier(bot_api.url)
    took = []
    for i in range(3):
        start = time.perf_counter()
        alerts.send(f"alert {i}")
        took.append(time.perf_counter() - start)
    assert max(took) < 0.05
    alerts.close(3.0)
    assert [body["text"] for body in bot_api.delivered] == ["alert 0", "alert 1", "alert 2"]


def test_close_gives_up_at_its_timeout_and_says_what_was_not_sent(
    bot_api: BotApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    bot_api.queue(slow(3.0))
    alerts = notifier(bot_api.url)
    alerts.send("stuck")
    alerts.send("behind it")
    start = time.perf_counter()
    alerts.close(0.3)
    assert time.perf_counter() - start < 0.3 + 0.4
    lines = " ".join(warnings_of(caplog))
    assert "'stuck'" in lines and "'behind it'" in lines
    # "stuck" went out once and was not tried again; "behind it" never went out
    assert [r.body["text"] for r in bot_api.requests] == ["stuck"]


def test_a_full_queue_drops_the_oldest_waiting_alert(bot_api: BotApiServer, caplog: pytest.LogCaptureFixture) -> None:
    bot_api.queue(slow(0.3))
    alerts = notifier(bot_api.url, queue_size=2)
    alerts.send("in flight")
    bot_api.wait_for_requests(1)  # the sending thread is busy with it now
    for text in ("oldest", "middle", "newest"):
        alerts.send(text)
    alerts.close(3.0)

    assert [body["text"] for body in bot_api.delivered] == ["in flight", "middle", "newest"]
    [dropped] = warnings_of(caplog)
    assert "'oldest'" in dropped


def test_a_long_text_is_cut_to_what_the_api_accepts(bot_api: BotApiServer) -> None:
    alerts = notifier(bot_api.url)
    alerts.send("x" * 5000)
    alerts.send("📈" * 3000)  # two UTF-16 units each
    alerts.close(2.0)
    plain, emoji = (body["text"] for body in bot_api.delivered)  # the server refuses anything over 4,096
    assert plain == "x" * 4095 + "…"
    assert emoji == "📈" * 2047 + "…"


def test_send_after_close_is_dropped_with_a_line(bot_api: BotApiServer, caplog: pytest.LogCaptureFixture) -> None:
    alerts = notifier(bot_api.url)
    alerts.close(1.0)
    alerts.send("too late")
    assert bot_api.requests == []
    assert any("'too late'" in line for line in warnings_of(caplog))


# --- the other modes and the factory ------------------------------------------------------------------------


def test_log_mode_writes_one_log_file_line_per_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    alerts = make_notifier(NotifyMode.LOG, Settings())
    assert isinstance(alerts, LogNotifier)
    alerts.send("Daily summary 2025-03-01 (UTC)\nEquity 10,000.00")
    alerts.close()
    [record] = caplog.records
    assert (record.name, record.levelno) == (ALERTS_LOGGER, logging.DEBUG)  # the log file keeps DEBUG
    assert record.getMessage() == "alert: Daily summary 2025-03-01 (UTC) | Equity 10,000.00"


def test_none_mode_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    alerts = make_notifier("none", Settings())
    assert isinstance(alerts, SilentNotifier)
    alerts.send("anything")
    alerts.close()
    assert caplog.records == []


def test_telegram_without_token_or_chat_is_a_config_error_naming_the_variables() -> None:
    with pytest.raises(ConfigError) as no_token:
        make_notifier(NotifyMode.TELEGRAM, Settings(telegram_bot_token=None, telegram_chat_id=CHAT))
    assert "STRATLAB_TELEGRAM_BOT_TOKEN" in str(no_token.value) and "\n" not in str(no_token.value)
    assert str(no_token.value).endswith("not set: STRATLAB_TELEGRAM_BOT_TOKEN")
    with pytest.raises(ConfigError, match=r"not set: STRATLAB_TELEGRAM_BOT_TOKEN, STRATLAB_TELEGRAM_CHAT_ID$"):
        make_notifier(NotifyMode.TELEGRAM, Settings(telegram_bot_token=None, telegram_chat_id=None))
    with pytest.raises(ConfigError, match=r"not set: STRATLAB_TELEGRAM_CHAT_ID$"):
        make_notifier(NotifyMode.TELEGRAM, Settings(telegram_bot_token=SecretStr(TOKEN), telegram_chat_id=" "))
    with pytest.raises(ConfigError, match="expected one of none, log, telegram"):
        make_notifier("email", Settings())


def test_make_notifier_sends_with_the_settings(bot_api: BotApiServer) -> None:
    settings = Settings(telegram_bot_token=SecretStr(TOKEN), telegram_chat_id=CHAT, telegram_base_url=bot_api.url)
    alerts = make_notifier(NotifyMode.TELEGRAM, settings)
    alerts.send("started")
    alerts.close(2.0)
    assert [(r.token, r.body) for r in bot_api.requests] == [(TOKEN, {"chat_id": CHAT, "text": "started"})]


# --- the messages -------------------------------------------------------------------------------------------


def test_quantities_read_to_six_significant_digits_with_separators() -> None:
    assert format_quantity(64250.5) == "64,250.5"
    assert format_quantity(1234567.891) == "1,234,568"
    assert format_quantity(0.000123456789) == "0.000123457"
    assert format_quantity(0.5) == "0.5"
    assert format_quantity(0.0) == "0"


def test_fill_text() -> None:
    text = fill_text(
        "BTC 1h ema_cross",
        side="sell",
        amount=0.5,
        price=64250.5,
        time_ms=MARCH_1_1205_MS,
        position_after=-0.25,
        reason="take profit",
        fee=3.2125,
        pnl=1234.5,
    )
    assert text == (
        "BTC 1h ema_cross: sold 0.5 at 64,250.5 on 2025-03-01 12:05 UTC (take profit); now short 0.25; fee 3.21; "
        "realised PnL +1,234.50"
    )
    bare = fill_text("ETH 4h", side="buy", amount=2, price=2000, time_ms=MARCH_1_1205_MS, position_after=0)
    assert bare == "ETH 4h: bought 2 at 2,000 on 2025-03-01 12:05 UTC; now flat"


def test_halt_text() -> None:
    assert halt_text("all books", reason="daily loss limit reached", time_ms=MARCH_1_1205_MS) == (
        "HALTED all books on 2025-03-01 12:05 UTC: daily loss limit reached"
    )
    assert halt_text("BTC 1h", reason="drawdown", time_ms=MARCH_1_1205_MS, equity=9500, drawdown_pct=-5) == (
        "HALTED BTC 1h on 2025-03-01 12:05 UTC: drawdown\nEquity 9,500.00; drawdown -5.00%"
    )


def test_daily_summary_text() -> None:
    text = daily_summary_text(
        MARCH_1_1205_MS,
        equity=10234.5,
        pnl=-234.5,
        return_pct=-2.2396,
        trades=1,
        positions={"BTC 1h": 0.5, "ETH 4h": 0.0},
        drawdown_pct=-1.2,
    )
    assert text == (
        "Daily summary 2025-03-01 (UTC)\n"
        "Equity 10,234.50; day PnL -234.50 (-2.24%); 1 trade; drawdown -1.20%\n"
        "BTC 1h: long 0.5\n"
        "ETH 4h: flat"
    )
    assert "1,200 trades" in daily_summary_text(0, equity=1, pnl=0, return_pct=0, trades=1200)


def test_error_start_and_stop_texts() -> None:
    assert error_text("placing the BTC order", DownloadError("venue said no\nat all")) == (
        "ERROR placing the BTC order: venue said no at all"
    )
    assert error_text("reading a bar", KeyError("close"), time_ms=MARCH_1_1205_MS) == (
        "ERROR reading a bar on 2025-03-01 12:05 UTC: KeyError: 'close'"
    )
    assert start_text("demo", mode="paper", books=["BTC 1h", "ETH 4h"], time_ms=MARCH_1_1205_MS) == (
        "Started demo (paper) on 2025-03-01 12:05 UTC with 2 books\nBTC 1h\nETH 4h"
    )
    assert stop_text("demo", reason="stop requested", time_ms=MARCH_1_1205_MS, equity=1e4) == (
        "Stopped demo on 2025-03-01 12:05 UTC: stop requested; equity 10,000.00"
    )
