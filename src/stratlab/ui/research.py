"""What the Research page shows of a results database: its experiments, a loop's progress (its status file and lock),
the train backtests filtered on key KPIs, the pools, and one backtest in detail with its paper manifest.

Everything here reads, but for the one write the page offers: a backtest's manifest, written atomically under
``research_root/<experiment>/manifests/``. A missing database or an unknown experiment is one ``DataError`` line,
never a traceback. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stratlab.errors import DataError
from stratlab.processes import lock_holder
from stratlab.report.split import PartName
from stratlab.research.config import DEFAULT_DB_NAME
from stratlab.research.db import ResultsDb, database_url
from stratlab.research.detail import BacktestDetail, detail_manifest
from stratlab.research.loop import LOCK_FILE, read_status
from stratlab.research.thresholds import KpiBound, ThresholdSet
from stratlab.settings import load_settings
from stratlab.ui.readable import parameters_table, readable_value

MANIFESTS = "manifests"
START_HINT = "stratlab research start --config research.toml"


@dataclass(frozen=True)
class KpiFilter:
    """A key KPI the page filters on, the way it is bounded (``min``: at least, ``max``: at most) and its label."""

    kpi: str
    direction: str
    label: str


# The page's filters: the KPIs SOFT and HARD bound, in their directions.
KPI_FILTERS: tuple[KpiFilter, ...] = (
    KpiFilter("sharpe", "min", "Sharpe at least"),
    KpiFilter("max_drawdown_pct", "max", "max drawdown (%) at most"),
    KpiFilter("green_days_pct", "min", "green days (%) at least"),
    KpiFilter("ulcer_index_pct", "max", "ulcer index (%) at most"),
    KpiFilter("top_days_pnl_share_pct", "max", "top days' PnL share (%) at most"),
    KpiFilter("n_trades", "min", "trades at least"),
)


def research_root() -> Path:
    """Where this server's research loops keep their database, status and manifests (STRATLAB_RESEARCH_ROOT)."""
    return load_settings().research_root.resolve()


def default_database() -> Path:
    return research_root() / DEFAULT_DB_NAME


def open_database(target: str) -> ResultsDb:
    """The results database at ``target`` (a path or a URL). A path with no file is refused rather than created:
    a typo must not leave an empty database behind."""
    text = target.strip()
    if not text:
        raise DataError("name a results database: a path to its SQLite file or a database URL")
    url = database_url(text)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise DataError(f"{text}: no results database there (start a loop with `{START_HINT}`)")
    return ResultsDb.open(text)


def experiment_names(db: ResultsDb) -> list[str]:
    """The database's experiments, newest first."""
    return [str(name) for name in db.experiments()["name"]][::-1]


# the loop's progress ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoopState:
    """What the loop of an experiment last said (``status.json``) and whether a process runs it now."""

    work_dir: Path
    status: dict[str, Any] | None
    pid: int | None

    @property
    def running(self) -> bool:
        return self.pid is not None


def loop_state(root: Path, experiment: str) -> LoopState:
    work_dir = root / experiment
    return LoopState(work_dir, read_status(work_dir), lock_holder(work_dir, LOCK_FILE) if work_dir.is_dir() else None)


def status_line(state: LoopState) -> str:
    """The loop in one line: running (pid) or how it stopped, where, how fast."""
    status = state.status
    if status is None:
        head = f"running (pid {state.pid})" if state.running else "no loop status here"
        return f"{head}: no status file in {state.work_dir}"
    if state.running:
        head = f"running (pid {state.pid}) {status.get('where', '')}".rstrip()
    elif status.get("state") == "running":
        head = "not running: the process ended without writing its stop (start it again to resume)"
    else:
        head = f"{status.get('state', '?')}: {status.get('stopped_by') or 'no reason recorded'}"
    rate = float(status.get("backtests_per_s") or 0.0)
    return (
        f"{head} · iteration {int(status.get('iteration', 0)):,} · {float(status.get('elapsed_s', 0.0)):,.1f} s"
        f" · {rate:,.1f} backtests/s · stops at {int(status.get('best_target', 0)):,} BEST or "
        f"{int(status.get('max_backtests', 0)):,} backtests"
    )


# filtering --------------------------------------------------------------------------------------------------------


