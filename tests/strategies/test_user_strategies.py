"""Strategies written by users: found in a folder, reported when broken, refused when their names clash, and caught by
the right check when they cheat.

The bad strategies are small files of the kinds users write by mistake; each must fail exactly the check that names
its mistake (a look-ahead is not reported as a history problem), with the bar and the parameters in the message.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stratlab.data import Candles
from stratlab.data.demo import DEFAULT_SYMBOLS, DemoSpec, generate_demo_market
from stratlab.errors import ConfigError
from stratlab.strategies import (
    StrategyNameClashError,
    default_strategy_names,
    forget_user_strategies,
    get_strategy,
    load_strategies_dir,
    strategy_names,
    strategy_source,
    use_source,
)
from stratlab.strategies.check import CheckPlan, check_strategy
from stratlab.strategies.check_records import has_passed, save_check, trusted_sources
from stratlab.strategies.user import file_sha256

HEADER = """
from collections.abc import Mapping
import numpy as np
from stratlab.data import Candles
from stratlab.indicators import sma
from stratlab.strategies import DIRECTION, IntParam, ParamSpace, Strategy
from stratlab.strategies.base import get_int
"""


def strategy_file(name: str, events_body: str, warmup: str = "get_int(params, 'period')", extra: str = "") -> str:
    """A strategy module whose ``events`` is ``events_body`` (with ``close`` and ``period`` in scope)."""
    body = textwrap.indent(textwrap.dedent(events_body).strip(), " " * 8)
    head = textwrap.dedent(f"""
        class {name.title().replace("_", "")}(Strategy):
            \"\"\"A test strategy.\"\"\"

            name = "{name}"
            summary = "test strategy {name}"
            space = ParamSpace(params=(IntParam(name="period", low=10, high=60, default=20), DIRECTION))

            def warmup(self, params: Mapping[str, object]) -> int:
                return {warmup}

            def events(self, candles: Candles, params: Mapping[str, object]):
                close = candles.close
                period = get_int(params, "period")
        """)
    return HEADER + head + body + "\n" + extra


# A causal SMA cross of the close: what the bad ones are variations of.
GOOD = """
average = sma(close, period)
above = ~np.isnan(average) & (close > average)
below = ~np.isnan(average) & (close < average)
out = np.zeros(close.size, dtype=np.int8)
out[1:][above[1:] & below[:-1]] = 1
out[1:][below[1:] & above[:-1]] = -1
return out
"""
NEXT_CLOSE = """
following = np.append(close[1:], close[-1:])  # the next bar's close: not known at this bar's close
rising = following > close
out = np.zeros(close.size, dtype=np.int8)
out[period:][rising[period:] & ~rising[period - 1 : -1]] = 1
out[period:][~rising[period:] & rising[period - 1 : -1]] = -1
return out
"""
WHOLE_MAX = """
scaled = close / close.max() if close.size else close  # the whole series' maximum, future included
high = scaled > 0.97
out = np.zeros(close.size, dtype=np.int8)
out[period:][high[period:] & ~high[period - 1 : -1]] = 1
out[period:][~high[period:] & high[period - 1 : -1]] = -1
return out
"""
FROM_START = """
gain = close / close[0] if close.size else close  # relative to wherever the series happens to start
high = gain > 1.02
out = np.zeros(close.size, dtype=np.int8)
out[period:][high[period:] & ~high[period - 1 : -1]] = 1
out[period:][~high[period:] & high[period - 1 : -1]] = -1
return out
"""
FLOATS = """
average = sma(close, period)
out = np.zeros(close.size)  # float64: the contract asks for int8
up = ~np.isnan(average) & (close > average)
out[1:][up[1:] & ~up[:-1]] = 1.0
return out
"""


@pytest.fixture(autouse=True)
def built_ins_only() -> Iterator[None]:
    forget_user_strategies()
    yield
    forget_user_strategies()


@pytest.fixture(scope="module")
def candles() -> Candles:
    """Three weeks of the demo market's 5-minute BTC bars."""
    frame = generate_demo_market(DemoSpec(months=1, symbols=DEFAULT_SYMBOLS[:1]))["BTC"]
    whole = Candles.from_frame(frame, source="demo", symbol="BTC", timeframe="5m")
    return whole.slice(0, 6_000)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


