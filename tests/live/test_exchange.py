"""The live broker end to end: real ccxt Hyperliquid code (signing included) against the local exchange server.

One server and one broker serve the whole module (markets are loaded once); each test trades its own coin or
measures what the server received during its own calls, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest

from stratlab.errors import ConfigError
from stratlab.live.exchange import ExchangeBroker, OrderIntent, client_order_id
from stratlab.settings import Settings
from tests.data.replay_server import ReplayServer
from tests.live.exchange_server import DUPLICATE_CLOID_ERROR, TAKER_FEE_RATE, ExchangeServer

WALLET = "0x" + "ab" * 20
# A throwaway secp256k1 key: the server cannot check signatures, ccxt still signs every action with it.
PRIVATE_KEY = "0x" + "11" * 32
BTC = "BTC/USDC:USDC"
ETH = "ETH/USDC:USDC"
SOL = "SOL/USDC:USDC"
CLIENT_TIMEOUT_S = 0.4
LATE_ANSWER_S = 0.8


def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def server() -> Iterator[ExchangeServer]:
    with ExchangeServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def broker(server: ExchangeServer) -> Iterator[ExchangeBroker]:
    with ExchangeBroker(
        "hyperliquid_perps",
        settings=settings(),
        base_url=server.url,
        wallet_address=WALLET,
        private_key=PRIVATE_KEY,
        timeout_s=CLIENT_TIMEOUT_S,
        enable_rate_limit=False,
    ) as live:
        yield live


def intent(symbol: str, side: str, amount: float, price: float, cid: str, *, reduce_only: bool = False) -> OrderIntent:
    return OrderIntent(symbol, side, amount, reduce_only, cid, price)  # type: ignore[arg-type]


def test_venue_symbol_maps_a_coin_to_its_perpetual(broker: ExchangeBroker) -> None:
    assert broker.venue_symbol("BTC") == BTC
    assert broker.venue_symbol("kPEPE") == "KPEPE/USDC:USDC"
    with pytest.raises(ConfigError, match="no market for store symbol 'BTCX'"):
        broker.venue_symbol("BTCX")


def test_buy_then_reduce_only_sell_returns_the_position_to_zero(server: ExchangeServer, broker: ExchangeBroker) -> None:
    server.set_mark("BTC", 94_533.0)
    bought = broker.place(intent(BTC, "buy", 0.002, 94_533.0, client_order_id("fills", 1)))
    assert bought.status == "filled", bought.reason
    assert bought.amount == pytest.approx(0.002)
    assert bought.price == pytest.approx(94_533.0)
    # Taker fee by hand: 0.002 BTC * 94,533 * 0.045 %.
    assert bought.fee == pytest.approx(0.002 * 94_533.0 * 0.00045)
    assert server.position("BTC") == Decimal("0.002")
    assert broker.positions([BTC, ETH]) == {BTC: pytest.approx(0.002), ETH: 0.0}

    server.set_mark("BTC", 95_000.0)
    sold = broker.place(intent(BTC, "sell", 0.002, 95_000.0, client_order_id("fills", 2), reduce_only=True))
    assert sold.status == "filled", sold.reason
    assert sold.price == pytest.approx(95_000.0)
    last_order = server.orders_sent()[-1]
    assert last_order["r"] is True and last_order["b"] is False and last_order["s"] == "0.002"
    assert server.position("BTC") == 0
    assert broker.positions([BTC]) == {BTC: 0.0}


def test_amount_and_price_are_rounded_to_the_venue_precision_before_sending(
    server: ExchangeServer, broker: ExchangeBroker
) -> None:
    server.set_mark("ETH", 3_332.5)
    outcome = broker.place(intent(ETH, "buy", 0.123456789, 3_332.5, client_order_id("precision", 1)))
    assert outcome.status == "filled", outcome.reason
    wire = server.orders_sent()[-1]
    # ETH has szDecimals 4: 0.123456789 -> 0.1235. The IOC limit is 3,332.5 * 1.05 = 3,499.125, at 5 significant
    # figures 3,499.1.
    assert wire["s"] == "0.1235"
    assert wire["p"] == "3499.1"
    assert wire["t"] == {"limit": {"tif": "Ioc"}}
    assert server.position("ETH") == Decimal("0.1235")
    closed = broker.place(intent(ETH, "sell", 0.1235, 3_332.5, client_order_id("precision", 2), reduce_only=True))
    assert closed.status == "filled" and server.orders_sent()[-1]["p"] == "3165.9"  # 3,332.5 * 0.95 = 3,165.875
    assert server.position("ETH") == 0


def test_an_order_below_the_minimum_notional_is_rejected_without_a_request(
    server: ExchangeServer, broker: ExchangeBroker
) -> None:
    broker.venue_symbol("SOL")  # markets loaded before counting
    before = len(server.requests)
    outcome = broker.place(intent(SOL, "buy", 0.05, 150.0, client_order_id("small", 1)))  # 7.50 USDC
    assert outcome.status == "rejected"
    assert outcome.reason.endswith("below the venue's minimum notional of 10 USDC")
    assert "7.50 USDC" in outcome.reason
    assert len(server.requests) == before


def test_an_amount_that_rounds_to_zero_is_rejected_without_a_request(
    server: ExchangeServer, broker: ExchangeBroker
) -> None:
    broker.venue_symbol("BTC")
    before = len(server.requests)
    outcome = broker.place(intent(BTC, "buy", 0.000004, 94_533.0, client_order_id("dust", 1)))
    assert outcome.status == "rejected" and "rounds to zero" in outcome.reason
    assert len(server.requests) == before


def test_a_venue_reject_is_reported_with_its_message_and_not_retried(
    server: ExchangeServer, broker: ExchangeBroker
) -> None:
    server.set_mark("SOL", 150.0)
    orders_before = len(server.orders_sent())
    server.reject_next_order("Insufficient margin to place order. asset=2")
    outcome = broker.place(intent(SOL, "buy", 1.0, 150.0, client_order_id("reject", 1)))
    assert outcome.status == "rejected"
    assert outcome.reason == "rejected by the venue: Insufficient margin to place order. asset=2"
    assert len(server.orders_sent()) == orders_before + 1
    assert server.position("SOL") == 0


def test_a_lost_answer_is_looked_up_by_client_id_and_never_sent_again(
    server: ExchangeServer, broker: ExchangeBroker
) -> None:
    """The order reached the venue and filled, but its answer came after the client's timeout."""
    server.set_mark("SOL", 150.0)
    cid = client_order_id("timeout", "arrived")
    orders_before = len(server.orders_sent())
    start = server.position("SOL")
    server.delay_next_order(LATE_ANSWER_S, process=True)
    outcome = broker.place(intent(SOL, "buy", 1.0, 150.0, cid))
    assert outcome.status == "filled", outcome.reason
    assert outcome.amount == pytest.approx(1.0) and outcome.price == pytest.approx(150.0)
    assert len(server.orders_sent()) == orders_before + 1
    assert len(server.orders_with_cloid(cid)) == 1
    assert server.position("SOL") == start + 1
    statuses = [r.body["oid"] for r in server.requests_of("orderStatus")]
    assert cid in statuses


