"""Launch one replacement through the shared capacity engine.

Parts: LaunchOutcome, LaunchAcquirer (one create = one RunInstances / CreateFleet call),
TaskLedger (the engine's ledger, kept on the task row), launch_replacement.

The engine walks the ranked candidates: an offering that says "no stock" goes into its negative
cache and the next is tried at once; the refusals are also kept on the task (`unavailable`) so a
later advance, or another process, skips them for a while. The ledger entry is saved to the task
row before every call: a crash mid-call resumes by re-sending the same ClientToken, and the cloud
answers with the instance it already made instead of launching a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from responder.clouds.base import LaunchRequest
from responder.capacity.engine import CapacityEngine, EngineConfig, Holding, LedgerEntry, Waits
from responder.errors import NoCapacity
from responder.model import Market, Offering
from responder.replace.planner import Candidate

NEGATIVE_TTL = 60.0  # seconds an offering that said "no stock" is skipped
LAUNCH_ENGINE = EngineConfig(waits=Waits(after_success=0.0, after_halving=0.0, after_shortage=NEGATIVE_TTL),
                             throttle_base=0.5, throttle_cap=5.0, grow_last_first=False, stop_when_exhausted=True)


@dataclass
class LaunchOutcome:
    instance_ids: tuple[str, ...] = ()
    chosen: dict | None = None
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "; ".join(self.refused) if self.refused else "no candidate had stock"


class TaskLedger:
    """The engine's ledger as a list on the task row; `intend` saves the row before the call."""

    def __init__(self, ctx, task):
        self.ctx, self.task = ctx, task

    def entries(self, run_id: str) -> list[LedgerEntry]:
        rows = self.task.data.get("ledger", [])
        return [LedgerEntry(**{**r, "offering": Offering(r["offering"][0], r["offering"][1], Market(r["offering"][2]))})
                for r in rows if r["run_id"] == run_id]

    def _put(self, entry: LedgerEntry) -> None:
        row = {**asdict(entry), "offering": [entry.offering.instance_type, entry.offering.zone,
                                             entry.offering.market.value]}
        rows = [r for r in self.task.data.get("ledger", []) if (r["run_id"], r["seq"]) != (entry.run_id, entry.seq)]
        self.task.data["ledger"] = rows + [row]

    def intend(self, entry: LedgerEntry) -> None:
        self._put(entry)
        self.ctx.store.save(self.task)  # intent first: a resume re-sends this very token

    def settle(self, entry: LedgerEntry) -> None:
        self._put(entry)


class LaunchAcquirer:
    """Launches clones of the task's source. AWS takes every remaining candidate as fleet overrides
    in one call; Aliyun's RunInstances takes one offering."""

    def __init__(self, ctx, task, source, candidates: list[Candidate]):
        self.ctx, self.task, self.source = ctx, task, source
        self.candidates = candidates
        self.refused_here: set[Offering] = set()
        self.many = getattr(ctx.cloud, "launches_many_offerings", False)

    def create(self, offering: Offering, count: int, token: str) -> Holding:
        if offering in self.refused_here:  # a fleet call already reported it sold out
            raise NoCapacity("InsufficientInstanceCapacity", f"{offering} refused in this fleet request")
        start = next(i for i, c in enumerate(self.candidates) if c.offering == offering)
        batch = [self.candidates[start]]
        if self.many:
            batch += [c for c in self.candidates[start + 1:] if self._usable(c.offering)]
        self.ctx.task_stamp(self.task, "launch_issued")
        request = LaunchRequest(
            source=self.source, image_id=self.task.data["image_id"], offerings=tuple(c.offering for c in batch),
            subnet_by_zone=tuple(sorted({(c.zone, c.subnet_id) for c in batch})), client_token=token, count=count,
            extra_tags=(("responder:replaces", self.task.instance_id), ("responder:task", self.task.id)),
        )
        result = self.ctx.cloud.launch(self.task.region, request)
        for refused, code in result.refused:
            self.refused_here.add(refused)
            self.mark_unavailable(refused, code)
        if not result.instance_ids:
            raise NoCapacity("NoStock", f"no capacity for {', '.join(str(c.offering) for c in batch)}")
        got = result.offering or offering
        # The engine books the holding under the offering it asked for; a fleet may have launched
        # another of its overrides, so the task records what really launched.
        self.task.data["launched_offering"] = [got.instance_type, got.zone, got.market.value]
        return Holding(result.instance_ids[0], got, len(result.instance_ids), members=result.instance_ids)

    def _usable(self, offering: Offering) -> bool:
        until = self.task.data.get("unavailable", {}).get(str(offering), 0)
        return offering not in self.refused_here and until <= self.ctx.clock()

    def mark_unavailable(self, offering: Offering, code: str) -> None:
        self.task.data.setdefault("unavailable", {})[str(offering)] = self.ctx.clock() + NEGATIVE_TTL
        self.task.data.setdefault("refusals", []).append(f"{offering}: {code}")