PLAN = CheckPlan(draws=3, speed_bars=3_000, speed_repeats=1)


def checked(folder: Path, name: str, body: str, candles: Candles) -> dict[str, tuple[str, str]]:
    write(folder, name, strategy_file(name, body))
    assert load_strategies_dir(folder) == []
    result = check_strategy(get_strategy(name), candles, [get_strategy("ma_cross")], PLAN)
    return {r.check: (r.status, r.detail) for r in result.results}


def test_a_folder_strategy_is_registered_with_its_file_and_hash(tmp_path: Path) -> None:
    path = write(tmp_path / "mine", "sma_cross_mine", strategy_file("sma_cross_mine", GOOD))
    write(tmp_path / "mine", "_helpers", "raise RuntimeError('a helper module is not a strategy file')")
    assert load_strategies_dir(tmp_path / "mine") == []
    assert "sma_cross_mine" in strategy_names()
    source = strategy_source("sma_cross_mine")
    assert source is not None and source.file == str(path.resolve())
    assert source.sha256 == file_sha256(path)
    assert strategy_source("ma_cross") is None
    # Named, not searched by default: a file in the folder does not change what a default run means.
    assert "sma_cross_mine" not in default_strategy_names()


def test_the_good_strategy_passes_every_check(tmp_path: Path, candles: Candles) -> None:
    found = checked(tmp_path / "s", "good_cross", GOOD, candles)
    assert [status for status, _ in found.values()] == ["pass"] * 4, found
    assert "measured memory" in found["history"][1]
    assert "calls/s at 3,000 bars" in found["speed"][1] and "slowest built-in ma_cross" in found["speed"][1]


def test_the_next_bars_close_is_a_look_ahead(tmp_path: Path, candles: Candles) -> None:
    found = checked(tmp_path / "s", "peeks_next", NEXT_CLOSE, candles)
    assert found["contract"][0] == "pass"
    status, detail = found["look-ahead"]
    assert status == "fail"
    assert "changes when" in detail and "UTC" in detail and "params {period=" in detail


def test_normalising_by_the_whole_series_max_is_a_look_ahead(tmp_path: Path, candles: Candles) -> None:
    found = checked(tmp_path / "s", "whole_max", WHOLE_MAX, candles)
    status, detail = found["look-ahead"]
    assert status == "fail", found
    assert "the series ends at" in detail or "replaced by another path" in detail


def test_a_value_relative_to_the_series_start_is_history_dependence(tmp_path: Path, candles: Candles) -> None:
    found = checked(tmp_path / "s", "from_start", FROM_START, candles)
    assert found["look-ahead"][0] == "pass"  # its past never changes: only where it starts does
    status, detail = found["history"]
    assert status == "fail"
    assert "starts" in detail and "bars later" in detail and "declared memory of" in detail


def test_float_events_break_the_contract(tmp_path: Path, candles: Candles) -> None:
    found = checked(tmp_path / "s", "floats", FLOATS, candles)
    assert found == {"contract": ("fail", found["contract"][1])}  # the other checks would mean nothing
    assert "float64 values, not int8" in found["contract"][1]


def test_a_file_that_fails_to_import_is_reported_with_its_own_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "good_one", strategy_file("good_one", GOOD))
    broken = write(folder, "broken", HEADER + "\nvalue = 1\nimport a_module_nobody_installed  # line 10\n")
    failures = load_strategies_dir(folder)
    assert [f.where for f in failures] == [str(broken)]
    report = failures[0].report()
    assert report.startswith(f"{broken} did not import")
    assert f'File "{broken.resolve()}", line 10' in report
    assert "ModuleNotFoundError: No module named 'a_module_nobody_installed'" in report
    assert "importlib" not in report  # the import machinery is ours, not the user's
    assert "good_one" in strategy_names()  # the other file loaded


def test_a_file_that_exits_at_import_is_a_failure_not_an_exit(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "good_one", strategy_file("good_one", GOOD))
    exits = write(folder, "exits", "import sys\nsys.exit(3)\n")
    [failure] = load_strategies_dir(folder)
    assert failure.where == str(exits) and "SystemExit: 3" in failure.report()
    assert f'File "{exits.resolve()}", line 2' in failure.report()
    assert "good_one" in strategy_names()


