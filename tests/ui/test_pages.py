"""Every page of the UI through Streamlit's AppTest: widgets present, validation shown inline, launches and jobs
that create real run directories and real data, and damaged or foreign runs shown as messages, not tracebacks."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from stratlab.engine.config import PositionMode
from stratlab.optimize.backtest_space import OPTIONS, SEARCHED_BACKTEST
from stratlab.optimize.context import SamplerName
from stratlab.optimize.rundir import RunDir
from stratlab.strategies import FloatParam, IntParam, default_strategy_names, strategy_names
from tests.conftest import run_cli
from tests.optimize.test_space import cli_option
from tests.ui.browser import pids_marked_with

APP = Path(__file__).parents[2] / "src" / "stratlab" / "ui" / "app.py"


@pytest.fixture
def runners_stopped(tmp_path: Path) -> Iterator[None]:
    """A launch that should have been refused but started a runner: stop it with the test, not hours later."""
    yield
    for pid in pids_marked_with(f"{tmp_path}{os.sep}"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def app(
    monkeypatch: pytest.MonkeyPatch, data_root: Path, runs_root: Path, page: str, run: str | None = None
) -> AppTest:
    monkeypatch.setenv("STRATLAB_DATA_ROOT", str(data_root))
    monkeypatch.setenv("STRATLAB_RUNS_ROOT", str(runs_root))
    at = AppTest.from_file(str(APP), default_timeout=120)
    if run is not None:
        at.query_params["run"] = run
    at.run()
    if page != "data":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def copy_run(source_root: Path, name: str, runs_root: Path, as_name: str | None = None) -> Path:
    """A copy of a finished run under ``runs_root`` (a run directory can be copied whole), to change or damage."""
    target = runs_root / (as_name or name)
    shutil.copytree(source_root / name, target)
    return target


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    return "\n".join([*parts, *(i.value for i in at.info)])


def test_data_page_without_data_offers_the_demo_market_and_the_click_builds_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_root, runs_root = tmp_path / "market_data", tmp_path / "runs"
    at = app(monkeypatch, data_root, runs_root, "data")
    assert [t.value for t in at.title] == ["Data"]
    assert any("No market data yet" in i.value for i in at.info)
    assert {b.label for b in at.button} >= {"Create the demo market", "Refresh"}
    assert {t.label for t in at.text_input} >= {"Source", "Symbol", "Timeframe", "Start", "End"}
    next(b for b in at.button if b.label == "Create the demo market").click().run()
    assert not at.exception
    # A real background job: its file says when it ended; the demo market is then in the store.
    job_files = list((runs_root / "_jobs").glob("*.json"))
    assert len(job_files) == 1
    deadline = time.monotonic() + 90
    while json.loads(job_files[0].read_text())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    job = json.loads(job_files[0].read_text())
    assert (job["state"], job["exit_code"]) == ("finished", 0)
    at.run()
    table = at.dataframe[0].value
    assert {"BTC", "ETH"} <= set(table["symbol"]) and set(table["source"]) == {"demo"}
    assert (table["bars"] > 100_000).all() and (table["gaps"] == 0).all()
    assert at.selectbox[0].label == "Series" and "demo / BTC / 5m" in at.selectbox[0].options


def test_launch_page_has_every_setting_and_refuses_bad_input_inline(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path
) -> None:
    runs_root = tmp_path / "runs"
    at = app(monkeypatch, demo_root, runs_root, "launch")
    assert [t.value for t in at.title] == ["Launch"]
    assert {s.label for s in at.selectbox} >= {"Source", "Timeframe", "Symbol", "Sampler"}
    choices = {s.label: s.options for s in at.selectbox}
    modes = next(m for m in at.multiselect if m.label == "Position modes")
    assert modes.options == [m.value for m in PositionMode] == ["none", "grid", "martingale"]
    assert choices["Sampler"] == [s.value for s in SamplerName] == ["tpe", "nsga2", "random", "qmc", "gp-tr"]
    strategy_toggles = [t for t in at.toggle if t.label in strategy_names()]
    assert sorted(t.label for t in strategy_toggles) == sorted(strategy_names())
    # On by default: the strategies a search takes when none are named (scalping only when named).
    assert {t.label for t in strategy_toggles if t.value} == set(default_strategy_names())
    numbers = {n.label: n.value for n in at.number_input}
    assert numbers["Fee (bps)"] == 4.5 and numbers["DD threshold X (test, %)"] == 20.0
    assert {"Initial equity", "Slippage (bps)", "Max trials per strategy", "Time budget (s, 0 = off)"} <= set(numbers)
    assert "Worker processes" in numbers

    def launch_with(**fields: str) -> AppTest:
        for label, value in fields.items():
            next(t for t in at.text_input if t.label == label).set_value(value)
        at.button(key="FormSubmitter:launch-Launch").click().run()
        assert not at.exception
        return at

    for fields, expected in (
        ({"Start": "2025-03-01", "End": "2025-02-01"}, "before start"),
        ({"Start": "2025-01-01", "End": "2025-01-20", "TP range (%)": "abc"}, "--tp-range"),
        ({"TP range (%)": "0.5:8", "Label": "has space"}, "label"),
        ({"Label": "ok", "Storage URL (optional)": "postgresql+psycopg://nobody@127.0.0.1:1/none"}, "storage"),
    ):
        launch_with(**fields)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("Cannot launch:") and expected in errors[0], errors
        assert not runs_root.exists() or not any(runs_root.iterdir())  # nothing written


# The Launch page's range fields and the settings they set.
RANGE_FIELDS = {
    "TP range (%)": "tp_pct", "SL range (%)": "sl_pct", "Grid step (%)": "grid_step_pct",
    "Grid max adds": "grid_max_adds", "Grid size multiplier": "grid_size_mult",
    "Martingale multiplier": "martingale_mult", "Martingale max steps": "martingale_max_steps",
}  # fmt: skip


def test_the_launch_ranges_are_preset_to_the_declared_ones_as_the_cli_writes_them(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path
) -> None:
    at = app(monkeypatch, demo_root, tmp_path / "runs", "launch")
    shown = {t.label: t.value for t in at.text_input}
    for label, name in RANGE_FIELDS.items():
        spec = SEARCHED_BACKTEST[name]
        assert isinstance(spec, IntParam | FloatParam)
        assert shown[label] == f"{spec.low:g}:{spec.high:g}" == cli_option(("run", "new"), OPTIONS[name]).default
    mode = next(m for m in at.multiselect if m.label == "Position modes")
    assert mode.value == [SEARCHED_BACKTEST["position_mode"].default]


@pytest.mark.parametrize(
    ("label", "text"), [("TP range (%)", "0.5-8"), ("SL range (%)", "0.3:150"), ("Grid max adds", "1.5:3")]
)
def test_a_bad_range_is_the_same_line_in_the_cli_and_on_the_launch_page(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path, label: str, text: str, runners_stopped: None
) -> None:
    runs_root = tmp_path / "runs"
    option = OPTIONS[RANGE_FIELDS[label]]
    cli = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", "--data-root", str(demo_root), option, text,
        env={"STRATLAB_RUNS_ROOT": str(runs_root)},
    )  # fmt: skip
    assert cli.returncode == 1
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}: "), cli.stderr
    at = app(monkeypatch, demo_root, runs_root, "launch")
    next(t for t in at.text_input if t.label == label).set_value(text)
    at.button(key="FormSubmitter:launch-Launch").click().run()
    assert [e.value for e in at.error] == [f"Cannot launch: {lines[0].removeprefix('error: ')}"]
    assert not runs_root.exists() or not any(runs_root.iterdir())  # nothing written by either


def test_a_valid_launch_creates_the_run_and_starts_its_runner(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path
) -> None:
    runs_root = tmp_path / "runs"
    at = app(monkeypatch, demo_root, runs_root, "launch")
    for label, value in (("Start", "2025-01-01"), ("End", "2025-01-15"), ("Label", "fromui")):
        next(t for t in at.text_input if t.label == label).set_value(value)
    for toggle in at.toggle:
        toggle.set_value(toggle.label == "ma_cross")
    next(n for n in at.number_input if n.label == "Max trials per strategy").set_value(6)
    next(n for n in at.number_input if n.label == "Worker processes").set_value(1)
    next(s for s in at.selectbox if s.label == "Sampler").set_value("random")
    at.button(key="FormSubmitter:launch-Launch").click().run()
    assert not at.exception and not at.error
    runs = [p for p in runs_root.iterdir() if p.name.endswith("_fromui")]
    assert len(runs) == 1
    # The launch lands on Monitor, on this run (also in the URL, so a refresh stays there).
    assert [t.value for t in at.title] == ["Monitor"] and at.query_params["run"] == runs[0].name
    run_dir = RunDir(runs[0])
    context = run_dir.load_context()
    assert context.request.strategies == ("ma_cross",) and context.request.max_trials == 6
    # The runner is a separate process: the run finishes on its own, with or without this page.
    deadline = time.monotonic() + 120
    while not run_dir.report_path.exists() and time.monotonic() < deadline:  # the report comes last
        time.sleep(0.5)
    assert (run_dir.read_status() or {}).get("state") == "finished"
    assert json.loads(run_dir.report_path.read_text())["strategies"]["ma_cross"]["complete"] == 6


def test_monitor_shows_a_finished_run_with_progress_and_best_points(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]]
) -> None:
    runs_root, names = finished_runs
    at = app(monkeypatch, demo_root, runs_root, "monitor", run=names[-1])
    assert [t.value for t in at.title] == ["Monitor"]
    assert at.selectbox[0].label == "Run" and at.selectbox[0].value == names[-1]
    assert "State: finished" in texts(at)
    labels = [m.label for m in at.metric]
    assert {"Trials/s", "ETA"} <= set(labels)
    bars = [p.proto.text.split(" (")[0] for p in at.get("progress")]  # "(n pruned)" follows when trials were pruned
    assert bars == ["ma_cross: 12/12", "stochastic: 12/12", "total: 24/24"], bars
    assert not [b for b in at.button if b.label == "Stop run"]  # nothing to stop
    best = at.dataframe[0].value
    assert set(best["strategy"]) <= {"ma_cross", "stochastic"} and len(best) >= 1


def test_analyze_shows_every_section_and_offers_the_manifest(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]]
) -> None:
    runs_root, names = finished_runs
    at = app(monkeypatch, demo_root, runs_root, "analyze", run=names[-1])
    assert [t.value for t in at.title] == ["Analyze"]
    tabs = [t.label for t in at.tabs]
    assert tabs == [
        "Pareto",
        "Candidates",
        "Champion",
        "Is it luck?",
        "Trials",
        "Charts",
        "Trades",
        "Monthly",
        "Optuna",
        "What matters",
        "History",
        "Compare",
    ]
    report = json.loads((runs_root / names[-1] / "report.json").read_text())
    downloads = at.get("download_button")
    assert report["champion"] is not None  # DD threshold 100: some candidate qualifies
    assert len(downloads) == 1 and downloads[0].proto.label == "Download paper manifest (JSON)"
    assert len(at.get("plotly_chart")) == 1  # lazy tabs: only the open one (Pareto) ran
    # Each section, opened as a user clicks its tab: it renders without error and shows what it should.
    expected_charts = {"Is it luck?": 3, "Charts": 1, "Monthly": 1, "Optuna": 1, "History": 1, "Compare": 1}
    for section in tabs[1:]:
        at.session_state["analyze_section"] = section
        at.run()
        assert not at.exception and not at.error, (section, [e.value for e in at.exception])
        assert len(at.get("plotly_chart")) == expected_charts.get(section, 0), section
        if section == "Champion":
            assert any(f"trial {report['champion']['trial']}" in s.value for s in at.subheader)
        if section == "Optuna":  # the first view of the first study, named as what it is
            title = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]
            assert title == "ma_cross: importance of the train return %", title
        if section in {"Candidates", "Trades"}:
            assert len(at.dataframe) == 1 and len(at.dataframe[0].value) >= 1


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("status", "status.json: unreadable"),
        ("report", "report.json: unreadable"),
        ("schema", "schema version 0"),
        ("traversal", "is not under"),
        ("absolute", "is not under"),
        ("absolute-existing", "is not under"),
        ("data", "cannot be replayed"),
    ],
)
def test_damaged_or_foreign_runs_are_messages_not_tracebacks(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]], tmp_path: Path,
    damage: str, expected: str,
) -> None:  # fmt: skip
    source_root, names = finished_runs
    runs_root = tmp_path / "runs"
    target = runs_root / names[0]
    target.parent.mkdir()
    import shutil

    shutil.copytree(source_root / names[0], target)
    run = names[0]
    if damage == "status":
        (target / "status.json").write_text('{"state": "runn')  # a writer died mid-file
    elif damage == "report":
        (target / "report.json").write_text("")
    elif damage == "schema":
        context = json.loads((target / "context.json").read_text())
        context["schema_version"] = 0
        (target / "context.json").write_text(json.dumps(context))
    elif damage == "traversal":
        run = "../../etc"
    elif damage == "absolute":
        run = "/etc"
    elif damage == "absolute-existing":
        run = str(target)  # the run's own directory, but as a path, not a name under the runs root
    elif damage == "data":  # the store the run was made with and this server's are both gone
        context = json.loads((target / "context.json").read_text())
        context["data_root"] = str(tmp_path / "deleted")
        (target / "context.json").write_text(json.dumps(context))
    data_root = tmp_path / "deleted" if damage == "data" else demo_root
    for page in ("analyze",) if damage == "data" else ("monitor", "analyze"):
        at = app(monkeypatch, data_root, runs_root, page, run=run)
        if damage == "data":
            at.session_state["analyze_section"] = "Charts"  # the tab that replays the champion on the candles
            at.run()
            assert not at.exception
        shown = texts(at) + "\n".join(o for s in at.selectbox for o in s.options)
        assert expected in shown, (page, shown)
        if damage.startswith("absolute"):  # refused in one line; the page shows the run that is under the root
            assert [w.value for w in at.warning] == [
                f"Run {run!r} is not under {runs_root.resolve()}; showing the newest instead."
            ]
            assert at.selectbox[0].value == names[0] and at.query_params["run"] == names[0]


def test_the_download_form_runs_a_real_download_job_and_reports_a_failed_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The form starts `data download` in the background against a local server speaking Hyperliquid's API (the
    job inherits the server's environment, as a user's STRATLAB_HYPERLIQUID_BASE_URL would be)."""
    from stratlab.data.dates import day_start_ms
    from tests.data.replay_server import ReplayServer

    data_root, runs_root = tmp_path / "market_data", tmp_path / "runs"
    with ReplayServer(now_ms=day_start_ms("2025-12-01")) as server:
        monkeypatch.setenv("STRATLAB_HYPERLIQUID_BASE_URL", server.url)
        monkeypatch.setenv("STRATLAB_DOWNLOAD_WEIGHT_PER_MINUTE", "100000000")
        monkeypatch.setenv("STRATLAB_DOWNLOAD_MAX_RETRIES", "1")
        at = app(monkeypatch, data_root, runs_root, "data")

        def download(symbol: str) -> dict[str, object]:
            fields = {"Source": "hyperliquid_perps", "Symbol": symbol, "Timeframe": "1h", "Start": "2025-01-01",
                      "End": "2025-01-31"}  # fmt: skip
            for label, value in fields.items():
                next(t for t in at.text_input if t.label == label).set_value(value)
            at.button(key="FormSubmitter:Download-Start download").click().run()
            assert not at.exception and not at.error
            job_file = max((runs_root / "_jobs").glob("*.json"))
            deadline = time.monotonic() + 60
            while json.loads(job_file.read_text())["state"] == "running" and time.monotonic() < deadline:
                time.sleep(0.3)
            at.run()
            return dict(json.loads(job_file.read_text()))

        job = download("BTC")
        assert (job["state"], job["exit_code"]) == ("finished", 0)
        table = at.dataframe[0].value
        row = table[(table["source"] == "hyperliquid_perps") & (table["symbol"] == "BTC")].iloc[0]
        assert (row["timeframe"], row["bars"], row["gaps"]) == ("1h", 31 * 24, 0)
        assert server.requests_of("candleSnapshot")

        job = download("NOPE")  # not a Hyperliquid coin: refused before any candle request
        assert (job["state"], job["exit_code"]) == ("failed", 1)
        log = Path(str(job["log"])).read_text()
        assert "NOPE" in log and "Traceback" not in log
        assert any("download hyperliquid_perps NOPE 1h · failed" in e.label for e in at.expander)


