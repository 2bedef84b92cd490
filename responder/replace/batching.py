"""Reads of many tasks in one call: the executor groups a round's batchable calls by (cloud,
region, verb) and makes one call per group, up to the API's own page size.

Parts: POLL_GRID_S / on_grid (where a task's wait ends, so a wave's polls coincide), Arrivals
(whether a notice comes in a wave), BatchRead
(how one verb is read for many tasks at once), BATCHED (verb → BatchRead),
group (a round's calls → groups of batchable calls, and the calls that go alone), and the
readers: instances, images, states, disk states, disks of instances, latest images, clone details;
expect_ahead (the instance facts a wave reads ahead, AHEAD_FRESH_S / AHEAD_WATCH_S).

A BatchRead takes the cloud port, the region and the round's (task, call) pairs of one group, and
returns one answer (or the error the adapter classified) per pair, in order. A group's call is one
API call through the budget (the adapters' many-id verbs: clouds/aliyun_batch.py, aws_batch.py),
so a wave's reads cost a few calls, not one per task. Writes never batch: each carries its own
token from its task's claim key. A verb is here only when its answer for one task does not depend
on which other tasks asked with it (ids the cloud does not know are absent, not an error).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from responder.errors import NotFound
from responder.replace.calls import Call
from responder.replace.image_polls import SETTLED_MAX_POLL_S, SETTLED_POLL_S
from responder.replace.priority import priority
from responder.replace.record import Task
from responder.replace.wave_reads import SINCE_ASKED_S, WaveReads

PAGE = 100  # ids per call: the most DescribeInstances / DescribeImages / DescribeDisks take on both clouds
# Waits end on a grid, so the polls of a wave's tasks fall due in the same tick and go as one call
# per verb. ECS advises status checks 1-2 s apart ("API throttling" / 流量控制: aggregate requests,
# poll no more than needed); a poll waits at most this much longer than its step asked.
POLL_GRID_S = 1.0


WAVE_WINDOW_S = 2.0  # notices this close together in one region are a wave: their reads are shared
# Waits for company in a row that no other notice joined before a notice stops waiting: the sender
# posts one notice at a time (a queue's consumer, a replay), each arriving within WAVE_WINDOW_S of the
# last yet never beside it, and each wait would cost it the linger in full for nothing.
LONELY_LINGERS = 2


@dataclass(frozen=True)
class Arrival:
    in_a_wave: bool  # another notice of the cloud and region arrived within WAVE_WINDOW_S
    may_linger: bool  # its verification may wait for company (group_reads.lingering)


class Arrivals:
    """Whether a notice comes in a wave: another of the same cloud and region arrived here within
    WAVE_WINDOW_S. Then the request works its task up to CreateImage and leaves the reads to the
    tick, which makes them with the wave's; a lone notice is worked through (its answer shows the plan).

    Whether it waits for company: in a wave, unless LONELY_LINGERS waits in a row found none (a
    sender posting one at a time, whatever the regions it names) and no notice of its region is
    being worked beside it as it arrives. A notice that arrives beside another, or a pause longer
    than the wave window between any two notices, starts the waits again."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._seen: dict[tuple[str, str], int] = {}  # notices that arrived, counted
        self._working: dict[tuple[str, str], int] = {}  # notices being worked now
        self._lonely = 0  # waits in a row that no notice joined, in any region: the sender's habit
        self._latest: float | None = None  # the last notice's arrival, in any region
        self._lock = threading.Lock()

    @contextmanager
    def arrive(self, cloud: str, region: str, now: float) -> Iterator[Arrival]:
        """The notice's arrival, held while its request works it."""
        key = (cloud, region)
        with self._lock:
            last, self._last[key] = self._last.get(key), now
            wave = last is not None and now - last <= WAVE_WINDOW_S
            if self._latest is None or now - self._latest > WAVE_WINDOW_S:
                self._lonely = 0
            self._latest = now
            beside = self._working.get(key, 0) > 0
            linger = wave and (beside or self._lonely < LONELY_LINGERS)
            self._seen[key] = seen = self._seen.get(key, 0) + 1
            self._working[key] = self._working.get(key, 0) + 1
        try:
            yield Arrival(wave, linger)
        finally:
            with self._lock:
                self._working[key] -= 1
                if linger:
                    joined = beside or self._seen[key] != seen
                    self._lonely = 0 if joined else self._lonely + 1


