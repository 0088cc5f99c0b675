"""The run's choices and searched settings, each declared once: the CLI's help and defaults, the request's validation
and the optimiser's space read the same definitions (the UI's side is in tests/ui/test_pages.py)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
import typer
from optuna.distributions import CategoricalDistribution, FloatDistribution

from stratlab.cli.app import app
from stratlab.engine.config import OppositePolicy, PositionMode
from stratlab.errors import ConfigError
from stratlab.optimize.backtest_space import OPTIONS, SEARCHED_BACKTEST, CommonSpace, common_space_from_text
from stratlab.optimize.context import DEFAULT_SAMPLER, PartName, RunRequest, SamplerName, SplitKind
from stratlab.optimize.space import split_trial_params, suggest, suggest_common
from stratlab.strategies import FloatParam, IntParam, get_strategy


def cli_option(path: tuple[str, ...], flag: str) -> Any:
    """The option ``flag`` of the command at ``path`` (e.g. ("run", "new")) as the CLI builds it (help, default)."""
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return next(p for p in command.params if flag in p.opts)


# the choices: one enum each -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [("run", "new"), ("optimize",)])
def test_the_cli_help_lists_the_samplers_and_position_modes_of_their_enums(path: tuple[str, ...]) -> None:
    sampler, modes = cli_option(path, "--sampler"), cli_option(path, "--modes")
    assert sampler.help is not None and "tpe | nsga2 | random | qmc" in sampler.help
    assert sampler.default == DEFAULT_SAMPLER == SamplerName.NSGA2 == "nsga2"
    assert modes.help is not None and "none,grid,martingale" in modes.help
    assert modes.default == PositionMode.NONE == "none"


def test_the_backtest_help_lists_the_position_modes_and_opposite_policies_of_the_engine() -> None:
    mode, opposite = cli_option(("backtest",), "--mode"), cli_option(("backtest",), "--on-opposite")
    assert mode.help == "Position mode: none | grid | martingale [none]."
    assert opposite.help == "reverse | close | ignore [reverse]."
    assert [m.value for m in PositionMode] == ["none", "grid", "martingale"]
    assert [p.value for p in OppositePolicy] == ["reverse", "close", "ignore"]


def test_split_kinds_name_their_parts_in_time_order_and_where_the_champion_is_chosen() -> None:
    two, three = SplitKind.of(2), SplitKind.of(3)
    assert (two, three) == (SplitKind.TWO_WAY, SplitKind.THREE_WAY)
    assert [str(p) for p in two.parts] == ["train", "test"]
    assert [str(p) for p in three.parts] == ["train", "validation", "holdout"]
    assert (two.selection_part, three.selection_part) == ("test", "validation")
    assert (two.holdout_part, three.holdout_part) == (None, PartName.HOLDOUT)
    with pytest.raises(ConfigError, match="two or three parts, got 4"):
        SplitKind.of(4)


def test_a_request_reads_its_sampler_and_split_as_the_enums_and_refuses_other_names() -> None:
    request = RunRequest.parse(source="demo", symbol="BTC", sampler="nsga2", split=(0.6, 0.2, 0.2))
    assert request.sampler is SamplerName.NSGA2 and request.split_kind is SplitKind.THREE_WAY
    assert request.model_dump(mode="json")["sampler"] == "nsga2"  # context.json keeps the plain name
    with pytest.raises(ConfigError) as caught:
        RunRequest.parse(source="demo", symbol="BTC", sampler="annealing")
    assert (
        str(caught.value)
        == "run: sampler: Input should be 'tpe', 'nsga2', 'random', 'qmc' or 'gp-tr' (got 'annealing')"
    )


# the searched backtest settings: one declaration ----------------------------------------------------------------


def declared_range(name: str) -> str:
    """The declared range of a setting written in the one range syntax, LOW:HIGH."""
    spec = SEARCHED_BACKTEST[name]
    assert isinstance(spec, IntParam | FloatParam)
    return f"{spec.low:g}:{spec.high:g}"


def test_the_declaration_holds_every_searched_setting_with_the_ranges_runs_have_always_searched() -> None:
    ranges = {name: declared_range(name) for name in SEARCHED_BACKTEST.names if name != "position_mode"}
    assert ranges == {
        "tp_pct": "0.5:8", "sl_pct": "0.3:5", "grid_step_pct": "0.3:3", "grid_max_adds": "1:5",
        "grid_size_mult": "1:2", "martingale_mult": "1.2:3", "martingale_max_steps": "1:5",
    }  # fmt: skip
    assert SEARCHED_BACKTEST["position_mode"].default == "none"
    assert set(OPTIONS) == set(SEARCHED_BACKTEST.names)


@pytest.mark.parametrize("path", [("run", "new"), ("optimize",)])
def test_the_cli_defaults_are_the_declared_ranges(path: tuple[str, ...]) -> None:
    for name, option in OPTIONS.items():
        expected = SEARCHED_BACKTEST["position_mode"].default if name == "position_mode" else declared_range(name)
        assert cli_option(path, option).default == expected, option


def distributions_of(common: CommonSpace) -> tuple[dict[str, Any], dict[str, optuna.distributions.BaseDistribution]]:
    """What the optimiser samples for one trial under ``common``: the settings and the distributions it stored."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    settings = suggest_common(trial, common)
    return settings, dict(trial.distributions)


