"""KPI bounds on hand-made rows, and adaptive bounds checked against numpy's percentile.

Every expected reason and mask below is worked out by hand from the row next to it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stratlab.errors import ConfigError, DataError
from stratlab.metrics import Kpis
from stratlab.research.thresholds import (
    DEFAULT_HARD,
    DEFAULT_SOFT,
    AdaptiveRule,
    AdaptiveThresholds,
    KpiBound,
    ThresholdSet,
)

NAN = math.nan


def good_row(**changes: Any) -> dict[str, Any]:
    """A backtest that meets every SOFT and HARD default, with ``changes`` applied."""
    row: dict[str, Any] = {
        "sharpe": 2.0, "max_drawdown_pct": 12.0, "green_days_pct": 60.0, "ulcer_index_pct": 3.0,
        "top_days_pnl_share_pct": 25.0, "n_trades": 250, "active_days": 90, "is_valid": True,
        "sharpe_outlier": False, "invalid_reasons": [],
    }  # fmt: skip
    row.update(changes)
    return row


def a_kpis_record(**changes: Any) -> Kpis:
    """A full KPI record (every field present) that meets the defaults, with ``changes`` applied."""
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(Kpis):
        values[spec.name] = {"invalid_reasons": (), "stopped_early": None, "notes": {}}.get(spec.name, 0)
    values.update(good_row(invalid_reasons=()), sharpe_outlier=False, capacity_flag=False)
    values.update(changes)
    return Kpis(**values)


# --- fixed bounds ---------------------------------------------------------------------------------------------


def test_a_row_meeting_every_bound_passes_both_defaults() -> None:
    assert DEFAULT_SOFT.passes(good_row()) == (True, [])
    assert DEFAULT_HARD.passes(good_row()) == (True, [])


def test_failed_bounds_read_as_value_operator_bound_in_the_sets_order() -> None:
    row = good_row(sharpe=0.84, max_drawdown_pct=32.1, n_trades=12)
    ok, reasons = DEFAULT_SOFT.passes(row)
    assert not ok
    assert reasons == ["sharpe 0.84 < 1.00", "max_drawdown_pct 32.10 > 30", "n_trades 12 < 30"]


def test_a_record_with_an_undefined_kpi_fails_and_quotes_the_records_note() -> None:
    record = a_kpis_record(top_days_pnl_share_pct=None, notes={"top_days_pnl_share_pct": "no net profit to share out"})
    ok, reasons = DEFAULT_SOFT.passes(record)
    assert not ok
    assert reasons == ["top_days_pnl_share_pct undefined: no net profit to share out (needs <= 60)"]


def test_an_invalid_record_fails_validity_with_its_own_reasons() -> None:
    record = a_kpis_record(is_valid=False, invalid_reasons=("too few trades (3 < 10)",))
    assert DEFAULT_HARD.passes(record) == (False, ["is_valid is false (too few trades (3 < 10))"])
    assert DEFAULT_HARD.passes(a_kpis_record(sharpe_outlier=True)) == (False, ["sharpe_outlier is true"])


def test_passing_mask_matches_hand_made_rows_and_the_row_rule() -> None:
    rows = [
        good_row(),  # passes
        good_row(sharpe=0.99),  # Sharpe below 1
        good_row(sharpe=1.0, max_drawdown_pct=30.0),  # both exactly on their bounds: passes
        good_row(green_days_pct=None),  # undefined: fails
        good_row(ulcer_index_pct=NAN),  # NaN: fails
        good_row(is_valid=False),  # invalid
        good_row(top_days_pnl_share_pct=60.01),  # just above the bound
    ]
    frame = pd.DataFrame(rows)
    expected = [True, False, True, False, False, False, False]
    assert DEFAULT_SOFT.passing_mask(frame).tolist() == expected
    assert [DEFAULT_SOFT.passes(row)[0] for row in rows] == expected


def test_an_empty_set_passes_everything_and_an_empty_frame_gives_an_empty_mask() -> None:
    assert ThresholdSet().passing_mask(pd.DataFrame({"sharpe": [NAN, 1.0]})).tolist() == [True, True]
    assert DEFAULT_SOFT.passing_mask(pd.DataFrame(columns=list(good_row()))).tolist() == []


def test_a_frame_without_a_bounded_column_is_a_one_line_data_error() -> None:
    with pytest.raises(DataError, match=r"^the KPI table has no column 'sharpe'$"):
        DEFAULT_SOFT.passing_mask(pd.DataFrame({"n_trades": [40]}))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kpi": "sharp", "direction": "min", "value": 1}, r"^unknown KPI 'sharp'; did you mean sharpe"),
        ({"kpi": "max_dd", "direction": "max", "value": 1}, r"^unknown KPI 'max_dd'; (KPIs|did you mean)"),
        ({"kpi": "invalid_reasons", "direction": "max", "value": 1}, r"^KPI 'invalid_reasons' is not a number"),
        ({"kpi": "sharpe", "direction": "least", "value": 1}, r"^KpiBound: direction: Input should be 'min' or 'max'"),
        ({"kpi": "sharpe", "direction": "min", "value": NAN}, r"^KpiBound: value: .*finite"),
        ({"kpi": "is_valid", "direction": "min", "value": 0.5}, r"^KpiBound: is_valid is a flag"),
        ({"kpi": "sharpe", "direction": "min", "value": 1, "op": ">"}, r"^KpiBound: unknown field 'op'$"),
    ],
)
def test_a_bad_bound_is_one_config_error_line(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        KpiBound(**fields)
    assert "\n" not in str(caught.value)


def test_a_bad_bound_inside_a_set_is_still_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^unknown KPI 'sharp'") as caught:
        ThresholdSet.model_validate({"bounds": [{"kpi": "sharp", "direction": "min", "value": 1}]})
    assert "\n" not in str(caught.value)


# --- adaptive bounds ------------------------------------------------------------------------------------------


def rule(**changes: Any) -> AdaptiveRule:
    fields: dict[str, Any] = {
        "kpi": "sharpe", "direction": "min", "percentile": 80, "floor": -100.0, "ceiling": 100.0, "hysteresis": 0.0,
        "min_samples": 1, "initial": 1.0,
    }  # fmt: skip
    fields.update(changes)
    return AdaptiveRule(**fields)


def test_the_bound_moves_to_numpys_percentile_of_the_finite_values_seen() -> None:
    values = np.random.default_rng(7).normal(1.5, 0.6, size=300)
    with_gaps = np.concatenate([values, [NAN, np.inf, -np.inf]])
    adaptive = AdaptiveThresholds([rule()])
    (change,) = adaptive.update(pd.DataFrame({"sharpe": with_gaps}), iteration=3)
    expected = float(np.percentile(values, 80))
    assert change.new == pytest.approx(expected, rel=1e-12)
    assert change.percentile_value == pytest.approx(expected, rel=1e-12)
    assert (change.iteration, change.kpi, change.old, change.n_seen) == (3, "sharpe", 1.0, 300)
    assert adaptive.value_of("sharpe") == change.new
    assert adaptive.current().bounds[-1] == KpiBound(kpi="sharpe", direction="min", value=change.new)


def test_the_reason_of_a_change_is_one_readable_line() -> None:
    adaptive = AdaptiveThresholds([rule(percentile=50)])
    (change,) = adaptive.update(pd.DataFrame({"sharpe": [1.0, 2.0, 3.0, 4.0, 5.0]}), iteration=1)
    assert change.reason == "50th percentile of 5 backtests is 3.00 (was 1.00): raised"
    many = pd.DataFrame({"sharpe": np.full(1234, 0.5)})
    (change,) = adaptive.update(many, iteration=2)
    assert change.reason == "50th percentile of 1,234 backtests is 0.50 (was 3.00): lowered"


def test_the_bound_is_clamped_to_its_floor_and_ceiling() -> None:
    adaptive = AdaptiveThresholds([rule(floor=0.5, ceiling=2.0)])
    (change,) = adaptive.update(pd.DataFrame({"sharpe": np.full(20, 9.0)}), iteration=1)
    assert (change.new, change.percentile_value) == (2.0, 9.0)
    assert change.reason == "80th percentile of 20 backtests is 9.00, held at the ceiling 2.00 (was 1.00): raised"
    (change,) = adaptive.update(pd.DataFrame({"sharpe": np.full(20, -3.0)}), iteration=2)
    assert change.new == 0.5
    assert "held at the floor 0.50" in change.reason


def test_a_value_within_the_hysteresis_band_keeps_the_bound_and_reports_nothing() -> None:
    adaptive = AdaptiveThresholds([rule(hysteresis=0.05, percentile=50)])
    assert adaptive.update(pd.DataFrame({"sharpe": [1.04, 1.04, 1.04]}), iteration=1) == []  # 4 % < 5 %
    assert adaptive.update(pd.DataFrame({"sharpe": [0.96, 0.96, 0.96]}), iteration=2) == []
    assert adaptive.value_of("sharpe") == 1.0
    (change,) = adaptive.update(pd.DataFrame({"sharpe": [1.06, 1.06, 1.06]}), iteration=3)  # 6 % > 5 %
    assert change.new == pytest.approx(1.06)


def test_no_adaptation_before_min_samples_finite_values() -> None:
    adaptive = AdaptiveThresholds([rule(min_samples=10)])
    nine = pd.DataFrame({"sharpe": [3.0] * 9 + [NAN] * 5})
    assert adaptive.update(nine, iteration=1) == []
    assert adaptive.value_of("sharpe") == 1.0
    assert len(adaptive.update(pd.DataFrame({"sharpe": [3.0] * 10}), iteration=2)) == 1


def test_a_max_kpi_takes_the_lower_tail() -> None:
    drawdowns = np.random.default_rng(11).uniform(5, 60, size=150)
    dd_rule = rule(kpi="max_drawdown_pct", direction="max", percentile=80, floor=5.0, ceiling=40.0, initial=None)
    adaptive = AdaptiveThresholds([dd_rule])
    assert adaptive.value_of("max_drawdown_pct") == 40.0  # starts at its loosest end: the ceiling
    (change,) = adaptive.update(pd.DataFrame({"max_drawdown_pct": drawdowns}), iteration=1)
    assert change.new == pytest.approx(float(np.percentile(drawdowns, 20)), rel=1e-12)
    assert change.reason.startswith("20th percentile of 150 backtests")
    assert adaptive.current().passes({"max_drawdown_pct": change.new + 0.01})[0] is False


def test_state_round_trips_through_json_and_a_resumed_loop_continues_identically() -> None:
    rng = np.random.default_rng(5)
    fixed = ThresholdSet(bounds=(KpiBound(kpi="is_valid", direction="min", value=1),))
    rules = [rule(hysteresis=0.05), rule(kpi="max_drawdown_pct", direction="max", floor=5, ceiling=40, initial=None)]
    first = AdaptiveThresholds(rules, fixed)
    frame = pd.DataFrame({"sharpe": rng.normal(1.2, 0.5, 200), "max_drawdown_pct": rng.uniform(5, 50, 200)})
    first.update(frame, iteration=1)
    resumed = AdaptiveThresholds.from_dict(json.loads(json.dumps(first.to_dict())))
    assert resumed.current() == first.current()
    assert resumed.current().bounds[0].kpi == "is_valid"  # fixed bounds first
    later = pd.DataFrame({"sharpe": rng.normal(2.0, 0.5, 300), "max_drawdown_pct": rng.uniform(5, 25, 300)})
    assert resumed.update(later, iteration=2) == first.update(later, iteration=2)
    assert resumed.to_dict() == first.to_dict()


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"rules": [], "fixed": []}, r"^adaptive thresholds state: missing current$"),
        ({"rules": [], "fixed": [], "current": {"sharpe": 1.0}}, r"for 'sharpe', which has no rule$"),
        (
            {"rules": [{"kpi": "sharpe", "direction": "min", "percentile": 80, "floor": 0, "ceiling": 2}],
             "fixed": [], "current": {"sharpe": 3.0}},
            r"current sharpe 3.0 is outside 0.0..2.0",
        ),
        (
            {"rules": [{"kpi": "sharpe", "direction": "min", "percentile": 100, "floor": 0, "ceiling": 2}],
             "fixed": [], "current": {}},
            r"^AdaptiveRule: percentile: Input should be less than 100",
        ),
    ],
)  # fmt: skip
def test_a_bad_state_is_one_config_error_line(state: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        AdaptiveThresholds.from_dict(state)
    assert "\n" not in str(caught.value)


def test_rules_must_be_one_per_kpi_and_not_also_fixed() -> None:
    with pytest.raises(ConfigError, match=r"one rule per KPI \(repeated: sharpe\)"):
        AdaptiveThresholds([rule(), rule(percentile=60)])
    with pytest.raises(ConfigError, match=r"sharpe both fixed and adaptive"):
        AdaptiveThresholds([rule()], ThresholdSet(bounds=(KpiBound(kpi="sharpe", direction="min", value=1),)))
    with pytest.raises(ConfigError, match=r"^AdaptiveRule: sharpe: floor 3.0 is above ceiling 2.0$"):
        rule(floor=3.0, ceiling=2.0, initial=None)


def test_a_flag_column_with_missing_values_fails_where_the_flag_is_unknown() -> None:
    frame = pd.DataFrame({"is_valid": [True, None, False, "yes"]}, dtype=object)  # as read back with NULLs
    validity = ThresholdSet(bounds=(KpiBound(kpi="is_valid", direction="min", value=1),))
    assert validity.passing_mask(frame).tolist() == [True, False, False, False]
