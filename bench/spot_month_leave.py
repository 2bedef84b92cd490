"""A prototype for bench/spot_month.py's `leave` variant: our spot instances in a pool the churn
guard demotes move out before that pool reclaims them too, as a planned move (no deadline, one at a
time per instance, the move back's wave budget and RESPONDER_REVERT_WINDOW). Measured only: the
product does not do this (BENCHMARKS.md "Spot month" says why).

Parts: leave_candidates (where an instance leaving a demoted pool may go, quietest first),
leave_choice (one instance at one tick: whether it leaves, and to where).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from responder.model import Market
from responder.replace import churn, planner

if TYPE_CHECKING:  # spot_month imports this module
    from spot_month import Instance, Sim


def leave_candidates(candidates: list[planner.Candidate], found: dict[churn.Pool, churn.PoolStanding],
                     leaving: churn.Pool, cloud: str, region: str,
                     avoid: frozenset = frozenset()) -> list[planner.Candidate]:
    """Where an instance of ours moves when the pool it runs in (`leaving`) is demoted, before that
    pool reclaims it too: spot pools other than a demoted one, quieter than the one it leaves
    (fewer of their own occasions in the window), the quietest first, each group in the planner's
    order. Quietest first, not the planner's next: every instance of a demoted pool leaves at once,
    and sending them all to the next pool in line would make that one the next to churn and then
    send them back when the first pool's demotion ends (the herd the month benchmark showed).
    `avoid`: pools we left lately; once empty of ours they reclaim nothing and would look calm."""
    here = found.get(leaving)
    ceiling = here.occasions if here is not None else 0

    def occasions_of(c: planner.Candidate) -> int:
        standing = found.get(churn.Pool(cloud, region, c.zone, c.instance_type, c.market))
        return standing.occasions if standing is not None else 0

    kept = [c for c in candidates if c.market == "spot"
            and churn.Pool(cloud, region, c.zone, c.instance_type, c.market) != leaving
            and churn.Pool(cloud, region, c.zone, c.instance_type, c.market) not in avoid
            and not (found.get(churn.Pool(cloud, region, c.zone, c.instance_type, c.market)) or _CALM).demoted_until
            and occasions_of(c) < ceiling]
    return sorted(kept, key=occasions_of)  # stable: the planner's order within the same count


_CALM = churn.PoolStanding(0, 0, 0, 0.0)  # a pool with no reclaim of ours in the horizon


def leave_choice(sim: Sim, instance: Instance, now: float):
    """Where a spot instance on the original type moves when the guard demotes the pool it runs in,
    or None: it stays (its pool is not demoted, the guard holds its chain, or no quieter pool has
    stock). The original type's spot candidates from the planner, as for the move back, filtered and
    ordered by leave_candidates."""
    leaving = churn.Pool(sim.cloud, sim.region_name, instance.zone, instance.instance_type, "spot")
    found = sim._standings(now)
    if not (found.get(leaving) and found[leaving].demoted_until):
        return None
    if now - instance.left_at < sim.policy.window_s:
        return None  # one move out per instance and window: a fleet leaving at once must not herd back and forth
    verdict = sim._verdict(instance.name, now)
    if verdict.prefer_on_demand:
        return None
    source = sim._source(sim.original, instance.zone, instance.name)
    planned, _ = sim._plan(source, Market.SPOT, now, verdict)
    avoid = frozenset(pool for pool, at in sim.left.items() if now - at < sim.policy.horizon_s and pool != leaving) \
        if sim.leave_memory else frozenset()
    usable = leave_candidates(planned, found, leaving, sim.cloud, sim.region_name, avoid)
    usable = [c for c in usable if c.instance_type == sim.original]  # another type would be moved back
    return usable[0] if usable else None