def on_grid(at: float) -> float:
    """`at` moved up to the next multiple of POLL_GRID_S."""
    return math.ceil(at / POLL_GRID_S - 1e-9) * POLL_GRID_S


@dataclass(frozen=True)
class BatchRead:
    read: Callable[[Any, str, list[tuple[Task, Call]], WaveReads], list[Any]]  # (cloud, region, pairs, wave)
    most: int = PAGE  # the API's largest page of ids


def group(pairs: list[tuple[Task, Call]]) -> tuple[list[list[int]], list[int]]:
    """(groups, singles): indices into `pairs`, each group one (cloud, region, reader) of at most
    `most` calls, in the order the calls came (the caller orders them by priority)."""
    groups: dict[tuple[str, str, Any], list[list[int]]] = {}
    singles: list[int] = []
    for i, (task, call) in enumerate(pairs):
        spec = BATCHED.get(call.verb)
        if spec is None:
            singles.append(i)
            continue
        # By reader, not by verb: a round's describe_image and check_image (or its three state
        # polls) are one kind of read, and go as one call.
        chunks = groups.setdefault((task.cloud, task.region, spec.read), [[]])
        if len(chunks[-1]) >= spec.most:
            chunks.append([])
        chunks[-1].append(i)
    return [chunk for chunks in groups.values() for chunk in chunks], singles


def _pages(ids: list[str]) -> list[tuple[str, ...]]:
    ids = list(dict.fromkeys(ids))
    return [tuple(ids[start:start + PAGE]) for start in range(0, len(ids), PAGE)]


def _union(fetch: Callable[[tuple[str, ...]], dict], ids: list[str]) -> dict:
    found: dict = {}
    for page in _pages(ids):
        found.update(fetch(page))
    return found


def _instances(cloud, region: str, pairs: list[tuple[Task, Call]], wave: WaveReads) -> list[Any]:
    """Verification (and the source read): the wave's requests verifying at the same moment share
    one call (group_reads.py); never an answer older than the call, so a verdict is always fresh."""
    found = wave.together.read(("instances", cloud.cloud, region), [task.instance_id for task, _ in pairs],
                               lambda page: cloud.describe_instances(region, page), rank=priority(*pairs[0]))
    return [found.get(task.instance_id) or NotFound("InvalidInstanceId.NotFound",
                                                    f"instance {task.instance_id} not found in {region}",
                                                    "DescribeInstances")
            for task, _ in pairs]


# An image stays watched across its task's slowest poll (settled: up to SETTLED_MAX_POLL_S apart):
# a wave's polls of one minute cluster within seconds, and the first call of the cluster must read
# the images polled a minute ago too, or each beat of the cluster makes its own call.
IMAGE_WATCH_S = 1.5 * SETTLED_MAX_POLL_S


def _images(cloud, region: str, pairs: list[tuple[Task, Call]], wave: WaveReads) -> list[Any]:
    """Every image the wave is building is read with these (wave_reads.py). When every asking task
    holds its replacement already, an answer up to SETTLED_POLL_S old will do; any poll takes an
    answer read since its own last one (a poll is a look at a moment within its own interval)."""
    settled = all(task.record.launch.replacement_ids for task, _ in pairs)
    found = wave.read("images", cloud.cloud, region, [call.args["image_id"] for _, call in pairs],
                      lambda page: cloud.describe_images(region, page), lambda image: image.state != "creating",
                      fresh_s=SETTLED_POLL_S if settled else None, since_asked_s=SINCE_ASKED_S, watch_s=IMAGE_WATCH_S)
    return [found.get(call.args["image_id"]) or NotFound("InvalidImageId.NotFound",
                                                         f"image {call.args['image_id']} not found in {region}",
                                                         "DescribeImages")
            for _, call in pairs]


def _launch_images(cloud, region: str, pairs: list[tuple[Task, Call]], wave: WaveReads) -> list[Any]:
    """check_launch_image: the older image a launch would use, None when it no longer exists."""
    return [None if isinstance(answer, NotFound) else answer for answer in _images(cloud, region, pairs, wave)]


