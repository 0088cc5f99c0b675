"""``stratlab portfolio build`` on real run directories: small real runs of the demo market (create_run, a worker,
the run's report), whose candidates the portfolio reads as the report wrote them. Only the verdict column of
``candidates_<part>.csv`` is set by the test (which candidates pass the gates), so the cases do not hang on what the
gates make of a tiny run. Every figure is checked against pandas/numpy computing it from the run's own files and
candles, and every member's manifest is replayed."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.data.loader import load_ohlcv
from stratlab.errors import ConfigError, DataError
from stratlab.optimize.context import RunRequest
from stratlab.optimize.report import write_report
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.runner import create_run
from stratlab.optimize.worker import run_worker
from stratlab.portfolio.build import build_portfolio, write_portfolio
from stratlab.portfolio.manifest import read_portfolio_manifest
from stratlab.portfolio.runs import read_run_candidates
from stratlab.portfolio.weights import WeightRule
from stratlab.report.manifest import replay_manifest

MAX_CORR = 0.5
PERIODS = 365
# The portfolio's subcommand as the root CLI runs it: registered on the root app unless the root already has it.
CLI_SCRIPT = """
from stratlab.cli.app import app, main
from stratlab.cli.portfolio import portfolio_app
if not any(group.name == "portfolio" for group in app.registered_groups):
    app.add_typer(portfolio_app, name="portfolio")
