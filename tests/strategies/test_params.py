"""Parameter specs and spaces: every validation rule gives a one-line ConfigError naming the parameter, and sampling
stays on the grid, inside the bounds and the constraints."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratlab.data import Candles
from stratlab.errors import ConfigError
from stratlab.strategies import (
    DIRECTION,
    CategoricalParam,
    Constraint,
    FloatParam,
    IntParam,
    ParamSpace,
    StopDistances,
    Strategy,
    apply_direction,
    get_strategy,
    register,
    registry,
    strategy_names,
)
from stratlab.strategies.base import Int8Array
from tests.conftest import make_frame

FAST = IntParam(name="fast", low=5, high=100, default=20)
SLOW = IntParam(name="slow", low=20, high=400, step=5, default=100)
WIDTH = FloatParam(name="width", low=1.0, high=4.0, step=0.1, default=2.0)
RATIO = FloatParam(name="ratio", low=0.01, high=10.0, log=True, default=1.0)
KIND = CategoricalParam(name="kind", choices=("sma", "ema"), default="ema")


def space() -> ParamSpace:
    return ParamSpace(
        params=(FAST, SLOW, WIDTH, RATIO, KIND, DIRECTION),
        constraints=(Constraint("fast", "<", "slow"),),
        owner="toy",
    )


def one_line(error: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# validate ----------------------------------------------------------------------------------------------------


def test_missing_keys_take_defaults_in_declared_order() -> None:
    values = space().validate({"slow": 200})
    assert values == {"fast": 20, "slow": 200, "width": 2.0, "ratio": 1.0, "kind": "ema", "direction": "both"}
    assert list(values) == list(space().names)
    assert space().validate(None) == space().defaults()


def test_the_message_names_strategy_parameter_rule_and_value() -> None:
    with pytest.raises(ConfigError) as error:
        get_strategy("ma_cross").space.validate({"fast": 1})
    assert one_line(error) == "ma_cross: parameter 'fast' must be an integer in [5, 100], got 1"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"fats": 10}, "toy: unknown parameter 'fats' (known: fast, slow, width, ratio, kind, direction)"),
        ({"fast": "10"}, "toy: parameter 'fast' must be an integer in [5, 100], got '10'"),
        ({"fast": True}, "toy: parameter 'fast' must be an integer in [5, 100], got True"),
        ({"fast": 10.5}, "toy: parameter 'fast' must be an integer in [5, 100], got 10.5"),
        ({"fast": math.nan}, "toy: parameter 'fast' must be an integer in [5, 100], got nan"),
        ({"fast": 4}, "toy: parameter 'fast' must be an integer in [5, 100], got 4"),
        ({"fast": 101}, "toy: parameter 'fast' must be an integer in [5, 100], got 101"),
        ({"slow": 33}, "toy: parameter 'slow' must be an integer in [20, 400] in steps of 5 from 20, got 33"),
        ({"width": 0.5}, "toy: parameter 'width' must be a number in [1, 4] in steps of 0.1 from 1, got 0.5"),
        ({"width": 2.05}, "toy: parameter 'width' must be a number in [1, 4] in steps of 0.1 from 1, got 2.05"),
        ({"width": False}, "toy: parameter 'width' must be a number in [1, 4] in steps of 0.1 from 1, got False"),
        ({"ratio": math.inf}, "toy: parameter 'ratio' must be a number in [0.01, 10], got inf"),
        ({"ratio": None}, "toy: parameter 'ratio' must be a number in [0.01, 10], got None"),
        ({"kind": "wma"}, "toy: parameter 'kind' must be one of 'sma', 'ema', got 'wma'"),
        ({"direction": "up"}, "toy: parameter 'direction' must be one of 'long', 'short', 'both', got 'up'"),
        ({"fast": 50, "slow": 50}, "toy: parameter 'fast' must satisfy fast < slow, got fast=50, slow=50"),
        ({"fast": 100}, "toy: parameter 'fast' must satisfy fast < slow, got fast=100, slow=100"),
    ],
)
def test_each_validation_rule(params: Mapping[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        space().validate(params)
    assert one_line(error) == expected


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="toy: parameters must be a mapping"):
        space().validate([("fast", 10)])  # type: ignore[arg-type]


def test_numbers_are_normalised() -> None:
    values = space().validate({"fast": 10.0, "slow": np.int64(40), "width": 3, "ratio": np.float32(0.5)})
    assert values["fast"] == 10 and type(values["fast"]) is int
    assert values["slow"] == 40 and type(values["slow"]) is int
    assert values["width"] == 3.0 and type(values["width"]) is float
    assert type(values["ratio"]) is float
    # A decimal step is not exact in binary: values a rounding error off the grid are still on it.
    assert space().validate({"width": 0.1 * 3 + 1.0})["width"] == pytest.approx(1.3)


def test_categorical_choices_keep_their_kind() -> None:
    flag = CategoricalParam(name="flag", choices=(True, False, 1), default=True)
    assert flag.check(1, "toy") == 1 and flag.check(1, "toy") is not True
    assert flag.check(True, "toy") is True
    with pytest.raises(ConfigError, match="parameter 'flag' must be one of True, False, 1, got 2"):
        flag.check(2, "toy")


# spec construction -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: IntParam(name="p", low=5, high=5, default=5), "IntParam 'p': low (5) must be below high (5)"),
        (lambda: IntParam(name="p", low=1.0, high=5, default=2), "IntParam 'p': low must be an integer, got 1.0"),  # type: ignore[arg-type]
        (lambda: IntParam(name="p", low=1, high=5, default=True), "IntParam 'p': default must be an integer"),
        (lambda: IntParam(name="p", low=1, high=5, default=9), "IntParam 'p': default 9 must be an integer in"),
        (lambda: IntParam(name="p", low=0, high=10, step=5, default=3), "IntParam 'p': default 3 must be"),
        (lambda: IntParam(name="p", low=0, high=10, step=0, default=0), "IntParam 'p': step must be at least 1"),
        (lambda: IntParam(name="p", low=0, high=10, step=3, default=0), "IntParam 'p': step 3 must divide"),
        (lambda: IntParam(name="p", low=0, high=10, log=True, default=1), "IntParam 'p': log needs low >= 1"),
        (lambda: IntParam(name="p", low=1, high=9, step=2, log=True, default=1), "IntParam 'p': log needs"),
        (lambda: IntParam(name="Fast", low=1, high=5, default=2), "IntParam: name must be lower snake_case"),
        (lambda: FloatParam(name="p", low=2.0, high=1.0, default=1.5), "FloatParam 'p': low (2) must be below"),
        (
            lambda: FloatParam(name="p", low=0.0, high=math.inf, default=1.0),
            "FloatParam 'p': high must be a finite number",
        ),
        (lambda: FloatParam(name="p", low=0.0, high=1.0, default=2.0), "FloatParam 'p': default 2 must be a number"),
        (lambda: FloatParam(name="p", low=0.0, high=1.0, step=-0.1, default=0.0), "FloatParam 'p': step must be"),
        (lambda: FloatParam(name="p", low=0.0, high=1.0, step=0.3, default=0.0), "FloatParam 'p': step 0.3 must"),
        (lambda: FloatParam(name="p", low=0.0, high=1.0, step=0.5, default=0.2), "FloatParam 'p': default 0.2"),
        (lambda: FloatParam(name="p", low=0.0, high=1.0, log=True, default=0.5), "FloatParam 'p': log needs low > 0"),
        (lambda: FloatParam(name="p", low=0.1, high=1.0, step=0.1, log=True, default=0.5), "FloatParam 'p': log"),
        (lambda: CategoricalParam(name="p", choices=(), default="a"), "CategoricalParam 'p': choices must be"),
        (lambda: CategoricalParam(name="p", choices="ab", default="a"), "CategoricalParam 'p': choices must be"),  # type: ignore[arg-type]
        (lambda: CategoricalParam(name="p", choices=("a", "a"), default="a"), "CategoricalParam 'p': choices must"),
        (lambda: CategoricalParam(name="p", choices=("a", None), default="a"), "CategoricalParam 'p': choice None"),  # type: ignore[arg-type]
        (lambda: CategoricalParam(name="p", choices=("a", "b"), default="c"), "CategoricalParam 'p': default 'c'"),
        (lambda: Constraint("a", "!=", "b"), "Constraint a ? b: op must be one of"),  # type: ignore[arg-type]
        (lambda: Constraint("a", "<", "a"), "Constraint a < a: needs two different parameters"),
        (lambda: ParamSpace(params=(FAST, FAST)), "ParamSpace: parameter 'fast' is declared twice"),
        (
            lambda: ParamSpace(params=(FAST,), constraints=(Constraint("fast", "<", "slow"),)),
            "ParamSpace: constraint fast < slow names unknown parameter 'slow'",
        ),
        (
            lambda: ParamSpace(params=(FAST, KIND), constraints=(Constraint("fast", "<", "kind"),)),
            "ParamSpace: constraint fast < kind needs numeric parameters",
        ),
        (
            lambda: ParamSpace(params=(FAST, SLOW), constraints=(Constraint("fast", ">", "slow"),)),
            "ParamSpace: the defaults break the constraint fast > slow",
        ),
        (lambda: ParamSpace(params=(FAST, "slow")), "ParamSpace: 'slow' is not a parameter spec"),  # type: ignore[arg-type]
    ],
)
def test_specs_are_validated_at_construction(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ConfigError) as error:
        build()
    assert one_line(error).startswith(message), one_line(error)


@pytest.mark.parametrize(("op", "holds"), [("<", (True, False, False)), ("<=", (True, True, False))])
def test_constraint_ops(op: str, holds: tuple[bool, bool, bool]) -> None:
    constraint = Constraint("a", op, "b")  # type: ignore[arg-type]
    assert str(constraint) == f"a {op} b"
    assert tuple(constraint.holds({"a": a, "b": 2}) for a in (1, 2, 3)) == holds
    mirrored = Constraint("b", ">" + op[1:], "a")  # type: ignore[arg-type]
    assert tuple(mirrored.holds({"a": a, "b": 2}) for a in (1, 2, 3)) == holds


def test_describe_rows() -> None:
    assert FAST.describe() == ("int", "5 .. 100", "20")
    assert SLOW.describe() == ("int", "20 .. 400, step 5", "100")
    assert IntParam(name="p", low=2, high=50, log=True, default=14).describe() == ("int", "2 .. 50, log", "14")
    assert WIDTH.describe() == ("float", "1 .. 4, step 0.1", "2")
    assert RATIO.describe() == ("float", "0.01 .. 10, log", "1")
    assert KIND.describe() == ("choice", "sma \\| ema", "ema")


# sampling ----------------------------------------------------------------------------------------------------


@st.composite
def int_specs(draw: st.DrawFn) -> IntParam:
    log = draw(st.booleans())
    low = draw(st.integers(1 if log else -1000, 1000))
    step = 1 if log else draw(st.integers(1, 50))
    high = low + step * draw(st.integers(1, 200))
    default = low + step * draw(st.integers(0, (high - low) // step))
    return IntParam(name="p", low=low, high=high, step=step, log=log, default=default)


@st.composite
def float_specs(draw: st.DrawFn) -> FloatParam:
    kind = draw(st.sampled_from(["continuous", "step", "log"]))
    if kind == "step":
        step = draw(st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]))
        low = draw(st.integers(-1000, 1000)) * step
        high = low + draw(st.integers(1, 400)) * step
        return FloatParam(name="p", low=low, high=high, step=step, default=low)
    positive = kind == "log"
    low = draw(st.floats(1e-6 if positive else -1e6, 1e6))
    high = draw(st.floats(low, 1e7).filter(lambda h: h > low))
    return FloatParam(name="p", low=low, high=high, log=positive, default=high)


@settings(max_examples=150, deadline=None)
@given(spec=int_specs(), seed=st.integers(0, 2**32 - 1))
def test_int_samples_are_on_the_grid_and_accepted(spec: IntParam, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(30):
        value = spec.sample(rng)
        assert type(value) is int
        assert spec.low <= value <= spec.high
        assert (value - spec.low) % spec.step == 0
        assert spec.check(value, "toy") == value


@settings(max_examples=150, deadline=None)
@given(spec=float_specs(), seed=st.integers(0, 2**32 - 1))
def test_float_samples_are_inside_and_accepted(spec: FloatParam, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(30):
        value = spec.sample(rng)
        assert type(value) is float
        assert spec.low <= value <= spec.high
        assert spec.check(value, "toy") == value


def test_a_stepped_float_reaches_every_grid_point_exactly() -> None:
    rng = np.random.default_rng(0)
    values = {WIDTH.sample(rng) for _ in range(3000)}
    assert values == {round(1.0 + 0.1 * k, 10) for k in range(31)}
    assert WIDTH.grid_size == 31


def test_int_sampling_is_uniform_on_the_grid() -> None:
    rng = np.random.default_rng(1)
    counts = np.bincount([(SLOW.sample(rng) - 20) // 5 for _ in range(38_500)], minlength=SLOW.grid_size)
    assert counts.size == SLOW.grid_size == 77
    # 500 expected per point; 5 standard deviations either side.
    assert counts.min() > 500 - 5 * math.sqrt(500) and counts.max() < 500 + 5 * math.sqrt(500)


@pytest.mark.parametrize("spec", [IntParam(name="p", low=1, high=9999, log=True, default=1), RATIO])
def test_log_sampling_is_log_uniform(spec: IntParam | FloatParam) -> None:
    rng = np.random.default_rng(2)
    draws = np.array([spec.sample(rng) for _ in range(20_000)], dtype=float)
    # Log-uniform: each decade of the range gets the same share of the draws.
    upper = spec.high + 1 if isinstance(spec, IntParam) else spec.high
    position = (np.log(draws) - math.log(spec.low)) / (math.log(upper) - math.log(spec.low))
    quartiles = np.quantile(position, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(quartiles, [0.25, 0.5, 0.75], atol=0.02)


def test_log_int_sampling_reaches_both_ends() -> None:
    spec = IntParam(name="p", low=5, high=8, log=True, default=5)
    rng = np.random.default_rng(3)
    assert {spec.sample(rng) for _ in range(500)} == {5, 6, 7, 8}


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_samples_respect_constraints_and_validate(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = space()
    for _ in range(20):
        values = s.sample(rng)
        assert values["fast"] < values["slow"]  # type: ignore[operator]
        assert s.validate(values) == values
        assert set(values) == set(s.names)


def test_sampling_is_reproducible_from_the_seed() -> None:
    first = [space().sample(np.random.default_rng(9)) for _ in range(3)]
    assert first[0] == first[1] == first[2]


def test_unsatisfiable_constraints_fail_after_bounded_tries() -> None:
    s = ParamSpace(
        params=(IntParam(name="a", low=0, high=1000, default=0), IntParam(name="b", low=0, high=1000, default=0)),
        constraints=(Constraint("a", "<=", "b"), Constraint("b", "<=", "a")),
        owner="toy",
    )
    # Only the 1,001 pairs with a == b are allowed: one in 1,001 draws.
    with pytest.raises(ConfigError, match=r"toy: no parameter set satisfying a <= b, b <= a in 1000 draws"):
        for seed in range(5):
            s.sample(np.random.default_rng(seed))


# direction, stop distances, strategy declaration, registry -----------------------------------------------------


def test_apply_direction() -> None:
    events = np.array([1, 0, -1, 1, -1], dtype=np.int8)
    np.testing.assert_array_equal(apply_direction(events, "long"), [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(apply_direction(events, "short"), [0, 0, -1, 0, -1])
    np.testing.assert_array_equal(apply_direction(events, "both"), events)
    assert apply_direction(events, "long").dtype == np.int8
    with pytest.raises(ConfigError, match="parameter 'direction'"):
        apply_direction(events, "up")


def test_stop_distances_are_positive_or_nan() -> None:
    stops = StopDistances(take_profit=np.array([np.nan, 2.0]), stop_loss=[1, np.nan])  # type: ignore[arg-type]
    assert len(stops) == 2 and stops.stop_loss.dtype == np.float64
    assert not stops.take_profit.flags.writeable
    for bad in ([0.0, 1.0], [-1.0, 1.0], [np.inf, 1.0]):
        with pytest.raises(ValueError, match=r"StopDistances.stop_loss\[0\] must be positive or NaN"):
            StopDistances(take_profit=np.ones(2), stop_loss=np.array(bad))
    with pytest.raises(ValueError, match="take_profit has 3 values, stop_loss 2"):
        StopDistances(take_profit=np.ones(3), stop_loss=np.ones(2))


class _Toy(Strategy):
    """Long on every bar whose close is above the previous close (not a real event rule: a declaration test)."""

    name = "toy"
    summary = "declaration test"
    space = ParamSpace(params=(FAST, DIRECTION))

    def events(self, candles: Candles, params: Mapping[str, object]) -> Int8Array:
        return np.zeros(len(candles), dtype=np.int8)

    def warmup(self, params: Mapping[str, object]) -> int:
        return 0


def test_a_strategy_binds_its_name_to_the_space() -> None:
    assert _Toy.space.owner == "toy"
    with pytest.raises(ConfigError, match=r"^toy: parameter 'fast'"):
        _Toy().signals(Candles.from_frame(make_frame(50), source="t", symbol="T", timeframe="5m"), {"fast": 0})


def test_a_strategy_must_declare_direction_name_and_summary() -> None:
    with pytest.raises(TypeError, match=r"its space must include base\.DIRECTION"):

        class _NoDirection(_Toy):
            name = "no_direction"
            space = ParamSpace(params=(FAST,))

    with pytest.raises(TypeError, match="summary must be a non-empty line"):

        class _NoSummary(_Toy):
            name = "no_summary"
            space = ParamSpace(params=(DIRECTION,))

    with pytest.raises(TypeError, match="name must be lower snake_case, got 'Bad Name'"):

        class _BadName(_Toy):
            name = "Bad Name"
            summary = "x"
            space = ParamSpace(params=(DIRECTION,))


def test_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register(_Toy)
    register(_Toy)  # registering the same class again is harmless
    assert "toy" in strategy_names()
    assert isinstance(get_strategy("toy"), _Toy)

    class _Other(_Toy):
        name = "toy"
        summary = "another"
        space = ParamSpace(params=(DIRECTION,))

    with pytest.raises(
        ConfigError, match=r"'toy' is defined twice: in .*test_params\.py \(_Toy\) and in .*\(.*_Other\)"
    ):
        register(_Other)


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as error:
        get_strategy("macross")
    assert one_line(error) == f"unknown strategy 'macross' (known: {', '.join(strategy_names())})"
    assert strategy_names() == tuple(sorted(strategy_names()))
    assert {"bollinger_breakout", "ma_cross", "range_breakout", "rsi_reversion", "stochastic"} <= set(strategy_names())
