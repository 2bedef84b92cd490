"""The sandbox's clock of the race between an interruption notice and the release.

Parts: RELEASE_AFTER (seconds from notice to release per cloud), snapshot_seconds (how long one
disk's snapshot takes from its size, category and whether an earlier snapshot of it exists),
SnapshotTime (the scenario's `snapshot_time:`: each snapshot's duration is the nominal figure times
a factor drawn per disk and snapshot from a seeded, clipped lognormal),
instant_access_seconds (when an Aliyun ESSD snapshot becomes usable while it is still being
made), release_at (the release time of one scenario instance), FIRST_READ / names_instance (a
sample whose notice is given when a call first names it).

Where each figure comes from:

- Aliyun releases a preemptible instance about 5 minutes after the interruption notice
  ("Preemptible instances": the instance is released about 5 minutes after the
  `Instance:PreemptibleInstanceInterruption` event, https://www.alibabacloud.com/help/en/ecs/user-guide/preemptible-instances).
- AWS gives a two-minute warning before it stops or terminates a Spot Instance
  ("Spot Instance interruption notices", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html).
- Snapshot speed: neither cloud publishes a rate. AWS says a snapshot stays `pending` "until all of
  data has been transferred to Amazon S3. This can take several hours ..., depending on the number
  of modified blocks" (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-snapshot.html);
  Alibaba says the first snapshot of a disk is a full one and later ones are incremental. With no
  published rate we take the harsher reading: a first snapshot costs a fixed start plus seconds
  per GiB of the whole disk (a 40 GiB ESSD ≈ 4.5 minutes, longer than half the notice), a later one
  a fixed start plus the changed share of the disk.
- Nobody can predict a snapshot: "There is no way to predict EBS snapshot creation time" (AWS),
  and Alibaba says a first snapshot "takes an extended period of time" depending on the data
  written. So with `snapshot_time:` each snapshot's duration is the nominal figure above times a
  factor drawn per disk and per snapshot from a lognormal of median 1 (`sigma`), clipped to
  [`min_factor`, `max_factor`] (defaults 0.6, 0.5, 3: a heavy right tail, about one snapshot in
  eight past 2× and one in thirty at 3×, one in eight at the 0.5× floor). The draw is keyed by (seed, disk, snapshot number), so the
  same scenario gives each disk the same durations whatever the order of the calls; the responder
  can only learn them by watching. `distribution: fixed` keeps the nominal figure.
- ESSD instant access: "new snapshots of your ESSD series disks are instantly available after
  creation" (CreateSnapshot, https://www.alibabacloud.com/help/en/doc-detail/25524.htm): usable to
  create disks at once. The same page says a snapshot that is not finished "cannot be used to
  create a custom image (CreateImage)" and that a disk released while its snapshot is Creating
  takes that snapshot with it. So instant access speeds up restoring a disk, not the image: an
  image still waits for every snapshot to finish, and a release before then fails the image.
- `notice_at: first_read` (the default scenario's samples): the sandbox cannot see an event reach
  the responder, so the notice is given when a call first names the instance, which a responder
  does as soon as the event arrives. Kinder than the cloud by the event's delivery time (seconds);
  the race packs (realistic-*.yaml) keep numeric notices for that reason.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import Any

from responder.sandbox.stock import ScenarioError

RELEASE_AFTER = {"aliyun": 300.0, "aws": 120.0}
FIRST_READ = "first_read"  # notice_at: the notice is given when a call first names the instance

# (fixed start, seconds per GiB copied) per disk category; ESSDs are the fastest tier.
SNAPSHOT_RATE = {
    "cloud_essd": (20.0, 6.0), "cloud_auto": (20.0, 6.0), "cloud_essd_entry": (25.0, 7.0),
    "cloud_ssd": (30.0, 8.0), "cloud_efficiency": (30.0, 10.0), "cloud": (40.0, 14.0),
    "gp3": (20.0, 6.0), "gp2": (20.0, 7.0), "io1": (15.0, 5.0), "io2": (15.0, 5.0),
    "st1": (30.0, 10.0), "sc1": (40.0, 14.0), "standard": (40.0, 14.0),
}
DEFAULT_RATE = (30.0, 10.0)
CHANGED_SHARE = 0.05  # of the disk written since the last snapshot (an incremental one copies this)
INSTANT_ACCESS = frozenset({"cloud_essd", "cloud_auto", "cloud_essd_entry"})
INSTANT_ACCESS_SECONDS = 10.0  # harsher than "instantly": a few seconds before it can be used


def snapshot_seconds(category: str, size_gib: float, incremental: bool, speed: float = 1.0) -> float:
    """Scenario seconds one disk's snapshot takes; `speed` scales every figure (the scenario's
    `snapshot_speed`)."""
    start, per_gib = SNAPSHOT_RATE.get(category, DEFAULT_RATE)
    copied = size_gib * (CHANGED_SHARE if incremental else 1.0)
    return (start + per_gib * copied) / max(speed, 1e-6)


@dataclass(frozen=True)
class SnapshotTime:
    """How far each snapshot strays from the nominal figure (`snapshot_time:` in the scenario)."""

    distribution: str = "fixed"  # fixed | lognormal
    sigma: float = 0.6
    min_factor: float = 0.5
    max_factor: float = 3.0
    seed: int = 0

    @classmethod
    def parse(cls, raw: Any, scenario_seed: int = 0) -> SnapshotTime:
        """The scenario's `snapshot_time:` (absent: fixed); a bad field is a ScenarioError naming it."""
        if raw is None:
            return cls(seed=scenario_seed)
        if not isinstance(raw, dict):
            raise ScenarioError(f"snapshot_time: must be a mapping such as {{distribution: lognormal, sigma: 0.6, "
                                f"min_factor: 0.5, max_factor: 3, seed: 7}}, not {raw!r}")
        unknown = sorted(set(map(str, raw)) - {"distribution", "sigma", "min_factor", "max_factor", "seed"})
        if unknown:
            raise ScenarioError(f"snapshot_time.{unknown[0]}: not a field; use distribution, sigma, min_factor, "
                                "max_factor, seed")
        distribution = raw.get("distribution", "lognormal")
        if distribution not in ("fixed", "lognormal"):
            raise ScenarioError(f"snapshot_time.distribution: must be lognormal or fixed, not {distribution!r}")
        values = {}
        for key, default in (("sigma", 0.6), ("min_factor", 0.5), ("max_factor", 3.0)):
            value = raw.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                    (key != "sigma" and value <= 0):
                raise ScenarioError(f"snapshot_time.{key}: must be a number above 0, not {value!r}")
            values[key] = float(value)
        if values["min_factor"] > values["max_factor"]:
            raise ScenarioError(f"snapshot_time.min_factor: must not exceed max_factor ({values['max_factor']})")
        seed = raw.get("seed", scenario_seed)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ScenarioError(f"snapshot_time.seed: must be a whole number, not {seed!r}")
        return cls(distribution=distribution, seed=seed, **values)

    def factor(self, disk: str, number: int) -> float:
        """The factor of the disk's `number`-th snapshot (0: its first), the same on every run."""
        if self.distribution == "fixed":
            return 1.0
        digest = hashlib.sha256(f"{self.seed}:{disk}:{number}".encode()).digest()
        draw = random.Random(int.from_bytes(digest[:8], "big")).gauss(0.0, 1.0)
        return min(self.max_factor, max(self.min_factor, math.exp(self.sigma * draw)))


