"""The run's choices and searched settings, each declared once: the CLI's help and defaults, the request's validation
and the optimiser's space read the same definitions (the UI's side is in tests/ui/test_pages.py)."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from stratlab.cli.app import app
from stratlab.engine.config import OppositePolicy, PositionMode
from stratlab.errors import ConfigError
from stratlab.optimize.context import PartName, RunRequest, SamplerName, SplitKind


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
    assert sampler.default == SamplerName.TPE == "tpe"
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
    assert str(caught.value) == "run: sampler: Input should be 'tpe', 'nsga2', 'random' or 'qmc' (got 'annealing')"
