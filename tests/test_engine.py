"""The capacity engine in simulated time: halving, remainders, grow-first, the negative cache,
throttling, deadlines, resume from the ledger, deterministic tokens.

Parts: SimClock (the only thing faked: time), Market (a stand-in cloud selling capacity that
frees up on a schedule — a fake, not a mock of any SDK), tests.
"""

from __future__ import annotations

import pytest

from responder.capacity.engine import (CapacityEngine, EngineConfig, Holding, MemoryLedger, Waits,
                              client_token)
from responder.errors import Fatal, Invalid, NoCapacity, NotFound, Throttled
from responder.model import Offering

A = Offering("m5.large", "us-east-2a")
B = Offering("m5.large", "us-east-2b")
C = Offering("m5.large", "us-east-2c")


class SimClock:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Market:
    """Free units per offering, `schedule[offering] = [(at, add)]`; `throttle` fails the next N
    calls. Each call takes `latency` simulated seconds. Tokens are idempotent, as the clouds'."""

    def __init__(self, clock: SimClock, free: dict, schedule: dict | None = None, latency: float = 0.0,
                 growable: bool = True):
        self.clock, self.free, self.schedule, self.latency = clock, dict(free), schedule or {}, latency
        self.calls: list[tuple[str, Offering, int, str]] = []
        self.by_token: dict[str, Holding] = {}
        self.reservations: dict[str, Holding] = {}
        self.throttle = 0
        self.fail_with: Exception | None = None
        if growable:
            self.grow = self._grow

    def _tick(self, offering: Offering) -> None:
        self.clock.now += self.latency
        for at, add in [s for s in self.schedule.get(offering, []) if s[0] <= self.clock.now]:
            self.free[offering] = self.free.get(offering, 0) + add
            self.schedule[offering].remove((at, add))

    def _take(self, offering: Offering, count: int) -> None:
        if self.throttle:
            self.throttle -= 1
            raise Throttled("RequestLimitExceeded")
        if self.fail_with is not None:
            raise self.fail_with
        if self.free.get(offering, 0) < count:
            raise NoCapacity("InsufficientInstanceCapacity")
        self.free[offering] -= count

    def create(self, offering: Offering, count: int, token: str) -> Holding:
        self._tick(offering)
        self.calls.append(("create", offering, count, token))
        if token in self.by_token:
            return self.reservations[self.by_token[token].holding_id]
        self._take(offering, count)
        held = Holding(f"cr-{len(self.reservations) + 1}", offering, count, initial=count)
        self.by_token[token] = self.reservations[held.holding_id] = held
        return held

    def _grow(self, holding: Holding, add: int, token: str) -> Holding:
        self._tick(holding.offering)
        self.calls.append(("grow", holding.offering, add, token))
        current = self.reservations[holding.holding_id]
        total = holding.count + add  # absolute: re-issuing after a crash changes nothing
        if total > current.count:
            self._take(holding.offering, total - current.count)
        held = self.reservations[holding.holding_id] = Holding(current.holding_id, current.offering, total,
                                                                current.initial)
        return held


def engine(market, offerings, target, clock, **kw):
    config = kw.pop("config", EngineConfig())
    return CapacityEngine(market, offerings, target, run_id=kw.pop("run_id", "run1"), config=config,
                          clock=clock, sleep=clock.sleep, rand=kw.pop("rand", lambda: 0.5), **kw)


def sizes(market):
    return [c[2] for c in market.calls]


def test_enough_stock_buys_everything_in_one_call():
    clock = SimClock()
    market = Market(clock, {A: 100})
    out = engine(market, [A], 8, clock).run()
    assert (out.completed, out.acquired, out.attempts, len(out.holdings)) == (True, 8, 1, 1)
    assert out.reason == "completed" and clock.slept == []


def test_no_capacity_halves_twenty_ten_five_two_one_waiting_five_seconds_between():
    clock = SimClock()
    market = Market(clock, {A: 1})
    out = engine(market, [A], 20, clock, config=EngineConfig(timeout=21)).run()
    assert sizes(market)[:5] == [20, 10, 5, 2, 1]
    assert clock.slept[:4] == [5, 5, 5, 5]
    assert out.acquired == 1 and not out.completed and out.reason == "deadline"


def test_after_a_success_the_remainder_is_asked_for_after_the_success_wait():
    clock = SimClock()
    market = Market(clock, {A: 2}, {A: [(30, 8)]})
    events = []
    out = engine(market, [A], 10, clock, on_event=events.append).run()
    assert sizes(market) == [10, 5, 2, 8]
    assert [e.seconds for e in events if e.kind == "waiting"] == [5, 5, 30]
    assert out.completed and out.holdings == [Holding("cr-1", A, 10, initial=2)]


