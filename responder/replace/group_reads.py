"""Reads asked by several threads at once share one call, "group commit" style.

Parts: GroupCommit.read (key, ids, fetch → {id: answer} for these ids, from a call made for them
and for whoever asked beside them).

A wave's notices arrive as concurrent requests, each verifying its own instance with a read the
API could answer for a hundred ids at once (ECS DescribeInstances `InstanceIds`, EC2
DescribeInstances by an `instance-id` filter, each at most 100). Per key (what is read, cloud,
region) at most one call is in flight: a request that finds none makes its call at once, with
only its own ids (a lone notice waits for nothing); requests that arrive while a call is in flight
queue their ids for the next one, which the first of them makes as soon as the call in flight
ends, carrying every id queued by then (up to `most`; more start another). Each caller gets the
answers for its own ids, whoever else asked with it; a call that fails fails the same way for
every caller in it (each then retries, or is deferred by the budget, exactly as it would alone:
an error is never turned into an answer). Thread-safe; per executor, so per process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

PAGE = 100  # the most ids one DescribeInstances takes on both clouds


class _Batch:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.turn = threading.Event()  # its call may go (the one before it ended)
        self.done = threading.Event()
        self.found: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.closed = False  # its call went: no id joins it any more


class GroupCommit:
    def __init__(self, most: int = PAGE):
        self.most = most
        self._lock = threading.Lock()
        self._busy: set[tuple] = set()  # keys with a call in flight
        self._queued: dict[tuple, list[_Batch]] = {}  # key → batches waiting for their turn, in order

    def read(self, key: tuple, ids: list[str], fetch: Callable[[tuple[str, ...]], dict[str, Any]]) -> dict[str, Any]:
        """{id: answer} for `ids` (ids the cloud does not know are absent); raises what the call
        that carried them raised."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        if len(ids) > self.most:  # a page of its own at most: split, each part as any caller
            found: dict[str, Any] = {}
            for start in range(0, len(ids), self.most):
                found.update(self.read(key, ids[start:start + self.most], fetch))
            return found
        with self._lock:
            if key not in self._busy:  # nothing in flight: go now, alone
                self._busy.add(key)
                batch = _Batch()
                batch.ids, batch.closed, leads = ids, True, True
                batch.turn.set()
            else:
                batch, leads = self._join(key, ids)
        if leads:
            batch.turn.wait()
            self._run(key, batch, fetch)
        batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return {i: batch.found[i] for i in ids if i in batch.found}

    def _join(self, key: tuple, ids: list[str]) -> tuple[_Batch, bool]:
        """Under the lock: the open batch of `key` with room for `ids`, or a new one (led by us)."""
        queue = self._queued.setdefault(key, [])
        for batch in queue:
            if not batch.closed and len(set(batch.ids) | set(ids)) <= self.most:
                batch.ids.extend(i for i in ids if i not in batch.ids)
                return batch, False
        batch = _Batch()
        batch.ids = list(ids)
        queue.append(batch)
        return batch, True

    def _run(self, key: tuple, batch: _Batch, fetch: Callable[[tuple[str, ...]], dict[str, Any]]) -> None:
        with self._lock:
            batch.closed = True
            asked = tuple(batch.ids)
        try:
            batch.found = fetch(asked)
        except BaseException as exc:  # noqa: BLE001 - every caller gets the outcome; none is left with no answer
            batch.error = exc
        finally:
            with self._lock:
                queue = self._queued.get(key) or []
                if queue:
                    queue.pop(0).turn.set()  # the next batch's leader goes; the key stays busy
                else:
                    self._busy.discard(key)
                    self._queued.pop(key, None)
            batch.done.set()