@pytest.mark.parametrize(
    ("eta", "shown"),
    [
        ("budget", "more than 100 years"),  # 10^15 trials per strategy at 5 trials/s
        (math.inf, "more than 100 years"),
        (-5.0, "-"),
        (math.nan, "-"),
        (None, "-"),
        (3_725.0, "1:02:05"),
    ],
)
def test_monitor_shows_any_eta_and_keeps_the_stop_button(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]], tmp_path: Path,
    eta: object, shown: str,
) -> None:  # fmt: skip
    source_root, names = finished_runs
    runs_root = tmp_path / "runs"
    run_dir = RunDir(copy_run(source_root, names[-1], runs_root))
    context = json.loads(run_dir.context_path.read_text())
    context["request"]["max_trials"] = 10**15
    run_dir.context_path.write_text(json.dumps(context))
    status = json.loads(run_dir.status_path.read_text())
    budget = 10**15 * len(context["request"]["strategies"])
    status.update(
        state="running", trials_per_s=5.0, budget=budget,
        eta_s=(budget - status["completed"]) / 5.0 if eta == "budget" else eta,
    )  # fmt: skip
    run_dir.status_path.write_text(json.dumps(status))  # NaN and Infinity as Python's json writes them
    with run_dir.supervisor_lock():  # a live supervisor: a running state without one reads as interrupted
        at = app(monkeypatch, demo_root, runs_root, "monitor", run=run_dir.path.name)
        assert not at.exception, [e.value for e in at.exception]
        assert "State: running" in texts(at)
        assert {m.label: m.value for m in at.metric}["ETA"] == shown
        assert [b.label for b in at.button if b.label == "Stop run"] == ["Stop run"]


