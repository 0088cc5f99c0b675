"""``stratlab backtest`` as a user runs it: a real process on a real store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratlab.data.loader import load_ohlcv
from stratlab.data.orderbook import BookSnapshot, OrderBookStore
from stratlab.metrics import KPI_NAMES
from tests.conftest import run_cli


def test_json_kpis_agree_with_the_trade_and_equity_files(demo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "bt"
    args = ["--strategy", "ma_cross", "--params", '{"fast": 10, "slow": 50, "ma_type": "sma"}', "--sl-pct", "1"]
    period = ["--start", "2025-02-01", "--end", "2025-02-28", "--data-root", str(demo_root)]
    result = run_cli("backtest", *args, *period, "--tp-pct", "2", "--fee-bps", "5", "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["params"] == {"fast": 10, "slow": 50, "ma_type": "sma", "direction": "both"}
    kpis = payload["kpis"]
    assert set(KPI_NAMES) <= set(kpis)  # the full record, not a summary
    assert set(payload["monthly_returns_pct"]) == {"2025-02"}
    assert payload["monthly_returns_pct"]["2025-02"] == pytest.approx(kpis["return_pct"], rel=1e-9)
    trades = pd.read_csv(out / "trades.csv")
    equity = pd.read_csv(out / "equity.csv")
    assert kpis["n_trades"] == len(trades) > 10
    assert set(trades["exit_reason"]) <= {"signal", "take_profit", "stop_loss", "end"}
    # February 2025 in 5m bars, and the trade file sums to the equity curve's end.
    assert len(equity) == 28 * 288
    assert equity["timestamp_ms"].iloc[0] == 1_738_368_000_000
    assert 10_000 + trades["pnl"].sum() == pytest.approx(equity["equity"].iloc[-1], rel=1e-9)
    assert kpis["return_pct"] == pytest.approx((equity["equity"].iloc[-1] / 10_000 - 1) * 100, rel=1e-9)
    assert kpis["max_drawdown_pct"] == pytest.approx(equity["drawdown_pct"].max(), rel=1e-9)
    # Fees at 5 bps of each fill's notional.
    notional = trades["size"] * (trades["entry_price"] + trades["exit_price"])
    assert trades["fees"].to_numpy() == pytest.approx((notional * 5e-4).to_numpy(), rel=1e-9)
    chart = (out / "chart.html").read_text()
    assert "plotly" in chart.lower() and "equity" in chart and "drawdown" in chart
    saved = json.loads((out / "kpis.json").read_text())
    assert saved["config"]["sl_pct"] == 1.0 and saved["dataset"]["symbol"] == "BTC"


def test_scalping_trades_with_its_own_defaults_and_says_so(demo_root: Path, tmp_path: Path) -> None:
    period = ["--start", "2025-02-01", "--end", "2025-02-28", "--data-root", str(demo_root)]
    out = tmp_path / "bt"
    result = run_cli("backtest", "--strategy", "scalping", *period, "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    notes = json.loads(result.stdout)["notes"]
    assert notes == [
        "scalping's own backtest defaults: risk_pct=0.5, max_holding_bars=48, min_target_cost_multiple=2 "
        "(give the option to change one)",
        "scalping: order-book filter off (no order-book data for demo/BTC in the period)",
    ]
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) > 10 and (trades["bars_held"] <= 48).all() and "time_out" in set(trades["exit_reason"])
    assert json.loads((out / "kpis.json").read_text())["config"]["risk_pct"] == 0.5
    # A sizing option replaces the default sizing; the others stay.
    given = run_cli("backtest", "--strategy", "scalping", *period, "--size-pct", "50", "--json")
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout)["notes"][0].startswith("scalping's own backtest defaults: max_holding_bars=48,")


def test_scalping_reads_the_recorded_order_book_of_the_period_and_says_on_which_share(
    tmp_path: Path, demo_root: Path
) -> None:
    root = tmp_path / "with-book"
    series = Path("ohlcv", "demo", "BTC", "5m", "2025")
    (root / series).mkdir(parents=True)
    shutil.copyfile(demo_root / series / "02.parquet", root / series / "02.parquet")
    # Two days of February 2025 with a snapshot every 30 s: bids ten times the asks (imbalance 9/11).
    start_ms = 1_738_368_000_000 + 9 * 86_400_000  # 2025-02-10 00:00 UTC
    snapshots = [
        BookSnapshot(
            timestamp_ms=start_ms + 30_000 * k, bid_price=np.array([99.0, 98.0]), bid_size=np.array([10.0, 10.0]),
            ask_price=np.array([101.0, 102.0]), ask_size=np.array([1.0, 1.0]),
        )
        for k in range(2 * 2_880)
    ]  # fmt: skip
    OrderBookStore(root).write_snapshots("demo", "BTC", snapshots)
    candles = load_ohlcv("demo", "BTC", "5m", "2025-02-01", "2025-02-28", data_root=root)
    assert candles.book is not None
    assert candles.book.coverage == pytest.approx(2 / 28)
    covered = candles.book.snapshots > 0
    assert covered.sum() == 2 * 288 and (candles.book.snapshots[covered] == 10).all()
    assert candles.book.imbalance[covered] == pytest.approx(np.full(576, 9 / 11))
    period = ["--start", "2025-02-01", "--end", "2025-02-28", "--data-root", str(root)]
    result = run_cli("backtest", "--strategy", "scalping", *period, "--json")
    assert result.returncode == 0, result.stderr
    assert (
        json.loads(result.stdout)["notes"][1] == "scalping: order-book filter on 7% of bars (the rest run without it)"
    )


def test_table_output_lists_the_kpis(demo_root: Path) -> None:
    period = ["--start", "2025-03-01", "--end", "2025-03-07", "--data-root", str(demo_root)]
    result = run_cli("backtest", "--strategy", "range_breakout", *period)
    assert result.returncode == 0, result.stderr
    assert "return_pct" in result.stdout and "max_drawdown_pct" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--strategy", "ma_cross", "--params", '{"fast": 1}'], "parameter 'fast'"),
        (["--strategy", "ma_cross", "--params", "[1"], "--params: not valid JSON"),
        (["--strategy", "ma_cross", "--fee-bps", "-1"], "fee_bps"),
        (["--strategy", "ma_cross", "--mode", "pyramid"], "position_mode"),
        (["--strategy", "ma_cross", "--risk-pct", "1"], "risk_pct needs a stop loss"),
        (["--strategy", "ma_cross", "--symbol", "DOGE"], "DOGE"),
        (["--strategy", "ma_cross", "--start", "2030-01-01"], "2030"),
        ([], "--strategy"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(demo_root: Path, args: list[str], message: str) -> None:
    result = run_cli("backtest", *args, "--data-root", str(demo_root))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_list_shows_every_strategy(demo_root: Path) -> None:
    result = run_cli("backtest", "--list")
    assert result.returncode == 0
    for name in ("ma_cross", "rsi_reversion", "bollinger_breakout", "stochastic", "range_breakout"):
        assert name in result.stdout


def test_list_shows_choices_as_typed_not_markdown_escaped() -> None:
    result = run_cli("backtest", "--list", env={"COLUMNS": "400"})  # wide: every row on one line
    assert result.returncode == 0, result.stderr
    assert "\\|" not in result.stdout
    assert result.stdout.count("direction: choice long | short | both (default both)") == 5
    assert "ma_type: choice sma | ema (default ema)" in result.stdout
    assert "%K crosses above %D" in result.stdout  # rules shown as written


MA_CROSS = ["--strategy", "ma_cross", "--params", '{"fast": 10, "slow": 50}']


@pytest.mark.parametrize("under_the_file", [False, True], ids=["out-is-a-file", "out-under-a-file"])
def test_out_at_a_file_is_one_line_and_touches_nothing(demo_root: Path, tmp_path: Path, under_the_file: bool) -> None:
    existing = tmp_path / "results.csv"
    existing.write_text("a result a user keeps\n")
    out = existing / "bt" if under_the_file else existing
    period = ["--start", "2025-03-01", "--end", "2025-03-03", "--data-root", str(demo_root)]
    result = run_cli("backtest", *MA_CROSS, *period, "--out", str(out))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: --out: {out} ") and str(existing) in errors[0]
    assert "Traceback" not in result.stderr
    assert existing.read_text() == "a result a user keeps\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "results.csv"]  # nothing else written


def test_a_missing_month_inside_the_period_is_warned_about(demo_root: Path, tmp_path: Path) -> None:
    # A copy of the demo series without March 2025.
    root = tmp_path / "holed"
    series = Path("ohlcv", "demo", "BTC", "5m", "2025")
    (root / series).mkdir(parents=True)
    for month in ("02", "04"):
        shutil.copyfile(demo_root / series / f"{month}.parquet", root / series / f"{month}.parquet")
    period = ["--start", "2025-02-01", "--end", "2025-04-30", "--data-root", str(root)]
    result = run_cli("backtest", *MA_CROSS, *period, "--json")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # March has 31 days of 288 five-minute bars.
    assert warnings == [
        "warning: demo/BTC/5m: 1 gap inside the period, 8,928 bars missing: 2025-03-01 00:00 → 2025-04-01 00:00 UTC"
    ]
    assert json.loads(result.stdout)["kpis"]["n_trades"] > 0  # it still runs, on what is stored

    whole = run_cli(
        "backtest", *MA_CROSS, "--start", "2025-02-01", "--end", "2025-04-30", "--data-root", str(demo_root)
    )
    assert whole.returncode == 0, whole.stderr
    assert "warning:" not in whole.stderr


# --manifest: the replay of a champion found by a real (small) optimisation run ---------------------------------


@pytest.fixture(scope="module")
def champion_path(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from stratlab.optimize.context import RunRequest
    from stratlab.optimize.report import write_report
    from stratlab.optimize.runner import create_run
    from stratlab.optimize.worker import run_worker

    request = RunRequest.parse(
        source="demo", symbol="BTC", start="2025-01-01", end="2025-03-31", strategies=("rsi_reversion",),
        max_trials=12, sampler="random", dd_threshold_pct=100.0,
    )  # fmt: skip
    run_dir = create_run(request, data_root=demo_root, runs_root=tmp_path_factory.mktemp("runs"))
    run_worker(run_dir.path)
    report = write_report(run_dir)
    assert report["champion"] is not None, report["champion_reason"]
    return Path(run_dir.champion_path)


def test_an_untouched_manifest_replays_identically(champion_path: Path, demo_root: Path) -> None:
    result = run_cli("backtest", "--manifest", str(champion_path), "--data-root", str(demo_root))
    assert result.returncode == 0, result.stderr
    assert "replay: identical KPIs" in result.stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_a_manifest_whose_kpi_was_changed_fails_naming_the_kpi(
    champion_path: Path, demo_root: Path, tmp_path: Path, as_json: bool
) -> None:
    manifest = json.loads(champion_path.read_text())
    recorded = manifest["kpis"]["test"]["return_pct"]
    manifest["kpis"]["test"]["return_pct"] = recorded + 1.0
    tampered = tmp_path / "champion.json"
    tampered.write_text(json.dumps(manifest))
    result = run_cli("backtest", "--manifest", str(tampered), "--data-root", str(demo_root), *(["--json"] * as_json))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {tampered}: replay differs on test return_pct: manifest {recorded + 1.0!r}")
    assert f"replay {recorded!r}" in errors[0]  # the replay gives back what the run recorded
    if as_json:
        payload = json.loads(result.stdout)
        assert payload["identical"] is False and list(payload["mismatches"]) == ["test"]
        assert list(payload["mismatches"]["test"]) == ["return_pct"]
    else:
        assert "replay: KPIs differ in test" in result.stdout


def test_a_manifest_replayed_on_changed_candles_fails_saying_the_data_differs(
    champion_path: Path, demo_root: Path, tmp_path: Path
) -> None:
    from stratlab.data.store import MarketStore

    # The same store with one bar of mid-January changed (still a valid bar: the close moves inside its range).
    root = tmp_path / "changed"
    shutil.copytree(demo_root, root)
    store = MarketStore(root)
    month = store.read_month(store.month_files("demo", "BTC", "5m")[0], "5m")
    bar = month.iloc[[4_000]].copy()
    bar["close"] = (bar["high"] + bar["low"]) / 2
    assert bar["close"].iloc[0] != month["close"].iloc[4_000]
    store.write_candles("demo", "BTC", "5m", bar.reset_index(drop=True))

    result = run_cli("backtest", "--manifest", str(champion_path), "--data-root", str(root))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: demo/BTC/5m: these candles are not the ones")
    assert "fingerprints differ" in errors[0]


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"{not json", b"[1, 2]"])
def test_a_manifest_of_bad_bytes_is_one_line(tmp_path: Path, content: bytes) -> None:
    manifest = tmp_path / "champion.json"
    manifest.write_bytes(content)
    result = run_cli("backtest", "--manifest", str(manifest))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {manifest}: not a") and len(result.stderr.strip().splitlines()) == 1