@pytest.mark.parametrize("mode", list(PositionMode))
def test_the_optimiser_searches_the_declared_specs_of_the_trials_mode(mode: PositionMode) -> None:
    settings, distributions = distributions_of(CommonSpace(position_modes=(mode,)))
    mode_settings = {
        PositionMode.NONE: set(),
        PositionMode.GRID: {"grid_step_pct", "grid_max_adds", "grid_size_mult"},
        PositionMode.MARTINGALE: {"martingale_mult", "martingale_max_steps"},
    }[mode]
    # A single mode is fixed: set on every trial, never sampled.
    assert settings["position_mode"] == mode and "bt.position_mode" not in distributions
    assert set(distributions) == {f"bt.{name}" for name in {"tp_pct", "sl_pct", *mode_settings}}
    for key, distribution in distributions.items():
        spec = SEARCHED_BACKTEST[key.removeprefix("bt.")]
        assert isinstance(spec, IntParam | FloatParam)
        kind = optuna.distributions.IntDistribution if isinstance(spec, IntParam) else FloatDistribution
        assert isinstance(distribution, kind), key
        assert (distribution.low, distribution.high, distribution.log) == (spec.low, spec.high, spec.log), key
        assert spec.low <= settings[key.removeprefix("bt.")] <= spec.high


def test_several_modes_are_sampled_among_exactly_those_and_a_one_value_range_is_fixed() -> None:
    common = CommonSpace(position_modes=(PositionMode.GRID, PositionMode.NONE), tp_pct=(2.0, 2.0), sl_pct=None)
    settings, distributions = distributions_of(common)
    assert distributions["bt.position_mode"] == CategoricalDistribution(("grid", "none"))
    assert settings["tp_pct"] == 2.0 and "bt.tp_pct" not in distributions  # fixed, not sampled
    assert "sl_pct" not in settings and "bt.sl_pct" not in distributions  # off


@pytest.mark.parametrize("modes", [(PositionMode.NONE,), (PositionMode.MARTINGALE,), tuple(PositionMode)])
def test_a_stored_trial_splits_back_into_the_settings_it_was_backtested_with(modes: tuple[PositionMode, ...]) -> None:
    common = CommonSpace(position_modes=modes, sl_pct=(1.5, 1.5))
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(12):
        trial = study.ask()
        params, searched = suggest(trial, get_strategy("ma_cross"), common)
        study.tell(trial, [1.0, 1.0])
        stored = study.trials[-1].params  # what a report reads back from the storage
        assert split_trial_params(stored, common) == (params, searched)


@pytest.mark.parametrize(
    ("ranges", "modes", "message"),
    [
        ({"tp_pct": "0.5-8"}, "none", "--tp-range: expected LOW:HIGH (e.g. 0.5:8) or off, got '0.5-8'"),
        ({"sl_pct": "8:0.5"}, "none", "--sl-range: expected 0 < LOW <= HIGH, got 8:0.5"),
        (
            {"sl_pct": "0.3:150"}, "none",
            "--sl-range: 0.3:150 is outside what a backtest accepts: sl_pct: Input should be less than 100 (got 150.0)",
        ),
        (
            {"grid_step_pct": "off"}, "grid",
            "--grid-step-range: this range cannot be off; expected LOW:HIGH (e.g. 0.3:3)",
        ),
        (
            {"grid_max_adds": "1.5:3"}, "grid",
            "--grid-max-adds-range: Input should be a valid integer, got a number with a fractional part",
        ),
        (
            {"martingale_mult": "0.5:2"}, "martingale",
            "--martingale-mult-range: 0.5:2 is outside what a backtest accepts: martingale_mult: Input should be "
            "greater than or equal to 1 (got 0.5)",
        ),
        ({}, "none,yolo", "--modes: parameter 'position_mode' must be one of 'none', 'grid', 'martingale', got 'yolo'"),
        ({}, " , ", "--modes: at least one position mode"),
    ],
)  # fmt: skip
def test_a_bad_searched_setting_is_one_line_naming_its_option(ranges: dict[str, str], modes: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        common_space_from_text(ranges, modes)
    assert str(caught.value) == message


def test_off_turns_tp_and_sl_off_and_settings_left_out_keep_the_declared_range() -> None:
    common = common_space_from_text({"tp_pct": "off", "sl_pct": " 1:4 "}, "grid, martingale")
    assert common.tp_pct is None and common.sl_pct == (1.0, 4.0)
    assert common.position_modes == (PositionMode.GRID, PositionMode.MARTINGALE)
    assert common.grid_max_adds == (1, 5) and common == CommonSpace(
        tp_pct=None, sl_pct=(1.0, 4.0), position_modes=(PositionMode.GRID, PositionMode.MARTINGALE)
    )
