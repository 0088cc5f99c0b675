"""The global risk manager, through real runners on replayed demo bars: every limit stops what it names, and says so.

The checks read the state database with plain sqlite3 and recompute what the limit is about (today's PnL from the
equity table, the positions open at each bar, an entry's notional from its trade row), so a rule that fires at the
wrong moment, or not at all, fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stratlab.errors import ConfigError, DataError
from stratlab.live.alerts import NotifyMode
from stratlab.live.risk import DAY_MS, RiskLimits
from stratlab.live.runner import RunEnd
from stratlab.live.start import StartOptions, new_spec
from stratlab.live.state import KILL_SWITCH_FILE
from tests.conftest import run_cli
from tests.live.lives import read_state, run_quietly
from tests.live.manifests import write_manifest

LEVERED = {"leverage": 5.0, "size_pct": 100.0}


def trade(state_dir: Path, options: StartOptions, data_root: Path, *, clear_kill: bool = False) -> RunEnd:
    spec = new_spec(options) if not (state_dir / "state.db").exists() else None
    return run_quietly(state_dir, spec, data_root, clear_kill=clear_kill)


@pytest.fixture(scope="module")
def manifests(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("manifests")
    common: dict[str, Any] = {"start": "2025-03-01", "end": "2025-03-10", "params": {"fast": 5, "slow": 20}}
    return {
        "btc": write_manifest(folder / "btc.json", demo_root, config=LEVERED, **common),
        "eth": write_manifest(folder / "eth.json", demo_root, symbol="ETH", config=LEVERED, **common),
        "plain": write_manifest(folder / "plain.json", demo_root, **common),
        # An opposite signal closes without reversing: flat stretches, so two books can take turns.
        "btc_flat": write_manifest(folder / "btc_flat.json", demo_root, config={"on_opposite": "close"}, **common),
        "eth_flat": write_manifest(
            folder / "eth_flat.json", demo_root, symbol="ETH", config={"on_opposite": "close"}, **common
        ),
    }


def test_daily_loss_halts_entries_until_the_next_utc_day(
    manifests: dict[str, Path], demo_root: Path, tmp_path: Path
) -> None:
    limit = 1.0
    options = StartOptions(manifests=(manifests["btc"],), notify=NotifyMode.NONE, risk=RiskLimits(daily_loss_pct=limit))
    end = trade(tmp_path / "d", options, demo_root)
    assert end.status == "finished"
    halts = read_state(tmp_path / "d", "select * from risk_events where rule = 'daily_loss'")
    assert len(halts) >= 1
    equity = read_state(tmp_path / "d", "select time_ms, equity from equity order by time_ms")
    trades = read_state(tmp_path / "d", "select entry_time_ms from trades")
    for halt in halts.itertuples():
        day = halt.bar_ms - halt.bar_ms % DAY_MS
        # Independently: today's PnL at the halting bar, from the last close of the day before.
        before = equity[equity["time_ms"] < day]
        opening = float(before["equity"].iloc[-1]) if len(before) else 10_000.0
        at_halt = float(equity.loc[equity["time_ms"] == halt.bar_ms, "equity"].iloc[0])
        assert (at_halt / opening - 1) * 100 <= -limit
        # ... and no bar of that UTC day before the halt had reached the limit yet (it fired at the first one).
        earlier = equity[(equity["time_ms"] >= day) & (equity["time_ms"] < halt.bar_ms)]
        assert ((earlier["equity"] / opening - 1) * 100 > -limit).all()
        # No entry after the halt on that day; entries again on a later day are allowed.
        entries = trades["entry_time_ms"]
        assert not ((entries > halt.bar_ms) & (entries < day + DAY_MS)).any()
    resumed = read_state(tmp_path / "d", "select * from risk_events where action = 'resume'")
    assert len(resumed) >= 1


def test_max_positions_across_books_and_each_refusal_is_logged(
    manifests: dict[str, Path], demo_root: Path, tmp_path: Path
) -> None:
    options = StartOptions(
        manifests=(manifests["btc_flat"], manifests["eth_flat"]),
        notify=NotifyMode.NONE,
        risk=RiskLimits(max_positions=1),
    )
    trade(tmp_path / "p", options, demo_root)
    equity = read_state(tmp_path / "p", "select book_id, time_ms, position from equity")
    held = equity.assign(open=equity["position"] != 0).pivot(index="time_ms", columns="book_id", values="open")
    assert held.shape[1] == 2
    assert (held.sum(axis=1) <= 1).all(), "two positions open at once"
    assert held.any().all(), "both books traded at some point"
    refused = read_state(tmp_path / "p", "select * from risk_events where rule = 'max_positions'")
    assert len(refused) > 0
    assert refused["reason"].str.contains("already open").all()

    # The same books without the limit do hold two positions at once: the limit is what prevented it.
    free = StartOptions(manifests=(manifests["btc_flat"], manifests["eth_flat"]), notify=NotifyMode.NONE)
    trade(tmp_path / "free", free, demo_root)
    equity = read_state(tmp_path / "free", "select book_id, time_ms, position from equity")
    held = equity.assign(open=equity["position"] != 0).pivot(index="time_ms", columns="book_id", values="open")
    assert (held.sum(axis=1) == 2).any()


def test_max_position_pct_refuses_entries_larger_than_the_limit(
    manifests: dict[str, Path], demo_root: Path, tmp_path: Path
) -> None:
    # The levered manifest enters with 5 × equity of notional: far above 150 % of equity, so every entry is refused.
    options = StartOptions(manifests=(manifests["btc"],), notify=NotifyMode.NONE, risk=RiskLimits(max_position_pct=150))
    trade(tmp_path / "s", options, demo_root)
    assert read_state(tmp_path / "s", "select count(*) as n from trades")["n"][0] == 0
    refused = read_state(tmp_path / "s", "select reason from risk_events where rule = 'max_position'")
    assert len(refused) > 3
    assert refused["reason"].str.contains("% of equity").all()
    # An unlevered manifest (100 % of equity) passes the same limit and trades.
    plain = StartOptions(manifests=(manifests["plain"],), notify=NotifyMode.NONE, risk=RiskLimits(max_position_pct=150))
    trade(tmp_path / "ok", plain, demo_root)
    trades = read_state(tmp_path / "ok", "select size, entry_price from trades")
    assert len(trades) > 3
    assert ((trades["size"] * trades["entry_price"]) / 10_000 * 100 < 150).all()


def test_drawdown_kill_closes_everything_stops_and_refuses_to_restart(
    manifests: dict[str, Path], demo_root: Path, tmp_path: Path
) -> None:
    limit = 2.0
    options = StartOptions(
        manifests=(manifests["btc"],), notify=NotifyMode.NONE, risk=RiskLimits(max_drawdown_pct=limit)
    )
    end = trade(tmp_path / "k", options, demo_root)
    assert end.status == "killed"
    equity = read_state(tmp_path / "k", "select time_ms, equity, position from equity order by time_ms")
    values = equity["equity"].to_numpy()
    drawdown = (1 - values / np.maximum.accumulate(values)) * 100
    first_breach = int(np.argmax(drawdown >= limit))
    assert drawdown[first_breach] >= limit
    # Killed at the first breaching close: flat one bar later (closed at the next open), and nothing after that.
    assert len(equity) == first_breach + 2
    assert equity["position"].iloc[-1] == 0
    kill = read_state(tmp_path / "k", "select * from risk_events where rule = 'kill'")
    assert len(kill) == 1 and "drawdown" in kill["reason"][0]
    with pytest.raises(DataError, match="was killed"):
        trade(tmp_path / "k", options, demo_root)


def test_kill_switch_file_stops_the_runner_and_the_cli_says_why(
    manifests: dict[str, Path], demo_root: Path, tmp_path: Path
) -> None:
    state = tmp_path / "switch"
    state.mkdir()
    (state / KILL_SWITCH_FILE).write_text("stop now\n")
    args = ["paper", "start", "--manifest", str(manifests["plain"]), "--state-dir", str(state), "--notify", "none",
            "--data-root", str(demo_root)]  # fmt: skip
    result = run_cli(*args)
    assert result.returncode == 3, result.stderr
    assert "killed: the kill-switch file is present" in result.stdout
    with pytest.raises(DataError, match=r"was killed .*--clear-kill"):
        run_quietly(state, None, demo_root)
    (state / KILL_SWITCH_FILE).unlink()
    assert run_quietly(state, None, demo_root, clear_kill=True).status == "finished"


def test_a_manifest_above_the_leverage_limit_is_refused_before_anything_trades(
    manifests: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="5x leverage, above the runner's limit --max-leverage 3"):
        new_spec(StartOptions(manifests=(manifests["btc"],), risk=RiskLimits(max_leverage=3)))
