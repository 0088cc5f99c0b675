"""The "Is it luck?" tab and the Portfolio page: their figures and readers on a real finished run (made by the CLI)
and on cases built by hand, and the tab's notes for runs reported before luck and robustness existed."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from stratlab.errors import ConfigError, DataError
from stratlab.portfolio import (
    PassingCandidate,
    WeightRule,
    build_portfolio,
    read_portfolio_manifest,
    read_run_candidates,
    write_portfolio,
)
from stratlab.selection.gates import Gate
from stratlab.ui.charts import (
    correlation_figure,
    cscv_logit_figure,
    equity_fan_figure,
    neighbourhood_figure,
    portfolio_equity_figure,
    walk_forward_figure,
)
from stratlab.ui.luck import (
    gates_table,
    parse_robustness,
    part_role,
    percentiles_table,
    read_luck,
    shown,
    statistics_table,
    windows_table,
)
from stratlab.ui.runs import PORTFOLIOS_DIR, load_portfolio, portfolio_names, read_robustness
from tests.conftest import run_cli
from tests.ui.test_pages import app as page_app

# Four months: enough train days for CSCV's 16 blocks and enough test days (>= 20) for a portfolio.
RUN_ARGS = (
    "optimize", "--source", "demo", "--symbol", "BTC", "--start", "2025-01-01", "--end", "2025-04-30",
    "--strategies", "ma_cross,stochastic", "--max-trials", "12", "--workers", "1", "--no-live", "--sampler", "random",
    "--dd-threshold", "100",
)  # fmt: skip


def finished_run(runs_root: Path, data_root: Path, label: str = "luck") -> Path:
    """A small finished run made by the CLI a user would run (demo BTC, two strategies, 24 trials)."""
    result = run_cli(
        *RUN_ARGS, "--data-root", str(data_root), "--label", label, env={"STRATLAB_RUNS_ROOT": str(runs_root)}
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (p.parent for p in runs_root.glob(f"*_{label}/context.json"))
    return run_dir


def build_inspection_portfolio(run_dir: Path, out: Path) -> dict[str, Any]:
    """A portfolio of every candidate of ``run_dir``, flagged ones included, built with the portfolio package's
    Python API (``stratlab portfolio build`` takes only candidates that passed the gates, and none passes on the
    demo market): the run's candidates read as the package reads them, then built and written by its own
    functions. Returns portfolio.json as JSON."""
    run = read_run_candidates(run_dir)
    table = pd.read_csv(run_dir / f"candidates_{run.selection_part}.csv")
    every = tuple(
        PassingCandidate(run.run_id, str(row.strategy), int(row.trial), json.loads(str(row.params)), float(row.dsr))
        for row in table.itertuples()
    )
    daily = pd.read_parquet(run_dir / "candidate_returns.parquet").set_index("day")
    returns = pd.DataFrame({c.label: daily[c.column].to_numpy(np.float64) for c in every}, index=daily.index)
    inspected = dataclasses.replace(run, passing=every, returns=returns)
    portfolio = build_portfolio([inspected], max_corr=0.9, weights=WeightRule.INVERSE_VOL)
    files = write_portfolio(portfolio, out)
    loaded: dict[str, Any] = json.loads(files.manifest.read_text())
    return loaded


@pytest.fixture(scope="module")
def luck_run(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finished_run(tmp_path_factory.mktemp("runs"), demo_root)


def report_of(run_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((run_dir / "report.json").read_text())
    return loaded


# -- people's numbers and the tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (12870, "count", "12,870"),
        (44.0, "count", "44"),
        (0.94799, "probability", "0.95"),
        (0.00015, "probability", "< 0.01"),
        (0.9991, "probability", "> 0.99"),
        (1.0, "probability", "1.00"),
        (0.0, "probability", "0.00"),
        (0.1411, "share", "14.1 %"),
        (10.279, "return", "+10.28 %"),
        (-1234.5, "return", "-1,234.50 %"),
        (13.9413, "percent", "13.94 %"),
        (0.010368, "ratio", "0.0104"),
        (-0.5172, "ratio", "-0.52"),
        (12345.6, "ratio", "12,346"),
        (None, "ratio", "—"),
        (math.nan, "probability", "—"),
    ],
)
def test_numbers_are_shown_as_people_read_them(value: float | None, kind: Any, expected: str) -> None:
    assert shown(value, kind) == expected


def test_gates_table_has_every_gate_with_its_result_and_reason() -> None:
    gates = [
        Gate("dsr", "Deflated Sharpe ratio", 0.31, 0.95, ">=", False, "DSR 0.31 < 0.95 — likely luck"),
        Gate("pbo", "Probability of backtest overfitting", 0.2, 0.5, "<=", True, "PBO 0.20 <= 0.50"),
        Gate("wfe", "Walk-forward efficiency", None, 0.5, ">=", None, "WFE: skipped (no walk-forward in this run)"),
        Gate("trades", "Trades on the selection part", 1234.0, 10.0, ">=", True, "trades 1,234 >= 10"),
    ]
    table = gates_table(gates)
    assert table.to_dict("records") == [
        {"statistic": "Deflated Sharpe ratio", "value": "0.31", "threshold": "≥ 0.95", "result": "failed",
         "reason": "DSR 0.31 < 0.95 — likely luck"},
        {"statistic": "Probability of backtest overfitting", "value": "0.20", "threshold": "≤ 0.50",
         "result": "passed", "reason": "PBO 0.20 <= 0.50"},
        {"statistic": "Walk-forward efficiency", "value": "—", "threshold": "≥ 0.50", "result": "skipped",
         "reason": "WFE: skipped (no walk-forward in this run)"},
        {"statistic": "Trades on the selection part", "value": "1,234", "threshold": "≥ 10", "result": "passed",
         "reason": "trades 1,234 >= 10"},
    ]  # fmt: skip


def test_statistics_table_shows_every_scalar_and_leaves_the_logits_to_the_histogram(luck_run: Path) -> None:
    statistics = report_of(luck_run)["luck"]["statistics"]
    table = statistics_table(statistics).set_index("key")
    scalars = {k for k, v in statistics.items() if not isinstance(v, list | dict)}
    assert set(table.index) == scalars and "pbo_logits" not in table.index
    assert table.loc["n_trials", "value"] == f"{statistics['n_trials']:,}" == "24"
    assert table.loc["cscv_blocks", "value"] == "16"
    assert table.loc["pbo", "value"] == f"{statistics['pbo']:.2f}"


# -- report.json's luck ----------------------------------------------------------------------------------------


def test_the_luck_block_of_a_real_run_reads_into_the_gates_that_wrote_it(luck_run: Path) -> None:
    raw = report_of(luck_run)["luck"]
    luck = read_luck(report_of(luck_run))
    assert luck is not None
    assert [gate.as_json() for gate in luck.gates] == raw["gates"]
    assert luck.statistics.pbo_logits == raw["statistics"]["pbo_logits"]
    # The verdict the block states is the gates' own rule: flagged when one failed or the DSR was not judged.
    failed = any(g["passed"] is False for g in raw["gates"])
    dsr_skipped = next(g for g in raw["gates"] if g["name"] == "dsr")["passed"] is None
    assert luck.verdict == ("flagged" if failed or dsr_skipped else "pass")
    assert luck.walk_forward is None  # the run was not a walk-forward one


def test_a_report_from_before_luck_reads_as_none_and_a_damaged_block_is_one_line(luck_run: Path) -> None:
    report = report_of(luck_run)
    assert read_luck({k: v for k, v in report.items() if k != "luck"}) is None
    report["luck"]["gates"][1]["threshold"] = "half"
    with pytest.raises(DataError) as caught:
        read_luck(report)
    assert str(caught.value).startswith("report.json: luck.gates.1.threshold: ")
    assert "\n" not in str(caught.value)


def test_part_roles_come_from_the_report_and_older_reports_fall_back_to_the_split(luck_run: Path) -> None:
    from stratlab.report.split import PartRole, SplitKind

    report = report_of(luck_run)
    assert part_role(report, SplitKind.TWO_WAY, "test") == report["part_roles"]["test"]
    assert part_role({}, SplitKind.TWO_WAY, "test") == PartRole.SELECTION
    assert part_role({}, SplitKind.THREE_WAY, "holdout") == PartRole.OUT_OF_SAMPLE
    assert part_role({}, SplitKind.THREE_WAY, "validation").startswith("selection figure")


# -- the charts ------------------------------------------------------------------------------------------------


def test_the_logit_histogram_draws_every_logit_and_the_pbo_is_the_share_left_of_zero(luck_run: Path) -> None:
    statistics = report_of(luck_run)["luck"]["statistics"]
    logits = statistics["pbo_logits"]
    figure = cscv_logit_figure(logits, statistics["pbo"])
    assert figure.data[0].type == "histogram" and list(figure.data[0].x) == logits
    assert len(logits) == math.comb(16, 8)  # one logit per CSCV split of 16 blocks
    # numpy's share of logits at or below 0 is the PBO the title states
    assert statistics["pbo"] == pytest.approx(np.mean(np.asarray(logits) <= 0.0), abs=1e-12)
    line = next(s for s in figure.layout.shapes if s.type == "line")
    assert (line.x0, line.x1) == (0.0, 0.0)
    by_hand = cscv_logit_figure([-1.0, -0.5, 0.0, 0.3, 2.0], 0.6)
    assert "PBO 0.60 (60.0% of 5 splits at or left of 0)" in by_hand.layout.title.text


def test_the_heat_map_is_the_grid_with_the_champion_circled(luck_run: Path) -> None:
    raw = json.loads((luck_run / "robustness.json").read_text())
    grid = raw["neighbourhood"]["grid"]
    figure = neighbourhood_figure(
        grid["x_param"], grid["y_param"], grid["steps"], grid["x_values"], grid["y_values"], grid["return_pct"]
    )
    heat, champion = figure.data
    assert [list(row) for row in heat.z] == grid["return_pct"]
    assert list(heat.x) == [f"{v:g}" if v is not None else f"out of range ({s:+d} steps)"
                            for v, s in zip(grid["x_values"], grid["steps"], strict=True)]  # fmt: skip
    centre = grid["steps"].index(0)
    assert (champion.x[0], champion.y[0]) == (heat.x[centre], heat.y[centre])
    # The circled cell is the champion itself: its return is the one the report gives it on the selection part.
    assert grid["return_pct"][centre][centre] == pytest.approx(raw["champion"]["kpis"]["return_pct"])
    assert figure.layout.xaxis.title.text == grid["x_param"]


def test_an_invalid_cell_stays_empty_and_an_out_of_range_value_keeps_its_own_label() -> None:
    figure = neighbourhood_figure(
        "fast", "slow", [-1, 0, 1], [None, 5, 6], [20, 30, 40], [[None, 1.0, 2.0], [3.0, -4.0, None], [5, 6, 7]]
    )
    assert list(figure.data[0].x) == ["out of range (-1 steps)", "5", "6"]
    assert figure.data[0].z[1][2] is None and figure.data[0].text[1][2] == "invalid"
    assert (figure.data[1].x[0], figure.data[1].y[0]) == ("5", "30")
    assert figure.data[0].zmax == 7.0 and figure.data[0].zmin == -7.0  # symmetric around zero


def test_the_equity_fan_is_the_band_the_median_and_the_observed_line_on_utc_dates() -> None:
    day_ms = [1_735_689_600_000 + i * 86_400_000 for i in range(3)]  # 2025-01-01 .. 2025-01-03 UTC
    p5, p50, p95, observed = [9_900.0, 9_800, 9_700], [10_000.0, 10_050, 10_100], [10_100.0, 10_300, 10_500], [
        10_000.0, 10_020, 9_990]  # fmt: skip
    figure = equity_fan_figure(day_ms, p5, p50, p95, observed)
    expected_days = [datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None) for ms in day_ms]
    by_name = {trace.name: trace for trace in figure.data}
    assert [pd.Timestamp(x).to_pydatetime() for x in by_name["observed"].x] == expected_days
    assert list(by_name["95th percentile"].y) == p95 and list(by_name["5th-95th percentile"].y) == p5
    assert by_name["5th-95th percentile"].fill == "tonexty"  # the band between the 5th and the 95th
    assert list(by_name["median"].y) == p50 and list(by_name["observed"].y) == observed


def test_the_fan_of_a_real_run_has_a_day_per_point(luck_run: Path) -> None:
    robustness = parse_robustness(json.loads((luck_run / "robustness.json").read_text()))
    assert robustness.monte_carlo is not None and not robustness.problems
    fan = robustness.monte_carlo.block_bootstrap.fan
    assert fan is not None
    figure = equity_fan_figure(fan.day_ms, fan.p5, fan.p50, fan.p95, fan.observed)
    assert all(len(trace.x) == len(fan.day_ms) for trace in figure.data)
    assert all(ms % 86_400_000 == 0 for ms in fan.day_ms)  # UTC day starts


WALK_FORWARD: dict[str, Any] = {
    "windows": [
        {"window": 0, "train_start_ms": 1_735_689_600_000, "train_end_ms": 1_738_281_600_000,
         "oos_start_ms": 1_738_368_000_000, "oos_end_ms": 1_740_700_800_000, "strategy": "ma_cross", "trial": 7,
         "params": {"fast": 10, "slow": 50}, "is_return_pct": 4.0, "oos_return_pct": -1.5,
         "is_annual_return_pct": 60.0, "oos_annual_return_pct": -17.0},
        {"window": 1, "train_start_ms": 1_738_368_000_000, "train_end_ms": 1_740_700_800_000,
         "oos_start_ms": 1_740_787_200_000, "oos_end_ms": 1_743_379_200_000, "strategy": None, "trial": None,
         "params": None, "is_return_pct": None, "oos_return_pct": None, "is_annual_return_pct": None,
         "oos_annual_return_pct": None},
    ],
    "efficiency": -0.28, "profitable_share": 0.0,
    "oos_equity": {"day_ms": [1_738_368_000_000, 1_738_454_400_000], "equity": [10_000.0, 9_850.0]},
}  # fmt: skip


def test_walk_forward_bars_pair_in_and_out_of_sample_per_window_and_the_equity_is_stitched(luck_run: Path) -> None:
    report = report_of(luck_run)
    report["luck"]["walk_forward"] = WALK_FORWARD
    luck = read_luck(report)
    assert luck is not None and luck.walk_forward is not None
    windows = luck.walk_forward.windows
    figure = walk_forward_figure(
        [f"window {w.window}" for w in windows], [w.is_annual_return_pct for w in windows],
        [w.oos_annual_return_pct for w in windows], WALK_FORWARD["oos_equity"]["day_ms"],
        WALK_FORWARD["oos_equity"]["equity"],
    )  # fmt: skip
    in_sample, out_of_sample, equity = figure.data
    assert (in_sample.type, out_of_sample.type, figure.layout.barmode) == ("bar", "bar", "group")
    assert list(in_sample.y) == [60.0, None] and list(out_of_sample.y) == [-17.0, None]
    assert list(equity.y) == [10_000.0, 9_850.0]
    assert [pd.Timestamp(x).strftime("%Y-%m-%d") for x in equity.x] == ["2025-02-01", "2025-02-02"]
    table = windows_table(windows)
    assert table.loc[0, "champion"] == "ma_cross #7" and json.loads(table.loc[0, "params"]) == {"fast": 10, "slow": 50}
    assert table.loc[0, "train (UTC)"] == "2025-01-01 → 2025-01-31"
    assert table.loc[1, "champion"] == "none qualified" and table.loc[1, "out-of-sample annual"] == "—"


# -- robustness.json -------------------------------------------------------------------------------------------


def test_robustness_sections_read_into_the_report_types(luck_run: Path) -> None:
    raw = json.loads((luck_run / "robustness.json").read_text())
    robustness = parse_robustness(raw)
    assert not robustness.problems and robustness.part == "test"
    assert robustness.cost_stress is not None
    assert [(row.multiplier, row.kpis.return_pct if row.kpis else None) for row in robustness.cost_stress] == [
        (row["multiplier"], row["kpis"]["return_pct"]) for row in raw["cost_stress"]
    ]
    assert robustness.monte_carlo is not None
    table = percentiles_table(robustness.monte_carlo)
    boot = raw["monte_carlo"]["block_bootstrap"]
    row = table[(table["simulation"] == "block bootstrap") & (table["figure"] == "final return")].iloc[0]
    assert (row["p5"], row["p95"]) == (
        f"{boot['final_return_pct']['p5']:+,.2f} %",
        f"{boot['final_return_pct']['p95']:+,.2f} %",
    )
    assert robustness.other_symbols is not None
    assert [s.symbol for s in robustness.other_symbols] == ["ETH"]  # the demo store's other symbol


def test_a_damaged_section_is_its_one_line_and_the_others_still_read(luck_run: Path) -> None:
    raw = json.loads((luck_run / "robustness.json").read_text())
    raw["cost_stress"][0]["fee_bps"] = "cheap"
    del raw["monte_carlo"]
    raw["neighbourhood"]["grid"]["return_pct"] = [[1.0]]
    robustness = parse_robustness(raw)
    assert robustness.problems == {
        "cost_stress": robustness.problems["cost_stress"],
        "monte_carlo": "robustness.json: no 'monte_carlo' section",
        "neighbourhood": "robustness.json: neighbourhood.grid: return_pct: expected a 5 × 5 matrix",
    }
    assert robustness.problems["cost_stress"].startswith("robustness.json: cost_stress.0.fee_bps: ")
    assert robustness.cost_stress is None and robustness.monte_carlo is None and robustness.neighbourhood is None
    assert robustness.other_symbols is not None  # untouched, still read


def test_read_robustness_none_when_absent_one_line_when_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "robustness.json"
    assert read_robustness(path) is None
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(DataError, match=r"^robustness\.json: unreadable"):
        read_robustness(path)
    path.write_text('{"schema_version": 0}')
    with pytest.raises(DataError, match=r"^robustness\.json: schema 0 is not one this stratlab reads$"):
        read_robustness(path)


# -- portfolios ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portfolio_root(luck_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs_root = tmp_path_factory.mktemp("portfolio-runs")
    build_inspection_portfolio(luck_run, runs_root / PORTFOLIOS_DIR / "20250101T000000Z")
    return runs_root


def test_portfolios_are_listed_and_read_with_the_portfolio_reader(portfolio_root: Path) -> None:
    (portfolio_root / PORTFOLIOS_DIR / "not-a-portfolio").mkdir()
    assert portfolio_names(portfolio_root) == ["20250101T000000Z"]
    folder = portfolio_root / PORTFOLIOS_DIR / "20250101T000000Z"
    view = load_portfolio(portfolio_root, "20250101T000000Z")
    assert view.manifest == read_portfolio_manifest(folder / "portfolio.json")
    assert view.equity is not None and view.equity_problem is None
    # The equity compounds the daily returns from 1 and the drawdown is measured from its running peak (numpy).
    equity = np.cumprod(1.0 + view.equity["return"].to_numpy())
    np.testing.assert_allclose(view.equity["equity"], equity, rtol=1e-12)
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    np.testing.assert_allclose(view.equity["drawdown_pct"], 100 * (1 - equity / peak), atol=1e-9)
    with pytest.raises(ConfigError):
        load_portfolio(portfolio_root, "../..")
    assert portfolio_names(portfolio_root / "nowhere") == []


def test_portfolio_figures_are_the_manifest_and_equity(portfolio_root: Path) -> None:
    view = load_portfolio(portfolio_root, "20250101T000000Z")
    labels = [m.label for m in view.manifest.members]
    heat = correlation_figure(labels, view.manifest.correlation).data[0]
    assert [list(row) for row in heat.z] == view.manifest.correlation and list(heat.x) == labels
    assert np.allclose(np.diag(np.asarray(view.manifest.correlation)), 1.0)  # a member with itself
    assert view.equity is not None
    figure = portfolio_equity_figure(
        view.equity["day_ms"].to_list(), view.equity["equity"].to_list(), view.equity["drawdown_pct"].to_list()
    )
    equity, drawdown = figure.data
    assert list(equity.y) == view.equity["equity"].to_list()
    assert list(drawdown.y) == [-v for v in view.equity["drawdown_pct"]]
    assert [pd.Timestamp(x).strftime("%Y-%m-%d") for x in equity.x] == view.equity["day"].to_list()


def test_a_damaged_equity_file_is_one_line_and_the_manifest_still_shows(portfolio_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    shutil.copytree(portfolio_root / PORTFOLIOS_DIR, root / PORTFOLIOS_DIR)
    (root / PORTFOLIOS_DIR / "20250101T000000Z" / "portfolio_equity.csv").write_text("a,b\n1,2\n")
    view = load_portfolio(root, "20250101T000000Z")
    assert view.equity is None and view.equity_problem == (
        "portfolio_equity.csv: no column 'day', not a table this stratlab wrote"
    )
    assert len(view.manifest.members) >= 1


# -- the pages (Streamlit's AppTest) ---------------------------------------------------------------------------


def app(monkeypatch: pytest.MonkeyPatch, data_root: Path, runs_root: Path, page: str, run: str | None) -> AppTest:
    """The page as test_pages opens it; Analyze on its "Is it luck?" tab."""
    at = page_app(monkeypatch, data_root, runs_root, page, run)
    if page == "analyze":
        at.session_state["analyze_section"] = "Is it luck?"
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [i.value for i in at.info] + [w.value for w in at.warning])


def test_the_tab_shows_the_verdict_gates_and_every_chart(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, luck_run: Path
) -> None:
    at = app(monkeypatch, demo_root, luck_run.parent, "analyze", luck_run.name)
    report = report_of(luck_run)
    shown_text = texts(at)
    verdict = {"flagged": "### :red[✘ flagged: likely luck", "pass": "### :green[✔ pass"}[report["luck"]["verdict"]]
    assert any(m.value.startswith(verdict) for m in at.markdown), shown_text
    assert "selection figure" in shown_text
    assert "No walk-forward in this run: run with --walk-forward K." in shown_text
    gates = at.dataframe[0].value
    assert list(gates["statistic"]) == [g["label"] for g in report["luck"]["gates"]]
    # the histogram, the heat map and the fan
    specs = [json.loads(chart.proto.spec)["data"][0]["type"] for chart in at.get("plotly_chart")]
    assert specs == ["histogram", "heatmap", "scatter"]
    assert not at.error


def test_a_run_reported_before_luck_and_robustness_says_how_to_add_them(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, luck_run: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "runs" / luck_run.name
    shutil.copytree(luck_run, run_dir)
    report = report_of(run_dir)
    for key in ("luck", "part_roles"):
        del report[key]
    for key in ("verdict", "verdict_summary"):
        del report["champion"][key]
    (run_dir / "report.json").write_text(json.dumps(report))
    (run_dir / "robustness.json").unlink()
    at = app(monkeypatch, demo_root, run_dir.parent, "analyze", run_dir.name)
    infos = [i.value for i in at.info]
    command = f"`stratlab run report --run-dir {run_dir.parent.resolve() / run_dir.name}` adds it"
    assert infos == [
        f"This run was reported before stratlab judged luck: {command}.",
        f"This run was reported before robustness checks existed: {command}.",
    ]
    assert not at.warning and not at.error and not at.get("plotly_chart")
    # The champion's figures still say which part chose it (from the split, the report no longer says).
    at.session_state["analyze_section"] = "Champion"
    at.run()
    assert "**test**: :orange[**selection figure**]" in [m.value for m in at.markdown]
    assert "**train**: :gray[**in-sample**]" in [m.value for m in at.markdown]


def test_a_damaged_robustness_file_and_luck_block_are_lines_not_tracebacks(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, luck_run: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "runs" / luck_run.name
    shutil.copytree(luck_run, run_dir)
    report = report_of(run_dir)
    report["luck"]["statistics"]["pbo_logits"] = "many"
    (run_dir / "report.json").write_text(json.dumps(report))
    (run_dir / "robustness.json").write_bytes(b"\x00\xff")
    at = app(monkeypatch, demo_root, run_dir.parent, "analyze", run_dir.name)
    assert [w.value for w in at.warning] == [
        "report.json: luck.statistics.pbo_logits: Input should be a valid list",
        "robustness.json: unreadable ('utf-8' codec can't decode byte 0xff in position 1: invalid start byte)",
    ]
    assert not at.error


@pytest.fixture(scope="module")
def walk_forward_run(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A walk-forward run of three windows over six months, made by the CLI."""
    runs_root = tmp_path_factory.mktemp("walk-forward-runs")
    args = [*RUN_ARGS, "--walk-forward", "3", "--data-root", str(demo_root), "--label", "wf"]
    args[args.index("--end") + 1] = "2025-06-30"
    result = run_cli(*args, env={"STRATLAB_RUNS_ROOT": str(runs_root)})
    assert result.returncode == 0, result.stderr
    (run_dir,) = (p.parent for p in runs_root.glob("*_wf/context.json"))
    return run_dir


