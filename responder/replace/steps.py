"""What each task state does: pure transitions that read the record and say what to call next.

Parts: Call (an intended cloud call: verb, arguments, token), Decision (calls to make, a time to
come back, or an end), decide
(the task's record → the next Decision), observe (a call's answer → the record), and the pieces
per state: verification, image polling, probe results, the launch outcome, Running, retiring the
original after a rebalance replacement, reservations (what an interruption buys, and how a
reservation ends: reserve.py).

Nothing here calls a cloud or the store: the executor (executor.py) makes each Call and hands the
answer back to `observe`, and the runner (runner.py) saves the record and applies the retry
policy. Dry-run runs the same decisions and records the writes it would make as data.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from responder.capacity.tokens import token_for
from responder.clouds.base import Capabilities, InstanceInfo
from responder.errors import CloudError, NotFound
from responder.model import Cloud, EventKind, Interruption, Market
from responder.replace import bands, build_times, churn, planner, race_data, race_steps, revert_steps, swap
from responder.replace.calls import Call, Decision
from responder.replace.image_polls import (
    Facts,
    image_poll_delay,
    learned_build_time,
    progress_of,
    settled_poll_at,
    settled_poll_delay,
)
from responder.replace.record import Reserved, Task
from responder.replace.reserve import capacity_action, reserve_outcome
from responder.replace.verify import instance_rejection, may_change_soon
from responder.settings import Settings

RUNNING_TIMEOUT = 900.0  # a replacement that has not reached Running by then needs a human
WRITES = frozenset({"create_image", "acquire_replacement", "reserve", "associate_address",
                    "terminate_instance", "take_charge"}) | race_steps.RACE_WRITES


class CapReached(Exception):
    """A money cap refused the spend; the message names the setting."""


def image_name(task: Task) -> str:
    # From the claim key, like every token: a second store makes the same name, and EC2 refuses
    # a duplicate name, so two stores cannot make two images.
    return f"responder-{task.instance_id}-{token_for(task.key, 'image')[1:9]}"


def markets(settings: Settings) -> list[Market]:
    return planner.markets_for(settings.market_policy)


def task_markets(task: Task, settings: Settings) -> list[Market]:
    """The policy's markets; on-demand first for an instance the churn guard says is reclaimed too often."""
    order = markets(settings)
    churn = task.record.plan.churn
    if churn is not None and churn.prefer_on_demand and Market.ONDEMAND in order:
        order = [Market.ONDEMAND] + [m for m in order if m != Market.ONDEMAND]
    return order


def next_market(task: Task, settings: Settings) -> Optional[Market]:
    probed = task.record.plan.probed_markets
    options = [Market.SPOT] if revert_steps.is_revert(task) else task_markets(task, settings)  # a move back: spot only
    return next((m for m in options if m.value not in probed), None)


def _probe(task: Task, settings: Settings) -> Decision:
    market = next_market(task, settings) or task_markets(task, settings)[0]
    return Decision([Call("probe", {"market": market.value})])


# -- decide --------------------------------------------------------------------------------
def decide(task: Task, settings: Settings, now: float, capabilities: Capabilities) -> Decision:
    return DECIDERS[task.status](task, settings, now, capabilities)


def _decide_received(task: Task, settings: Settings, now: float, capabilities: Capabilities) -> Decision:
    record = task.record
    if record.source is None:
        return Decision([Call("describe_instance", {"instance_id": task.instance_id})])
    if revert_steps.is_revert(task):  # nothing is written before spot stock is seen (and outside the window)
        waiting = revert_steps.before_writes(task, settings, now)
        if waiting is not None:
            return waiting
    if settings.dry_run:
        if record.plan.candidates is None:
            return _probe(task, settings)
        record.intended = [c.to_json() for c in dry_run_writes(task)]
        first = (record.plan.candidates or [None])[0]
        what = f"{first.instance_type} in {first.zone} ({first.market})" if first else "nothing (no stock)"
        return Decision(finish=("done", f"dry-run: would image {task.instance_id} and launch {what}"))
    if _retires_original(task, settings) and not record.launch.in_charge:
        # Tagged when the task takes charge of it: the policy lets the responder terminate only
        # instances carrying its tag (deploy/aws-iam-policy.json).
        return Decision([Call("take_charge", {"resource_ids": [task.instance_id]})])
    if not record.image.image_id and not revert_steps.is_revert(task):  # a move back images once its spot one runs
        return Decision([create_image_call(task)])
    task.status = "imaging"
    return Decision()


