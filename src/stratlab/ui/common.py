"""What every page shares: the configured roots, cached loaders, the run picker and one-line problem messages."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from stratlab.data.candles import Candles
from stratlab.data.inspect import SeriesReport, inspect_series
from stratlab.data.loader import load_ohlcv
from stratlab.data.store import MarketStore, SeriesKey
from stratlab.errors import ConfigError, DataError
from stratlab.optimize.context import RunContext
from stratlab.optimize.rundir import RunDir
from stratlab.settings import load_settings
from stratlab.ui.runs import RunResults, describe_run, files_signature, load_results, open_run, run_names


def roots() -> tuple[Path, Path]:
    """(data root, runs root) as configured for this server (STRATLAB_DATA_ROOT, STRATLAB_RUNS_ROOT)."""
    settings = load_settings()
    return settings.data_root.resolve(), settings.runs_root.resolve()


def run_data_root(context: RunContext, configured: Path) -> Path:
    """Where a run's candles are read from: this server's store, unless it does not hold the run's series and the
    store the run was created with (``--data-root``) still exists. The candles' fingerprint is checked either way."""
    request = context.request
    if MarketStore(configured).month_files(request.source, request.symbol, request.timeframe):
        return configured
    recorded = Path(context.data_root)
    return recorded if recorded.is_dir() else configured


def series_signature(data_root: Path, key: SeriesKey) -> tuple[tuple[str, int, int], ...]:
    """(file, size, mtime) of a series' month files: changes whenever the series is written."""
    files = MarketStore(data_root).month_files(key.source, key.symbol, key.timeframe)
    return tuple((f.path.name, f.path.stat().st_size, f.path.stat().st_mtime_ns) for f in files)


@st.cache_resource(max_entries=8, show_spinner="Loading candles…")
def cached_candles(
    data_root: str, source: str, symbol: str, timeframe: str, _signature: tuple[tuple[str, int, int], ...]
) -> Candles:
    # Candles are read-only arrays: one shared object serves every session without copies.
    return load_ohlcv(source, symbol, timeframe, data_root=data_root)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_series_report(data_root: str, key: SeriesKey, signature: tuple[tuple[str, int, int], ...]) -> SeriesReport:
    return inspect_series(MarketStore(data_root), key)


@st.cache_data(max_entries=16, show_spinner="Reading the run…")
def cached_results(runs_root: str, name: str, signature: tuple[tuple[str, int, int], ...]) -> RunResults:
    return load_results(Path(runs_root), name)


def results_of(runs_root: Path, name: str) -> RunResults:
    """The run's files, re-read only when one of them changed."""
    return cached_results(str(runs_root), name, files_signature(runs_root, name))


def pick_run(runs_root: Path, key: str, label: str = "Run") -> str | None:
    """A run chooser, newest first, remembered in the URL (``?run=``) so a refresh shows the same run."""
    names = run_names(runs_root)
    if not names:
        st.info(f"No runs yet under {runs_root}. Start one on the Launch page.")
        return None
    # The URL names the run (a refresh or a shared link keeps it); moving between pages keeps the session's choice.
    wanted = st.query_params.get("run") or st.session_state.get("chosen_run")
    index = names.index(wanted) if wanted in names else 0
    if wanted and wanted not in names:
        st.warning(f"Run {wanted!r} is not under {runs_root}; showing the newest instead.")
    chosen = st.selectbox(
        label, names, index=index, key=key, format_func=lambda name: describe_run(runs_root, name).label
    )
    st.session_state["chosen_run"] = chosen
    if chosen != st.query_params.get("run"):
        st.query_params["run"] = chosen
    return chosen


def opened_run(runs_root: Path, name: str) -> tuple[RunDir, RunContext] | None:
    """Run ``name`` and its context, or None after showing the one line saying why it cannot be read."""
    try:
        run_dir = open_run(runs_root, name)
        return run_dir, run_dir.load_context()
    except (ConfigError, DataError) as exc:
        st.error(str(exc))
        return None


def show_problems(results: RunResults) -> None:
    for problem in results.problems:
        st.warning(problem)


__all__ = [
    "cached_candles",
    "cached_results",
    "cached_series_report",
    "opened_run",
    "pick_run",
    "results_of",
    "roots",
    "run_data_root",
    "series_signature",
    "show_problems",
]
