"""The trials table of a real run, checked row by row against trials.csv and the candidates table read independently
(JSON parsed per row, the train Pareto front by brute-force dominance, filters as plain pandas expressions)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.ui.trial_table import (
    CANDIDATE,
    DOMINATED,
    NOT_JUDGED,
    TOO_FEW_TRADES,
    build_trial_table,
    filter_trials,
    trial_label,
    trials_csv,
    without_blank_parameters,
)

MIN_TRAIN_TRADES = 5  # the CLI's default, which finished_runs keeps


@pytest.fixture(scope="module")
def run_tables(finished_runs: tuple[Path, list[str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs_root, names = finished_runs
    run = runs_root / next(n for n in names if n.endswith("first"))  # two strategies
    return pd.read_csv(run / "trials.csv"), pd.read_csv(run / "candidates_test.csv")


def test_one_row_per_trial_with_each_parameter_in_its_own_column(run_tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    trials, candidates = run_tables
    table = build_trial_table(trials, candidates, "test", MIN_TRAIN_TRADES)
    frame = table.frame
    assert len(frame) == len(trials) and set(trials["strategy"]) == {"ma_cross", "stochastic"}
    assert {"fast", "slow", "k_period", "direction", "bt.tp_pct", "bt.sl_pct"} <= set(table.parameters)
    assert {"train return %", "train max DD %", "train trades", "test return %", "DSR", "verdict"} <= set(frame)
    for i, row in trials.iterrows():
        stored = json.loads(row["params"])
        for name in table.parameters:
            value = frame.at[i, name]
            if name in stored:
                assert value == stored[name], (row["strategy"], row["trial"], name)
            else:  # another strategy's parameter: blank
                assert pd.isna(value), (row["strategy"], row["trial"], name)
        assert frame.at[i, "train return %"] == row["train_return_pct"] or pd.isna(row["train_return_pct"])
    # Integer parameters read as integers, text ones as text.
    assert str(frame["fast"].dtype) == "Int64" and frame["bt.tp_pct"].dtype == float
    assert "direction" in table.categorical_columns and "fast" in table.numeric_columns


def test_candidates_carry_the_selection_figures_and_the_rest_say_why_not(
    run_tables: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    trials, candidates = run_tables
    frame = build_trial_table(trials, candidates, "test", MIN_TRAIN_TRADES).frame.set_index(["strategy", "trial"])
    for row in candidates.itertuples():
        got = frame.loc[(row.strategy, row.trial)]
        assert got["candidate"] == CANDIDATE
        assert got["test return %"] == row.test_return_pct and got["verdict"] == row.verdict
        assert got["test valid"] == row.test_is_valid and got["DSR"] == pytest.approx(row.dsr, nan_ok=True)
    # Every other completed trial with enough trades is dominated on train, by brute force over its strategy's trials.
    for row in trials.itertuples():
        got = frame.loc[(row.strategy, row.trial)]
        if got["candidate"] == CANDIDATE:
            continue
        assert pd.isna(got["test return %"]) and got["verdict"] is None
        if row.state != "COMPLETE":
            continue
        if row.n_trades < MIN_TRAIN_TRADES:
            assert got["candidate"].startswith(TOO_FEW_TRADES)
            continue
        rivals = trials[
            (trials["strategy"] == row.strategy) & (trials["state"] == "COMPLETE")
            & (trials["n_trades"] >= MIN_TRAIN_TRADES)
        ]  # fmt: skip
        dominated = (
            (rivals["train_return_pct"] >= row.train_return_pct)
            & (rivals["train_max_drawdown_pct"] <= row.train_max_drawdown_pct)
            & (
                (rivals["train_return_pct"] > row.train_return_pct)
                | (rivals["train_max_drawdown_pct"] < row.train_max_drawdown_pct)
            )
        ).any()
        assert dominated and got["candidate"] == DOMINATED, (row.strategy, row.trial)


def test_without_a_report_nothing_is_said_about_the_front(run_tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    trials, _ = run_tables
    frame = build_trial_table(trials, None, "test", MIN_TRAIN_TRADES).frame
    assert set(frame["candidate"]) == {NOT_JUDGED} and frame["test return %"].isna().all()


def test_filters_keep_what_plain_pandas_keeps(run_tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    trials, candidates = run_tables
    table = build_trial_table(trials, candidates, "test", MIN_TRAIN_TRADES).frame
    params = trials["params"].map(json.loads)
    low, high = trials["train_return_pct"].quantile([0.25, 0.75])
    kept = filter_trials(table, strategies={"ma_cross"}, states={"COMPLETE"}, ranges={"train return %": (low, high)})
    expected = trials[
        (trials["strategy"] == "ma_cross") & (trials["state"] == "COMPLETE")
        & (trials["train_return_pct"] >= low) & (trials["train_return_pct"] <= high)
    ]  # fmt: skip
    assert list(zip(kept["strategy"], kept["trial"], strict=True)) == list(
        zip(expected["strategy"], expected["trial"], strict=True)
    )
    assert 0 < len(kept) < len(trials)
    # A narrowed range on a stochastic-only parameter drops the trials without it (ma_cross) ...
    k_periods = params.map(lambda p: p.get("k_period")).dropna()
    narrowed = filter_trials(table, ranges={"k_period": (k_periods.min(), k_periods.median())})
    assert set(narrowed["strategy"]) == {"stochastic"}
    assert len(narrowed) == int((k_periods <= k_periods.median()).sum())
    # ... and the same range at the column's full extent filters nothing, so they stay.
    assert len(filter_trials(table, ranges={"k_period": (k_periods.min(), k_periods.max())})) == len(trials)
    # Text parameters by value.
    longs = filter_trials(table, choices={"direction": ["long"]})
    assert len(longs) == int((params.map(lambda p: p.get("direction")) == "long").sum())


def test_the_csv_export_is_the_filtered_rows(run_tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    trials, candidates = run_tables
    table = build_trial_table(trials, candidates, "test", MIN_TRAIN_TRADES).frame
    kept = filter_trials(table, strategies={"stochastic"})
    back = pd.read_csv(io.StringIO(trials_csv(kept)))
    assert list(back.columns) == list(kept.columns)
    stochastic = trials[trials["strategy"] == "stochastic"]
    assert back["trial"].tolist() == stochastic["trial"].tolist()
    np.testing.assert_allclose(back["train return %"], stochastic["train_return_pct"], equal_nan=True)


def test_a_view_of_one_strategy_leaves_out_the_other_strategys_parameters(
    run_tables: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    trials, candidates = run_tables
    table = build_trial_table(trials, candidates, "test", MIN_TRAIN_TRADES)
    view = without_blank_parameters(filter_trials(table.frame, strategies={"stochastic"}), table.parameters)
    stochastic = set().union(*trials.loc[trials["strategy"] == "stochastic", "params"].map(json.loads).map(set))
    assert set(view.columns) & set(table.parameters) == stochastic
    assert "fast" not in view.columns and "train return %" in view.columns and "test return %" in view.columns


def test_trial_labels_name_the_window_in_walk_forward_runs() -> None:
    assert trial_label({"strategy": "ma_cross", "trial": 12}) == "ma_cross #12"
    assert trial_label({"window": 2, "strategy": "ma_cross", "trial": 12}) == "ma_cross@w2 #12"


def test_five_thousand_trials_build_and_filter_quickly(run_tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    trials, candidates = run_tables
    # The real trials repeated to the size of a big run (5,000 trials), each copy with its own trial numbers.
    copies = -(-5_000 // len(trials))
    big = pd.concat([trials.assign(trial=trials["trial"] + k * 10_000) for k in range(copies)], ignore_index=True).iloc[
        :5_000
    ]
    started = time.perf_counter()
    table = build_trial_table(big, candidates, "test", MIN_TRAIN_TRADES)
    kept = filter_trials(
        table.frame, strategies={"ma_cross"}, states={"COMPLETE"}, ranges={"train return %": (-5.0, 50.0)}
    )
    elapsed = time.perf_counter() - started
    assert len(table.frame) == 5_000 and len(kept) > 0
    assert elapsed < 0.3, f"building and filtering 5,000 trials took {elapsed:.3f} s"


def test_a_damaged_params_cell_is_a_row_without_parameters_not_an_error(
    run_tables: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    trials, _ = run_tables
    damaged = trials.copy()
    damaged.loc[damaged.index[0], "params"] = "[1, 2]"  # JSON, but not an object
    damaged.loc[damaged.index[1], "params"] = "{not json"
    frame = build_trial_table(damaged, None, "test", MIN_TRAIN_TRADES).frame
    assert len(frame) == len(trials)
    names = set(json.loads(trials["params"].iloc[2]))
    assert frame.loc[frame.index[:2], sorted(names)].isna().all().all()  # its parameters blank
    assert frame.loc[frame.index[2], sorted(names)].notna().all()  # the others' as before
