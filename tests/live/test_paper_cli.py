"""``stratlab paper start|status|stop|report`` as a user runs them, and the alerts a runner sends to Telegram.

The commands run as processes (``python -m stratlab``); the Telegram Bot API is the local server of
``tests/live/bot_api_server.py``. Independent references: the manifest's own backtest (``run_backtest``) for the
report's figures, the state database read with sqlite3 for status, the Bot API server's record of what arrived.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stratlab.data.loader import load_ohlcv
from stratlab.engine import run_backtest
from stratlab.report.manifest import read_manifest
from stratlab.strategies import get_strategy
from tests.conftest import run_cli
from tests.live.bot_api_server import BotApiServer, too_many_requests
from tests.live.manifests import write_manifest

TOKEN = "123456:SECRET-token-value"
CHAT = "4242"


@pytest.fixture(scope="module")
def manifest(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("manifest") / "champion.json"
    return write_manifest(path, demo_root, start="2025-03-01", end="2025-03-06", params={"fast": 5, "slow": 20})


def committed_bars(state: Path) -> int:
    connection = sqlite3.connect(state / "state.db")
    try:
        return int(connection.execute("select count(*) from equity").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        connection.close()


def test_start_stop_resume_status_and_report(manifest: Path, demo_root: Path, tmp_path: Path) -> None:
    state = tmp_path / "paper" / "demo"
    start = [sys.executable, "-m", "stratlab", "paper", "start", "--manifest", str(manifest), "--state-dir",
             str(state), "--data-root", str(demo_root), "--notify", "none", "--speed", "5000"]  # fmt: skip
    runner = subprocess.Popen(start, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (state / "state.db").exists() or committed_bars(state) < 5:
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status = run_cli("paper", "status", "--state-dir", str(state))
        assert status.returncode == 0, status.stderr
        assert f"running (pid {runner.pid}" in status.stdout
        assert "ma_cross-BTC-5m" in status.stdout
        second = run_cli("paper", "start", "--state-dir", str(state), "--data-root", str(demo_root))
        assert second.returncode == 1
        assert f"a runner is already trading this state (pid {runner.pid})" in second.stderr
        stop = run_cli("paper", "stop", "--state-dir", str(state))
        assert stop.returncode == 0, stop.stderr
        assert "stopped (stop requested)" in stop.stdout
        out, _ = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0
    assert "stopped: stop requested" in out
    stopped_at = committed_bars(state)

    resumed = run_cli("paper", "start", "--state-dir", str(state), "--data-root", str(demo_root), "--notify", "none")
    assert resumed.returncode == 0, resumed.stderr
    assert "finished: the feed has no more bars" in resumed.stdout
    total = committed_bars(state)
    assert total > stopped_at

    # The report compares the paper run with the backtest of the same bars; check its figures against the
    # manifest's own backtest of its test part, computed here.
    report = run_cli("paper", "report", "--state-dir", str(state), env={"COLUMNS": "200"})
    assert report.returncode == 0, report.stderr
    champion = read_manifest(manifest)
    candles = load_ohlcv("demo", "BTC", "5m", "2025-03-01", "2025-03-06", data_root=demo_root)
    strategy = get_strategy(champion.strategy)
    test = champion.dataset.parts[1]
    expected = run_backtest(
        candles, strategy.signals(candles, champion.params), champion.backtest, start=test.start, end=test.end
    )
    row = next(line for line in report.stdout.splitlines() if "ma_cross-BTC-5m" in line)
    assert f"{expected.return_pct:+,.2f}" in row
    assert f"{total:,}" in row and f"{expected.n_trades:,}" in row and "yes" in row
    assert len(expected.equity) == total
    assert (state / "report.html").stat().st_size > 10_000


def test_bad_input_is_one_error_line(manifest: Path, tmp_path: Path, demo_root: Path) -> None:
    cases = {
        "no such file": ["paper", "start", "--manifest", str(tmp_path / "missing.json")],
        "unknown feed": ["paper", "start", "--manifest", str(manifest), "--feed", "nasdaq"],
        "bad limit": ["paper", "start", "--manifest", str(manifest), "--daily-loss-pct", "-3"],
        "no state": ["paper", "status", "--state-dir", str(tmp_path / "nothing")],
        "no capital": ["paper", "start", "--manifest", str(manifest), "--capital", "0"],
        "after the data": ["paper", "start", "--manifest", str(manifest), "--from", "2026-03-01"],
        "telegram without token": ["paper", "start", "--manifest", str(manifest), "--notify", "telegram",
                                   "--state-dir", str(tmp_path / "t"), "--data-root", str(demo_root)],
    }  # fmt: skip
    expected = {
        "no such file": "missing.json",
        "unknown feed": "--feed: unknown 'nasdaq'",
        "bad limit": "--daily-loss-pct",
        "no state": "no runner state here",
        "no capital": "--capital: must be more than 0",
        "after the data": "--from: 2026-03-01 is after the manifests' data",
        "telegram without token": "STRATLAB_TELEGRAM_BOT_TOKEN",
    }
    for name, args in cases.items():
        result = run_cli(*args)
        assert result.returncode != 0, name
        assert result.stderr.startswith("error: "), (name, result.stderr)
        assert result.stderr.count("\n") == 1, (name, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, name
        assert expected[name] in result.stderr, (name, result.stderr)


def test_alerts_reach_telegram_and_a_429_only_delays_them(manifest: Path, demo_root: Path, tmp_path: Path) -> None:
    with BotApiServer(token=TOKEN, chats={CHAT}) as bot:
        bot.queue(too_many_requests(1))  # the first message is asked to wait a second
        env = {
            "STRATLAB_TELEGRAM_BOT_TOKEN": TOKEN,
            "STRATLAB_TELEGRAM_CHAT_ID": CHAT,
            "STRATLAB_TELEGRAM_BASE_URL": bot.url,
        }
        args = ["paper", "start", "--manifest", str(manifest), "--state-dir", str(tmp_path / "tg"), "--data-root",
                str(demo_root), "--notify", "telegram"]  # fmt: skip
        result = run_cli(*args, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        texts = [message["text"] for message in bot.delivered]
    assert texts[0].startswith("Started tg (paper")
    assert texts[-1].startswith("Stopped tg")
    fills = [text for text in texts if "ma_cross-BTC-5m: " in text and (" bought " in text or " sold " in text)]
    connection = sqlite3.connect(tmp_path / "tg" / "state.db")
    try:
        trades = connection.execute("select count(*) from trades").fetchone()[0]
    finally:
        connection.close()
    assert trades > 3
    assert sum("realised PnL" in text for text in fills) == trades  # one alert per closed trade
    assert any(text.startswith("Daily summary") for text in texts)
    assert TOKEN not in result.stdout + result.stderr
    assert len(bot.requests) == len(texts) + 1  # the 429 was retried once, nothing doubled


def test_a_portfolio_is_traded_as_books_weighted_by_its_capital(demo_root: Path, tmp_path: Path) -> None:
    from stratlab.portfolio.manifest import (
        PortfolioFigures,
        PortfolioManifest,
        PortfolioMember,
        PortfolioRule,
        PortfolioSample,
    )
    from tests.live.manifests import make_manifest

    members = []
    for symbol, weight in (("BTC", 0.75), ("ETH", 0.25)):
        member = make_manifest(demo_root, symbol=symbol, start="2025-03-01", end="2025-03-04")
        members.append(
            PortfolioMember(
                label=f"{symbol} ma_cross", run_id=member.run_id, market=f"demo/{symbol}", strategy=member.strategy,
                trial=member.trial, weight=weight, dsr=None, sharpe=None, manifest=member,
            )
        )  # fmt: skip
    portfolio = PortfolioManifest(
        created_at="2025-03-05T00:00:00+00:00",
        run_ids=[members[0].run_id],
        rule=PortfolioRule(max_corr=0.5, weights="equal", search="exact", periods_per_year=365, min_common_days=2),
        sample=PortfolioSample(first_day="2025-03-01", last_day="2025-03-04", n_days=4, selection_parts={}),
        members=members,
        correlation=[[1.0, 0.2], [0.2, 1.0]],
        figures=PortfolioFigures(
            total_return_pct=0.0, annual_return_pct=None, annual_volatility_pct=1.0, sharpe=None, max_drawdown_pct=0.0
        ),
        betas=[],
    )
    path = tmp_path / "portfolio.json"
    portfolio.write(path)
    state = tmp_path / "folio"
    args = ["paper", "start", "--portfolio", str(path), "--capital", "20000", "--state-dir", str(state),
            "--notify", "none", "--data-root", str(demo_root)]  # fmt: skip
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "capital 15,000.00" in result.stdout and "capital 5,000.00" in result.stdout
    connection = sqlite3.connect(state / "state.db")
    try:
        first = connection.execute(
            "select book_id, equity from equity where time_ms = (select min(time_ms) from equity) order by book_id"
        ).fetchall()
        books = {row[0] for row in connection.execute("select book_id from books")}
    finally:
        connection.close()
    assert books == {"ma_cross-BTC-5m", "ma_cross-ETH-5m"}
    assert [round(equity, -2) for _, equity in first] == [15_000, 5_000]  # each book starts with its share
