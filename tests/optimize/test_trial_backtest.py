"""Any trial backtested again from a real run: its per-part figures are the ones the report recorded (the candidates
table, the champion's manifest), its whole-period backtest stays inside the period, its manifest replays, and the
parameters read from the storage are the ones trials.csv holds."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from stratlab.engine.config import PositionMode
from stratlab.errors import DataError
from stratlab.optimize import create_run, run_worker, write_report
from stratlab.optimize.backtest_space import CommonSpace
from stratlab.optimize.context import RunRequest, WalkForward
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.trial_backtest import HAND_PICKED, TrialBacktester, backtest_trial, trial_manifest
from stratlab.report.manifest import read_manifest, replay_manifest
from stratlab.report.split import PartRole
from stratlab.selection.gates import VerdictName

KPIS = ("return_pct", "max_drawdown_pct", "sharpe", "n_trades")


@dataclass(frozen=True)
class MadeRun:
    run_dir: RunDir
    data_root: Path

    def table(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.run_dir.path / name)


def make_run(data_root: Path, runs_root: Path, **fields: object) -> MadeRun:
    request = RunRequest.parse(
        source="demo", symbol="BTC", start="2025-01-01", end="2025-04-30", sampler="random", seed=3,
        dd_threshold_pct=100.0, **fields,
    )  # fmt: skip
    run_dir = create_run(request, data_root=data_root, runs_root=runs_root)
    run_worker(run_dir.path)
    write_report(run_dir)
    return MadeRun(run_dir, data_root)


@pytest.fixture(scope="module")
def three_way(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> MadeRun:
    """Train/validation/holdout, every position mode searched (so trials carry conditional settings)."""
    return make_run(
        demo_root, tmp_path_factory.mktemp("runs"), strategies=("ma_cross", "rsi_reversion"), max_trials=16,
        split=(0.6, 0.2, 0.2), common=CommonSpace(position_modes=tuple(PositionMode)),
    )  # fmt: skip


@pytest.fixture(scope="module")
def walk_forward(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> MadeRun:
    return make_run(
        demo_root, tmp_path_factory.mktemp("runs"), strategies=("ma_cross",), max_trials=8,
        walk_forward=WalkForward(windows=2),
    )  # fmt: skip


def test_every_part_of_every_candidate_has_the_figures_the_report_recorded(three_way: MadeRun) -> None:
    candidates = three_way.table("candidates_validation.csv")
    assert len(candidates) >= 3
    bench = TrialBacktester(three_way.run_dir, three_way.data_root)
    for row in candidates.itertuples():
        backtest = bench.backtest(str(row.strategy), int(row.trial))
        assert backtest.candidate is not None and backtest.candidate["verdict"] == row.verdict
        for part in ("train", "validation"):
            kpis = backtest.by_part[part].kpis  # type: ignore[index]
            for kpi in KPIS:
                recorded = getattr(row, f"{part}_{kpi}")
                assert kpis[kpi] == pytest.approx(recorded, rel=1e-12, nan_ok=True), (row.strategy, row.trial, kpi)


def test_the_champion_per_part_equals_its_manifest_and_the_whole_period_trades_inside_it(three_way: MadeRun) -> None:
    champion = json.loads(three_way.run_dir.champion_path.read_text())
    backtest = backtest_trial(three_way.run_dir.path, champion["strategy"], champion["trial"], three_way.data_root)
    assert backtest.is_champion
    assert set(backtest.by_part) == set(champion["kpis"]) == {"train", "validation", "holdout"}
    assert backtest.roles == {part: PartRole(role) for part, role in champion["selection"]["part_roles"].items()}
    for part, recorded in champion["kpis"].items():
        got = backtest.by_part[part].kpis  # type: ignore[index]
        for kpi in (*KPIS, "cagr_pct", "profit_factor", "fees_paid"):
            assert got[kpi] == pytest.approx(recorded[kpi], rel=1e-12, nan_ok=True), (part, kpi)
    # The backtest config is the manifest's, searched settings (TP/SL/mode) included.
    assert backtest.config.model_dump(mode="json") == champion["backtest"]
    # One backtest over all the bars of the run, from the first part's first bar to the last part's last.
    whole = backtest.whole
    parts = champion["dataset"]["parts"]
    assert (whole.start, whole.end) == (parts[0]["start"], parts[-1]["end"])
    trades = whole.trades
    assert len(trades) > 0
    assert trades["entry_time_ms"].min() >= parts[0]["first_bar_ms"]
    assert trades["exit_time_ms"].max() <= parts[-1]["last_bar_ms"]
    assert backtest.boundaries == [(p["name"], p["first_bar_ms"], p["last_bar_ms"]) for p in parts]


def test_a_non_candidate_trial_gets_a_manifest_that_says_it_was_picked_by_hand_and_replays(
    three_way: MadeRun, tmp_path: Path
) -> None:
    trials = three_way.table("trials.csv")
    candidates = three_way.table("candidates_validation.csv")
    chosen = set(zip(candidates["strategy"], candidates["trial"], strict=True))
    complete = trials[(trials["state"] == "COMPLETE") & (trials["n_trades"] > 0)]
    # A trial with a grid or martingale setting: its conditional settings must reach the config.
    params = complete["params"].map(json.loads)
    moded = complete[params.map(lambda p: p.get("bt.position_mode") != "none")]
    row = next(r for r in moded.itertuples() if (r.strategy, r.trial) not in chosen)
    backtest = backtest_trial(three_way.run_dir.path, str(row.strategy), int(row.trial), three_way.data_root)
    stored = json.loads(str(row.params))
    assert backtest.config.position_mode == PositionMode(stored["bt.position_mode"])
    assert backtest.config.tp_pct == stored["bt.tp_pct"]
    for name, value in stored.items():
        if name.startswith("bt.") and name != "bt.position_mode":
            assert getattr(backtest.config, name.removeprefix("bt.")) == value, name
    # The train figure is the one the worker told the storage (an independent record: the search's own backtest).
    assert backtest.by_part["train"].return_pct == pytest.approx(row.train_return_pct, rel=1e-12)  # type: ignore[index]
    manifest = trial_manifest(backtest)
    assert backtest.candidate is None and manifest.verdict is None
    assert HAND_PICKED in manifest.selection.reason and "champion" not in manifest.selection.reason
    # Picked with every part in view: its holdout is a selection figure, not out-of-sample (the champion's is).
    assert manifest.selection.part_roles == {
        "train": PartRole.SEARCHED, "validation": PartRole.SELECTION, "holdout": PartRole.SELECTION,
    }  # fmt: skip
    path = tmp_path / "trial.json"
    manifest.write(path)
    assert read_manifest(path).trial == int(row.trial)
    # `stratlab backtest --manifest` computes signals on all the candles, not cut at each part: same figures.
    replays = replay_manifest(path, three_way.data_root)
    assert {r.part for r in replays} == {"train", "validation", "holdout"}
    assert all(not r.mismatches for r in replays), [r.mismatches for r in replays]


def test_a_candidate_manifest_carries_the_reports_verdict_and_says_where_it_comes_from(three_way: MadeRun) -> None:
    row = three_way.table("candidates_validation.csv").iloc[-1]
    manifest = trial_manifest(backtest_trial(three_way.run_dir.path, row["strategy"], int(row["trial"])))
    assert manifest.verdict is not None and manifest.verdict.verdict == VerdictName(row["verdict"])
    assert "candidates_validation.csv" in manifest.verdict.summary
    failed = [] if pd.isna(row["failed_gates"]) else str(row["failed_gates"]).split("; ")
    assert [g["reason"] for g in manifest.verdict.gates] == failed
    assert manifest.verdict.statistics["dsr"] == pytest.approx(row["dsr"], nan_ok=True)


def test_without_trials_csv_the_parameters_come_from_the_storage(three_way: MadeRun, tmp_path: Path) -> None:
    copy = tmp_path / three_way.run_dir.path.name
    shutil.copytree(three_way.run_dir.path, copy)
    (copy / "trials.csv").unlink()  # a run whose report is not written yet
    trials = three_way.table("trials.csv")
    row = trials[trials["state"] == "COMPLETE"].iloc[5]
    from_storage = TrialBacktester(copy, three_way.data_root).stored_trial(row["strategy"], int(row["trial"]))
    assert from_storage.params == json.loads(row["params"])


def test_unknown_studies_and_trials_are_one_line_errors(three_way: MadeRun) -> None:
    bench = TrialBacktester(three_way.run_dir, three_way.data_root)
    with pytest.raises(DataError, match=r"no study 'nope' \(it has ma_cross, rsi_reversion\)"):
        bench.backtest("nope", 1)
    with pytest.raises(DataError, match="ma_cross has no trial #9999"):
        bench.backtest("ma_cross", 9999)


def test_a_walk_forward_trial_is_named_by_its_window_and_spans_that_window(
    walk_forward: MadeRun, tmp_path: Path
) -> None:
    context = walk_forward.run_dir.load_context()
    windows = walk_forward.table("candidates_windows.csv")
    bench = TrialBacktester(walk_forward.run_dir, walk_forward.data_root)
    with pytest.raises(DataError, match="no study 'ma_cross'"):
        bench.backtest("ma_cross", 0)
    row = windows[windows["window"] == 0].iloc[0]
    backtest = bench.backtest(f"ma_cross@w{row['window']}", int(row["trial"]))
    window = context.windows[0]
    assert (backtest.whole.start, backtest.whole.end) == (window[0].start, window[-1].end)
    assert backtest.parts == window
    assert backtest.candidate is not None and backtest.candidate["window"] == 0
    for part in ("train", "validation"):
        assert backtest.by_part[part].return_pct == pytest.approx(row[f"{part}_return_pct"], rel=1e-12)  # type: ignore[index]
    # Window 1's trials are its own study's: its parameters and its bars.
    trials = walk_forward.table("trials.csv")
    later = trials[(trials["window"] == 1) & (trials["state"] == "COMPLETE")].iloc[0]
    other = bench.backtest("ma_cross@w1", int(later["trial"]))
    assert other.whole.start == context.windows[1][0].start != backtest.whole.start
    assert other.stored.params == json.loads(later["params"])
    # Its manifest carries the window's parts, so a replay trades the same bars.
    path = tmp_path / "window.json"
    trial_manifest(backtest).write(path)
    assert all(not r.mismatches for r in replay_manifest(path, walk_forward.data_root))
