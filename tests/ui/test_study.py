"""A run's trials read live from its Optuna storage: the same frame as the report's trials.csv for a finished run, the
trials so far of a run without a report (made by the real CLI), new trials seen by the same shared storage object,
and a missing or damaged storage as one line with nothing created."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest

from stratlab.errors import DataError
from stratlab.optimize.rundir import RunDir
from stratlab.ui.study import live_trials_frame, storage_trials_frame
from tests.conftest import run_cli
from tests.ui.test_pages import copy_run

REPORT_FILES = ("report.json", "trials.csv", "pareto.csv", "candidates_test.csv", "champion.json", "robustness.json")


def optuna_trials(journal: Path, study: str, tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    """The study's trials as Optuna's own journal reader sees them (on a copy: that reader may touch its file)."""
    copy = tmp_path / f"independent-{study}.journal"
    shutil.copyfile(journal, copy)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(copy)))
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


def without_report(run_path: Path) -> None:
    for name in REPORT_FILES:
        (run_path / name).unlink(missing_ok=True)


def partial_run(runs_root: Path, demo_root: Path, budget_s: str | None = None) -> RunDir:
    """A run made by the CLI whose only worker (``run worker``, which never writes a report) stopped: after 25 trials
    per strategy, or at its time budget ``budget_s`` (then its trial count depends on the machine's speed): trials in
    the storage, no report."""
    env = {"STRATLAB_RUNS_ROOT": str(runs_root)}
    budget = ["--max-trials", "25"] if budget_s is None else ["--max-trials", "100000", "--time-budget", budget_s]
    created = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", "--start", "2025-01-01", "--end", "2025-01-31",
        "--strategies", "ma_cross,stochastic", *budget, "--sampler", "random", "--data-root", str(demo_root),
        "--label", "partial", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    run_dir = RunDir(next(p for p in runs_root.iterdir() if p.is_dir()))
    worker = run_cli("run", "worker", "--run-dir", str(run_dir.path), "--data-root", str(demo_root), env=env)
    assert worker.returncode == 0, worker.stderr
    return run_dir


def test_the_storage_gives_exactly_the_reports_trials_csv(
    finished_runs: tuple[Path, list[str]],
) -> None:
    runs_root, names = finished_runs
    for name in names:
        run_dir = RunDir(runs_root / name)
        expected = pd.read_csv(run_dir.path / "trials.csv")
        pd.testing.assert_frame_equal(storage_trials_frame(run_dir), expected)
        # A finished, reported run is read from its CSV: the same frame without replaying the journal.
        pd.testing.assert_frame_equal(live_trials_frame(run_dir), expected)


def test_a_copy_without_its_report_is_read_from_its_storage(
    finished_runs: tuple[Path, list[str]],
    tmp_path: Path,
) -> None:
    runs_root, names = finished_runs
    copy = copy_run(runs_root, names[0], tmp_path / "runs")
    without_report(copy)
    frame = live_trials_frame(RunDir(copy))
    pd.testing.assert_frame_equal(frame, pd.read_csv(runs_root / names[0] / "trials.csv"))


def test_a_run_stopped_early_shows_its_trials_without_a_report(demo_root: Path, tmp_path: Path) -> None:
    run_dir = partial_run(tmp_path / "runs", demo_root)
    assert not run_dir.report_path.exists() and not (run_dir.path / "trials.csv").exists()
    frame = live_trials_frame(run_dir)
    for study in ("ma_cross", "stochastic"):
        reference = optuna_trials(run_dir.journal_path, study, tmp_path)
        mine = frame[frame["strategy"] == study].reset_index(drop=True)
        assert len(reference) > 0
        assert list(mine["trial"]) == [t.number for t in reference]
        assert list(mine["state"]) == [t.state.name for t in reference]
        done = [t for t in reference if t.state == optuna.trial.TrialState.COMPLETE]
        shown = mine[mine["state"] == "COMPLETE"]
        assert list(shown["train_return_pct"]) == [t.values[0] for t in done]
        assert list(shown["train_max_drawdown_pct"]) == [t.values[1] for t in done]
    assert not any(run_dir.path.glob("report*")), "reading wrote a report"


def test_trials_added_later_are_seen_by_the_same_storage_object(demo_root: Path, tmp_path: Path) -> None:
    run_dir = partial_run(tmp_path / "runs", demo_root, budget_s="3")  # a time budget: a second worker still runs
    before = storage_trials_frame(run_dir)
    again = run_cli(
        "run", "worker", "--run-dir", str(run_dir.path), "--index", "1", "--data-root", str(demo_root),
        env={"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    after = storage_trials_frame(run_dir)  # an incremental read of the storage opened above
    reference = sum(len(optuna_trials(run_dir.journal_path, s, tmp_path)) for s in ("ma_cross", "stochastic"))
    assert len(after) == reference > len(before)


def test_a_missing_journal_is_one_line_and_is_not_created(
    finished_runs: tuple[Path, list[str]],
    demo_root: Path,
    tmp_path: Path,
) -> None:
    runs_root, names = finished_runs
    copy = copy_run(runs_root, names[0], tmp_path / "runs")
    without_report(copy)
    (copy / "optuna.journal").unlink()
    with pytest.raises(DataError) as lost:
        live_trials_frame(RunDir(copy))
    assert "journal is missing" in str(lost.value) and "\n" not in str(lost.value)
    assert not (copy / "optuna.journal").exists()

    # A run just created (its journal is empty): no trial, and nothing written to the journal.
    fresh_root = tmp_path / "fresh"
    created = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", "--start", "2025-01-01", "--end", "2025-01-31",
        "--strategies", "ma_cross", "--data-root", str(demo_root), env={"STRATLAB_RUNS_ROOT": str(fresh_root)},
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    fresh = RunDir(next(p for p in fresh_root.iterdir() if p.is_dir()))
    empty = live_trials_frame(fresh)
    assert empty.empty and list(empty.columns) == list(pd.read_csv(runs_root / names[0] / "trials.csv").columns)
    assert fresh.journal_path.stat().st_size == 0
    # Its journal gone before any result: one line, and reading must not be what creates it again.
    fresh.journal_path.unlink()
    with pytest.raises(DataError, match="journal is missing"):
        live_trials_frame(fresh)
    assert not fresh.journal_path.exists()


def test_a_damaged_journal_is_one_line_naming_it(
    finished_runs: tuple[Path, list[str]],
    tmp_path: Path,
) -> None:
    runs_root, names = finished_runs
    copy = copy_run(runs_root, names[0], tmp_path / "runs")
    without_report(copy)
    with (copy / "optuna.journal").open("ab") as journal:
        journal.write(b"this is not a journal entry\n")
    with pytest.raises(DataError) as damaged:
        live_trials_frame(RunDir(copy))
    assert "optuna.journal" in str(damaged.value) and "not a journal entry" in str(damaged.value)
