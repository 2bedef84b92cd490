"""Learned build times: how long images and launches really took here, so the plan never reads
the cloud's (or the emulator's) figures.

Parts: build_times (the table), Belief (what the plan believed: estimate, quantile, samples, from
observations or the prior), size_bucket, family_of, prior_image_seconds, BuildTimes (observe_image,
observe_boot, image_belief, boot_belief over the store's engine), believe (fill a task's record
with its beliefs), observe_image / observe_boot (a finished image / launch adds an observation and
writes what happened beside what was believed), image_timeout (the wait for a fresh image,
from the belief rather than a fixed figure).

Neither cloud publishes a snapshot rate: "There is no way to predict EBS snapshot creation time"
(AWS re:Post, EBS snapshots), and Alibaba Cloud's *Snapshot overview* says a disk's first snapshot
is full and "takes an extended period of time", depending on the data written. So each finished
image adds one observation keyed by (cloud, region, disk category, size bucket, first or
incremental) of its largest disk (disks are snapshotted together: the largest decides), and each
replacement that reaches Running one by (cloud, region, instance family). The plan uses the p90 of
the last OBSERVATIONS of a key — a high quantile, because a late image costs the whole race while
an early one costs a reboot — and until MIN_SAMPLES are there, a harsh prior:

- a first snapshot copies the whole disk at PRIOR_GIB_PER_S (30 MiB/s: a 40 GiB disk ~23 min,
  500 GiB ~4.7 h; the EBS guide's "several hours" for a large first snapshot), plus PRIOR_START_S;
- an incremental one copies PRIOR_CHANGED_SHARE (20 %) of the disk at that rate: a stated choice,
  harsher than a quiet disk;
- a launch reaches Running in RESPONDER_LAUNCH_RUNNING_SECONDS (180 s by default): no cloud
  publishes a boot time; a stated, harsh choice (tens of seconds is common).

One observation per task and kind (a unique key on the claim key): a retried observer, a replayed
answer or a resumed task never counts twice.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from responder.replace.record import Belief, KeptDisk, Task
from responder.store import metadata
from responder.store_connect import unavailable_on_error

QUANTILE = 0.9
OBSERVATIONS = 30  # the last N of a key: a region's speed drifts, old figures age out
MIN_SAMPLES = 5  # fewer than this and the prior holds: one lucky image must not make the plan wait
PRIOR_START_S = 60.0
PRIOR_S_PER_GIB = 1024 / 30  # 30 MiB/s
PRIOR_CHANGED_SHARE = 0.2
TIMEOUT_FACTOR = 2.0  # an image is given up on only past twice its belief (image_timeout)
DEFAULT_SYSTEM_DISK = {"aliyun": ("cloud_essd", 40), "aws": ("gp3", 8)}  # when the disks could not be read

build_times = sa.Table(
    "responder_build_times",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("claim_key", sa.String(255), nullable=False),  # the task that observed it: once per task and kind
    sa.Column("kind", sa.String(16), nullable=False),  # image | boot
    sa.Column("cloud", sa.String(16), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),  # image: the disk category; boot: the instance family
    sa.Column("size_bucket", sa.Integer, nullable=False),  # image: GiB bucket upper bound; boot: 0
    sa.Column("incremental", sa.Boolean, nullable=False),
    sa.Column("seconds", sa.Double, nullable=False),
    sa.Column("observed_at", sa.Double, nullable=False),
    sa.UniqueConstraint("claim_key", "kind", name="uq_responder_build_times_claim"),
    sa.Index("ix_responder_build_times_key", "kind", "cloud", "region", "category", "size_bucket", "incremental",
             "observed_at"),
)
cols = build_times.c


def size_bucket(size_gib: int) -> int:
    """The GiB bucket's upper bound: powers of two from 16 (a 40 GiB disk is in the <=64 bucket)."""
    return max(16, 2 ** math.ceil(math.log2(max(1, size_gib))))


def family_of(instance_type: str) -> str:
    """ecs.g7.large → ecs.g7; m5.xlarge → m5; VM.Standard.E4.Flex → VM.Standard.E4."""
    return instance_type.rsplit(".", 1)[0] if "." in instance_type else instance_type


def prior_image_seconds(size_gib: int, incremental: bool) -> float:
    return PRIOR_START_S + PRIOR_S_PER_GIB * size_gib * (PRIOR_CHANGED_SHARE if incremental else 1.0)


def _quantile(values: list[float], q: float) -> float:
    """Nearest rank: a value that was really observed, never an interpolation below it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def governing_disk(disks: list[KeptDisk], cloud: str) -> KeptDisk:
    """The largest disk decides an image's time (its disks are snapshotted together)."""
    if not disks:
        category, size = DEFAULT_SYSTEM_DISK.get(cloud, ("cloud_essd", 40))
        return KeptDisk("", "system", category, size, "")
    return max(disks, key=lambda d: d.size_gib)


