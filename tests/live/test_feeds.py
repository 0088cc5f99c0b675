"""Feeds: the store replayed against a clock, and venues polled through the local replay server (real HTTP, real
httpx and ccxt clients), each bar delivered closed, in order and once, and stored as a backtest would read it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.data.dates import day_start_ms
from stratlab.data.sources.http_retry import RetryPolicy
from stratlab.data.store import MarketStore
from stratlab.errors import ConfigError, DataError, DownloadError
from stratlab.live.feeds import ClosedBar, Feed, PollingPolicy, ReplayClock, open_feed
from stratlab.settings import Settings
from tests.conftest import FIVE_MIN_MS, JAN_2025_MS, make_frame
from tests.data.replay_server import ReplayServer, Scripted, expected_frame, hyperliquid_candle, synth_bars
from tests.live.candle_servers import ReplayServerOnPort, free_port

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
DAY0 = day_start_ms("2025-06-01")
# The venue's "now": 10:30, so bars 05:00 .. 09:00 have closed and 10:00 is in progress.
NOW = DAY0 + 10 * HOUR + 30 * 60_000
AFTER = DAY0 + 4 * HOUR  # the bar opening at 04:00 was the last one traded: the feed starts at 05:00
DELAY_MS = 2_000
FAST = PollingPolicy(retry=RetryPolicy(max_retries=1, base_delay_s=0.01, max_delay_s=0.02, jitter=0.0))
JSON = {"Content-Type": "application/json"}


class ManualClock:
    """A clock the test sets by hand."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


def rows(bars: list[ClosedBar]) -> pd.DataFrame:
    """Delivered bars in the store's columns, for comparing with the server's own frame."""
    return pd.DataFrame(
        {
            "timestamp_ms": np.array([b.time_ms for b in bars], dtype=np.int64),
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [b.volume for b in bars],
        }
    )


def stored(data_root: Path, source: str, symbol: str, timeframe: str) -> pd.DataFrame:
    store = MarketStore(data_root)
    frames = [store.read_month(f, timeframe) for f in store.month_files(source, symbol, timeframe)]
    return pd.concat(frames, ignore_index=True)


def candles_body(opens: list[int], coin: str = "BTC") -> str:
    """A candleSnapshot answer holding the market's candles at these open times (in this order)."""
    return json.dumps([hyperliquid_candle(coin, "1h", bar) for bar in synth_bars(coin, "1h", opens)])


def hours(*at: int) -> list[int]:
    return [DAY0 + h * HOUR for h in at]


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer(now_ms=NOW) as srv:
        yield srv


def hyperliquid_feed(base_url: str, data_root: Path, clock: ManualClock, *, until_ms: int | None = None) -> Feed:
    return open_feed(
        "hyperliquid_perps",
        source="hyperliquid_perps",
        symbol="BTC",
        timeframe="1h",
        after_ms=AFTER,
        until_ms=until_ms,
        clock=clock,
        settings=Settings(),
        data_root=data_root,
        base_url=base_url,
        polling=FAST,
    )


# replay ------------------------------------------------------------------------------------------------------


@pytest.fixture
def replay_root(data_root: Path) -> Path:
    MarketStore(data_root).write_candles("demo", "BTC", "5m", make_frame(12), origin="test")
    return data_root


def replay_feed(data_root: Path, clock: ReplayClock, after_ms: int, until_ms: int | None) -> Feed:
    return open_feed(
        "replay",
        source="demo",
        symbol="BTC",
        timeframe="5m",
        after_ms=after_ms,
        until_ms=until_ms,
        clock=clock,
        settings=Settings(),
        data_root=data_root,
    )


def test_replay_as_fast_as_possible_delivers_the_window_once_in_order_one_bar_per_close(replay_root: Path) -> None:
    after, until = JAN_2025_MS + 2 * FIVE_MIN_MS, JAN_2025_MS + 9 * FIVE_MIN_MS
    clock = ReplayClock(after, speed=None)
    feed = replay_feed(replay_root, clock, after, until)
    delivered: list[ClosedBar] = []
    while (due := feed.next_due_ms()) is not None:
        clock.jump_to(due)
        assert clock.sleep_s(due) == 0.0
        batch = feed.poll(clock.now_ms())
        assert [b.time_ms + FIVE_MIN_MS for b in batch] == [due]  # the bar whose close it is, alone
        delivered += batch
    # Open time > after and < until: bars 3 .. 8 of the stored frame.
    pd.testing.assert_frame_equal(rows(delivered), make_frame(12).iloc[3:9].reset_index(drop=True))
    assert [b.last for b in delivered] == [False] * 5 + [True]
    assert feed.poll(clock.now_ms() + 10 * FIVE_MIN_MS) == []


