"""Launch, Monitor and Data through Streamlit's AppTest, with real runs and real jobs: the Launch page's request is the
CLI's for the same settings, a previous run's settings fill the form, Monitor says why runs made by the CLI ended
and charts their fronts and progress, and a download that keeps failing shows its retries and can be cancelled."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import run_cli
from tests.optimize.test_end_reason import ended_runs_of
from tests.ui.browser import pids_marked_with
from tests.ui.test_pages import app, texts

PERIOD = ["--start", "2025-01-01", "--end", "2025-03-31"]


@pytest.fixture
def processes_stopped(tmp_path: Path) -> Iterator[None]:
    """Runners and jobs this test started (their command lines name its folder) end with it."""
    yield
    for pid in pids_marked_with(f"{tmp_path}{os.sep}"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def request_of(run: Path) -> dict[str, Any]:
    """context.json's request, read as plain JSON."""
    return dict(json.loads((run / "context.json").read_text())["request"])


def wait_finished(run: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not (run / "report.json").exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert (run / "report.json").exists(), (run / "workers" / "supervisor.log").read_text()


GONE = {None, "Z"}  # no such process, or a zombie its parent (the test's process) reaps later


def process_state(pid: int) -> str | None:
    """The kernel's state letter of ``pid`` (``Z``: exited, not yet reaped), None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def values(encoded: Any) -> list[Any]:
    """A plotly JSON array as a list: plain, or typed (``{"dtype", "bdata"}``, how plotly writes numpy arrays)."""
    if isinstance(encoded, dict):
        return list(np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=np.dtype(encoded["dtype"])).tolist())
    return list(encoded)


def set_field(at: AppTest, kind: str, label: str, value: object) -> None:
    widgets = [w for w in getattr(at, kind) if w.label == label]
    assert len(widgets) == 1, (kind, label, [w.label for w in getattr(at, kind)])
    widgets[0].set_value(value)


# -- Launch -----------------------------------------------------------------------------------------------------------

LAUNCH_FIELDS = {
    "selectbox": {"Source", "Symbol", "Timeframe", "Sampler", "Sizing", "On an opposite signal",
                  "Start from a previous run's settings"},
    "number_input": {"Initial equity", "Fee (bps)", "Slippage (bps)", "Leverage", "Maintenance margin (% of notional)",
                     "Funding (bps per 8 h)", "Size (% of equity, % risked, or units)", "DD threshold X (test, %)",
                     "Max trials per strategy", "Time budget (s, 0 = off)", "Worker processes", "Min train trades",
                     "CSCV blocks", "Seed", "Train fraction", "Embargo bars", "Walk-forward windows (0 = none)"},
    "text_input": {"Start", "End", "Gates", "Storage URL (optional)", "Label", "Other backtest settings (JSON)",
                   "TP range (%)", "SL range (%)", "Grid step (%)", "Grid max adds", "Grid size multiplier",
                   "Martingale multiplier", "Martingale max steps"},
    "multiselect": {"Position modes"},
    "radio": {"Split"},
}  # fmt: skip


def test_launch_offers_every_option_of_run_new_in_data_order(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path
) -> None:
    at = app(monkeypatch, demo_root, tmp_path / "runs", "launch")
    for kind, labels in LAUNCH_FIELDS.items():
        assert labels <= {w.label for w in getattr(at, kind)}, (kind, labels - {w.label for w in getattr(at, kind)})
    order = [s.label for s in at.selectbox if s.label in {"Source", "Symbol", "Timeframe"}]
    assert order == ["Source", "Symbol", "Timeframe"]
    modes = next(m for m in at.multiselect if m.label == "Position modes")
    assert modes.options == ["none", "grid", "martingale"] and modes.value == ["none"]
    # The defaults are run new's: a request made by the CLI without options.
    numbers = {n.label: n.value for n in at.number_input}
    assert (numbers["Train fraction"], numbers["CSCV blocks"], numbers["Min train trades"], numbers["Seed"]) == (
        0.75, 16, 5, 0,
    )  # fmt: skip
    assert (numbers["Leverage"], numbers["Funding (bps per 8 h)"], numbers["Walk-forward windows (0 = none)"]) == (
        1.0, 0.0, 0,
    )  # fmt: skip
    # No sizing field by default: each strategy trades with its own (scalping risks 0.5 % at its stop).
    assert next(s for s in at.selectbox if s.label == "Sizing").value == "strategy"


def test_a_three_way_walk_forward_grid_and_martingale_launch_asks_what_the_cli_asks(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path, processes_stopped: None
) -> None:
    runs_root = tmp_path / "runs"
    at = app(monkeypatch, demo_root, runs_root, "launch")
    at.radio[0].set_value("three-way").run()  # the fractions of a three-way split appear
    for label, value in {
        "Start": "2025-01-01", "End": "2025-03-31", "Label": "wf3", "Grid step (%)": "0.5:2", "SL range (%)": "off",
        "Gates": "dsr=0.9,pbo=0.4", "Other backtest settings (JSON)": '{"max_idle_bars": 500}',
    }.items():  # fmt: skip
        set_field(at, "text_input", label, value)
    for label, number in {
        "Train fraction": 0.5, "Validation fraction": 0.25, "Holdout fraction": 0.25,
        "Walk-forward windows (0 = none)": 3,
        "Embargo bars": 12, "Seed": 7, "Leverage": 3.0, "Funding (bps per 8 h)": 1.5,
        "Maintenance margin (% of notional)": 0.8, "Size (% of equity, % risked, or units)": 50.0,
        "Min train trades": 3, "CSCV blocks": 8, "Max trials per strategy": 3, "Worker processes": 1,
        "DD threshold X (test, %)": 60.0,
    }.items():  # fmt: skip
        set_field(at, "number_input", label, number)
    set_field(at, "multiselect", "Position modes", ["grid", "martingale"])
    set_field(at, "selectbox", "Sampler", "random")
    set_field(at, "selectbox", "On an opposite signal", "close")
    set_field(at, "selectbox", "Sizing", "size_pct")  # the default leaves each strategy its own sizing
    set_field(at, "toggle", "Anchored windows", True)
    for toggle in at.toggle:
        if toggle.label != "Anchored windows":
            toggle.set_value(toggle.label == "ma_cross")
    at.button(key="FormSubmitter:launch-Launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    launched = [p for p in runs_root.iterdir() if p.name.endswith("_wf3")]
    assert len(launched) == 1
    # The same settings typed into `run new`: the two requests must be the same, field for field.
    cli = run_cli(
        "run", "new", "--source", "demo", "--symbol", "BTC", "--timeframe", "5m", *PERIOD, "--strategies", "ma_cross",
        "--split", "0.5,0.25,0.25", "--walk-forward", "3", "--anchored", "--embargo-bars", "12", "--seed", "7",
        "--sampler", "random", "--modes", "grid,martingale", "--grid-step-range", "0.5:2", "--sl-range", "off",
        "--gates", "dsr=0.9,pbo=0.4", "--min-train-trades", "3", "--cscv-blocks", "8", "--max-trials", "3",
        "--dd-threshold", "60", "--label", "cli", "--data-root", str(demo_root), "--backtest", json.dumps({
            "initial_equity": 10_000.0, "fee_bps": 4.5, "slippage_bps": 0.0, "leverage": 3.0,
            "maintenance_margin_pct": 0.8, "funding_bps_per_8h": 1.5, "on_opposite": "close", "size_pct": 50.0,
            "max_idle_bars": 500,
        }),
        env={"STRATLAB_RUNS_ROOT": str(tmp_path / "cli-runs")},
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    ui_request, cli_request = request_of(launched[0]), request_of(Path(cli.stdout.strip()))
    assert {**ui_request, "label": "cli"} == cli_request
    # And by hand, the fields this launch changed from the defaults.
    assert ui_request["split"] == [0.5, 0.25, 0.25]
    assert ui_request["walk_forward"] == {"windows": 3, "anchored": True, "embargo_bars": 12}
    assert ui_request["common"]["position_modes"] == ["grid", "martingale"]
    assert ui_request["common"]["grid_step_pct"] == [0.5, 2.0] and ui_request["common"]["sl_pct"] is None
    assert ui_request["gates"]["min_dsr"] == 0.9 and ui_request["gates"]["max_pbo"] == 0.4
    assert ui_request["backtest"]["leverage"] == 3.0 and ui_request["backtest"]["max_idle_bars"] == 500
    assert (ui_request["seed"], ui_request["sampler"], ui_request["cscv_blocks"]) == (7, "random", 8)
    context = json.loads((launched[0] / "context.json").read_text())
    assert len(context["windows"]) == 3 and all(w[0]["start"] == 0 for w in context["windows"])  # anchored
    wait_finished(launched[0])


def test_a_previous_runs_settings_fill_the_form_and_launch_the_same_request(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path, processes_stopped: None
) -> None:
    runs_root = tmp_path / "runs"
    cli = run_cli(
        "run", "new", "--source", "demo", "--symbol", "ETH", "--timeframe", "5m", "--start", "2025-02-01",
        "--end", "2025-02-28", "--strategies", "rsi_reversion,stochastic", "--train-frac", "0.7", "--seed", "11",
        "--sampler", "qmc", "--modes", "none,martingale", "--tp-range", "off", "--sl-range", "off",
        "--martingale-mult-range", "1.5:2.5", "--time-budget", "30", "--max-trials", "2", "--gates", "trades=4",
        "--dd-threshold", "35",
        "--min-train-trades", "2", "--label", "previous", "--data-root", str(demo_root),
        "--backtest", '{"leverage": 2, "risk_pct": 1.5, "sl_atr": 2, "funding_bps_per_8h": -0.5}',
        env={"STRATLAB_RUNS_ROOT": str(runs_root)},
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    previous = Path(cli.stdout.strip())
    at = app(monkeypatch, demo_root, runs_root, "launch")
    set_field(at, "selectbox", "Start from a previous run's settings", previous.name)
    at.run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    shown = {w.label: w.value for kind in ("selectbox", "text_input", "number_input") for w in getattr(at, kind)}
    assert (shown["Symbol"], shown["Start"], shown["End"], shown["Sampler"]) == (
        "ETH",
        "2025-02-01",
        "2025-02-28",
        "qmc",
    )
    assert (shown["Train fraction"], shown["Seed"], shown["Time budget (s, 0 = off)"]) == (0.7, 11, 30)
    assert (shown["TP range (%)"], shown["Martingale multiplier"], shown["Gates"]) == ("off", "1.5:2.5", "trades=4")
    assert (shown["Sizing"], shown["Size (% of equity, % risked, or units)"], shown["Leverage"]) == (
        "risk_pct",
        1.5,
        2.0,
    )
    assert json.loads(shown["Other backtest settings (JSON)"]) == {"sl_atr": 2}
    assert next(m for m in at.multiselect if m.label == "Position modes").value == ["none", "martingale"]
    assert [t.label for t in at.toggle if t.value and t.label != "Anchored windows"] == ["rsi_reversion", "stochastic"]
    assert at.radio[0].value == "two-way"
    set_field(at, "number_input", "Worker processes", 1)
    at.button(key="FormSubmitter:launch-Launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    relaunched = [p for p in runs_root.iterdir() if p.name.endswith("_previous") and p != previous]
    assert len(relaunched) == 1
    expected = request_of(previous)
    # The form writes every backtest field it shows; the values the previous run did not set are the defaults.
    expected["backtest"] = {
        "initial_equity": 10_000.0, "fee_bps": 4.5, "slippage_bps": 0.0, "leverage": 2.0, "maintenance_margin_pct": 0.5,
        "funding_bps_per_8h": -0.5, "on_opposite": "reverse", "risk_pct": 1.5, "sl_atr": 2,
    }  # fmt: skip
    assert request_of(relaunched[0]) == expected


def test_a_bad_field_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, demo_root: Path, tmp_path: Path) -> None:
    runs_root = tmp_path / "runs"
    at = app(monkeypatch, demo_root, runs_root, "launch")
    for label, value, expected in (
        ("Gates", "dsr=2", "--gates: dsr"),
        ("Other backtest settings (JSON)", "{bad", "other backtest settings: not valid JSON"),
        ("Other backtest settings (JSON)", '{"leverage": 2}', "leverage has a field of its own"),
    ):
        for reset, text in (("Gates", ""), ("Other backtest settings (JSON)", "")):
            set_field(at, "text_input", reset, text)
        set_field(at, "text_input", label, value)
        at.button(key="FormSubmitter:launch-Launch").click().run()
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("Cannot launch: ") and expected in errors[0], errors
    set_field(at, "text_input", "Other backtest settings (JSON)", "")
    set_field(at, "number_input", "Walk-forward windows (0 = none)", 1)
    at.button(key="FormSubmitter:launch-Launch").click().run()
    assert next(e.value for e in at.error).startswith("Cannot launch: --walk-forward: ")
    assert not runs_root.exists() or not any(runs_root.iterdir())  # nothing written


# -- Monitor ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ended_runs(
    request: pytest.FixtureRequest, demo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Runs made by the CLI, among them one that met its budget (``budget``), one ended by its time budget
    (``timed``), one stopped by `run stop` (``stopped``): the runs tests/optimize/test_end_reason.py checks the end
    reasons of, made once per test process."""
    ended = ended_runs_of(request.config, demo_root, tmp_path_factory)
    return {label: run.run_dir.path for label, run in ended.items()}


def status_of(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "status.json").read_text()))