def test_a_request_that_never_arrived_is_sent_once_more_under_the_same_client_id(
    server: ExchangeServer, broker: ExchangeBroker
) -> None:
    server.set_mark("SOL", 150.0)
    cid = client_order_id("timeout", "lost")
    orders_before = len(server.orders_sent())
    start = server.position("SOL")
    server.delay_next_order(LATE_ANSWER_S, process=False)
    outcome = broker.place(intent(SOL, "buy", 1.0, 150.0, cid))
    assert outcome.status == "filled", outcome.reason
    sent = server.orders_sent()[orders_before:]
    assert [o["c"] for o in sent] == [cid, cid]
    assert len(server.orders_with_cloid(cid)) == 1
    assert server.position("SOL") == start + 1


def test_placing_the_same_client_id_twice_trades_once(server: ExchangeServer, broker: ExchangeBroker) -> None:
    """A runner that crashed after sending and places the same decision again: the venue refuses the cloid, and
    the broker reports the first order's fill instead of a reject."""
    server.set_mark("SOL", 150.0)
    cid = client_order_id("twice", 1)
    start = server.position("SOL")
    first = broker.place(intent(SOL, "sell", 1.0, 150.0, cid))
    again = broker.place(intent(SOL, "sell", 1.0, 150.0, cid))
    assert first.status == "filled" and again.status == "filled"
    assert DUPLICATE_CLOID_ERROR in again.reason and "already placed" in again.reason
    assert again.amount == pytest.approx(1.0)
    assert len(server.orders_with_cloid(cid)) == 1
    assert server.position("SOL") == start - 1


def test_find_order_reports_a_fill_and_none_for_an_unknown_client_id(
    server: ExchangeServer, broker: ExchangeBroker
) -> None:
    server.set_mark("SOL", 151.0)
    cid = client_order_id("find", 1)
    broker.place(intent(SOL, "buy", 0.5, 151.0, cid))
    found = broker.find_order(SOL, cid)
    assert found is not None and found.status == "filled"
    fills = server.fills_of(server.orders_with_cloid(cid)[0].oid)
    assert found.amount == pytest.approx(0.5) and found.price == pytest.approx(float(fills[0]["px"]))
    assert found.fee == pytest.approx(float(Decimal("0.5") * Decimal("151") * TAKER_FEE_RATE))
    assert broker.find_order(SOL, client_order_id("find", "never placed")) is None