main()
"""


def run_portfolio_cli(*args: str, runs_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI_SCRIPT, "portfolio", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
        env={**os.environ, "STRATLAB_RUNS_ROOT": str(runs_root)},
    )  # fmt: skip


def real_run(demo_root: Path, runs_root: Path, symbol: str, start: str, end: str, label: str) -> RunDir:
    """A small real run: two strategies, 10 random trials each, split half and half, then its report."""
    request = RunRequest.parse(
        source="demo", symbol=symbol, start=start, end=end, strategies=("rsi_reversion", "ma_cross"), max_trials=10,
        split=(0.5, 0.5), sampler="random", dd_threshold_pct=100.0, label=label,
    )  # fmt: skip
    run_dir = create_run(request, data_root=demo_root, runs_root=runs_root)
    run_worker(run_dir.path)
    write_report(run_dir)
    return run_dir


def candidates_path(run_dir: RunDir) -> Path:
    return run_dir.path / f"candidates_{run_dir.read_report()['selection_part']}.csv"


def set_verdicts(run_dir: RunDir, passes: Callable[[pd.DataFrame], pd.Series]) -> pd.DataFrame:
    """The gates as this test decides them: ``passes(table)`` marks the rows that pass, every other row is flagged."""
    path = candidates_path(run_dir)
    table = pd.read_csv(path)
    table["verdict"] = np.where(passes(table), "pass", "flagged")
    table.to_csv(path, index=False)
    return table


def labels_of(run_dir: RunDir, table: pd.DataFrame) -> list[str]:
    run_id = run_dir.load_context().run_id
    return [f"{run_id}/{row.strategy}#{row.trial}" for row in table.itertuples() if row.verdict == "pass"]


def returns_of(run_dir: RunDir, table: pd.DataFrame) -> pd.DataFrame:
    """The passing candidates' returns as pandas reads the run's parquet file, columns by label."""
    frame = pd.read_parquet(run_dir.path / "candidate_returns.parquet").set_index("day")
    run_id = run_dir.load_context().run_id
    passing = table[table["verdict"] == "pass"]
    columns = [f"{row.strategy}#{row.trial}" for row in passing.itertuples()]
    return frame[columns].astype(np.float64).rename(columns=lambda c: f"{run_id}/{c}")


@dataclass(frozen=True)
class Runs:
    root: Path
    btc: RunDir
    eth: RunDir
    later: RunDir
    later_copy: RunDir


@pytest.fixture(scope="module")
def runs(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """BTC and ETH on the same 50 days (25 selection days each), BTC on later days, and a copy of that one: a run
    directory is self-contained, so a copy is the same run elsewhere."""
    root = tmp_path_factory.mktemp("runs")
    btc = real_run(demo_root, root, "BTC", "2025-01-01", "2025-02-19", "btc")
    eth = real_run(demo_root, root, "ETH", "2025-01-01", "2025-02-19", "eth")
    later = real_run(demo_root, root, "BTC", "2025-04-01", "2025-05-20", "later")
    shutil.copytree(later.path, root / "later_copy")
    return Runs(root, btc, eth, later, RunDir(root / "later_copy"))


def test_the_run_report_writes_what_a_portfolio_reads(runs: Runs) -> None:
    # The copy, whose files are as the report wrote them (no test sets its verdicts before this one).
    run_dir = runs.later_copy
    table = pd.read_csv(candidates_path(run_dir))
    assert {"strategy", "trial", "params", "verdict", "dsr", "failed_gates"} <= set(table.columns)
    assert set(table["verdict"]) <= {"pass", "flagged"} and len(table) > 0
    returns = pd.read_parquet(run_dir.path / "candidate_returns.parquet")
    assert returns["day"].dtype == np.int64 and (returns["day"] % 86_400_000 == 0).all()
    assert {f"{row.strategy}#{row.trial}" for row in table.itertuples()} == set(returns.columns) - {"day"}
    read = read_run_candidates(run_dir.path)
    assert read.n_candidates == len(table)
    assert [c.label for c in read.passing] == labels_of(run_dir, table)


@dataclass(frozen=True)
class Built:
    result: subprocess.CompletedProcess[str]
    out: Path
    btc: pd.DataFrame  # the candidates tables with the verdicts the test set
    eth: pd.DataFrame

    def joined(self, runs: Runs) -> pd.DataFrame:
        """The passing candidates of BTC and ETH side by side on the days both have, as pandas joins them."""
        frames = [returns_of(runs.btc, self.btc), returns_of(runs.eth, self.eth)]
        return pd.concat(frames, axis=1, join="inner").dropna()


@pytest.fixture(scope="module")
def built(runs: Runs) -> Built:
    """The CLI on BTC (its first candidate flagged, at most five more passing), ETH (at most six passing) and the
    later run with nothing passing."""
    btc = set_verdicts(runs.btc, lambda t: (t.index >= 1) & (t.index < 6))
    eth = set_verdicts(runs.eth, lambda t: t.index < 6)
    set_verdicts(runs.later, lambda t: t.index < 0)
    out = runs.root / "portfolios" / "mine"
    result = run_portfolio_cli(
        "build", "--run-dir", str(runs.btc.path), "--run-dir", str(runs.eth.path),
        "--run-dir", str(runs.later.path), "--max-corr", str(MAX_CORR), "--weights", "inverse-vol",
        "--out", str(out), runs_root=runs.root,
    )  # fmt: skip
    return Built(result, out, btc, eth)


def test_build_says_which_runs_had_passing_candidates_and_labels_the_figures_in_sample(
    runs: Runs, built: Built
) -> None:
    assert built.result.returncode == 0, built.result.stderr
    out = built.result.stdout
    btc, later = runs.btc.load_context().run_id, runs.later.load_context().run_id
    btc_table = built.btc
    n_pass = int((btc_table["verdict"] == "pass").sum())
    assert f"run {btc} (demo/BTC, test): {n_pass} of {len(btc_table)} candidates passed the gates" in out
    assert f"run {later} (demo/BTC, test): no candidate passed the gates" in out
    assert "in-sample" in out and "not out-of-sample" in out
    assert f"written: {built.out}/portfolio.json" in out.replace("\n", "")
    # The betas' columns (rich folds or cuts a header on a narrow terminal: which markets is read from the file).
    assert "beta" in out
    manifest = json.loads((built.out / "portfolio.json").read_text())
    assert [beta["market"] for beta in manifest["betas"]] == ["demo/BTC", "demo/ETH"]


def test_the_members_are_the_best_subset_under_the_cap_with_inverse_vol_weights(runs: Runs, built: Built) -> None:
    manifest = read_portfolio_manifest(built.out / "portfolio.json")
    joined = built.joined(runs)
    pool = joined.loc[:, joined.nunique() > 1]
    assert manifest.sample.n_days == len(joined) >= 20
    labels = [m.label for m in manifest.members]
    first = built.btc.iloc[0]
    flagged = f"{runs.btc.load_context().run_id}/{first.strategy}#{first.trial}"
    assert flagged not in labels and set(labels) <= set(pool.columns)
    assert manifest.run_ids == [run.load_context().run_id for run in (runs.btc, runs.eth, runs.later)]
    # The cap holds, the weights are 1/std normalised, and no subset under the cap has a higher Sharpe ratio
    # (pool is small enough here for the exact search, and for trying every subset with numpy).
    members = joined[labels]
    corr = members.corr().to_numpy()
    assert np.all(corr[~np.eye(len(labels), dtype=bool)] <= MAX_CORR)
    np.testing.assert_allclose(manifest.correlation, corr, atol=1e-12)
    inverse = 1.0 / members.std()
    np.testing.assert_allclose([m.weight for m in manifest.members], (inverse / inverse.sum()).to_numpy(), rtol=1e-9)
    assert math.fsum(m.weight for m in manifest.members) == pytest.approx(1.0, abs=1e-12)
    assert manifest.rule.search == "exact" and pool.shape[1] <= 15

    def sharpe_of(columns: tuple[str, ...]) -> float:
        values = pool[list(columns)].to_numpy()
        w = (1.0 / values.std(axis=0, ddof=1)) / (1.0 / values.std(axis=0, ddof=1)).sum()
        series = values @ w
        return float(series.mean() / series.std(ddof=1) * math.sqrt(PERIODS))

    pool_corr = pool.corr()
    feasible = [
        subset
        for size in range(1, pool.shape[1] + 1)
        for subset in itertools.combinations(pool.columns, size)
        if all(pool_corr.loc[a, b] <= MAX_CORR for a, b in itertools.combinations(subset, 2))
    ]
    best = max(sharpe_of(subset) for subset in feasible)
    assert manifest.figures.sharpe == pytest.approx(best, rel=1e-9)
    assert sharpe_of(tuple(labels)) == pytest.approx(best, rel=1e-9)


def test_the_equity_file_is_the_weighted_sum_and_the_figures_and_betas_follow(
    runs: Runs, built: Built, demo_root: Path
) -> None:
    manifest = read_portfolio_manifest(built.out / "portfolio.json")
    joined = built.joined(runs)
    weights = pd.Series({m.label: m.weight for m in manifest.members})
    daily = joined[weights.index].mul(weights, axis=1).sum(axis=1)
    equity = (1.0 + daily).cumprod()
    table = pd.read_csv(built.out / "portfolio_equity.csv")
    assert table["day_ms"].tolist() == joined.index.tolist()
    assert table["day"].tolist() == pd.to_datetime(joined.index, unit="ms", utc=True).strftime("%Y-%m-%d").tolist()
    np.testing.assert_allclose(table["return"], daily.to_numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(table["equity"], equity.to_numpy(), rtol=1e-12)
    peak = equity.cummax().clip(lower=1.0)
    np.testing.assert_allclose(table["drawdown_pct"], ((1 - equity / peak) * 100).to_numpy(), atol=1e-9)
    figures = manifest.figures
    assert figures.max_drawdown_pct == pytest.approx(((1 - equity / peak) * 100).max(), abs=1e-9)
    assert figures.total_return_pct == pytest.approx((equity.iloc[-1] - 1) * 100, rel=1e-9)
    assert figures.annual_return_pct == pytest.approx((equity.iloc[-1] ** (PERIODS / len(daily)) - 1) * 100, rel=1e-9)
    assert figures.annual_volatility_pct == pytest.approx(daily.std() * math.sqrt(PERIODS) * 100, rel=1e-9)
    # Beta to holding each market: the day's last close against the previous day's, from the candles by pandas.
    for record in manifest.betas:
        source, symbol = record.market.split("/")
        run_dir = runs.btc if symbol == "BTC" else runs.eth
        request = run_dir.load_context().request
        candles = load_ohlcv(source, symbol, "5m", request.start, request.end, data_root=demo_root).to_frame()
        closes = candles.groupby(pd.to_datetime(candles["timestamp_ms"], unit="ms", utc=True).dt.floor("D"))[
            "close"
        ].last()
        bench = closes.pct_change().loc[pd.to_datetime(joined.index, unit="ms", utc=True)].to_numpy()
        cov = np.cov(daily.to_numpy(), bench)
        assert record.beta == pytest.approx(cov[0, 1] / cov[1, 1], rel=1e-9)
    assert [b.market for b in manifest.betas] == ["demo/BTC", "demo/ETH"]


def test_every_member_manifest_replays_identically(built: Built, demo_root: Path, tmp_path: Path) -> None:
    raw = json.loads((built.out / "portfolio.json").read_text())
    for index, member in enumerate(raw["members"]):
        path = tmp_path / f"member-{index}.json"
        path.write_text(json.dumps(member["manifest"]))
        replays = replay_manifest(path, data_root=demo_root)
        assert {str(r.part) for r in replays} == {"train", "test"}
        assert all(not r.mismatches for r in replays), [r.mismatches for r in replays]
        assert member["manifest"]["strategy"] == member["strategy"] and member["manifest"]["trial"] == member["trial"]
        # The test part chose the member: its manifest says so, as a champion's does.
        selection = member["manifest"]["selection"]
        assert selection["selection_part"] == "test" and "not out-of-sample" in selection["part_roles"]["test"]


def test_an_existing_portfolio_is_never_overwritten(runs: Runs, built: Built) -> None:
    out = built.out
    before = (out / "portfolio.json").read_bytes()
    portfolio = build_portfolio([read_run_candidates(runs.btc.path)], max_corr=MAX_CORR, weights=WeightRule.EQUAL)
    with pytest.raises(ConfigError, match=r"already exists and is not an empty folder") as caught:
        write_portfolio(portfolio, out)
    assert "\n" not in str(caught.value)
    assert (out / "portfolio.json").read_bytes() == before


def test_no_passing_candidate_anywhere_is_one_error_line(runs: Runs) -> None:
    set_verdicts(runs.later, lambda t: t.index < 0)
    result = run_portfolio_cli("build", "--run-dir", str(runs.later.path), runs_root=runs.root)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no candidate passed the gates in any run"), result.stderr
    assert "no candidate passed the gates" in result.stdout


def test_bad_inputs_are_one_line_errors(runs: Runs, built: Built, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such run directory") as caught:
        read_run_candidates(tmp_path / "nowhere")
    assert "\n" not in str(caught.value)
    # Runs on days that never meet: the error names both.
    set_verdicts(runs.later_copy, lambda t: t.index < 3)
    both = [read_run_candidates(run.path) for run in (runs.btc, runs.later_copy)]
    with pytest.raises(DataError, match=r"0 UTC days with a return for every passing candidate") as caught:
        build_portfolio(both, max_corr=MAX_CORR, weights=WeightRule.EQUAL)
    message = str(caught.value)
    assert "\n" not in message and all(run.run_id in message for run in both)
    with pytest.raises(ConfigError, match="is given twice"):
        build_portfolio([both[0], both[0]], max_corr=MAX_CORR, weights=WeightRule.EQUAL)
    # A candidates file without the verdict column (a report of an older stratlab) is named, with the fix.
    path = candidates_path(runs.btc)
    table = pd.read_csv(path)
    table.drop(columns=["verdict"]).to_csv(path, index=False)
    try:
        with pytest.raises(DataError, match=r"no 'verdict' column; .*stratlab run report --run-dir"):
            read_run_candidates(runs.btc.path)
    finally:
        table.to_csv(path, index=False)


def test_the_portfolio_reader_refuses_a_bad_file_in_one_line(built: Built, tmp_path: Path) -> None:
    raw = json.loads((built.out / "portfolio.json").read_text())

    def refused(document: object | str) -> str:
        path = tmp_path / "portfolio.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        with pytest.raises(DataError) as caught:
            read_portfolio_manifest(path)
        message = str(caught.value)
        assert "\n" not in message and message.startswith(str(path))
        return message

    heavier = json.loads(json.dumps(raw))
    heavier["members"][0]["weight"] = heavier["members"][0]["weight"] / 2
    assert "members: the weights sum to" in refused(heavier)
    assert "not a stratlab portfolio" in refused({**raw, "kind": "stratlab.manifest"})
    assert "schema_version" in refused({**raw, "schema_version": 2})
    assert "rule" in refused({k: v for k, v in raw.items() if k != "rule"})
    assert "not a readable portfolio manifest" in refused((built.out / "portfolio.json").read_text()[:100])
    wrong = json.loads(json.dumps(raw))
    wrong["members"][0]["trial"] = wrong["members"][0]["trial"] + 1000
    assert "is not the member's" in refused(wrong)