@pytest.mark.parametrize(
    ("label", "sentence"),
    [
        ("budget", "Ended because its budget was met: {done} of 20 trials completed."),
        ("timed", "Ended because its time budget of 0:00:02 passed: {done} of 20,000,000 trials completed."),
        (
            "stopped",
            "Ended because a stop was requested by `stratlab run stop`: {done} of 20,000,000 trials completed.",
        ),
    ],
)
def test_monitor_says_why_a_cli_run_ended_and_charts_it(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, ended_runs: dict[str, Path], label: str, sentence: str
) -> None:
    run = ended_runs[label]
    status = status_of(run)
    at = app(monkeypatch, demo_root, run.parent, "monitor", run=run.name)
    assert not at.exception and not at.error
    assert [i.value for i in at.info] == [sentence.format(done=f"{status['completed']:,}")]
    # Elapsed as h:mm:ss, by datetime from status.json.
    assert {m.label: m.value for m in at.metric}["Elapsed"] == str(dt.timedelta(seconds=round(status["elapsed_s"])))
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 2
    front, progress = charts
    # The front chart's points are status.json's Pareto points, one trace (and colour) per strategy.
    fronts = [row for row in status["strategies"] if row["pareto"]]
    assert fronts
    for trace, row in zip(front["data"], fronts, strict=True):
        assert trace["name"] == row["strategy"]
        pairs = sorted(zip(values(trace["x"]), values(trace["y"]), strict=True))
        assert pairs == sorted((p["max_drawdown_pct"], p["return_pct"]) for p in row["pareto"])
    assert len({t["line"]["color"] for t in front["data"]}) == len(front["data"])
    assert "(%)" in front["layout"]["xaxis"]["title"]["text"] and "(%)" in front["layout"]["yaxis"]["title"]["text"]
    # Progress: completed trials and trials/s against elapsed time, from the history.
    history = status["history"]
    assert values(progress["data"][0]["y"]) == [p[1] for p in history]
    assert values(progress["data"][1]["y"]) == [p[2] for p in history]
    assert values(progress["data"][0]["x"]) == pytest.approx([p[0] for p in history])  # under 3 min: seconds
    assert progress["layout"]["xaxis2"]["title"]["text"] == "elapsed (s)"
    # The event log: readable lines, each starting with its UTC time, no JSON.
    log = at.code[0].value.splitlines()
    assert log and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · ", line) for line in log)
    assert not any("{" in line for line in log)
    assert any(" · run started · 1 worker" in line for line in log)