def create_image_call(task: Task) -> Call:
    return Call("create_image", {"instance_id": task.instance_id, "name": image_name(task),
                                 "tags": [["responder:source-instance", task.instance_id],
                                          ["responder:claim", task.key]]},
                token=token_for(task.key, "image"))


def dry_run_writes(task: Task) -> list[Call]:
    """The writes a real run would start with: the image, then one launch over the ranked offerings."""
    offerings = [[c.instance_type, c.zone, c.market] for c in task.record.plan.candidates or []]
    return [create_image_call(task),
            Call("acquire_replacement", {"offerings": offerings, "count": 1},
                 token=token_for(task.key, "launch") + "-s1")]


def _decide_imaging(task: Task, settings: Settings, now: float, capabilities: Capabilities) -> Decision:
    record = task.record
    # First, right behind CreateImage: keep the disks, the public IP. A move back to spot keeps them
    # once its spot one runs (revert_steps.before_retire): given up before, it leaves them as they were.
    if not acts_as_rebalance(task) and not revert_steps.is_revert(task):
        protect = race_steps.on_receipt(task, settings, now)
        if protect:
            return protect
    elif revert_steps.is_revert(task):
        address = race_steps.public_ip_step(task, settings)
        if address:
            return address
        if record.race.policy == "fresh-image" and not record.image.image_id:  # no older image to launch from
            return Decision([create_image_call(task)])
    missing = [p for p in capabilities.clone_parts if p not in record.plan.details_fetched]
    if missing:  # one part per call: a retry repeats only the part that failed
        return Decision([Call("clone_details", {"part": missing[0]})])
    if record.plan.candidates is None:
        return _probe(task, settings)
    if not acts_as_rebalance(task):
        chosen = race_steps.choose_launch(task, settings, now)
        if chosen:
            return chosen
    if now < record.image.next_poll_at:
        return Decision(wait_until=record.image.next_poll_at)
    return Decision([Call("describe_image", {"image_id": record.image.image_id})])


def _decide_launching(task: Task, settings: Settings, now: float, capabilities: Capabilities) -> Decision:
    record, launch = task.record, task.record.launch
    if capacity_action(task.cloud, settings) == "reserve":
        if not record.reservation.attempted:
            return Decision([Call("reserve")])
        return Decision(finish=reserve_outcome(task))
    if not launch.replacement_ids:
        if revert_steps.is_revert(task):  # still nothing bought: the setting and the window hold
            waiting = revert_steps.before_launch(task, settings, now)
            if waiting is not None:
                return waiting
        if launch.since is None:
            launch.since = now
            record.stamp("launching_since", now)
        if record.plan.candidates is None:
            return _probe(task, settings)
        return Decision([Call("acquire_replacement", {"market": record.plan.probed_markets[-1]})])
    if "running" not in record.timings:
        if now < launch.next_check_at:
            return Decision(wait_until=launch.next_check_at)
        return Decision([Call("instance_states", {"instance_ids": list(launch.replacement_ids)})])
    if revert_steps.is_revert(task) and not launch.retired:
        moving = revert_steps.before_retire(task, settings, now, create_image_call(task))
        if moving is not None:
            return moving
    source = record.source
    if source and source.elastic_ip_allocation and not launch.elastic_ip_moved:
        return Decision([Call("associate_address", {"allocation_id": source.elastic_ip_allocation,
                                                    "instance_id": launch.replacement_ids[0]})])
    if capacity_action(task.cloud, settings) == "both" and not record.reservation.attempted:
        return Decision([Call("reserve")])
    if _retires_original(task, settings) and not launch.retired:
        if launch.retire_at is None:
            launch.retire_at = record.timings["running"] + settings.rebalance_retire_delay_seconds
        if now < launch.retire_at:
            return Decision(wait_until=launch.retire_at)
        return Decision([Call("terminate_instance", {"instance_id": task.instance_id})])
    settling = race_steps.after_running(task, settings, now)
    if settling:
        return settling
    chosen = launch.replacement
    where = f" ({chosen.instance_type} in {chosen.zone}, {chosen.market})" if chosen else ""
    refused = record.reservation.refused
    raced = race_steps.summary(task)
    if revert_steps.is_revert(task):
        return Decision(finish=revert_steps.finished(task, raced))
    return Decision(finish=("done", f"replaced by {', '.join(launch.replacement_ids)}{where}"
                                    + ("; original retired" if launch.retired else "")
                                    + (f"; no reservation: {refused}" if refused else "")
                                    + (f"; {raced}" if raced else "")))


