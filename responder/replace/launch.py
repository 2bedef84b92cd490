"""Launch one replacement through the shared capacity engine.

Parts: LaunchOutcome, TaskLedger (the engine's ledger, kept in the task record and saved before
every call), LaunchAcquirer (one create = one RunInstances / CreateFleet call), launch_replacement.

The engine walks the ranked candidates: an offering that says "no stock" goes into its negative
cache and the next is tried at once; the refusals are also kept in the record (`unavailable`) so
a later advance, or another process, skips them for a while.

What makes a launch safe to repeat:
- the ledger entry (intent) is saved before the call, and the exact LaunchRequest is saved with
  its token before it is sent: a resumed call re-sends the very same parameters, so the cloud's
  idempotency answers with what it already made (EC2 refuses a token reused with other
  parameters: IdempotentParameterMismatch);
- a call whose answer may have been lost (it is being re-sent) is first looked up by its token
  tag, and an instance found is adopted instead of launching again;
- a reused-token refusal means the first call happened: the instance is looked up, never created
  with a new token;
- a money cap is taken (atomically, in the store) before the call and given back when the cloud
  refuses it (for capacity, or a parameter it rejects), never after a transient error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from responder.capacity.engine import CapacityEngine, EngineConfig, Holding, LedgerEntry, Waits
from responder.capacity.tokens import token_for
from responder.clouds.base import TOKEN_TAG, CloudPort, LaunchRequest
from responder.errors import Deferred, Fatal, Invalid, NoCapacity, NotFound, TokenReused
from responder.model import Market, Offering
from responder.replace.planner import Candidate
from responder.replace.record import Task

NEGATIVE_TTL = 60.0  # seconds an offering that said "no stock" is skipped
# Transient errors end the run (the runner backs off on the task row and resumes the pending call).
LAUNCH_ENGINE = EngineConfig(waits=Waits(after_success=0.0, after_halving=0.0, after_shortage=NEGATIVE_TTL),
                             grow_last_first=False, stop_when_exhausted=True, transient_ends_run=True)


@dataclass
class LaunchOutcome:
    instance_ids: tuple[str, ...] = ()
    chosen: Optional[Candidate] = None
    adopted: bool = False
    refused: list[str] = field(default_factory=list)


@dataclass
class LaunchContext:
    cloud: CloudPort
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    rand: Callable[[], float]
    save: Callable[[Task], None]  # persist the record now (intent before the call)
    take_spend: Callable[[Task, str, str], None]  # (task, token, kind): raises CapReached when refused
    give_back: Callable[[str], None]  # token: the call was refused, the spend did not happen


class TaskLedger:
    """The engine's ledger as a list in the task record; `intend` saves the record before the call."""

    def __init__(self, entries: list[LedgerEntry], save: Callable[[], None]):
        self.rows, self.save = entries, save

    def entries(self, run_id: str) -> list[LedgerEntry]:
        return [replace(e) for e in self.rows if e.run_id == run_id]

    def _put(self, entry: LedgerEntry) -> None:
        self.rows[:] = [e for e in self.rows if (e.run_id, e.seq) != (entry.run_id, entry.seq)] + [replace(entry)]

    def intend(self, entry: LedgerEntry) -> None:
        self._put(entry)
        self.save()  # intent first: a resume re-sends this very token

    def settle(self, entry: LedgerEntry) -> None:
        self._put(entry)


