"""The record of every request an emulator answered (tests, benchmarks and /_sandbox/calls read it).

Parts: CallLog (a base of each emulator: _log_call appends one entry; calls is a snapshot in arrival
order, safe to iterate while the server answers; calls_of is one action's entries; throttled and
throttled_share are the answers a rate limit refused — entries carrying `throttled`, the name of
the limit, see rate_limits.py).
"""

from __future__ import annotations

import threading
from typing import Any


class CallLog:
    def __init__(self) -> None:
        self._call_entries: list[dict[str, Any]] = []
        self._call_lock = threading.Lock()

    def _log_call(self, entry: dict[str, Any]) -> None:
        with self._call_lock:
            self._call_entries.append(entry)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every request so far, in arrival order (a snapshot)."""
        with self._call_lock:
            return list(self._call_entries)

    def calls_of(self, action: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["action"] == action]

    def throttled(self) -> list[dict[str, Any]]:
        """The calls a rate limit refused (`rate_limits:` or OCI's per-user `throttle`)."""
        return [c for c in self.calls if c.get("throttled")]

    def throttled_share(self) -> float:
        """Throttled answers as a share of every call answered (0.0 with no calls)."""
        calls = self.calls
        return sum(1 for c in calls if c.get("throttled")) / len(calls) if calls else 0.0
