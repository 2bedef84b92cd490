"""Reserve capacity for an interruption instead of (AWS `reserve`) or beside (`both`) a replacement.

Parts: capacity_action (what an interruption buys on a cloud: launch, reserve or both), reserve_capacity
(one instance's worth of on-demand capacity — an ODCR — for the best candidate that has it, through the
shared engine, with the ledger in the task record), reserve_outcome (how a reserve-only task ends).

The money cap is taken before each create, like a launch's, and given back on a capacity refusal.
"""

from __future__ import annotations

from typing import Optional

from responder.capacity.engine import CapacityEngine, Holding
from responder.capacity.reservations import ReservationAcquirer
from responder.capacity.tokens import token_for
from responder.errors import NoCapacity
from responder.model import Cloud, Market, Offering
from responder.replace.launch import LAUNCH_ENGINE, LaunchContext, TaskLedger
from responder.replace.record import Reserved, Task
from responder.settings import Settings


class _CappedReservations(ReservationAcquirer):
    def __init__(self, ctx: LaunchContext, task: Task):
        super().__init__(ctx.cloud, task.region, "open",
                         tags=(("responder:replaces", task.instance_id), ("responder:claim", task.key)))
        self.ctx, self.task = ctx, task

    def create(self, offering: Offering, count: int, token: str) -> Holding:
        self.ctx.take_spend(self.task, token, "reservation")
        try:
            return super().create(offering, count, token)
        except NoCapacity:
            self.ctx.give_back(token)
            raise


def reserve_capacity(ctx: LaunchContext, task: Task) -> Optional[Reserved]:
    """None when every candidate refused."""
    launch = task.record.launch
    offerings = list(dict.fromkeys(Offering(c.instance_type, c.zone, Market.ONDEMAND)
                                   for c in task.record.plan.candidates or []))
    if launch.launched_offering:  # "both": reserve where the replacement runs, so the next one finds room
        got = launch.launched_offering
        offerings = list(dict.fromkeys([Offering(got.instance_type, got.zone, Market.ONDEMAND)] + offerings))
    if not offerings:
        return None
    ledger = TaskLedger(task.record.reservation.ledger, lambda: ctx.save(task))
    engine = CapacityEngine(_CappedReservations(ctx, task), offerings, target=1, run_id=token_for(task.key, "reserve"),
                            config=LAUNCH_ENGINE, ledger=ledger, clock=ctx.clock, sleep=ctx.sleep, rand=ctx.rand)
    outcome = engine.run()
    if outcome.error is not None:
        raise outcome.error
    if not outcome.holdings:
        return None
    held = outcome.holdings[-1]
    return Reserved(held.holding_id, held.offering.instance_type, held.offering.zone, held.count)


def capacity_action(cloud: str, settings: Settings) -> str:
    """What an interruption buys on this cloud: `launch` a replacement, `reserve` capacity instead
    (an ODCR on AWS, a capacity reservation — private pool — on Aliyun), or `both`. One engine and
    one set of money caps for both clouds; OCI has no reservation to buy and always launches."""
    if cloud == Cloud.AWS.value:
        return settings.aws_action
    if cloud == Cloud.ALIYUN.value:
        return "launch" if settings.aliyun_action == "replace" else settings.aliyun_action
    return "launch"


ACTION_SETTING = {Cloud.AWS.value: "RESPONDER_AWS_ACTION", Cloud.ALIYUN.value: "RESPONDER_ALIYUN_ACTION"}


def reserve_outcome(task: Task) -> tuple[str, str]:
    reserved = task.record.reservation.reserved
    if reserved is None:
        return "failed", "no capacity to reserve for any candidate: " + "; ".join(task.record.launch.refusals)
    return "done", (f"reserved {reserved.reservation_id} ({reserved.instance_type} in {reserved.zone}); "
                    f"no replacement launched ({ACTION_SETTING.get(task.cloud, 'RESPONDER_AWS_ACTION')}=reserve)")