class LaunchAcquirer:
    """Launches clones of the task's source. AWS takes every remaining candidate as fleet overrides
    in one call; Aliyun's RunInstances takes one offering."""

    def __init__(self, ctx: LaunchContext, task: Task, candidates: list[Candidate], first_market: Market):
        self.ctx, self.task = ctx, task
        self.candidates = candidates
        self.first_market = first_market
        self.refused_here: set[Offering] = set()
        self.many = ctx.cloud.capabilities.launches_many_offerings

    def create(self, offering: Offering, count: int, token: str) -> Holding:
        launch = self.task.record.launch
        if offering in self.refused_here:  # a fleet call already reported it sold out
            raise NoCapacity("InsufficientInstanceCapacity", f"{offering} refused in this fleet request")
        request = launch.requests.get(token)
        built_now = request is None
        if request is not None:  # sent before and the answer never came back: did it launch?
            found = self.ctx.cloud.find_launched(self.task.region, token)
            if found:
                return self._held(request, found, adopted=True)
        else:
            request = self._request(offering, count, token)
            launch.requests[token] = request
        kind = "launch" if offering.market == self.first_market else "ondemand-fallback"
        if self.task.record.revert is not None:  # counted apart: a move back to spot
            kind = "revert"
        self.ctx.take_spend(self.task, token, kind)
        self.ctx.save(self.task)  # the exact request is on the row before it is sent
        try:
            result = self.ctx.cloud.launch(self.task.region, request)
        except Deferred:
            # The API budget held a call back before it was sent, and the launch's buying call
            # (CreateFleet, RunInstances) is its last: this try bought nothing. When this try also
            # built the request, it was never sent at all, and the next try sends it (same token)
            # without first looking for what it launched — in a wave, a DescribeInstances per task
            # whose launch waited for the budget. A request an earlier try sent (its answer lost)
            # stays: that try may have bought, and only the very same request may go again under
            # its token (ECS answers IdempotenceParamNotMatch to a token with other parameters).
            if built_now:
                launch.requests.pop(token, None)
            raise
        except (NoCapacity, Invalid, NotFound, Fatal):
            # The cloud answered and refused (no stock, a parameter it rejects: a key pair, a cluster
            # placement group's other zone...): nothing was bought, the spend is given back. A
            # transient error may hide a launch that happened, so its spend stays taken.
            self.ctx.give_back(token)
            raise
        except TokenReused as exc:
            found = self.ctx.cloud.find_launched(self.task.region, token)
            if found:
                return self._held(request, found, adopted=True)
            raise Fatal(exc.code, f"{exc.message}; the first launch with token {token} was not found, "
                                  "so nothing is launched again", exc.operation) from exc
        for refused, code in result.refused:
            self.refused_here.add(refused)
            self.mark_unavailable(refused, code)
        if not result.instance_ids:
            self.ctx.give_back(token)
            raise NoCapacity("NoStock", f"no capacity for {', '.join(str(o) for o in request.offerings)}")
        got = result.offering or offering
        return self._held(request, result.instance_ids, got=got)

    def _request(self, offering: Offering, count: int, token: str) -> LaunchRequest:
        start = next(i for i, c in enumerate(self.candidates) if c.offering == offering)
        batch = [self.candidates[start]]
        if self.many:
            batch += [c for c in self.candidates[start + 1:] if self._usable(c.offering)]
        source = self.task.record.source
        if self.task.record.race.eip_allocation:  # its EIP follows: no second public address to pay for
            source = replace(source, public_ip="", public_bandwidth_out=0)
        return LaunchRequest(
            source=source,
            image_id=self.task.record.race.launch_image_id or self.task.record.image.image_id,
            offerings=tuple(c.offering for c in batch),
            subnet_by_zone=tuple(sorted({(c.zone, c.subnet_id) for c in batch})), client_token=token, count=count,
            extra_tags=(("responder:replaces", self.task.instance_id), ("responder:claim", self.task.key),
                        (TOKEN_TAG, token)),
        )

    def _held(self, request: LaunchRequest, ids: tuple[str, ...], got: Offering | None = None,
              adopted: bool = False) -> Holding:
        """A launched batch as the engine holds it: named by its ClientToken, the instances as members."""
        # The engine books the holding under the offering it asked for; a fleet may have launched
        # another of its overrides, so the record keeps what really launched (unknown when adopted:
        # then the first offering of the request stands for it).
        launched = got or request.offerings[0]
        self.task.record.launch.launched_offering = launched
        self.task.record.launch.adopted = adopted
        return Holding(request.client_token, launched, len(ids), members=tuple(ids))

    def _usable(self, offering: Offering) -> bool:
        until = self.task.record.launch.unavailable.get(str(offering), 0)
        return offering not in self.refused_here and until <= self.ctx.clock()

    def mark_unavailable(self, offering: Offering, code: str) -> None:
        launch = self.task.record.launch
        launch.unavailable[str(offering)] = self.ctx.clock() + NEGATIVE_TTL
        launch.refusals.append(f"{offering}: {code}")


def launch_replacement(ctx: LaunchContext, task: Task, first_market: Market) -> LaunchOutcome:
    now = ctx.clock()
    launch = task.record.launch
    candidates = list(task.record.plan.candidates or [])
    fresh = [c for c in candidates if launch.unavailable.get(str(c.offering), 0) <= now]
    run_id = token_for(task.key, "launch")
    ledger = TaskLedger(launch.ledger, lambda: ctx.save(task))
    pending = [e for e in ledger.entries(run_id) if e.status == "pending"]
    if not fresh and not pending:
        return LaunchOutcome(refused=list(launch.refusals))
    acquirer = LaunchAcquirer(ctx, task, candidates, first_market)

    def on_event(event) -> None:
        if event.kind == "no_capacity" and event.offering is not None:
            acquirer.mark_unavailable(event.offering, event.message or "no capacity")

    offerings = [c.offering for c in (fresh or candidates)] + [e.offering for e in pending]
    engine = CapacityEngine(acquirer, offerings, target=1, run_id=run_id, config=LAUNCH_ENGINE, ledger=ledger,
                            on_event=on_event, clock=ctx.clock, sleep=ctx.sleep, rand=ctx.rand)
    outcome = engine.run()
    launch.refusals = launch.refusals[-20:]
    if outcome.error is not None:
        raise outcome.error
    result = LaunchOutcome(refused=list(launch.refusals))
    if outcome.holdings:
        held = outcome.holdings[-1]
        offering = launch.launched_offering or held.offering
        # A batch restored from the ledger alone carries no members: its token finds them.
        result.instance_ids = held.members or ctx.cloud.find_launched(task.region, held.holding_id)
        result.adopted = launch.adopted
        result.chosen = next((c for c in candidates if c.offering == offering), None) or Candidate(
            offering.instance_type, offering.zone, offering.market.value, "", "launched")
    return result
