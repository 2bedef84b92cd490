"""The client-side API budget: one adaptive limiter per (cloud, region, bucket), shared by every
task of the process, asked by the adapters before each call (clouds/gate.py CallGate).

Parts: BudgetWatcher (what the metrics hear), ApiBudget (the CallGate: before / after,
next_admission, rates), asking (who is asking: the task's priority and id, for the current
thread), Turns (first admissions of calls made side by side, in the order given), LAST.

Each bucket is a limiter.Limiter, adaptive like botocore's `adaptive` retry mode, at the cloud's
documented figures (api_limits.py) from the first call. The budget never sleeps: `before` admits
(takes a token from every bucket the call draws from) or raises errors.Deferred(retry_at), and
whoever drives the call comes back then; `after` tells the buckets whether the cloud throttled it.

A deferred call keeps its place: the limiter remembers it (by the asking task's id) with its
priority, and later callers of lower priority leave it the tokens it waits for. The priority is
the task's expected release (replace/priority.py), so a waiting task never starves: callers that
come later are released later, and go behind it.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Optional, Protocol

from responder.capacity.api_limits import Overrides, camel, limits_for, overrides
from responder.capacity.limiter import Limiter
from responder.capacity.shared_windows import AccountWindows, Fetch, SharedWindows
from responder.errors import Deferred

TURN_WAIT = 2.0  # the longest a call waits for the one before it to be decided
LAST = (math.inf,)  # the priority of a caller that says nothing: behind every waiting task
FETCHES = 2  # takes from the store's shared windows one admission may make (a racer may spend the first)
RACED_WAIT = 0.1  # the wait of a caller whose fetched calls this process's racers spent each time

_asking: ContextVar[Optional[tuple[tuple, str]]] = ContextVar("budget_asking", default=None)
_turn: ContextVar[Optional[tuple[Optional[threading.Event], threading.Event]]] = ContextVar("budget_turn",
                                                                                             default=None)


class BudgetWatcher(Protocol):
    def throttled(self, cloud: str, region: str, action: str) -> None: ...

    def waited(self, cloud: str, region: str, bucket: str, seconds: float) -> None: ...

    def rate(self, cloud: str, region: str, bucket: str, per_second: float) -> None: ...


@contextmanager
def asking(priority: tuple, claim: str) -> Iterator[None]:
    """Calls made in this block ask as `claim` (a task id) with this priority (lower goes first)."""
    token = _asking.set((priority, claim))
    try:
        yield
    finally:
        _asking.reset(token)


class Turns:
    """Jobs run side by side whose first budget decisions must follow their order: job i's first
    call is decided only after job i-1's first call was (or job i-1 ended without one)."""

    def __init__(self, count: int):
        self._decided = [threading.Event() for _ in range(count)]

    @contextmanager
    def turn(self, index: int) -> Iterator[None]:
        token = _turn.set((self._decided[index - 1] if index else None, self._decided[index]))
        try:
            yield
        finally:
            self._decided[index].set()
            _turn.reset(token)


