"""Memoised indicators for search loops: the same indicator on the same candles is computed once per worker.

An optimiser tries thousands of parameter sets, and most of them share indicator values (an SMA of period 50
appears in many trials). Inside ``with indicator_cache():`` every decorated indicator remembers its results,
keyed by its arguments; arrays are keyed by identity of their memory, which is only safe for arrays that cannot
change, so only read-only arrays (as ``Candles`` holds) are cached and writable inputs bypass the cache; an entry keeps
its input arrays alive, so their memory cannot be handed to another series while the key names it. Frozen dataclasses
(``Candles`` with its timeframe and order book) are keyed by all their fields, tuples by their items, mappings of
scalars (parameters) by their content. Results
come back read-only, so a caller cannot corrupt what the next trial reads. Outside the block nothing is cached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar, cast

import numpy as np

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


class _Store:
    """An LRU of results bounded by their bytes."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.used = 0
        # key -> (result, bytes, the input arrays): an entry holds its inputs, so while it lives no other array can
        # be allocated at the address its key names (a freed series' memory reused by the next one loaded would
        # otherwise hit its results)
        self.entries: OrderedDict[tuple[Any, ...], tuple[Any, int, tuple[Any, ...]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: tuple[Any, ...], value: Any, size: int, inputs: tuple[Any, ...] = ()) -> None:
        self.entries[key] = (value, size, inputs)
        self.used += size
        while self.used > self.budget and len(self.entries) > 1:
            _, (_, dropped, _) = self.entries.popitem(last=False)
            self.used -= dropped


_local = threading.local()
_UNCACHEABLE = object()
_SCALARS = (int, float, str, bool, type(None), np.integer, np.floating)


def _active() -> _Store | None:
    return cast(_Store | None, getattr(_local, "store", None))


@contextlib.contextmanager
def indicator_cache(budget_bytes: int = DEFAULT_BUDGET_BYTES, store: _Store | None = None) -> Iterator[_Store]:
    """Cache decorated indicators in this thread until the block ends; yields the store (hits, misses, used).

    ``store``: one a previous block yielded, to go on with its results (a worker kept warm between batches, which
    its engine may run on another thread each time)."""
    previous = _active()
    store = store if store is not None else _Store(budget_bytes)
    _local.store = store
    try:
        yield store
    finally:
        _local.store = previous


def _key_part(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.flags.writeable:
            return _UNCACHEABLE  # may change under us
        return ("array", value.__array_interface__["data"][0], value.shape, value.strides, value.dtype.str)
    if isinstance(value, _SCALARS):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, tuple):
        return _parts("tuple", enumerate(value))
    if isinstance(value, Mapping):
        # Parameters: by content, as the call read them. Scalars only: an array could leave the mapping after the
        # call, and its memory go to another array while the key names it.
        if not all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in value.items()):
            return _UNCACHEABLE
        return _parts("mapping", sorted(value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and _frozen_dataclass(type(value)):
        # Candles, their timeframe and book: by every field, so a function may read any of them.
        fields = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
        return _parts(type(value).__qualname__, fields)
    return _UNCACHEABLE


def _frozen_dataclass(cls: type) -> bool:
    return bool(cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]


def _parts(kind: str, named: Iterable[tuple[object, Any]]) -> Any:
    parts = tuple((name, _key_part(value)) for name, value in named)
    if any(part is _UNCACHEABLE for _, part in parts):
        return _UNCACHEABLE
    return (kind, parts)


def _freeze(result: Any) -> tuple[Any, int]:
    if isinstance(result, np.ndarray):
        result.flags.writeable = False
        return result, result.nbytes
    if isinstance(result, tuple):
        frozen = [_freeze(item) for item in result]
        return tuple(item for item, _ in frozen), sum(size for _, size in frozen)
    return result, 64


def memoized(function: Callable[P, R]) -> Callable[P, R]:
    """Make ``function`` use the active indicator cache (if any)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        store = _active()
        if store is None:
            return function(*args, **kwargs)
        positional = [_key_part(a) for a in args]
        named = [(k, _key_part(v)) for k, v in sorted(kwargs.items())]
        if any(p is _UNCACHEABLE for p in positional) or any(p is _UNCACHEABLE for _, p in named):
            return function(*args, **kwargs)
        key = (function.__qualname__, *positional, *named)
        cached = store.get(key)
        if cached is not None:
            return cast(R, cached)
        result, size = _freeze(function(*args, **kwargs))
        inputs = tuple(a for a in (*args, *kwargs.values()) if not isinstance(a, _SCALARS))
        store.put(key, result, size, inputs)
        return cast(R, result)

    return wrapper


__all__ = ["DEFAULT_BUDGET_BYTES", "indicator_cache", "memoized"]