def test_monitor_reads_a_status_written_before_end_reasons_and_history(
    monkeypatch: pytest.MonkeyPatch, demo_root: Path, ended_runs: dict[str, Path], tmp_path: Path
) -> None:
    runs_root = tmp_path / "runs"
    copy = runs_root / ended_runs["stopped"].name
    shutil.copytree(ended_runs["stopped"], copy)
    status = status_of(copy)
    for field in ("history", "ended_because", "stop_requested_by", "worker_failures"):
        status.pop(field)
    (copy / "status.json").write_text(json.dumps(status))
    at = app(monkeypatch, demo_root, runs_root, "monitor", run=copy.name)
    assert not at.exception and not at.error and not at.warning
    assert [i.value for i in at.info] == [
        f"Ended because it was stopped: {status['completed']:,} of 20,000,000 trials completed."
    ]
    assert len(at.get("plotly_chart")) == 1  # the front; no history to chart
    assert any("No progress history" in c.value for c in at.caption)
    assert "State: stopped" in texts(at)


# -- Data -------------------------------------------------------------------------------------------------------------


def test_a_failing_download_shows_its_retries_live_and_cancel_ends_its_processes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, processes_stopped: None
) -> None:
    from stratlab.data.dates import day_start_ms
    from tests.data.replay_server import ReplayServer, Scripted

    data_root, runs_root = tmp_path / "market_data", tmp_path / "runs"
    with ReplayServer(now_ms=day_start_ms("2025-12-01")) as server:
        server.queue("meta", *[Scripted(503, "down for maintenance")] * 100)  # it never comes back
        monkeypatch.setenv("STRATLAB_HYPERLIQUID_BASE_URL", server.url)
        monkeypatch.setenv("STRATLAB_DOWNLOAD_MAX_RETRIES", "30")
        at = app(monkeypatch, data_root, runs_root, "data")
        for label, value in {"Source": "hyperliquid_perps", "Symbol": "BTC", "Timeframe": "1h",
                             "Start": "2025-01-01"}.items():  # fmt: skip
            set_field(at, "text_input", label, value)
        at.button(key="FormSubmitter:Download-Start download").click().run()
        assert not at.exception
        job_file = next((runs_root / "_jobs").glob("*.json"))
        log = Path(json.loads(job_file.read_text())["log"])
        deadline = time.monotonic() + 60
        while "retry 2 of 30" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
            time.sleep(0.2)
        at.run()
        # The retries are in the job's box as they happen: attempt number and reason.
        shown = "\n".join(c.value for c in at.code)
        assert "retry 1 of 30" in shown and "retry 2 of 30" in shown and "HTTP 503" in shown, shown
        job = json.loads(job_file.read_text())
        wrapper = int(job["pid"])
        assert os.getpgid(wrapper) == wrapper  # the wrapper leads its own group: the group is the job
        group = [pid for pid in pids_marked_with(str(job_file))]
        assert wrapper in group
        at.button(key=f"cancel_{job['job_id']}").click().run()
        assert not at.exception and not at.error
        assert json.loads(job_file.read_text())["state"] == "cancelled"
        # The wrapper (its command line names the job file) and the download (it names the data root) are gone.
        # A killed process drops its command line before it is a zombie: wait for both, or the state may still be R.
        deadline = time.monotonic() + 20
        while (
            pids_marked_with(str(job_file)) or pids_marked_with(str(data_root)) or process_state(wrapper) not in GONE
        ) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pids_marked_with(str(job_file)) == [] and pids_marked_with(str(data_root)) == []
        assert process_state(wrapper) in GONE
        gone_at = time.monotonic()
        time.sleep(3.0)  # longer than the next backoff
        # Nobody asks any more (a request sent just before the kill may be recorded a moment after it).
        assert [r for r in server.requests_of("meta") if r.at > gone_at + 0.5] == []
        at.run()
        assert any(" · cancelled · " in e.label for e in at.expander)
        assert not [b for b in at.button if b.label == "Cancel"]
        # A second cancel is refused in one line, nothing signalled.
        from stratlab.errors import ConfigError
        from stratlab.ui.jobs import cancel_job

        with pytest.raises(ConfigError, match="cancelled, not running"):
            cancel_job(runs_root.resolve(), job["job_id"])


