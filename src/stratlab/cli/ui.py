"""``stratlab ui``: serve the Streamlit app (it launches runs as separate processes and reads run directories)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from stratlab.cli import console


def ui(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8501,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Market-data store (default: STRATLAB_DATA_ROOT).")
    ] = None,
    runs_root: Annotated[
        Path | None, typer.Option("--runs-root", help="Run directories (default: STRATLAB_RUNS_ROOT or runs).")
    ] = None,
) -> None:
    """Serve the web UI: Data, Launch, Monitor, Analyze, Portfolio, Paper."""
    app = Path(__file__).resolve().parents[1] / "ui" / "app.py"
    env = dict(os.environ)
    if data_root is not None:
        env["STRATLAB_DATA_ROOT"] = str(data_root.resolve())
    if runs_root is not None:
        env["STRATLAB_RUNS_ROOT"] = str(runs_root.resolve())
    command = [
        sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    console.stdout.print(f"stratlab UI on http://{host}:{port} (Ctrl+C stops it)")
    sys.stdout.flush()
    sys.stderr.flush()
    # Streamlit replaces this process (same pid) rather than running as a child of it: a SIGTERM or Ctrl+C sent to
    # the pid that was started then stops the server itself, and no orphan is left answering on the port.
    os.execve(sys.executable, command, env)


__all__ = ["ui"]
