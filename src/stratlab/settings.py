"""Typed settings read from environment variables (prefix ``STRATLAB_``) or a ``.env`` file.

Secrets are ``SecretStr``: their ``repr``/``str`` print ``**********``, so logging a ``Settings`` never leaks them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stratlab.errors import ConfigError

DEFAULT_DATA_ROOT = Path("data/market_data")


class Settings(BaseSettings):
    """Everything stratlab reads from its environment. Command-line flags override these per call."""

    model_config = SettingsConfigDict(
        env_prefix="STRATLAB_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    data_root: Path = Field(default=DEFAULT_DATA_ROOT, description="Root of the Parquet market-data store.")
    log_dir: Path = Field(default=Path("logs"), description="Where the rotating log file is written.")
    runs_root: Path = Field(default=Path("runs"), description="Where optimisation run directories live.")
    paper_root: Path = Field(default=Path("paper"), description="Where paper and live runners keep their state.")
    research_root: Path = Field(
        default=Path("research"), description="Where research loops keep their results database, locks and reports."
    )
    strategies_dir: Path = Field(
        default=Path("strategies"), description="Folder of the user's own strategy files (*.py), read at start."
    )
    strategy_checks_root: Path = Field(
        default=Path("strategy_checks"), description="Where `strategy check` records its verdict per file content."
    )
    log_level: str = Field(default="DEBUG", description="Level of the log file (console follows --verbose/--quiet).")

    hyperliquid_base_url: str = Field(default="https://api.hyperliquid.xyz", description="Hyperliquid API root.")
    hyperliquid_ws_url: str | None = Field(
        default=None, description="Hyperliquid websocket (default: /ws beside the API root, ws:// for http://)."
    )
    ccxt_base_url: str | None = Field(default=None, description="Overrides every URL of a ccxt exchange's API.")
    # Secrets: SecretStr prints as '**********' in repr, str, logs and JSON dumps.
    ccxt_api_key: SecretStr | None = Field(default=None, description="ccxt API key (a secret, never printed).")
    ccxt_api_secret: SecretStr | None = Field(default=None, description="ccxt API secret (a secret, never printed).")
    hyperliquid_wallet_address: str | None = Field(
        default=None, description="The Hyperliquid account (0x + 40 hex) a live runner trades."
    )
    hyperliquid_private_key: SecretStr | None = Field(
        default=None, description="The key signing its orders (the wallet's or an approved API wallet's; a secret)."
    )
    live_confirm: str | None = Field(
        default=None, description="Unattended live trading: the venue's name here confirms --broker live --live."
    )

    download_weight_per_minute: int = Field(
        default=600,
        gt=0,
        description="Request weight spent per minute at most (Hyperliquid allows 1200 per IP).",
    )
    download_timeout_s: float = Field(default=20.0, gt=0)
    download_max_retries: int = Field(default=6, ge=0)

    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_base_url: str = "https://api.telegram.org"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("hyperliquid_base_url", "ccxt_base_url", "telegram_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("hyperliquid_ws_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            raise ValueError(f"not a ws(s) URL: {value!r}")
        return value


def load_settings() -> Settings:
    """Read the settings, turning a validation failure into a one-line ``ConfigError`` naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"setting STRATLAB_{field.upper()}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


__all__ = ["DEFAULT_DATA_ROOT", "Settings", "get_settings", "load_settings"]
