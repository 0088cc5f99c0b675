"""Champion manifests for runner tests, written the way the optimiser's report writes them (``Manifest.write``) for
a strategy, parameters and config of the test's choosing, on a few days of the demo market.

A run of the optimiser would pick the parameters itself; a runner test needs ones that trade often on a short
series, and takes seconds instead of a search. The split is two-way, 70 % train and 30 % test, like a run's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig
from stratlab.report.manifest import Manifest, ManifestDataset, ManifestSelection
from stratlab.report.split import PartName, SplitKind, SplitPart
from stratlab.strategies import get_strategy

TRAIN_FRACTION = 0.7


def make_manifest(
    data_root: Path,
    *,
    strategy: str = "ma_cross",
    params: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    symbol: str = "BTC",
    start: str = "2025-03-01",
    end: str = "2025-03-04",
    run_id: str = "20250101T000000000Z",
) -> Manifest:
    candles = load_ohlcv("demo", symbol, "5m", start, end, data_root=data_root)
    n = len(candles)
    cut = int(n * TRAIN_FRACTION)
    stamps = candles.timestamp_ms
    parts = (
        SplitPart(name=PartName.TRAIN, start=0, end=cut, first_bar_ms=int(stamps[0]), last_bar_ms=int(stamps[cut - 1])),
        SplitPart(name=PartName.TEST, start=cut, end=n, first_bar_ms=int(stamps[cut]), last_bar_ms=int(stamps[-1])),
    )
    dataset = ManifestDataset(
        source="demo", symbol=symbol, timeframe="5m", start=start, end=end, n_bars=n,
        first_bar_ms=int(stamps[0]), last_bar_ms=int(stamps[-1]), fingerprint=candles.fingerprint(), parts=parts,
    )  # fmt: skip
    chosen = {**get_strategy(strategy).space.defaults(), **(params or {"fast": 5, "slow": 20})}
    return Manifest.now(
        run_id=run_id,
        dataset=dataset,
        strategy=strategy,
        trial=0,
        params=chosen,
        backtest=BacktestConfig(**(config or {})),
        kpis={},
        selection=ManifestSelection(
            dd_threshold_pct=30.0,
            reason="chosen by the test",
            selection_part=PartName.TEST,
            part_roles=SplitKind.TWO_WAY.roles,
        ),
    )


def write_manifest(path: Path, data_root: Path, **fields: Any) -> Path:
    make_manifest(data_root, **fields).write(path)
    return path
