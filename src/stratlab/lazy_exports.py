"""Public names of a package imported on first use (PEP 562), so importing the package stays light: the CLI imports
``stratlab`` and one module of ``stratlab.optimize`` at start-up, and must not load numba, the runner or the report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: each name of ``homes`` comes from the module it maps to
    (absolute, or relative to ``package`` when it starts with a dot) and is kept in ``namespace`` once imported."""

    def attribute(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(home, package), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def names() -> list[str]:
        return sorted({*namespace, *homes})

    return attribute, names


__all__ = ["lazy_exports"]