def test_monitor_with_an_unreadable_status_says_why_and_keeps_the_stop_button(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """An eta that is not a number makes the status unreadable (one line), yet the page and its Stop button stay."""
    source_root, names = finished_runs
    runs_root = tmp_path / "runs"
    run_dir = RunDir(copy_run(source_root, names[-1], runs_root))
    status = json.loads(run_dir.status_path.read_text())
    run_dir.status_path.write_text(json.dumps({**status, "state": "running", "eta_s": "soon"}))
    at = app(monkeypatch, demo_root, runs_root, "monitor", run=run_dir.path.name)
    assert not at.exception, [e.value for e in at.exception]
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith("status.json: eta_s"), warnings
    assert "State: unknown" in texts(at)
    assert {m.label: m.value for m in at.metric}["ETA"] == "-"
    assert [b.label for b in at.button if b.label == "Stop run"] == ["Stop run"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("DD threshold X (test, %)", -5.0, "dd_threshold_pct"),
        ("DD threshold X (test, %)", 150.0, "dd_threshold_pct"),
        ("Worker processes", 1_000, "expected 1 to 64 worker processes, got 1000"),
        ("Initial equity", 0.0, "initial_equity"),
        ("Time budget (s, 0 = off)", -60, "time_budget_s"),
    ],
)
def test_launch_names_an_out_of_range_number_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path, field: str, value: float, expected: str,
    runners_stopped: None,
) -> None:  # fmt: skip
    """The same one-line reason as the CLI, not a red outline around a value Streamlit silently replaces."""
    runs_root = tmp_path / "runs"
    at = app(monkeypatch, demo_root, runs_root, "launch")
    for label, text in (("Start", "2025-01-01"), ("End", "2025-01-20")):
        next(t for t in at.text_input if t.label == label).set_value(text)
    next(n for n in at.number_input if n.label == field).set_value(value)
    at.button(key="FormSubmitter:launch-Launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Cannot launch: ") and expected in errors[0], errors
    assert "\n" not in errors[0]
    assert [t.value for t in at.title] == ["Launch"]
    assert not runs_root.exists() or not any(runs_root.iterdir())  # nothing written


