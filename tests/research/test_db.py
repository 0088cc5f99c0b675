"""The results database: migrations keep every row, the KPI table stays the KPI record, a batch is one transaction,
and ``--where`` filters exactly as pandas filters the same rows.

Backtests are real (``run_backtest`` on the demo market); the references are pandas on the records we wrote,
SQLAlchemy's inspector on the migrated database, and sqlite3 reading the file directly.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, run_backtest
from stratlab.errors import ConfigError
from stratlab.metrics import Kpis
from stratlab.research import schema
from stratlab.research.db import BacktestRow, Dataset, ResultsDb, current_revision, head_revision, upgrade
from stratlab.strategies import get_strategy

PARAMS = [{"fast": fast, "slow": slow} for fast, slow in ((5, 20), (8, 30), (10, 50), (12, 40), (20, 100), (6, 60))]


@pytest.fixture(scope="module")
def rows(demo_root: Path) -> list[BacktestRow]:
    candles = load_ohlcv("demo", "BTC", "5m", "2025-03-01", "2025-03-20", data_root=demo_root)
    strategy = get_strategy("ma_cross")
    config = BacktestConfig(tp_pct=2.0, sl_pct=1.0)
    cut = len(candles) * 7 // 10
    dataset = Dataset("demo", "BTC", "5m", candles.fingerprint())
    made = []
    for params in PARAMS:
        signals = strategy.signals(candles, params)
        train = run_backtest(candles, signals, config, end=cut)
        test = run_backtest(candles, signals, config, start=cut)
        made.append(
            BacktestRow(
                strategy="ma_cross", params=strategy.space.validate(params), config=config, dataset=dataset,
                split="train/test", kpis={"train": train.kpis, "test": test.kpis},
                trades={"train": train.trade_rows},
            )
        )  # fmt: skip
    return made


def kpi_frame(rows: list[BacktestRow], part: str) -> pd.DataFrame:
    return pd.DataFrame([dataclasses.asdict(row.kpis[part]) for row in rows])


def test_a_database_made_at_the_first_revision_upgrades_to_head_without_losing_a_row(
    rows: list[BacktestRow], tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    old = ResultsDb(engine)  # written by the code of today against the first schema: its columns are the same
    experiment = old.experiment("first", {"note": "made at 0001"})
    old.write_batch(experiment, 0, rows)
    with sqlite3.connect(path) as connection:
        before = {
            t: connection.execute(f"select * from {t} order by 1, 2").fetchall()
            for t in ("backtests", "kpis", "trades")
        }
        indexes_before = {row[0] for row in connection.execute("select name from sqlite_master where type='index'")}
    engine.dispose()

    db = ResultsDb.open(path)
    assert current_revision(db.engine) == head_revision() != "0001"
    with sqlite3.connect(path) as connection:
        after = {
            t: connection.execute(f"select * from {t} order by 1, 2").fetchall()
            for t in ("backtests", "kpis", "trades")
        }
        indexes_after = {row[0] for row in connection.execute("select name from sqlite_master where type='index'")}
    assert after == before and len(after["kpis"]) == 2 * len(rows) and len(after["trades"]) > 10
    assert {"ix_kpis_part_sharpe", "ix_kpis_part_max_drawdown"} <= indexes_after - indexes_before


def test_the_kpi_table_at_head_is_the_kpi_record(tmp_path: Path) -> None:
    db = ResultsDb.open(tmp_path / "results.db")
    inspected = {column["name"]: column for column in sa.inspect(db.engine).get_columns("kpis")}
    fields = [field.name for field in dataclasses.fields(Kpis)]
    # A KPI added to the record without a migration adding its column fails here.
    assert list(inspected) == ["backtest_id", "part", *fields]
    for column in schema.kpis.columns:
        if column.name in fields:
            assert inspected[column.name]["nullable"] == column.nullable, column.name
            assert inspected[column.name]["type"]._type_affinity is column.type._type_affinity, column.name


def test_a_batch_round_trips_kpis_and_trades(rows: list[BacktestRow], tmp_path: Path) -> None:
    db = ResultsDb.open(tmp_path / "results.db")
    experiment = db.experiment("demo", {"strategies": ["ma_cross"]})
    assert db.experiment("demo", {"ignored": True}) == experiment  # found again by name
    ids = db.write_batch(experiment, 3, rows)
    stored = db.query(part="test", limit=None, order_by="return_pct").set_index("backtest_id").loc[ids]
    expected = kpi_frame(rows, "test")
    for name in ("return_pct", "sharpe", "max_drawdown_pct", "n_trades", "green_days_pct", "is_valid"):
        np.testing.assert_array_equal(stored[name].to_numpy(), expected[name].to_numpy(), err_msg=name)
    assert stored["iteration"].eq(3).all()
    np.testing.assert_array_equal(db.trades(ids[0], "train"), rows[0].trades["train"])


def test_a_batch_is_one_transaction(rows: list[BacktestRow], tmp_path: Path) -> None:
    db = ResultsDb.open(tmp_path / "results.db")
    experiment = db.experiment("demo", {})
    broken = [*rows[:3], dataclasses.replace(rows[3], kpis={"train": rows[3].kpis["train"], "train ": None})]  # type: ignore[dict-item]
    with pytest.raises(Exception):  # noqa: B017 - the database refuses the broken row; which error is its business
        db.write_batch(experiment, 0, broken)
    assert db.count(schema.backtests) == 0 and db.count(schema.kpis) == 0  # the three good rows went with it


@pytest.mark.parametrize(
    ("where", "pandas_query"),
    [
        ("return_pct > -12 and max_drawdown_pct < 15", "return_pct > -12 and max_drawdown_pct < 15"),
        ("n_trades >= 150 or green_days_pct > 40", "n_trades >= 150 or green_days_pct > 40"),
        ("not is_valid or -15 < return_pct <= -10", "not is_valid or (-15 < return_pct <= -10)"),
    ],
)
def test_where_filters_as_pandas_does(rows: list[BacktestRow], tmp_path: Path, where: str, pandas_query: str) -> None:
    db = ResultsDb.open(tmp_path / "results.db")
    ids = db.write_batch(db.experiment("demo", {}), 0, rows)
    got = db.query(where, part="train", limit=None, order_by="return_pct")
    frame = kpi_frame(rows, "train").assign(backtest_id=ids)
    expected = frame.query(pandas_query).sort_values("return_pct", ascending=False)
    assert got["backtest_id"].tolist() == expected["backtest_id"].tolist()
    assert 0 < len(got) < len(rows)  # the filter splits the rows: it was really applied


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("sharp > 1", "unknown KPI 'sharp'; did you mean sharpe"),
        ("sharpe > 1; drop table kpis", "not a filter"),
        ("sharpe > __import__('os').system('x')", "is not a KPI name or a number"),
        ("strategy == 'x'", "unknown KPI 'strategy'"),
    ],
)
def test_a_bad_filter_is_one_line(tmp_path: Path, where: str, message: str) -> None:
    db = ResultsDb.open(tmp_path / "results.db")
    with pytest.raises(ConfigError, match=message) as raised:
        db.query(where)
    assert "\n" not in str(raised.value)


def test_research_query_prints_and_writes_csv_as_a_user_runs_it(rows: list[BacktestRow], tmp_path: Path) -> None:
    from tests.conftest import run_cli

    path = tmp_path / "results.db"
    db = ResultsDb.open(path)
    ids = db.write_batch(db.experiment("demo", {}), 0, rows)
    db.close()
    where = "n_trades >= 150 or green_days_pct > 40"
    printed = run_cli("research", "query", "--db", str(path), "--where", where, "--order-by", "return_pct")
    assert printed.returncode == 0, printed.stderr
    expected = kpi_frame(rows, "train").assign(backtest_id=ids).query(where).sort_values("return_pct", ascending=False)
    assert f"{len(expected)} backtests on train, by return_pct" in printed.stdout
    written = run_cli("research", "query", "--db", str(path), "--where", where, "--csv", str(tmp_path / "best.csv"))
    assert written.returncode == 0, written.stderr
    frame = pd.read_csv(tmp_path / "best.csv")
    assert sorted(frame["backtest_id"]) == sorted(expected["backtest_id"])
    assert set(schema.KPI_NAMES) - {"notes"} <= set(frame.columns)
    bad = run_cli("research", "query", "--db", str(path), "--where", "sharp > 1")
    assert bad.returncode == 1 and bad.stderr.startswith("error: --where: unknown KPI 'sharp'; did you mean sharpe")
