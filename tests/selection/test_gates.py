"""The gates and their verdict: each threshold in its direction, exact boundaries, skipped statistics, the reasons a
user reads, and --gates text parsed or refused in one line."""

from __future__ import annotations

import math

import pytest

from stratlab.errors import ConfigError
from stratlab.selection.gates import Gates, VerdictName, judge

GATE_NAMES = ["dsr", "pbo", "spa", "wfe", "trades"]
# Every statistic exactly at its default threshold (DSR >= 0.95, PBO <= 0.5, SPA p <= 0.05, WFE >= 0.5, trades >= 10).
AT_THRESHOLDS: dict[str, float | None] = {"dsr": 0.95, "pbo": 0.5, "spa": 0.05, "wfe": 0.5, "trades": 10.0}


def test_statistics_exactly_at_every_threshold_pass() -> None:
    verdict = judge(AT_THRESHOLDS, Gates())
    assert verdict.verdict == VerdictName.PASS
    assert [gate.name for gate in verdict.gates] == GATE_NAMES
    assert [gate.passed for gate in verdict.gates] == [True] * 5
    assert [gate.op for gate in verdict.gates] == [">=", "<=", "<=", ">=", ">="]
    assert verdict.failed == ()
    assert verdict.summary == (
        "pass: DSR 0.95 >= 0.95; PBO 0.50 <= 0.50; SPA p 0.05 <= 0.05; WFE 0.50 >= 0.50; trades 10 >= 10"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("dsr", 0.9499),  # below a minimum
        ("pbo", 0.5001),  # above a maximum
        ("spa", 0.0501),
        ("wfe", 0.4999),
        ("trades", 9.0),
    ],
)
def test_one_statistic_just_past_its_threshold_flags_and_only_that_gate_fails(name: str, value: float) -> None:
    verdict = judge({**AT_THRESHOLDS, name: value}, Gates())
    assert verdict.verdict == VerdictName.FLAGGED
    assert [gate.name for gate in verdict.failed] == [name]
    failed = verdict.failed[0]
    assert failed.value == value and failed.passed is False
    assert verdict.summary == f"flagged: {failed.reason}"


def test_thresholds_follow_the_gates_given() -> None:
    lenient = Gates(min_dsr=0.5, max_pbo=0.9, max_spa_pvalue=0.5, min_wfe=0.0, min_trades=3)
    statistics = {"dsr": 0.6, "pbo": 0.8, "spa": 0.4, "wfe": 0.0, "trades": 3.0}
    assert judge(statistics, Gates()).verdict == VerdictName.FLAGGED
    assert judge(statistics, lenient).verdict == VerdictName.PASS
    assert [gate.threshold for gate in judge(statistics, lenient).gates] == [0.5, 0.9, 0.5, 0.0, 3.0]


@pytest.mark.parametrize("missing", [None, math.nan, math.inf])
def test_a_dsr_that_could_not_be_computed_is_skipped_and_flags(missing: float | None) -> None:
    verdict = judge({**AT_THRESHOLDS, "dsr": missing}, Gates(), why_missing={"dsr": "no variance"})
    assert verdict.verdict == VerdictName.FLAGGED
    dsr = verdict.gates[0]
    assert (dsr.value, dsr.passed) == (None, None)
    assert dsr.reason == "DSR: skipped (no variance)"
    assert verdict.failed == ()  # nothing failed: the verdict is flagged because the DSR was never judged
    assert verdict.summary == "flagged: DSR: skipped (no variance)"


def test_a_key_left_out_is_a_skipped_gate_too() -> None:
    statistics = {k: v for k, v in AT_THRESHOLDS.items() if k != "dsr"}
    verdict = judge(statistics, Gates())
    assert verdict.verdict == VerdictName.FLAGGED
    assert verdict.gates[0].reason == "DSR: skipped (not computed)"


def test_a_skipped_walk_forward_efficiency_does_not_flag() -> None:
    verdict = judge({**AT_THRESHOLDS, "wfe": None}, Gates(), why_missing={"wfe": "no walk-forward in this run"})
    assert verdict.verdict == VerdictName.PASS
    wfe = verdict.gates[3]
    assert (wfe.name, wfe.value, wfe.passed) == ("wfe", None, None)
    assert wfe.reason == "WFE: skipped (no walk-forward in this run)"
    assert "WFE" not in verdict.summary  # a pass lists what was judged, not what was skipped


def test_skipped_gates_never_pass_a_verdict_alone() -> None:
    # Only the DSR judged, and passing: a pass. Nothing judged at all: flagged.
    assert judge({"dsr": 0.99}, Gates()).verdict == VerdictName.PASS
    assert judge({}, Gates()).verdict == VerdictName.FLAGGED


