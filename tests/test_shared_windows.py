"""Several processes sharing one account's ECS windows through the store (capacity/shared_windows.py):
together they stay inside the account's window (the emulator refuses nothing they should have
waited for), a take never gives more than the window holds however many race for it, and a store
that does not answer leaves each budget its own count, never a block."""

from __future__ import annotations

import tempfile
import threading

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from responder.capacity.budget import ApiBudget
from responder.capacity.shared_windows import OUTAGE_SECONDS, SharedWindows, api_windows, batch_of
from responder.errors import Deferred
from responder.sandbox.budget_drive import share_one_window
from responder.sandbox.rate_limits import RateLimits
from responder.sandbox.stock import ManualClock
from responder.store import Store
from tests.databases import database_url  # noqa: F401 - a fixture


def test_four_budgets_on_one_store_spend_the_account_window_together_and_none_is_refused(tmp_path):
    """Four processes each wanting 50 calls a second of one API, against the emulator's ECS window
    of 200 a minute: sharing the store's count, the cloud refuses none of their calls and each
    minute still carries nearly the whole window. Each counting only its own calls, the same four
    overshoot every minute and the cloud refuses calls (the lock-out of the rest of the minute)."""
    store = Store(f"sqlite:///{tmp_path}/shared.db")
    shared = share_one_window(4, minutes=4, shared=SharedWindows(store.engine))
    assert [refused for refused, _ in shared] == [0, 0, 0, 0]
    # the window's first half second and last are left alone (shared_windows.EDGE_SHARE); batches
    # of 10 taken and not spent are lost at most once per process and minute
    assert all(passed >= 200 - 4 * batch_of(200) for _, passed in shared), shared
    alone = share_one_window(4, minutes=4, shared=None, start=1000.0)
    assert all(refused > 0 for refused, _ in alone), alone


def test_one_budget_on_the_store_is_not_slowed_by_it(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/one.db")
    assert [passed for _, passed in share_one_window(1, minutes=3, shared=SharedWindows(store.engine))] == [200] * 3


def test_racing_takes_never_give_more_than_the_window_holds(database_url):  # noqa: F811
    """Eight threads take 10 at a time (and the rest, when less is left) from one window of 200 on
    each backend: the takes add up to exactly 200, and the row says 200."""
    store = Store(database_url, upgrade=True)
    windows, got, lock = SharedWindows(store.engine), [], threading.Lock()

    def take() -> None:
        while True:
            n = windows.grant("aliyun:cn-hangzhou:CreateImage", 7, 10 if len(got) % 3 else 7, 200)
            with lock:
                got.append(n)
            if not n:
                return

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(got) == 200 and got.count(0) >= 8
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(api_windows.c.used)).scalars().all() == [200]
    store.engine.dispose()


def test_a_budget_takes_its_calls_from_the_store_a_batch_at_a_time(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/batch.db")
    clock = ManualClock(10.0)
    budget = ApiBudget(clock, shared=SharedWindows(store.engine))
    for _ in range(25):
        budget.before("aliyun", "cn-hangzhou", "DescribeImages")
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(api_windows.c.used)).scalar() == 3 * batch_of(200)


