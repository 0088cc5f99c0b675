"""Walk-forward: the windows' geometry against hand-computed bar indices, a real walk-forward run of the demo market
(one study per window and strategy, each window's figures replayed by direct backtests, the stitched equity), and
the proof that no window looks ahead: the same run on a market whose later bars were changed chooses the same
first windows."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stratlab.data.candles import Candles
from stratlab.data.loader import load_ohlcv
from stratlab.data.store import MarketStore
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.errors import ConfigError
from stratlab.optimize.context import RunContext, RunRequest, WalkForward, walk_forward_windows
from stratlab.optimize.report import write_report
from stratlab.optimize.rundir import RunDir
from stratlab.optimize.runner import create_run
from stratlab.optimize.storage import default_storage_url, open_storage
from stratlab.optimize.worker import run_worker
from stratlab.report.split import SplitPart
from stratlab.strategies import get_strategy
from tests.conftest import make_frame, run_cli

START, END = "2025-01-01", "2025-06-30"
STRATEGIES = ("rsi_reversion", "bollinger_breakout")
WINDOWS = 3
DAY_MS = 86_400_000
BAR_MS = 300_000
BACKTEST_PREFIX = "bt."  # how a trial stores a searched backtest setting (trials.csv "params")


def synthetic_candles(n: int) -> Candles:
    return Candles.from_frame(make_frame(n), source="test", symbol="X", timeframe="5m")


def bounds(windows: tuple[tuple[SplitPart, ...], ...]) -> list[tuple[int, ...]]:
    """Each window as (train start, train end, validation start, validation end, oos start, oos end)."""
    return [(t.start, t.end, v.start, v.end, o.start, o.end) for t, v, o in windows]


# -- geometry --------------------------------------------------------------------------------------------------------
#
# 1,000 bars, split 0.75/0.25, 4 windows, 10 bars of embargo: in-sample : out-of-sample = 3 : 1, so
# OOS = floor((1000 - 10) / (4 + 3)) = 141 bars, in-sample = 3 × 141 = 423 bars, train = round(0.75 × 423) = 317.
# Rolling windows move by 141 bars; OOS k starts 10 bars after in-sample k ends (423 + 141k).

ROLLING = [
    (0, 317, 317, 423, 433, 574),
    (141, 458, 458, 564, 574, 715),
    (282, 599, 599, 705, 715, 856),
    (423, 740, 740, 846, 856, 997),
]
# Anchored: every in-sample starts at bar 0 and ends where the rolling one does; train = round(0.75 × end):
# 0.75 × 423 = 317.25, × 564 = 423, × 705 = 528.75, × 846 = 634.5 (half to even: 634).
ANCHORED = [
    (0, 317, 317, 423, 433, 574),
    (0, 423, 423, 564, 574, 715),
    (0, 529, 529, 705, 715, 856),
    (0, 634, 634, 846, 856, 997),
]
# 1,200 bars, split 0.6/0.2/0.2, 3 windows, no embargo: in-sample : OOS = 0.8 : 0.2 = 4, OOS = floor(1200 / 7) = 171,
# in-sample 684, train 0.6/0.8 of it = 513.
THREE_WAY = [
    (0, 513, 513, 684, 684, 855),
    (171, 684, 684, 855, 855, 1026),
    (342, 855, 855, 1026, 1026, 1197),
]


@pytest.mark.parametrize(
    ("n", "fractions", "spec", "expected"),
    [
        (1000, (0.75, 0.25), WalkForward(windows=4, embargo_bars=10), ROLLING),
        (1000, (0.75, 0.25), WalkForward(windows=4, embargo_bars=10, anchored=True), ANCHORED),
        (1200, (0.6, 0.2, 0.2), WalkForward(windows=3), THREE_WAY),
    ],
)
def test_windows_are_cut_at_the_hand_computed_bars(
    n: int, fractions: tuple[float, ...], spec: WalkForward, expected: list[tuple[int, ...]]
) -> None:
    candles = synthetic_candles(n)
    windows = walk_forward_windows(candles, fractions, spec, warmup_bars=50)
    assert bounds(windows) == expected
    for train, validation, oos in windows:
        assert (train.name, validation.name, oos.name) == ("train", "validation", "holdout")
        for part in (train, validation, oos):
            assert part.first_bar_ms == candles.timestamp_ms[part.start]
            assert part.last_bar_ms == candles.timestamp_ms[part.end - 1]


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize("embargo", [0, 7])
def test_window_geometry_rules(anchored: bool, embargo: int) -> None:
    n, k = 5000, 5
    windows = walk_forward_windows(
        synthetic_candles(n), (0.8, 0.2), WalkForward(windows=k, anchored=anchored, embargo_bars=embargo), 100
    )
    assert len(windows) == k
    oos_lengths = {oos.end - oos.start for _, _, oos in windows}
    assert len(oos_lengths) == 1  # every out-of-sample part is as long
    oos_bars = oos_lengths.pop()
    for index, (train, validation, oos) in enumerate(windows):
        assert train.end == validation.start  # train then validation, no gap
        assert oos.start - validation.end == embargo  # exactly the embargo between in-sample and out-of-sample
        if anchored:
            assert train.start == 0
        else:
            assert validation.end - train.start == 4 * oos_bars  # a constant in-sample of 0.8 : 0.2
        # train : validation = 0.8 : 0.2 up to one bar of rounding
        assert abs((train.end - train.start) - 4 * (validation.end - validation.start)) <= 5
        if index:
            assert oos.start == windows[index - 1][2].end  # out-of-sample parts follow each other
            assert validation.end == windows[index - 1][1].end + oos_bars  # each window moves by one OOS length
    assert windows[-1][2].end <= n
    assert n - windows[-1][2].end < k + 4 + 1  # the windows use the data up to the rounding of the OOS length


def test_a_window_too_short_for_the_warm_up_is_a_one_line_config_error() -> None:
    # OOS floor(1000 / 7) = 142, in-sample 426, train round(0.75 × 426 = 319.5) = 320 (half to even) < 400 + 2.
    with pytest.raises(ConfigError) as caught:
        walk_forward_windows(synthetic_candles(1000), (0.75, 0.25), WalkForward(windows=4), warmup_bars=400)
    message = str(caught.value)
    assert message.startswith("walk-forward: the train part of a window has 320 bars; it needs at least 402")
    assert "\n" not in message


def test_walk_forward_1_is_a_one_line_cli_error(demo_root: Path, tmp_path: Path) -> None:
    result = run_cli(
        "optimize", "--source", "demo", "--symbol", "BTC", "--walk-forward", "1", "--data-root", str(demo_root),
        "--no-live", env={"STRATLAB_RUNS_ROOT": str(tmp_path / "runs")},
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: --walk-forward: Input should be greater than or equal to 2 (got 1)"], result.stderr
    assert not (tmp_path / "runs").exists()


# -- a real walk-forward run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkForwardRun:
    run_dir: RunDir
    report: dict[str, Any]
    candles: Candles
    data_root: Path

    @property
    def context(self) -> RunContext:
        return self.run_dir.load_context()

    @property
    def block(self) -> dict[str, Any]:
        block: dict[str, Any] = self.report["luck"]["walk_forward"]
        return block


def walk_forward_run(data_root: Path, runs_root: Path) -> WalkForwardRun:
    request = RunRequest.parse(
        source="demo", symbol="BTC", start=START, end=END, strategies=STRATEGIES, max_trials=12, sampler="random",
        seed=0, dd_threshold_pct=50.0, walk_forward=WalkForward(windows=WINDOWS),
    )  # fmt: skip
    run_dir = create_run(request, data_root=data_root, runs_root=runs_root)
    run_worker(run_dir.path)
    report = write_report(run_dir)
    candles = load_ohlcv("demo", "BTC", "5m", START, END, data_root=data_root)
    return WalkForwardRun(run_dir, report, candles, data_root)


def perturbed_store(demo_root: Path, root: Path, from_ms: int) -> Path:
    """A copy of the demo BTC candles whose bars from ``from_ms`` on follow another price path: each such bar's open,
    high, low and close times one positive factor (a random walk), so every bar stays a valid bar."""
    frame = load_ohlcv("demo", "BTC", "5m", data_root=demo_root).to_frame()
    later = frame["timestamp_ms"].to_numpy() >= from_ms
    factor = np.exp(np.cumsum(np.random.default_rng(5).normal(0.0, 0.003, int(later.sum()))))
    for column in ("open", "high", "low", "close"):
        frame.loc[later, column] = frame.loc[later, column].to_numpy() * factor
    MarketStore(root).write_candles("demo", "BTC", "5m", frame, origin="perturbed demo")
    return root


@dataclass(frozen=True)
class TwoMarkets:
    original: WalkForwardRun
    perturbed: WalkForwardRun
    cut: int  # the first changed bar: window 1's validation end


@pytest.fixture(scope="module")
def markets(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> TwoMarkets:
    original = walk_forward_run(demo_root, tmp_path_factory.mktemp("runs"))
    cut = original.context.windows[1][1].end
    changed = perturbed_store(
        demo_root, tmp_path_factory.mktemp("perturbed") / "market_data", int(original.candles.timestamp_ms[cut])
    )
    perturbed = walk_forward_run(changed, tmp_path_factory.mktemp("runs"))
    return TwoMarkets(original, perturbed, cut)


def trial_returns(run: WalkForwardRun) -> pd.DataFrame:
    return pd.read_parquet(run.run_dir.path / "trial_returns.parquet").set_index("day")


def utc_days_ms(timestamps: np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(timestamps, dtype=np.int64) // DAY_MS * DAY_MS)


def trial_setup(run: WalkForwardRun, window: int, strategy: str, trial: int) -> tuple[dict[str, Any], BacktestConfig]:
    trials = pd.read_csv(run.run_dir.path / "trials.csv")
    row = trials[(trials["window"] == window) & (trials["strategy"] == strategy) & (trials["trial"] == trial)]
    flat = json.loads(row["params"].item())
    strategy_params = {k: v for k, v in flat.items() if not k.startswith(BACKTEST_PREFIX)}
    searched = {k.removeprefix(BACKTEST_PREFIX): v for k, v in flat.items() if k.startswith(BACKTEST_PREFIX)}
    return strategy_params, BacktestConfig(**searched)


def backtest(candles: Candles, strategy: str, params: dict[str, Any], config: BacktestConfig, part: SplitPart) -> Any:
    chosen = get_strategy(strategy)
    signals = chosen.signals(candles, params)
    return run_backtest(candles, signals, config, stops=chosen.stops(candles, params), start=part.start, end=part.end)


def annualised_pct(return_pct: float, first_bar_ms: int, last_bar_ms: int) -> float:
    days = (last_bar_ms - first_bar_ms + BAR_MS) / DAY_MS
    return ((1 + return_pct / 100) ** (365.25 / days) - 1) * 100


def test_one_study_per_window_and_strategy_in_the_runs_storage(markets: TwoMarkets) -> None:
    run = markets.original
    storage = open_storage(default_storage_url(run.run_dir.path))
    names = sorted(study.study_name for study in storage.get_all_studies())
    assert names == sorted(f"{s}@w{k}" for k in range(WINDOWS) for s in STRATEGIES)
    assert len(run.context.windows) == WINDOWS
    assert run.context.parts == run.context.windows[-1]  # the run's own parts are its last window's
    trials = pd.read_csv(run.run_dir.path / "trials.csv")
    complete = trials[trials["state"] == "COMPLETE"]
    assert complete.groupby(["window", "strategy"]).size().to_dict() == {
        (k, s): 12 for k in range(WINDOWS) for s in STRATEGIES
    }


def test_trial_returns_of_each_window_cover_its_train_days_only(markets: TwoMarkets) -> None:
    run = markets.original
    matrix = trial_returns(run)
    assert len(matrix.columns) == WINDOWS * len(STRATEGIES) * 12
    for k, (train, _, _) in enumerate(run.context.windows):
        column = matrix[f"rsi_reversion@w{k}#0"]
        expected = utc_days_ms(run.candles.timestamp_ms[train.start : train.end])
        np.testing.assert_array_equal(column.dropna().index.to_numpy(), expected)


def test_the_walk_forward_block_replays_by_direct_backtests(markets: TwoMarkets) -> None:
    run = markets.original
    block = run.block
    windows = block["windows"]
    assert [w["window"] for w in windows] == list(range(WINDOWS))
    assert sum(w["strategy"] is not None for w in windows) >= 2  # most windows found a champion to trade
    stitched_days: list[np.ndarray] = []
    growth = 1.0
    in_sample_annual = []
    for window, (train, validation, oos) in zip(windows, run.context.windows, strict=True):
        assert (window["train_start_ms"], window["train_end_ms"]) == (train.first_bar_ms, validation.last_bar_ms)
        assert (window["oos_start_ms"], window["oos_end_ms"]) == (oos.first_bar_ms, oos.last_bar_ms)
        stitched_days.append(utc_days_ms(run.candles.timestamp_ms[oos.start : oos.end]))
        if window["strategy"] is None:
            assert window["oos_return_pct"] == 0.0  # no champion: the rule stays in cash
            continue
        params, config = trial_setup(run, window["window"], window["strategy"], window["trial"])
        assert window["params"] == params
        results: list[BacktestResult] = [
            backtest(run.candles, window["strategy"], params, config, part) for part in (train, validation, oos)
        ]
        in_sample = ((1 + results[0].return_pct / 100) * (1 + results[1].return_pct / 100) - 1) * 100
        assert window["is_return_pct"] == pytest.approx(in_sample, rel=1e-9, abs=1e-9)
        assert window["oos_return_pct"] == pytest.approx(results[2].return_pct, rel=1e-9, abs=1e-9)
        in_sample_annual.append(annualised_pct(in_sample, train.first_bar_ms, validation.last_bar_ms))
        assert window["is_annual_return_pct"] == pytest.approx(in_sample_annual[-1], rel=1e-9)
        growth *= 1 + results[2].return_pct / 100
    # The stitched equity: every out-of-sample UTC day of every window once, in order (a day two windows share is one
    # point), compounding to the windows' returns.
    equity = block["oos_equity"]
    every_day = np.unique(np.concatenate(stitched_days))
    assert len(equity["day_ms"]) == len(equity["equity"]) == every_day.size
    np.testing.assert_array_equal(np.asarray(equity["day_ms"]), every_day)
    assert equity["equity"][-1] == pytest.approx(growth, rel=1e-5)
    # Walk-forward efficiency: the stitched out-of-sample annual return over the mean in-sample annual return.
    oos_parts = [oos for _, _, oos in run.context.windows]
    oos_days = sum((o.last_bar_ms - o.first_bar_ms + BAR_MS) / DAY_MS for o in oos_parts)
    oos_annual = ((growth ** (365.25 / oos_days)) - 1) * 100
    mean_in_sample = float(np.mean(in_sample_annual))
    if mean_in_sample > 0:
        assert block["efficiency"] == pytest.approx(oos_annual / mean_in_sample, rel=1e-4)
    else:
        assert block["efficiency"] is None
    assert block["profitable_share"] == pytest.approx(np.mean([w["oos_return_pct"] > 0 for w in windows]))
    wfe_gate = next(gate for gate in run.report["luck"]["gates"] if gate["name"] == "wfe")
    assert wfe_gate["value"] == block["efficiency"]
    assert run.report["luck"]["statistics"]["walk_forward_efficiency"] == block["efficiency"]


def test_changing_the_bars_after_window_1_changes_nothing_windows_0_and_1_chose(markets: TwoMarkets) -> None:
    original, perturbed, cut = markets.original, markets.perturbed, markets.cut
    # Sanity: the two markets agree bar for bar up to the cut and differ after it; the windows are the same bars.
    np.testing.assert_array_equal(original.candles.timestamp_ms, perturbed.candles.timestamp_ms)
    np.testing.assert_array_equal(original.candles.close[:cut], perturbed.candles.close[:cut])
    assert np.all(original.candles.close[cut:] != perturbed.candles.close[cut:])
    assert original.context.windows == perturbed.context.windows
    # Windows 0 and 1 were searched and chosen on bars before the cut: the same trials, choice and in-sample figures.
    before, after = original.block["windows"], perturbed.block["windows"]
    assert before[0]["strategy"] is not None and before[1]["strategy"] is not None  # a choice to compare
    for k in (0, 1):
        fields = ("strategy", "trial", "params", "is_return_pct", "is_annual_return_pct")
        assert {f: before[k][f] for f in fields} == {f: after[k][f] for f in fields}, k
    # Window 0 also traded before the cut (its out-of-sample part ends where window 1's validation does).
    assert before[0]["oos_return_pct"] == after[0]["oos_return_pct"]
    matrices = [
        pd.read_parquet(r.run_dir.path / "trial_returns.parquet").set_index("day") for r in (original, perturbed)
    ]
    for k in (0, 1):
        columns = [c for c in matrices[0].columns if f"@w{k}#" in c]
        pd.testing.assert_frame_equal(matrices[0][columns], matrices[1][columns], check_exact=True)
    candidates = [pd.read_csv(r.run_dir.path / "candidates_validation.csv") for r in (original, perturbed)]
    early = [frame[frame["window"] <= 1].reset_index(drop=True) for frame in candidates]
    pd.testing.assert_frame_equal(early[0], early[1], check_exact=True)
    # ... while window 2, whose train part reaches past the cut, saw another market.
    late = [c for c in matrices[0].columns if "@w2#" in c]
    assert not matrices[0][late].equals(matrices[1][late])
    assert not math.isclose(before[1]["oos_return_pct"], after[1]["oos_return_pct"]) or before[1]["strategy"] is None