class BuildTimes:
    """The table, read and written in short transactions on the store's engine."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time):
        self.engine, self.clock = engine, clock

    @unavailable_on_error("build times")
    def _add(self, claim_key: str, kind: str, cloud: str, region: str, category: str, bucket: int,
             incremental: bool, seconds: float) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(build_times.insert().values(
                    claim_key=claim_key, kind=kind, cloud=cloud, region=region, category=category,
                    size_bucket=bucket, incremental=incremental, seconds=float(seconds), observed_at=self.clock()))
        except IntegrityError:
            pass  # this task already said it: one observation per task and kind

    @unavailable_on_error("build times")
    def _last(self, kind: str, cloud: str, region: str, category: str, bucket: int, incremental: bool) -> list[float]:
        query = (sa.select(cols.seconds)
                 .where(cols.kind == kind, cols.cloud == cloud, cols.region == region, cols.category == category,
                        cols.size_bucket == bucket, cols.incremental == incremental)
                 .order_by(cols.observed_at.desc(), cols.id.desc()).limit(OBSERVATIONS))
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def observe_image(self, claim_key: str, cloud: str, region: str, disk: KeptDisk, incremental: bool,
                      seconds: float) -> None:
        self._add(claim_key, "image", cloud, region, disk.category, size_bucket(disk.size_gib), incremental, seconds)

    def observe_boot(self, claim_key: str, cloud: str, region: str, instance_type: str, seconds: float) -> None:
        self._add(claim_key, "boot", cloud, region, family_of(instance_type), 0, False, seconds)

    def image_belief(self, cloud: str, region: str, disks: list[KeptDisk], incremental: bool) -> Belief:
        """The slowest disk's belief: each disk's p90 when its key has enough samples, else its prior."""
        worst: Optional[Belief] = None
        for disk in disks or [governing_disk([], cloud)]:
            bucket = size_bucket(disk.size_gib)
            key = (f"{cloud}/{region} {disk.category} <={bucket} GiB {'incremental' if incremental else 'first'}")
            seen = self._last("image", cloud, region, disk.category, bucket, incremental)
            belief = (Belief(_quantile(seen, QUANTILE), QUANTILE, len(seen), "observed", key)
                      if len(seen) >= MIN_SAMPLES else
                      Belief(prior_image_seconds(disk.size_gib, incremental), 0.0, len(seen), "prior", key))
            if worst is None or belief.estimate_s > worst.estimate_s:
                worst = belief
        return worst

    def boot_belief(self, cloud: str, region: str, instance_type: str, prior_s: float) -> Belief:
        family = family_of(instance_type)
        seen = self._last("boot", cloud, region, family, 0, False)
        key = f"{cloud}/{region} {family}"
        if len(seen) >= MIN_SAMPLES:
            return Belief(_quantile(seen, QUANTILE), QUANTILE, len(seen), "observed", key)
        return Belief(prior_s, 0.0, len(seen), "prior", key)


def prior_only(cloud: str, disks: list[KeptDisk], incremental: bool, boot_prior_s: float) -> tuple[Belief, Belief]:
    """Without a store (a dry run, a unit test): the priors alone."""
    disk = governing_disk(disks, cloud)
    return (Belief(prior_image_seconds(disk.size_gib, incremental), 0.0, 0, "prior", f"{cloud} {disk.category}"),
            Belief(boot_prior_s, 0.0, 0, "prior", cloud))


def _replacement_type(task: Task) -> str:
    """The type the replacement will most likely be: the planner's first candidate, else the original's."""
    candidates = task.record.plan.candidates or []
    if candidates:
        return candidates[0].instance_type
    return task.record.source.instance_type if task.record.source else ""


def believe(times: Optional[BuildTimes], task: Task, boot_prior_s: float) -> None:
    """Before the launch policy is chosen: what this task believes its image and its launch will take."""
    race = task.record.race
    incremental = bool(race.latest_image_id)
    if times is None:
        race.image_belief, race.boot_belief = prior_only(task.cloud, race.disks, incremental, boot_prior_s)
    else:
        race.image_belief = times.image_belief(task.cloud, task.region, race.disks, incremental)
        race.boot_belief = times.boot_belief(task.cloud, task.region, _replacement_type(task), boot_prior_s)
    race.image_estimate_s = round(race.image_belief.estimate_s, 1)


def image_timeout(task: Task, setting_s: float) -> float:
    """How long to wait for the fresh image before giving up: RESPONDER_IMAGE_TIMEOUT_SECONDS, or
    twice what this task believes its image takes when that is longer — a 500 GiB first snapshot
    is hours, and no fixed figure (least of all one sized from our own pack) covers every disk."""
    believed = task.record.race.image_estimate_s or 0.0
    return max(setting_s, TIMEOUT_FACTOR * believed)


def observe_image(times: Optional[BuildTimes], task: Task, now: float) -> None:
    """The fresh image is Available: how long it took (from the progress figure when the cloud gave
    one, else the midpoint between the last "creating" answer and this one, else the whole wait —
    an upper bound, the harsher figure to learn), into the record and the table."""
    record = task.record
    requested = record.timings.get("image_requested")
    if requested is None or record.race.observed_image_s is not None:
        return
    waited = now - requested
    image = record.image
    if image.total_estimate is not None:
        took = min(waited, image.total_estimate)
    elif image.last_creating_after is not None:
        took = (image.last_creating_after + waited) / 2
    else:
        took = waited
    record.race.observed_image_s = round(took, 1)
    if times is not None:
        disk = governing_disk(record.race.disks, task.cloud)
        times.observe_image(task.key, task.cloud, task.region, disk, bool(record.race.latest_image_id), took)


def observe_boot(times: Optional[BuildTimes], task: Task, now: float) -> None:
    """The replacement is Running: launch issued → Running, into the record and the table."""
    launch = task.record.launch
    if launch.launched_at is None or task.record.race.observed_boot_s is not None:
        return
    took = max(0.0, now - launch.launched_at)
    task.record.race.observed_boot_s = round(took, 1)
    instance_type = launch.replacement.instance_type if launch.replacement else _replacement_type(task)
    if times is not None and instance_type:
        times.observe_boot(task.key, task.cloud, task.region, instance_type, took)