class ApiBudget:
    """The process's API budget; thread-safe. `clock` is injected (benchmarks run a ManualClock)."""

    def __init__(self, clock: Callable[[], float] = time.time, rates: Overrides | None = None,
                 watcher: BudgetWatcher | None = None, shared: SharedWindows | None = None):
        """`shared`: the account's windows in the store, spent together with the other processes
        (shared_windows.py); None counts this process's calls alone."""
        self.clock, self.overrides = clock, rates or {}
        self.watcher = watcher  # the metrics, when the app has them
        self._limiters: dict[tuple[str, str, str], Limiter] = {}
        self._account = AccountWindows(shared) if shared is not None else None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, clock: Callable[[], float] = time.time,
                      shared: SharedWindows | None = None) -> ApiBudget:
        return cls(clock, overrides(settings.api_rates), shared=shared)

    def _for(self, cloud: str, region: str, action: str, now: float) -> list[tuple[str, Limiter]]:
        found = []
        for name, limit in limits_for(cloud, action, self.overrides):
            key = (cloud, region, name)
            if key not in self._limiters:
                self._limiters[key] = Limiter(limit, now)
            found.append((name, self._limiters[key]))
        return found

    def before(self, cloud: str, region: str, action: str) -> None:
        """Admit the call (a token from each of its buckets) or raise Deferred(retry_at)."""
        decided = _my_turn()
        try:
            self._admit(cloud, region, camel(action))
        finally:
            if decided is not None:
                decided.set()

    def _admit(self, cloud: str, region: str, action: str) -> None:
        priority, claim = _asking.get() or (LAST, "")
        for _ in range(FETCHES + 1):
            with self._lock:
                now = self.clock()
                limiters = self._for(cloud, region, action, now)
                retry_at = max((limiter.admits_at(now, priority, claim) for _, limiter in limiters), default=now)
                fetches = self._account_short(cloud, region, limiters, now, priority, claim) if retry_at <= now else []
                retry_at = max([retry_at, *(f for f in fetches if isinstance(f, float))])
                fetches = [f for f in fetches if isinstance(f, Fetch)]
                if retry_at <= now and not fetches:
                    for name, limiter in limiters:
                        waited = limiter.take(now, claim)
                        if self._account is not None:
                            self._account.spend(_shared_name(cloud, region, name), limiter.limit, now)
                        if waited > 0 and self.watcher is not None:
                            self.watcher.waited(cloud, region, name, waited)
                    return
                if retry_at > now:
                    break
            # Asked outside the lock: the process's other calls do not wait for the store.
            got = [(fetch, self._account.fetch(fetch)) for fetch in fetches]
            with self._lock:
                now = self.clock()
                for fetch, granted in got:
                    self._account.granted(fetch, granted, now)
        with self._lock:
            retry_at = max(retry_at, now + RACED_WAIT)  # racers of this process spent what was fetched
            for _, limiter in limiters:
                limiter.defer(now, priority, claim, retry_at)
        if not claim and self.watcher is not None:  # no claim to time the wait by: count the wait asked for
            self.watcher.waited(cloud, region, limiters[0][0], retry_at - now)
        raise Deferred(retry_at, action, f"{cloud}:{region}:{limiters[0][0]}")

    def _account_short(self, cloud: str, region: str, limiters: list[tuple[str, Limiter]], now: float,
                       priority: tuple, claim: str) -> list[float | Fetch]:
        """For each shared window the call draws from and this process does not hold enough of
        (the caller's call and those of the deferred callers ahead of it): when it will, or the
        Fetch that asks the store for them."""
        if self._account is None:
            return []
        ready = (self._account.ready(_shared_name(cloud, region, name), limiter.limit, now,
                                     1 + limiter.ahead(priority, claim)) for name, limiter in limiters)
        return [r for r in ready if isinstance(r, Fetch) or r > now]

    def after(self, cloud: str, region: str, action: str, throttled: bool, code: str = "") -> None:
        """The cloud answered (or did not): a throttle (with its error `code`) lowers the bucket's
        rate, ECS's threshold refusal also holds the API; a success lets the rate grow."""
        action = camel(action)
        with self._lock:
            now = self.clock()
            changed = [(name, limiter.rate) for name, limiter in self._for(cloud, region, action, now)
                       if limiter.answered(now, throttled, code)]
        if self.watcher is None:
            return
        if throttled:
            self.watcher.throttled(cloud, region, action)
        for name, rate in changed:
            self.watcher.rate(cloud, region, name, rate)

    def next_admission(self, cloud: str, region: str, action: str) -> float:
        """When a call of `action` would be admitted now, by a caller behind every waiting task."""
        with self._lock:
            now = self.clock()
            limiters = self._for(cloud, region, camel(action), now)
            spent = [at for at in self._account_short(cloud, region, limiters, now, LAST, "") if isinstance(at, float)]
            return max([*(limiter.admits_at(now, LAST, "") for _, limiter in limiters), *spent], default=now)

    def rates(self) -> dict[tuple[str, str, str], float]:
        """Every bucket's current fill rate (calls per second), by (cloud, region, bucket)."""
        with self._lock:
            return {key: limiter.rate for key, limiter in self._limiters.items()}


def _my_turn() -> Optional[threading.Event]:
    """In a Turns job whose first call is not decided yet: wait for the previous job's first
    decision (bounded), and return the event that marks this one's."""
    turn = _turn.get()
    if turn is None or turn[1].is_set():
        return None
    previous, mine = turn
    if previous is not None:
        previous.wait(TURN_WAIT)
    return mine


def _shared_name(cloud: str, region: str, bucket: str) -> str:
    return f"{cloud}:{region}:{bucket}"
