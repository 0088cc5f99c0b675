"""``stratlab ui`` as a real process: what a service manager or a terminal sees when it stops the server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.ui.browser import UIServer, group_alive, healthy, pids_marked_with

STOP_BOUND_S = 30  # generous: streamlit stops within a second or two on an idle machine


def _processes_in_group(group: int) -> list[int]:
    """Pids whose process group is ``group`` (the server's: it was started as the leader of a new session)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its closing parenthesis.
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == group:
                found.append(int(entry.name))
    return found


def test_sigterm_to_the_started_pid_stops_the_server_and_leaves_no_process(ui_server: UIServer) -> None:
    assert ui_server.process is not None
    pid = ui_server.process.pid
    assert healthy(ui_server.url)
    assert f"stratlab UI on {ui_server.url}" in ui_server.output_file.read_text()

    os.kill(pid, signal.SIGTERM)  # only the pid we started, as systemd or `kill PID` would
    deadline = time.monotonic() + STOP_BOUND_S
    while time.monotonic() < deadline and (
        ui_server.process.poll() is None or group_alive(pid) or healthy(ui_server.url)
    ):
        time.sleep(0.2)

    assert ui_server.process.poll() is not None, f"stratlab ui (pid {pid}) still runs {STOP_BOUND_S} s after SIGTERM"
    assert not healthy(ui_server.url), f"something still answers on {ui_server.url} after SIGTERM to pid {pid}"
    assert _processes_in_group(pid) == [], f"processes of the server's group outlived it: {_processes_in_group(pid)}"
    assert pids_marked_with(f"{ui_server.base}{os.sep}") == [], "a process started by the server outlived it"
