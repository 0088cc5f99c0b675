"""The strategy registry: ``@register`` on a ``Strategy`` subclass makes it reachable by name."""

from __future__ import annotations

from typing import TypeVar

from stratlab.errors import ConfigError
from stratlab.strategies.base import Strategy

S = TypeVar("S", bound=type[Strategy])

# Strategies hold no state, so one instance per class serves every caller.
_REGISTRY: dict[str, Strategy] = {}


def register(cls: S) -> S:
    """Class decorator: add a concrete strategy under its ``name`` (a second class with the same name fails)."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and type(existing) is not cls:
        raise ValueError(f"strategy name {cls.name!r} is taken by {type(existing).__qualname__}")
    _REGISTRY[cls.name] = cls()
    return cls


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``; a ``ConfigError`` listing the known names otherwise."""
    strategy = _REGISTRY.get(name)
    if strategy is None:
        raise ConfigError(f"unknown strategy {name!r} (known: {', '.join(strategy_names())})")
    return strategy


def strategy_names() -> tuple[str, ...]:
    """Every registered name, sorted."""
    return tuple(sorted(_REGISTRY))


def default_strategy_names() -> tuple[str, ...]:
    """The strategies a search takes when none are named: every one whose ``in_default_search`` is set, sorted."""
    return tuple(name for name in strategy_names() if _REGISTRY[name].in_default_search)


def all_strategies() -> tuple[Strategy, ...]:
    """Every registered strategy, in name order."""
    return tuple(_REGISTRY[name] for name in strategy_names())


__all__ = ["all_strategies", "default_strategy_names", "get_strategy", "register", "strategy_names"]
