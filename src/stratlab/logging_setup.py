"""Logging, set up once per process: a console handler on stderr and a rotating file under ``logs/``."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

_CONFIGURED_MARK = "_stratlab_handler"
LOG_FILE_NAME = "stratlab.log"


def configure_logging(
    console_level: int = logging.INFO, log_dir: Path | None = Path("logs"), file_level: int | str = logging.DEBUG
) -> None:
    """Install stratlab's handlers on the root logger; calling it again replaces them (no duplicate lines).

    ``file_level``: what the log file keeps (``STRATLAB_LOG_LEVEL``, DEBUG by default)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _CONFIGURED_MARK, False):
            root.removeHandler(handler)
            handler.close()

    console = logging.StreamHandler()
    console.setLevel(console_level)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    setattr(console, _CONFIGURED_MARK, True)
    root.addHandler(console)

    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            file_handler = logging.handlers.RotatingFileHandler(
                log_dir / LOG_FILE_NAME, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
            )
        except OSError as exc:  # a read-only checkout still runs, it just keeps no log file
            logging.getLogger(__name__).warning("no log file in %s: %s", log_dir, exc)
        else:
            file_handler.setLevel(file_level)
            file_handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
            setattr(file_handler, _CONFIGURED_MARK, True)
            root.addHandler(file_handler)

    root.setLevel(logging.DEBUG)
    # Third-party chatter stays out of the console unless asked for.
    for noisy in ("httpx", "httpcore", "urllib3", "numba", "ccxt"):
        logging.getLogger(noisy).setLevel(logging.WARNING if console_level > logging.DEBUG else logging.DEBUG)


__all__ = ["LOG_FILE_NAME", "configure_logging"]