def _states(cloud, region: str, pairs: list[tuple[Task, Call]], wave: WaveReads) -> list[Any]:
    """instance_states / original_state: {id: state} of the ids each call named (absent: gone).
    Every instance the wave waits on (replacements to run, originals to go) is read with these; a
    poll takes an answer read since its own last one, as for images."""
    states = wave.read("states", cloud.cloud, region, [i for _, call in pairs for i in call.args["instance_ids"]],
                       lambda page: cloud.instance_states(region, list(page)), lambda state: False,
                       since_asked_s=SINCE_ASKED_S)
    return [{i: states[i] for i in call.args["instance_ids"] if i in states} for _, call in pairs]


def _disk_states(cloud, region: str, pairs: list[tuple[Task, Call]], wave: WaveReads) -> list[Any]:
    found = _union(lambda page: {d.disk_id: d for d in cloud.describe_disks(region, disk_ids=page)},
                   [d for _, call in pairs for d in call.args["disk_ids"]])
    return [{d: found.get(d) for d in call.args["disk_ids"]} for _, call in pairs]


# Reads ahead (Capabilities.reads_ahead): a wave's CreateImage calls wait for their API bucket
# (EC2: 50, then 5 a second), and each task reads its disks, its earlier AMIs and its Elastic IP
# right after its own; read in the rounds of the tasks that got through, each would cost a call per
# handful of tasks. The executor expects them (expect_ahead) when a task first asks for its
# CreateImage, and the first read of a kind also reads up to a page of the expected instances.
# An answer serves its task for AHEAD_FRESH_S (a page of 100 at 5 CreateImage a second is used
# within 20 s); an expected id stays watched for AHEAD_WATCH_S (the wave's last CreateImage,
# 90 s after the first at 500, and the two-minute notice).
AHEAD_FRESH_S = 30.0
AHEAD_WATCH_S = 180.0
_AHEAD_KINDS = {"describe_disks": "disks of", "latest_image": "latest image", "elastic_ip": "elastic ip"}


def expect_ahead(cloud, wave: WaveReads, task: Task) -> None:
    """This task will soon read its disks, its earlier AMIs and its Elastic IP: watch them."""
    for verb in cloud.capabilities.reads_ahead:
        wave.expect(_AHEAD_KINDS[verb], task.cloud, task.region, [task.instance_id])
    if "describe_disks" not in cloud.capabilities.reads_ahead and task.record.source is not None:
        # Counted, not read ahead: how many will soon want the zone's listing (_disks_of).
        wave.expect(f"disks in {task.record.source.zone}", task.cloud, task.region, [task.instance_id])


def _ahead(cloud, region: str, verb: str, wave: WaveReads, ids: list[str], fetch: Callable) -> dict:
    """{id: answer} of one instance fact, read with the expected instances' when the cloud reads it
    for many at once; else one union of pages of the asked ids."""
    if verb not in cloud.capabilities.reads_ahead:
        return _union(fetch, ids)
    return wave.read(_AHEAD_KINDS[verb], cloud.cloud, region, ids, fetch, lambda answer: True,
                     fresh_s=AHEAD_FRESH_S, watch_s=AHEAD_WATCH_S, once=True)


# A zone's disk listing serves the originals verified before it was read for this long: at 500
# the tasks past ECS's CreateImage window come back a few a second, each round smaller than the
# listing's pages; within this they take the listing instead of one DescribeDisks each. Not longer:
# an original released since the listing took its disks with it, and keeping a disk that no longer
# exists fails the task (150 s did, in tests/test_image_when_capped.py).
ZONE_LISTING_FRESH_S = 30.0


