"""A user's strategy through the CLI as a user runs it, in a folder of their own: written from the template, refused
by a search until checked, checked, optimised by worker processes, its champion replayed from another folder, and
refused once its file changes. Broken files, a missing folder and an installed package's entry point as well."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.conftest import run_cli

PERIOD = ("--start", "2025-01-01", "--end", "2025-05-31")


def optimize(env: dict[str, str], *extra: str) -> tuple[int, str, str]:
    result = run_cli(
        "optimize", "--strategies", "trend_mine", "--max-trials", "6", "--no-live", "--workers", "1",
        "--dd-threshold", "100", "--min-train-trades", "0", *PERIOD, *extra, env=env, timeout=300,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def only_run(tmp_path: Path, before: set[Path]) -> Path:
    runs = set((tmp_path / "runs").glob("*")) - before
    assert len(runs) == 1, runs
    return runs.pop()


def test_write_check_optimise_replay_and_refuse_a_changed_file(tmp_path: Path, demo_root: Path) -> None:
    env = {"STRATLAB_DATA_ROOT": str(demo_root)}
    made = run_cli("strategy", "new", "trend_mine", env=env)
    assert made.returncode == 0, made.stderr
    path = tmp_path / "strategies" / "trend_mine.py"
    written = path.read_text(encoding="utf-8")
    assert 'name = "trend_mine"' in written and "class TrendMine(Strategy)" in written
    again = run_cli("strategy", "new", "trend_mine", env=env)
    assert again.returncode == 1 and "is taken by" in again.stderr and path.read_text(encoding="utf-8") == written

    # Never checked: the search refuses before writing anything.
    code, _, err = optimize(env)
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: strategy 'trend_mine' ({path}) has not passed `stratlab strategy check trend_mine` with its "
        "current content: run that check first, or pass --skip-check (the run records it)"
    ]
    assert not list((tmp_path / "runs").glob("*"))

    checked = run_cli("strategy", "check", "trend_mine", *PERIOD, "--bars", "8000", "--draws", "3", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for name in ("contract", "look-ahead", "history", "speed"):
        assert name in checked.stdout
    assert "trend_mine: passed on demo/BTC/5m" in checked.stdout
    records = list((tmp_path / "strategy_checks" / "trend_mine").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["passed"] is True

    code, out, err = optimize(env)
    assert code == 0, out + err
    run = only_run(tmp_path, set())
    context = json.loads((run / "context.json").read_text())
    recorded = context["strategy_sources"]["trend_mine"]
    assert recorded["file"] == str(path) and recorded["check"] == "passed" and context["request"]["skip_check"] is False
    manifest = json.loads((run / "champion.json").read_text())
    assert manifest["strategy"] == "trend_mine" and manifest["strategy_source"] == recorded

    # Replayed from a folder without the strategies: the manifest's recorded file is imported.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    champion = str(run / "champion.json")
    replayed = run_cli("--strategies-dir", str(elsewhere), "backtest", "--manifest", champion, env=env)
    assert replayed.returncode == 0, replayed.stderr

    path.write_text(written.replace("default=400", "default=450"), encoding="utf-8")
    refused = run_cli("backtest", "--manifest", str(run / "champion.json"), env=env)
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert f"strategy 'trend_mine': {path} changed since it was used" in refused.stderr
    assert "restore that file or search again" in refused.stderr

    # The changed file is another strategy: refused again, unless the user says so, which the run records.
    code, _, err = optimize(env)
    assert code == 1 and "has not passed" in err
    created = run_cli("run", "new", "--strategies", "trend_mine", "--max-trials", "6", *PERIOD, "--skip-check", env=env)
    assert created.returncode == 0, created.stderr
    skipped = only_run(tmp_path, {run})
    context = json.loads((skipped / "context.json").read_text())
    assert context["request"]["skip_check"] is True
    assert context["strategy_sources"]["trend_mine"]["check"] == "skipped"
    assert context["strategy_sources"]["trend_mine"]["sha256"] != recorded["sha256"]


BROKEN = """
import numpy as np

THRESHOLD = 1.5
value = np.log(THRESHOLD)
raise_here = undefined_name + 1
"""


def test_a_broken_file_is_shown_once_and_the_others_load(tmp_path: Path) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "broken.py").write_text(BROKEN, encoding="utf-8")
    template = run_cli("strategy", "new", "fine_one")
    assert template.returncode == 0, template.stderr  # the broken file is reported, and the command still runs
    assert template.stderr.count("did not import") == 1
    listed = run_cli("strategy", "list")
    assert listed.returncode == 0, listed.stderr
    assert "fine_one" in listed.stdout and "ma_cross" in listed.stdout
    assert listed.stderr.count("did not import") == 1
    assert f'File "{(folder / "broken.py").resolve()}", line 6, in <module>' in listed.stderr
    assert "NameError: name 'undefined_name' is not defined" in listed.stderr
    asked = run_cli("backtest", "--strategy", "broken_thing")
    assert asked.returncode == 1
    assert "unknown strategy 'broken_thing'" in asked.stderr and "broken.py did not import" in asked.stderr


def test_a_name_clash_and_a_missing_folder_are_one_line_errors(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    missing = run_cli("--strategies-dir", str(tmp_path / "nowhere"), "strategy", "list")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: --strategies-dir: no such folder: {tmp_path / 'nowhere'}"
    made = run_cli("--strategies-dir", str(mine), "strategy", "new", "my_cross")
    assert made.returncode == 0 and (mine / "my_cross.py").exists()
    text = (mine / "my_cross.py").read_text(encoding="utf-8")
    (mine / "copy.py").write_text(text, encoding="utf-8")
    clash = run_cli("--strategies-dir", str(mine), "strategy", "list")
    assert clash.returncode == 1
    assert clash.stderr.strip() == (
        f"error: strategy name 'my_cross' is defined twice: in {mine / 'copy.py'} and in {mine / 'my_cross.py'}"
    )


def test_an_installed_packages_entry_point_is_a_strategy(tmp_path: Path) -> None:
    """A package declaring ``[project.entry-points."stratlab.strategies"]``, as pip installs it: its module and a
    dist-info folder with ``entry_points.txt`` on the path."""
    site = tmp_path / "site"
    (site / "acme_strats").mkdir(parents=True)
    (site / "acme_strats" / "__init__.py").write_text("")
    made = run_cli("--strategies-dir", str(tmp_path), "strategy", "new", "acme_cross")
    assert made.returncode == 0, made.stderr
    (tmp_path / "acme_cross.py").rename(site / "acme_strats" / "cross.py")
    info = site / "acme_strats-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-strats\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent("""
        [stratlab.strategies]
        acme = acme_strats.cross:AcmeCross
        """)
    )
    listed = run_cli("strategy", "list", env={"PYTHONPATH": str(site)})
    assert listed.returncode == 0, listed.stderr
    assert "acme_cross" in listed.stdout and "entry point acme" in listed.stdout
