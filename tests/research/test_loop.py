"""The research loop on the demo market, in-process: what it writes, how its bounds adapt, who it admits, how it
resumes, and its step logs.

Independent references: the database read back with plain SQL (sqlite3 / SQLAlchemy text), numpy's percentile of
the stored train Sharpe ratios for every threshold move, plain comparisons of the stored KPI values against the
bounds each admission recorded, and the kernel's trade table for the step logs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, run_backtest
from stratlab.errors import ConfigError
from stratlab.research.config import ResearchConfig
from stratlab.research.db import ResultsDb
from stratlab.research.execute import InlineExecutor
from stratlab.research.loop import ResearchLoop, request_stop
from stratlab.strategies import get_strategy
from tests.conftest import built_once

BASE: dict[str, Any] = {
    "markets": [{"source": "demo", "symbol": "BTC", "timeframe": "5m", "start": "2025-01-01", "end": "2025-04-30"}],
    "strategies": ["ma_cross", "rsi_reversion"],
    "batch_size": 24,
    "seed": 3,
    # Low bars so that a small loop admits some: the rules, not the defaults, are under test here.
    "soft": {"n_trades": {"min": 10}, "active_days": {"min": 5}, "green_days_pct": {"min": 40},
             "top_days_pnl_share_pct": "off"},
    "hard": {"n_trades": {"min": 20}, "active_days": {"min": 10}, "green_days_pct": {"min": 45},
             "ulcer_index_pct": {"max": 10}, "top_days_pnl_share_pct": "off"},
    "validation": {"sharpe": {"min": 0.0}},
    "adaptive": [
        {"pool": "soft", "kpi": "sharpe", "direction": "min", "percentile": 60, "floor": 0.5, "ceiling": 2.0,
         "min_samples": 40, "hysteresis": 0.05},
        {"pool": "hard", "kpi": "sharpe", "direction": "min", "percentile": 80, "floor": 1.0, "ceiling": 2.5,
         "min_samples": 40, "hysteresis": 0.05},
    ],
    "stop": {"best": 1000, "max_backtests": 144},
}  # fmt: skip


def config(**changes: Any) -> ResearchConfig:
    return ResearchConfig.model_validate({"name": "loop-test", **BASE, **changes})


def run_loop(cfg: ResearchConfig, db_path: Path, data_root: Path, work_dir: Path) -> ResearchLoop:
    db = ResultsDb.open(db_path)
    try:
        loop = ResearchLoop(cfg, db, data_root=data_root, work_dir=work_dir, executor=InlineExecutor(data_root))
        loop.run()
        return loop
    finally:
        db.close()


def _build_finished(folder: Path, demo_root: Path) -> None:
    run_loop(config(step_logs=0.1, keep_trades="all"), folder / "results.sqlite", demo_root, folder / "work")


@pytest.fixture(scope="module")
def finished(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One loop of 144 backtests run to its maximum, built once; tests only read it."""
    return built_once(tmp_path_factory, "research-loop-144", lambda f: _build_finished(f, demo_root)) / "results.sqlite"


