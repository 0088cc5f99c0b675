"""What ``stratlab strategy check`` found, kept per strategy and file content, and the rule that a search trusts a
user strategy only when its current content has passed (or the user said ``--skip-check``, which the run records).

A record is ``<strategy_checks_root>/<name>/<sha256[:16]>-<UTC time>.json``, written atomically and never replaced:
every check leaves its own file.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

from stratlab.atomic_io import write_text_atomic
from stratlab.errors import ConfigError, DataError
from stratlab.settings import get_settings
from stratlab.strategies.check import StrategyCheck
from stratlab.strategies.registry import strategy_source
from stratlab.strategies.user import StrategySource

_HASH_PREFIX = 16


def _root(root: Path | None) -> Path:
    return root if root is not None else get_settings().strategy_checks_root


def save_check(check: StrategyCheck, source: StrategySource, root: Path | None = None) -> Path:
    """Keep one check's outcome for ``source``'s content; a second check in the same second gets its own name."""
    folder = _root(root) / check.strategy
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{source.sha256[:_HASH_PREFIX]}-{stamp}.json"
    count = 1
    while path.exists():
        count += 1
        path = folder / f"{source.sha256[:_HASH_PREFIX]}-{stamp}-{count}.json"
    record = {
        "strategy": check.strategy,
        "file": source.file,
        "sha256": source.sha256,
        "candles": check.candles,
        "passed": check.passed,
        "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "results": [{"check": r.check, "status": r.status, "detail": r.detail} for r in check.results],
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    except OSError as exc:
        raise DataError(f"{path}: cannot record the check ({exc.strerror or exc})") from None
    return path


def has_passed(name: str, source: StrategySource, root: Path | None = None) -> bool:
    """Whether a check of ``name`` passed on exactly this file content (a damaged record counts as none)."""
    folder = _root(root) / name
    for path in sorted(folder.glob(f"{source.sha256[:_HASH_PREFIX]}-*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("sha256") == source.sha256 and record.get("passed") is True:
            return True
    return False


def trusted_sources(names: Iterable[str], *, skip_check: bool, root: Path | None = None) -> dict[str, StrategySource]:
    """The user strategies among ``names`` with their source and check state, as a run records them; an unchecked
    one (never passed for its current content) is a one-line ``ConfigError`` unless ``skip_check``."""
    sources: dict[str, StrategySource] = {}
    for name in names:
        source = strategy_source(name)
        if source is None:
            continue  # built in: the test suite checks it
        if has_passed(name, source, root):
            sources[name] = source.with_check("passed")
        elif skip_check:
            sources[name] = source.with_check("skipped")
        else:
            raise ConfigError(
                f"strategy {name!r} ({source.file}) has not passed `stratlab strategy check {name}` with its current "
                f"content: run that check first, or pass --skip-check (the run records it)"
            )
    return sources


__all__ = ["has_passed", "save_check", "trusted_sources"]
