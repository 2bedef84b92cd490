"""The client-side API budget's arithmetic, on a manual clock: what it admits, when it says to come
back, how it adapts to throttles (botocore's CUBIC) and recovers, ECS's lock-out and probing, and
who goes first when calls must wait."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from responder.capacity.api_limits import ECS_DEFAULT, EC2_CLASSES, bucket, limits_for, per_window
from responder.capacity.budget import LAST, ApiBudget, asking
from responder.capacity.limiter import Limiter
from responder.errors import Deferred
from responder.sandbox.stock import ManualClock
from responder.settings import Settings, SettingsError

steps = st.lists(st.tuples(st.floats(min_value=0, max_value=3, allow_nan=False), st.integers(0, 30)),
                 min_size=1, max_size=40)


def tries(budget: ApiBudget, clock: ManualClock, cloud: str, action: str, plan) -> list[float]:
    """Advance, then try n calls, for each (seconds, n) in plan; returns the admission times."""
    admitted = []
    for seconds, n in plan:
        clock.advance(seconds)
        for _ in range(n):
            try:
                budget.before(cloud, "r1", action)
            except Deferred as deferred:
                assert deferred.retry_at > clock()
                break
            admitted.append(clock())
    return admitted


@settings(max_examples=60, deadline=None)
@given(steps)
def test_a_bucket_never_admits_more_than_its_capacity_plus_what_it_refilled(plan):
    clock = ManualClock(1000.0)
    budget = ApiBudget(clock)
    admitted = tries(budget, clock, "aws", "CreateImage", plan)
    mutating = EC2_CLASSES["mutating"]
    for i, start in enumerate(admitted):  # every stretch of admissions fits the bucket
        for j in range(i, len(admitted)):
            assert j - i + 1 <= mutating.capacity + (admitted[j] - start) * mutating.refill + 1e-9


@settings(max_examples=60, deadline=None)
@given(steps)
def test_an_ecs_window_never_sees_more_than_its_threshold_in_any_minute(plan):
    clock = ManualClock(1000.0)
    budget = ApiBudget(clock, {("aliyun", "*"): per_window(20, 60)})
    admitted = tries(budget, clock, "aliyun", "DescribeImages", [(s * 20, n) for s, n in plan])
    for i, start in enumerate(admitted):
        assert sum(1 for t in admitted[i:] if t < start + 60) <= 20


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["CreateImage", "DescribeImages", "DescribeInstances", "RunInstances"]),
       st.integers(1, 300))
def test_a_deferred_call_is_admitted_at_the_time_it_was_given(action, burst):
    clock = ManualClock(50.0)
    budget = ApiBudget(clock)
    for _ in range(burst):
        try:
            budget.before("aws", "r1", action)
        except Deferred as deferred:
            clock.advance_to(deferred.retry_at)
            budget.before("aws", "r1", action)  # does not raise
            return


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(min_value=0.01, max_value=5, allow_nan=False), st.booleans()), max_size=60))
def test_the_adaptive_rate_stays_between_the_floor_and_the_documented_figure(answers):
    limit = EC2_CLASSES["non_mutating"]
    limiter, now = Limiter(limit, 0.0), 0.0
    for seconds, throttled in answers:
        now += seconds
        before = limiter.rate
        limiter.answered(now, throttled)
        assert 0.5 <= limiter.rate <= limit.refill
        if throttled:
            assert limiter.rate <= max(0.5, before * 0.7 + 1e-9)
            assert limiter.capacity <= limit.capacity


def test_after_a_throttle_the_rate_climbs_back_to_the_documented_figure():
    limit = EC2_CLASSES["non_mutating"]
    limiter, now = Limiter(limit, 0.0), 0.0
    for _ in range(40):  # a steady 20 calls a second, then one throttle
        now += 0.05
        limiter.answered(now, False)
    limiter.answered(now, True)
    assert limiter.rate == pytest.approx(0.7 * 20, rel=0.15)
    rates = []
    while now < 60:  # CUBIC's clock runs in twice the bucket's fill time (10 s here)
        now += 1 / max(limiter.rate, 1)  # calls go at the rate the limiter allows
        limiter.answered(now, False)
        rates.append(limiter.rate)
    assert rates == sorted(rates) and rates[-1] == limit.refill and not limiter.adapting


def test_an_ecs_throttle_holds_the_api_until_the_next_minute_then_probes_one_call_a_second():
    clock = ManualClock(600.0)
    budget = ApiBudget(clock)
    budget.before("aliyun", "cn-hangzhou", "DescribeImages")
    clock.advance(10)
    budget.after("aliyun", "cn-hangzhou", "DescribeImages", throttled=True)  # at 610: minute 10
    with pytest.raises(Deferred) as held:
        budget.before("aliyun", "cn-hangzhou", "DescribeImages")
    assert held.value.retry_at == pytest.approx(661.0)  # minute 11, plus the cloud's second of slack
    clock.advance_to(held.value.retry_at)
    budget.before("aliyun", "cn-hangzhou", "DescribeImages")  # the probe
    with pytest.raises(Deferred) as probing:
        budget.before("aliyun", "cn-hangzhou", "DescribeImages")
    assert probing.value.retry_at == pytest.approx(662.0)
    budget.after("aliyun", "cn-hangzhou", "DescribeImages", throttled=False)  # the probe passed
    clock.advance(0.01)
    budget.before("aliyun", "cn-hangzhou", "DescribeImages")
    budget.before("aliyun", "cn-hangzhou", "CreateImage")  # another API was never held


def test_a_waiting_task_keeps_its_place_against_a_later_caller_of_lower_priority():
    clock = ManualClock(0.0)
    budget = ApiBudget(clock, {("aws", "CreateImage"): bucket(1, 1)})
    budget.before("aws", "r1", "CreateImage")
    with asking((100.0, 0, "early"), "early"), pytest.raises(Deferred) as early:
        budget.before("aws", "r1", "CreateImage")
    clock.advance_to(early.value.retry_at)
    with asking((500.0, 0, "late"), "late"), pytest.raises(Deferred):
        budget.before("aws", "r1", "CreateImage")  # the token is the early task's
    with pytest.raises(Deferred):
        budget.before("aws", "r1", "CreateImage")  # and not a caller's who says nothing
    with asking((100.0, 0, "early"), "early"):
        budget.before("aws", "r1", "CreateImage")


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 40), st.floats(min_value=0.05, max_value=2, allow_nan=False))
def test_a_deferred_task_is_not_starved_by_a_stream_of_later_tasks(arrivals_per_second, seconds_late):
    """Tasks keep arriving, each released later than the one before; the first one deferred is
    admitted within the time the bucket needs for the calls of tasks released before it: none."""
    clock = ManualClock(0.0)
    budget = ApiBudget(clock, {("aws", "CreateImage"): bucket(2, 1)})
    release, admitted, waiting = 0.0, {}, {}
    task = 0
    while clock() < 30 and "t0-deferred" not in admitted:
        for _ in range(max(1, arrivals_per_second // 10)):
            name = f"t{task}" if task else "t0-deferred"
            waiting[name] = (release, name)
            release += seconds_late
            task += 1
        for name, key in sorted(waiting.items(), key=lambda item: item[1]):
            with asking(key, name):
                try:
                    budget.before("aws", "r1", "CreateImage")
                except Deferred:
                    continue
            admitted[name] = clock()
            del waiting[name]
        clock.advance(0.1)
    assert admitted["t0-deferred"] <= 3.0


def test_processes_sharing_one_account_converge_below_the_cloud_s_limit():
    """Four processes, each starting at the documented figure, against one server bucket of that
    figure: after they learnt from its throttles, few of their calls are refused."""
    clock = ManualClock(0.0)
    server_capacity, server_refill = 50.0, 5.0
    tokens, stamp = server_capacity, 0.0
    budgets = [ApiBudget(clock) for _ in range(4)]
    answered = []
    while clock() < 360:
        for budget in budgets:
            try:
                budget.before("aws", "r1", "CreateImage")
            except Deferred:
                continue
            tokens, stamp = min(server_capacity, tokens + (clock() - stamp) * server_refill), clock()
            throttled = tokens < 1
            tokens -= 0 if throttled else 1
            budget.after("aws", "r1", "CreateImage", throttled)
            answered.append((clock(), throttled))
        clock.advance(0.02)
    late = [throttled for at, throttled in answered if at > 120]
    assert sum(late) / len(late) < 0.05
    assert len(late) - sum(late) >= 0.9 * server_refill * 240  # ... and they still use most of it


def test_each_cloud_draws_from_the_buckets_its_documents_name():
    assert [n for n, _ in limits_for("aws", "CreateFleet")] == ["CreateFleet", "RunInstances:instances"]
    assert limits_for("aws", "DescribeInstances")[0][1] == EC2_CLASSES["unfiltered"]
    assert limits_for("aws", "DescribeImages")[0][1] == EC2_CLASSES["non_mutating"]
    assert [n for n, _ in limits_for("aliyun", "RunInstances")] == ["RunInstances", "instances"]
    assert limits_for("aliyun", "DescribeImages")[0][1] == ECS_DEFAULT
    assert [n for n, _ in limits_for("oci", "ListInstances")] == ["read"]
    assert [n for n, _ in limits_for("oci", "LaunchInstance")] == ["write"]


def test_rates_are_configurable_and_a_malformed_one_is_refused_with_the_format():
    settings = Settings.from_env({"RESPONDER_API_RATES": "aws:CreateImage=10+1/s,aliyun:*=400/60s"}, dotenv=False)
    budget = ApiBudget.from_settings(settings, ManualClock())
    assert limits_for("aws", "CreateImage", budget.overrides)[0][1] == bucket(10, 1)
    assert limits_for("aliyun", "DescribeDisks", budget.overrides)[0][1] == per_window(400, 60)
    with pytest.raises(SettingsError, match="capacity\\+refill/s"):
        Settings.from_env({"RESPONDER_API_RATES": "aws:CreateImage=10"}, dotenv=False)


def test_a_caller_who_says_nothing_goes_behind_every_task():
    assert LAST > (1e18, 2, "zzz") and sorted([LAST, (5.0, 0, "a")]) == [(5.0, 0, "a"), LAST]
