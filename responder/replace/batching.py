"""Reads of many tasks in one call: the executor groups a round's batchable calls by (cloud,
region, verb) and makes one call per group, up to the API's own page size.

Parts: BatchRead (how one verb is read for many tasks at once), BATCHED (verb → BatchRead),
group (a round's calls → groups of batchable calls, and the calls that go alone).

A BatchRead takes the cloud port, the region and the round's (task, call) pairs of one group, and
returns one answer (or the error the adapter classified) per pair, in order. A group's call is one
API call through the budget, so a wave's reads cost a few calls, not one per task. Writes never
batch: each carries its own token from its task's claim key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from responder.replace.calls import Call
from responder.replace.record import Task


@dataclass(frozen=True)
class BatchRead:
    read: Callable[[Any, str, list[tuple[Task, Call]]], list[Any]]  # (cloud, region, pairs) → answers
    most: int = 100  # the API's largest page of ids


BATCHED: dict[str, BatchRead] = {}


def group(pairs: list[tuple[Task, Call]]) -> tuple[list[list[int]], list[int]]:
    """(groups, singles): indices into `pairs`, each group one (cloud, region, verb) of at most
    `most` calls, in the order the calls came (the caller orders them by priority)."""
    groups: dict[tuple[str, str, str], list[list[int]]] = {}
    singles: list[int] = []
    for i, (task, call) in enumerate(pairs):
        spec = BATCHED.get(call.verb)
        if spec is None:
            singles.append(i)
            continue
        chunks = groups.setdefault((task.cloud, task.region, call.verb), [[]])
        if len(chunks[-1]) >= spec.most:
            chunks.append([])
        chunks[-1].append(i)
    return [chunk for chunks in groups.values() for chunk in chunks], singles
