"""What an experiment of the results database looks like: its progress over iterations, how its thresholds moved, the
distribution of a KPI over its train backtests, and its pools as a table; the same figures and tables serve the
Research page and the one-file HTML report (``write_report``).

Everything is read from the database (``load_experiment``); nothing here backtests. The report shows train and
validation figures only: holdout is what the loop never looked at, and it stays untouched here too.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from stratlab.atomic_io import write_text_atomic
from stratlab.errors import DataError
from stratlab.report.manifest import ManifestDataset
from stratlab.report.split import PartName
from stratlab.research.config import (
    BEST,
    GOOD,
    THRESHOLD_MOVE,
    TIERS,
    ResearchConfig,
    bounds_after_moves,
    threshold_name,
)
from stratlab.research.db import ResultsDb
from stratlab.research.detail import bounds_text
from stratlab.research.markets import market_label
from stratlab.research.scoring import outlier_flags, pareto_set

POOLS = (BEST, GOOD)
POOL_COLOURS = {"all backtests": "#bdbdbd", GOOD: "#4292c6", BEST: "#d94801"}
HISTOGRAM_BINS = 40
# The pools table: (column, part, KPI) for the KPI columns, in order.
POOL_KPI_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("train Sharpe", PartName.TRAIN, "sharpe"),
    ("train return (%)", PartName.TRAIN, "return_pct"),
    ("train max DD (%)", PartName.TRAIN, "max_drawdown_pct"),
    ("train green days (%)", PartName.TRAIN, "green_days_pct"),
    ("train trades", PartName.TRAIN, "n_trades"),
    ("validation Sharpe", PartName.VALIDATION, "sharpe"),
    ("validation return (%)", PartName.VALIDATION, "return_pct"),
    ("validation max DD (%)", PartName.VALIDATION, "max_drawdown_pct"),
)
POOL_COLUMNS = (
    "pool", "backtest", "strategy", "market", "admitted at iteration", "score",
    *(column for column, _, _ in POOL_KPI_COLUMNS), "DSR", "flags", "Pareto",
)  # fmt: skip
HOLDOUT_UNTOUCHED = (
    "Holdout is untouched: the loop chose every member on train and validation only and never looked at holdout, "
    "and this report shows no holdout figure either; holdout stays out-of-sample for whoever picks a member."
)


@dataclass(frozen=True)
class ExperimentView:
    """One experiment as the database holds it: config, markets, every backtest's train and validation KPIs, the
    pool admissions and the threshold decisions."""

    experiment_id: int
    name: str
    created_at: str
    config: ResearchConfig
    markets: tuple[ManifestDataset, ...]
    train: pd.DataFrame
    validation: pd.DataFrame
    members: pd.DataFrame
    decisions: pd.DataFrame

    @property
    def last_iteration(self) -> int:
        return int(self.train["iteration"].max()) if len(self.train) else 0


def load_experiment(db: ResultsDb, name: str) -> ExperimentView:
    """Experiment ``name`` read whole; an unknown name is one ``DataError`` line listing the known ones."""
    found = db.experiment_config(name)
    if found is None:
        known = ", ".join(db.experiments()["name"]) or "none yet"
        raise DataError(f"the results database has no experiment {name!r} (experiments: {known})")
    experiment_id, record = found
    experiments = db.experiments()
    created = str(experiments.loc[experiments["id"] == experiment_id, "created_at"].iloc[0])
    return ExperimentView(
        experiment_id=experiment_id, name=name, created_at=created,
        config=ResearchConfig.model_validate(record["config"]),
        markets=tuple(ManifestDataset.model_validate(m) for m in record.get("markets", [])),
        train=db.backtests_frame(experiment_id, PartName.TRAIN),
        validation=db.backtests_frame(experiment_id, PartName.VALIDATION),
        members=db.pool_members(experiment_id), decisions=db.decisions(experiment_id),
    )  # fmt: skip


# values for people ------------------------------------------------------------------------------------------------


def utc_text(iso: str) -> str:
    """An ISO 8601 time as ``2025-03-04 12:30:00 UTC``."""
    moment = dt.datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def number_text(value: Any, decimals: int = 2) -> str:
    """A number with thousands separators (an empty cell for none); whole counts without decimals."""
    if value is None or isinstance(value, str) or (isinstance(value, float) and not math.isfinite(value)):
        return "" if value is None or isinstance(value, float) else str(value)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else ""
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{float(value):,.{decimals}f}"


# progress ---------------------------------------------------------------------------------------------------------


def progress_frame(view: ExperimentView) -> pd.DataFrame:
    """Per iteration: backtests in the database, GOOD and BEST sizes, each as of that iteration's end."""
    iterations = np.arange(view.last_iteration + 1) if len(view.train) else np.arange(0)
    per_iteration = view.train.groupby("iteration").size().reindex(iterations, fill_value=0)
    frame = pd.DataFrame({"iteration": iterations, "backtests": per_iteration.cumsum().to_numpy()})
    for pool in (GOOD, BEST):
        admitted = view.members.loc[view.members["pool"] == pool, "admitted_iteration"]
        sizes = admitted.value_counts().reindex(iterations, fill_value=0).cumsum()
        frame[pool] = sizes.to_numpy()
    return frame


