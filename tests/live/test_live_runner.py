"""The runner with the live broker: books mirrored to the local Hyperliquid trading API through real ccxt code.

The bars are replayed (a venue feed would need real time to pass); the orders go to ``tests/live/exchange_server.py``,
which keeps the account's position from the orders it fills. The server's record is the independent reference:
its position must follow the books' positions bar after bar, every client order id must reach it once, exits must
be reduce-only, and a runner killed at random moments must still leave exactly one order per decision.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from stratlab.errors import DataError
from stratlab.live.alerts import NotifyMode
from stratlab.live.exchange import ExchangeBroker, OrderIntent, client_order_id
from stratlab.live.mirror import VenueMirror, legs
from stratlab.live.runner import RunEnd
from stratlab.live.spec import BrokerKind, RunnerSpec
from stratlab.live.start import StartOptions, new_spec
from stratlab.live.state import StateStore
from stratlab.settings import Settings
from tests.conftest import run_cli
from tests.live.exchange_server import ExchangeServer
from tests.live.lives import forked_life, read_state, run_quietly
from tests.live.manifests import write_manifest

WALLET = "0x" + "cd" * 20
PRIVATE_KEY = "0x" + "22" * 32  # a throwaway key: the server cannot check signatures, ccxt still signs with it
# A day of 5m bars on which the price stays within the 5 % band ccxt puts around a market order's reference price,
# so every order fills at the server's mark.
DAY = "2025-03-03"


def live_spec(manifest: Path, server: ExchangeServer) -> RunnerSpec:
    dry = new_spec(
        StartOptions(
            manifests=(manifest,), notify=NotifyMode.NONE, broker=BrokerKind.LIVE, dry_run=True,
            venue="hyperliquid_perps", base_url=server.url, start=DAY, end=DAY,
        )
    )  # fmt: skip
    # Real orders on replayed bars: refused to users (see test_the_cli_refuses...), composed here on purpose.
    return dry.model_copy(update={"dry_run": False})


def mirror_factory(spec: RunnerSpec, store: StateStore) -> VenueMirror:
    broker = ExchangeBroker(
        "hyperliquid_perps", settings=Settings(_env_file=None), base_url=spec.base_url,  # type: ignore[call-arg]
        wallet_address=WALLET, private_key=PRIVATE_KEY, enable_rate_limit=False,
    )  # fmt: skip
    return VenueMirror(broker, store)


def trade(state_dir: Path, spec: RunnerSpec | None, data_root: Path) -> RunEnd:
    return run_quietly(state_dir, spec, data_root, mirror_factory=mirror_factory)


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with ExchangeServer(usdc=1_000_000.0) as srv:
        yield srv


@pytest.fixture(scope="module")
def manifest(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("manifest") / "champion.json"
    return write_manifest(path, demo_root, start="2025-03-01", end=DAY, params={"fast": 5, "slow": 20})


def mark_at(server: ExchangeServer, demo_root: Path) -> None:
    from stratlab.data.loader import load_ohlcv

    candles = load_ohlcv("demo", "BTC", "5m", DAY, DAY, data_root=demo_root)
    server.set_mark("BTC", float(candles.close.mean()))
    assert candles.high.max() < candles.close.mean() * 1.04 and candles.low.min() > candles.close.mean() * 0.96


def test_the_venue_follows_the_books_with_one_order_per_decision(
    server: ExchangeServer, manifest: Path, demo_root: Path, tmp_path: Path
) -> None:
    mark_at(server, demo_root)
    end = trade(tmp_path / "live", live_spec(manifest, server), demo_root)
    assert end.status == "finished"
    orders = read_state(tmp_path / "live", "select * from orders order by created_ms")
    sent = server.orders_sent()
    assert len(orders) > 10 and (orders["status"] == "filled").all()
    assert len(sent) == len(orders)
    assert sorted(o["c"] for o in sent) == sorted(orders["client_id"])  # each id once, the ones the runner chose
    # Exits are reduce-only; an order that reverses is split into a reduce-only close and an open.
    assert {bool(o["r"]) for o in sent} == {True, False}
    # Walking the orders as the venue filled them: each reduce-only one shrinks the position, never opens the other
    # side; each other one opens or grows it.
    held = Decimal(0)
    for order in sent:
        after = held + Decimal(order["s"]) * (1 if order["b"] else -1)
        if order["r"]:
            assert abs(after) < abs(held) and after * held >= 0, order
        else:
            assert abs(after) > abs(held), order
        held = after
    # The venue's position follows the books: after the last bar (the end of the data closes the book) it is flat,
    # and the signed sum of the filled orders equals it.
    signed = sum(Decimal(o["s"]) * (1 if o["b"] else -1) for o in sent)
    assert server.position("BTC") == signed == 0
    # At every bar where the venue position changed, it equals the position the book's order led to at the open.
    equity = read_state(tmp_path / "live", "select time_ms, position from equity order by time_ms")
    by_bar = orders.assign(signed=orders["amount"].where(orders["side"] == "buy", -orders["amount"]))
    venue_after = by_bar.groupby("bar_ms")["signed"].sum().cumsum()
    book_next = equity.set_index("time_ms")["position"].shift(-1).dropna()
    compared = venue_after.index.intersection(book_next.index)
    assert len(compared) > 5
    pd.testing.assert_series_equal(
        venue_after.loc[compared].round(4), book_next.loc[compared].round(4), check_names=False, check_dtype=False
    )


def test_on_start_a_resting_order_the_runner_did_not_make_is_refused(
    server: ExchangeServer, manifest: Path, demo_root: Path, tmp_path: Path
) -> None:
    mark_at(server, demo_root)
    server.add_resting_order("BTC", "buy", "0.01", "50000")
    with pytest.raises(DataError, match=r"1 resting order.*cancel them on the venue before starting"):
        trade(tmp_path / "a", live_spec(manifest, server), demo_root)
    assert server.orders_sent() == []


def test_on_start_a_position_the_books_do_not_hold_is_refused(
    server: ExchangeServer, manifest: Path, demo_root: Path, tmp_path: Path
) -> None:
    server.set_mark("BTC", 90_000.0)
    spec = live_spec(manifest, server)
    broker = mirror_factory(spec, StateStore.create(tmp_path / "other", spec)).broker
    by_hand = OrderIntent("BTC/USDC:USDC", "buy", 0.01, False, client_order_id("by hand", 1), 90_000.0)
    filled = broker.place(by_hand)
    assert filled.status == "filled", filled.reason
    with pytest.raises(DataError, match=r"the account holds long 0\.01 BTC/USDC:USDC, the runner's books flat"):
        trade(tmp_path / "b", spec, demo_root)
    assert len(server.orders_sent()) == 1


def test_a_rejected_order_is_reported_and_never_sent_again(
    server: ExchangeServer, manifest: Path, demo_root: Path, tmp_path: Path
) -> None:
    mark_at(server, demo_root)
    server.reject_next_order("Insufficient margin to place order.")
    with pytest.raises(DataError, match="rejected: rejected by the venue: Insufficient margin"):
        trade(tmp_path / "r", live_spec(manifest, server), demo_root)
    # The runner stopped on the bar of the reject, with that bar committed and the venue as it was.
    assert read_state(tmp_path / "r", "select status from runner")["status"][0] == "failed"
    assert server.position("BTC") == 0
    orders = read_state(tmp_path / "r", "select * from orders order by created_ms")
    rejected = orders[orders["status"] == "rejected"]
    assert len(rejected) == 1 and "Insufficient margin" in rejected["reason"].iloc[0]
    assert [o["c"] for o in server.orders_sent()] == [rejected["client_id"].iloc[0]]  # sent once, nothing after
    events = read_state(tmp_path / "r", "select text from events where level = 'error'")
    assert events["text"].str.contains("rejected").any()


def _life(state_dir: Path, spec: RunnerSpec | None, data_root: Path) -> multiprocessing.process.BaseProcess:
    return forked_life(state_dir, spec, data_root, mirror_factory=mirror_factory)


def test_killed_while_trading_live_no_order_is_ever_doubled(
    server: ExchangeServer, manifest: Path, demo_root: Path, tmp_path: Path
) -> None:
    mark_at(server, demo_root)
    spec = live_spec(manifest, server)
    trade(tmp_path / "warm", spec, demo_root)  # loads kernels and modules here, once (see test_kill_resume.py)
    reference = read_state(tmp_path / "warm", "select bar_ms, side, amount from orders order by created_ms")
    warm_orders = len(server.orders_sent())
    state = tmp_path / "killed"
    rng = random.Random(11)
    kills = 0
    first = True
    while kills < 6:
        process = _life(state, spec if first else None, demo_root)
        time.sleep(rng.uniform(0.05, 0.6))
        if not process.is_alive():
            break
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        process.join()
        kills += 1
        first = first and not (state / "state.db").exists()
    last = _life(state, None, demo_root)
    last.join(timeout=120)
    assert last.exitcode == 0
    assert kills >= 4
    sent = server.orders_sent()[warm_orders:]
    cloids = [o["c"] for o in sent]
    assert len(cloids) == len(set(cloids)), "an order was sent twice"
    orders = read_state(state, "select bar_ms, side, amount, status, client_id from orders order by created_ms")
    # An order committed as "sending" that never reached the venue (killed first) is found missing on restart and
    # kept as "not_sent"; every other is filled, once. The fills are the unbroken runner's decisions.
    assert set(orders["status"]) <= {"filled", "not_sent"}
    filled = orders[orders["status"] == "filled"].reset_index(drop=True)
    assert sorted(filled["client_id"]) == sorted(cloids)
    pd.testing.assert_frame_equal(filled[["bar_ms", "side", "amount"]], reference, check_exact=False, rtol=1e-9)
    assert server.position("BTC") == 0


def test_the_cli_refuses_real_orders_on_a_replay_and_without_confirmation(manifest: Path, tmp_path: Path) -> None:
    base = ["paper", "start", "--manifest", str(manifest), "--state-dir", str(tmp_path / "x"), "--broker", "live"]
    replay = run_cli(*base)
    assert replay.returncode == 1 and "real orders need a venue feed" in replay.stderr
    unconfirmed = run_cli(*base, "--feed", "hyperliquid_perps")
    assert unconfirmed.returncode == 1 and "need --live" in unconfirmed.stderr
    typed = run_cli(*base, "--feed", "hyperliquid_perps", "--live")
    assert typed.returncode == 1 and "STRATLAB_LIVE_CONFIRM=hyperliquid_perps" in typed.stderr
    for result in (replay, unconfirmed, typed):
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_legs_reduce_first_and_never_cross_zero_in_one_order() -> None:
    assert legs(0.0, 1.0) == [("buy", 1.0, False)]
    assert legs(1.0, 0.0) == [("sell", 1.0, True)]
    assert legs(1.0, -2.0) == [("sell", 1.0, True), ("sell", 2.0, False)]
    assert legs(-1.0, -0.25) == [("buy", 0.75, True)]
    assert legs(0.5, 0.75) == [("buy", 0.25, False)]
    assert legs(1.0, 1.0) == []


def test_on_start_an_account_smaller_than_the_books_capital_is_refused(
    manifest: Path, demo_root: Path, tmp_path: Path
) -> None:
    with ExchangeServer(usdc=1_000.0) as small:
        mark_at(small, demo_root)
        with pytest.raises(DataError, match=r"the account holds 1,000\.00 USDC, the books trade with 10,000\.00"):
            trade(tmp_path / "small", live_spec(manifest, small), demo_root)
        assert small.orders_sent() == []


def test_a_dry_run_on_a_replay_logs_the_exact_orders_and_sends_none(
    server: ExchangeServer, manifest: Path, demo_root: Path, tmp_path: Path
) -> None:
    mark_at(server, demo_root)
    args = ["paper", "start", "--manifest", str(manifest), "--state-dir", str(tmp_path / "dry"), "--broker", "live",
            "--dry-run", "--venue", "hyperliquid_perps", "--base-url", server.url, "--from", DAY, "--to", DAY,
            "--notify", "none", "--data-root", str(demo_root)]  # fmt: skip
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "fees: Hyperliquid builder fee off" in result.stdout
    assert server.exchange_requests() == []  # nothing sent
    orders = read_state(tmp_path / "dry", "select side, amount, status, reason, reduce_only from orders")
    assert len(orders) > 10 and (orders["status"] == "dry_run").all()
    assert orders["reason"].str.contains("would send").all()
    assert orders["reason"].str.contains("BTC/USDC:USDC").all()
    # The logged legs take the (imaginary) venue position back to flat at the end, reduce-only for every exit.
    signed = orders["amount"].where(orders["side"] == "buy", -orders["amount"])
    assert abs(signed.sum()) < 1e-9
    assert orders["reduce_only"].any() and (~orders["reduce_only"].astype(bool)).any()
