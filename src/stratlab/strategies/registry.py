"""The strategy registry: every strategy by name, built in (``@register``) or the user's own (a strategies folder and
the ``stratlab.strategies`` entry points, read the first time a name is asked for).

A user strategy is known with its :class:`StrategySource` (file and content hash); a built-in has none. Two strategies
under one name are a one-line error naming both files; a user file that fails to import is kept as a
:class:`LoadFailure` (its traceback) and the others load.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from stratlab.errors import ConfigError
from stratlab.settings import get_settings
from stratlab.strategies.base import Strategy
from stratlab.strategies.user import (
    FoundStrategy,
    LoadFailure,
    StrategyNameClashError,
    StrategySource,
    file_sha256,
    find_in_entry_points,
    find_in_file,
    strategy_files,
)

S = TypeVar("S", bound=type[Strategy])

# Strategies hold no state, so one instance per class serves every caller.
_REGISTRY: dict[str, Strategy] = {}
_SOURCES: dict[str, StrategySource] = {}
_FAILURES: list[LoadFailure] = []
_SCANNED_DIRS: set[Path] = set()
_ENTRY_POINTS_READ: list[bool] = [False]


def _file_of(cls: type) -> str:
    try:
        found = inspect.getsourcefile(cls)
    except TypeError:
        found = None
    return str(Path(found).resolve()) if found else cls.__module__


def register(cls: S) -> S:
    """Class decorator: add a concrete strategy under its ``name``. A class of another file under the same name is a
    :class:`StrategyNameClashError` naming both files; the same file imported again replaces its class."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and type(existing) is not cls:
        first, second = _file_of(type(existing)), _file_of(cls)
        reimported = first == second and type(existing).__qualname__ == cls.__qualname__
        if not reimported:
            if first == second:
                first, second = f"{first} ({type(existing).__qualname__})", f"{second} ({cls.__qualname__})"
            raise StrategyNameClashError(f"strategy name {cls.name!r} is defined twice: in {first} and in {second}")
    _REGISTRY[cls.name] = cls()
    return cls


def _add_user(found: Iterable[FoundStrategy]) -> None:
    for strategy in found:
        register(strategy.cls)
        _SOURCES[strategy.cls.name] = strategy.source


def load_strategies_dir(directory: Path) -> list[LoadFailure]:
    """Import every strategy file of ``directory`` (a missing folder has none) and register what they define; the files
    that fail to import are answered (and kept for :func:`load_failures`), the others load."""
    resolved = directory.resolve()
    _SCANNED_DIRS.add(resolved)
    failures: list[LoadFailure] = []
    for path in strategy_files(resolved):
        found, failure = find_in_file(path)
        if failure is not None:
            failures.append(failure)
        _add_user(found)
    _FAILURES.extend(failures)
    return failures


def load_user_strategies() -> None:
    """Read the installed entry points (once per process) and the configured strategies folder (once per folder)."""
    if not _ENTRY_POINTS_READ[0]:
        _ENTRY_POINTS_READ[0] = True
        found, failures = find_in_entry_points()
        _FAILURES.extend(failures)
        _add_user(found)
    directory = get_settings().strategies_dir.resolve()
    if directory not in _SCANNED_DIRS:
        load_strategies_dir(directory)


def load_failures() -> tuple[LoadFailure, ...]:
    """The user files that did not import, in the order they were tried."""
    return tuple(_FAILURES)


def forget_user_strategies() -> None:
    """Back to the built-ins only; the next lookup reads the folder and entry points again."""
    for name in _SOURCES:
        _REGISTRY.pop(name, None)
    _SOURCES.clear()
    _FAILURES.clear()
    _SCANNED_DIRS.clear()
    _ENTRY_POINTS_READ[0] = False


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``; a ``ConfigError`` listing the known names otherwise."""
    strategy = _REGISTRY.get(name)
    if strategy is None:
        load_user_strategies()
        strategy = _REGISTRY.get(name)
    if strategy is None:
        broken = "".join(f"; {failure.where} did not import" for failure in _FAILURES)
        raise ConfigError(f"unknown strategy {name!r} (known: {', '.join(strategy_names())}){broken}")
    return strategy


def strategy_source(name: str) -> StrategySource | None:
    """Where the user strategy ``name`` came from; None for a built-in."""
    get_strategy(name)
    return _SOURCES.get(name)


def recall_sources(recorded: object) -> None:
    """Import the files a stored run or manifest recorded for its user strategies (``{name: source}``) that this
    process does not know yet, before the stored names are validated: a run started with another strategies folder
    still reads. A file that is gone or broken is left for the name check (or :func:`use_source`) to report."""
    if not isinstance(recorded, Mapping):
        return
    for name, raw in recorded.items():
        if name in _REGISTRY:
            continue
        try:
            source = raw if isinstance(raw, StrategySource) else StrategySource.model_validate(raw)
        except ValidationError:
            continue
        if Path(source.file).is_file():
            found, failure = find_in_file(Path(source.file))
            if failure is None:
                _add_user(found)


def use_source(name: str, source: StrategySource | None, *, used_by: str) -> Strategy:
    """The strategy ``name`` as ``used_by`` (a run, a manifest) recorded it: a user strategy is imported from the
    recorded file when this process does not know it yet, and refused (one line) when that file's content changed."""
    if source is None:
        return get_strategy(name)
    if name not in _REGISTRY:
        found, failure = find_in_file(Path(source.file))
        if failure is not None:
            raise ConfigError(f"{used_by}: strategy {name!r}: {failure.message.rstrip(':')}\n{failure.traceback}")
        _add_user(found)
    now = file_sha256(Path(source.file))
    if now != source.sha256:
        raise ConfigError(
            f"{used_by}: strategy {name!r}: {source.file} changed since it was used "
            f"(sha256 {source.sha256[:12]}… then, {now[:12]}… now): restore that file or search again"
        )
    return get_strategy(name)


def strategy_names() -> tuple[str, ...]:
    """Every registered name, built-in and the user's own, sorted."""
    load_user_strategies()
    return tuple(sorted(_REGISTRY))


def default_strategy_names() -> tuple[str, ...]:
    """The strategies a search takes when none are named: every built-in whose ``in_default_search`` is set, sorted.
    A user's strategy is searched when named: a file dropped in the folder does not change what a default run means."""
    return tuple(name for name in sorted(_REGISTRY) if name not in _SOURCES and _REGISTRY[name].in_default_search)


def user_strategy_names() -> tuple[str, ...]:
    """The names of the user's own strategies, sorted."""
    load_user_strategies()
    return tuple(sorted(_SOURCES))


def all_strategies() -> tuple[Strategy, ...]:
    """Every registered strategy, in name order."""
    return tuple(_REGISTRY[name] for name in strategy_names())


__all__ = [
    "all_strategies",
    "default_strategy_names",
    "forget_user_strategies",
    "get_strategy",
    "load_failures",
    "load_strategies_dir",
    "load_user_strategies",
    "recall_sources",
    "register",
    "strategy_names",
    "strategy_source",
    "use_source",
    "user_strategy_names",
]