def acts_as_rebalance(task: Task) -> bool:
    """A rebalance task, until the real interruption of the same instance arrives."""
    return task.kind == EventKind.REBALANCE.value and task.record.interrupted_at is None


def _retires_original(task: Task, settings: Settings) -> bool:
    """Rebalance `replace`: like EC2 Auto Scaling capacity rebalancing, the original is terminated
    once its replacement runs, so a recommendation never doubles the bill for long."""
    return (acts_as_rebalance(task) and settings.rebalance_retire) or revert_steps.is_revert(task)


DECIDERS: dict[str, Callable[[Task, Settings, float, Capabilities], Decision]] = {
    "received": _decide_received,
    "imaging": _decide_imaging,
    "launching": _decide_launching,
}


# -- observe -------------------------------------------------------------------------------
def observe(task: Task, call: Call, answer: Any, settings: Settings, now: float, facts: Facts,
            error: Optional[CloudError] = None) -> Optional[tuple[str, str]]:
    """Fold one call's answer (or its classified error) into the record. Returns (status, reason)
    when the task ends here. Errors other than the ones a step expects are the runner's."""
    return OBSERVERS[call.verb](task, call, answer, settings, now, facts, error)


def _saw_instance(task: Task, call: Call, info: Optional[InstanceInfo], settings: Settings, now: float, facts: Facts,
                  error: Optional[CloudError]):
    if revert_steps.is_revert(task):
        return revert_steps.saw_instance(task, None if isinstance(error, NotFound) else info, now)
    if isinstance(error, NotFound) or info is None:
        return "rejected", f"instance {task.instance_id} not found in {task.region}"
    kind = EventKind.REBALANCE if acts_as_rebalance(task) else EventKind(task.kind)
    if kind == EventKind.REBALANCE and task.record.interrupted_at is not None:
        kind = EventKind.INTERRUPTION
    interruption = Interruption(cloud=Cloud(task.cloud), region=task.region, instance_id=task.instance_id,
                                kind=kind, account=task.record.event.account)
    reason = instance_rejection(interruption, info, settings)
    if reason:
        task.record.recheck_soon = may_change_soon(interruption, info, settings)
        return "rejected", reason
    task.record.source = info
    task.record.standing_rejection = ""  # read again and accepted: the earlier verdict is gone
    if facts.churn is not None:  # a reclaim counts against its pool before the plan is ranked
        task.record.plan.churn = facts.churn.judge(task.key, task.cloud, info, kind == EventKind.INTERRUPTION, now,
                                                   Market.ONDEMAND in markets(settings), record=not settings.dry_run)
    task.record.stamp("verified", now)
    return None


def _made_image(task: Task, call: Call, image_id: str, settings: Settings, now: float, facts: Facts, error) -> None:
    record = task.record
    record.image.image_id, record.image.name = image_id, image_name(task)
    record.image.token = token_for(task.key, "image")
    record.stamp("image_requested", now)
    record.image.next_poll_at = now + image_poll_delay(facts, task, elapsed=0.0, progress=0.0)
    if task.status == "received":  # a move back to spot images later, its spot one already running
        task.status = "imaging"


def _got_details(task: Task, call: Call, info: InstanceInfo, settings, now, facts, error) -> None:
    task.record.source = info
    task.record.plan.details_fetched.append(call.args["part"])


def _probed(task: Task, call: Call, found, settings: Settings, now, facts, error) -> None:
    """`found` is the executor's ProbeResult; ranking it is pure planning."""
    source = task.record.wanted()  # a move back to spot aims at the original's type
    planned = planner.plan_candidates(source, found.catalog, found.market, found.in_stock, found.subnets,
                                      found.scores, found.prices)
    planned, by_band = bands.rank(planned, found.bands)  # a calmer published band first; the guard's after
    if found.market == Market.SPOT:
        task.record.plan.bands = bands.of_pools(planned, found.bands)
    planned, guarded = (revert_steps.guarded(task, planned, facts, settings, now) if revert_steps.is_revert(task)
                        else churn.rank(planned, task.record.plan.churn, task.cloud, task.region))
    task.record.plan.ranking = by_band + guarded
    task.record.plan.candidates = planned
    task.record.plan.probed_markets.append(found.market.value)


