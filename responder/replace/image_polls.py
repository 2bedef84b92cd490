"""When to look at an image again, and what one image taught about the next.

Parts: SETTLED_POLL_S, Facts (what the runner learned across tasks: image build times, reclaims),
progress_of (an image's progress figure), image_poll_delay (the next look, from progress or an
estimate, never a fixed beat), settled_poll_delay (the same once the task holds its replacement: the
image gates only the swap), settled_poll_at, learned_build_time (what an image that became
Available says about the next task's first poll).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from responder.replace.build_times import BuildTimes
from responder.replace.churn_store import ChurnHistory
from responder.replace.record import Task

# An image whose task already holds its replacement gates only the swap of the root disk (capacity
# first, state second): its polls go on a slow beat and take the wave's answer up to this old
# (batching.py), so a wave of hundreds reads its building images a page a call every this many
# seconds, not every 2 s; the swap follows the image by at most this much.
SETTLED_POLL_S = 15.0
# ... and while its progress says the image is far from done, half the time it says is left, up to
# this: a 20-minute build is looked at a few times a minute early on, every SETTLED_POLL_S at the end.
SETTLED_MAX_POLL_S = 60.0


@dataclass
class Facts:
    """Learned across tasks: (cloud, region) → (seconds an image takes, exact?), for polling, by
    one runner; `times`, the store's table of observed build and boot times, by every runner."""

    build_estimates: dict = field(default_factory=dict)
    times: Optional[BuildTimes] = None
    churn: Optional[ChurnHistory] = None  # the store's reclaims per pool, for the churn guard


def progress_of(image) -> float:
    """A building image's progress figure in percent ("42%" on ECS); 0 when the cloud gives none (EC2)."""
    return float(str(image.progress).rstrip("%") or 0) if image.progress else 0.0


def image_poll_delay(facts: Facts, task: Task, elapsed: float, progress: float) -> float:
    """Poll when the image should be ready, not on a fixed 20 s beat.

    With a progress figure, extrapolate; else aim at how long this image should take — from its
    disks when they were read (race.py), else how long images took here — exactly when that came
    from progress figures, a little early otherwise (then step finely — 0.5 % of the figure, so the launch follows the
    image within that — and back off geometrically once the image is well past that figure); else
    back off geometrically.
    """
    if 0 < progress < 100 and elapsed > 0:
        return min(15.0, max(0.2, elapsed * (100 - progress) / progress + 0.05))
    known = facts.build_estimates.get((task.cloud, task.region))
    own = task.record.race.image_estimate_s if task.record.race.disks else None
    if own and elapsed < own * 0.9:  # this image's own estimate, learned or a harsh prior: a guess, so
        return min(own * 0.9 - elapsed + 0.05, max(2.0, min(15.0, elapsed * 0.5)))  # look on the way too
    if own:
        known = (own, False)
    if not known:
        return min(15.0, max(0.5, elapsed * 0.5))
    estimate, exact = known
    aim = estimate if exact else estimate * 0.9
    if elapsed < aim:
        return aim - elapsed + 0.05
    overdue = elapsed - estimate
    if overdue > max(5.0, 0.1 * estimate):  # the estimate was wrong for this image: stop stepping finely
        return min(15.0, max(0.5, overdue * 0.5))
    # Step through the window around the estimate in steps of 0.5 % of it (0.3 s for a one-minute
    # image, the 15 s cap for hours): a fixed half-second beat read a slow image thousands of times.
    return min(15.0, max(0.2, estimate * 0.1)) if exact else min(15.0, max(0.1, estimate * 0.005))


def settled_poll_delay(facts: Facts, task: Task, elapsed: float, progress: float) -> float:
    """image_poll_delay for a task that holds its replacement: at least SETTLED_POLL_S, and half the
    time left (up to SETTLED_MAX_POLL_S) — from the progress figure, else (EC2 gives none) from what
    images took here (observed, never the prior), else half the time already waited — so the swap
    follows the image by at most SETTLED_POLL_S once it is near, and by at most SETTLED_MAX_POLL_S
    where an estimate was long."""
    delay = max(image_poll_delay(facts, task, elapsed, progress), SETTLED_POLL_S)
    if 0 < progress < 100 and elapsed > 0:
        left = elapsed * (100 - progress) / progress
    else:
        estimate = _observed_estimate(facts, task)
        # Only a figure something observed says how long is left. A prior is a harsh guess (333 s for
        # a small first EBS snapshot that may take seconds): aimed at, it held a swap back a full
        # minute and then taught the store the late look as the build time. Without one, back off
        # from the time already waited: the first look a beat away, the next ones wider.
        left = estimate - elapsed if estimate is not None else elapsed
    return max(delay, min(SETTLED_MAX_POLL_S, left / 2))


def _observed_estimate(facts: Facts, task: Task) -> Optional[float]:
    """How long this image should take from what was seen: images this runner watched here, else the
    store's observations of disks like these; None when only the prior speaks."""
    known = facts.build_estimates.get((task.cloud, task.region))
    if known:
        return known[0]
    race = task.record.race
    belief = race.image_belief
    if race.disks and race.image_estimate_s and belief is not None and belief.source == "observed":
        return race.image_estimate_s
    return None


def settled_poll_at(now: float, delay: float) -> float:
    """When a settled task looks at its image next: `delay` from now, moved up to the next multiple
    of SETTLED_POLL_S, so the wave sees its images become Available together and their swaps start
    together (the swaps' looks are one read per beat however many swaps share it)."""
    return math.ceil((now + delay) / SETTLED_POLL_S - 1e-9) * SETTLED_POLL_S


def learned_build_time(facts: Facts, task: Task, seen_available_after: float) -> Optional[tuple[float, bool]]:
    """How long an image takes here, for the next task's first poll. From the progress figure
    when the cloud gives one (Aliyun); else the midpoint between the last "creating" answer and
    this one (AWS); taking the moment we noticed would teach every later task to poll late."""
    image = task.record.image
    if image.total_estimate is not None:
        return image.total_estimate, True
    if image.last_creating_after is not None:
        return (image.last_creating_after + seen_available_after) / 2, False
    known = facts.build_estimates.get((task.cloud, task.region))
    if known:  # available at the first look: the estimate was not too short; never let it grow
        return min(known[0], seen_available_after), known[1]
    # Available at the first look with nothing known: only an upper bound (the first look may
    # have come late, after a backoff); learning it would make every later task poll late.
    return None
