"""The public faces: ``stratlab`` (the names a notebook needs) and ``stratlab.optimize`` (the names of runs), each
name the object of its home module, imported only when first used so the CLI starts no slower; and the modules behind
them refer to no design file outside the repository."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stratlab
import stratlab.optimize

SRC = Path(__file__).resolve().parents[1] / "src" / "stratlab"

NOTEBOOK_NAMES = {
    "load_ohlcv": "stratlab.data",
    "get_strategy": "stratlab.strategies",
    "run_backtest": "stratlab.engine",
    "BacktestConfig": "stratlab.engine",
    "compute_kpis": "stratlab.metrics",
}
RUN_NAMES = {
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


def modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after ``statement``."""
    script = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return set(result.stdout.split())


def test_stratlab_exports_the_notebook_names_from_their_packages() -> None:
    assert set(stratlab.__all__) == {*NOTEBOOK_NAMES, "__version__"}
    for name, home in NOTEBOOK_NAMES.items():
        assert getattr(stratlab, name) is getattr(importlib.import_module(home), name), name
        assert name in (stratlab.__doc__ or ""), f"the package docstring does not show {name}"
    assert set(NOTEBOOK_NAMES) <= set(dir(stratlab))
    with pytest.raises(AttributeError, match="no attribute 'backtest'"):
        _ = stratlab.backtest


def test_import_stratlab_loads_no_engine_until_a_name_is_used() -> None:
    """``import stratlab`` starts every CLI command: numba, pandas and Optuna wait until a name needs them."""
    loaded = modules_after("import stratlab")
    assert not {"numba", "pandas", "optuna", "stratlab.engine", "stratlab.data"} & loaded
    assert {"numba", "stratlab.engine"} <= modules_after("import stratlab\nstratlab.run_backtest")


def test_a_backtest_from_the_top_level_names_on_the_demo_market(demo_root: Path) -> None:
    """The README's notebook lines, on real candles: the KPI record agrees with the equity curve and the trades."""
    candles = stratlab.load_ohlcv("demo", "BTC", "5m", start="2025-01-01", end="2025-01-31", data_root=demo_root)
    assert len(candles) == 31 * 288
    strategy = stratlab.get_strategy("ma_cross")
    config = stratlab.BacktestConfig(fee_bps=4.5)
    result = stratlab.run_backtest(candles, strategy.signals(candles), config, stops=strategy.stops(candles))
    kpis = stratlab.compute_kpis(result)
    trades = result.trades
    assert len(trades) > 0
    equity = np.asarray(result.equity)
    initial = config.initial_equity
    assert kpis.return_pct == pytest.approx((equity[-1] / initial - 1) * 100, rel=1e-9)
    assert equity[-1] == pytest.approx(initial + trades["pnl"].sum(), rel=1e-9)
    peak = np.maximum.accumulate(np.concatenate([[initial], equity]))
    assert kpis.max_drawdown_pct == pytest.approx(((peak - np.concatenate([[initial], equity])) / peak).max() * 100)


def test_stratlab_optimize_exports_the_run_names_from_their_modules() -> None:
    assert set(stratlab.optimize.__all__) == set(RUN_NAMES)
    for name, module in RUN_NAMES.items():
        home = importlib.import_module(f"stratlab.optimize.{module}")
        assert getattr(stratlab.optimize, name) is getattr(home, name), name
        assert name in (stratlab.optimize.__doc__ or ""), f"the package docstring does not show {name}"
    with pytest.raises(ImportError):
        exec("from stratlab.optimize import no_such_name")


def test_the_cli_start_up_imports_no_runner_worker_sampler_or_report() -> None:
    """The CLI imports ``stratlab.optimize.rundir`` at start-up; the package must not drag the rest in with it."""
    loaded = modules_after("import stratlab.cli.app")
    heavy = {f"stratlab.optimize.{m}" for m in ("runner", "worker", "sampling", "report", "evaluate")}
    assert not heavy & loaded, heavy & loaded


@pytest.mark.parametrize("package", ["data", "optimize"])
def test_the_structure_modules_refer_to_no_design_file_outside_the_repository(package: str) -> None:
    """docs/architecture.md is the project's design; a pointer to a file no checkout has would send readers nowhere."""
    outside = re.compile(r"DESIGN\.md|design document|\.\./shared", flags=re.IGNORECASE)
    files = [*sorted((SRC / package).rglob("*.py")), SRC / "__init__.py", SRC / "processes.py"]
    offenders = [str(p.relative_to(SRC)) for p in files if outside.search(p.read_text(encoding="utf-8"))]
    assert not offenders, f"refer to docs/architecture.md instead: {offenders}"
