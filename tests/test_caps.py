"""Money caps hold on SQLite, MariaDB and PostgreSQL (a database of its own each): racing takes
never pass the cap, a token counts once, give_back frees, the hour slides, one event buys at most
its share, and a refusal names the setting."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import threading
import uuid

import pytest
import sqlalchemy as sa

from responder.replace.caps import SLOTS_PER_BATCH, MoneyCaps, Spend, spend_slots
from responder.store import Store
from tests.databases import database_url, fresh_database  # noqa: F401 - a fixture


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(database_url):
    s = Store(database_url, upgrade=True)
    yield s
    s.engine.dispose()


def _spend(kind: str = "launch", claim_key: str | None = None, token: str | None = None, units: int = 1) -> Spend:
    return Spend(token=token or f"tok-{uuid.uuid4().hex[:16]}",
                 claim_key=claim_key or f"aws:us-east-2:i-{uuid.uuid4().hex[:17]}", kind=kind, units=units)


def _held_hour_slots(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(spend_slots.c.scope == "hour",
                                                             spend_slots.c.token.is_not(None))).scalar_one()


def _race_in_threads(caps: MoneyCaps, threads: int, spends_per_thread: int) -> list[bool]:
    barrier, verdicts = threading.Barrier(threads), []

    def run():
        barrier.wait()
        for _ in range(spends_per_thread):
            verdicts.append(caps.take(_spend()).ok)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return verdicts


def test_fifty_threads_racing_for_a_cap_of_ten_get_exactly_ten(tmp_path):
    with fresh_database("sqlite", tmp_path) as url:
        store = Store(url, upgrade=True)
        caps = MoneyCaps(store, per_hour=10, per_event=100)
        verdicts = _race_in_threads(caps, threads=50, spends_per_thread=1)
        assert verdicts.count(True) == 10 and len(verdicts) == 50
        assert caps.used_since(0) == 10 == _held_hour_slots(store)


def _take_in_a_process(url: str, barrier, threads: int, spends_per_thread: int) -> int:
    store = Store(url)
    try:
        barrier.wait()
        return _race_in_threads(MoneyCaps(store, per_hour=10, per_event=100), threads, spends_per_thread).count(True)
    finally:
        store.engine.dispose()


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_four_processes_racing_for_a_cap_of_ten_get_exactly_ten(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        store = Store(url, upgrade=True)
        spawn = multiprocessing.get_context("spawn")
        with spawn.Manager() as manager:
            barrier = manager.Barrier(4)
            with concurrent.futures.ProcessPoolExecutor(4, mp_context=spawn) as pool:
                granted = list(pool.map(_take_in_a_process, [url] * 4, [barrier] * 4, [3] * 4, [4] * 4))
        assert sum(granted) == 10, granted
        assert MoneyCaps(store, 10, 100).used_since(0) == 10 == _held_hour_slots(store)
        store.engine.dispose()


def test_the_same_token_taken_twice_counts_one_unit(store):
    caps = MoneyCaps(store, per_hour=5, per_event=5)
    spend = _spend()
    assert caps.take(spend).ok and caps.take(spend).ok
    assert caps.used_since(0) == 1


def test_twenty_threads_taking_one_token_hold_one_slot(store):
    caps = MoneyCaps(store, per_hour=5, per_event=5)
    spend, barrier, verdicts = _spend(), threading.Barrier(20), []

    def run():
        barrier.wait()
        verdicts.append(caps.take(spend).ok)

    workers = [threading.Thread(target=run) for _ in range(20)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert verdicts == [True] * 20
    assert caps.used_since(0) == 1 == _held_hour_slots(store)


def test_give_back_frees_the_unit_for_the_next_spend(store):
    caps = MoneyCaps(store, per_hour=1, per_event=5)
    first, second = _spend(), _spend()
    assert caps.take(first).ok
    refused = caps.take(second)
    assert not refused.ok and "RESPONDER_MAX_LAUNCHES_PER_HOUR=1" in refused.reason
    caps.give_back(first.token)
    assert caps.used_since(0) == 0
    assert caps.take(second).ok


def test_the_hour_slides_units_free_themselves_an_hour_after_they_were_taken(store):
    clock = Clock()
    caps = MoneyCaps(store, per_hour=2, per_event=5, clock=clock)
    start = clock.now
    assert caps.take(_spend()).ok
    clock.now = start + 1800
    assert caps.take(_spend()).ok
    clock.now = start + 1900
    assert not caps.take(_spend()).ok
    clock.now = start + 3601  # the first unit is more than an hour old
    assert caps.take(_spend()).ok
    assert not caps.take(_spend()).ok
    assert caps.used_since(clock.now - 3600) == 2


def test_one_interruption_buys_at_most_its_share_and_a_refusal_holds_nothing(store):
    caps = MoneyCaps(store, per_hour=10, per_event=2)
    key = "aws:us-east-2:i-0123456789abcdef0"
    assert caps.take(_spend("launch", key)).ok and caps.take(_spend("reservation", key)).ok
    refused = caps.take(_spend("ondemand-fallback", key))
    assert not refused.ok
    assert "RESPONDER_MAX_SPEND_PER_EVENT=2" in refused.reason and key in refused.reason
    assert caps.used_since(0) == 2  # the hour unit of the refused spend was rolled back
    assert caps.take(_spend("launch", "aws:us-east-2:i-another")).ok


def test_a_multi_unit_spend_takes_all_its_units_or_none(store):
    caps = MoneyCaps(store, per_hour=3, per_event=10)
    assert caps.take(_spend(units=2)).ok
    assert not caps.take(_spend(units=2)).ok
    assert caps.used_since(0) == 2
    assert not caps.take(_spend(units=4)).ok  # more than the cap can ever hold
    assert caps.take(_spend(units=1)).ok


def test_a_zero_cap_refuses_everything(store):
    verdict = MoneyCaps(store, per_hour=0, per_event=2).take(_spend())
    assert not verdict.ok and "RESPONDER_MAX_LAUNCHES_PER_HOUR=0" in verdict.reason


def test_a_huge_cap_makes_slot_rows_only_as_they_are_needed(store):
    caps = MoneyCaps(store, per_hour=100_000, per_event=100_000)
    key = "odcr:run-1"
    for _ in range(SLOTS_PER_BATCH + 1):
        assert caps.take(_spend("reservation", key)).ok
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(spend_slots)).scalar_one()
    assert SLOTS_PER_BATCH + 1 <= rows <= 4 * SLOTS_PER_BATCH
