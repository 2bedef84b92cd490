"""Reads asked by several threads at once share one call, "group commit" style, and a request in a
wave waits a moment for company before it reads.

Parts: GroupCommit.read (key, ids, fetch, rank → {id: answer} for these ids, from a call made for
them and for whoever asked beside them), lingering (how long the calling request's read may wait
for others' ids: VERIFY_LINGER_S for a notice that arrives in a wave), GroupCommit.lingering /
next_deadline (the callers waiting for company and when the first wait ends: a driver on a
manual clock moves time to it instead of waiting on them).

A wave's notices arrive as concurrent requests, each verifying its own instance with a read the
API could answer for a hundred ids at once (ECS DescribeInstances `InstanceIds`, a JSON array of
up to 100 ids; EC2 DescribeInstances by an `instance-id` filter and DescribeSpotInstanceRequests
by the same filter, clouds/aliyun_batch.py and aws_batch.py). Per key (what is read, cloud,
region) at most one call is in flight: a request that finds none makes its call at once, with only
its own ids (a lone notice waits for nothing); requests that arrive while a call is in flight queue
their ids for the next one, which the first of them makes as soon as the call in flight ends,
carrying every id queued by then (up to `most`; more start another).

Requests in flight side by side are few when a wave is spread over several processes (each sees a
quarter of it, one notice in a few hundred milliseconds), so a request that arrives in a wave
(batching.Arrivals: unless its sender posts one at a time) lingers: its batch stays open for
VERIFY_LINGER_S (on the task clock), or until it holds `most` ids, or until a reader that does not
linger (the tick) joins it, and the notices arriving meanwhile join it. The requests of one
lingering read then make their next call (CreateImage) in the order of their `rank` (the task's
priority: earliest release first), each after the one before it was decided by the API budget
(budget.Turns), as one alone would have gone in arrival order. ECS advises aggregating requests
(the "API throttling" / 流量控制 page) and counts DescribeInstances per account and minute (e.g.
200 a minute), so four processes that each read once per notice spend the window on verification alone.

Each caller gets the answers for its own ids, whoever else asked with it; a call that fails fails
the same way for every caller in it (each then retries, or is deferred by the budget, exactly as
it would alone: an error is never turned into an answer). Thread-safe; per executor, so per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

from responder.capacity.budget import Turns

PAGE = 100  # the most ids one DescribeInstances takes on both clouds
# How long a notice arriving in a wave waits for others before its verification read: a few
# hundred milliseconds on an answer whose notice window is 120 s (EC2) or 300 s (ECS), against one
# DescribeInstances per notice and process otherwise.
VERIFY_LINGER_S = 0.5
# A clock that stands still (a test's manual clock nobody moves) still ends a wait after this much
# real time; the task clock is real time in service, where the linger ends first.
STILL_CLOCK_S = 2.0
_LOOK_S = 0.01  # how often a waiting leader looks at the task clock

_linger: ContextVar[tuple[float, ExitStack, int] | None] = ContextVar("responder_read_linger", default=None)


@contextmanager
def lingering(seconds: float, company: int = 0) -> Iterator[None]:
    """Shared reads this thread asks within the block may wait up to `seconds` for company, or
    until `company` requests wait in the batch (the requests the server runs side by side: no
    other could join; 0 for no such bound); the budget turn such a read hands out is held until
    the block ends."""
    with ExitStack() as turns:
        token = _linger.set((seconds, turns, company) if seconds > 0 else None)
        try:
            yield
        finally:
            _linger.reset(token)


class _Batch:
    def __init__(self, deadline: float) -> None:
        self.ids: list[str] = []
        self.callers = 0
        self.deadline = deadline  # on the task clock: the call goes then at the latest
        self.turn = threading.Event()  # the call before it ended: it may go
        self.go = threading.Event()  # it stops waiting for company (full, or a reader who cannot wait)
        self.done = threading.Event()
        self.found: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.closed = False  # its call went: no id joins it any more
        self.ranks: list[Any] = []  # of its lingering callers, in the order they joined
        self.turns: Turns | None = None
        self.places: list[int] = []  # each lingering caller's place in rank order


class GroupCommit:
    def __init__(self, most: int = PAGE, clock: Callable[[], float] = time.time):
        self.most = most
        self.clock = clock
        self._lock = threading.Lock()
        # key → its batches in order: the first holds the turn (lingering or in flight), the rest wait
        self._batches: dict[tuple, list[_Batch]] = {}

    def read(self, key: tuple, ids: list[str], fetch: Callable[[tuple[str, ...]], dict[str, Any]],
             rank: Any = ()) -> dict[str, Any]:
        """{id: answer} for `ids` (ids the cloud does not know are absent); raises what the call
        that carried them raised. `rank`: where a lingering caller's next call goes among its batch's."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        if len(ids) > self.most:  # a page of its own at most: split, each part as any caller
            found: dict[str, Any] = {}
            for start in range(0, len(ids), self.most):
                found.update(self.read(key, ids[start:start + self.most], fetch, rank))
            return found
        linger, turns, company = _linger.get() or (0.0, None, 0)
        with self._lock:
            batch, leads = self._join(key, ids, linger, company)
            slot = len(batch.ranks) if turns is not None else None
            if slot is not None:
                batch.ranks.append(rank)
        if leads:
            batch.turn.wait()
            self._wait_for_company(batch)
            self._run(key, batch, fetch)
        batch.done.wait()
        if batch.error is not None:
            raise batch.error
        if turns is not None and slot is not None and batch.turns is not None:
            turns.enter_context(batch.turns.turn(batch.places[slot]))
        return {i: batch.found[i] for i in ids if i in batch.found}

    def _join(self, key: tuple, ids: list[str], linger: float, company: int = 0) -> tuple[_Batch, bool]:
        """Under the lock: the open batch of `key` with room for `ids`, or a new one (led by us)."""
        batches = self._batches.setdefault(key, [])
        batch = next((b for b in batches if not b.closed and len(set(b.ids) | set(ids)) <= self.most), None)
        leads = batch is None
        if batch is None:
            batch = _Batch(self.clock() + linger)
            batches.append(batch)
            if len(batches) == 1:  # nothing in flight: its turn is now
                batch.turn.set()
        batch.ids.extend(i for i in ids if i not in batch.ids)
        batch.callers += 1
        # Full, asked by one who cannot wait, or every request the server runs at once is in it: it goes.
        if linger <= 0 or len(batch.ids) >= self.most or 0 < company <= batch.callers:
            batch.go.set()
        return batch, leads

    def _wait_for_company(self, batch: _Batch) -> None:
        started = time.monotonic()
        while not batch.go.wait(_LOOK_S):
            if self.clock() >= batch.deadline or time.monotonic() - started >= STILL_CLOCK_S:
                return

    def _run(self, key: tuple, batch: _Batch, fetch: Callable[[tuple[str, ...]], dict[str, Any]]) -> None:
        with self._lock:
            batch.closed = True
            asked = tuple(batch.ids)
            order = sorted(range(len(batch.ranks)), key=batch.ranks.__getitem__)
            batch.places = [order.index(slot) for slot in range(len(order))]
            batch.turns = Turns(len(order)) if order else None
        try:
            batch.found = fetch(asked)
        except BaseException as exc:  # noqa: BLE001 - every caller gets the outcome; none is left with no answer
            batch.error = exc
        finally:
            with self._lock:
                batches = self._batches.get(key) or []
                if batches and batches[0] is batch:
                    batches.pop(0)
                if batches:
                    batches[0].turn.set()  # the next batch's leader goes (or lingers on); the key stays busy
                else:
                    self._batches.pop(key, None)
            batch.done.set()

    def lingering(self) -> int:
        """Callers waiting for company on the task clock: behind a batch whose turn has come and
        whose deadline has not passed (a driver on a manual clock may move time rather than wait)."""
        now = self.clock()
        with self._lock:
            return sum(b.callers for batches in self._batches.values() if _waits_on_clock(batches[0], now)
                       for b in batches)

    def next_deadline(self) -> float | None:
        """When the first wait for company ends on the task clock; None when nobody waits."""
        now = self.clock()
        with self._lock:
            ends = [batches[0].deadline for batches in self._batches.values() if _waits_on_clock(batches[0], now)]
        return min(ends) if ends else None


def _waits_on_clock(head: _Batch, now: float) -> bool:
    return head.turn.is_set() and not head.closed and not head.go.is_set() and now < head.deadline
