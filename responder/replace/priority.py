"""Which call goes first when the API budget cannot admit every call of a round.

Parts: SAVES_DATA (verbs that keep the original's data from going with it), BUYS (verbs that hold
capacity), priority (the sort key of one task's call: what it does, then how soon its original
is released — earliest release first).

The budget is per (cloud, region, API class) and shared by every task in the process; when calls
must wait, a task whose original is released sooner goes first, and within the same release time
the calls that save data (CreateImage, protecting the disks, converting the public IP) go before
the ones that buy capacity, which go before everything else (reads last). Pure: no clock, no cloud.
"""

from __future__ import annotations

import math

from responder.model import NOTICE_SECONDS
from responder.replace.calls import Call
from responder.replace.record import Task

SAVES_DATA = frozenset({"create_image", "keep_disks", "convert_public_ip"})
BUYS = frozenset({"acquire_replacement", "reserve"})


def release_expected(task: Task) -> float:
    """When the original is expected to go: the race's figure once known, else the notice time
    (or receipt) plus the cloud's notice."""
    race, timings = task.record.race, task.record.timings
    if race.release_expected_at is not None:
        return race.release_expected_at
    start = task.record.event.notice_at if task.record.event.notice_at is not None else timings.get("received", 0.0)
    return start + NOTICE_SECONDS.get(task.cloud, 120.0)


def priority(task: Task, call: Call) -> tuple:
    rank = 0 if call.verb in SAVES_DATA else 1 if call.verb in BUYS else 2
    # A move back to spot has no release to beat: it goes after every interruption's calls.
    release = math.inf if task.record.revert is not None else release_expected(task)
    return (release, rank, task.id)
