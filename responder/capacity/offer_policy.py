"""Per-offering policy of the capacity engine: how big the next ask is and when it may be made.

Parts: Waits (the old ODCR tool's three waits, as parameters), EngineConfig, OfferState (size,
readiness, negative cache, halving, and what a success or a refusal teaches about free capacity).

Kept apart from responder/capacity/engine.py so the policy can be read (and tuned against
bench/odcr_sim.py, see BENCHMARKS.md) without the ledger and resume machinery around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from responder.model import Offering

REMAINDER = 10**9  # "ask for everything still missing"; capped by the remainder at plan time


@dataclass(frozen=True)
class Waits:
    """Seconds. Defaults are the old tool's: 30 after a success, 5 after halving, 30 when even 1
    is refused (that last one is also how long a refusing offering stays in the negative cache)."""

    after_success: float = 30.0
    after_halving: float = 5.0
    after_shortage: float = 30.0


@dataclass(frozen=True)
class EngineConfig:
    waits: Waits = field(default_factory=Waits)
    timeout: Optional[float] = None  # seconds from run() start; None = until done or stopped
    throttle_base: float = 1.0  # first throttling backoff, doubled per consecutive Throttled...
    throttle_cap: float = 20.0  # ...up to this; each delay is jittered to [50 %, 100 %]
    max_transient_retries: int = 8  # consecutive transient failures of one call before the run ends
    transient_ends_run: bool = False  # True: return at the first one; the caller retries later
    grow_last_first: bool = True  # grow the last holding on an offering before creating another
    allow_create: bool = True  # False: only grow the holdings given (ODCR expand)
    stop_when_exhausted: bool = False  # return instead of waiting when every offering is negative
    # After a refusal at size 1 the next ask is a 1-unit probe, not the whole halving ladder again:
    # a drought costs one call per wait instead of five.
    probe_after_shortage: bool = True
    # A success with nothing refused yet in the cycle means the offering may have more: double
    # and ask again at once, so a probe that hits a large release grabs it in a few quick calls.
    ramp_up: bool = True
    # With several offerings, ramp also when the cycle had refused a larger size, instead of the
    # after-success rest: the grant is at least one halving wait younger than that refusal, so it
    # bounds nothing, and a refused doubled ask costs no time (the next zone is asked at once).
    # With one offering the refusal would cost a halving wait on the only zone: it rests instead.
    ramp_after_refusal: bool = True
    # After the wait that follows a success below a refused size, start at twice what worked
    # (then ramp) instead of at the whole remainder: fewer refused asks, each costing a halving wait.
    restart_from_last: bool = False


@dataclass
class OfferState:
    offering: Offering
    size: int = REMAINDER
    ready_at: float = 0.0
    negative: bool = False  # refused even 1 unit; skipped until ready_at
    dead: bool = False  # Invalid for this offering (bad zone/type): never asked again
    refused_in_cycle: bool = False

    def refused(self, now: float, count: int, config: EngineConfig) -> bool:
        """NoCapacity for `count`. Returns True when we halved, False when even 1 was refused."""
        if count > 1:
            self.size = max(1, count // 2)
            self.ready_at = now + config.waits.after_halving
            self.refused_in_cycle = True
            return True
        self.negative = True
        self.ready_at = now + config.waits.after_shortage
        self.size = 1 if config.probe_after_shortage else REMAINDER
        self.refused_in_cycle = False  # the next ask starts a new cycle
        return False

    def succeeded(self, now: float, count: int, config: EngineConfig, alone: bool = True) -> None:
        """A grant of `count`; `alone`: no other live offering to ask while this one rests."""
        self.negative = False
        if config.ramp_up and (not self.refused_in_cycle or (config.ramp_after_refusal and not alone)):
            self.ready_at, self.size = now, count * 2
            self.refused_in_cycle = False
            return
        # It just refused a larger size: nearly dry, let it refill before the next cycle.
        self.ready_at = now + config.waits.after_success
        self.size = count * 2 if config.restart_from_last else REMAINDER
        self.refused_in_cycle = False