def test_orders_carry_no_builder_and_are_signed(server: ExchangeServer, broker: ExchangeBroker) -> None:
    server.set_mark("BTC", 94_533.0)
    broker.place(intent(BTC, "buy", 0.0002, 94_533.0, client_order_id("builder", 1)))
    broker.place(intent(BTC, "sell", 0.0002, 94_533.0, client_order_id("builder", 2), reduce_only=True))
    exchange_calls = server.exchange_requests()
    assert exchange_calls, "no order reached the server"
    # ccxt would approve its builder and set a referrer on the account first: neither action was sent.
    assert {r.kind for r in exchange_calls} == {"order"}
    for request in exchange_calls:
        assert "builder" not in request.body["action"]
        assert isinstance(request.body["nonce"], int) and request.body["nonce"] > 0
        signature = request.body["signature"]
        assert re.fullmatch(r"0x[0-9a-f]{64}", signature["r"]) and re.fullmatch(r"0x[0-9a-f]{64}", signature["s"])
        assert signature["v"] in (27, 28)
    assert "builder fee off" in broker.fee_note


def test_open_orders_lists_resting_orders(server: ExchangeServer, broker: ExchangeBroker) -> None:
    cid = client_order_id("resting", 1)
    oid = server.add_resting_order("ETH", "B", "0.5", "3000.0", cloid=cid)
    orders = broker.open_orders([ETH, BTC])
    mine = [o for o in orders if o["id"] == str(oid)]
    assert len(mine) == 1
    assert mine[0]["symbol"] == ETH and mine[0]["side"] == "buy" and mine[0]["client_id"] == cid
    assert mine[0]["amount"] == pytest.approx(0.5) and mine[0]["price"] == pytest.approx(3000.0)
    assert broker.open_orders([SOL]) == []


def test_a_dry_run_sends_nothing_and_names_the_exact_order(server: ExchangeServer) -> None:
    cid = client_order_id("dry", 1)
    exchange_before = len(server.exchange_requests())
    with ExchangeBroker(
        "hyperliquid_perps", settings=settings(), base_url=server.url, dry_run=True, enable_rate_limit=False
    ) as dry:
        outcome = dry.place(intent(ETH, "sell", 0.123456789, 3_332.5, cid, reduce_only=True))
    assert outcome.status == "dry_run"
    assert outcome.amount == pytest.approx(0.1235) and outcome.price == pytest.approx(3332.5)
    assert "\n" not in outcome.reason
    for part in ("sell", "0.1235 ETH", ETH, "3332.5", "IOC limit 3165.9", "reduce-only yes", cid, "nothing sent"):
        assert part in outcome.reason, part
    assert len(server.exchange_requests()) == exchange_before


def test_trading_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="STRATLAB_HYPERLIQUID_PRIVATE_KEY"):
        ExchangeBroker("hyperliquid_perps", settings=settings())
    with pytest.raises(ConfigError, match="STRATLAB_CCXT_API_KEY"):
        ExchangeBroker("ccxt_binance", settings=settings())
    with pytest.raises(ConfigError, match="did you mean ccxt_binance"):
        ExchangeBroker("ccxt_binanse", settings=settings(), dry_run=True)


def test_client_order_id_is_a_stable_cloid_distinct_per_decision() -> None:
    cid = client_order_id("champion-a", 1_735_689_600_000, 3)
    assert re.fullmatch(r"0x[0-9a-f]{32}", cid)
    assert client_order_id("champion-a", 1_735_689_600_000, 3) == cid
    assert client_order_id("champion-a", "1735689600000", "3") == cid
    assert client_order_id("a", "bc") != client_order_id("ab", "c")
    ids = {client_order_id("champion-a", bar, leg) for bar in range(500) for leg in range(2)}
    assert len(ids) == 1000


def test_a_ccxt_exchange_dry_run_applies_its_lot_size_and_minimum_notional() -> None:
    """Binance spot through ccxt, its markets from the replay server's exchangeInfo: BTC/USDT has a 0.00001 BTC
    lot (LOT_SIZE stepSize) and a 5 USDT minimum notional (NOTIONAL filter)."""
    with (
        ReplayServer() as replay,
        ExchangeBroker(
            "ccxt_binance", settings=settings(), base_url=replay.url, dry_run=True, enable_rate_limit=False
        ) as dry,
    ):
        outcome = dry.place(intent("BTC/USDT", "buy", 0.0123456789, 30_000.0, client_order_id("binance", 1)))
        small = dry.place(intent("BTC/USDT", "buy", 0.0001, 30_000.0, client_order_id("binance", 2)))
        assert dry.venue_symbol("BTC-USDT") == "BTC/USDT"
        assert {r.path for r in replay.requests} == {"/api/v3/exchangeInfo"}
    assert outcome.status == "dry_run"
    assert outcome.amount == pytest.approx(0.01234)  # truncated to the lot: ccxt's default for exchanges
    assert "buy 0.01234 BTC on BTC/USDT" in outcome.reason and "IOC" not in outcome.reason
    assert small.status == "rejected" and small.reason.endswith("below the venue's minimum notional of 5 USDT")
