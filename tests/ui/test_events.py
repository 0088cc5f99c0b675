"""The event log for people: each progress.jsonl event as one readable line, written by hand here; unknown and
damaged events shown readably, never raising."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from stratlab.optimize.rundir import RunDir
from stratlab.ui.events import event_line

T = 1_796_049_237.5  # 2026-11-30 14:33:57.5 UTC


@pytest.mark.parametrize(
    ("event", "line"),
    [
        ({"event": "run_started", "workers": 2}, "run started · 2 workers"),
        ({"event": "run_started", "workers": 1}, "run started · 1 worker"),
        ({"event": "run_created", "run_id": "x", "strategies": ["ma_cross", "stochastic"]},
         "run created · strategies ma_cross, stochastic"),
        ({"event": "worker_started", "worker": "vm:12", "index": 0, "orphans_failed": 0}, "worker 0 started · vm:12"),
        ({"event": "worker_started", "worker": "vm:12", "index": 1, "orphans_failed": 3},
         "worker 1 started · vm:12 · 3 trials of dead workers marked failed"),
        ({"event": "worker_progress", "worker": "vm:12", "trials": {"ma_cross": 1200, "stochastic": 25}},
         "worker vm:12 · 1,225 trials (ma_cross 1,200, stochastic 25)"),
        ({"event": "worker_progress", "worker": "vm:12", "trials": {"ma_cross": 40},
          "model_quality": {"ma_cross": 0.4567}},
         "worker vm:12 · 40 trials · model quality (walk-forward Spearman): ma_cross 0.46"),
        ({"event": "worker_finished", "worker": "vm:12", "trials": {"ma_cross": 8}, "stopped_by": "time budget",
          "elapsed_s": 6.006}, "worker vm:12 finished · 8 trials · stopped by time budget · 6.006 s"),
        ({"event": "stop_requested", "by": "ui"}, "stop requested · from the Monitor page"),
        ({"event": "stop_requested", "by": "run stop"}, "stop requested · by `stratlab run stop`"),
        ({"event": "stop_requested", "by": "keyboard interrupt"}, "stop requested · by Ctrl+C"),
        ({"event": "run_ended", "state": "finished", "failed_workers": [], "ended_because": "time_budget"},
         "run ended · finished · time budget reached"),
        ({"event": "run_ended", "state": "failed", "failed_workers": [0, 1], "ended_because": "worker_failed"},
         "run ended · failed · a worker failed · failed workers 0, 1"),
        ({"event": "run_ended", "state": "stopped", "failed_workers": []}, "run ended · stopped"),  # older line
        ({"event": "report_written", "champion": True, "candidates": 10},
         "report written · champion chosen · 10 candidates"),
        ({"event": "journal_repaired", "first_bad_line": 1200, "cut_lines": 3},
         "journal repaired · 3 lines cut from line 1,200 on"),
        # Unknown events: their name in words and every field as "name: value".
        ({"event": "cache_warmed", "entries": 12_345, "ratio": 0.25, "ok": True, "names": ["a", "b"]},
         "cache warmed · entries: 12,345 · ratio: 0.25 · ok: yes · names: a, b"),
        # A known event whose fields have foreign types is shown generically rather than failing.
        ({"event": "worker_finished", "worker": "vm:1", "trials": "many", "stopped_by": 5, "elapsed_s": "x"},
         "worker vm:1 finished · ? trials · stopped by 5"),
    ],
)  # fmt: skip
def test_each_event_reads_as_a_sentence_after_its_utc_time(event: dict[str, object], line: str) -> None:
    assert event_line({"time": T, **event}) == f"2026-11-30 14:33:57 UTC · {line}"


def test_the_time_is_utc_to_the_second_as_pandas_writes_it() -> None:
    for moment in (0, 1_700_000_000.999, T, 4_102_444_799):
        expected = pd.Timestamp(moment, unit="s", tz="UTC").floor("s").strftime("%Y-%m-%d %H:%M:%S UTC")
        assert event_line({"time": moment, "event": "run_started", "workers": 2}).startswith(expected + " · ")


@pytest.mark.parametrize("time_value", [None, "yesterday", float("nan"), float("inf"), True, 10**30])
def test_an_event_without_a_usable_time_still_reads(time_value: object) -> None:
    assert (
        event_line({"time": time_value, "event": "run_started", "workers": 3}) == "(no time) · run started · 3 workers"
    )


def test_every_line_a_real_progress_file_holds_is_readable_and_never_json(tmp_path: Path) -> None:
    """Lines as the run directory writes and reads them (append_progress, read_progress), one of each kind."""
    run_dir = RunDir(tmp_path)
    run_dir.append_progress("run_created", run_id="r", strategies=["ma_cross"])
    run_dir.append_progress("run_started", workers=2)
    run_dir.append_progress("stop_requested", by="run stop")
    run_dir.append_progress("something_new", nested={"a": 1, "b": [1, 2]})
    with run_dir.progress_path.open("ab") as handle:
        handle.write(b'{"event": "half a li')  # a torn last line is skipped by the reader
    lines = [event_line(e) for e in run_dir.read_progress()]
    assert len(lines) == 4
    assert lines[3].endswith(" · something new · nested: a 1, b 1, 2")
    for line in lines:
        assert "{" not in line and '"' not in line
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
