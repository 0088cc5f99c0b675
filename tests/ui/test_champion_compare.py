"""The champion card and Compare for people: the searched TP/SL and position-mode settings among the parameters,
how the champion was chosen and whether each part's figures are valid; Compare names each run's data, period,
split and budget, and ranks runs only when they cover the same candles cut the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import run_cli
from tests.ui.test_pages import app, texts


def open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["analyze_section"] = tab
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_champion_card_lists_searched_settings_how_it_was_chosen_and_validity(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]]
) -> None:
    runs_root, names = finished_runs
    manifest = json.loads((runs_root / names[-1] / "champion.json").read_text())
    at = open_tab(app(monkeypatch, demo_root, runs_root, "analyze", run=names[-1]), "Champion")
    table = at.dataframe[0].value
    shown = dict(zip(table["parameter"], table["value"], strict=True))
    kinds = dict(zip(table["parameter"], table["searched as"], strict=True))
    # The run searched TP and SL (the defaults) and the position mode: they sit next to the strategy's parameters,
    # at 6 significant digits, with the value the manifest's backtest config holds.
    for setting in ("tp_pct", "sl_pct", "position_mode"):
        assert kinds[setting] == "backtest setting"
    assert shown["tp_pct"] == f"{manifest['backtest']['tp_pct']:,.6g}"
    assert shown["position_mode"] == manifest["backtest"]["position_mode"]
    for param, value in manifest["params"].items():
        assert kinds[param] == "strategy"
        assert shown[param] == (
            f"{value:,}" if isinstance(value, int) else f"{value:,.6g}" if isinstance(value, float) else str(value)
        )
    # Markdown escapes (``\<``, ``\.``) dropped: the text a reader sees.
    page = texts(at).replace("\\", "")
    assert "How it was chosen" in page and manifest["selection"]["reason"] in page
    assert "The figure that chose it is its test return" in page and "not out-of-sample" in page
    validity = next(m.value for m in at.markdown if m.value.startswith("**Validity**")).replace("\\", "")
    for part, kpis in manifest["kpis"].items():
        expected = "valid" if kpis["is_valid"] else "invalid: " + "; ".join(kpis["invalid_reasons"])
        assert f"{part}: {expected}" in validity


def test_compare_ranks_runs_on_the_same_data_by_the_selection_figure(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]]
) -> None:
    runs_root, names = finished_runs
    at = open_tab(app(monkeypatch, demo_root, runs_root, "analyze", run=names[0]), "Compare")
    table = at.dataframe[0].value
    assert not at.warning
    assert any("ranked by the champion's return on the selection part" in c.value for c in at.caption)
    returns = [
        json.loads((runs_root / run / "report.json").read_text())["champion"]["test_return_pct"] for run in table["run"]
    ]
    assert returns == sorted(returns, reverse=True)
    assert set(table["period (UTC)"]) == {"2025-01-01 00:00 UTC → 2025-03-31 23:55 UTC"}
    assert set(table["data"]) == {"demo / BTC / 5m"}
    budgets = dict(zip(table["run"], table["budget"], strict=True))
    assert budgets[names[0]] == "12 trials × 1 studies" and budgets[names[1]] == "12 trials × 2 studies"
    assert all(split.startswith("train ") and ", test " in split for split in table["split"])


def test_compare_refuses_to_rank_runs_over_different_periods(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    source_root, names = finished_runs
    runs_root = tmp_path / "runs"
    runs_root.mkdir()
    import shutil

    shutil.copytree(source_root / names[0], runs_root / names[0])
    result = run_cli(
        "optimize", "--source", "demo", "--symbol", "BTC", "--start", "2025-02-01", "--end", "2025-04-30",
        "--strategies", "ma_cross", "--max-trials", "6", "--workers", "1", "--no-live", "--sampler", "random",
        "--dd-threshold", "100", "--data-root", str(demo_root), "--label", "later",
        env={"STRATLAB_RUNS_ROOT": str(runs_root)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    at = open_tab(app(monkeypatch, demo_root, runs_root, "analyze", run=names[0]), "Compare")
    assert any("different data" in w.value and "not ranked" in w.value for w in at.warning)
    table = at.dataframe[0].value
    assert table["run"].iloc[0] == names[0]  # listed as chosen, not ordered by a figure
    assert len(set(table["period (UTC)"])) == 2