def progress_figure(progress: pd.DataFrame) -> go.Figure:
    """Backtests (left axis) and pool sizes (right axis) over iterations."""
    figure = go.Figure()
    backtests = go.Scatter(x=progress["iteration"], y=progress["backtests"], name="backtests", mode="lines+markers")
    figure.add_trace(backtests)
    for pool in (GOOD, BEST):
        figure.add_trace(
            go.Scatter(
                x=progress["iteration"], y=progress[pool], name=pool, yaxis="y2", mode="lines+markers",
                line={"color": POOL_COLOURS[pool]},
            )
        )  # fmt: skip
    figure.update_layout(
        title="Progress: backtests and pool sizes after each iteration", xaxis_title="iteration",
        yaxis={"title": "backtests", "tickformat": ",d"},
        yaxis2={"title": "pool size", "overlaying": "y", "side": "right", "tickformat": ",d", "rangemode": "tozero"},
        height=380, template="plotly_white", legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return figure


def threshold_history(view: ExperimentView) -> pd.DataFrame:
    """Each adaptive bound over iterations: its starting value (the config's), then every logged move, then its value
    at the last iteration. Columns: threshold (``soft.sharpe``), iteration, value, reason."""
    rows: list[dict[str, Any]] = []
    moves = view.decisions[view.decisions["kind"] == THRESHOLD_MOVE]
    for tier in TIERS:
        thresholds = view.config.adaptive_thresholds(tier)
        for rule in thresholds.rules:
            name = threshold_name(tier, rule.kpi)
            value = thresholds.value_of(rule.kpi)
            rows.append({"threshold": name, "iteration": 0, "value": value, "reason": "starting value"})
            mine = moves[moves["name"] == name]
            for iteration, new_value, reason in zip(mine["iteration"], mine["new_value"], mine["reason"], strict=True):
                value = float(new_value)
                rows.append({"threshold": name, "iteration": int(iteration), "value": value, "reason": str(reason)})
            rows.append({"threshold": name, "iteration": view.last_iteration, "value": value, "reason": "now"})
    return pd.DataFrame(rows, columns=["threshold", "iteration", "value", "reason"])


def thresholds_figure(history: pd.DataFrame) -> go.Figure:
    """Each adaptive bound as a step line over iterations (a move holds until the next one)."""
    figure = go.Figure()
    for name, rows in history.groupby("threshold", sort=False):
        figure.add_trace(
            go.Scatter(
                x=rows["iteration"], y=rows["value"], name=str(name), mode="lines+markers", line={"shape": "hv"},
                text=rows["reason"], hovertemplate="%{x}: %{y:,.3f}<br>%{text}<extra>" + str(name) + "</extra>",
            )
        )  # fmt: skip
    figure.update_layout(
        title="Adaptive thresholds over iterations", xaxis_title="iteration", yaxis_title="bound", height=380,
        template="plotly_white", legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return figure


# KPI distribution -------------------------------------------------------------------------------------------------


def pool_of(members: pd.DataFrame) -> dict[int, str]:
    """Backtest id -> its best pool (BEST over GOOD)."""
    found: dict[int, str] = {}
    for pool in (GOOD, BEST):  # BEST last: it wins
        for backtest_id in members.loc[members["pool"] == pool, "backtest_id"]:
            found[int(backtest_id)] = pool
    return found


def kpi_histogram(train: pd.DataFrame, kpi: str, members: pd.DataFrame) -> go.Figure:
    """The distribution of ``kpi`` over train rows, with GOOD and BEST members drawn over it in their colours."""
    values = pd.to_numeric(train[kpi], errors="coerce")
    finite = values[np.isfinite(values)]
    figure = go.Figure()
    shown = [("all backtests", finite)]
    for pool in (GOOD, BEST):
        ids = set(members.loc[members["pool"] == pool, "backtest_id"].astype(int))
        shown.append((pool, finite[train.loc[finite.index, "backtest_id"].isin(ids)]))
    edges = _bin_edges(finite.to_numpy(dtype=np.float64))
    for name, column in shown:
        figure.add_trace(
            go.Histogram(
                x=column, name=f"{name} ({len(column):,})", marker={"color": POOL_COLOURS[name]},
                xbins={"start": edges[0], "end": edges[1], "size": edges[2]} if edges else None,
            )
        )  # fmt: skip
    figure.update_layout(
        title=f"{kpi} of {len(finite):,} train backtests", barmode="overlay", xaxis_title=kpi,
        yaxis_title="backtests", height=360, template="plotly_white", legend={"orientation": "h", "y": -0.25},
    )  # fmt: skip
    figure.update_traces(opacity=0.75)
    return figure


def _bin_edges(values: np.ndarray) -> tuple[float, float, float] | None:
    """Shared bins for every trace (so GOOD and BEST line up with all backtests); None when there is nothing."""
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    size = (high - low) / HISTOGRAM_BINS if high > low else 1.0
    return low, high + size, size


# pools ------------------------------------------------------------------------------------------------------------


def _luck_value(luck: Any, name: str) -> float | None:
    if isinstance(luck, str):
        luck = json.loads(luck)
    value = luck.get(name) if isinstance(luck, Mapping) else None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def pools_table(view: ExperimentView) -> pd.DataFrame:
    """One row per pool admission, BEST first and best score first: the backtest, its train and validation figures,
    its DSR (BEST), what makes its figures suspect, and whether it is on the Pareto front of the config's objectives
    among the pools' backtests."""
    members = view.members
    if members.empty:
        return pd.DataFrame(columns=list(POOL_COLUMNS))
    train = view.train.set_index("backtest_id")
    validation = view.validation.set_index("backtest_id")
    ids = members["backtest_id"].astype(int)
    member_train = train.loc[sorted(set(ids))].reset_index()
    flags = dict(zip(member_train["backtest_id"], outlier_flags(member_train), strict=True))
    front = dict(zip(member_train["backtest_id"], pareto_set(member_train, view.config.pareto), strict=True))
    table = pd.DataFrame(
        {
            "pool": members["pool"].to_numpy(),
            "backtest": ids.to_numpy(),
            "strategy": train.loc[ids, "strategy"].to_numpy(),
            "market": [
                market_label((str(source), str(symbol), str(timeframe)))
                for source, symbol, timeframe in train.loc[ids, ["source", "symbol", "timeframe"]].to_numpy()
            ],
            "admitted at iteration": members["admitted_iteration"].astype(int).to_numpy(),
            "score": pd.to_numeric(members["score"], errors="coerce").to_numpy(),
        }
    )
    for column, part, kpi in POOL_KPI_COLUMNS:
        source = train if part == PartName.TRAIN else validation
        table[column] = pd.to_numeric(source[kpi].reindex(ids), errors="coerce").to_numpy()
    table["DSR"] = [_luck_value(luck, "dsr") for luck in members["luck_json"]]
    table["flags"] = [flags[i] for i in ids]
    table["Pareto"] = [bool(front[i]) for i in ids]
    order = table["pool"].map({pool: n for n, pool in enumerate(POOLS)})
    table = table.assign(_order=order).sort_values(["_order", "score"], ascending=[True, False], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)[list(POOL_COLUMNS)]


def readable_pools(table: pd.DataFrame) -> pd.DataFrame:
    """The pools table as text for people: thousands separators, two decimals, the score in three, empty cells for
    figures a row does not have."""
    shown = table.copy()
    for column in shown.columns:
        if column in ("pool", "strategy", "market", "flags"):
            continue
        decimals = 3 if column in ("score", "DSR") else 2
        shown[column] = [number_text(v, decimals) for v in shown[column].astype(object)]
    return shown


# the HTML report --------------------------------------------------------------------------------------------------


def how_chosen(view: ExperimentView) -> list[str]:
    """How members are chosen, in the experiment's own bounds as they stand now."""
    config = view.config
    current = bounds_after_moves(view.decisions)
    soft, hard = (bounds_text(config.adaptive_thresholds(t, current[t]).current()) for t in TIERS)
    return [
        f"GOOD: train passes SOFT ({soft}) and validation passes the validation bounds "
        f"({bounds_text(config.validation_set())}).",
        f"BEST: train passes HARD ({hard}) and validation passes the same validation bounds; a BEST member's deflated "
        "Sharpe ratio (DSR) counts every backtest of the search as a trial.",
        "Adaptive bounds move with the backtests seen (their history is in the thresholds figure); a member was "
        "admitted by the bounds in force at its iteration. The score is a weighted percentile rank among the valid "
        "train backtests seen.",
        HOLDOUT_UNTOUCHED,
    ]


def report_html(view: ExperimentView, kpi: str = "sharpe") -> str:
    """The report's page: a summary, how members are chosen, the figures (plotly's script inlined once: the file
    opens offline) and the pools table."""
    pools = pools_table(view)
    counts = {pool: int((view.members["pool"] == pool).sum()) for pool in POOLS}
    markets = ", ".join(market_label((m.source, m.symbol, m.timeframe)) for m in view.markets)
    figures = [
        progress_figure(progress_frame(view)),
        thresholds_figure(threshold_history(view)),
        kpi_histogram(view.train, kpi, view.members),
    ]
    charts = [f.to_html(full_html=False, include_plotlyjs=n == 0) for n, f in enumerate(figures)]
    summary = (
        f"Created {utc_text(view.created_at)}; {len(view.train):,} backtests over {view.last_iteration + 1:,} "
        f"iterations on {html.escape(markets)} ({', '.join(view.config.strategies)}); GOOD {counts[GOOD]:,}, "
        f"BEST {counts[BEST]:,}; report written {utc_text(dt.datetime.now(dt.UTC).isoformat())}."
    )
    chosen = "".join(f"<li>{html.escape(line)}</li>" for line in how_chosen(view))
    table = readable_pools(pools).to_html(index=False, border=0, classes="pools", na_rep="")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Research report: {html.escape(view.name)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table.pools{border-collapse:collapse;font-size:13px}"
        "table.pools td,table.pools th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}</style>"
        f"</head><body><h1>Research report: {html.escape(view.name)}</h1><p>{summary}</p>"
        f"<h2>How members are chosen</h2><ul>{chosen}</ul>{''.join(charts)}"
        f"<h2>Pools ({len(pools):,} admissions)</h2>{table}</body></html>\n"
    )


def write_report(db: ResultsDb, experiment: str, path: Path | str) -> Path:
    """Experiment ``experiment``'s report as one self-contained HTML file at ``path``, written atomically."""
    target = Path(path)
    write_text_atomic(target, report_html(load_experiment(db, experiment)))
    return target


__all__ = [
    "HOLDOUT_UNTOUCHED",
    "POOL_COLUMNS",
    "ExperimentView",
    "how_chosen",
    "kpi_histogram",
    "load_experiment",
    "number_text",
    "pool_of",
    "pools_table",
    "progress_figure",
    "progress_frame",
    "readable_pools",
    "report_html",
    "threshold_history",
    "thresholds_figure",
    "utc_text",
    "write_report",
]
