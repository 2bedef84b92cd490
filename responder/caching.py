"""A tiny thread-safe TTL cache for slow-changing cloud facts (type catalog, subnets).

Parts: TTLCache.get_or_load.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Hashable


class TTLCache:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._items: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def _fresh(self, key: Hashable, now: float) -> tuple[bool, Any]:
        with self._lock:
            hit = self._items.get(key)
            return (True, hit[1]) if hit and hit[0] > now else (False, None)

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """One load per key at a time: callers of a key being loaded wait for it and share the
        answer (a wave's tasks asking for the same stock make one call), other keys go on."""
        found, value = self._fresh(key, self._clock())
        if found:
            return value
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # a slow cloud call blocks only the callers of this key
            found, value = self._fresh(key, self._clock())
            if found:
                return value
            now = self._clock()
            value = load()
            with self._lock:
                self._items[key] = (now + self._ttl, value)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