def test_replay_paced_at_a_speed_waits_for_each_close(replay_root: Path) -> None:
    first_open = JAN_2025_MS + 9 * FIVE_MIN_MS
    # 3 bars of 5 minutes = 900 s of market time; at 3000x that is 0.3 s of wall time.
    clock = ReplayClock(first_open, speed=3000.0)
    feed = replay_feed(replay_root, clock, first_open - 1, None)
    assert feed.poll(clock.now_ms()) == []  # the first bar has not closed yet
    started = time.monotonic()
    delivered: list[tuple[int, ClosedBar]] = []
    while (due := feed.next_due_ms()) is not None:
        time.sleep(clock.sleep_s(due))
        now = clock.now_ms()
        delivered += [(now, bar) for bar in feed.poll(now)]
    elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 0.8
    assert [bar.time_ms for _, bar in delivered] == [first_open + i * FIVE_MIN_MS for i in range(3)]
    assert all(now >= bar.time_ms + FIVE_MIN_MS for now, bar in delivered)
    assert [bar.last for _, bar in delivered] == [False, False, True]


def test_replay_over_no_bars_is_one_line_naming_series_and_window(replay_root: Path) -> None:
    late = JAN_2025_MS + 30 * FIVE_MIN_MS
    with pytest.raises(
        DataError, match=r"^replay demo/BTC/5m: no bars after 2025-01-01 02:30 UTC and before the end"
    ) as err:
        replay_feed(replay_root, ReplayClock(late), late, None)
    assert "\n" not in str(err.value) and "00:00 UTC .. 2025-01-01 00:55 UTC" in str(err.value)
    with pytest.raises(DataError, match="symbol 'ETH': unknown for source demo"):
        open_feed(
            "replay", source="demo", symbol="ETH", timeframe="5m", after_ms=0, until_ms=None,
            clock=ReplayClock(0), settings=Settings(), data_root=replay_root,
        )  # fmt: skip


def test_replay_clock_runs_at_its_speed_and_never_backwards() -> None:
    fast = ReplayClock(1_000, None)
    fast.jump_to(5_000)
    fast.jump_to(3_000)
    assert (fast.now_ms(), fast.sleep_s(9_000)) == (5_000, 0.0)
    paced = ReplayClock(1_000, speed=1000.0)
    time.sleep(0.05)
    assert 1_000 + 50_000 <= paced.now_ms() < 1_000 + 400_000
    assert 0.9 < paced.sleep_s(paced.now_ms() + 1_000_000) <= 1.0  # 1000 s of clock at 1000x
    with pytest.raises(ConfigError, match="speed"):
        ReplayClock(0, speed=0.0)


# hyperliquid_perps -------------------------------------------------------------------------------------------


def test_hyperliquid_feed_backfills_closed_bars_stores_them_and_never_delivers_the_open_one(
    server: ReplayServer, data_root: Path
) -> None:
    clock = ManualClock(NOW)
    feed = hyperliquid_feed(server.url, data_root, clock)
    assert (feed.source, feed.symbol, feed.timeframe) == ("hyperliquid_perps", "BTC", "1h")
    assert feed.next_due_ms() == NOW  # the warm start is due at once
    first = feed.poll(clock.now_ms())
    expected = expected_frame(server, "BTC", "1h", DAY0 + 5 * HOUR, DAY0 + 10 * HOUR)  # 05:00 .. 09:00
    pd.testing.assert_frame_equal(rows(first), expected)
    pd.testing.assert_frame_equal(stored(data_root, "hyperliquid_perps", "BTC", "1h"), expected)
    assert not any(b.last for b in first)
    # The 10:00 bar is in progress on the server: due at its close, 11:00, plus the publishing delay.
    assert feed.next_due_ms() == DAY0 + 11 * HOUR + DELAY_MS
    asked = len(server.requests_of("candleSnapshot"))
    assert feed.poll(clock.now_ms() + 60_000) == []
    assert len(server.requests_of("candleSnapshot")) == asked  # nothing could have closed: no request

    server.now_ms = clock.now = DAY0 + 11 * HOUR + DELAY_MS
    second = feed.poll(clock.now_ms())
    pd.testing.assert_frame_equal(rows(second), expected_frame(server, "BTC", "1h", DAY0 + 10 * HOUR, DAY0 + 11 * HOUR))
    assert feed.next_due_ms() == DAY0 + 12 * HOUR + DELAY_MS
    pd.testing.assert_frame_equal(
        stored(data_root, "hyperliquid_perps", "BTC", "1h"),
        expected_frame(server, "BTC", "1h", DAY0 + 5 * HOUR, DAY0 + 11 * HOUR),
    )
    feed.close()


