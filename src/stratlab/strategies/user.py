"""Strategies written by users: the ``*.py`` files of a strategies folder and the ``stratlab.strategies`` entry points
of installed packages, imported as the user's code and described by where they came from.

A file is imported under a module name of its own, and every concrete :class:`Strategy` subclass it defines (``name``
set in the class body) is one strategy; ``@register`` in the file is allowed but not needed. A file that fails to
import is a :class:`LoadFailure` carrying its traceback cut to the user's own frames: the other files still load.
An entry point names a strategy class (``pkg.module:MyStrategy``) or a module whose strategies are all taken.

This module finds and imports; :mod:`stratlab.strategies.registry` decides names and clashes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stratlab.errors import ConfigError, DataError
from stratlab.strategies.base import Strategy

ENTRY_POINT_GROUP = "stratlab.strategies"
# Module names of imported user files live under this prefix, keyed by the file's path, so two folders may each hold a
# ``mine.py`` and a reimport of one file replaces only its own module.
MODULE_PREFIX = "stratlab_user_strategies"

CheckState = Literal["passed", "skipped"]


class StrategySource(BaseModel):
    """Where a user strategy came from, as a run or a manifest records it: the file (absolute), the SHA-256 of its
    content when it was used, the entry point that named it (None for a strategies folder) and whether it had passed
    ``stratlab strategy check`` for that content or the check was skipped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    sha256: str
    entry_point: str | None = None
    check: CheckState | None = None

    def with_check(self, state: CheckState) -> StrategySource:
        return self.model_copy(update={"check": state})


class StrategyNameClashError(ConfigError):
    """Two strategies under one name: the message names both files."""


class IncompleteStrategyError(ConfigError):
    """A strategy class that names itself but misses a method it must implement."""


@dataclass(frozen=True)
class FoundStrategy:
    """A strategy class found in a user's file, and that file."""

    cls: type[Strategy]
    source: StrategySource


@dataclass(frozen=True)
class LoadFailure:
    """A user file (or entry point) that did not import: one line saying which, and its traceback as the user's code."""

    where: str
    message: str
    traceback: str

    def report(self) -> str:
        return f"{self.message}\n{self.traceback}".rstrip()


def _read_strategy_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the strategy file ({exc.strerror or exc})") from None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (what decides whether a strategy file is still the one that was checked)."""
    return hashlib.sha256(_read_strategy_file(path)).hexdigest()


def _module_name(path: Path) -> str:
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"{MODULE_PREFIX}.{stem}_{digest}"


def _user_traceback(exc: BaseException, files: Iterable[str]) -> str:
    """The traceback from the first frame in one of the user's ``files`` on (the import machinery above it is ours,
    not theirs); a syntax error, which has no frame, shows the line it points at."""
    wanted = set(files)
    formatted = traceback.TracebackException.from_exception(exc)
    frames = list(formatted.stack)
    first = next((i for i, frame in enumerate(frames) if frame.filename in wanted), len(frames))
    formatted.stack = traceback.StackSummary.from_list(frames[first:])
    return "".join(formatted.format()).rstrip()


def _named_strategies(module: ModuleType) -> list[type[Strategy]]:
    """The strategy classes with a ``name`` a module defines itself (not those it imports), in definition order."""
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Strategy)
        and obj.__module__ == module.__name__
        and "name" in obj.__dict__
    ]


def _complete(classes: list[type[Strategy]]) -> list[type[Strategy]]:
    """``classes``, each implementing every method a strategy must; one that names itself but misses a method is an
    error (it would otherwise be absent without a word, or fail when instantiated)."""
    for cls in classes:
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            names = ", ".join(missing)
            raise IncompleteStrategyError(
                f"strategy class {cls.__qualname__} ({cls.name!r}) does not implement {names}"
            )
    return classes


