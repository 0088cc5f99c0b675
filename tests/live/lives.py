"""What the runner tests share: a runner's life in this process or in a forked one, and the state read back.

``run_quietly`` opens a state directory (new for a spec, resumed for None) and trades until the runner ends, its
console into a string. ``forked_life`` runs that in a forked process a test can SIGKILL: the test process has
already imported the modules and loaded the kernels, so a life starts in milliseconds. ``read_state`` queries the
state database with plain sqlite3, independently of the runner's own reader.
"""

from __future__ import annotations

import gc
import io
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from stratlab.live.runner import RunEnd, open_runner
from stratlab.live.spec import RunnerSpec
from stratlab.settings import load_settings


def run_quietly(state_dir: Path, spec: RunnerSpec | None, data_root: Path, **options: Any) -> RunEnd:
    runner = open_runner(
        state_dir, spec, settings=load_settings(), data_root=data_root, console=Console(file=io.StringIO()), **options
    )
    return runner.run()


def forked_life(
    state_dir: Path, spec: RunnerSpec | None, data_root: Path, **options: Any
) -> multiprocessing.process.BaseProcess:
    # The test process's objects are frozen out of the garbage collector first: a child's first collection would
    # otherwise walk (and copy) the whole test session's heap, seconds of work that no real runner does.
    gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        process = context.Process(target=run_quietly, args=(state_dir, spec, data_root), kwargs=options)
        process.start()
    finally:
        gc.unfreeze()
    return process


def read_state(state_dir: Path, query: str) -> pd.DataFrame:
    connection = sqlite3.connect(state_dir / "state.db", timeout=10)
    try:
        return pd.read_sql(query, connection)
    finally:
        connection.close()
