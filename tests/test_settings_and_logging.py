"""Settings come from the environment and .env, are validated with the variable named, and secrets never leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratlab.errors import ConfigError
from stratlab.settings import load_settings
from tests.conftest import run_cli

SECRET = "7745551234:AAF-this-is-a-secret-token-value"


def test_env_file_and_environment_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(f"STRATLAB_DATA_ROOT=/srv/market\nSTRATLAB_TELEGRAM_BOT_TOKEN={SECRET}\n")
    monkeypatch.setenv("STRATLAB_HYPERLIQUID_BASE_URL", "http://127.0.0.1:9999/")
    settings = load_settings()
    assert settings.data_root == Path("/srv/market")
    assert settings.hyperliquid_base_url == "http://127.0.0.1:9999"
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATLAB_DOWNLOAD_WEIGHT_PER_MINUTE", "-5")
    with pytest.raises(ConfigError, match=r"^setting STRATLAB_DOWNLOAD_WEIGHT_PER_MINUTE: "):
        load_settings()


def test_cli_reports_bad_settings_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli("data", "list", env={"STRATLAB_LOG_LEVEL": "LOUD"})
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: setting STRATLAB_LOG_LEVEL")
    assert len(result.stderr.strip().splitlines()) == 1


def test_verbose_run_logs_to_the_rotating_file_without_the_secret(tmp_path: Path) -> None:
    log_dir = tmp_path / "cli-logs"
    env = {
        "STRATLAB_LOG_DIR": str(log_dir),
        "STRATLAB_TELEGRAM_BOT_TOKEN": SECRET,
        "STRATLAB_DATA_ROOT": str(tmp_path / "empty"),
    }
    result = run_cli("--verbose", "data", "list", env=env)
    assert result.returncode == 0, result.stderr
    log_file = log_dir / "stratlab.log"
    assert log_file.is_file()
    text = log_file.read_text()
    assert "settings" in text  # the effective settings are logged at debug level ...
    assert SECRET not in text + result.stdout + result.stderr  # ... with secrets masked


def test_quiet_hides_info_messages_and_verbose_adds_debug(tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    normal = run_cli("data", "demo", "--data-root", root)
    quiet = run_cli("--quiet", "data", "demo", "--data-root", root)
    verbose = run_cli("--verbose", "data", "list", "--data-root", root)
    assert "INFO" in normal.stderr and "DEBUG" not in normal.stderr
    assert "INFO" not in quiet.stderr and quiet.returncode == 0
    assert "DEBUG" in verbose.stderr


CCXT_KEY = "ccxt-key-9f8e7d6c5b4a39281706"
CCXT_SECRET = "ccxt-secret-0a1b2c3d4e5f60718293"
CCXT_ENV = {"STRATLAB_CCXT_API_KEY": CCXT_KEY, "STRATLAB_CCXT_API_SECRET": CCXT_SECRET}


def test_ccxt_credentials_are_read_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CCXT_ENV.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.ccxt_api_key is not None and settings.ccxt_api_key.get_secret_value() == CCXT_KEY
    assert settings.ccxt_api_secret is not None and settings.ccxt_api_secret.get_secret_value() == CCXT_SECRET
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())]
    assert not any(CCXT_KEY in text or CCXT_SECRET in text for text in shown)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "NOPE/USDT"], ids=["download", "error"])
def test_a_ccxt_download_never_prints_or_logs_the_credentials(tmp_path: Path, symbol: str) -> None:
    from tests.data.replay_server import ReplayServer

    log_dir = tmp_path / "cli-logs"
    env = {**CCXT_ENV, "STRATLAB_LOG_DIR": str(log_dir), "STRATLAB_DOWNLOAD_MAX_RETRIES": "0"}
    with ReplayServer(now_ms=1_767_225_600_000) as server:  # 2026-01-01
        result = run_cli(
            "--verbose", "data", "download", "--source", "ccxt_binance", "--symbol", symbol, "--timeframe", "1h",
            "--start", "2025-01-01", "--end", "2025-01-02", "--base-url", server.url,
            "--data-root", str(tmp_path / "store"), "--no-progress", env=env,
        )  # fmt: skip
    assert result.returncode == (0 if symbol == "BTC/USDT" else 1), result.stderr
    if symbol != "BTC/USDT":
        assert result.stderr.splitlines()[-1].startswith("error: ccxt_binance: unknown symbol 'NOPE/USDT'")
    text = (log_dir / "stratlab.log").read_text()
    assert "ccxt_api_key=SecretStr('**********')" in text  # the settings are logged, masked
    assert not any(secret in text + result.stdout + result.stderr for secret in (CCXT_KEY, CCXT_SECRET))


def test_log_level_sets_what_the_log_file_keeps(tmp_path: Path) -> None:
    """STRATLAB_LOG_LEVEL is the file's level: DEBUG by default keeps the settings line, WARNING drops it."""
    for level, kept in ((None, True), ("WARNING", False)):
        log_dir = tmp_path / f"logs-{level}"
        env = {"STRATLAB_LOG_DIR": str(log_dir)} | ({"STRATLAB_LOG_LEVEL": level} if level else {})
        result = run_cli("data", "list", "--data-root", str(tmp_path / "empty"), env=env)
        assert result.returncode == 0, result.stderr
        text = (log_dir / "stratlab.log").read_text() if (log_dir / "stratlab.log").exists() else ""
        assert ("settings:" in text) is kept, text