def test_jobs_show_newest_first_under_the_form_that_started_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, processes_stopped: None
) -> None:
    """Two downloads that fail at once (an unknown source) and a demo job: each list under its form, newest first."""
    data_root, runs_root = tmp_path / "market_data", tmp_path / "runs"
    at = app(monkeypatch, data_root, runs_root, "data")
    for symbol in ("FIRST", "SECOND"):
        for label, value in {"Source": "nowhere", "Symbol": symbol, "Timeframe": "1h", "Start": "2025-01-01"}.items():
            set_field(at, "text_input", label, value)
        at.button(key="FormSubmitter:Download-Start download").click().run()
        time.sleep(1.1)  # job ids and start times a second apart
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        json.loads(p.read_text())["state"] == "running" for p in (runs_root / "_jobs").glob("*.json")
    ):
        time.sleep(0.3)
    at.run()
    labels = [e.label for e in at.expander if e.label.startswith("download ")]
    assert [label.split(" · ")[0] for label in labels] == ["download nowhere SECOND 1h", "download nowhere FIRST 1h"]
    assert all(" · failed · " in label for label in labels)
    # The download jobs come after the form's button in the page, not under the demo button.
    order = [getattr(e, "label", "") for e in at.main]
    assert order.index("Start download") < order.index(labels[0])
