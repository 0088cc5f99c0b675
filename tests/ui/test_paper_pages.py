"""The Paper page through Streamlit's AppTest, on a runner the real CLI ran (``stratlab paper start``, a replay of a
few days of the demo market): books, trades and the parity line against the state database read with sqlite3; the
log; no runner yet; a damaged state directory; a running runner's Stop button and a runner whose process died."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from stratlab.live.state import STATE_FILE, STOP_FILE
from tests.conftest import run_cli
from tests.live.manifests import write_manifest
from tests.ui.test_pages import APP

RUNNER = "replayed"


@pytest.fixture(scope="module")
def finished_runner(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runner's state directory after a whole replay, made once by the CLI a user would run; only read (a test
    that changes it copies it first)."""
    base = tmp_path_factory.mktemp("paper")
    manifest = write_manifest(base / "champion.json", demo_root)
    state_dir = base / "paper" / RUNNER
    result = run_cli(
        "paper", "start", "--manifest", str(manifest), "--state-dir", str(state_dir), "--data-root", str(demo_root),
        "--notify", "none",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return state_dir


def paper_page(monkeypatch: pytest.MonkeyPatch, paper_root: Path, state: str | None = None) -> AppTest:
    monkeypatch.setenv("STRATLAB_PAPER_ROOT", str(paper_root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    if state is not None:
        at.query_params["state"] = state
    at.run()
    at.switch_page("views/paper.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Paper"]
    return at


def query(state_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """The state database read directly, without stratlab."""
    with sqlite3.connect(state_dir / STATE_FILE) as connection:
        return connection.execute(sql).fetchall()


def table_with(at: AppTest, column: str) -> list[dict[str, Any]]:
    """The rows of the page's table that has ``column``."""
    frame = next(d.value for d in at.dataframe if column in d.value.columns)
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def copy_state(state_dir: Path, paper_root: Path, name: str) -> Path:
    target = paper_root / name
    shutil.copytree(state_dir, target, ignore=shutil.ignore_patterns(STOP_FILE, "report.html"))
    return target


def test_a_finished_runner_shows_its_books_trades_parity_and_log(
    monkeypatch: pytest.MonkeyPatch, finished_runner: Path
) -> None:
    at = paper_page(monkeypatch, finished_runner.parent)
    assert at.query_params["state"] == RUNNER  # the only runner is chosen, and the URL says so
    ((book_id, status_reason, trades, bars, last_bar_ms),) = query(
        finished_runner,
        "SELECT b.book_id, r.status_reason, (SELECT COUNT(*) FROM trades), (SELECT COUNT(*) FROM equity), "
        "b.last_bar_ms FROM books b, runner r",
    )
    assert trades > 0 and bars > 0
    assert at.selectbox[0].options == [f"{RUNNER} · {book_id} · finished"]
    assert f"**Status: finished: {status_reason}**" in [m.value for m in at.markdown]
    (book,) = table_with(at, "today")
    assert book["book"] == book_id and book["trades"] == f"{trades:,}"
    assert book["last bar (UTC)"] == f"{dt.datetime.fromtimestamp(last_bar_ms / 1000, dt.UTC):%Y-%m-%d %H:%M} UTC"
    assert book["position"] == "flat"  # a replay's end closes the position
    assert [s.value for s in at.success] == [
        f"Paper equals the backtest of the same bars: same {trades:,} trades, equity identical on {bars:,} bars."
    ]
    shown_trades = table_with(at, "exit price")
    assert len(shown_trades) == trades
    first_pnl, first_side = query(finished_runner, "SELECT pnl, side FROM trades ORDER BY n LIMIT 1")[0]
    assert shown_trades[0]["PnL"] == first_pnl and shown_trades[0]["side"] == {1: "long", -1: "short"}[first_side]
    assert shown_trades[-1]["exit"] == "end"  # the replay's last bar closed the last trade
    events = table_with(at, "kind")
    kinds = [kind for (kind,) in query(finished_runner, "SELECT kind FROM events ORDER BY id DESC")]
    assert [e["kind"] for e in events] == kinds and kinds[0] == "stop" and kinds[-1] == "start"  # newest first
    assert status_reason in str(events[0]["text"])
    assert "paper broker: no venue orders" in [c.value for c in at.caption]
    # How the manifest was chosen is shown with its paper run (the test manifest was not judged: it says so).
    assert (
        "ma_cross, trial 0 of run 20250101T000000000Z; chosen: chosen by the test; is it luck? not judged"
        in " ".join(c.value for c in at.caption)
    )
    assert not [b for b in at.button if b.label == "Stop this runner"]  # nothing to stop


def test_no_runner_yet_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "paper" / "not-a-runner").mkdir(parents=True)  # a folder without state.db is no runner
    at = paper_page(monkeypatch, tmp_path / "paper")
    (info,) = [i.value for i in at.info]
    assert "No runner yet" in info and "stratlab paper start --manifest runs/<run>/champion.json" in info
    assert not at.selectbox and not at.dataframe


def test_a_damaged_state_directory_is_one_error_line_and_the_url_still_picks_a_good_one(
    monkeypatch: pytest.MonkeyPatch, finished_runner: Path, tmp_path: Path
) -> None:
    paper_root = tmp_path / "paper"
    copy_state(finished_runner, paper_root, RUNNER)
    (paper_root / "damaged").mkdir()
    (paper_root / "damaged" / STATE_FILE).write_bytes(b"this is not an SQLite database\n" * 50)
    at = paper_page(monkeypatch, paper_root)
    # The damaged one is the newest (its file is the latest written), so it is chosen first: one line, no traceback.
    assert at.selectbox[0].options[0] == "damaged · unreadable"
    (error,) = [e.value for e in at.error]
    assert str(paper_root / "damaged") in error and "\n" not in error and not at.dataframe
    at = paper_page(monkeypatch, paper_root, state=RUNNER)
    assert at.selectbox[0].value == RUNNER and not at.error and at.success


def test_a_running_runner_can_be_stopped_and_a_dead_one_says_so(
    monkeypatch: pytest.MonkeyPatch, finished_runner: Path, tmp_path: Path
) -> None:
    paper_root = tmp_path / "paper"
    state_dir = copy_state(finished_runner, paper_root, "going")
    # A runner row saying "running" for a process that is alive (this one) is a running runner to the page.
    with sqlite3.connect(state_dir / STATE_FILE) as connection:
        connection.execute("UPDATE runner SET status = 'running', status_reason = '', pid = ?", (os.getpid(),))
    at = paper_page(monkeypatch, paper_root)
    status = next(m.value for m in at.markdown if m.value.startswith("**Status:"))
    assert status.startswith(f"**Status: running (pid {os.getpid()}")
    # Still going: the last bar (and what closed on it) is left out of the parity check, and the page says so.
    ((bars, last_bar_ms),) = query(state_dir, "SELECT COUNT(*), MAX(time_ms) FROM equity")
    ((before_last,),) = query(state_dir, f"SELECT COUNT(*) FROM trades WHERE exit_time_ms < {last_bar_ms}")
    assert [s.value for s in at.success] == [
        f"Paper equals the backtest of the same bars: same {before_last:,} trades, equity identical on "
        f"{bars - 1:,} bars."
    ]
    assert any("the last bar and a position still open are left out" in c.value for c in at.caption)
    stop = next(b for b in at.button if b.label == "Stop this runner")
    assert not (state_dir / STOP_FILE).exists()
    stop.click().run()
    assert not at.exception and (state_dir / STOP_FILE).read_text() == "stop requested\n"

    # A process that ran and was reaped: its pid names no process any more.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    with sqlite3.connect(state_dir / STATE_FILE) as connection:
        connection.execute("UPDATE runner SET pid = ?", (int(gone.stdout),))
    at = paper_page(monkeypatch, paper_root)
    status = next(m.value for m in at.markdown if m.value.startswith("**Status:"))
    assert status == "**Status: not running: the process ended without a clean stop (start it again to resume)**"
    assert at.selectbox[0].options == ["going · ma_cross-BTC-5m · not running"]
    assert not [b for b in at.button if b.label == "Stop this runner"]
