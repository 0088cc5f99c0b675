"""One contract suite over every registered strategy (parametrised by name, so a new strategy is covered as soon as it
registers): determinism, shape and dtype, causality, event semantics, warm-up, parameter sampling, direction."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from stratlab.data import Candles, parse_timeframe
from stratlab.data.demo import DEFAULT_SYMBOLS, DemoSpec, generate_demo_market
from stratlab.strategies import DIRECTION, StopDistances, Strategy, get_strategy, strategy_names
from stratlab.strategies.check import CheckPlan, check_history, other_future, parameter_sets

NAMES = strategy_names()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"
SAMPLED_SETS = 200
CUTS = (0.2, 0.45, 0.7, 0.95)


@pytest.fixture(scope="module")
def candles() -> Candles:
    """One month of the demo market's 5-minute BTC bars (8,928 bars): trends, ranges, jumps."""
    frame = generate_demo_market(DemoSpec(months=1, symbols=DEFAULT_SYMBOLS[:1]))["BTC"]
    return Candles.from_frame(frame, source="demo", symbol="BTC", timeframe="5m")


def param_sets(strategy: Strategy, count: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [strategy.space.defaults()] + [strategy.space.sample(rng) for _ in range(count)]


def assert_signal_contract(strategy: Strategy, candles: Candles, params: Mapping[str, object]) -> None:
    signals = strategy.signals(candles, params)
    assert signals.dtype == np.int8
    assert signals.shape == (len(candles),)
    assert set(np.unique(signals).tolist()) <= {-1, 0, 1}
    # Entry events: the same side never fires on two bars in a row.
    repeated = (signals[1:] != 0) & (signals[1:] == signals[:-1])
    assert not repeated.any(), f"{params}: repeated event at bar {int(np.argmax(repeated)) + 1}"
    warmup = strategy.warmup_bars(params)
    assert warmup >= 0
    assert not signals[:warmup].any(), f"{params}: signal at bar {int(np.argmax(signals != 0))} < warmup {warmup}"
    stops = strategy.stops(candles, params)
    if stops is not None:
        assert isinstance(stops, StopDistances)
        assert len(stops) == len(candles)
        for distances in (stops.take_profit, stops.stop_loss):
            assert distances.dtype == np.float64
            assert (np.isnan(distances) | (distances > 0)).all()


def assert_same_stops(a: StopDistances | None, b: StopDistances | None, upto: int) -> None:
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        np.testing.assert_array_equal(a.take_profit[:upto], b.take_profit[:upto])
        np.testing.assert_array_equal(a.stop_loss[:upto], b.stop_loss[:upto])


@pytest.mark.parametrize("name", NAMES)
def test_declaration(name: str) -> None:
    strategy = get_strategy(name)
    assert strategy.name == name
    assert strategy.summary.strip()
    assert strategy.__doc__ and strategy.__doc__.strip()
    assert strategy.space.owner == name
    assert strategy.space["direction"] == DIRECTION
    assert strategy.space.validate(strategy.space.defaults()) == strategy.space.defaults()


@pytest.mark.parametrize("name", NAMES)
def test_defaults_run_and_are_deterministic(name: str, candles: Candles) -> None:
    strategy = get_strategy(name)
    assert_signal_contract(strategy, candles, {})
    np.testing.assert_array_equal(strategy.signals(candles), strategy.signals(candles))
    assert_same_stops(strategy.stops(candles), strategy.stops(candles), len(candles))
    assert strategy.warmup_bars() < len(candles)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_give_both_sides_on_the_demo_market(name: str, candles: Candles) -> None:
    signals = get_strategy(name).signals(candles)
    assert (signals == 1).sum() >= 1
    assert (signals == -1).sum() >= 1


@pytest.mark.parametrize("name", NAMES)
def test_no_look_ahead(name: str, candles: Candles) -> None:
    strategy = get_strategy(name)
    n = len(candles)
    for k, params in enumerate(param_sets(strategy, 3, seed=11)):
        full = strategy.signals(candles, params)
        full_stops = strategy.stops(candles, params)
        for cut in CUTS:
            last = int(cut * n)
            changed = other_future(candles, last, seed=100 * k + last)
            assert not np.array_equal(changed.close, candles.close)
            np.testing.assert_array_equal(strategy.signals(changed, params)[: last + 1], full[: last + 1])
            assert_same_stops(strategy.stops(changed, params), full_stops, last + 1)
            head = candles.slice(0, last + 1)
            np.testing.assert_array_equal(strategy.signals(head, params), full[: last + 1])
            assert_same_stops(strategy.stops(head, params), full_stops, last + 1)


@pytest.mark.parametrize("name", NAMES)
def test_values_forget_the_series_start_within_the_declared_memory(name: str, candles: Candles) -> None:
    """Started later, every built-in gives the full series' signals and stops once its declared memory has passed
    (recursive averages declare theirs: the warm-up alone is not enough for an EMA or Wilder's RSI and ATR)."""
    strategy = get_strategy(name)
    plan = CheckPlan(draws=4, seed=3)
    result = check_history(strategy, candles, parameter_sets(strategy, plan), plan)
    assert result.status != "fail", result.detail


@pytest.mark.parametrize("name", NAMES)
def test_sampled_parameter_sets_are_valid_and_run(name: str, candles: Candles) -> None:
    strategy = get_strategy(name)
    rng = np.random.default_rng(2024)
    for _ in range(SAMPLED_SETS):
        params = strategy.space.sample(rng)
        assert strategy.space.validate(params) == params
        assert_signal_contract(strategy, candles, params)


@pytest.mark.parametrize("name", NAMES)
def test_direction_filters_one_side(name: str, candles: Candles) -> None:
    strategy = get_strategy(name)
    both = strategy.signals(candles, {"direction": "both"})
    np.testing.assert_array_equal(strategy.signals(candles, {"direction": "long"}), np.where(both == 1, 1, 0))
    np.testing.assert_array_equal(strategy.signals(candles, {"direction": "short"}), np.where(both == -1, -1, 0))
    np.testing.assert_array_equal(both, strategy.signals(candles))


@pytest.mark.parametrize("name", NAMES)
def test_a_flat_stretch_gives_no_events(name: str) -> None:
    """Rounding residue of running sums on a constant price must not read as crosses.

    500 bars of random walk, then 1,000 bars at one price. Once every window of the strategy has been flat for
    long (ten warm-ups: even an EMA has converged to ties by then), nothing is left to cross.
    """
    rng = np.random.default_rng(8)
    walk = np.round(3333.3 + np.cumsum(rng.normal(0.0, 5.0, 500)), 1)
    close = np.concatenate([walk, np.full(1000, walk[-1])])
    spread = np.concatenate([rng.uniform(0.5, 3.0, 500), np.zeros(1000)])
    flat = Candles(
        source="flat",
        symbol="X",
        timeframe=parse_timeframe("5m"),
        timestamp_ms=np.arange(close.size, dtype=np.int64) * 300_000,
        open=np.concatenate([close[:1], close[:-1]]),
        high=np.maximum(close, np.concatenate([close[:1], close[:-1]])) + spread,
        low=np.minimum(close, np.concatenate([close[:1], close[:-1]])) - spread,
        close=close,
        volume=np.ones(close.size),
    )
    strategy = get_strategy(name)
    for params in param_sets(strategy, 30, seed=5):
        settled = 500 + 10 * strategy.warmup_bars(params)
        signals = strategy.signals(flat, params)
        assert not signals[settled:].any(), (params, np.flatnonzero(signals[settled:])[:3] + settled)


@pytest.mark.parametrize("name", NAMES)
def test_short_series_give_no_signal(name: str, candles: Candles) -> None:
    strategy = get_strategy(name)
    warmup = strategy.warmup_bars()
    for length in (0, 1, warmup):
        head = candles.slice(0, length)
        assert not strategy.signals(head).any()
        stops = strategy.stops(head)
        assert stops is None or len(stops) == length


@pytest.mark.parametrize("name", NAMES)
def test_documented_parameter_table(name: str) -> None:
    """docs/strategies.md carries each parameter's row exactly as the spec describes it."""
    text = DOCS.read_text(encoding="utf-8")
    section = re.search(rf"^## `{name}`\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert section is not None, f"docs/strategies.md has no section for {name}"
    for spec in get_strategy(name).space.params:
        kind, bounds, default = spec.describe()
        row = f"| `{spec.name}` | {kind} | {bounds} | {default} |"
        assert row in section.group(1), f"missing or stale row: {row}"


def test_the_strategies_refer_to_no_design_file_outside_the_repository() -> None:
    """docs/architecture.md is the project's design; a pointer to a file no checkout has would send readers nowhere."""
    package = Path(__file__).resolve().parents[2] / "src" / "stratlab" / "strategies"
    outside = re.compile(r"DESIGN\.md|design document|\.\./shared", flags=re.IGNORECASE)
    offenders = [p.name for p in sorted(package.rglob("*.py")) if outside.search(p.read_text(encoding="utf-8"))]
    assert not offenders, f"refer to docs/architecture.md instead: {offenders}"
