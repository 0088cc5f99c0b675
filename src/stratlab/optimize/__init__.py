"""Optimisation runs: a run directory per run, worker processes around Optuna studies, a report with a champion.

The names a user, the CLI or the UI needs::

    from stratlab.optimize import RunDir, RunRequest, create_run, start_run, write_report

    request = RunRequest.parse(source="demo", symbol="BTC", strategies=("ma_cross",), max_trials=50)
    run_dir = create_run(request, data_root="market_data", runs_root="runs")  # checks everything, writes context.json
    final = start_run(run_dir, workers=2, live=False)  # runs the workers, writes status.json and the report
    run_dir.read_status()

- ``RunRequest`` (what to search), ``RunContext`` (the request resolved against the data), ``CommonSpace`` (the
  searched backtest settings);
- ``create_run``, ``start_run``, ``validate_workers``; ``run_worker`` and ``WorkerSummary`` for one worker in this
  process (``python -m stratlab.optimize.worker`` is the same as a process of its own);
- ``RunDir``, ``RunState``, ``list_runs``; ``write_report``; ``repair_journal`` and ``JournalRepair``;
- ``open_storage`` and ``read_studies`` to read a run's Optuna studies.

Each name is imported from its module on first use, so importing one module of the package (the CLI imports
``rundir`` at start-up) does not import the runner, the samplers or the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratlab.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from stratlab.optimize.backtest_space import CommonSpace
    from stratlab.optimize.context import RunContext, RunRequest
    from stratlab.optimize.journal import JournalRepair, repair_journal
    from stratlab.optimize.report import write_report
    from stratlab.optimize.rundir import RunDir, RunState, list_runs
    from stratlab.optimize.runner import create_run, start_run, validate_workers
    from stratlab.optimize.storage import open_storage
    from stratlab.optimize.worker import WorkerSummary, read_studies, run_worker

# Each public name and the module it comes from.
_HOMES = {
    "CommonSpace": "backtest_space",
    "RunContext": "context",
    "RunRequest": "context",
    "JournalRepair": "journal",
    "repair_journal": "journal",
    "write_report": "report",
    "RunDir": "rundir",
    "RunState": "rundir",
    "list_runs": "rundir",
    "create_run": "runner",
    "start_run": "runner",
    "validate_workers": "runner",
    "open_storage": "storage",
    "WorkerSummary": "worker",
    "read_studies": "worker",
    "run_worker": "worker",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), {name: f".{module}" for name, module in _HOMES.items()})

__all__ = [
    "CommonSpace",
    "JournalRepair",
    "RunContext",
    "RunDir",
    "RunRequest",
    "RunState",
    "WorkerSummary",
    "create_run",
    "list_runs",
    "open_storage",
    "read_studies",
    "repair_journal",
    "run_worker",
    "start_run",
    "validate_workers",
    "write_report",
]
