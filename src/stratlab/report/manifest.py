"""The paper manifest (``champion.json``): a typed, versioned record of everything needed to rebuild a champion's
backtest elsewhere, and the replay that proves it (``stratlab backtest --manifest champion.json``).

:class:`Manifest` is the one definition: the run's report builds it (``stratlab.optimize.report``), ``write`` stores
it atomically, :func:`read_manifest` reads and checks one (the CLI's replay, the UI's Analyze page), and later
consumers (a paper runner, a portfolio) read the same model. Schema version 1, as JSON:

- ``schema_version`` (1), ``kind`` ("stratlab.manifest"), ``created_at`` (UTC, ISO 8601), ``package_version``,
  ``run_id``;
- ``dataset`` (:class:`ManifestDataset`): source, symbol, timeframe, start, end, n_bars, first/last bar ms, the
  fingerprint of the candles and the split ``parts`` with their bar ranges;
- ``strategy``, ``trial``, ``params`` (the strategy's, complete);
- ``backtest``: the full ``BacktestConfig``;
- ``kpis``: one full KPI record (``stratlab.metrics.Kpis``) per split part the champion was backtested on;
- ``selection`` (:class:`ManifestSelection`): the drawdown threshold, why this champion, the part that chose it and
  each part's role (searched, selection figure, out-of-sample);
- ``verdict`` (:class:`ManifestVerdict`): pass or flagged by the gates, with every statistic (None in older files).

A file that is not such a manifest (other bytes, another kind, another schema version, a field missing or of
another type) is one ``DataError`` line naming the file and the field.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from stratlab import __version__
from stratlab.atomic_io import write_text_atomic
from stratlab.data.loader import load_ohlcv
from stratlab.engine import BacktestConfig, BacktestResult, run_backtest
from stratlab.errors import ConfigError, DataError
from stratlab.metrics import Kpis
from stratlab.report.split import PartName, PartRole, SplitKind, SplitPart
from stratlab.selection.gates import VerdictName
from stratlab.strategies import StrategySource, get_strategy, recall_sources, use_source

ModelT = TypeVar("ModelT", bound=BaseModel)
MANIFEST_SCHEMA_VERSION: Final = 1
MANIFEST_KIND: Final = "stratlab.manifest"
# KPIs are recomputed bit for bit on the same data and code; a replay on another machine may differ in the last
# bits of a float sum, which this tolerance absorbs.
REPLAY_RTOL = 1e-9


class ManifestDataset(BaseModel):
    """The candles a run used (found again by source, symbol, timeframe and period; proven by the fingerprint) and
    how it split them. ``report.json`` carries the same record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    symbol: str
    timeframe: str
    start: str | None
    end: str | None
    n_bars: int
    first_bar_ms: int
    last_bar_ms: int
    fingerprint: str
    parts: tuple[SplitPart, ...]

    @field_validator("parts")
    @classmethod
    def _a_known_split(cls, parts: tuple[SplitPart, ...]) -> tuple[SplitPart, ...]:
        names = [part.name for part in parts]
        if names not in [list(split.parts) for split in SplitKind]:
            known = " or ".join(",".join(split.parts) for split in SplitKind)
            raise ValueError(f"expected the parts {known}, got {','.join(names) or 'none'}")
        return parts

    @property
    def split_kind(self) -> SplitKind:
        return SplitKind.of(len(self.parts))


