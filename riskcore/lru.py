"""A small, thread-safe least-recently-used map for what a long-running server keeps per model version.

The API keeps the request models and the ``/model_info`` body of each bundle it served, and the
model server the bundles it verified; a server that lives through many promotions must not keep
every version it ever saw. :func:`functools.lru_cache` caches a function's results; these caches
are filled by hand (a bundle is put in after it verifies), hence this class.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["LRU"]

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``maxsize`` entries; reading or writing one makes it the newest, the oldest goes first.

    Examples
    --------
    >>> cache = LRU[str, int](2)
    >>> cache["a"] = 1; cache["b"] = 2; _ = cache.get("a"); cache["c"] = 3
    >>> sorted(cache.keys())
    ['a', 'c']
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"an LRU cache holds at least one entry, not {maxsize}")
        self.maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the newest), or ``None``."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def get_or_set(self, key: K, make: Callable[[], V]) -> V:
        """The value of ``key``, made with ``make()`` and kept when missing (``make`` runs outside the lock)."""
        found = self.get(key)
        if found is None:
            found = make()
            self[key] = found
        return found

    def find(self, match: Callable[[V], bool]) -> V | None:
        """The newest value for which ``match`` holds, or ``None``."""
        with self._lock:
            values = list(self._items.values())
        return next((v for v in reversed(values) if match(v)), None)

    def keys(self) -> list[K]:
        """The keys, oldest first."""
        with self._lock:
            return list(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())
