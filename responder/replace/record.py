"""The typed, versioned task record: everything one replacement has learned, in one place.

Parts: SCHEMA_VERSION, EventFacts, ImageState, Plan (with the churn guard's verdict), LaunchState,
Reserved, ReservationState, KeptDisk, RaceState (the race against the release: kept disks, launch
policy, release seen, EIP), RevertFacts (a move back to spot), RetryState, Note, Costs (from
replace/costs.py: the original's and the purchase's hourly prices), TaskRecord (to_json / from_json:
the only place the record is serialised), Task
(a task row with its record, what the flow works on); the record is kept as JSON by the small
generic codec of record_codec.py.

The record is stored as JSON in the task row's `data` column. No other module reads or writes
that JSON: they work on these dataclasses. A record written by an older schema is upgraded in
`TaskRecord.from_json` (one function per version step), so a task in flight survives a deploy.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from responder.capacity.engine import LedgerEntry
from responder.clouds.base import InstanceInfo, LaunchRequest
from responder.model import Offering
from responder.replace.churn import ChurnVerdict
from responder.replace.costs import Costs
from responder.replace.planner import Candidate
from responder.replace.record_codec import decode, encode
from responder.store import TaskRow

SCHEMA_VERSION = 3


@dataclass
class EventFacts:
    """What the delivery said (not verified): kept for the operator and the notice deadline."""

    account: str = ""
    event_id: str = ""
    event_time: str = ""
    shape: str = ""
    detail: dict[str, str] = field(default_factory=dict)
    # The notice's own time (CloudMonitor eventTime, EventBridge time) as epoch seconds, when the
    # event carried one: the release is counted from it, so a late delivery shortens the race.
    notice_at: Optional[float] = None


@dataclass
class ImageState:
    name: str = ""
    token: str = ""
    image_id: str = ""
    polls: int = 0
    last_creating_after: Optional[float] = None  # seconds after the request of the last "creating" answer
    total_estimate: Optional[float] = None  # from the progress figure, when the cloud gives one
    available: bool = False
    next_poll_at: float = 0.0


@dataclass
class Plan:
    details_fetched: list[str] = field(default_factory=list)  # clone parts read so far
    candidates: Optional[list[Candidate]] = None  # None: not probed yet; [] probed, nothing in stock
    probed_markets: list[str] = field(default_factory=list)
    churn: Optional[ChurnVerdict] = None  # the churn guard's view at verification (replace/churn.py)
    ranking: list[str] = field(default_factory=list)  # why the last ranking moved candidates (the guard)
    # The published interruption band (an index into spot_bands.BANDS) of each spot pool the last
    # probe ranked, "<type> <zone>" → band: where the launch's band comes from (replace/bands.py).
    bands: dict[str, int] = field(default_factory=dict)


@dataclass
class LaunchState:
    ledger: list[LedgerEntry] = field(default_factory=list)
    # token → the exact launch request sent with it: a resumed call re-sends these very parameters.
    requests: dict[str, LaunchRequest] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    unavailable: dict[str, float] = field(default_factory=dict)  # str(offering) → skip until
    since: Optional[float] = None
    replacement_ids: list[str] = field(default_factory=list)
    replacement: Optional[Candidate] = None
    band: int | None = None  # the chosen spot pool's published band when it was bought (None: none known)
    launched_offering: Optional[Offering] = None
    launched_at: Optional[float] = None
    next_check_at: float = 0.0
    adopted: bool = False  # found by its token after a lost answer, not from the launch's own reply
    elastic_ip_moved: bool = False
    retire_at: Optional[float] = None  # rebalance `replace`: when the original is terminated
    retired: bool = False
    in_charge: bool = False  # rebalance `replace`: the original carries the responder's tag (take_charge)


@dataclass
class Reserved:
    reservation_id: str
    instance_type: str
    zone: str
    count: int


@dataclass
class ReservationState:
    ledger: list[LedgerEntry] = field(default_factory=list)
    attempted: bool = False
    reserved: Optional[Reserved] = None
    refused: str = ""  # why a reservation beside a replacement was not made (a money cap)


@dataclass
class KeptDisk:
    disk_id: str
    kind: str  # system | data
    category: str
    size_gib: int
    zone: str
    device: str = ""
    was_deleted_with_instance: bool = True  # kept only because we asked: ours to release or reattach
    settled: str = ""  # "" while it bills for us; "reattached" | "deleted" | "follows-instance" | "gone" when done
    delete_with_instance: bool = False  # the original's own setting: the disk on the replacement gets it back
    survives: bool = True  # outlives the original (kept, the owner's persistent disk, or a stopped original's)
    moved: str = ""  # its data on the replacement: "reattached" | "restored"; "lost" when it cannot be
    snapshot_id: str = ""  # its snapshot in the fresh image (a restore in another zone starts from it)
    restored_id: str = ""  # the disk made from that snapshot in the replacement's zone
    next_try_at: float = 0.0  # snapshot not usable / disk not ready yet: look again then
    moved_at: Optional[float] = None  # when its data was seen on the replacement (the service gap counts it)


@dataclass
class Belief:
    """What the plan believed about one duration (an image's build, a launch to Running), and from
    what (build_times.py)."""

    estimate_s: float
    quantile: float  # 0.9: the p90 of `samples` observations; 0.0: the prior
    samples: int
    source: str  # "observed" | "prior"
    key: str  # what it was keyed by, readable: "aliyun/cn-hangzhou cloud_essd <=64 GiB first"


@dataclass
class RaceState:
    """The race against the release: what was protected, which image the replacement launched
    from, when the original went, and what is still ours to clean up."""

    disks_read: bool = False
    disks: list[KeptDisk] = field(default_factory=list)
    protected: bool = False  # DeleteWithInstance / DeleteOnTermination set false
    release_expected_at: Optional[float] = None  # notice time + the cloud's notice
    released_at: Optional[float] = None  # first time the original was seen gone
    next_release_check_at: float = 0.0
    policy: str = ""  # the launch policy decided (fresh-image / source-image / latest-image)
    why: str = ""  # why `auto` chose it
    image_estimate_s: Optional[float] = None
    launch_image_id: str = ""  # the image the replacement launches from ("" = the fresh image)
    latest_looked_up: bool = False
    latest_image_id: str = ""  # the newest image we made of this instance earlier (responder protect)
    disk_states_read: bool = False
    detached: list[str] = field(default_factory=list)  # kept disks seen detached (the original is gone)
    eip_allocation: str = ""  # Aliyun: the original's public IP, converted
    eip_converted: bool = False
    eip_bound: bool = False
    image_failed: str = ""  # the fresh image failed after the replacement launched from another
    private_ip_moved: bool = False  # the original's private IP given to the replacement (secondary)
    observed_image_s: Optional[float] = None  # how long the fresh image really took (image_estimate_s: believed)
    image_belief: Optional[Belief] = None  # what the plan believed the fresh image would take
    boot_belief: Optional[Belief] = None  # ... and the launch to Running
    observed_boot_s: Optional[float] = None  # launch issued → Running, as it happened
    # Which root state the replacement runs: "fresh" (booted from the notice-time image), "swapped"
    # (that image's root disk put onto it at root_state_since), "stale" (an older image, never
    # swapped); "" until it runs.
    root_state: str = ""
    root_state_since: Optional[float] = None
    # The swap (replace/swap.py): "" not begun, "working" (the cloud is at it), "done", "refused"
    # (the cloud ruled it out: the replacement keeps the older root disk), "kept" (RESPONDER_STATE_SWAP=keep).
    swap: str = ""
    swap_step: str = ""  # the cloud's last step: stopping, replacing, starting, in-progress ...
    swap_next_at: float = 0.0
    swap_refused: str = ""
    launch_image_checked: bool = False  # the older image was read (DescribeImages) before the launch
    gone_images: list[str] = field(default_factory=list)  # older images found deleted / retired: not launched from
    # Every image of ours gone: the cloud's public image of the same OS / architecture / billing the
    # replacement launched from, to hold the capacity until the fresh image is swapped in (root state
    # `stale` until then); "" when none was used.
    stand_in_image: str = ""
    # At the end: the fresh image Available and, for a replacement launched from another image,
    # every data disk on it. Root state is apart: a launch image's root is not the original's.
    data_kept: Optional[bool] = None


@dataclass
class RevertFacts:
    """A move back to spot (a task of kind `revert`, responder/revert/): which replacement it moves,
    what it bought, what it retired, and when. Cost accounting reads it: the on-demand (or other-type)
    instance retired at `retired_at` against the spot one running since `bought_running_at`."""

    from_task: str = ""  # the interruption task whose replacement is moved
    # "" a move back to spot; "calm" a planned move out of a published-stressed pool (revert/calm.py)
    purpose: str = ""
    attempt: int = 1
    original_instance_id: str = ""  # the spot instance the interruption took
    original_type: str = ""  # what the move aims for (the planner ranks it first)
    launch_image_id: str = ""  # the original's image: the spot one boots from it, then gets the fresh root disk
    retired_instance_id: str = ""  # the replacement being moved off (on-demand or another type)
    retired_type: str = ""
    retired_market: str = ""
    retired_running_since: Optional[float] = None
    private_ip: str = ""  # the original's private IP, moved onto the retired one: it moves on with the state
    started_at: Optional[float] = None  # the spot one bought (its launch issued): the move's first spend
    bought_instance_id: str = ""
    bought_type: str = ""
    bought_zone: str = ""
    bought_market: str = ""
    bought_running_at: Optional[float] = None
    retired_at: Optional[float] = None
    outcome: str = ""  # "" under way | "moved" | "given-up"
    why: str = ""  # why it waits or gave up
    stock_checks: int = 0
    next_check_at: float = 0.0  # no spot stock yet: look again then


@dataclass
class RetryState:
    """The one retry layer's memory: consecutive server faults and throttles, reset by any success."""

    failures: int = 0
    throttles: int = 0  # not failures: a throttle delays a task, it never fails one
    last_error: str = ""
    first_failure_at: Optional[float] = None


@dataclass
class Note:
    kind: str
    detail: dict[str, str]
    at: float


@dataclass
class TaskRecord:
    version: int = SCHEMA_VERSION
    event: EventFacts = field(default_factory=EventFacts)
    source: Optional[InstanceInfo] = None
    image: ImageState = field(default_factory=ImageState)
    plan: Plan = field(default_factory=Plan)
    launch: LaunchState = field(default_factory=LaunchState)
    reservation: ReservationState = field(default_factory=ReservationState)
    retry: RetryState = field(default_factory=RetryState)
    race: RaceState = field(default_factory=RaceState)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    original_terminated_at: Optional[float] = None
    interrupted_at: Optional[float] = None  # a rebalance task: when the real interruption arrived
    intended: list[dict[str, Any]] = field(default_factory=list)  # dry-run: the calls it would make
    recheck_soon: bool = False  # rejected, but the cloud may reverse it within minutes (replace.verify)
    standing_rejection: str = ""  # re-opened for one more read: the verdict that stands until then
    # What a task that ended `done` could not do (a swap refused, a disk not moved, ...): each
    # item names it and what it left (kept disks, EIPs), for the reason, the notification and orphans.
    degraded: list[str] = field(default_factory=list)
    # "<cloud>: <permission>, ...": a cloud's policy refused a call (a configuration fault). The task
    # ended failed; /invoke answers 5xx so the platform retries, and a redelivery opens it again.
    denied: str = ""
    # A money cap refused the task's spend: "imaged only, no launch" (RESPONDER_IMAGE_WHEN_CAPPED=yes,
    # data first) or "no image, no launch" (=no: the cap was asked before the image). replace/capped.py
    capped: str = ""
    revert: Optional[RevertFacts] = None  # set on a move back to spot (kind `revert`)
    # What the original cost per hour and what the task bought (replace/pricing.py, read once it is
    # done); None until then, or when nothing was bought. An added field: version 3 keeps it.
    costs: Optional[Costs] = None

    def wanted(self) -> Optional[InstanceInfo]:
        """The instance candidates should resemble: the source, or for a move back to spot the
        source on the original's type (its shape from the catalogue), in the source's zone."""
        if self.source is None or self.revert is None or not self.revert.original_type:
            return self.source
        return dataclasses.replace(self.source, instance_type=self.revert.original_type, cpu=0, memory_mib=0)

    def stamp(self, name: str, now: float) -> None:
        """Record when a milestone was first reached (later calls keep the first time)."""
        self.timings.setdefault(name, now)

    def to_json(self) -> dict[str, Any]:
        return encode(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> "TaskRecord":
        raw = dict(raw or {})
        version = int(raw.get("version", 1))
        if version > SCHEMA_VERSION:
            raise ValueError(f"task record version {version} is newer than this responder ({SCHEMA_VERSION})")
        if version < 2:
            raw = _from_v1(raw)
        raw["version"] = SCHEMA_VERSION  # 2 → 3 only added fields, whose defaults are right for older tasks
        return decode(cls, raw)

    @classmethod
    def loads(cls, text: str | None) -> "TaskRecord":
        return cls.from_json(json.loads(text) if text else None)


def _from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 was a free-form dict; keep what a resumed task needs (event, timings)."""
    return {"version": 2, "event": raw.get("event") or {}, "timings": raw.get("timings") or {}}


class Task:
    """A task row and its typed record, as the replacement flow works on them."""

    def __init__(self, row: TaskRow, record: TaskRecord | None = None):
        self.row = row
        self.record = record if record is not None else TaskRecord.from_json(row.data)
        self.holder: str | None = None  # the lease it is worked under (store.holder): every save names it

    @classmethod
    def of(cls, row: TaskRow | None) -> "Task | None":
        return cls(row) if row is not None else None

    id = property(lambda self: self.row.id)
    key = property(lambda self: self.row.key)
    cloud = property(lambda self: self.row.cloud)
    region = property(lambda self: self.row.region)
    instance_id = property(lambda self: self.row.instance_id)
    kind = property(lambda self: self.row.kind)
    reason = property(lambda self: self.row.reason)
    deliveries = property(lambda self: self.row.deliveries)

    @property
    def status(self) -> str:
        return self.row.status

    @status.setter
    def status(self, value: str) -> None:
        self.row.status = value

    @property
    def next_at(self) -> float:
        return self.row.next_at

    @next_at.setter
    def next_at(self, value: float) -> None:
        self.row.next_at = value

    @property
    def finished(self) -> bool:
        return self.row.status in ("done", "failed", "rejected")

    def with_verdict(self) -> "Task":
        """This task as a sender sees it while a rejection stands: re-opened for one more read
        (replace.verify), it still answers with that rejection until the read is made."""
        if not self.record.standing_rejection or self.row.status != "received":
            return self
        return Task(dataclasses.replace(self.row, status="rejected", reason=self.record.standing_rejection),
                    self.record)

    def finish(self, status: str, reason: str = "") -> None:
        self.row.status, self.row.reason, self.row.next_at = status, reason, 0.0

    def to_json(self) -> dict[str, Any]:
        return self.synced_row().to_json()

    def synced_row(self) -> TaskRow:
        """The row with the record written into it: what the store saves."""
        self.row.data = self.record.to_json()
        return self.row