def test_the_last_holding_is_grown_before_a_new_one_is_created():
    clock = SimClock()
    market = Market(clock, {A: 2}, {A: [(30, 4), (80, 4)]})
    out = engine(market, [A], 10, clock).run()
    assert out.completed and len(out.holdings) == 1 and out.holdings[0].count == 10
    actions = [c[0] for c in market.calls]
    assert actions[:3] == ["create"] * 3 and set(actions[3:]) == {"grow"}  # 10, 5 refused, 2 bought


def test_without_grow_every_success_is_a_new_holding():
    clock = SimClock()
    market = Market(clock, {A: 2}, {A: [(30, 8)]}, growable=False)
    out = engine(market, [A], 10, clock).run()
    assert out.completed and [h.count for h in out.holdings] == [2, 8]


def test_an_offering_refusing_one_unit_is_skipped_and_the_next_is_tried_at_once():
    clock = SimClock()
    market = Market(clock, {A: 0, B: 3})
    events = []
    out = engine(market, [A, B], 3, clock, on_event=events.append).run()
    assert out.completed
    assert [(c[1], c[2]) for c in market.calls] == [(A, 3), (B, 3)] or [(c[1], c[2]) for c in market.calls][-1] == (B, 3)
    assert clock.now == 0  # B was asked without waiting for A's halving or negative cache


def test_when_every_offering_refuses_we_wait_for_the_negative_cache_ttl():
    clock = SimClock()
    market = Market(clock, {A: 0, B: 0}, {B: [(40, 1)]})
    out = engine(market, [A, B], 1, clock).run()
    assert out.completed
    assert clock.slept[0] == 30  # both refused 1 at t=0: the first to wake is tried after the TTL


def test_stop_when_exhausted_returns_instead_of_waiting():
    clock = SimClock()
    market = Market(clock, {A: 0, B: 0})
    out = engine(market, [A, B], 1, clock, config=EngineConfig(stop_when_exhausted=True)).run()
    assert out.reason == "exhausted" and out.acquired == 0 and clock.slept == [] and out.attempts == 2


def test_throttling_backs_off_capped_and_jittered_then_retries_the_same_token():
    clock = SimClock()
    market = Market(clock, {A: 5})
    market.throttle = 8
    draws = iter([0.0, 1.0] * 10)
    out = engine(market, [A], 5, clock, rand=lambda: next(draws),
                 config=EngineConfig(throttle_base=1, throttle_cap=8)).run()
    assert out.completed and out.attempts == 9
    assert clock.slept == [0.5, 2, 2, 8, 4, 8, 4, 8]  # base*2^n capped at 8, times 50-100 %
    assert len({c[3] for c in market.calls}) == 1  # nothing happened, so the same call again


def test_the_deadline_stops_with_a_partial_result():
    clock = SimClock()
    market = Market(clock, {A: 3})
    out = engine(market, [A], 10, clock, config=EngineConfig(timeout=120)).run()
    assert out.reason == "deadline" and out.acquired == 3 and not out.completed
    assert clock.now == pytest.approx(120)  # the last wait is cut at the deadline


def test_waits_are_parameters():
    clock = SimClock()
    market = Market(clock, {A: 2}, {A: [(3, 8)]})
    waits = Waits(after_success=1, after_halving=0.5, after_shortage=2)
    out = engine(market, [A], 10, clock, config=EngineConfig(waits=waits)).run()
    assert out.completed and set(clock.slept) <= {0.5, 1, 2}


def test_a_crash_before_the_result_resumes_with_the_same_token_and_never_buys_twice():
    clock = SimClock()
    market = Market(clock, {A: 4}, {A: [(30, 6)]})
    ledger = MemoryLedger()

    class Crash(BaseException):
        pass

    real_grow = market.grow

    def grow_then_die(holding, add, token):
        real_grow(holding, add, token)  # the cloud did it...
        raise Crash()  # ...but we died before writing the result down

    market.grow = grow_then_die
    with pytest.raises(Crash):
        engine(market, [A], 10, clock, ledger=ledger).run()
    assert [e.status for e in ledger.entries("run1")][-1] == "pending"
    market.grow = real_grow
    out = engine(market, [A], 10, clock, ledger=ledger).run()
    assert out.completed and out.acquired == 10
    assert market.reservations["cr-1"].count == 10 and len(market.reservations) == 1
    assert market.calls[-1][3] == market.calls[-2][3]  # re-issued with the same token


def test_a_crash_after_a_create_resumes_holdings_from_the_ledger():
    clock = SimClock()
    market = Market(clock, {A: 4}, {A: [(30, 6)]})
    ledger = MemoryLedger()
    engine(market, [A], 10, clock, ledger=ledger, config=EngineConfig(timeout=20)).run()
    calls_before = len(market.calls)
    out = engine(market, [A], 10, clock, ledger=ledger).run()
    assert out.completed and out.holdings[0].count == 10 and len(market.reservations) == 1
    assert market.calls[calls_before][0] == "grow"  # it knew about cr-1 without asking


