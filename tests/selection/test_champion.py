"""Champion choice on hand-made candidate sets: the threshold, every tie-break level, no champion, odd inputs.

Each expected champion and reason is written out by hand; figures are percents as in the reports.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from stratlab.errors import ConfigError
from stratlab.selection import Candidate, ChampionChoice, choose_champion, front_candidates

NAN = math.nan
INF = math.inf


def cand(
    trial: int,
    sel_ret: float,
    sel_dd: float,
    *,
    strategy: str = "ma_cross",
    train_ret: float = 10.0,
    train_dd: float = 5.0,
) -> Candidate:
    return Candidate(
        strategy=strategy,
        trial=trial,
        params={"fast": trial, "slow": 2 * trial + 10},
        train_return_pct=train_ret,
        train_drawdown_pct=train_dd,
        selection_return_pct=sel_ret,
        selection_drawdown_pct=sel_dd,
    )


# --- the rule -------------------------------------------------------------------------------------------------------


def test_max_selection_return_under_the_threshold() -> None:
    a = cand(1, 8.0, 12.0)
    b = cand(2, 12.0, 18.0)  # the best return with DD <= 20
    c = cand(3, 15.0, 25.0)  # better return, DD above 20: skipped
    d = cand(4, 5.0, 3.0)
    choice = choose_champion([a, b, c, d], 20.0)
    assert choice.champion is b
    assert choice.ranking == (b, a, d)
    assert (choice.n_candidates, choice.n_eligible, choice.dd_threshold_pct) == (4, 3, 20.0)
    assert choice.selection_split == "test"
    assert choice.reason == "max test return among 3 of 4 candidates with test DD <= 20 %"


def test_better_return_just_above_the_threshold_is_skipped() -> None:
    low = cand(1, 4.0, 19.9)
    high = cand(2, 30.0, 20.5)
    choice = choose_champion([high, low], 20)
    assert choice.champion is low
    assert choice.n_eligible == 1
    assert choice.reason == "max test return among 1 of 2 candidates with test DD <= 20 %"


def test_exactly_at_the_threshold_is_eligible() -> None:
    at = cand(1, 9.0, 20.0)
    below = cand(2, 7.0, 10.0)
    assert choose_champion([below, at], 20.0).champion is at
    # Zero threshold: only candidates that never went under water.
    flat = cand(3, 0.5, 0.0)
    assert choose_champion([at, flat], 0.0).champion is flat


def test_champion_can_come_from_any_strategy() -> None:
    a = cand(4, 6.0, 8.0, strategy="ma_cross")
    b = cand(9, 11.0, 9.5, strategy="rsi_revert")
    c = cand(2, 7.0, 4.0, strategy="bollinger")
    choice = choose_champion([a, b, c], 10.0)
    assert choice.champion is b
    assert choice.ranking == (b, c, a)


def test_single_candidate() -> None:
    only = cand(0, -2.0, 1.0)
    choice = choose_champion([only], 5.0)
    # A losing champion is still the champion: the rule is about the threshold, not the sign.
    assert choice.champion is only
    assert choice.reason == "max test return among 1 of 1 candidate with test DD <= 5 %"


# --- tie-breaks, one level at a time --------------------------------------------------------------------------------
# Each pair ties on every earlier level and differs on one; the loser comes first in the input.

TIES = [
    pytest.param(
        cand(1, 10.0, 9.0),
        cand(2, 10.0, 8.0),
        "lower test DD",
        id="selection-dd",
    ),
    pytest.param(
        cand(1, 10.0, 8.0, train_ret=20.0),
        cand(2, 10.0, 8.0, train_ret=25.0),
        "higher train return",
        id="train-return",
    ),
    pytest.param(
        cand(1, 10.0, 8.0, train_ret=20.0, train_dd=6.0),
        cand(2, 10.0, 8.0, train_ret=20.0, train_dd=4.0),
        "lower train DD",
        id="train-dd",
    ),
    pytest.param(
        cand(1, 10.0, 8.0, strategy="rsi_revert"),
        cand(1, 10.0, 8.0, strategy="bollinger"),
        "strategy name",
        id="strategy",
    ),
    pytest.param(
        cand(7, 10.0, 8.0),
        cand(3, 10.0, 8.0),
        "trial number",
        id="trial",
    ),
]


@pytest.mark.parametrize(("loser", "winner", "level"), TIES)
def test_each_tie_break_level(loser: Candidate, winner: Candidate, level: str) -> None:
    for order in ([loser, winner], [winner, loser]):
        choice = choose_champion(order, 10.0)
        assert choice.champion is winner
        assert choice.ranking == (winner, loser)
        assert choice.reason == (
            f"max test return among 2 of 2 candidates with test DD <= 10 %; tie on test return broken by {level}"
        )


def test_full_ranking_does_not_depend_on_input_order() -> None:
    pool = [
        cand(1, 10.0, 9.0),
        cand(2, 10.0, 8.0, train_ret=25.0),
        cand(3, 10.0, 8.0, train_ret=20.0, train_dd=6.0),
        cand(4, 10.0, 8.0, train_ret=20.0, train_dd=4.0, strategy="rsi_revert"),
        cand(5, 10.0, 8.0, train_ret=20.0, train_dd=4.0, strategy="bollinger"),
        cand(6, 10.0, 8.0, train_ret=20.0, train_dd=4.0, strategy="bollinger"),
        cand(0, 12.0, 9.9),
    ]
    # By hand: 0 (best return), then the 10 % group: DD 8 before 9; train return 25 before 20; train DD 4 before 6;
    # bollinger before rsi_revert; trial 5 before 6.
    expected = tuple(pool[i] for i in (6, 1, 4, 5, 3, 2, 0))
    for order in itertools.permutations(pool):
        assert choose_champion(list(order), 10.0).ranking == expected


def test_identical_candidates_keep_input_order() -> None:
    # The same trial reported twice (a caller's mistake, not an error): nothing separates them.
    first, second = cand(5, 10.0, 8.0), cand(5, 10.0, 8.0)
    choice = choose_champion([first, second], 10.0)
    assert choice.champion is first
    assert choice.reason == (
        "max test return among 2 of 2 candidates with test DD <= 10 %; "
        "tie on every figure, name and trial number: first in input order kept"
    )


def test_no_tie_note_when_the_runner_up_is_behind() -> None:
    choice = choose_champion([cand(1, 10.0, 8.0), cand(2, 9.99, 1.0)], 10.0)
    assert choice.reason == "max test return among 2 of 2 candidates with test DD <= 10 %"


# --- no champion ----------------------------------------------------------------------------------------------------


def test_no_candidate_under_the_threshold() -> None:
    pool = [
        cand(3, 12.0, 9.0, strategy="rsi_revert"),
        cand(14, 4.0, 7.3),  # the lowest DD found
        cand(2, 20.0, 12.5, strategy="bollinger"),
    ]
    choice = choose_champion(pool, 5.0)
    assert choice.champion is None
    assert choice.ranking == ()
    assert (choice.n_candidates, choice.n_eligible) == (3, 0)
    assert choice.reason == "no candidate has test DD <= 5 % (best DD 7.3 %, trial 14 of ma_cross)"


def test_no_champion_reason_counts_ignored_rows() -> None:
    pool = [cand(1, 3.0, 6.5), cand(2, NAN, 0.1), cand(3, 2.0, INF)]
    choice = choose_champion(pool, 2.5)
    assert choice.champion is None
    assert choice.reason == (
        "no candidate has test DD <= 2.5 % (best DD 6.5 %, trial 1 of ma_cross); 2 with NaN or inf figures ignored"
    )


def test_best_dd_barely_above_the_threshold_is_shown_in_full() -> None:
    expected = "no candidate has test DD <= 5 % (best DD 5.0000001 %, trial 8 of ma_cross)"
    assert choose_champion([cand(8, 1.0, 5.0000001)], 5.0).reason == expected
    assert choose_champion([cand(8, 1.0, np.float64(5.0000001))], 5.0).reason == expected


def test_empty_candidate_list() -> None:
    choice = choose_champion([], 20.0)
    assert choice == ChampionChoice(
        champion=None,
        dd_threshold_pct=20.0,
        n_candidates=0,
        n_eligible=0,
        reason="no candidates to choose from",
        ranking=(),
        selection_split="test",
    )


# --- NaN and inf ----------------------------------------------------------------------------------------------------


def test_nan_and_inf_figures_are_never_eligible() -> None:
    good = cand(1, 3.0, 4.0)
    pool = [
        cand(2, NAN, 1.0),  # no return figure
        cand(3, INF, 1.0),  # an infinite return would beat everything
        cand(4, 50.0, NAN),  # NaN DD compares false with the threshold, but must not slip through another way
        cand(5, 50.0, -INF),
        cand(6, 50.0, 1.0, train_ret=NAN),  # selection figures fine, train figure broken
        cand(7, 50.0, 1.0, train_dd=INF),
        good,
    ]
    choice = choose_champion(pool, 10.0)
    assert choice.champion is good
    assert choice.ranking == (good,)
    assert (choice.n_candidates, choice.n_eligible) == (7, 1)
    assert choice.reason == "max test return among 1 of 7 candidates with test DD <= 10 %"


def test_all_figures_non_finite() -> None:
    choice = choose_champion([cand(1, NAN, 1.0), cand(2, 1.0, NAN)], 10.0)
    assert choice.champion is None
    assert choice.n_eligible == 0
    assert choice.reason == "no candidate has finite figures (all 2 have NaN or inf)"
    assert (
        choose_champion([cand(1, INF, INF)], 10.0).reason
        == "no candidate has finite figures (the only one has NaN or inf)"
    )


# --- settings -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1.0, -0.001, NAN, INF, -INF, None, "20", True])
def test_bad_thresholds_raise(bad: object) -> None:
    with pytest.raises(ConfigError, match="dd_threshold_pct"):
        choose_champion([cand(1, 1.0, 1.0)], bad)  # type: ignore[arg-type]


def test_integer_numpy_and_negative_zero_thresholds_are_accepted() -> None:
    assert choose_champion([], 20).dd_threshold_pct == 20.0
    assert choose_champion([], np.float64(7.5)).dd_threshold_pct == 7.5
    choice = choose_champion([cand(1, 1.0, 0.5)], -0.0)
    assert choice.reason == "no candidate has test DD <= 0 % (best DD 0.5 %, trial 1 of ma_cross)"


def test_bad_selection_split_raises() -> None:
    with pytest.raises(ConfigError, match="selection_split"):
        choose_champion([], 20.0, selection_split="holdout")


def test_reason_names_the_validation_split() -> None:
    pool = [cand(1, 6.0, 3.0), cand(2, 6.0, 2.0), cand(3, 9.0, 12.0)]
    choice = choose_champion(pool, 10.0, selection_split="validation")
    assert choice.champion is pool[1]
    assert choice.selection_split == "validation"
    assert choice.reason == (
        "max validation return among 2 of 3 candidates with validation DD <= 10 %; "
        "tie on validation return broken by lower validation DD"
    )
    none = choose_champion(pool, 1.5, selection_split="validation")
    assert none.reason == "no candidate has validation DD <= 1.5 % (best DD 2 %, trial 2 of ma_cross)"


def test_records_are_frozen() -> None:
    choice = choose_champion([cand(1, 1.0, 1.0)], 5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        choice.champion = None  # type: ignore[misc]
    assert choice.champion is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        choice.champion.trial = 2  # type: ignore[misc]


# --- train fronts per strategy --------------------------------------------------------------------------------------


def test_front_candidates_per_strategy() -> None:
    # Train figures (return, DD); selection figures do not matter here.
    r0 = cand(0, 0.0, 0.0, strategy="rsi_revert", train_ret=8.0, train_dd=4.0)  # front of rsi_revert
    m0 = cand(0, 0.0, 0.0, strategy="ma_cross", train_ret=5.0, train_dd=2.0)  # front of ma_cross
    r1 = cand(1, 0.0, 0.0, strategy="rsi_revert", train_ret=6.0, train_dd=5.0)  # dominated by r0
    m1 = cand(1, 0.0, 0.0, strategy="ma_cross", train_ret=12.0, train_dd=9.0)  # front of ma_cross
    m2 = cand(2, 0.0, 0.0, strategy="ma_cross", train_ret=4.0, train_dd=3.0)  # dominated by m0
    r2 = cand(2, 0.0, 0.0, strategy="rsi_revert", train_ret=3.0, train_dd=1.0)  # front of rsi_revert
    # Dominated by r0 across strategies, yet on its own strategy's front: fronts are per strategy.
    b0 = cand(0, 0.0, 0.0, strategy="bollinger", train_ret=1.0, train_dd=30.0)
    m3 = cand(3, 0.0, 0.0, strategy="ma_cross", train_ret=NAN, train_dd=0.5)  # never on a front
    m4 = cand(4, 0.0, 0.0, strategy="ma_cross", train_ret=5.0, train_dd=2.0)  # copy of m0's figures: kept
    pool = [r0, m0, r1, m1, m2, r2, b0, m3, m4]
    # Strategies by name, then train DD ascending, copies in input order.
    assert front_candidates(pool) == (b0, m0, m4, m1, r2, r0)
    assert front_candidates([]) == ()