GARBAGE = bytes(range(256)) * 4  # every byte value, invalid UTF-8 from 0x80 on


def _status_of_wrong_types(run: Path) -> None:
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "completed": "many", "strategies": 5}))


def _binary_progress_line(run: Path) -> None:
    lines = (run / "progress.jsonl").read_bytes().splitlines(keepends=True)
    (run / "progress.jsonl").write_bytes(b"".join([*lines[:2], b"\x00\xff\xfe\x80binary\n", *lines[2:]]))


def _report_of_wrong_types(run: Path) -> None:
    report = json.loads((run / "report.json").read_text())
    report["champion"]["trial"] = "seven"
    (run / "report.json").write_text(json.dumps(report))


# Run directory name -> (damage, the one line its pages show; None: the run reads normally).
DAMAGES: dict[str, tuple[Callable[[Path], object], str | None]] = {
    "b_status_bytes": (lambda run: (run / "status.json").write_bytes(GARBAGE), "status.json: unreadable"),
    "c_status_types": (_status_of_wrong_types, "status.json: completed"),
    "d_progress_binary": (_binary_progress_line, None),
    "e_report_bytes": (lambda run: (run / "report.json").write_bytes(GARBAGE), "report.json: unreadable"),
    "f_report_types": (_report_of_wrong_types, "report.json: champion.trial"),
    "g_champion_bytes": (
        lambda run: (run / "champion.json").write_bytes(GARBAGE),
        "champion.json: not a readable manifest",
    ),
    "h_trials_bytes": (lambda run: (run / "trials.csv").write_bytes(GARBAGE), "trials.csv: unreadable"),
    "i_candidates_other": (
        lambda run: (run / "candidates_test.csv").write_text("a,b\n1,2\n"),
        "candidates_test.csv: no column",
    ),
    "j_context_bytes": (lambda run: (run / "context.json").write_bytes(GARBAGE), "context.json: unreadable"),
}
GOOD = "a_good"
MONITOR_READS = {"context.json", "status.json", "report.json"}  # and progress.jsonl; the tables are Analyze's
TABS_READ = {"report.json", "champion.json", "trials.csv", "candidates_test.csv"}  # what Analyze's tabs draw from


