"""A small LRU of values per key, where each key is rebuilt under its own lock.

The retrieval caches (snapshots, BM25 indexes) hold one expensive value per namespace. A value
that is missing or stale is built by one caller while the others asking for the same key wait
for it; a rebuild of one namespace never blocks a query on another.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeyedCache(Generic[K, V]):
    """At most ``max_keys`` values; the least recently used goes first."""

    def __init__(self, max_keys: int) -> None:
        self._max = max_keys
        self._values: OrderedDict[K, V] = OrderedDict()
        self._locks: dict[K, threading.Lock] = {}
        self._drops: dict[K, int] = {}  # per key, how often it was dropped
        self._guard = threading.Lock()  # guards the dicts; never held while building

    def get(self, key: K, fresh: Callable[[V], bool], build: Callable[[], V]) -> V:
        """The cached value when ``fresh`` accepts it, else a new one from ``build``, which
        replaces it. ``fresh`` runs outside the cache's own lock, so it may ask a store."""
        current = self._fresh(key, fresh)
        if current is not None:
            return current
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            current = self._fresh(key, fresh)  # built meanwhile by the caller we waited for
            if current is not None:
                return current
            with self._guard:
                drops = self._drops.get(key, 0)
            value = build()
            with self._guard:
                if self._drops.get(key, 0) != drops:  # dropped while building: keep nothing
                    return value
                self._values[key] = value
                self._values.move_to_end(key)
                while len(self._values) > self._max:
                    evicted, _ = self._values.popitem(last=False)
                    self._locks.pop(evicted, None)
            return value

    def peek(self, key: K) -> V | None:
        """The value held for the key, fresh or not, without building anything (a value found
        counts as used: it moves to the back of the eviction line)."""
        with self._guard:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def swap(self, key: K, expected: V, value: V) -> bool:
        """Replace the key's value with ``value`` only if it still is ``expected``."""
        with self._guard:
            if self._values.get(key) is not expected:
                return False
            self._values[key] = value
            return True

    def refresh_in_background(
        self,
        key: K,
        build: Callable[[], V],
        newer: Callable[[V, V], bool],
        on_error: Callable[[], None],
    ) -> bool:
        """Build the key's value again in a daemon thread, unless a build of it is under way;
        the result replaces the value held when ``newer(result, held)``. False when a build was
        under way already."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(blocking=False):
            return False

        def run() -> None:
            try:
                value = build()
                with self._guard:
                    held = self._values.get(key)
                    if held is not None and newer(value, held):
                        self._values[key] = value
            except Exception:
                on_error()
            finally:
                lock.release()

        threading.Thread(target=run, name="cache-refresh", daemon=True).start()
        return True

    def drop(self, key: K) -> None:
        """Forget the key's value (the next ``get`` builds it again); a build of it under way
        when it is dropped is not kept."""
        with self._guard:
            self._values.pop(key, None)
            self._drops[key] = self._drops.get(key, 0) + 1

    def __iter__(self) -> Iterator[K]:
        """The keys held, least recently used first."""
        with self._guard:
            return iter(list(self._values))

    def _fresh(self, key: K, fresh: Callable[[V], bool]) -> V | None:
        with self._guard:
            current = self._values.get(key)
        if current is None or not fresh(current):
            return None
        with self._guard:
            if self._values.get(key) is current:
                self._values.move_to_end(key)
        return current