def import_strategy_file(path: Path) -> tuple[list[type[Strategy]], str]:
    """Import one user file (again if it was imported before) and answer its strategy classes and its content hash.

    Raises whatever the user's code raises; the caller reports it as theirs. The bytes hashed are the bytes run, so
    the hash recorded for a strategy is always that of the code this process executes."""
    path = path.resolve()
    content = _read_strategy_file(path)
    name = _module_name(path)
    module = ModuleType(name)
    module.__file__ = str(path)  # tracebacks and inspect.getsourcefile name the user's file
    # In sys.modules while it runs: dataclasses and pickling look their module up there.
    sys.modules.setdefault(MODULE_PREFIX, ModuleType(MODULE_PREFIX))
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        exec(compile(content, str(path), "exec"), module.__dict__)  # the user's own strategy file
    except BaseException:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise
    return _complete(_named_strategies(module)), hashlib.sha256(content).hexdigest()


def strategy_files(directory: Path) -> list[Path]:
    """The strategy files of a folder: its ``*.py`` files, not those starting with ``_`` (helpers, ``__init__``)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.py") if not p.name.startswith("_") and p.is_file())


def find_in_file(path: Path) -> tuple[list[FoundStrategy], LoadFailure | None]:
    """The strategies one file defines, or the failure importing it. A name clash raised by ``@register`` inside the
    file is not the user's traceback but a one-line error: it propagates."""
    resolved = path.resolve()
    try:
        classes, sha256 = import_strategy_file(resolved)
    except StrategyNameClashError:
        raise
    except DataError as exc:  # it names the file already
        return [], LoadFailure(str(path), str(exc), "")
    except IncompleteStrategyError as exc:
        return [], LoadFailure(str(path), f"{path}: {exc}", "")
    except (Exception, SystemExit) as exc:  # a sys.exit() at import time is an error of the file, not an exit
        message = f"{path} did not import, so its strategies are not available; its error:"
        return [], LoadFailure(str(path), message, _user_traceback(exc, {str(resolved)}))
    source = StrategySource(file=str(resolved), sha256=sha256)
    return [FoundStrategy(cls, source) for cls in classes], None


def _entry_point_file(obj: object) -> Path | None:
    try:
        found = inspect.getsourcefile(obj)  # type: ignore[arg-type]
    except TypeError:
        return None
    return Path(found).resolve() if found else None


def find_in_entry_points() -> tuple[list[FoundStrategy], list[LoadFailure]]:
    """The strategies installed packages declare under the ``stratlab.strategies`` entry-point group."""
    found: list[FoundStrategy] = []
    failures: list[LoadFailure] = []
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {point.name} = {point.value}"
        try:
            obj = point.load()
        except Exception as exc:
            text = "".join(traceback.format_exception(exc)).rstrip()
            failures.append(LoadFailure(where, f"{where} did not import; its error:", text))
            continue
        try:
            classes = _complete(_named_strategies(obj) if isinstance(obj, ModuleType) else [obj])
        except IncompleteStrategyError as exc:
            failures.append(LoadFailure(where, f"{where}: {exc}", ""))
            continue
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, Strategy) and "name" in cls.__dict__):
                failures.append(LoadFailure(where, f"{where}: {cls!r} is not a stratlab Strategy class", ""))
                continue
            file = _entry_point_file(cls)
            if file is None:
                failures.append(LoadFailure(where, f"{where}: the source file of {cls.__qualname__} is unknown", ""))
                continue
            found.append(
                FoundStrategy(cls, StrategySource(file=str(file), sha256=file_sha256(file), entry_point=where))
            )
    return found, failures


__all__ = [
    "ENTRY_POINT_GROUP",
    "MODULE_PREFIX",
    "CheckState",
    "FoundStrategy",
    "LoadFailure",
    "StrategyNameClashError",
    "StrategySource",
    "file_sha256",
    "find_in_entry_points",
    "find_in_file",
    "import_strategy_file",
    "strategy_files",
]
