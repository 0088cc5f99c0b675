"""The config's enumerated fields: plain strings in, enum members on the model, plain strings in every dump."""

from __future__ import annotations

import json

import pytest

from stratlab.engine import BacktestConfig, OppositePolicy, PositionMode
from stratlab.errors import ConfigError


def test_enum_values_are_the_strings_json_and_the_cli_give() -> None:
    assert [mode.value for mode in PositionMode] == ["none", "grid", "martingale"]
    assert [policy.value for policy in OppositePolicy] == ["reverse", "close", "ignore"]


def test_plain_strings_become_enum_members() -> None:
    config = BacktestConfig.from_mapping({"position_mode": "martingale", "on_opposite": "close"})
    assert config.position_mode is PositionMode.MARTINGALE
    assert config.on_opposite is OppositePolicy.CLOSE
    assert BacktestConfig().position_mode is PositionMode.NONE
    assert BacktestConfig().on_opposite is OppositePolicy.REVERSE


@pytest.mark.parametrize("mode", ["python", "json"])
def test_dumps_hold_plain_strings_not_enum_members(mode: str) -> None:
    # Manifests compare dumped configs and write them as JSON/YAML: an enum member there would change them.
    dumped = BacktestConfig(position_mode="grid", on_opposite="ignore").model_dump(mode=mode)
    assert type(dumped["position_mode"]) is str and dumped["position_mode"] == "grid"
    assert type(dumped["on_opposite"]) is str and dumped["on_opposite"] == "ignore"


def test_json_dump_and_replace_round_trip() -> None:
    config = BacktestConfig(position_mode="grid", on_opposite="close", leverage=3)
    assert json.loads(config.model_dump_json())["position_mode"] == "grid"
    assert BacktestConfig.model_validate_json(config.model_dump_json()) == config
    moved = config.replace(leverage=2)
    assert moved.position_mode is PositionMode.GRID and moved.leverage == 2


def test_unknown_value_is_one_line_naming_the_field_and_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        BacktestConfig.from_mapping({"position_mode": "pyramid"})
    assert str(caught.value) == (
        "backtest config: position_mode: Input should be 'none', 'grid' or 'martingale' (got 'pyramid')"
    )
