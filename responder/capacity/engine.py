"""The shared capacity engine: buy `target` units over a list of offerings, in any time.

Parts: client_token (deterministic, <= 64 ASCII chars), Holding (what we hold: a reservation or
a batch of instances), Acquirer (the protocol callers implement), EngineEvent (progress
callbacks), Outcome, LedgerEntry / Ledger / MemoryLedger (intent before each call, result after:
a resumed run never buys twice), CapacityEngine (the loop). The per-offering policy (Waits,
EngineConfig, OfferState) lives in responder/capacity/offer_policy.py and is re-exported here.

The loop: pick the first offering that is ready, ask it for min(size, remaining); grow the last
holding on that offering when the acquirer can (fewer, larger reservations), otherwise create.
NoCapacity halves the size (20→10→5→2→1); a refusal at 1 puts the offering in a negative cache
for a TTL and the next offering is tried at once; we only sleep when no offering is ready.
A transient error retries the same call with the same token, at most `max_transient_retries`
times in a row: a server fault, timeout or reset at once (retry.fault_delay), a throttle after a
capped, jittered backoff; a call the API budget held back (errors.Deferred: never sent) waits until
its retry time without counting. With `transient_ends_run` (replacements, whose runner retries on
the task row) any of them ends the run instead, the call left pending so the next run re-issues it.
Time comes from the injected `clock` / `sleep` / `rand`, so tests and bench/odcr_sim.py run it in
simulated time.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional, Protocol

from responder.capacity.offer_policy import EngineConfig, OfferState, Waits
from responder.capacity.tokens import client_token
from responder.errors import CloudError, Deferred, Invalid, NoCapacity, NotFound, Throttled, Transient
from responder.model import Offering
from responder.retry import Backoff, fault_delay

__all__ = ["client_token", "Holding", "Acquirer", "Waits", "EngineConfig", "EngineEvent", "Outcome",
           "LedgerEntry", "Ledger", "MemoryLedger", "CapacityEngine"]


@dataclass(frozen=True)
class Holding:
    """Capacity we hold on one offering: a reservation (holding_id = the reservation id, count = its
    total), or a batch of launched instances (holding_id = the launch's ClientToken, which names
    the batch; members = the instance ids; count = how many)."""

    holding_id: str
    offering: Offering
    count: int
    initial: int = 0
    created_at: str = ""
    members: tuple[str, ...] = ()  # instance ids, for acquirers that launch instances


class Acquirer(Protocol):
    """Buys capacity; raises responder.errors (NoCapacity, Throttled, NotFound, Invalid, Fatal).

    An acquirer may also define `grow(holding, add, token) -> Holding` (the new total is
    holding.count + add, an absolute number, so re-issuing it is harmless); the engine then grows
    the last holding on an offering before creating another one.
    """

    def create(self, offering: Offering, count: int, token: str) -> Holding: ...


@dataclass(frozen=True)
class EngineEvent:
    """kind: resumed, attempt, success, no_capacity, halved, throttled, waiting, error, done."""

    kind: str
    acquired: int
    target: int
    attempts: int
    holdings: tuple[Holding, ...]
    offering: Optional[Offering] = None
    count: int = 0
    seconds: float = 0.0  # waiting / throttled: how long we sleep
    action: str = ""  # attempt / success: "create" | "grow"
    holding: Optional[Holding] = None
    message: str = ""


@dataclass
class Outcome:
    """reason: completed | deadline | exhausted | stopped | transient | error (then `error` says which)."""

    target: int
    acquired: int
    holdings: list[Holding]
    attempts: int
    elapsed: float
    reason: str
    error: Optional[CloudError] = None

    @property
    def completed(self) -> bool:
        return self.acquired >= self.target


@dataclass
class LedgerEntry:
    """One call: written as `pending` before it is made, settled with its result after."""

    run_id: str
    seq: int
    action: str  # create | grow
    offering: Offering
    count: int  # units this call adds
    token: str
    holding_id: str = ""  # grow: the holding grown
    total: int = 0  # the absolute total asked for (what makes a re-issued grow harmless)
    status: str = "pending"  # pending | ok | no_capacity | error
    result_id: str = ""
    result_total: int = 0
    initial: int = 0
    created_at: str = ""
    error: str = ""


class Ledger(Protocol):
    def entries(self, run_id: str) -> list[LedgerEntry]: ...

    def intend(self, entry: LedgerEntry) -> None: ...

    def settle(self, entry: LedgerEntry) -> None: ...


class MemoryLedger:
    """The ledger in a dict: tests, the simulation, callers that need no resume across processes."""

    def __init__(self):
        self.rows: dict[tuple[str, int], LedgerEntry] = {}

    def entries(self, run_id: str) -> list[LedgerEntry]:
        return [replace(e) for (r, _), e in sorted(self.rows.items()) if r == run_id]

    def intend(self, entry: LedgerEntry) -> None:
        self.rows[(entry.run_id, entry.seq)] = replace(entry)

    def settle(self, entry: LedgerEntry) -> None:
        self.rows[(entry.run_id, entry.seq)] = replace(entry)


class CapacityEngine:
    """One acquisition run; a new process resumes it by building an engine with the same run_id
    and ledger (holdings come back, an unsettled call is re-issued with its token)."""

    def __init__(self, acquirer: Acquirer, offerings: list[Offering], target: int, *, run_id: str,
                 config: Optional[EngineConfig] = None, ledger: Optional[Ledger] = None,
                 holdings: tuple[Holding, ...] = (), on_event: Optional[Callable[[EngineEvent], None]] = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, should_stop: Callable[[], bool] = lambda: False):
        if target < 0:
            raise ValueError("target must be >= 0")
        if not offerings:
            raise ValueError("at least one offering is needed")
        self.acquirer, self.target, self.run_id = acquirer, target, run_id
        self.config = config or EngineConfig()
        self.ledger = ledger if ledger is not None else MemoryLedger()
        self.on_event, self.clock, self.sleep, self.rand = on_event, clock, sleep, rand
        self.should_stop = should_stop
        self.states = [OfferState(o) for o in dict.fromkeys(offerings)]
        self.holdings: dict[str, Holding] = {h.holding_id: h for h in holdings}
        self.stale: set[str] = set()  # holdings that can no longer grow (NotFound)
        self.acquired = self.attempts = self.seq = self.throttles = 0
        self.throttle_until = 0.0
        self.pending: Optional[LedgerEntry] = None
        self.last_error: Optional[CloudError] = None
        self.can_grow = callable(getattr(acquirer, "grow", None)) and self.config.grow_last_first
        self.resumed = self._restore()

    @property
    def remaining(self) -> int:
        return max(0, self.target - self.acquired)

    # -- resume ------------------------------------------------------------------------------
    def _restore(self) -> bool:
        """Rebuild holdings and progress from the ledger; an unsettled call is re-issued first."""
        entries = self.ledger.entries(self.run_id)
        for e in entries:
            self.seq = max(self.seq, e.seq)
            if e.status == "ok":
                self._hold(e)
            elif e.status == "pending":
                self.pending = e  # at most one: calls are sequential
        return bool(entries)

    def _hold(self, e: LedgerEntry) -> Holding:
        old = self.holdings.get(e.result_id)
        held = Holding(e.result_id, e.offering, e.result_total,
                       initial=old.initial if old else (e.initial or e.result_total),
                       created_at=old.created_at if old else e.created_at,
                       members=old.members if old else ())
        self.holdings[e.result_id] = held
        self.acquired += e.count
        return held

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> Outcome:
        start = self.clock()
        deadline = start + self.config.timeout if self.config.timeout is not None else None
        if self.resumed:
            self._emit("resumed", message=f"{self.acquired} already held")
        reason, error = "completed", None
        while self.remaining > 0 or self.pending is not None:
            if self.should_stop():
                reason = "stopped"
                break
            now = self.clock()
            if deadline is not None and now >= deadline:
                reason = "deadline"
                break
            live = [s for s in self.states if not s.dead]
            if not live:
                reason, error = "error", self.last_error
                break
            wake = max(self.throttle_until, now)
            ready: list[OfferState] = []
            if self.pending is None:
                ready = [s for s in live if s.ready_at <= now]
                if not ready and self.config.stop_when_exhausted and all(s.negative for s in live):
                    reason = "exhausted"
                    break
                if not ready:
                    wake = max(wake, min(s.ready_at for s in live))
            if wake > now:
                self._wait((wake if deadline is None else min(wake, deadline)) - now)
                continue
            entry = self.pending or self._plan(ready[0])
            if entry is None:  # grow-only (expand) and the holding is gone
                reason, error = "error", self.last_error or NotFound("NoHolding", "nothing left to grow")
                break
            error = self._call(entry)
            if error is not None:
                reason = "transient" if isinstance(error, Transient) else "error"
                break
        outcome = Outcome(self.target, self.acquired, list(self.holdings.values()), self.attempts,
                          self.clock() - start,
                          reason if self.remaining or reason in ("error", "transient") else "completed",
                          error)
        self._emit("done", message=outcome.reason)
        return outcome

    def _plan(self, st: OfferState) -> Optional[LedgerEntry]:
        count = max(1, min(st.size, self.remaining))
        grow = self._growable(st.offering)
        if grow is None and not self.config.allow_create:
            return None
        self.seq += 1
        token = client_token(self.run_id, self.seq)
        if grow is not None:
            return LedgerEntry(self.run_id, self.seq, "grow", st.offering, count, token,
                               holding_id=grow.holding_id, total=grow.count + count)
        return LedgerEntry(self.run_id, self.seq, "create", st.offering, count, token, total=count)

    def _growable(self, offering: Offering) -> Optional[Holding]:
        if not self.can_grow:
            return None
        mine = [h for h in self.holdings.values() if h.offering == offering and h.holding_id not in self.stale]
        return mine[-1] if mine else None

    def _call(self, e: LedgerEntry) -> Optional[CloudError]:
        """Make one call, ledger on both sides. Returns the error that ends the run, if any."""
        # A resumed call may name an offering this run no longer lists: it still gets settled.
        st = next((s for s in self.states if s.offering == e.offering), None) or OfferState(e.offering)
        self.ledger.intend(e)
        self.pending = e
        self.attempts += 1
        self._emit("attempt", offering=e.offering, count=e.count, action=e.action,
                   holding=self.holdings.get(e.holding_id))
        try:
            if e.action == "grow":
                base = self.holdings.get(e.holding_id) or Holding(e.holding_id, e.offering, 0)
                got = self.acquirer.grow(replace(base, count=e.total - e.count), e.count, e.token)
            else:
                got = self.acquirer.create(e.offering, e.count, e.token)
        except Deferred as exc:  # the budget held it back: nothing was sent, nothing failed
            if self.config.transient_ends_run:
                return exc
            self.throttle_until = exc.retry_at
            self._emit("waiting", offering=e.offering, count=e.count, seconds=exc.retry_at - self.clock())
            return None
        except Transient as exc:
            # Maybe nothing was done, maybe the answer was lost: the very same call (same token,
            # same parameters) is what may be sent again, never a new one.
            self.throttles += 1
            if self.config.transient_ends_run or self.throttles > self.config.max_transient_retries:
                self.last_error = exc
                self._emit("error", offering=e.offering, count=e.count, message=str(exc))
                return exc
            delay = (Backoff(self.config.throttle_base, self.config.throttle_cap).delay(self.throttles, self.rand)
                     if isinstance(exc, Throttled) else fault_delay(self.throttles, self.rand))
            self.throttle_until = self.clock() + delay
            self._emit("throttled", offering=e.offering, count=e.count, seconds=delay)
            return None
        except NoCapacity as exc:
            self._settle(e, "no_capacity", error=exc.code)
            halved = st.refused(self.clock(), e.count, self.config)
            self._emit("halved" if halved else "no_capacity", offering=e.offering,
                       count=st.size if halved else e.count, message=exc.code)
            return None
        except CloudError as exc:
            self._settle(e, "error", error=exc.code)
            self.last_error = exc
            self._emit("error", offering=e.offering, count=e.count, message=str(exc))
            if isinstance(exc, NotFound) and e.action == "grow" and self.config.allow_create:
                self.stale.add(e.holding_id)  # gone: buy a new one instead
                return None
            if isinstance(exc, Invalid) and sum(not s.dead for s in self.states) > 1:
                st.dead = True  # this zone/type is wrong here; the other offerings may be fine
                return None
            return exc
        self.throttles = 0
        e.result_id, e.result_total = got.holding_id, got.count
        e.initial, e.created_at = (got.initial or got.count), got.created_at
        held = self._settle(e, "ok")
        if got.members:
            held = self.holdings[got.holding_id] = replace(held, members=got.members)
        st.succeeded(self.clock(), e.count, self.config, alone=sum(not s.dead for s in self.states) < 2)
        self._emit("success", offering=e.offering, count=e.count, action=e.action, holding=held)
        return None

    def _settle(self, e: LedgerEntry, status: str, error: str = "") -> Optional[Holding]:
        e.status, e.error = status, error
        self.ledger.settle(e)
        self.pending = None
        self.throttles = 0 if status != "ok" else self.throttles
        self.throttle_until = 0.0
        return self._hold(e) if status == "ok" else None

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self._emit("waiting", seconds=seconds)
        self.sleep(seconds)

    def _emit(self, kind: str, **kw) -> None:
        if self.on_event is not None:
            self.on_event(EngineEvent(kind, self.acquired, self.target, self.attempts,
                                      tuple(self.holdings.values()), **kw))