def _disks_of(cloud, region: str, pairs: list[tuple[Task, Call]], wave: WaveReads) -> list[Any]:
    """The disks of each original: read ahead with the wave's expected instances where the cloud
    reads many at once (reads_ahead), else per zone (a wave is one zone: where the API filters disks
    by one instance, the zone's listing serves them all, and serves the next rounds a while)."""
    if "describe_disks" in cloud.capabilities.reads_ahead:
        ids = [call.args["instance_id"] for _, call in pairs]
        found = _ahead(cloud, region, "describe_disks", wave, ids, lambda page: cloud.disks_of(region, page))
        return [found.get(call.args["instance_id"], []) for _, call in pairs]
    by_zone: dict[str, list[tuple[Task, Call]]] = {}
    for task, call in pairs:
        by_zone.setdefault(task.record.source.zone if task.record.source is not None else "", []).append((task, call))
    found = {}
    for zone, zone_pairs in by_zone.items():
        ids = tuple(dict.fromkeys(call.args["instance_id"] for _, call in zone_pairs))
        key = ("zone disks", cloud.cloud, region, zone)
        # Verified after the listing was read, a task reads its own: an original's disks are
        # read no earlier than its notice was confirmed, as its own read would be.
        verified = max(task.record.timings.get("verified", wave.clock()) for task, _ in zone_pairs)
        listed = wave.listing(key, verified, ZONE_LISTING_FRESH_S) if zone else None
        wave.settle(f"disks in {zone}", cloud.cloud, region, ids)
        if listed is not None:
            found.update({i: [d for d in listed if d.instance_id == i] for i in ids})
            continue
        soon = wave.expected(f"disks in {zone}", cloud.cloud, region, ZONE_LISTING_FRESH_S) if zone else 0
        found.update(cloud.disks_of(region, ids, zone=zone, soon=soon,
                                    on_listing=lambda disks, key=key: wave.keep_listing(key, disks)))
    return [found.get(call.args["instance_id"], []) for _, call in pairs]


def _latest(cloud, region: str, pairs: list[tuple[Task, Call]], wave: WaveReads) -> list[Any]:
    ids = [call.args["instance_id"] for _, call in pairs]
    found = _ahead(cloud, region, "latest_image", wave, ids, lambda page: cloud.latest_images(region, page))
    return [found.get(call.args["instance_id"], "") for _, call in pairs]


def _system_disk_known(task: Task):
    """The source with its system disk filled from the disks the race already read (Aliyun's
    DescribeDisks takes one instance: a second read of the same disk would cost a call per task)."""
    disk = next((d for d in task.record.race.disks if d.kind == "system"), None) if task.record.race.disks_read else None
    if disk is None:
        return None
    return dataclasses.replace(task.record.source, system_disk_category=disk.category, system_disk_size=disk.size_gib)


def _clone_details(cloud, region: str, pairs: list[tuple[Task, Call]], wave: WaveReads) -> list[Any]:
    """One part for many instances: one call where the API takes many ids (RAM roles, EIPs)."""
    answers: list[Any] = [None] * len(pairs)
    by_part: dict[str, list[int]] = {}
    for n, (task, call) in enumerate(pairs):
        known = _system_disk_known(task) if call.args["part"] == "system_disk" else None
        if known is not None:
            answers[n] = known
        else:
            by_part.setdefault(call.args["part"], []).append(n)
    if "elastic_ip" in by_part and "elastic_ip" in cloud.capabilities.reads_ahead:
        indices = by_part.pop("elastic_ip")
        found = _ahead(cloud, region, "elastic_ip", wave, [pairs[n][0].instance_id for n in indices],
                       lambda page: cloud.elastic_ips_of(region, page))
        for n in indices:
            task = pairs[n][0]
            answers[n] = dataclasses.replace(task.record.source, elastic_ip_allocation=found.get(task.instance_id, ""))
    for part, indices in by_part.items():
        infos = tuple(pairs[n][0].record.source for n in indices)
        found = cloud.clone_details_many(region, infos, part)
        for n in indices:
            answers[n] = found[pairs[n][0].instance_id]
    return answers


BATCHED: dict[str, BatchRead] = {
    "describe_instance": BatchRead(_instances),
    "describe_image": BatchRead(_images),
    "check_image": BatchRead(_images),
    "instance_states": BatchRead(_states),
    "original_state": BatchRead(_states),
    "replacement_state": BatchRead(_states),
    "check_launch_image": BatchRead(_launch_images),
    "disk_states": BatchRead(_disk_states),
    "describe_disks": BatchRead(_disks_of),
    "latest_image": BatchRead(_latest),
    "clone_details": BatchRead(_clone_details),
}