def test_a_walk_forward_run_shows_its_windows(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, walk_forward_run: Path
) -> None:
    block = report_of(walk_forward_run)["luck"]["walk_forward"]
    at = app(monkeypatch, demo_root, walk_forward_run.parent, "analyze", walk_forward_run.name)
    assert "No walk-forward" not in texts(at)
    charts = [json.loads(c.proto.spec)["data"] for c in at.get("plotly_chart")]
    walk_forward = charts[1]
    assert [trace["type"] for trace in walk_forward] == ["bar", "bar", "scatter"]
    assert walk_forward[0]["y"] == [w["is_annual_return_pct"] for w in block["windows"]]
    assert walk_forward[1]["y"] == [w["oos_annual_return_pct"] for w in block["windows"]]
    assert walk_forward[2]["y"] == block["oos_equity"]["equity"]
    assert {m.label: m.value for m in at.metric}["Walk-forward efficiency"] == shown(block["efficiency"], "ratio")
    champions = next(d.value for d in at.dataframe if "champion" in d.value.columns)
    assert list(champions["champion"]) == [
        f"{w['strategy']} #{w['trial']}" if w["strategy"] else "none qualified" for w in block["windows"]
    ]
    # A three-way split: validation chose the champion, the holdout is the out-of-sample figure.
    roles = next(m.value for m in at.markdown if m.value.startswith("- **train**"))
    assert "**validation** return" in roles and "**selection figure**" in roles and "**out\\-of\\-sample**" in roles
    assert not at.error and not at.warning


def test_the_portfolio_page_shows_weights_correlation_and_equity_labelled_in_sample(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, portfolio_root: Path
) -> None:
    at = app(monkeypatch, demo_root, portfolio_root, "portfolio", None)
    manifest = json.loads((portfolio_root / PORTFOLIOS_DIR / "20250101T000000Z" / "portfolio.json").read_text())
    weights = at.dataframe[0].value
    assert list(weights["weight"]) == [f"{m['weight'] * 100:.1f} %" for m in manifest["members"]]
    assert list(weights["run"]) == [m["run_id"] for m in manifest["members"]]
    assert at.info[0].value.startswith("**Selection figures, not out-of-sample** (test of run ")
    assert len(at.get("plotly_chart")) == (2 if len(manifest["members"]) > 1 else 1)
    assert not at.warning and not at.error