def filter_set(values: Mapping[str, float | None]) -> ThresholdSet:
    """The filters the user set (a KPI -> bound, None: not filtered) as a threshold set, in the filters' order."""
    return ThresholdSet(
        bounds=tuple(
            KpiBound(kpi=f.kpi, direction=f.direction, value=float(value))  # type: ignore[arg-type]
            for f in KPI_FILTERS
            if (value := values.get(f.kpi)) is not None
        )
    )


def filtered(train: pd.DataFrame, values: Mapping[str, float | None]) -> pd.DataFrame:
    """The train rows meeting every filter set (a row without the KPI's value meets no bound on it)."""
    return train[filter_set(values).passing_mask(train)]


def filtered_table(rows: pd.DataFrame, pools: Mapping[int, str]) -> pd.DataFrame:
    """The filtered rows for people, best Sharpe first: backtest, pool, strategy and the filters' KPIs."""
    ordered = rows.sort_values("sharpe", ascending=False, na_position="last", kind="stable")
    table = pd.DataFrame(
        {
            "backtest": ordered["backtest_id"].astype(int),
            "pool": [pools.get(int(i), "") for i in ordered["backtest_id"]],
            "strategy": ordered["strategy"],
            "iteration": ordered["iteration"].astype(int),
        }
    )
    for kpi_filter in KPI_FILTERS:
        table[kpi_filter.kpi] = pd.to_numeric(ordered[kpi_filter.kpi], errors="coerce")
    return table.reset_index(drop=True)


# one backtest -----------------------------------------------------------------------------------------------------


def kpis_by_part(detail: BacktestDetail, holdout_shown: bool) -> pd.DataFrame:
    """Every KPI of the re-run backtest: a row per KPI, a column per part and one for the whole period; without
    ``holdout_shown``, train and validation only (and the two as one period)."""
    shown = {part: result for part, result in detail.by_part.items() if holdout_shown or part != PartName.HOLDOUT}
    columns: dict[str, dict[str, Any]] = (
        {"whole period": detail.whole.kpis.to_dict()}
        if holdout_shown
        else {"train + validation": detail.before_holdout.kpis.to_dict()}
    )
    columns.update({str(part): result.kpis.to_dict() for part, result in shown.items()})
    rows = [name for name in next(iter(columns.values())) if name not in ("notes", "invalid_reasons")]
    return pd.DataFrame(
        {name: [_cell_text(values.get(kpi)) for kpi in rows] for name, values in columns.items()},
        index=pd.Index(rows, name="KPI"),
    ).reset_index()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    return readable_value(value)


def detail_parameters(detail: BacktestDetail) -> pd.DataFrame:
    """The strategy's parameters with their meaning, then the backtest config's fields."""
    table = parameters_table(detail.strategy, detail.params, {})
    config = [
        {"parameter": name, "value": readable_value(value), "searched as": "backtest config", "meaning": ""}
        for name, value in detail.backtest_config.model_dump(mode="json").items()
    ]
    return pd.concat([table, pd.DataFrame(config, columns=table.columns)], ignore_index=True)


def manifest_path(root: Path, experiment: str, backtest_id: int) -> Path:
    return root / experiment / MANIFESTS / f"{backtest_id}.json"


def export_manifest(detail: BacktestDetail, root: Path, holdout_seen: bool) -> Path:
    """Write the backtest's paper manifest under ``root`` atomically (``holdout_seen``: holdout was shown before the
    export); returns where."""
    path = manifest_path(root, detail.experiment, detail.backtest_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    detail_manifest(detail, holdout_seen).write(path)
    return path


def chosen_text(detail: BacktestDetail) -> str:
    """How the backtest came to be in view: its pool admissions, or none."""
    if not detail.admissions:
        return "in no pool: a manifest of it says it was picked by hand"
    return "; ".join(
        f"{a.pool} since iteration {a.iteration:,}" + (f" (score {a.score:.3f})" if a.score is not None else "")
        for a in detail.admissions
    )


__all__ = [
    "KPI_FILTERS",
    "MANIFESTS",
    "START_HINT",
    "KpiFilter",
    "LoopState",
    "chosen_text",
    "default_database",
    "detail_parameters",
    "experiment_names",
    "export_manifest",
    "filter_set",
    "filtered",
    "filtered_table",
    "kpis_by_part",
    "loop_state",
    "manifest_path",
    "open_database",
    "research_root",
    "status_line",
]
