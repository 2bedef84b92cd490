"""What the cloud really holds for each target, read in a few listings per region.

Parts: LIVE_RESERVATION_STATES, LIVE_INSTANCE_STATES, Held (one target's reservations and
instances, and what counts), Inventory (read: one reservation listing and at most two instance
listings per cloud and region, grouped by the target tag; `calls` counts them).

Nothing here trusts a counter: a reservation that expired, was cancelled or failed is listed with
its state and counts as gone; an instance counts while pending or running. An instance made
before the responder (no target tag) is found by its Name.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from responder.clouds.base import TOKEN_TAG, InstanceSummary, Reservation
from responder.errors import CloudError
from responder.targets.model import TARGET_TAG
from responder.targets.table import TargetRow

# AWS: pending = being provisioned, it will hold capacity; scheduled / assessing reservations are
# future-dated and hold nothing yet (the harsher reading: not counted). Aliyun: Pending,
# Preparing and Prepared pools are on their way; Released is gone.
LIVE_RESERVATION_STATES = frozenset({"active", "pending", "preparing", "prepared"})
LIVE_INSTANCE_STATES = frozenset({"pending", "running"})


@dataclass
class Held:
    reservations: list[Reservation] = field(default_factory=list)
    instances: list[InstanceSummary] = field(default_factory=list)
    error: CloudError | None = None  # the listing failed: do not act on this target this tick

    def live_reservations(self) -> list[Reservation]:
        return sorted((r for r in self.reservations if r.state in LIVE_RESERVATION_STATES),
                      key=lambda r: (r.created_at, r.reservation_id))

    def live_instances(self) -> list[InstanceSummary]:
        return [i for i in self.instances if i.state in LIVE_INSTANCE_STATES]

    def count(self, kind: str) -> int:
        if kind == "reservation":
            return sum(r.total for r in self.live_reservations())
        return len(self.live_instances())

    def totals(self, kind: str) -> dict[str, int]:
        """What each holding the engine may name holds now: reservation id → total, or launch
        token → live instances carrying it."""
        if kind == "reservation":
            return {r.reservation_id: r.total for r in self.live_reservations()}
        return dict(Counter(dict(i.tags).get(TOKEN_TAG, i.instance_id) for i in self.live_instances()))

    def summary(self, kind: str) -> list[dict]:
        if kind == "reservation":
            return [{"id": r.reservation_id, "type": r.instance_type, "zone": r.zone, "total": r.total,
                     "state": r.state} for r in sorted(self.reservations, key=lambda r: r.created_at)][-20:]
        return [{"id": i.instance_id, "type": i.instance_type, "zone": i.zone, "state": i.state}
                for i in self.instances][-20:]


class Inventory:
    def __init__(self, clouds: dict):
        self.clouds = clouds
        self.calls: Counter = Counter()  # (cloud, region, kind) → listings made

    def read(self, rows: list[TargetRow]) -> dict[str, Held]:
        held: dict[str, Held] = {r.target.name: Held() for r in rows}
        groups: dict[tuple[str, str, str], list[TargetRow]] = defaultdict(list)
        for r in rows:
            groups[(r.target.cloud, r.target.region, r.target.kind)].append(r)
        for (cloud_name, region, kind), members in groups.items():
            cloud = self.clouds.get(cloud_name)
            try:
                if cloud is None:
                    raise CloudError("NotConfigured", f"no {cloud_name} credentials are configured")
                if kind == "reservation":
                    self._reservations(cloud, region, members, held)
                else:
                    self._instances(cloud, region, members, held)
            except CloudError as exc:
                for r in members:
                    held[r.target.name].error = exc
        return held

    def _reservations(self, cloud, region: str, members: list[TargetRow], held: dict[str, Held]) -> None:
        self.calls[(cloud.cloud, region, "reservation")] += 1
        if cloud.cloud == "aws":
            listed = cloud.list_reservations(region, state="", only_ours=True)
        else:
            listed = cloud.list_reservations(region, status="")
        names = {r.target.name for r in members}
        for res in listed:
            owner = dict(res.tags).get(TARGET_TAG)
            if owner in names:
                held[owner].reservations.append(res)

    def _instances(self, cloud, region: str, members: list[TargetRow], held: dict[str, Held]) -> None:
        names = {r.target.name for r in members}
        self.calls[(cloud.cloud, region, "instances")] += 1
        seen = set()
        for inst in cloud.list_instances(region, tag_key=TARGET_TAG):
            owner = dict(inst.tags).get(TARGET_TAG)
            if owner in names:
                held[owner].instances.append(inst)
                seen.add(inst.instance_id)
        legacy = {r.target.launch.name: r.target.name for r in members
                  if r.target.launch.name and not r.target.launch.once}
        if legacy:  # ECS filters one InstanceName per call
            self.calls[(cloud.cloud, region, "instances")] += 1 if cloud.cloud == "aws" else len(legacy)
            for inst in cloud.list_instances(region, names=tuple(legacy)):
                if inst.instance_id not in seen and inst.name in legacy and TARGET_TAG not in dict(inst.tags):
                    held[legacy[inst.name]].instances.append(inst)
