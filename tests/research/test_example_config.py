"""``examples/research.toml``: it loads, and what it writes as a default is the default (a comment that lies about a
default would mislead everyone who copies the file)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from stratlab.research.config import DEFAULT_ADAPTIVE, ResearchConfig, load_config
from stratlab.research.scoring import DEFAULT_WEIGHTS
from stratlab.research.thresholds import DEFAULT_HARD, DEFAULT_SOFT, DEFAULT_VALIDATION

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "research.toml"


def test_the_example_loads_and_its_stated_defaults_are_the_defaults() -> None:
    config = load_config(EXAMPLE)
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    defaults = ResearchConfig.model_validate({"name": "x", "markets": raw["markets"]})
    for key in ("split", "sampler", "seed", "batch_size", "objective", "keep_trades", "step_logs"):
        assert getattr(config, key) == getattr(defaults, key), key
    assert config.stop.max_minutes == defaults.stop.max_minutes
    assert config.score == defaults.score and dict(config.score.weights) == DEFAULT_WEIGHTS
    assert config.pareto == defaults.pareto
    # The adaptive rules are the defaults but for the one the file marks "default 95".
    soft_rule, hard_rule = (rule.model_dump() for rule in config.adaptive)
    assert soft_rule == {**defaults.adaptive[0].model_dump()} and DEFAULT_ADAPTIVE[0]["percentile"] == 80
    assert hard_rule == {**defaults.adaptive[1].model_dump(), "percentile": 90}
    assert DEFAULT_ADAPTIVE[1]["percentile"] == 95
    # Its [hard] changes exactly the two bounds it says it loosens; SOFT and validation are the defaults.
    assert config.threshold_set("soft") == DEFAULT_SOFT and config.validation_set() == DEFAULT_VALIDATION
    changed = {b.kpi: b.value for b in config.threshold_set("hard").bounds}
    default = {b.kpi: b.value for b in DEFAULT_HARD.bounds}
    assert {k for k in default if changed[k] != default[k]} == {"ulcer_index_pct", "top_days_pnl_share_pct"}


def test_the_documented_default_bounds_in_the_example_are_the_code_s() -> None:
    """The comment block of the example lists SOFT, HARD and validation; each number it gives is the bound."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for bound in (*DEFAULT_SOFT.bounds, *DEFAULT_HARD.bounds, *DEFAULT_VALIDATION.bounds):
        if bound.kpi in ("is_valid", "sharpe_outlier"):
            assert bound.kpi in text
            continue
        sign = ">=" if bound.direction == "min" else "<="
        assert f"{bound.kpi} {sign} {bound.value:g}" in text, (bound.kpi, bound.value)