@pytest.fixture
def sql(finished: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(finished)
    yield connection
    connection.close()


def test_every_backtest_is_written_once_with_its_train_record(sql: sqlite3.Connection) -> None:
    backtests = sql.execute("select count(*), count(distinct iteration) from backtests").fetchone()
    assert backtests == (144, 3)  # 2 strategies × 24 per iteration
    per_cell = sql.execute("select strategy, count(*) from backtests group by strategy order by strategy").fetchall()
    assert per_cell == [("ma_cross", 72), ("rsi_reversion", 72)]
    train = sql.execute("select count(*) from kpis where part = 'train'").fetchone()[0]
    holdout = sql.execute("select count(*) from kpis where part = 'holdout'").fetchone()[0]
    assert train == 144 and holdout == 0  # holdout is never looked at
    # Parameter sets are distinct proposals, and each stored config is a full backtest config.
    params = [row[0] for row in sql.execute("select params_json from backtests")]
    assert len(set(params)) > 100
    assert all('"fee_bps"' in row[0] for row in sql.execute("select config_json from backtests"))


def test_threshold_moves_are_the_percentile_of_the_valid_train_sharpes_seen(sql: sqlite3.Connection) -> None:
    frame = pd.read_sql(
        "select b.iteration, k.sharpe, k.is_valid from backtests b join kpis k on k.backtest_id = b.id "
        "where k.part = 'train' order by b.id",
        sql,
    )
    moves = pd.read_sql("select iteration, name, old_value, new_value, reason from adaptive_decisions", sql)
    assert not moves.empty
    rules = {"soft.sharpe": (60, 0.5, 2.0), "hard.sharpe": (80, 1.0, 2.5)}
    for move in moves.itertuples():
        percentile, floor, ceiling = rules[move.name]
        seen = frame[(frame["iteration"] <= move.iteration) & (frame["is_valid"] == 1)]["sharpe"].dropna()
        expected = min(max(float(np.percentile(seen, percentile)), floor), ceiling)
        assert move.new_value == pytest.approx(expected, rel=1e-12), move
        assert abs(move.new_value - move.old_value) > 0.05 * abs(move.old_value)  # beyond the hysteresis band
        assert f"{len(seen):,} backtests" in move.reason


def _meets(value: Any, bound: dict[str, Any]) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    return bool(value >= bound["value"] if bound["direction"] == "min" else value <= bound["value"])


def test_pool_members_met_the_bounds_in_force_on_train_and_validation(finished: Path) -> None:
    db = ResultsDb.open(finished)
    try:
        members = db.pool_members(1)
        assert {"GOOD", "BEST"} <= set(members["pool"])  # the low bars above admit to both
        for member in members.itertuples():
            kpis = db.kpis_of(int(member.backtest_id))
            thresholds = member.thresholds_json
            for bound in thresholds["train"]["bounds"]:
                assert _meets(kpis["train"][bound["kpi"]], bound), (member.pool, bound)
            for bound in thresholds["validation"]["bounds"]:
                assert _meets(kpis["validation"][bound["kpi"]], bound), (member.pool, bound)
            assert thresholds["tier"] == ("hard" if member.pool == "BEST" else "soft")
            assert 0.0 < member.score <= 1.0
            # Members keep their trades on both parts they were judged on.
            assert len(db.trades(int(member.backtest_id), "validation")) == kpis["validation"]["n_trades"]
            if member.pool == "BEST":
                luck = member.luck_json
                assert luck["n_trials"] >= 48 and 0.0 <= luck["psr"] <= 1.0
                assert luck["dsr"] is None or luck["dsr"] <= luck["psr"]  # deflating never raises the PSR
        # A validation row exists exactly for the candidates; every member is one of them.
        with db.engine.connect() as connection:
            validated = {
                r[0] for r in connection.execute(sa.text("select backtest_id from kpis where part='validation'"))
            }
        assert set(members["backtest_id"]) <= validated
    finally:
        db.close()


def test_step_logs_name_every_entry_the_kernel_made(finished: Path) -> None:
    db = ResultsDb.open(finished)
    try:
        with db.engine.connect() as connection:
            logged = [r[0] for r in connection.execute(sa.text("select distinct backtest_id from step_logs"))]
        assert 3 <= len(logged) <= 40  # about a tenth of 144
        checked = 0
        for backtest_id in logged:
            steps = db.step_logs(backtest_id)
            trades = db.trades(backtest_id, "train")  # keep_trades = "all"
            entries = steps["decision"].str.startswith(("entered", "reversed"))
            assert int(entries.sum()) == len(trades), backtest_id
            assert set(trades["entry_bar"]) <= {int(b) + 1 for b in steps.loc[entries, "bar"]}
            exits = steps[steps["decision"] == "exited"]
            assert exits["reason"].str.contains("closed the").all()
            checked += len(trades) > 0
        assert checked >= 2
    finally:
        db.close()


def test_a_second_start_resumes_with_the_studies_replayed(demo_root: Path, tmp_path: Path) -> None:
    path, work = tmp_path / "r.sqlite", tmp_path / "work"
    first = run_loop(config(stop={"best": 1000, "max_backtests": 48}), path, demo_root, work)
    assert len(first.seen) == 48
    second = run_loop(config(stop={"best": 1000, "max_backtests": 96}), path, demo_root, work)
    connection = sqlite3.connect(path)
    iterations = connection.execute("select iteration, count(*) from backtests group by iteration").fetchall()
    connection.close()
    assert iterations == [(0, 48), (1, 48)]
    # Each study was handed every stored backtest of its cell before it proposed again.
    assert [len(cell.trials) for cell in second.cells] == [48, 48]
    assert second.status.started_backtests == 48 and second.status.backtests == 96


def test_a_stop_request_ends_the_loop_between_iterations(demo_root: Path, tmp_path: Path) -> None:
    path, work = tmp_path / "r.sqlite", tmp_path / "work"
    db = ResultsDb.open(path)
    loop = ResearchLoop(config(), db, data_root=demo_root, work_dir=work, executor=InlineExecutor(demo_root))
    loop.step()
    request_stop(work)
    assert loop.stop_reason(started=0.0) == "stop requested"
    db.close()


def test_a_resumed_experiment_refuses_another_market_or_space(demo_root: Path, tmp_path: Path) -> None:
    path, work = tmp_path / "r.sqlite", tmp_path / "work"
    run_loop(config(stop={"best": 1000, "max_backtests": 24}), path, demo_root, work)
    db = ResultsDb.open(path)
    try:
        with pytest.raises(ConfigError, match="started with other strategies"):
            ResearchLoop(config(strategies=["ma_cross"]), db, data_root=demo_root, work_dir=work,
                         executor=InlineExecutor(demo_root))  # fmt: skip
    finally:
        db.close()


def test_on_postgresql_the_loop_writes_what_it_writes_on_sqlite(
    fresh_postgres_url: str, finished: Path, demo_root: Path, tmp_path: Path
) -> None:
    """The database is any SQLAlchemy URL: the same experiment on PostgreSQL stores the same backtests, figures and
    pool members as on SQLite (the fixture's database is the reference)."""
    run_loop(config(step_logs=0.1, keep_trades="all"), fresh_postgres_url, demo_root, tmp_path / "work")  # type: ignore[arg-type]
    rows = (
        "select b.iteration, b.strategy, b.params_json, k.sharpe, k.n_trades from backtests b join kpis k "
        "on k.backtest_id = b.id and k.part = 'train' order by b.id"
    )
    pools = "select pool, backtest_id, admitted_iteration from pools order by pool, backtest_id"
    engine = sa.create_engine(fresh_postgres_url)
    with engine.connect() as connection:
        on_postgres = [(i, s, p, sh, n) for i, s, p, sh, n in connection.execute(sa.text(rows))]
        postgres_members = [tuple(row) for row in connection.execute(sa.text(pools))]
    engine.dispose()
    with sqlite3.connect(finished) as connection:
        on_sqlite = [(i, s, json.loads(p), sh, n) for i, s, p, sh, n in connection.execute(rows)]
        sqlite_members = connection.execute(pools).fetchall()
    assert len(on_postgres) == 144 and on_postgres == on_sqlite
    assert postgres_members == sqlite_members and len(sqlite_members) > 0


def test_a_best_member_carries_its_train_neighbourhood_computed_by_hand(finished: Path, demo_root: Path) -> None:
    """Every integer parameter one step down and up (the others held, the space's constraints kept), each run with
    ``run_backtest`` on the train bars: the share keeping at least half the member's return is its plateau share."""
    db = ResultsDb.open(finished)
    try:
        members = db.pool_members(1)
        best = members[members["pool"] == "BEST"].iloc[0]
        stored = db.backtest(int(best.backtest_id))
        market = next(m for m in db.experiment_config("loop-test")[1]["markets"] if m["symbol"] == stored["symbol"])  # type: ignore[index]
    finally:
        db.close()
    train = next(part for part in market["parts"] if part["name"] == "train")
    candles = load_ohlcv("demo", stored["symbol"], "5m", market["start"], market["end"], data_root=demo_root)
    upto = candles.slice(0, train["end"])
    strategy = get_strategy(stored["strategy"])
    config = BacktestConfig.model_validate(stored["config_json"])

    def train_return(params: dict[str, Any]) -> float:
        signals = strategy.signals(upto, params)
        return run_backtest(upto, signals, config, stops=strategy.stops(upto, params), start=train["start"],
                            end=train["end"]).return_pct  # fmt: skip

    base = train_return(stored["params_json"])
    kept = total = 0
    for spec in strategy.space.params:
        if not isinstance(spec.default, int) or isinstance(spec.default, bool):
            continue
        for move in (-1, 1):
            moved = {**stored["params_json"], spec.name: stored["params_json"][spec.name] + move}
            inside = spec.low <= moved[spec.name] <= spec.high  # type: ignore[attr-defined]
            if not inside or not all(c.holds(moved) for c in strategy.space.constraints):
                continue
            total += 1
            kept += train_return(moved) >= 0.5 * base
    luck = best.luck_json
    assert luck["neighbours"] == total > 0
    if base > 0:
        assert luck["plateau_share"] == pytest.approx(kept / total)
        assert luck["plateau"] == ("plateau" if kept / total >= 0.5 else "spike")


def test_with_the_gp_sampler_each_iteration_logs_how_well_each_cells_model_predicts(
    demo_root: Path, tmp_path: Path
) -> None:
    small = config(strategies=["ma_cross"], sampler="gp-tr", stop={"best": 1000, "max_backtests": 24})
    run_loop(small, tmp_path / "r.sqlite", demo_root, tmp_path / "work")
    with sqlite3.connect(tmp_path / "r.sqlite") as connection:
        rows = connection.execute(
            "select iteration, name, new_value, reason from adaptive_decisions where kind = 'model_quality'"
        ).fetchall()
    assert len(rows) == 1
    iteration, name, value, reason = rows[0]
    assert iteration == 0 and name == "model.ma_cross on demo:BTC 5m" and -1.0 <= value <= 1.0
    assert "over 24 trials" in reason and f"{value:.2f}" in reason
