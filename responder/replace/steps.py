"""What each task state does. Each step moves the task as far as it can without waiting, and
either changes `task.status` (the runner calls the next step at once) or sets `task.next_at`.

Parts: Context (what a step may use), step_received (verify, then image at once, then probe),
probe, step_imaging (adaptive image polling), step_launching (launch through the capacity engine,
wait for Running), poll delays.

Every cloud write carries a deterministic ClientToken derived from the task id and the attempt,
and the intent is saved before the call, so a crash and resume re-sends the same token and the
cloud returns what it already made instead of buying twice.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from responder.replace import planner
from responder.caching import TTLCache
from responder.clouds.base import CloudPort, InstanceInfo
from responder.errors import NotFound
from responder.replace.launch import launch_replacement, reserve_capacity
from responder.model import Cloud, EventKind, Interruption, Market
from responder.settings import Settings
from responder.store import Store, TaskRow
from responder.replace.verify import instance_rejection

log = logging.getLogger("responder.replace.runner")
RUNNING_TIMEOUT = 900.0  # a replacement that has not reached Running by then needs a human


@dataclass
class Context:
    settings: Settings
    store: Store
    cloud: CloudPort
    clock: Callable[[], float]
    catalogs: TTLCache
    subnets: TTLCache
    build_estimates: dict  # (cloud, region) → (seconds an image takes, exact?): the first poll lands near it
    market_facts: TTLCache = dataclasses.field(default_factory=lambda: TTLCache(ttl=60))
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random

    def task_stamp(self, task: TaskRow, name: str) -> None:
        stamp(task, name, self.clock())


def finish(task: TaskRow, status: str, reason: str = "") -> None:
    task.status = status
    task.reason = reason
    task.next_at = 0.0


def stamp(task: TaskRow, name: str, now: float) -> None:
    task.data.setdefault("timings", {}).setdefault(name, now)


LAUNCH_CAP_REASON = "launch cap reached: %d replacements in the last hour (RESPONDER_MAX_LAUNCHES_PER_HOUR)"


def _over_launch_cap(ctx: Context, now: float) -> bool:
    return ctx.store.count_launches_since(now - 3600) >= ctx.settings.max_launches_per_hour


def source_of(task: TaskRow) -> InstanceInfo:
    raw = dict(task.data["source"])
    raw["security_group_ids"] = tuple(raw.get("security_group_ids") or ())
    raw["tags"] = tuple(tuple(t) for t in raw.get("tags") or ())
    return InstanceInfo(**raw)


def step_received(ctx: Context, task: TaskRow) -> None:
    """Verify with the cloud, then CreateImage straight away: the image is the long pole."""
    now = ctx.clock()
    event = task.data["event"]
    try:
        info = ctx.cloud.describe_instance(task.region, task.instance_id)
    except NotFound:
        return finish(task, "rejected", f"instance {task.instance_id} not found in {task.region}")
    interruption = Interruption(cloud=Cloud(task.cloud), region=task.region, instance_id=task.instance_id,
                                kind=EventKind(task.kind), account=event.get("account", ""))
    reason = instance_rejection(interruption, info, ctx.settings)
    if reason:
        return finish(task, "rejected", reason)
    task.data["source"] = dataclasses.asdict(info)
    stamp(task, "verified", now)
    if ctx.settings.dry_run:
        probe(ctx, task, planner.markets_for(ctx.settings.market_policy)[0])
        first = (task.data["candidates"] or [None])[0]
        return finish(task, "done", f"dry-run: would image {task.instance_id} and launch "
                                    f"{'%(instance_type)s in %(zone)s (%(market)s)' % first if first else 'nothing (no stock)'}")
    if _over_launch_cap(ctx, now):  # refuse early, before even the image costs anything
        return finish(task, "failed", LAUNCH_CAP_REASON % ctx.settings.max_launches_per_hour)
    name = f"responder-{task.instance_id}-{task.id[-8:]}"
    task.data["image_name"] = name
    task.data["image_id"] = ctx.cloud.create_image(
        task.region, task.instance_id, name, client_token=f"{task.id}-image",
        tags=(("responder:source-instance", task.instance_id), ("responder:task", task.id)))
    stamp(task, "image_requested", ctx.clock())
    task.status = "imaging"
    prepare_launch(ctx, task)
    task.next_at = ctx.clock() + image_poll_delay(ctx, task, elapsed=0.0, progress=0.0)


def prepare_launch(ctx: Context, task: TaskRow) -> None:
    """While the image builds: read what a clone needs that DescribeInstances does not carry (user
    data, role, system disk — Aliyun keeps them in other APIs), then probe stock. Idempotent:
    a throttled or crashed attempt resumes here without repeating what it already learned."""
    if not task.data.get("details_fetched") and hasattr(ctx.cloud, "clone_details"):
        task.data["source"] = dataclasses.asdict(ctx.cloud.clone_details(task.region, source_of(task)))
    task.data["details_fetched"] = True
    if "candidates" not in task.data:
        probe(ctx, task, planner.markets_for(ctx.settings.market_policy)[0])


def probe(ctx: Context, task: TaskRow, market: Market) -> None:
    """Rank the candidates that have stock on `market` now; records them on the task."""
    source = source_of(task)
    catalog = ctx.catalogs.get_or_load((task.cloud, task.region), lambda: ctx.cloud.instance_types(task.region))
    types = [t for t, _ in planner.candidate_types(source, catalog)]
    if getattr(ctx.cloud, "offerings_are_static", False):  # AWS: where a type is offered, not live stock
        in_stock = ctx.market_facts.get_or_load(("offerings", task.cloud, task.region, tuple(types), market),
                                                lambda: ctx.cloud.offerings_with_stock(task.region, types, market))
    else:  # Aliyun: DescribeAvailableResource is live stock, never cached
        in_stock = ctx.cloud.offerings_with_stock(task.region, types, market)
    subnets = ctx.subnets.get_or_load((task.cloud, task.region, source.vpc_id),
                                      lambda: ctx.cloud.subnets(task.region, source.vpc_id))
    scores = prices = None
    if market == Market.SPOT and hasattr(ctx.cloud, "placement_scores"):
        # Scores and prices move slowly; a burst of interruptions in one region shares one read.
        scores = ctx.market_facts.get_or_load(("scores", task.region, tuple(types)),
                                              lambda: ctx.cloud.placement_scores(task.region, types))
        prices = ctx.market_facts.get_or_load(("prices", task.region, tuple(types)),
                                              lambda: ctx.cloud.spot_prices(task.region, types))
    planned = planner.plan_candidates(source, catalog, market, in_stock, subnets, scores, prices)
    task.data["candidates"] = [c.to_json() for c in planned]
    task.data.setdefault("probed_markets", []).append(market.value)


def image_poll_delay(ctx: Context, task: TaskRow, elapsed: float, progress: float) -> float:
    """Poll when the image should be ready, not on a fixed 20 s beat.

    With a progress figure, extrapolate; else aim at how long images take here — exactly when
    that came from progress figures, a little early when it came from polls (then step finely,
    so the launch follows the image within about half a second); else back off geometrically.
    """
    if 0 < progress < 100 and elapsed > 0:
        return min(15.0, max(0.2, elapsed * (100 - progress) / progress + 0.05))
    known = ctx.build_estimates.get((task.cloud, task.region))
    if not known:
        return min(15.0, max(0.5, elapsed * 0.5))
    estimate, exact = known
    aim = estimate if exact else estimate * 0.9
    if elapsed < aim:
        return aim - elapsed + 0.05
    return min(15.0, max(0.2, estimate * 0.1)) if exact else min(0.5, max(0.1, estimate * 0.05))


def step_imaging(ctx: Context, task: TaskRow) -> None:
    prepare_launch(ctx, task)
    now = ctx.clock()
    requested = task.data["timings"]["image_requested"]
    image = ctx.cloud.describe_image(task.region, task.data["image_id"])
    task.data["image_polls"] = task.data.get("image_polls", 0) + 1
    if image.state == "failed":
        return finish(task, "failed", f"image {image.image_id} CreateFailed{': ' + image.reason if image.reason else ''}")
    if image.state != "available":
        if now - requested > ctx.settings.image_timeout_seconds:
            return finish(task, "failed", f"image {image.image_id} not available after "
                                          f"{ctx.settings.image_timeout_seconds:.0f} s")
        progress = float(str(image.progress).rstrip("%") or 0) if image.progress else 0.0
        task.data["image_last_creating"] = now - requested
        if 0 < progress < 100:
            task.data["image_total_estimate"] = (now - requested) * 100 / progress
        task.next_at = now + image_poll_delay(ctx, task, now - requested, progress)
        return
    stamp(task, "image_available", now)
    ctx.build_estimates[(task.cloud, task.region)] = _learned_build_time(ctx, task, now - requested)
    if task.kind == EventKind.REBALANCE.value and ctx.settings.rebalance_policy == "image-only":
        return finish(task, "done", "rebalance policy image-only: image taken, no replacement launched")
    task.status = "launching"


def _learned_build_time(ctx: Context, task: TaskRow, seen_available_after: float) -> tuple[float, bool]:
    """How long an image takes here, for the next task's first poll. From the progress figure
    when the cloud gives one (Aliyun); else the midpoint between the last "creating" answer and
    this one (AWS); taking the moment we noticed would teach every later task to poll late."""
    if "image_total_estimate" in task.data:
        return task.data["image_total_estimate"], True
    if "image_last_creating" in task.data:
        return (task.data["image_last_creating"] + seen_available_after) / 2, False
    known = ctx.build_estimates.get((task.cloud, task.region))
    if known:  # available at the first look: the estimate was not too short; never let it grow
        return min(known[0], seen_available_after), known[1]
    return seen_available_after, False


def step_launching(ctx: Context, task: TaskRow) -> None:
    now = ctx.clock()
    action = ctx.settings.aws_action if task.cloud == "aws" else "launch"
    if action == "reserve":
        return _reserve(ctx, task, then_finish=True)
    if task.data.get("replacement_ids"):
        return _wait_running(ctx, task, now)
    stamp(task, "launching_since", now)
    # Checked again where the money is spent: tasks received together all passed the early check.
    if not task.data.get("ledger") and _over_launch_cap(ctx, now):
        return finish(task, "failed", LAUNCH_CAP_REASON % ctx.settings.max_launches_per_hour)
    outcome = launch_replacement(ctx, task, source_of(task))
    if outcome.instance_ids:
        task.data["replacement_ids"] = list(outcome.instance_ids)
        task.data["replacement"] = outcome.chosen
        task.data["launched_at"] = ctx.clock()
        task.next_at = ctx.clock() + 1.0
        return
    markets = planner.markets_for(ctx.settings.market_policy)
    remaining = [m for m in markets if m.value not in task.data.get("probed_markets", [])]
    if remaining:
        probe(ctx, task, remaining[0])  # spot is gone: look at the next market at once
        return step_launching(ctx, task)
    waited = now - task.data["timings"]["launching_since"]
    if waited >= ctx.settings.launch_retry_seconds:
        return finish(task, "failed", "no stock for any candidate: " + outcome.summary())
    task.data["probed_markets"] = []  # stock frees up over time: look again after a pause
    probe(ctx, task, markets[0])
    task.next_at = now + min(30.0, max(1.0, ctx.settings.launch_retry_seconds - waited))


def _wait_running(ctx: Context, task: TaskRow, now: float) -> None:
    states = ctx.cloud.instance_states(task.region, task.data["replacement_ids"])
    if states and all(s.lower() == "running" for s in states.values()):
        stamp(task, "running", now)
        if hasattr(ctx.cloud, "associate_address") and task.data["source"].get("elastic_ip_allocation"):
            ctx.cloud.associate_address(task.region, task.data["source"]["elastic_ip_allocation"],
                                        task.data["replacement_ids"][0])
            task.data["elastic_ip_moved"] = True
        if ctx.settings.aws_action == "both" and task.cloud == "aws" and "reservation" not in task.data:
            _reserve(ctx, task, then_finish=False)
        chosen = task.data["replacement"]
        return finish(task, "done", f"replaced by {', '.join(task.data['replacement_ids'])} "
                                    f"({chosen['instance_type']} in {chosen['zone']}, {chosen['market']})")
    waited = now - task.data["launched_at"]
    if waited > RUNNING_TIMEOUT:
        return finish(task, "failed", f"replacement {', '.join(task.data['replacement_ids'])} not running after "
                                      f"{RUNNING_TIMEOUT:.0f} s (states: {states or 'not found'})")
    task.next_at = now + min(10.0, max(0.5, waited * 0.5))


def _reserve(ctx: Context, task: TaskRow, then_finish: bool) -> None:
    """Policy reserve / both (AWS): hold on-demand capacity (an ODCR) through the capacity engine."""
    reservation = reserve_capacity(ctx, task)
    task.data["reservation"] = reservation
    if not then_finish:
        return
    if reservation is None:
        return finish(task, "failed", "no capacity to reserve for any candidate: " + "; ".join(task.data.get("refusals", [])))
    finish(task, "done", f"reserved {reservation['reservation_id']} ({reservation['instance_type']} in "
                         f"{reservation['zone']}); no replacement launched (RESPONDER_AWS_ACTION=reserve)")


STEPS: dict[str, Callable[[Context, TaskRow], Any]] = {
    "received": step_received,
    "imaging": step_imaging,
    "launching": step_launching,
}