def instant_access_seconds(category: str) -> float | None:
    """When an instant-access snapshot can be used to create a disk; None: only when finished."""
    return INSTANT_ACCESS_SECONDS if category in INSTANT_ACCESS else None


def release_at(cloud: str, inst: dict[str, Any], scenario_raw: dict[str, Any]) -> float | None:
    """Scenario time an interrupted instance goes away: its `notice_at` (default 0) plus its
    `release_after` (default the scenario's `release_after_seconds`, else the cloud's figure).
    None for an instance that has no notice, or when the scenario sets release_after_seconds: null,
    or whose notice waits for its first read (`notice_at: first_read`, not yet named by a call)."""
    if inst.get("notice_at") == FIRST_READ:
        return None
    interrupted = "Recycling" in (inst.get("locks") or []) or bool(inst.get("spot_marked") or inst.get("notice_at") is not None)
    if not interrupted:
        return None
    default = scenario_raw.get("release_after_seconds", RELEASE_AFTER[cloud])
    after = inst.get("release_after", default)
    if after is None:
        return None
    return float(inst.get("notice_at", 0.0)) + float(after)


def names_instance(params: dict[str, str], instance_id: str) -> bool:
    """Whether a call's parameters name the instance (InstanceId, InstanceIds=["..."],
    InstanceId.1, ...): what arms a `notice_at: first_read` sample."""
    return any(instance_id in str(value) for value in params.values())