def test_dropped_candles_are_fetched_again_and_delivered_in_order(server: ReplayServer, data_root: Path) -> None:
    server.queue("candleSnapshot", Scripted(200, candles_body(hours(5, 7, 9)), JSON))  # 06:00 and 08:00 dropped
    feed = hyperliquid_feed(server.url, data_root, ManualClock(NOW))
    delivered = feed.poll(NOW)
    expected = expected_frame(server, "BTC", "1h", DAY0 + 5 * HOUR, DAY0 + 10 * HOUR)
    pd.testing.assert_frame_equal(rows(delivered), expected)
    pd.testing.assert_frame_equal(stored(data_root, "hyperliquid_perps", "BTC", "1h"), expected)
    # One more request, for the window from the first hole to the end of the last, after the page that lacked them.
    windows = [(r.body["req"]["startTime"], r.body["req"]["endTime"]) for r in server.requests_of("candleSnapshot")]
    assert windows == [(DAY0 + 5 * HOUR, DAY0 + 10 * HOUR - 1), (DAY0 + 6 * HOUR, DAY0 + 9 * HOUR - 1)]
    assert feed.next_due_ms() == DAY0 + 11 * HOUR + DELAY_MS


def test_a_repeated_candle_is_delivered_once(server: ReplayServer, data_root: Path) -> None:
    # Twice in one answer, then again in the next poll's answer (before the window asked for).
    server.queue("candleSnapshot", Scripted(200, candles_body(hours(5, 6, 7, 7, 8, 9, 9)), JSON))
    clock = ManualClock(NOW)
    feed = hyperliquid_feed(server.url, data_root, clock)
    first = feed.poll(NOW)
    server.now_ms = clock.now = DAY0 + 11 * HOUR + DELAY_MS
    server.queue("candleSnapshot", Scripted(200, candles_body(hours(8, 9, 10)), JSON))
    second = feed.poll(clock.now)
    assert [b.time_ms for b in first + second] == hours(5, 6, 7, 8, 9, 10)
    pd.testing.assert_frame_equal(
        rows(first + second), expected_frame(server, "BTC", "1h", DAY0 + 5 * HOUR, DAY0 + 11 * HOUR)
    )


def test_a_late_candle_is_polled_again_with_growing_pauses(server: ReplayServer, data_root: Path) -> None:
    # The venue has not published 09:00 yet: the first poll's page lacks it (and the downloader's follow-up request
    # for the rest of the window gets nothing), the second poll gets nothing, the third gets it.
    empty = Scripted(200, "[]", JSON)
    server.queue("candleSnapshot", Scripted(200, candles_body(hours(5, 6, 7, 8)), JSON), empty, empty)
    feed = hyperliquid_feed(server.url, data_root, ManualClock(NOW))
    assert [b.time_ms for b in feed.poll(NOW)] == hours(5, 6, 7, 8)
    assert feed.next_due_ms() == NOW + 1_000
    assert feed.poll(NOW + 1_000) == []
    assert feed.next_due_ms() == NOW + 1_000 + 2_000
    late = feed.poll(NOW + 3_000)
    pd.testing.assert_frame_equal(rows(late), expected_frame(server, "BTC", "1h", DAY0 + 9 * HOUR, DAY0 + 10 * HOUR))
    assert feed.next_due_ms() == DAY0 + 11 * HOUR + DELAY_MS  # back on the bar schedule
    starts = [r.body["req"]["startTime"] for r in server.requests_of("candleSnapshot")]
    assert starts == [DAY0 + 5 * HOUR] + [DAY0 + 9 * HOUR] * 3


