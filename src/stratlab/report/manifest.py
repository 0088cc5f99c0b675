"""The paper manifest (``champion.json``): everything needed to rebuild the champion's backtest elsewhere, and the
replay that proves it (``stratlab backtest --manifest champion.json``).

Schema (version 1): ``schema_version``, ``kind`` ("stratlab.manifest"), ``created_at``, ``package_version``,
``run_id``, ``dataset`` (source, symbol, timeframe, start, end, n_bars, first/last bar ms, fingerprint of the candles,
the split parts with their bar ranges), ``strategy``, ``params`` (the strategy's), ``backtest`` (the full
BacktestConfig), ``kpis`` (one full KPI record per split part), ``selection`` (the threshold and why this champion).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.errors import DataError
from stratlab.strategies import get_strategy

MANIFEST_SCHEMA_VERSION = 1
MANIFEST_KIND = "stratlab.manifest"
# KPIs are recomputed bit for bit on the same data and code; a replay on another machine may differ in the last
# bits of a float sum, which this tolerance absorbs.
REPLAY_RTOL = 1e-9


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        raise DataError(f"{path}: not a stratlab manifest (kind is not {MANIFEST_KIND!r})")
    if manifest.get("schema_version") != MANIFEST_SCHEMA_VERSION:
        raise DataError(
            f"{path}: manifest schema {manifest.get('schema_version')!r}, this stratlab reads {MANIFEST_SCHEMA_VERSION}"
        )
    for key in ("dataset", "strategy", "params", "backtest", "kpis"):
        if key not in manifest:
            raise DataError(f"{path}: manifest without {key!r}")
    return manifest


@dataclass(frozen=True)
class Replay:
    part: str
    result: BacktestResult
    expected: dict[str, Any]
    mismatches: dict[str, tuple[Any, Any]]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= REPLAY_RTOL * max(abs(a), abs(b), 1e-12)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return list(a) == list(b)
    return bool(a == b)


def replay_manifest(path: Path, data_root: Path | str | None = None) -> list[Replay]:
    """Rebuild every part's backtest of a manifest and compare its KPIs with the recorded ones."""
    manifest = read_manifest(path)
    dataset = manifest["dataset"]
    candles = load_ohlcv(
        dataset["source"], dataset["symbol"], dataset["timeframe"], dataset.get("start"), dataset.get("end"),
        data_root=data_root,
    )  # fmt: skip
    if candles.fingerprint() != dataset["fingerprint"]:
        raise DataError(
            f"{candles.label}: these candles are not the ones the manifest was made on "
            f"({len(candles):,} bars here, {dataset['n_bars']:,} there; fingerprints differ)"
        )
    strategy = get_strategy(manifest["strategy"])
    params = manifest["params"]
    config = BacktestConfig.from_mapping(manifest["backtest"])
    signals = strategy.signals(candles, params)
    stops = strategy.stops(candles, params)
    replays = []
    for part in dataset["parts"]:
        name = part["name"]
        if name not in manifest["kpis"]:
            continue
        result = run_backtest(candles, signals, config, stops=stops, start=part["start"], end=part["end"])
        got = result.kpis.to_dict()
        expected = manifest["kpis"][name]
        mismatches = {
            key: (expected[key], got.get(key))
            for key in expected
            if key != "notes" and not _same(expected[key], got.get(key))
        }
        replays.append(Replay(name, result, expected, mismatches))
    return replays


__all__ = ["MANIFEST_KIND", "MANIFEST_SCHEMA_VERSION", "Replay", "read_manifest", "replay_manifest"]