def _saw_image(task: Task, call: Call, image, settings: Settings, now: float, facts: Facts, error):
    record = task.record
    requested = record.timings["image_requested"]
    record.image.polls += 1
    if image.state == "failed":
        return "failed", f"image {image.image_id} CreateFailed{': ' + image.reason if image.reason else ''}"
    if image.state != "available":
        timeout = build_times.image_timeout(task, settings.image_timeout_seconds)
        if now - requested > timeout:
            return "failed", f"image {image.image_id} not available after {timeout:.0f} s"
        progress = progress_of(image)
        record.image.last_creating_after = now - requested
        if 0 < progress < 100:
            record.image.total_estimate = (now - requested) * 100 / progress
        if record.launch.replacement_ids:  # capacity first: only the swap waits, on the wave's slow beat
            record.image.next_poll_at = settled_poll_at(now, settled_poll_delay(facts, task, now - requested, progress))
        else:
            record.image.next_poll_at = now + image_poll_delay(facts, task, now - requested, progress)
        return None
    record.image.available = True
    record.stamp("image_available", now)
    build_times.observe_image(facts.times, task, now)
    learned = learned_build_time(facts, task, now - requested)
    if learned is not None:
        facts.build_estimates[(task.cloud, task.region)] = learned
    if acts_as_rebalance(task) and settings.rebalance_policy == "image-only":
        return "done", "rebalance policy image-only: image taken, no replacement launched"
    task.status = "launching"
    return None


def _launched(task: Task, call: Call, outcome, settings: Settings, now: float, facts, error):
    record, launch = task.record, task.record.launch
    if outcome.instance_ids:
        launch.replacement_ids = list(outcome.instance_ids)
        launch.replacement = outcome.chosen
        launch.band = bands.chosen(record.plan.bands, outcome.chosen)  # what a planned move reads (revert/calm.py)
        launch.adopted = outcome.adopted
        launch.launched_at = now
        launch.next_check_at = now + 1.0
        record.stamp("launch_issued", now)
        return None
    if revert_steps.is_revert(task):
        return revert_steps.no_stock_at_launch(task, now)
    if next_market(task, settings) is not None:
        record.plan.candidates = None  # this market is sold out: probe the next one at once
        return None
    waited = now - (launch.since if launch.since is not None else now)
    if waited >= settings.launch_retry_seconds:
        return "failed", "no stock for any candidate: " + ("; ".join(launch.refusals) or "no candidate had stock")
    record.plan.probed_markets, record.plan.candidates = [], None  # stock frees up: look again later
    task.next_at = now + min(30.0, max(1.0, settings.launch_retry_seconds - waited))
    return None


def _saw_states(task: Task, call: Call, states: dict[str, str], settings: Settings, now: float, facts, error):
    launch = task.record.launch
    if states and len(states) == len(launch.replacement_ids) and all(s.lower() == "running" for s in states.values()):
        task.record.stamp("running", now)
        build_times.observe_boot(facts.times, task, now)
        return None
    waited = now - (launch.launched_at if launch.launched_at is not None else now)  # 0.0 is a time
    if waited > RUNNING_TIMEOUT:
        return "failed", (f"replacement {', '.join(launch.replacement_ids)} not running after "
                          f"{RUNNING_TIMEOUT:.0f} s (states: {states or 'not found'}); it is left as it is")
    launch.next_check_at = now + min(10.0, max(0.5, waited * 0.5))
    return None


def _moved_address(task: Task, call: Call, answer, settings, now, facts, error) -> None:
    task.record.launch.elastic_ip_moved = True


def _reserved(task: Task, call: Call, reserved: Optional[Reserved], settings, now, facts, error) -> None:
    task.record.reservation.attempted = True
    task.record.reservation.reserved = reserved


def _retired(task: Task, call: Call, answer, settings, now, facts, error) -> None:
    task.record.launch.retired = True
    task.record.stamp("original_retired", now)
    if revert_steps.is_revert(task):
        revert_steps.retired(task, now)


def _took_charge(task: Task, call: Call, answer, settings, now, facts, error) -> None:
    task.record.launch.in_charge = True


def _ignoring_call(observer):
    return lambda task, call, *rest: observer(task, *rest)


OBSERVERS: dict[str, Callable[..., Optional[tuple[str, str]]]] = {
    "describe_instance": _saw_instance,
    "create_image": _made_image,
    "clone_details": _got_details,
    "probe": _probed,
    "describe_image": _saw_image,
    "acquire_replacement": _launched,
    "instance_states": _saw_states,
    "associate_address": _moved_address,
    "reserve": _reserved,
    "terminate_instance": _retired,
    "take_charge": _took_charge,
    # The race's observers need no call arguments: the record says what they asked.
    **{verb: _ignoring_call(observer) for verb, observer in race_steps.OBSERVERS.items()},
    **race_data.OBSERVERS,  # these read the disk a call named
    **swap.OBSERVERS,
}


# -- image polling -------------------------------------------------------------------------