def test_tokens_are_deterministic_short_ascii_and_distinct_per_step():
    assert client_token("run1", 3) == client_token("run1", 3) == "run1-s3"
    assert client_token("run1", 3) != client_token("run1", 4)
    long_id = "x" * 80
    for rid in (long_id, long_id + "y", "odcr 2025/09/23 ünïcode"):
        tok = client_token(rid, 12345)
        assert len(tok) <= 64 and tok.isascii()
    assert client_token(long_id, 1) != client_token(long_id + "y", 1)
    clock = SimClock()
    market = Market(clock, {A: 1})
    engine(market, [A], 4, clock, config=EngineConfig(timeout=15)).run()
    assert [c[3] for c in market.calls] == [f"run1-s{i}" for i in range(1, len(market.calls) + 1)]


def test_expand_only_grows_the_given_holding():
    clock = SimClock()
    market = Market(clock, {A: 10}, {A: [(35, 10)]})
    market.reservations["cr-9"] = Holding("cr-9", A, 10, initial=10)
    out = engine(market, [A], 20, clock, holdings=(market.reservations["cr-9"],),
                 config=EngineConfig(allow_create=False)).run()
    assert out.completed and market.reservations["cr-9"].count == 30
    assert sizes(market) == [20, 10, 10] and [c[0] for c in market.calls] == ["grow"] * 3


def test_fatal_errors_end_the_run_and_keep_what_was_bought():
    clock = SimClock()
    market = Market(clock, {A: 2})
    market.fail_with = Fatal("UnauthorizedOperation")
    out = engine(market, [A], 4, clock).run()
    assert out.reason == "error" and out.error.code == "UnauthorizedOperation" and out.acquired == 0


def test_an_invalid_zone_is_dropped_when_other_offerings_remain():
    clock = SimClock()

    class BadZone(Market):
        def create(self, offering, count, token):
            if offering == A:
                self.calls.append(("create", A, count, token))
                raise Invalid("InvalidAvailabilityZone")
            return super().create(offering, count, token)

    market = BadZone(clock, {B: 5})
    out = engine(market, [A, B], 5, clock).run()
    assert out.completed and out.holdings[0].offering == B
    out = engine(BadZone(clock, {}), [A], 5, clock).run()
    assert out.reason == "error" and out.error.code == "InvalidAvailabilityZone"


def test_a_vanished_reservation_is_replaced_by_a_new_one():
    clock = SimClock()
    market = Market(clock, {A: 10})
    gone = Holding("cr-gone", A, 3)
    real = market.grow

    def grow(holding, add, token):
        if holding.holding_id == "cr-gone":
            raise NotFound("InvalidCapacityReservationId.NotFound")
        return real(holding, add, token)

    market.grow = grow
    out = engine(market, [A], 4, clock, holdings=(gone,)).run()
    assert out.completed and out.acquired == 4


def test_three_zones_spread_the_target_across_offerings_without_waiting():
    clock = SimClock()
    market = Market(clock, {A: 4, B: 4, C: 4})
    first_buy = {}

    def note(event):
        if event.kind == "success":
            first_buy.setdefault(event.offering, clock.now)

    out = engine(market, [A, B, C], 12, clock, on_event=note).run()
    assert out.completed and sorted(h.count for h in out.holdings) == [4, 4, 4]
    # Each zone was worked while the others rested: all three bought within the first halvings.
    assert set(first_buy) == {A, B, C} and max(first_buy.values()) <= 10


def test_progress_events_tell_the_whole_story():
    clock = SimClock()
    market = Market(clock, {A: 2}, {A: [(30, 8)]})
    ev = []
    engine(market, [A], 10, clock, on_event=ev.append).run()
    kinds = [e.kind for e in ev]
    assert kinds[0] == "attempt" and kinds[-1] == "done"
    assert {"attempt", "halved", "success", "waiting", "done"} <= set(kinds)
    assert ev[-1].acquired == 10 and ev[-1].target == 10


def test_the_sql_ledger_resumes_like_the_memory_one(tmp_path):
    from responder.capacity.ledger import SqlLedger

    clock = SimClock()
    market = Market(clock, {A: 4}, {A: [(30, 6)]})
    path = str(tmp_path / "ledger.db")
    engine(market, [A], 10, clock, ledger=SqlLedger(path), config=EngineConfig(timeout=20)).run()
    out = engine(market, [A], 10, clock, ledger=SqlLedger(path)).run()
    assert out.completed and out.holdings[0].count == 10 and len(market.reservations) == 1
    rows = SqlLedger(path).entries("run1")
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1)) and rows[-1].status == "ok"