def test_a_bar_the_venue_never_has_is_given_up_after_a_few_polls_with_a_warning(
    data_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ReplayServer(now_ms=NOW, gaps=((DAY0 + 7 * HOUR, DAY0 + 8 * HOUR),)) as srv:
        feed = hyperliquid_feed(srv.url, data_root, ManualClock(NOW))
        with caplog.at_level(logging.WARNING, logger="stratlab.live.feeds"):
            assert [b.time_ms for b in feed.poll(NOW)] == hours(5, 6)  # 08:00 and 09:00 wait for 07:00
            assert feed.poll(NOW + 1_000) == []
            assert feed.next_due_ms() == NOW + 3_000
            assert [b.time_ms for b in feed.poll(NOW + 3_000)] == hours(8, 9)  # third poll: given up
        assert feed.next_due_ms() == DAY0 + 11 * HOUR + DELAY_MS
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == [
            "hyperliquid_perps/BTC/1h: the venue lacks 1 bar(s) 2025-06-01 07:00 UTC -> 2025-06-01 08:00 UTC "
            "(asked 3 times); delivering on without them"
        ]
        # The store holds what the venue has: the same bars a backtest of this series reads.
        pd.testing.assert_frame_equal(
            stored(data_root, "hyperliquid_perps", "BTC", "1h"),
            expected_frame(srv, "BTC", "1h", DAY0 + 5 * HOUR, DAY0 + 10 * HOUR),
        )
        hole_asks = [r for r in srv.requests_of("candleSnapshot") if r.body["req"]["startTime"] == DAY0 + 7 * HOUR]
        assert len(hole_asks) == 3


def test_history_the_venue_does_not_keep_is_given_up_at_once_and_the_rest_delivered(
    data_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A runner restarted four days late on 1m bars; the venue keeps only its 10 most recent candles.
    with ReplayServer(now_ms=NOW, history_bars=10) as srv:
        feed = open_feed(
            "hyperliquid_perps", source="hyperliquid_perps", symbol="BTC", timeframe="1m", after_ms=NOW - 4 * DAY,
            until_ms=None, clock=ManualClock(NOW), settings=Settings(), data_root=data_root, base_url=srv.url,
            polling=FAST,
        )  # fmt: skip
        with caplog.at_level(logging.WARNING, logger="stratlab.live.feeds"):
            delivered = feed.poll(NOW)
        # 10:21 .. 10:29 closed, 10:30 in progress.
        expected = expected_frame(srv, "BTC", "1m", DAY0 + 10 * HOUR + 21 * MINUTE, DAY0 + 10 * HOUR + 30 * MINUTE)
        assert len(expected) == 9
        pd.testing.assert_frame_equal(rows(delivered), expected)
        # 4 days from 10:31 to 10:21 = 5,760 - 10 minutes; more than one request's 5,000: not asked again.
        assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
            "hyperliquid_perps/BTC/1m: the venue lacks 5,750 bar(s) 2025-05-28 10:31 UTC -> 2025-06-01 10:21 UTC "
            "(wider than one request); delivering on without them"
        ]
        assert len(srv.requests_of("candleSnapshot")) == 2  # the downloader's two windows, no more
        assert feed.next_due_ms() == NOW + MINUTE + DELAY_MS  # 10:30 closes at 10:31


def test_server_errors_do_not_raise_from_poll_and_the_feed_recovers(
    server: ReplayServer, data_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feed = hyperliquid_feed(server.url, data_root, ManualClock(NOW))
    server.queue("candleSnapshot", Scripted(503, "upstream busy"), Scripted(503, "upstream busy"))  # 1 try + 1 retry
    with caplog.at_level(logging.WARNING, logger="stratlab.live.feeds"):
        assert feed.poll(NOW) == []
    assert any("poll failed" in r.getMessage() and "503" in r.getMessage() for r in caplog.records)
    assert feed.next_due_ms() == NOW + 1_000
    recovered = feed.poll(NOW + 1_000)
    pd.testing.assert_frame_equal(
        rows(recovered), expected_frame(server, "BTC", "1h", DAY0 + 5 * HOUR, DAY0 + 10 * HOUR)
    )
    assert [r.status for r in server.requests_of("candleSnapshot")] == [503, 503, 200]


def test_a_refused_connection_does_not_raise_and_the_feed_catches_up_when_the_server_is_back(data_root: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    feed = hyperliquid_feed(url, data_root, ManualClock(NOW))  # the venue check is tried again later
    assert feed.poll(NOW) == []
    assert feed.next_due_ms() == NOW + 1_000
    assert feed.poll(NOW + 1_000) == []
    assert feed.next_due_ms() == NOW + 1_000 + 2_000
    with ReplayServerOnPort(port, now_ms=NOW) as srv:
        caught_up = feed.poll(NOW + 3_000)
        pd.testing.assert_frame_equal(
            rows(caught_up), expected_frame(srv, "BTC", "1h", DAY0 + 5 * HOUR, DAY0 + 10 * HOUR)
        )
        assert [r.kind for r in srv.requests][:2] == ["meta", "candleSnapshot"]
    assert feed.next_due_ms() == DAY0 + 11 * HOUR + DELAY_MS


def test_a_finite_live_window_ends_with_the_last_flag(server: ReplayServer, data_root: Path) -> None:
    feed = hyperliquid_feed(server.url, data_root, ManualClock(NOW), until_ms=DAY0 + 8 * HOUR)
    assert [(b.time_ms, b.last) for b in feed.poll(NOW)] == [(t, t == DAY0 + 7 * HOUR) for t in hours(5, 6, 7)]
    assert feed.next_due_ms() is None
    assert feed.poll(NOW + HOUR) == []


def test_configuration_errors_raise_one_line(server: ReplayServer, data_root: Path) -> None:
    common = dict(after_ms=AFTER, until_ms=None, clock=ManualClock(NOW), settings=Settings(), data_root=data_root)
    with pytest.raises(DownloadError, match=r"unknown coin 'BTCX'.*did you mean BTC") as err:
        open_feed("hyperliquid_perps", source="hyperliquid_perps", symbol="BTCX", timeframe="1h",
                  base_url=server.url, **common)  # type: ignore[arg-type]  # fmt: skip
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="timeframe: unknown '2m'"):
        open_feed("hyperliquid_perps", source="hyperliquid_perps", symbol="BTC", timeframe="2m",
                  base_url=server.url, **common)  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ConfigError, match="under source 'hyperliquid_perps', not 'demo'"):
        open_feed("hyperliquid_perps", source="demo", symbol="BTC", timeframe="1h",
                  base_url=server.url, **common)  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ConfigError, match="unknown kind 'websocket'"):
        open_feed("websocket", source="demo", symbol="BTC", timeframe="1h", **common)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no bar opens after 2025-06-01 04:00 UTC and before 2025-06-01 05:00 UTC"):
        open_feed("hyperliquid_perps", source="hyperliquid_perps", symbol="BTC", timeframe="1h", base_url=server.url,
                  **{**common, "until_ms": DAY0 + 5 * HOUR})  # type: ignore[arg-type]  # fmt: skip
    assert [r.kind for r in server.requests] == ["meta"]  # no candle was asked for


