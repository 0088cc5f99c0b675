"""Is the champion luck? On a real run of the demo market: the matrix of every trial's daily train returns (checked
against direct backtests and pandas), its rebuild when a worker's batches are lost, the report's "luck" block (the
DSR recomputed by hand from the champion's own daily returns), a champion never crowned from an invalid selection
part, and the CLI's --require-pass and --gates."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stratlab.data.candles import Candles
from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.optimize.context import RunRequest
from stratlab.optimize.report import write_report
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.runner import create_run
from stratlab.optimize.worker import run_worker
from stratlab.report.split import SplitPart
from stratlab.strategies import get_strategy
from tests.conftest import run_cli

START, END = "2025-01-01", "2025-06-30"
STRATEGIES = ("rsi_reversion", "bollinger_breakout")
MAX_TRIALS = 20
GATE_NAMES = ["dsr", "pbo", "spa", "wfe", "trades"]
EULER_GAMMA = 0.5772156649015329
BACKTEST_PREFIX = "bt."  # how a trial stores a searched backtest setting (trials.csv "params")


@dataclass(frozen=True)
class FinishedRun:
    run_dir: RunDir
    report: dict[str, Any]
    candles: Candles

    @property
    def path(self) -> Path:
        return self.run_dir.path


def request(**changes: Any) -> RunRequest:
    values: dict[str, Any] = {
        "source": "demo", "symbol": "BTC", "start": START, "end": END, "strategies": STRATEGIES,
        "max_trials": MAX_TRIALS, "sampler": "random", "seed": 0, "dd_threshold_pct": 50.0,
    }  # fmt: skip
    return RunRequest.parse(**{**values, **changes})


def finished_run(runs_root: Path, data_root: Path, **changes: Any) -> FinishedRun:
    """A run searched by one in-process worker and reported, as `run start --workers 1` does."""
    run_dir = create_run(request(**changes), data_root=data_root, runs_root=runs_root)
    run_worker(run_dir.path)
    report = write_report(run_dir)
    candles = load_ohlcv("demo", "BTC", "5m", START, END, data_root=data_root)
    return FinishedRun(run_dir, report, candles)


@pytest.fixture(scope="module")
def run(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    return finished_run(tmp_path_factory.mktemp("runs"), demo_root)


def complete_trials(run_dir: RunDir) -> pd.DataFrame:
    trials = pd.read_csv(run_dir.path / "trials.csv")
    return trials[trials["state"] == "COMPLETE"]


def read_matrix(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path / "trial_returns.parquet").set_index("day")


def backtest(candles: Candles, strategy: str, params: dict[str, Any], config: BacktestConfig, part: SplitPart) -> Any:
    """The trial's backtest on one part, straight from the engine (signals on every bar of the period)."""
    chosen = get_strategy(strategy)
    signals = chosen.signals(candles, params)
    return run_backtest(candles, signals, config, stops=chosen.stops(candles, params), start=part.start, end=part.end)


def trial_setup(params_json: str) -> tuple[dict[str, Any], BacktestConfig]:
    """trials.csv's flat parameters as (strategy parameters, backtest config)."""
    flat = json.loads(params_json)
    strategy = {k: v for k, v in flat.items() if not k.startswith(BACKTEST_PREFIX)}
    searched = {k.removeprefix(BACKTEST_PREFIX): v for k, v in flat.items() if k.startswith(BACKTEST_PREFIX)}
    return strategy, BacktestConfig(**searched)


