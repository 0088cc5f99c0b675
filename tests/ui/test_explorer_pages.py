"""The trials explorer through Streamlit's AppTest, on real runs made by the CLI: the table and its filters, a
non-champion trial backtested (split markers, buy-and-hold, log scale, KPIs per part as the report recorded them,
trades, months, manifest), and a failure as one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest


def explorer_page(runs_root: str, data_root: str, name: str) -> None:
    """The Trials tab as Analyze calls it (a script: its imports are its own)."""
    from pathlib import Path

    from stratlab.ui.common import results_of
    from stratlab.ui.explorer import show_trials

    results = results_of(Path(runs_root), name)
    assert results.context is not None
    show_trials(Path(runs_root), name, results, Path(data_root))


@pytest.fixture(scope="module")
def run(finished_runs: tuple[Path, list[str]]) -> Path:
    runs_root, names = finished_runs
    return runs_root / next(n for n in names if n.endswith("first"))


def open_page(run: Path, data_root: Path) -> AppTest:
    at = AppTest.from_function(explorer_page, args=(str(run.parent), str(data_root), run.name), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_table(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def caption_texts(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def widget(widgets: Any, label: str) -> Any:
    return next(w for w in widgets if w.label == label)


def test_every_trial_in_the_table_and_the_filters_narrow_it_as_pandas_does(run: Path, demo_root: Path) -> None:
    trials = pd.read_csv(run / "trials.csv")
    at = open_page(run, demo_root)
    table = shown_table(at)
    assert len(table) == len(trials) and f"{len(trials):,} of {len(trials):,} trials" in caption_texts(at)
    assert {b.label for b in at.get("download_button")} == {"Download filtered trials (CSV)"}
    widget(at.multiselect, "Strategies").set_value(["stochastic"]).run()
    widget(at.multiselect, "Narrow the range of").set_value(["train return %"]).run()
    low, high = trials["train_return_pct"].quantile([0.2, 0.8])
    widget(at.slider, "train return %").set_range(float(low), float(high)).run()
    assert not at.exception
    expected = trials[
        (trials["strategy"] == "stochastic") & trials["train_return_pct"].between(low, high)
    ]  # fmt: skip
    table = shown_table(at)
    assert sorted(table["trial"]) == sorted(expected["trial"]) and 0 < len(table) < len(trials)
    assert f"{len(expected):,} of {len(trials):,} trials" in caption_texts(at)


def test_a_non_champion_trial_backtests_over_the_whole_period_with_the_reports_figures(
    run: Path, demo_root: Path
) -> None:
    report = json.loads((run / "report.json").read_text())
    candidates = pd.read_csv(run / "candidates_test.csv")
    champion = (report["champion"]["strategy"], report["champion"]["trial"])
    row = next(r for r in candidates.itertuples() if (r.strategy, r.trial) != champion)
    at = open_page(run, demo_root)
    assert not at.get("plotly_chart")  # nothing backtested until a trial is chosen
    widget(at.selectbox, "Trial to backtest").select(f"{row.strategy} #{row.trial}").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [h.value for h in at.subheader] == [f"{row.strategy} · trial {row.trial}"]
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [trace.get("name") for trace in figure["data"]]
    assert "buy and hold" in names and "equity" in names
    assert [a["text"] for a in figure["layout"]["annotations"]] == ["train | test"]
    context = json.loads((run / "context.json").read_text())
    test_part = context["parts"][1]
    line = pd.Timestamp(figure["layout"]["shapes"][0]["x0"])
    assert line == pd.Timestamp(test_part["first_bar_ms"], unit="ms", tz="UTC")  # the test part's first bar
    assert figure["layout"]["yaxis"].get("type") is None
    # KPIs per part under each part's role, equal to what the report recorded for this candidate.
    kpis = at.dataframe[1].value
    assert list(kpis.columns) == ["train (in-sample)", "test (selection figure)", "whole period"]
    assert kpis.loc["return_pct", "train (in-sample)"] == f"{row.train_return_pct:,.2f}"
    assert kpis.loc["return_pct", "test (selection figure)"] == f"{row.test_return_pct:,.2f}"
    trades = at.dataframe[2].value
    assert set(trades["part"]) <= {"train", "test"} and len(trades) > 0
    assert {b.label for b in at.get("download_button")} == {
        "Download filtered trials (CSV)", "Download this trial's manifest (JSON)",
    }  # fmt: skip
    assert len(at.get("plotly_chart")) == 2  # the chart and the monthly heat map
    widget(at.toggle, "Log scale").set_value(True).run()
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["yaxis"]["type"] == "log" and figure["layout"]["yaxis2"]["type"] == "log"


def test_a_trial_that_cannot_be_backtested_is_one_line(run: Path, tmp_path: Path) -> None:
    at = open_page(run, tmp_path / "no-data")  # the run's candles are not in this data root
    first = widget(at.selectbox, "Trial to backtest").options[0]
    widget(at.selectbox, "Trial to backtest").select(first).run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith(f"{first} cannot be backtested:")
    assert "\n" not in at.error[0].value