def test_failed_reasons_carry_the_numbers_the_direction_and_what_it_means() -> None:
    statistics = {"dsr": 0.31, "pbo": 0.7, "spa": 0.5, "wfe": 0.1, "trades": 12.0}
    verdict = judge(statistics, Gates())
    reasons = {gate.name: gate.reason for gate in verdict.gates}
    assert reasons["dsr"] == "DSR 0.31 < 0.95 — likely luck"
    assert reasons["pbo"] == "PBO 0.70 > 0.50 — the search overfits"
    assert reasons["spa"] == "SPA p 0.50 > 0.05 — no better than cash after the search"
    assert reasons["wfe"] == "WFE 0.10 < 0.50 — does not hold out of sample"
    assert reasons["trades"] == "trades 12 >= 10"
    assert verdict.summary == "flagged: " + "; ".join(reasons[name] for name in ("dsr", "pbo", "spa", "wfe"))
    gate = verdict.gates[0].as_json()
    assert gate == {
        "name": "dsr", "label": "Deflated Sharpe ratio", "value": 0.31, "threshold": 0.95, "op": ">=",
        "passed": False, "reason": "DSR 0.31 < 0.95 — likely luck",
    }  # fmt: skip


def test_a_trade_count_below_ten_reads_as_a_whole_number() -> None:
    # A count of trades has no decimals: "trades 7.00" reads as if fractional trades existed.
    reason = judge({**AT_THRESHOLDS, "trades": 7.0}, Gates()).gates[4].reason
    assert reason == "trades 7 < 10 — too few to judge"


@pytest.mark.parametrize(("name", "value"), [("dsr", 0.949), ("spa", 0.0504), ("pbo", 0.5001)])
def test_a_value_that_fails_is_never_shown_equal_to_its_threshold(name: str, value: float) -> None:
    # "DSR 0.95 < 0.95" contradicts itself: a failing value must be shown with the digits that make it differ.
    gate = next(g for g in judge({**AT_THRESHOLDS, name: value}, Gates()).gates if g.name == name)
    assert gate.passed is False
    shown_value, shown_threshold = gate.reason.split(" — ")[0].rsplit(" ", 3)[1::2]
    assert shown_value != shown_threshold, gate.reason
    assert float(shown_value) == pytest.approx(value, rel=1e-3)


def test_gates_from_text_sets_the_named_thresholds_and_keeps_the_defaults() -> None:
    gates = Gates.from_text(" dsr = 0.9 , pbo=0.4,, trades=12,")
    assert (gates.min_dsr, gates.max_pbo, gates.min_trades) == (0.9, 0.4, 12)
    assert (gates.max_spa_pvalue, gates.min_wfe) == (0.05, 0.5)
    assert gates.thresholds() == {"dsr": 0.9, "pbo": 0.4, "spa": 0.05, "wfe": 0.5, "trades": 12.0}
    assert Gates.from_text("") == Gates()
    assert Gates.from_text("spa=1e-2").max_spa_pvalue == 0.01


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dsr=2", "--gates: dsr: Input should be less than or equal to 1 (got 2.0)"),
        ("pbo=-0.1", "--gates: pbo: Input should be greater than or equal to 0 (got -0.1)"),
        ("spa=1.5", "--gates: spa: Input should be less than or equal to 1 (got 1.5)"),
        ("trades=2.5", "--gates: trades: Input should be a valid integer"),
        ("trades=-1", "--gates: trades: Input should be greater than or equal to 0"),
        ("dsr", "--gates: 'dsr' is not NAME=NUMBER"),
        ("dsr=abc", "--gates: 'dsr=abc' is not NAME=NUMBER"),
        ("min_dsr=0.9", "--gates: unknown gate 'min_dsr' in 'min_dsr=0.9'; gates: dsr, pbo, spa, wfe, trades"),
        ("dsr=0.9,foo=1", "--gates: unknown gate 'foo'"),
    ],
)
def test_gates_from_text_refuses_a_bad_item_in_one_line_naming_it(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Gates.from_text(text)
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["wfe=nan", "wfe=inf", "dsr=nan"])
def test_gates_from_text_refuses_a_threshold_that_is_not_a_finite_number(text: str) -> None:
    # A NaN minimum fails every comparison: every walk-forward run would be flagged, whatever its efficiency.
    with pytest.raises(ConfigError) as caught:
        Gates.from_text(text)
    name, _, _ = text.partition("=")
    assert str(caught.value).startswith(f"--gates: {name}: ")