# ccxt_binance --------------------------------------------------------------------------------------------------


def test_ccxt_binance_feed_delivers_closed_klines_and_stores_them(server: ReplayServer, data_root: Path) -> None:
    clock = ManualClock(NOW)
    feed = open_feed(
        "ccxt_binance",
        source="ccxt_binance",
        symbol="BTC-USDT",  # the store name; the venue's symbol is BTC/USDT
        timeframe="1h",
        after_ms=AFTER,
        until_ms=None,
        clock=clock,
        settings=Settings(),
        data_root=data_root,
        base_url=server.url,
        polling=FAST,
    )
    assert (feed.source, feed.symbol) == ("ccxt_binance", "BTC-USDT")
    first = feed.poll(NOW)
    server.now_ms = clock.now = DAY0 + 11 * HOUR + DELAY_MS
    second = feed.poll(clock.now)
    assert [b.time_ms for b in second] == [DAY0 + 10 * HOUR]
    # Binance klines carry 8-decimal strings of the same market the Hyperliquid endpoint serves.
    expected = expected_frame(server, "BTC", "1h", DAY0 + 5 * HOUR, DAY0 + 11 * HOUR)
    pd.testing.assert_frame_equal(rows(first + second), expected)
    pd.testing.assert_frame_equal(stored(data_root, "ccxt_binance", "BTC-USDT", "1h"), expected)
    assert {r.query["symbol"] for r in server.requests_of("klines")} == {"BTCUSDT"}
    feed.close()
