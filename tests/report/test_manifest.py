"""The paper manifest as one typed model: built from real backtests of the demo market, written as the JSON that
``backtest --manifest`` and the UI read (the same field names as ever), read back identical, and every file that
is not such a manifest refused in one line naming the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, run_backtest
from stratlab.errors import DataError
from stratlab.metrics import KPI_NAMES
from stratlab.optimize.context import split_parts
from stratlab.report.manifest import (
    Manifest,
    ManifestDataset,
    ManifestSelection,
    read_manifest,
    read_manifest_text,
    replay_manifest,
)
from stratlab.strategies import get_strategy
from tests.conftest import run_cli

START, END = "2025-01-01", "2025-01-31"
# The fields of a version-1 manifest, in the order the files have always had them.
FIELDS = [
    "schema_version", "kind", "created_at", "package_version", "run_id", "dataset", "strategy_source", "strategy",
    "trial", "params", "backtest", "kpis", "selection", "verdict",
]  # fmt: skip
DATASET_FIELDS = [
    "source", "symbol", "timeframe", "start", "end", "n_bars", "first_bar_ms", "last_bar_ms", "fingerprint", "parts",
]  # fmt: skip


@pytest.fixture(scope="module")
def manifest(demo_root: Path) -> Manifest:
    """A champion's manifest from real backtests: rsi_reversion on a month of demo BTC, split 75/25."""
    candles = load_ohlcv("demo", "BTC", "5m", START, END, data_root=demo_root)
    strategy = get_strategy("rsi_reversion")
    params = strategy.space.validate({"period": 10})
    parts = split_parts(candles, (0.75, 0.25), strategy.warmup_bars(params))
    config = BacktestConfig(tp_pct=2.0, sl_pct=1.0, position_mode="grid", on_opposite="close")
    signals = strategy.signals(candles, params)
    kpis = {part.name: run_backtest(candles, signals, config, start=part.start, end=part.end).kpis for part in parts}
    dataset = ManifestDataset(
        source="demo", symbol="BTC", timeframe="5m", start=START, end=END, n_bars=len(candles),
        first_bar_ms=int(candles.timestamp_ms[0]), last_bar_ms=int(candles.timestamp_ms[-1]),
        fingerprint=candles.fingerprint(), parts=parts,
    )  # fmt: skip
    return Manifest.now(
        run_id="20250101T000000Z_test", dataset=dataset, strategy=strategy.name, trial=7, params=params,
        backtest=config, kpis=kpis, selection=ManifestSelection(dd_threshold_pct=20.0, reason="the best test return"),
    )  # fmt: skip


@pytest.fixture
def written(manifest: Manifest, tmp_path: Path) -> Path:
    path = tmp_path / "champion.json"
    manifest.write(path)
    return path


def test_the_written_file_keeps_the_field_names_and_plain_values_readers_expect(written: Path) -> None:
    raw = json.loads(written.read_text(encoding="utf-8"))
    assert list(raw) == FIELDS
    assert (raw["schema_version"], raw["kind"]) == (1, "stratlab.manifest")
    assert list(raw["dataset"]) == DATASET_FIELDS
    assert [part["name"] for part in raw["dataset"]["parts"]] == ["train", "test"]
    assert raw["backtest"] == BacktestConfig.from_mapping(raw["backtest"]).model_dump()
    assert (raw["backtest"]["position_mode"], raw["backtest"]["on_opposite"]) == ("grid", "close")
    assert list(raw["kpis"]) == ["train", "test"]
    assert list(raw["kpis"]["test"]) == [*KPI_NAMES, "notes"]
    assert raw["selection"] == {
        "dd_threshold_pct": 20.0, "reason": "the best test return", "selection_part": None, "part_roles": {}
    }  # fmt: skip
    assert raw["verdict"] is None  # a manifest written without a judgement says so instead of inventing one
    assert written.read_text(encoding="utf-8").endswith("}\n")
    assert [p.name for p in written.parent.iterdir()] == ["champion.json"]  # no temporary file left behind


def test_a_written_manifest_reads_back_equal_and_replays_to_identical_kpis(
    manifest: Manifest, written: Path, demo_root: Path
) -> None:
    read, text = read_manifest_text(written)
    assert read == manifest and text == written.read_text(encoding="utf-8")
    assert read.kpis["test"].return_pct == manifest.kpis["test"].return_pct  # floats survive JSON bit for bit
    replays = replay_manifest(written, demo_root)
    assert [r.part for r in replays] == ["train", "test"] and not any(r.mismatches for r in replays)


def edited(written: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    raw = json.loads(written.read_text(encoding="utf-8"))
    change(raw)
    written.write_text(json.dumps(raw), encoding="utf-8")
    return written


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(schema_version=0), "schema_version: manifest schema 0, this stratlab reads 1"),
        (lambda m: m.pop("schema_version"), "schema_version: manifest schema None, this stratlab reads 1"),
        (lambda m: m.update(kind="stratlab.report"), "not a stratlab manifest (kind is 'stratlab.report'"),
        (lambda m: m["dataset"].pop("fingerprint"), "dataset.fingerprint: Field required"),
        (lambda m: m.pop("selection"), "selection: Field required"),
        (lambda m: m.update(trial="7"), "trial: Input should be a valid integer"),
        (lambda m: m["dataset"]["parts"][1].update(name="later"), "dataset.parts.1.name: Input should be 'train'"),
        (lambda m: m["kpis"]["test"].update(return_pct="high"), "kpis.test.return_pct: Input should be a valid number"),
        (lambda m: m["kpis"]["test"].pop("sharpe"), "kpis.test.sharpe: Field required"),
        (lambda m: m["kpis"].update(holdout=m["kpis"]["test"]), "kpis: part 'holdout' is not a part of the dataset"),
        (lambda m: m["backtest"].update(fee_bps=-1), "backtest: fee_bps: Input should be greater than or equal to 0"),
        (lambda m: m["backtest"].update(position_mode="pyramid"), "backtest: position_mode: Input should be 'none'"),
        (lambda m: m.update(strategy="nope"), "strategy: unknown strategy 'nope'"),
        (lambda m: m["params"].update(period=1), "params: rsi_reversion: parameter 'period' must be"),
        (lambda m: m.update(surprise=1), "surprise: Extra inputs are not permitted"),
    ],
)
def test_an_older_or_foreign_manifest_is_one_line_naming_the_field(
    written: Path, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    path = edited(written, change)
    with pytest.raises(DataError) as caught:
        read_manifest(path)
    assert str(caught.value).startswith(f"{path}: {message}"), str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"{not json", b"[1, 2]", b"null"])
def test_bytes_that_are_no_manifest_are_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "champion.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        read_manifest(path)
    assert str(caught.value).startswith(f"{path}: not a") and "\n" not in str(caught.value)


def test_the_cli_replay_of_a_foreign_manifest_is_one_error_line(written: Path, demo_root: Path) -> None:
    path = edited(written, lambda m: m["dataset"].pop("fingerprint"))
    result = run_cli("backtest", "--manifest", str(path), "--data-root", str(demo_root))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {path}: dataset.fingerprint: Field required"]
