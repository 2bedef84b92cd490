"""The task store behaves the same on SQLite, MariaDB and PostgreSQL (a database of its own each):
one task per key under racing claims, leases exclude a second owner, rejected tasks re-open once
their verdict lapses, retention of rejected rows, due ordering, a megabyte of task data round-trips."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from responder.store import Store
from tests.databases import database_url  # noqa: F401 - a fixture



@pytest.fixture
def store(database_url):
    s = Store(database_url, upgrade=True)
    yield s
    s.engine.dispose()


def _key() -> str:
    return f"aliyun:cn-hangzhou:i-{uuid.uuid4().hex[:20]}"


def test_twenty_racing_claims_make_one_task(store):
    key = _key()
    results, barrier = [], threading.Barrier(20)

    def claim():
        barrier.wait()
        results.append(store.claim(key, "aliyun", "cn-hangzhou", key.rsplit(":", 1)[1], "interruption"))

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.task.id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert store.get_by_key(key).deliveries == 20


def test_a_lease_keeps_a_second_owner_out_until_it_expires(store):
    task = store.claim(_key(), "aliyun", "cn-hangzhou", "i-x", "interruption").task
    other = Store(store.url)
    assert store.lease(task.id, 30)
    assert not other.lease(task.id, 30)
    store.release(task.id)
    assert other.lease(task.id, 30)


def test_a_rejected_task_reopens_for_the_next_real_event(store):
    key = _key()
    task = store.claim(key, "aliyun", "cn-hangzhou", "i-x", "interruption").task
    task.status, task.reason = "rejected", "not recycling"
    store.save(task)
    again = store.claim(key, "aliyun", "cn-hangzhou", "i-x", "interruption")
    assert not again.duplicate and again.task.id == task.id and again.task.status == "received"


def test_a_rejected_task_whose_verdict_still_stands_is_not_reopened_and_can_be_queued_for_a_recheck(store):
    key = _key()
    task = store.claim(key, "aliyun", "cn-hangzhou", "i-x", "interruption").task
    task.status, task.reason, task.next_at = "rejected", "not found", store.clock() + 3600  # stands an hour
    store.save(task)
    again = store.claim(key, "aliyun", "cn-hangzhou", "i-x", "interruption", data={"copy": 1})
    assert again.duplicate and again.task.status == "rejected" and again.task.deliveries == 2
    assert store.recheck_later(key, "interruption", {"copy": 2})
    queued = store.get(task.id)
    assert queued.status == "received" and queued.data == {"copy": 2} and queued.next_at == task.next_at
    assert task.id not in {t.id for t in store.due()} and not store.recheck_later(key, "interruption", {})


def test_retention_deletes_rejected_rows_past_their_age_and_beyond_the_newest_ones_kept(store):
    now = store.clock()
    made = []
    for age in (7200, 5, 4, 3, 2, 1):
        task = store.claim(_key(), "aliyun", "cn-hangzhou", "i-x", "interruption").task
        task.status = "rejected"
        store.clock = lambda age=age: now - age
        store.save(task)  # its updated_at is `age` seconds ago
        made.append(task.id)
    store.clock = lambda: now
    done = store.claim(_key(), "aliyun", "cn-hangzhou", "i-y", "interruption").task
    done.status = "done"
    store.save(done)
    assert store.prune_rejected(older_than=now - 3600, keep=3) == 3  # the old one, then the 4th and 5th newest
    assert [t.id for t in store.list(status="rejected")] == list(reversed(made[3:]))
    assert store.get(done.id).status == "done"  # only rejections are pruned


def test_due_returns_unfinished_tasks_whose_time_has_come(store):
    now = store.clock()
    a = store.claim(_key(), "aliyun", "r", "i-a", "interruption").task
    b = store.claim(_key(), "aliyun", "r", "i-b", "interruption").task
    c = store.claim(_key(), "aliyun", "r", "i-c", "interruption").task
    a.next_at, b.next_at = now - 1, now + 3600
    c.status = "done"
    for t in (a, b, c):
        store.save(t)
    due_ids = {t.id for t in store.due()}
    assert a.id in due_ids and b.id not in due_ids and c.id not in due_ids
    assert store.next_due_at() is not None


def test_task_data_round_trips_as_json(store):
    task = store.claim(_key(), "aliyun", "r", "i-a", "interruption", data={"event": {"account": "1"}}).task
    task.data["candidates"] = [{"instance_type": "ecs.g7.large", "zone": "z"}]
    store.save(task)
    assert store.get(task.id).data["candidates"][0]["instance_type"] == "ecs.g7.large"


def test_a_megabyte_of_task_data_round_trips_on_every_backend(store):
    catalogue = [{"instance_type": f"type-{i:05d}", "memory": i, "zones": ["a", "b", "c"]} for i in range(16000)]
    task = store.claim(_key(), "aliyun", "r", "i-big", "interruption", data={"catalogue": catalogue}).task
    task.data["user_data"] = "x" * 300_000
    store.save(task)
    assert len(json.dumps(store.get(task.id).data)) > 1_000_000
    assert store.get(task.id).data["catalogue"][-1]["instance_type"] == "type-15999"
