"""Every cache jacx keeps, in one registry: bounded, and emptied by one call, :func:`clear_caches`.

A cache here maps a key to something jacx built (a compiled program, a sparsity pattern, a coloring). Each is a
:class:`BoundedCache` (least recently used entries go first), so no cache grows without limit or keeps a user's
functions alive for ever; each registers itself by name so that ``jacx.clear_caches()`` reaches all of them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["BoundedCache", "cache_info", "clear_caches", "register_cache"]

_REGISTRY: dict[str, Any] = {}


class BoundedCache:
    """A least-recently-used mapping with at most ``maxsize`` entries, registered under ``name``.

    Unhashable keys are never stored (``get`` misses, ``put`` does nothing), so callers need no special case.

    >>> c = BoundedCache("doc-example", maxsize=2)
    >>> c.put("a", 1); c.put("b", 2); c.put("c", 3)
    >>> c.get("a") is None, c.get("c"), len(c)
    (True, 3, 2)
    """

    __slots__ = ("name", "maxsize", "_data")

    def __init__(self, name: str, maxsize: int = 256) -> None:
        self.name = name
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        register_cache(name, self)

    def get(self, key: Hashable, default: Any = None) -> Any:
        try:
            value = self._data[key]
        except (KeyError, TypeError):
            return default
        self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        try:
            self._data[key] = value
        except TypeError:  # an unhashable key: not cached
            return
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def register_cache(name: str, cache: Any) -> Any:
    """Add ``cache`` (anything with a ``clear()`` method, e.g. a ``functools.lru_cache`` function) to the registry
    emptied by :func:`clear_caches`; returns it, so it can wrap a definition.

    >>> import functools
    >>> cached = register_cache("doc-lru", functools.lru_cache(maxsize=8)(lambda n: n * 2))
    >>> cached(21)
    42
    """
    clear: Callable[[], None] | None = getattr(cache, "clear", None) or getattr(cache, "cache_clear", None)
    if not callable(clear):
        raise TypeError(f"cache {name!r} has no clear() or cache_clear() method")
    _REGISTRY[name] = cache
    return cache


def cache_info() -> dict[str, int]:
    """The number of entries in each registered cache (for tests and for people wondering about memory).

    >>> isinstance(cache_info(), dict)
    True
    """
    out = {}
    for name, cache in _REGISTRY.items():
        info = getattr(cache, "cache_info", None)
        out[name] = info().currsize if callable(info) else len(cache)
    return out


def clear_caches() -> None:
    """Empty every cache jacx keeps: compiled programs, traced functions, sparsity patterns, colorings, solvers.

    Call it to release memory, or in tests to start from a clean state. It is never needed for correctness:
    jacx re-checks what a cached result depends on at every call.

    >>> import jacx
    >>> jacx.clear_caches()
    >>> sum(jacx.cache_info().values())
    0
    """
    for cache in _REGISTRY.values():
        (getattr(cache, "cache_clear", None) or cache.clear)()
