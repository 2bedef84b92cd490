"""Planned moves out of a pool whose published interruption band is at or above a threshold, in
bench/spot_month.py: the product's rule (the `bands` variant: the fleet not named; the `fleet`
variant: the fleet named, RESPONDER_FLEET_SELECTORS) and the prototype that preceded it (the `calm`
variant), which also moves the fleet's first instances, ones the product never saw.

Parts: CALM_BAND (the stated threshold), stressed (a pool at or above it), adopt_due (the product's
fleet read, responder/revert/fleet.py: every FLEET_SCAN_SECONDS the fleet's first instances judged
by the product's adoption rule, responder/revert/adoption.py, and the adopted ones recorded as the
product records them), product_choice (the product's rule, responder/revert/calm.py and
responder/replace/calm_rule.py, for one instance at one tick), calm_choice (the prototype's).

The product's rule: an instance it placed (a replacement, or a move's; the bench's `version > 1`)
or, with the fleet named, one it adopted, on spot on the original type, whose pool's band at the
placement (the adoption) is at or above the threshold, moves RESPONDER_REVERT_AFTER after it took
over (was adopted), outside RESPONDER_REVERT_WINDOW, at most once per RESPONDER_CALM_WINDOW_HOURS,
to the best-ranked calmer zone of its type the churn guard allows. The fleet is a bench's own (no
tags, no policy): every first instance is of the fleet and may be released.

The prototype's rule: on the ticker, outside RESPONDER_REVERT_WINDOW, counted in the same per-tick
limit as the move back (the bench's moves_per_tick), an instance of ours on spot on the original
type in a pool at or above the threshold moves once to the best-ranked spot pool of the original
type below it (the product's ranking with the bands and the churn guard); at most one such move per
instance per churn window; never for a chain the guard sends on-demand first. Another type is not
a target: the move back to spot would move it back to the original type. The move back itself
skips pools at or above the threshold in this variant (it has no deadline).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from responder.clouds import spot_bands
from responder.model import Market
from responder.replace import bands, calm_rule, churn
from responder.replace.record import Task
from responder.revert import adoption, eligible
from responder.revert.calm import placed_of
from responder.revert.fleet import FLEET_SCAN_SECONDS
from responder.store import TaskRow

if TYPE_CHECKING:  # spot_month imports this module
    from spot_month import Instance, Sim

CALM_BAND = ">20%"  # stated default: only the top band, the one the ranking already puts after calmer pools


def stressed(sim: Sim, instance_type: str, zone: str) -> bool:
    band = spot_bands.band_for(sim.band_view.bands if sim.band_view else None, instance_type, zone)
    return band is not None and band >= spot_bands.BANDS.index(sim.calm_band)


def adopt_due(sim: Sim, now: float) -> None:
    """The fleet read when it is due: each first instance (no task of ours placed it) the product's
    rule adopts is recorded as the product records it, and read back as the scan reads it."""
    if sim.calm != "fleet" or now < sim.fleet_read_at:
        return
    sim.fleet_read_at = now + FLEET_SCAN_SECONDS
    found = sim.band_view.bands if sim.band_view else {}
    for instance in sim.instances:
        if instance.version != 1 or instance.adopted_at is not None or instance.market != "spot" or instance.moving:
            continue
        info = dataclasses.replace(sim._source(instance.instance_type, instance.zone, instance.name), reclaiming=False)
        band = spot_bands.band_for(found, info.instance_type, info.zone)
        if adoption.cloud_says(info, band, sim.settings, calmer=adoption.calmer_zone(found, info, sim.settings)):
            continue
        row = TaskRow(id=instance.name, key=adoption.adopted_key(sim.cloud, sim.region_name, instance.name),
                      cloud=sim.cloud, region=sim.region_name, instance_id=instance.name, kind=adoption.ADOPTED,
                      status="done", data=adoption.adopted_record(info, band, now).to_json())
        placed = placed_of(Task(row))
        instance.adopted_at, instance.band = placed.since, placed.band


def product_choice(sim: Sim, instance: Instance, now: float):
    """Where the product's planned move takes a spot instance, or None: it stays."""
    settings = sim.settings
    known = instance.version > 1 or instance.adopted_at is not None  # placed by a task of ours, or adopted
    if not known or instance.instance_type != sim.original or not calm_rule.stressed(instance.band, settings):
        return None  # the fleet's own first instance (no task of ours saw it), or not stressed
    since = instance.since if instance.version > 1 else instance.adopted_at
    if now - instance.left_at < settings.calm_window_hours * 3600.0 or eligible.waits(since, settings, now):
        return None
    verdict = sim._verdict(instance.name, now)
    source = sim._source(sim.original, instance.zone, instance.name)
    planned, _ = sim._plan(source, Market.SPOT, now, verdict)
    usable, _ = churn.revert_candidates(planned, verdict, sim.cloud, sim.region_name)
    targets = calm_rule.targets(usable, bands.of_pools(planned, sim.band_view), sim.original, instance.zone, settings)
    return targets[0] if targets else None


def calm_choice(sim: Sim, instance: Instance, now: float):
    """Where a spot instance in a published-stressed pool moves, or None: it stays."""
    if instance.instance_type != sim.original or not stressed(sim, instance.instance_type, instance.zone):
        return None
    if now - instance.left_at < sim.policy.window_s:
        return None  # one planned move per instance and window
    verdict = sim._verdict(instance.name, now)
    if verdict is not None and verdict.prefer_on_demand:
        return None
    source = sim._source(sim.original, instance.zone, instance.name)
    planned, _ = sim._plan(source, Market.SPOT, now, verdict)
    usable, _ = churn.revert_candidates(planned, verdict, sim.cloud, sim.region_name)
    usable = [c for c in usable if c.instance_type == sim.original and not stressed(sim, c.instance_type, c.zone)]
    return usable[0] if usable else None
