"""Pareto fronts and layers on hand-made point sets, checked against a brute-force dominance test.

Points are written as (return %, drawdown %) with their index; every expected front is worked out in the comment
next to it, not computed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import ArrayLike

from stratlab.selection import pareto_front, pareto_ranks

NAN = math.nan
INF = math.inf


def front(points: list[tuple[float, float]]) -> list[int]:
    result: list[int] = pareto_front([p[0] for p in points], [p[1] for p in points]).tolist()
    return result


def ranks(points: list[tuple[float, float]]) -> list[int]:
    result: list[int] = pareto_ranks([p[0] for p in points], [p[1] for p in points]).tolist()
    return result


# An independent reference: the definition applied pair by pair, O(n²).
def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def brute_front(points: list[tuple[float, float]]) -> list[int]:
    finite = [i for i, p in enumerate(points) if math.isfinite(p[0]) and math.isfinite(p[1])]
    kept = [i for i in finite if not any(dominates(points[j], points[i]) for j in finite)]
    return sorted(kept, key=lambda i: (points[i][1], -points[i][0], i))


def brute_ranks(points: list[tuple[float, float]]) -> list[int]:
    out = [-1] * len(points)
    left = {i for i, p in enumerate(points) if math.isfinite(p[0]) and math.isfinite(p[1])}
    layer = 0
    while left:
        current = {i for i in left if not any(dominates(points[j], points[i]) for j in left)}
        for i in current:
            out[i] = layer
        left -= current
        layer += 1
    return out


# --- fronts ---------------------------------------------------------------------------------------------------------


def test_dominated_points_are_dropped() -> None:
    points = [
        (10.0, 5.0),  # 0: front
        (5.0, 2.0),  # 1: front (lowest drawdown, best return there)
        (8.0, 6.0),  # 2: dominated by 0 (less return, more drawdown)
        (12.0, 9.0),  # 3: front (highest return)
        (3.0, 2.0),  # 4: dominated by 1 (same drawdown, less return)
        (12.0, 10.0),  # 5: dominated by 3 (same return, more drawdown)
    ]
    assert front(points) == [1, 0, 3]


def test_horizontal_tie_keeps_the_lower_drawdown() -> None:
    # Same return: the lower drawdown dominates.
    assert front([(5.0, 3.0), (5.0, 2.0)]) == [1]


def test_vertical_tie_keeps_the_higher_return() -> None:
    # Same drawdown: the higher return dominates.
    assert front([(5.0, 2.0), (7.0, 2.0)]) == [1]


def test_exact_duplicates_are_all_kept_in_input_order() -> None:
    points = [
        (7.0, 4.0),  # 0: front, copy of 3
        (5.0, 2.0),  # 1: front, copy of 2
        (5.0, 2.0),  # 2: front
        (7.0, 4.0),  # 3: front
        (6.0, 5.0),  # 4: dominated by 0 and 3
        (4.0, 2.0),  # 5: dominated by 1 and 2
    ]
    assert front(points) == [1, 2, 0, 3]


def test_single_point_and_empty_input() -> None:
    assert front([(-3.0, 40.0)]) == [0]
    result = pareto_front([], [])
    assert result.dtype == np.int64
    assert result.tolist() == []


def test_all_equal_points_are_all_on_the_front() -> None:
    assert front([(2.0, 1.0)] * 4) == [0, 1, 2, 3]


def test_nan_and_inf_rows_are_never_on_the_front() -> None:
    points = [
        (NAN, 1.0),  # 0: out
        (5.0, NAN),  # 1: out
        (INF, 3.0),  # 2: out (would dominate everything if it counted)
        (4.0, -INF),  # 3: out (same)
        (1.0, 2.0),  # 4: front
        (-INF, 0.5),  # 5: out
        (3.0, 4.0),  # 6: front
        (2.0, INF),  # 7: out
    ]
    assert front(points) == [4, 6]
    assert front([(NAN, NAN), (INF, 1.0)]) == []


def test_front_is_ordered_by_drawdown() -> None:
    # The staircase (1, 1), (3, 2), (6, 4), (9, 8) given shuffled, with dominated points between.
    points = [
        (6.0, 4.0),  # 0: front, third
        (2.0, 3.0),  # 1: dominated by 3
        (9.0, 8.0),  # 2: front, fourth
        (3.0, 2.0),  # 3: front, second
        (5.0, 9.0),  # 4: dominated by 0
        (1.0, 1.0),  # 5: front, first
    ]
    assert front(points) == [5, 3, 0, 2]


def test_negative_returns_and_zero_drawdown() -> None:
    points = [
        (-2.0, 0.0),  # 0: front (no drawdown at all)
        (-1.0, 0.0),  # 1: front, dominates 0 (same drawdown, more return)
        (-5.0, 3.0),  # 2: dominated by 1
        (0.5, 1.0),  # 3: front
    ]
    assert front(points) == [1, 3]


def test_accepts_numpy_arrays_and_integers() -> None:
    result = pareto_front(np.array([1, 2, 3]), np.array([1, 2, 1]))
    # (1,1), (2,2), (3,1): point 2 dominates both others.
    assert result.dtype == np.int64
    assert result.tolist() == [2]


@pytest.mark.parametrize(
    ("returns", "drawdowns"),
    [([1.0, 2.0], [1.0]), ([[1.0]], [[1.0]]), (1.0, 1.0)],
)
def test_bad_shapes_raise(returns: ArrayLike, drawdowns: ArrayLike) -> None:
    with pytest.raises(ValueError, match="returns_pct and drawdowns_pct"):
        pareto_front(returns, drawdowns)
    with pytest.raises(ValueError, match="returns_pct and drawdowns_pct"):
        pareto_ranks(returns, drawdowns)


# --- ranks ----------------------------------------------------------------------------------------------------------


def test_ranks_layer_by_layer() -> None:
    points = [
        (10.0, 5.0),  # 0: layer 0
        (5.0, 2.0),  # 1: layer 0
        (8.0, 6.0),  # 2: layer 1 (only 0 dominates it)
        (12.0, 9.0),  # 3: layer 0
        (3.0, 2.0),  # 4: layer 1 (only 1 dominates it)
        (12.0, 10.0),  # 5: layer 1 (only 3 dominates it)
        (NAN, 1.0),  # 6: -1
        (2.0, 7.0),  # 7: layer 2 (dominated by 2, which is layer 1)
        (3.0, 2.0),  # 8: layer 1, copy of 4
        (1.0, 11.0),  # 9: layer 3 (dominated by 7)
        (4.0, INF),  # 10: -1
    ]
    assert ranks(points) == [0, 0, 1, 0, 1, 1, -1, 2, 1, 3, -1]


def test_ranks_of_degenerate_sets() -> None:
    assert ranks([]) == []
    assert ranks([(1.0, 1.0)]) == [0]
    assert ranks([(1.0, 1.0)] * 3) == [0, 0, 0]
    assert ranks([(NAN, NAN), (INF, -INF)]) == [-1, -1]
    # A chain: each point dominates the next.
    assert ranks([(1.0, 4.0), (4.0, 1.0), (2.0, 3.0), (3.0, 2.0)]) == [3, 0, 2, 1]


# --- against the brute-force reference ------------------------------------------------------------------------------

# Small integers make ties and exact copies common; the special values cover the rows that must be left out.
values = st.one_of(
    st.integers(-4, 4).map(float),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([NAN, INF, -INF, -0.0]),
)
point_sets = st.lists(st.tuples(values, values), max_size=40)
# No per-example deadline: on a loaded machine one example can take longer than Hypothesis' default 200 ms, and the
# time of an example says nothing about the front being right.
no_deadline = settings(deadline=None)


@no_deadline
@given(point_sets)
def test_front_matches_brute_force(points: list[tuple[float, float]]) -> None:
    assert front(points) == brute_front(points)


@no_deadline
@given(point_sets)
def test_ranks_match_brute_force(points: list[tuple[float, float]]) -> None:
    got = ranks(points)
    assert got == brute_ranks(points)
    assert sorted(i for i, rank in enumerate(got) if rank == 0) == sorted(front(points))


def test_five_thousand_points() -> None:
    rng = np.random.default_rng(7)
    drawdowns = rng.uniform(0.0, 60.0, 5_000)
    returns = rng.normal(0.0, 20.0, 5_000) + 0.5 * drawdowns
    returns[::500] = np.nan
    idx = pareto_front(returns, drawdowns)
    layer = pareto_ranks(returns, drawdowns)
    assert idx.size > 0
    # Along a front of distinct points, return rises strictly with drawdown.
    assert np.all(np.diff(drawdowns[idx]) > 0)
    assert np.all(np.diff(returns[idx]) > 0)
    assert sorted(idx.tolist()) == np.flatnonzero(layer == 0).tolist()
    assert np.all(layer[::500] == -1)
    assert layer.max() > 0