class ManifestSelection(BaseModel):
    """How the champion was chosen: the drawdown threshold on the selection part, the rule's own words, and what each
    part's figures are worth (only an out-of-sample part was untouched by every choice)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dd_threshold_pct: float
    reason: str
    selection_part: PartName | None = None  # None in manifests written before parts had roles
    part_roles: dict[PartName, PartRole] = Field(default_factory=dict)


class ManifestVerdict(BaseModel):
    """Whether the champion is likely luck: the gates' verdict, its one-line summary, each gate and every statistic
    behind them (report.json's ``luck`` block)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: VerdictName
    summary: str
    gates: list[dict[str, Any]]
    statistics: dict[str, Any]


class Manifest(BaseModel):
    """A champion as a paper trader needs it: data, split, strategy and parameters, backtest config, KPIs per part."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    kind: Literal["stratlab.manifest"] = MANIFEST_KIND
    created_at: str
    package_version: str = __version__
    run_id: str
    dataset: ManifestDataset
    # A user strategy's file, content hash and check state; None for a built-in. Replay refuses a changed file.
    # Declared before ``strategy``: its file must be imported before the name is checked, wherever this runs.
    strategy_source: StrategySource | None = None
    strategy: str
    trial: int
    params: dict[str, Any]
    backtest: BacktestConfig
    kpis: dict[PartName, Kpis]
    selection: ManifestSelection
    verdict: ManifestVerdict | None = None  # None in manifests written before runs were judged

    @field_validator("strategy")
    @classmethod
    def _a_registered_strategy(cls, name: str, info: ValidationInfo) -> str:
        source = info.data.get("strategy_source")
        if source is not None:
            recall_sources({name: source})
        try:
            get_strategy(name)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return name

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        try:
            get_strategy(self.strategy).space.validate(self.params)
        except ConfigError as exc:
            raise ValueError(f"params: {exc}") from None
        split = {part.name for part in self.dataset.parts}
        stray = [str(part) for part in self.kpis if part not in split]
        if stray:
            raise ValueError(f"kpis: part {stray[0]!r} is not a part of the dataset's split")
        return self

    @classmethod
    def now(cls, **fields: Any) -> Manifest:
        """A manifest created at this moment by this stratlab."""
        return cls(created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **fields)

    def to_json(self) -> str:
        """The file's text: plain JSON (enums as their names), indented, one trailing newline."""
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    def write(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        write_text_atomic(path, self.to_json())


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_versioned_json(
    text: str, path: Path, *, model: type[ModelT], kind: str, version: int, what: str, backtest_at: str = "backtest"
) -> ModelT:
    """A file of ``kind`` and schema ``version`` (a manifest, a portfolio) from its JSON text, validated strictly
    by ``model``; anything else is one ``DataError`` line naming ``path`` and the field."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not a readable {what} ({exc})") from None
    found = raw.get("kind") if isinstance(raw, dict) else None
    if found != kind:
        raise DataError(f"{path}: not a stratlab {what} (kind is {found!r}, not {kind!r})")
    schema = raw.get("schema_version")
    if schema != version:
        raise DataError(f"{path}: schema_version: {what} schema {schema!r}, this stratlab reads {version}")
    try:
        # Strict: JSON's own types only (a "3" is no trial number), as a file written by the model has them.
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise DataError(f"{path}: {_first_problem(exc)}") from None
    except ConfigError as exc:  # BacktestConfig reports its own fields in one line
        raise DataError(f"{path}: {backtest_at}: {str(exc).removeprefix('backtest config: ')}") from None


def parse_manifest(text: str, path: Path) -> Manifest:
    """A manifest from its JSON text; anything else is one ``DataError`` line naming ``path`` and the field."""
    return parse_versioned_json(
        text, path, model=Manifest, kind=MANIFEST_KIND, version=MANIFEST_SCHEMA_VERSION, what="manifest"
    )


def read_manifest_text(path: Path) -> tuple[Manifest, str]:
    """The manifest at ``path`` and its text as stored (what a download hands out)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable manifest ({exc})") from None
    return parse_manifest(text, path), text


def read_manifest(path: Path) -> Manifest:
    """The manifest at ``path``, checked (see :func:`parse_manifest`)."""
    return read_manifest_text(path)[0]


@dataclass(frozen=True)
class Replay:
    part: PartName
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
    dataset = manifest.dataset
    candles = load_ohlcv(
        dataset.source, dataset.symbol, dataset.timeframe, dataset.start, dataset.end, data_root=data_root
    )
    if candles.fingerprint() != dataset.fingerprint:
        raise DataError(
            f"{candles.label}: these candles are not the ones the manifest was made on "
            f"({len(candles):,} bars here, {dataset.n_bars:,} there; fingerprints differ)"
        )
    strategy = use_source(manifest.strategy, manifest.strategy_source, used_by=str(path))
    signals = strategy.signals(candles, manifest.params)
    stops = strategy.stops(candles, manifest.params)
    replays = []
    for part in dataset.parts:
        recorded = manifest.kpis.get(part.name)
        if recorded is None:
            continue
        result = run_backtest(candles, signals, manifest.backtest, stops=stops, start=part.start, end=part.end)
        got = result.kpis.to_dict()
        expected = recorded.to_dict()
        mismatches = {
            key: (expected[key], got.get(key))
            for key in expected
            if key != "notes" and not _same(expected[key], got.get(key))
        }
        replays.append(Replay(part.name, result, expected, mismatches))
    return replays


__all__ = [
    "MANIFEST_KIND",
    "MANIFEST_SCHEMA_VERSION",
    "Manifest",
    "ManifestDataset",
    "ManifestSelection",
    "Replay",
    "parse_manifest",
    "parse_versioned_json",
    "read_manifest",
    "read_manifest_text",
    "replay_manifest",
]