def daily_returns_by_pandas(result: BacktestResult) -> pd.Series:
    """Equity at each UTC day's last bar; each day's return over the previous day, the first over initial equity.
    Index: the day's start in epoch ms."""
    times = pd.to_datetime(result.timestamp_ms, unit="ms", utc=True)
    equity = pd.Series(np.asarray(result.equity), index=times)
    at_close = equity.groupby(equity.index.floor("D")).last()
    returns = at_close.pct_change()
    returns.iloc[0] = at_close.iloc[0] / result.config.initial_equity - 1.0
    returns.index = (at_close.index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return returns


def utc_days_ms(candles: Candles, part: SplitPart) -> np.ndarray:
    times = pd.to_datetime(candles.timestamp_ms[part.start : part.end], unit="ms", utc=True)
    days = times.floor("D").unique()
    return np.asarray((days - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1), dtype=np.int64)


# -- trial_returns.parquet ---------------------------------------------------------------------------------------


def test_trial_returns_hold_one_float32_column_per_complete_trial_on_the_train_days(run: FinishedRun) -> None:
    matrix = read_matrix(run.path)
    complete = complete_trials(run.run_dir)
    assert len(complete) == MAX_TRIALS * len(STRATEGIES)
    expected = sorted(f"{row.strategy}#{row.trial}" for row in complete.itertuples())
    assert sorted(matrix.columns) == expected
    assert (matrix.dtypes == np.float32).all()
    train = run.run_dir.load_context().part("train")
    assert matrix.index.dtype == np.int64
    np.testing.assert_array_equal(matrix.index.to_numpy(), utc_days_ms(run.candles, train))
    assert np.isfinite(matrix.to_numpy()).all()  # every trial traded every day of train: no hole


def test_a_trial_column_is_the_daily_return_of_a_direct_backtest_of_its_parameters(run: FinishedRun) -> None:
    matrix = read_matrix(run.path)
    train = run.run_dir.load_context().part("train")
    complete = complete_trials(run.run_dir)
    checked_trades = 0
    for strategy in STRATEGIES:
        mine = complete[complete["strategy"] == strategy].sort_values("n_trades")
        # The busiest trial of each strategy, and its quietest (a trial that never trades is a column of zeros).
        for row in (mine.iloc[-1], mine.iloc[0]):
            params, config = trial_setup(row["params"])
            result = backtest(run.candles, strategy, params, config, train)
            assert result.n_trades == row["n_trades"]
            expected = daily_returns_by_pandas(result)
            column = matrix[f"{strategy}#{row['trial']}"]
            np.testing.assert_array_equal(column.index.to_numpy(), expected.index.to_numpy())
            np.testing.assert_allclose(column.to_numpy(np.float64), expected.to_numpy(), rtol=0, atol=1e-6)
            checked_trades += result.n_trades
    assert checked_trades > 0  # at least one checked column is not all zeros


def test_a_killed_workers_lost_batches_are_backtested_again_by_the_report(
    run: FinishedRun, tmp_path: Path, demo_root: Path
) -> None:
    copy = RunDir(shutil.copytree(run.path, tmp_path / run.path.name))
    parts = copy.path / "trial_returns.parts"
    assert any(parts.glob("*.parquet"))  # the worker wrote its batches there
    shutil.rmtree(parts)
    rebuilt = write_report(copy, data_root=demo_root)
    pd.testing.assert_frame_equal(read_matrix(copy.path), read_matrix(run.path), check_exact=True)
    assert rebuilt["luck"]["statistics"] == run.report["luck"]["statistics"]
    assert rebuilt["champion"] == run.report["champion"]


def test_a_damaged_batch_is_named_in_a_warning_and_its_trials_backtested_again(
    run: FinishedRun, tmp_path: Path, demo_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = RunDir(shutil.copytree(run.path, tmp_path / run.path.name))
    batch = sorted((copy.path / "trial_returns.parts").glob("*.parquet"))[0]
    batch.write_bytes(b"not parquet at all")
    with caplog.at_level("WARNING"):
        rebuilt = write_report(copy, data_root=demo_root)
    assert any(batch.name in record.getMessage() for record in caplog.records)
    pd.testing.assert_frame_equal(read_matrix(copy.path), read_matrix(run.path), check_exact=True)
    assert rebuilt["champion"] == run.report["champion"]
    assert batch.read_bytes() == b"not parquet at all"  # left as it was found, never deleted


def test_trial_returns_stay_small_enough_for_thousands_of_trials(run: FinishedRun) -> None:
    matrix = read_matrix(run.path)
    size = (run.path / "trial_returns.parquet").stat().st_size
    n_trials, n_days = matrix.shape[1], matrix.shape[0]
    # float32 is 4 bytes a trial-day; Parquet adds metadata per column, which weighs most on a short train part like
    # this one, so the bytes per trial-day measured here overstate a longer run's.
    per_trial_day = size / (n_trials * n_days)
    assert per_trial_day * 5_000 * 365 < 50e6, f"{per_trial_day:.1f} bytes per trial-day"
    assert per_trial_day <= 4.5 + 600 / n_days  # 4.5 bytes a day, and at most 600 bytes of metadata a column


# -- report.json "luck", champion.json, candidates_test.csv -------------------------------------------------------


def test_the_luck_block_names_every_gate_and_counts_every_complete_trial(run: FinishedRun) -> None:
    luck = run.report["luck"]
    assert run.report["champion"] is not None, run.report["champion_reason"]
    assert luck["verdict"] in {"pass", "flagged"}
    assert luck["summary"].startswith(f"{luck['verdict']}: ")
    assert [gate["name"] for gate in luck["gates"]] == GATE_NAMES
    statistics = luck["statistics"]
    assert statistics["n_trials"] == len(complete_trials(run.run_dir))
    assert statistics["n_train_days"] == len(read_matrix(run.path))
    assert statistics["cscv_blocks"] == 16 and len(statistics["pbo_logits"]) == math.comb(16, 8)
    assert luck["walk_forward"] is None
    gates = {gate["name"]: gate for gate in luck["gates"]}
    assert gates["dsr"]["value"] == pytest.approx(statistics["dsr"], abs=0)
    assert gates["pbo"]["value"] == statistics["pbo"]
    assert gates["spa"]["value"] == statistics["spa_pvalue_zero"]
    assert (gates["wfe"]["value"], gates["wfe"]["passed"]) == (None, None)  # no walk-forward: skipped
    failed = [gate for gate in luck["gates"] if gate["passed"] is False]
    assert (luck["verdict"] == "flagged") == (bool(failed) or gates["dsr"]["passed"] is None)
    # The champion's verdict travels with it.
    manifest = json.loads(run.run_dir.champion_path.read_text())
    assert manifest["verdict"]["verdict"] == luck["verdict"]
    assert manifest["verdict"]["summary"] == luck["summary"] == run.report["champion"]["verdict_summary"]
    assert manifest["verdict"]["gates"] == luck["gates"]


def test_candidates_carry_their_dsr_and_verdict_and_the_champions_row_matches_the_report(run: FinishedRun) -> None:
    candidates = pd.read_csv(run.path / "candidates_test.csv")
    assert {"dsr", "verdict", "failed_gates", "test_is_valid"} <= set(candidates.columns)
    assert set(candidates["verdict"]) <= {"pass", "flagged"}
    champion = run.report["champion"]
    row = candidates[(candidates["strategy"] == champion["strategy"]) & (candidates["trial"] == champion["trial"])]
    assert len(row) == 1
    luck = run.report["luck"]
    assert row["verdict"].item() == luck["verdict"]
    assert row["dsr"].item() == pytest.approx(luck["statistics"]["dsr"], rel=1e-12)
    trades_gate = next(gate for gate in luck["gates"] if gate["name"] == "trades")
    assert trades_gate["value"] == row["test_n_trades"].item() == luck["statistics"]["selection_trades"]
    # A flagged candidate lists the gates it failed, unless its DSR could not be judged; a passing one lists none.
    for candidate in candidates.itertuples():
        has_reasons = isinstance(candidate.failed_gates, str) and candidate.failed_gates != ""
        assert (candidate.verdict == "flagged") == (has_reasons or pd.isna(candidate.dsr))


def test_the_champions_dsr_recomputed_by_hand_from_its_daily_returns(run: FinishedRun) -> None:
    manifest = json.loads(run.run_dir.champion_path.read_text())
    context = run.run_dir.load_context()
    config = BacktestConfig(**manifest["backtest"])
    returns = np.concatenate(
        [
            daily_returns_by_pandas(backtest(run.candles, manifest["strategy"], manifest["params"], config, part))
            for part in (context.part("train"), context.part("test"))
        ]
    )
    statistics = run.report["luck"]["statistics"]
    n_days = returns.size
    n_trials = len(complete_trials(run.run_dir))
    # Bailey & López de Prado (2014), written out: per-day Sharpe ratio, moments of the returns (kurtosis not
    # excess), the expected maximum Sharpe ratio of N trials with no skill, each Sharpe estimate's variance 1/(T-1).
    sharpe = returns.mean() / returns.std(ddof=1)
    skewness = stats.skew(returns, bias=True)
    kurtosis = stats.kurtosis(returns, fisher=False, bias=True)
    variance = 1.0 / (n_days - 1)
    expected_max = math.sqrt(variance) * (
        (1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / n_trials) + EULER_GAMMA * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    )
    spread = math.sqrt(1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2)
    dsr = stats.norm.cdf((sharpe - expected_max) * math.sqrt(n_days - 1) / spread)
    psr = stats.norm.cdf(sharpe * math.sqrt(n_days - 1) / spread)
    assert statistics["n_days"] == n_days and statistics["n_trials"] == n_trials
    assert statistics["champion_sharpe"] == pytest.approx(sharpe, abs=1e-6)
    assert statistics["skewness"] == pytest.approx(skewness, abs=1e-5)
    assert statistics["kurtosis"] == pytest.approx(kurtosis, abs=1e-4)
    assert statistics["expected_max_sharpe"] == pytest.approx(expected_max, abs=1e-9)
    assert statistics["psr"] == pytest.approx(psr, abs=1e-6)
    assert statistics["dsr"] == pytest.approx(dsr, abs=1e-6)


def test_the_sharpe_dispersion_of_the_trials_is_that_of_the_matrix(run: FinishedRun) -> None:
    matrix = read_matrix(run.path).astype(np.float64)
    deviation = matrix.std(ddof=1)
    sharpes = (matrix.mean() / deviation)[deviation > 0]  # a trial that never traded has no Sharpe ratio
    assert run.report["luck"]["statistics"]["sharpe_variance"] == pytest.approx(sharpes.var(ddof=1), rel=1e-9)


def test_a_candidate_invalid_on_the_selection_part_is_never_the_champion(demo_root: Path, tmp_path: Path) -> None:
    # A test part of under three days: no candidate can trade on 5 active days there, however well it did.
    short = finished_run(tmp_path / "runs", demo_root, split=(0.985, 0.015), max_trials=8)
    candidates = pd.read_csv(short.path / "candidates_test.csv")
    assert len(candidates) >= 1 and not candidates["test_is_valid"].any()
    report = short.report
    assert report["champion"] is None
    assert "valid" in report["champion_reason"]
    assert report["luck"]["verdict"] is None and report["luck"]["gates"] == []
    assert not short.run_dir.champion_path.exists()
    # --require-pass refuses a run without a champion too, saying why in one line.
    result = run_cli(
        "run", "start", "--run-dir", str(short.path), "--workers", "1", "--no-live", "--require-pass",
        "--data-root", str(demo_root),
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: --require-pass: no champion: {report['champion_reason']}"], result.stderr


# -- CLI -----------------------------------------------------------------------------------------------------------


def optimize_args(demo_root: Path, *extra: str) -> list[str]:
    return [
        "optimize", "--source", "demo", "--symbol", "BTC", "--start", START, "--end", END, "--strategies",
        ",".join(STRATEGIES), "--max-trials", str(MAX_TRIALS), "--sampler", "random", "--seed", "0", "--workers", "1",
        "--no-live", "--dd-threshold", "50", "--data-root", str(demo_root), *extra,
    ]  # fmt: skip


def test_require_pass_exits_3_with_one_line_when_the_champion_is_flagged(
    run: FinishedRun, demo_root: Path, tmp_path: Path
) -> None:
    env = {"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")}
    result = run_cli(*optimize_args(demo_root, "--require-pass"), env=env)
    assert result.returncode == 3, result.stderr
    report = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    # One worker and the same seed: the same trials, champion and verdict as the in-process run.
    assert report["champion"]["trial"] == run.report["champion"]["trial"]
    assert report["luck"]["verdict"] == "flagged"  # a few dozen trials on the demo market cannot prove an edge
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: --require-pass: {report['luck']['summary']}"]
    assert lines[0].startswith("error: --require-pass: flagged: ")
    assert "champion" in result.stdout  # the champion is still shown before the refusal


def test_a_bad_gate_threshold_is_a_one_line_error_before_any_run_is_written(demo_root: Path, tmp_path: Path) -> None:
    env = {"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")}
    result = run_cli(*optimize_args(demo_root, "--gates", "dsr=2"), env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: --gates: dsr: Input should be less than or equal to 1 (got 2.0)"], result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
