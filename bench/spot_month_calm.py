"""Planned moves out of a pool whose published interruption band is at or above a threshold, in
bench/spot_month.py: the product's rule (the `bands` variant) and the prototype that preceded it
(the `calm` variant), which also moves the fleet's first instances, ones the product never saw.

Parts: CALM_BAND (the stated threshold), stressed (a pool at or above it), product_choice (the
product's rule, responder/revert/calm.py and responder/replace/calm_rule.py, for one instance at one
tick; in the `fleet` variant for the fleet's first instances too, as if the product knew them),
calm_choice (the prototype's).

The product's rule: an instance it placed (a replacement, or a move's; the bench's `version > 1`)
on spot on the original type, whose pool's band at the placement is at or above the threshold,
moves RESPONDER_REVERT_AFTER after it took over, outside RESPONDER_REVERT_WINDOW, at most once per
RESPONDER_CALM_WINDOW_HOURS, to the best-ranked calmer zone of its type the churn guard allows.

The prototype's rule: on the ticker, outside RESPONDER_REVERT_WINDOW, counted in the same per-tick
limit as the move back (the bench's moves_per_tick), an instance of ours on spot on the original
type in a pool at or above the threshold moves once to the best-ranked spot pool of the original
type below it (the product's ranking with the bands and the churn guard); at most one such move per
instance per churn window; never for a chain the guard sends on-demand first. Another type is not
a target: the move back to spot would move it back to the original type. The move back itself
skips pools at or above the threshold in this variant (it has no deadline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from responder.clouds import spot_bands
from responder.model import Market
from responder.replace import bands, calm_rule, churn
from responder.revert import eligible

if TYPE_CHECKING:  # spot_month imports this module
    from spot_month import Instance, Sim

CALM_BAND = ">20%"  # stated default: only the top band, the one the ranking already puts after calmer pools


def stressed(sim: Sim, instance_type: str, zone: str) -> bool:
    band = spot_bands.band_for(sim.band_view.bands if sim.band_view else None, instance_type, zone)
    return band is not None and band >= spot_bands.BANDS.index(sim.calm_band)


def product_choice(sim: Sim, instance: Instance, now: float):
    """Where the product's planned move takes a spot instance, or None: it stays."""
    settings = sim.settings
    known = instance.version > 1 or sim.calm == "fleet"  # the product knows only what it placed
    if not known or instance.instance_type != sim.original or not calm_rule.stressed(instance.band, settings):
        return None  # the fleet's own first instance (no task of ours saw it), or not stressed
    if now - instance.left_at < settings.calm_window_hours * 3600.0 or eligible.waits(instance.since, settings, now):
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
