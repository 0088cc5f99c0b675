"""A stored backtest run again and written as a paper manifest: the re-run's KPIs are the stored ones, the whole
period spans train to holdout, and the manifest says how the backtest was chosen and replays to its own KPIs.

The experiment is the loop tests' own (built once per test run, in-process); the references are the database read
with sqlite3 and ``replay_manifest``, which rebuilds every part from the manifest alone as ``paper start`` would.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from stratlab.errors import DataError
from stratlab.report.manifest import parse_manifest, replay_manifest
from stratlab.report.split import PartName, PartRole, SplitKind
from stratlab.research.db import ResultsDb
from stratlab.research.detail import HAND_PICKED, HOLDOUT_SEEN, backtest_detail, detail_manifest
from tests.conftest import built_once
from tests.research.test_loop import _build_finished

EXPERIMENT = "loop-test"


def research_experiment(tmp_path_factory: pytest.TempPathFactory, demo_root: Path) -> Path:
    """The loop tests' finished experiment (its folder: ``results.sqlite``, ``work/``), built once per test run."""
    return built_once(tmp_path_factory, "research-loop-144", lambda f: _build_finished(f, demo_root))


@pytest.fixture(scope="module")
def experiment(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return research_experiment(tmp_path_factory, demo_root) / "results.sqlite"


def rows(db_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as connection:
        return connection.execute(sql, args).fetchall()


def member(db_path: Path, pool: str) -> tuple[int, int]:
    """(backtest id, admitted iteration) of the pool's first member, read with SQL."""
    found = rows(db_path, "SELECT backtest_id, admitted_iteration FROM pools WHERE pool = ? ORDER BY backtest_id", pool)
    assert found, f"the test experiment has no {pool} member"
    return int(found[0][0]), int(found[0][1])


def stored_kpis(db_path: Path, backtest_id: int, part: str) -> dict[str, Any]:
    with sqlite3.connect(db_path) as connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute(
            "SELECT * FROM kpis WHERE backtest_id = ? AND part = ?", (backtest_id, part)
        ).fetchone()
    return dict(row)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def test_a_best_member_run_again_has_its_stored_kpis_and_one_period_from_train_to_holdout(
    experiment: Path, demo_root: Path
) -> None:
    backtest_id, _ = member(experiment, "BEST")
    db = ResultsDb.open(experiment)
    detail = backtest_detail(db, backtest_id, demo_root)
    db.close()
    for part in (PartName.TRAIN, PartName.VALIDATION):
        stored = stored_kpis(experiment, backtest_id, part)
        again = detail.by_part[part].kpis.to_dict()
        different = [k for k in again if k in stored and k not in ("notes", "invalid_reasons") and
                     not same(float(again[k]) if isinstance(again[k], bool) else again[k], stored[k])]  # fmt: skip
        assert not different, {k: (again[k], stored[k]) for k in different}
    parts = detail.market.parts
    assert [p.name for p in parts] == list(SplitKind.THREE_WAY.parts)
    assert (detail.whole.start, detail.whole.end) == (parts[0].start, parts[-1].end)
    assert (detail.before_holdout.start, detail.before_holdout.end) == (parts[0].start, parts[1].end)
    # One continuous curve: every bar of the three parts, train's first to holdout's last.
    assert len(detail.whole.equity_frame()) == parts[-1].end - parts[0].start
    strategy, params = rows(experiment, "SELECT strategy, params_json FROM backtests WHERE id = ?", backtest_id)[0]
    assert detail.strategy == strategy and detail.params == json.loads(params)


def test_a_best_members_manifest_says_how_the_loop_chose_it_and_replays_to_its_kpis(
    experiment: Path, demo_root: Path, tmp_path: Path
) -> None:
    backtest_id, iteration = member(experiment, "BEST")
    ((seen,),) = rows(experiment, "SELECT COUNT(*) FROM backtests WHERE iteration <= ?", iteration)
    db = ResultsDb.open(experiment)
    manifest = detail_manifest(backtest_detail(db, backtest_id, demo_root))
    db.close()
    path = tmp_path / "member.json"
    manifest.write(path)
    loaded = parse_manifest(path.read_text(), path)  # what `paper start --manifest` reads
    reason = loaded.selection.reason
    assert f"admitted to BEST at iteration {iteration} among {seen:,} backtests" in reason
    assert "train passed HARD" in reason and reason.endswith("holdout never looked at by the loop")
    assert loaded.selection.part_roles == SplitKind.THREE_WAY.roles
    assert loaded.selection.part_roles[PartName.HOLDOUT] == PartRole.OUT_OF_SAMPLE
    assert loaded.verdict is None and loaded.trial == backtest_id
    assert set(loaded.kpis) == set(SplitKind.THREE_WAY.parts)
    replays = replay_manifest(path, demo_root)
    assert [r.part for r in replays] == list(SplitKind.THREE_WAY.parts)
    assert all(not r.mismatches for r in replays), [r.mismatches for r in replays]
    # Exported after holdout was in view: holdout is a selection figure, and the reason says why.
    db = ResultsDb.open(experiment)
    seen_first = detail_manifest(backtest_detail(db, backtest_id, demo_root), holdout_seen=True)
    db.close()
    assert seen_first.selection.part_roles[PartName.HOLDOUT] == PartRole.SELECTION
    assert seen_first.selection.reason.endswith(HOLDOUT_SEEN)


def test_a_backtest_in_no_pool_is_a_hand_pick_with_no_out_of_sample_part(experiment: Path, demo_root: Path) -> None:
    ((outside,),) = rows(
        experiment, "SELECT MIN(id) FROM backtests WHERE id NOT IN (SELECT backtest_id FROM pools)"
    )  # fmt: skip
    db = ResultsDb.open(experiment)
    manifest = detail_manifest(backtest_detail(db, int(outside), demo_root))
    db.close()
    assert manifest.selection.reason == f"backtest {outside} of experiment {EXPERIMENT} {HAND_PICKED}"
    assert manifest.selection.part_roles == {
        PartName.TRAIN: PartRole.SEARCHED, PartName.VALIDATION: PartRole.SELECTION,
        PartName.HOLDOUT: PartRole.SELECTION,
    }  # fmt: skip


def test_a_missing_backtest_or_market_is_one_line(experiment: Path, tmp_path: Path) -> None:
    db = ResultsDb.open(experiment)
    try:
        with pytest.raises(DataError, match="no backtest 999999") as missing:
            backtest_detail(db, 999_999, tmp_path)
        backtest_id, _ = member(experiment, "GOOD")
        with pytest.raises(DataError) as no_candles:
            backtest_detail(db, backtest_id, tmp_path / "empty-store")
    finally:
        db.close()
    assert "\n" not in str(missing.value) and "\n" not in str(no_candles.value)