def test_a_declared_warm_up_or_memory_that_is_not_a_bar_count_breaks_the_contract(
    tmp_path: Path, candles: Candles
) -> None:
    extra = "    def memory(self, params):\n        return 2.5 * get_int(params, 'period')\n"
    write(tmp_path / "s", "half_bars", strategy_file("half_bars", GOOD, extra=extra))
    load_strategies_dir(tmp_path / "s")
    result = check_strategy(get_strategy("half_bars"), candles, [get_strategy("ma_cross")], PLAN)
    assert [(r.check, r.status) for r in result.results] == [("contract", "fail")]
    assert result.results[0].detail.startswith("memory() returned 50.0, not a whole number of bars >= 0")


def test_a_name_clash_names_both_files(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "a_file", strategy_file("twice", GOOD))
    write(folder, "b_file", strategy_file("twice", GOOD))
    with pytest.raises(StrategyNameClashError, match=r"'twice' is defined twice: in .*a_file\.py and in .*b_file\.py"):
        load_strategies_dir(folder)
    forget_user_strategies()
    write(tmp_path / "t", "mine", strategy_file("ma_cross", GOOD))
    with pytest.raises(StrategyNameClashError, match=r"in .*strategies/ma_cross\.py and in .*mine\.py"):
        load_strategies_dir(tmp_path / "t")


def test_a_search_trusts_only_a_passed_check_of_the_current_content(tmp_path: Path, candles: Candles) -> None:
    folder = tmp_path / "s"
    path = write(folder, "trusted", strategy_file("trusted", GOOD))
    load_strategies_dir(folder)
    with pytest.raises(ConfigError, match=r"has not passed `stratlab strategy check trusted`.*--skip-check"):
        trusted_sources(["ma_cross", "trusted"], skip_check=False, root=tmp_path / "records")
    skipped = trusted_sources(["ma_cross", "trusted"], skip_check=True, root=tmp_path / "records")
    assert list(skipped) == ["trusted"] and skipped["trusted"].check == "skipped"
    source = strategy_source("trusted")
    assert source is not None
    result = check_strategy(get_strategy("trusted"), candles, [get_strategy("ma_cross")], PLAN)
    first = save_check(result, source, root=tmp_path / "records")
    second = save_check(result, source, root=tmp_path / "records")
    assert first != second and first.exists()  # a record is never replaced
    assert has_passed("trusted", source, root=tmp_path / "records")
    assert trusted_sources(["trusted"], skip_check=False, root=tmp_path / "records")["trusted"].check == "passed"
    # One byte more and it is another strategy: the run and the manifest that recorded it refuse the file.
    path.write_text(path.read_text() + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run X: strategy 'trusted': .*trusted\.py changed since it was used"):
        use_source("trusted", source, used_by="run X")
    assert not has_passed("trusted", source.model_copy(update={"sha256": file_sha256(path)}), root=tmp_path / "records")


def test_a_failed_check_does_not_trust(tmp_path: Path, candles: Candles) -> None:
    folder = tmp_path / "s"
    write(folder, "cheat", strategy_file("cheat", NEXT_CLOSE))
    load_strategies_dir(folder)
    source = strategy_source("cheat")
    assert source is not None
    result = check_strategy(get_strategy("cheat"), candles, [get_strategy("ma_cross")], PLAN)
    assert not result.passed
    save_check(result, source, root=tmp_path / "records")
    assert not has_passed("cheat", source, root=tmp_path / "records")


def test_signals_refuse_events_that_are_not_integers(tmp_path: Path, candles: Candles) -> None:
    """A float array of -1/0/+1 would pass a cast unnoticed; ``signals`` names the problem instead."""
    write(tmp_path / "s", "floats", strategy_file("floats", FLOATS))
    load_strategies_dir(tmp_path / "s")
    with pytest.raises(ValueError, match="floats: events\\(\\) returned float64"):
        get_strategy("floats").signals(candles)
    assert get_strategy("ma_cross").signals(candles).dtype == np.int8
