"""Retry policy, Retry-After parsing, the retry loop and the token bucket, on a clock the test controls."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from stratlab.data.sources.http_retry import (
    RetryEvent,
    RetryPolicy,
    TokenBucket,
    TransientError,
    is_retryable_status,
    one_line,
    parse_retry_after,
    with_retries,
)
from stratlab.errors import DownloadError


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0, jitter=0.0)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_only_lengthens_and_never_passes_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=5.0, jitter=0.5)
    rng = random.Random(3)
    delays = [policy.delay_s(2, rng=rng) for _ in range(200)]
    assert all(2.0 <= d <= 3.0 for d in delays)
    assert max(delays) - min(delays) > 0.5  # it does spread
    assert all(policy.delay_s(4, rng=rng) == 5.0 for _ in range(20))  # 8 s backoff, capped


def test_retry_after_replaces_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(base_delay_s=10.0, jitter=0.0, max_retry_after_s=30.0)
    assert policy.delay_s(1, retry_after_s=2.0) == 2.0
    assert policy.delay_s(1, retry_after_s=600.0) == 30.0
    assert policy.delay_s(1, retry_after_s=-1.0) == 0.0


def test_policy_refuses_negative_settings() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="delays"):
        RetryPolicy(base_delay_s=-1)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), (" 0 ", 0.0), ("1.5", 1.5), ("-4", 0.0), ("soon", None), (None, None), ("nan", None)],
)
def test_retry_after_in_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=42)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    earlier = (now - timedelta(seconds=42)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=now) == 42.0
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (429, True),
        (408, True),
        (500, True),
        (503, True),
        (599, True),
        (400, False),
        (401, False),
        (404, False),
        (422, False),
        (200, False),
    ],
)
def test_which_statuses_are_retried(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


def test_with_retries_sleeps_between_attempts_and_returns_the_first_success() -> None:
    clock = FakeClock()
    attempts: list[int] = []
    events: list[RetryEvent] = []

    def flaky() -> str:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise TransientError("GET x: HTTP 503")
        if len(attempts) == 2:
            raise TransientError("GET x: HTTP 429", retry_after_s=7.0)
        return "ok"

    policy = RetryPolicy(max_retries=5, base_delay_s=0.25, jitter=0.0)
    assert with_retries(flaky, policy, sleep=clock.sleep, on_retry=events.append) == "ok"
    assert len(attempts) == 3
    assert clock.sleeps == [0.25, 7.0]
    assert [(e.retry_number, e.delay_s, e.error.message) for e in events] == [
        (1, 0.25, "GET x: HTTP 503"),
        (2, 7.0, "GET x: HTTP 429"),
    ]


def test_with_retries_gives_up_with_one_line_after_max_retries() -> None:
    clock = FakeClock()
    calls: list[None] = []

    def down() -> None:
        calls.append(None)
        raise TransientError("src: POST http://h/info: HTTP 503 Service Unavailable")

    with pytest.raises(DownloadError) as caught:
        with_retries(down, RetryPolicy(max_retries=2, base_delay_s=1.0, jitter=0.0), sleep=clock.sleep)
    assert len(calls) == 3 and clock.sleeps == [1.0, 2.0]
    assert str(caught.value) == "src: POST http://h/info: HTTP 503 Service Unavailable (gave up after 3 attempts)"


def test_with_retries_lets_other_errors_through_at_once() -> None:
    clock = FakeClock()

    def broken() -> None:
        raise DownloadError("bad answer")

    with pytest.raises(DownloadError, match=r"^bad answer$"):
        with_retries(broken, RetryPolicy(), sleep=clock.sleep)
    assert clock.sleeps == []


def test_one_line_flattens_and_cuts() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("x" * 300, limit=10) == "xxxxxxx..."


def test_bucket_allows_a_burst_then_paces_to_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute=600, capacity=100, clock=clock, sleep=clock.sleep)  # 10 per second
    for _ in range(5):
        assert bucket.acquire(20) == 0.0
    assert bucket.available == pytest.approx(0.0)
    assert bucket.acquire(20) == pytest.approx(2.0)
    assert clock.sleeps == [pytest.approx(2.0)]
    assert bucket.spent == 120


def test_bucket_charges_after_the_fact_and_the_next_acquire_pays() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute=1200, clock=clock, sleep=clock.sleep)  # 20 per second, burst 1200
    bucket.acquire(20)
    bucket.charge(1500)  # a big answer: the balance goes below zero
    assert bucket.available == pytest.approx(-320.0)
    assert bucket.acquire(20) == pytest.approx(340 / 20)
    assert bucket.spent == 1540


def test_bucket_refills_with_time_up_to_its_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute=60, capacity=5, clock=clock, sleep=clock.sleep)
    bucket.acquire(5)
    clock.now += 2.0
    assert bucket.available == pytest.approx(2.0)
    clock.now += 100.0
    assert bucket.available == pytest.approx(5.0)


def test_bucket_weight_above_capacity_waits_for_a_full_bucket_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute=60, capacity=10, clock=clock, sleep=clock.sleep)
    bucket.acquire(10)
    assert bucket.acquire(25) == pytest.approx(10.0)
    assert bucket.available == pytest.approx(-15.0)


def test_bucket_refuses_a_zero_rate() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        TokenBucket(per_minute=0)