def test_a_store_that_does_not_answer_leaves_each_budget_its_own_count_and_never_blocks(tmp_path, caplog):
    """The store's database is gone: the budget admits at its own documented figure (200 calls a
    minute of its own), raises nothing but its own Deferred, and asks the store again only after
    OUTAGE_SECONDS; back, the store's count rules again (here: the account's window is spent)."""
    clock = ManualClock(10.0)
    windows = SharedWindows(sa.create_engine(f"sqlite:///{tmp_path}/no-such-dir/gone.db"))
    budget = ApiBudget(clock, shared=windows)
    admitted = 0
    for _ in range(250):
        try:
            budget.before("aliyun", "cn-hangzhou", "CreateImage")
            admitted += 1
        except Deferred as deferred:
            assert deferred.retry_at > clock()
            break
    assert admitted == 200
    # one line naming what happened, once per outage try, never the driver's message (its path)
    said = [r.getMessage() for r in caplog.records if r.name == "responder.budget"]
    assert said and all("shared windows are not answering" in m and "gone.db" not in m for m in said)
    store = Store(f"sqlite:///{tmp_path}/back.db")
    windows.engine = store.engine
    clock.advance_to(60.0 + 1.0)  # the next minute: nothing of the budget's own count is left in the window
    assert windows.grant("aliyun:cn-hangzhou:CreateImage", 1, 200, 200) == 200  # other processes spent it
    clock.advance_to(10.0 + OUTAGE_SECONDS + 60.0)
    try:
        budget.before("aliyun", "cn-hangzhou", "CreateImage")
        raise AssertionError("admitted a call of an account window the store says is spent")
    except Deferred as deferred:
        assert deferred.retry_at >= 120.0
    assert budget.next_admission("aliyun", "cn-hangzhou", "CreateImage") >= 120.0  # a throttle's retry waits as long


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(min_value=0, max_value=20, allow_nan=False),
                          st.integers(0, 120)), min_size=1, max_size=30))
def test_budgets_sharing_a_store_are_never_refused_by_the_window_whatever_each_asks(plan):
    """Three budgets on one store, each asking bursts of its own sizes at its own times (plan: which
    budget, seconds to wait, calls it wants), against the emulator's ECS window of 200 a minute: the
    cloud refuses none of the calls they admit."""
    clock = ManualClock(0.0)
    cloud = RateLimits("aliyun", clock)
    with tempfile.TemporaryDirectory() as tmp:
        shared = SharedWindows(Store(f"sqlite:///{tmp}/plan.db").engine)
        budgets = [ApiBudget(clock, shared=shared) for _ in range(3)]
        for which, seconds, wanted in plan:
            clock.advance(seconds)
            for _ in range(wanted):
                try:
                    budgets[which].before("aliyun", "cn-hangzhou", "DescribeInstances")
                except Deferred:
                    break
                assert cloud.admit("1", "cn-hangzhou", "DescribeInstances") is None, clock()


def test_a_fresh_window_admits_at_its_first_instant_and_edges_are_kept_only_after_a_spent_one(tmp_path):
    """A call at the very start of a minute goes at once while nobody spent a window; once the store
    said the account's window was spent, the next window's first and last half seconds are left
    alone (the cloud's minute may start a little off ours, and there the minute is full)."""
    store = Store(f"sqlite:///{tmp_path}/edges.db")
    clock = ManualClock(60.0)  # the first instant of a minute
    budget = ApiBudget(clock, shared=SharedWindows(store.engine))
    budget.before("aliyun", "cn-hangzhou", "CreateImage")  # a fresh window: not deferred
    assert SharedWindows(store.engine).grant("aliyun:cn-hangzhou:CreateImage", 1, 200, 200) == 200 - batch_of(200)
    retry_at = None
    for _ in range(batch_of(200) + 1):  # what the budget holds of the window, then the spent store
        try:
            budget.before("aliyun", "cn-hangzhou", "CreateImage")
        except Deferred as deferred:
            retry_at = deferred.retry_at
            break
    assert retry_at == 120.5
    clock.advance_to(120.0)  # the window after a spent one: its first half second is left alone
    with pytest.raises(Deferred) as deferred:
        budget.before("aliyun", "cn-hangzhou", "CreateImage")
    assert deferred.value.retry_at == 120.5
    clock.advance_to(120.5)
    budget.before("aliyun", "cn-hangzhou", "CreateImage")
    clock.advance_to(179.8)  # and its last
    with pytest.raises(Deferred) as deferred:
        budget.before("aliyun", "cn-hangzhou", "CreateImage")
    assert deferred.value.retry_at == 180.5
    clock.advance_to(240.0)  # two windows on, none of them spent: at once again
    budget.before("aliyun", "cn-hangzhou", "CreateImage")