def launch_replacement(ctx, task, source) -> LaunchOutcome:
    now = ctx.clock()
    unavailable: dict = task.data.setdefault("unavailable", {})
    candidates = [Candidate(**c) for c in task.data.get("candidates", [])]
    fresh = [c for c in candidates if unavailable.get(str(c.offering), 0) <= now]
    run_id = f"{task.id}-launch"
    ledger = TaskLedger(ctx, task)
    if not fresh and not any(e.status == "pending" for e in ledger.entries(run_id)):
        return LaunchOutcome(refused=list(task.data.get("refusals", [])))
    acquirer = LaunchAcquirer(ctx, task, source, candidates)

    def on_event(event) -> None:
        if event.kind == "no_capacity" and event.offering is not None:
            acquirer.mark_unavailable(event.offering, event.message or "no capacity")

    engine = CapacityEngine(acquirer, [c.offering for c in (fresh or candidates)], target=1, run_id=run_id,
                            config=LAUNCH_ENGINE, ledger=ledger, on_event=on_event, clock=ctx.clock,
                            sleep=ctx.sleep, rand=ctx.rand)
    outcome = engine.run()
    task.data["refusals"] = task.data.get("refusals", [])[-20:]
    if outcome.error is not None:
        raise outcome.error
    launched = LaunchOutcome(refused=list(task.data["refusals"]))
    if outcome.holdings:
        held = outcome.holdings[-1]
        actual = task.data.get("launched_offering")
        offering = Offering(actual[0], actual[1], Market(actual[2])) if actual else held.offering
        chosen = next((c for c in candidates if c.offering == offering), None)
        launched.instance_ids = held.members or (held.holding_id,)
        launched.chosen = chosen.to_json() if chosen else {"instance_type": offering.instance_type,
                                                           "zone": offering.zone, "market": offering.market.value}
    return launched


def reserve_capacity(ctx, task) -> dict | None:
    """Reserve one instance's worth of on-demand capacity (AWS ODCR) for the best candidate that
    has it, through the same engine and with the ledger on the task row. Returns the reservation
    as a dict, or None when every candidate refused."""
    from responder.capacity.reservations import ReservationAcquirer

    offerings = list(dict.fromkeys(Offering(c["instance_type"], c["zone"], Market.ONDEMAND)
                                   for c in task.data.get("candidates", [])))
    launched = task.data.get("launched_offering")
    if launched:  # "both": reserve where the replacement runs, so the next one finds room
        offerings.insert(0, Offering(launched[0], launched[1], Market.ONDEMAND))
        offerings = list(dict.fromkeys(offerings))
    if not offerings:
        return None
    acquirer = ReservationAcquirer(ctx.cloud, task.region, "open",
                                   tags=(("responder:replaces", task.instance_id), ("responder:task", task.id)))
    engine = CapacityEngine(acquirer, offerings, target=1, run_id=f"{task.id}-reserve", config=LAUNCH_ENGINE,
                            ledger=TaskLedger(ctx, task), clock=ctx.clock, sleep=ctx.sleep, rand=ctx.rand)
    outcome = engine.run()
    if outcome.error is not None:
        raise outcome.error
    if not outcome.holdings:
        return None
    held = outcome.holdings[-1]
    return {"reservation_id": held.holding_id, "instance_type": held.offering.instance_type,
            "zone": held.offering.zone, "count": held.count}
