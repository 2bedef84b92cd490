"""What every emulator's state is built from: scenario errors, the clocks, and stock over time.

Parts: ScenarioError (the message names the field), UNLIMITED, SandboxClock (scaled scenario
time), ManualClock (time that moves when told), OfferStock and StockBook (capacity per offering
that changes over time and is consumed by launches and reservations).

scenario.py reads the file into these; the emulators' state modules (oci_world.py and the others)
import them from here, so the scenario can import the emulators' own sections without a circle.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from responder.errors import ConfigurationError

UNLIMITED = 10**9


class ScenarioError(ConfigurationError):
    """The scenario file is malformed; the message names the field (and, from a file, its line)."""


class SandboxClock:
    """Scenario time in seconds since start, optionally sped up (time_scale) for tests."""

    def __init__(self, time_scale: float = 1.0, now=time.monotonic):
        self._now = now
        self._start = now()
        self._scale = time_scale
        self._offset = 0.0

    def __call__(self) -> float:
        return (self._now() - self._start) * self._scale + self._offset

    def advance(self, seconds: float) -> None:
        """Jump scenario time forward (tests and curl users: POST /_sandbox/advance)."""
        self._offset += seconds


class ManualClock:
    """Scenario time that moves only when told (benchmarks and tests of the race: a five-minute
    race in milliseconds, every event in the same order). Emulators and the runner share it."""

    def __init__(self, start: float = 0.0):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)

    def advance_to(self, when: float) -> None:
        with self._lock:
            self.now = max(self.now, when)


@dataclass
class OfferStock:
    """Capacity of one (type, zone, market) over time.

    `available` is what is free at t=0. `schedule` entries fire once when scenario time reaches
    `at`: `available: N` sets the free capacity, `add: N` frees N more (capacity released),
    `take: N` removes N (a competitor bought it).
    """

    available: int
    schedule: list[dict[str, Any]] = field(default_factory=list)
    fired: int = 0


class StockBook:
    """Free capacity per offering; thread-safe; consumed by launches and reservations."""

    def __init__(self, default: int, offers: dict[tuple[str, str, str], OfferStock], clock):
        self._default = default
        self._offers = offers
        self._clock = clock
        self._lock = threading.Lock()

    def _offer(self, instance_type: str, zone: str, market: str) -> OfferStock:
        key = (instance_type, zone, market)
        if key not in self._offers:
            # An offering named for one market only: the other market keeps the default.
            self._offers[key] = OfferStock(available=self._default)
        offer = self._offers[key]
        now = self._clock()
        while offer.fired < len(offer.schedule) and float(offer.schedule[offer.fired].get("at", 0)) <= now:
            step = offer.schedule[offer.fired]
            if "available" in step:
                offer.available = int(step["available"])
            offer.available += int(step.get("add", 0))
            offer.available = max(0, offer.available - int(step.get("take", 0)))
            offer.fired += 1
        return offer

    def available(self, instance_type: str, zone: str, market: str) -> int:
        with self._lock:
            return self._offer(instance_type, zone, market).available

    def take(self, instance_type: str, zone: str, market: str, count: int) -> bool:
        """Consume `count` units if all are free; all or nothing, as the clouds do."""
        with self._lock:
            offer = self._offer(instance_type, zone, market)
            if offer.available < count:
                return False
            offer.available -= count
            return True

    def give_back(self, instance_type: str, zone: str, market: str, count: int) -> None:
        with self._lock:
            self._offer(instance_type, zone, market).available += count