@pytest.fixture(scope="module")
def damaged_runs(finished_runs: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One good run and, beside it, one copy of it per kind of damage."""
    source_root, names = finished_runs
    runs_root = tmp_path_factory.mktemp("damaged") / "runs"
    copy_run(source_root, names[-1], runs_root, GOOD)
    for name, (damage, _) in DAMAGES.items():
        damage(copy_run(source_root, names[-1], runs_root, name))
    return runs_root


@pytest.mark.parametrize("page", ["monitor", "analyze"])
def test_one_damaged_run_is_its_own_line_and_the_good_run_reads_normally(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, damaged_runs: Path, page: str
) -> None:
    at = app(monkeypatch, demo_root, damaged_runs, page, run=GOOD)
    assert not at.warning and not at.error, texts(at)
    labels = dict(zip(at.selectbox[0].options, sorted([GOOD, *DAMAGES], reverse=True), strict=True))
    by_run = {name: label for label, name in labels.items()}
    assert by_run[GOOD].endswith("2 strategies, 24/24 trials, finished"), by_run[GOOD]
    for name, (_, line) in DAMAGES.items():
        if line is not None and name.split("_")[1] in {"status", "context"}:  # what the picker reads
            assert line in by_run[name] and "\n" not in by_run[name], by_run[name]
    if page == "monitor":
        assert "State: finished" in texts(at) and len(at.get("progress")) == 3
    else:
        assert len(at.get("download_button")) == 1 and len(at.get("plotly_chart")) == 1


@pytest.mark.parametrize("name", list(DAMAGES))
def test_a_damaged_run_shows_its_one_line_on_each_page_and_each_tab(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, damaged_runs: Path, name: str
) -> None:
    line = DAMAGES[name][1]
    for page in ("monitor", "analyze"):
        at = app(monkeypatch, demo_root, damaged_runs, page, run=name)
        assert at.selectbox[0].value == name
        shown = [w.value for w in at.warning]
        if line is None or (page == "monitor" and line.split(":")[0] not in MONITOR_READS):
            assert not shown and not at.error, texts(at)
        else:
            assert len(shown) == 1 and line in shown[0] and "\n" not in shown[0], (page, shown)
        if page == "monitor" and name == "d_progress_binary":
            assert "State: finished" in texts(at)
            assert " UTC · report written · " in at.get("code")[0].proto.code_text
    if line is None or line.split(":")[0] not in TABS_READ:
        return
    for section in ("Pareto", "Candidates", "Champion", "Charts", "History", "Compare"):
        at.session_state["analyze_section"] = section
        at.run()
        assert not at.exception and not at.error, (section, [e.value for e in at.exception], texts(at))


def test_the_run_picker_shows_completed_of_budget_and_the_state(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, finished_runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """A run stopped early: the picker says how far it got, not only what it was asked for."""
    source_root, names = finished_runs
    run_dir = RunDir(copy_run(source_root, names[-1], tmp_path / "runs"))
    context = json.loads(run_dir.context_path.read_text())
    context["request"]["max_trials"] = 5_000
    run_dir.context_path.write_text(json.dumps(context))
    status = json.loads(run_dir.status_path.read_text())
    run_dir.status_path.write_text(json.dumps({**status, "state": "stopped", "completed": 266, "budget": 10_000}))
    at = app(monkeypatch, demo_root, tmp_path / "runs", "analyze", run=run_dir.path.name)
    assert at.selectbox[0].options == [f"{run_dir.path.name}  ·  demo/BTC/5m, 2 strategies, 266/10,000 trials, stopped"]
