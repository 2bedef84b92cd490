"""A wave's requests verify together and each keeps its own synchronous verdict: notices arriving
while one request's DescribeInstances is in flight share the next call (replace/group_reads.py),
a forged one is still answered 200 `rejected` and a real one 202 `accepted`, and a call that fails
fails the same way for every request in it — never a verdict the cloud did not give. Through the
real Aliyun SDK on the ECS emulator; the emulator's latency holds each call in flight long enough
for the others to arrive, as a real round trip does. Notices that arrive in a wave wait up to
VERIFY_LINGER_S on the task clock for company (the fixture moves its manual clock once every
request still open waits for it), so N of them cost ceil(N/100) reads on either cloud.
"""

from __future__ import annotations

import json
import math
import threading
import time

import pytest

from responder.intake import handle_body
from responder.replace import batching, group_reads
from responder.replace.group_reads import VERIFY_LINGER_S, GroupCommit
from responder.replace.runner import TaskRunner
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock
from responder.sandbox.wave_drive import wave_scenario
from responder.settings import Settings
from responder.store import Store
from responder.web import create_app
from tests.test_forged_flood import _ec2_instance_ids

REAL, FORGED = 8, 8


def _body(cloud: str, region: str, instance_id: str) -> str:
    if cloud == "aws":
        return json.dumps({"detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2",
                           "region": region, "detail": {"instance-id": instance_id, "instance-action": "terminate"}})
    return json.dumps({"name": "Instance:PreemptibleInstanceInterruption", "regionId": region,
                       "content": {"instanceId": instance_id, "action": "delete"}})


@pytest.fixture
def wave_app(tmp_path):
    """build(faults, cloud, real) → (post all bodies at once → [(status, body)], box, runner, real
    ids, calmed id)."""
    boxes = []

    def build(faults=(), cloud="aliyun", real=REAL):
        scenario, clones = wave_scenario(cloud, real + 1, latency_ms=300, faults=list(faults))
        if cloud == "aws":  # 17 hex digits, as a notice's parser wants them (the driver skips the parser)
            for inst in scenario["regions"][0]["instances"]:
                inst["id"] = "i-0" + inst["id"][4:]
            clones = [("i-0" + i[4:], at) for i, at in clones]
        calm = clones[-1][0]  # a real spot instance of ours that nobody is reclaiming
        scenario["regions"][0]["instances"][-1].update(locks=[], spot_request_state="fulfilled")
        scenario["regions"][0]["instances"][-1].pop("notice_at")
        clock = ManualClock(20.0)  # every other clone has had its notice
        box = start_sandbox(scenario, only=(cloud,), clock=clock)
        boxes.append(box)
        settings = Settings(database_url=f"sqlite:///{tmp_path}/verify.db", background_ticker=False,
                            launch_from="fresh-image")
        runner = TaskRunner(Store(settings.database_url, clock=clock), {cloud: box.clouds[cloud]}, settings,
                            clock=clock, sleep=clock.advance)
        app = create_app(settings, runner=runner)
        region = scenario["regions"][0]["region"]
        together = runner.executor.wave.together

        def post_together(ids: list[str]) -> list[tuple[int, dict]]:
            answers: list = [None] * len(ids)
            start = threading.Barrier(len(ids))

            def one(n: int) -> None:
                client = app.test_client()
                start.wait()
                response = client.post("/events", data=_body(cloud, region, ids[n]))
                answers[n] = (response.status_code, response.get_json())
            threads = [threading.Thread(target=one, args=(n,)) for n in range(len(ids))]
            for t in threads:
                t.start()
            ends = time.monotonic() + 120
            while any(t.is_alive() for t in threads) and time.monotonic() < ends:
                # Every request still open waits for company: its wait ends on the task clock.
                if sum(t.is_alive() for t in threads) <= together.lingering():
                    clock.advance(VERIFY_LINGER_S)
                time.sleep(0.01)
            for t in threads:
                t.join(1)
            return answers

        return post_together, box, runner, [i for i, _ in clones[:-1]], calm

    yield build
    for box in boxes:
        box.stop()


def _verifications(box, ids: set[str], cloud: str = "aliyun") -> list[list[str]]:
    """The instance ids of each DescribeInstances that named any of `ids`, in call order."""
    calls = box.emulators[cloud].calls_of("DescribeInstances")
    named = [json.loads(c["params"].get("InstanceIds", "[]")) if cloud == "aliyun" else _ec2_instance_ids(c["params"])
             for c in calls]
    return [n for n in named if ids & set(n)]


def _forged(cloud: str, count: int) -> list[str]:
    return [f"i-bp1forged{n:011d}" if cloud == "aliyun" else f"i-0{'f' * 12}{n:04x}" for n in range(count)]


WAVE = 150  # notices delivered together after the wave's first: two pages of DescribeInstances


@pytest.mark.parametrize("cloud", ["aliyun", "aws"])
def test_a_wave_of_notices_is_verified_by_one_read_per_hundred_and_a_forged_one_is_rejected_alone(
        wave_app, cloud, monkeypatch):
    # The wait for company ends on the task clock here, never on a slow machine's real time.
    monkeypatch.setattr(group_reads, "STILL_CLOCK_S", 120.0)
    post_together, box, _, real, calm = wave_app(cloud=cloud, real=WAVE - FORGED)
    (status, first), = post_together([real[0]])  # a lone notice waits for nothing: read alone
    assert status == 202 and first["outcome"] == "accepted", first
    assert _verifications(box, {real[0]}, cloud) == [[real[0]]]
    forged = _forged(cloud, FORGED)
    ids = real[1:] + forged + [calm]
    answers = dict(zip(ids, post_together(ids)))
    for i in real[1:]:
        assert answers[i][0] == 202 and answers[i][1]["outcome"] == "accepted", answers[i]
    for i in forged + [calm]:
        assert answers[i][0] == 200 and answers[i][1]["outcome"] == "rejected", answers[i]
    assert "not marked for reclamation" in answers[calm][1]["task"]["reason"]
    reads = _verifications(box, set(ids), cloud)
    assert len(ids) == WAVE and len(reads) == math.ceil(WAVE / 100), [len(r) for r in reads]
    assert sorted(i for r in reads for i in r) == sorted(ids)  # each notice read once
    # Nothing was written for the forged or the calm one (the emulator never saw them otherwise).
    written = [c for c in box.emulators[cloud].calls if not c["action"].startswith("Describe")]
    assert not [c for c in written for i in forged + [calm] if i in json.dumps(c["params"])]


def test_a_throttled_wave_read_delays_every_notice_in_it_and_rejects_none(wave_app, monkeypatch):
    monkeypatch.setattr(group_reads, "STILL_CLOCK_S", 120.0)
    # The lone notice's read and both pages of the wave's are refused as ECS refuses a spent window.
    post_together, box, runner, real, calm = wave_app(
        faults=[{"action": "DescribeInstances", "code": "Throttling.User", "status": 400, "times": 3}], real=120)
    forged = _forged("aliyun", FORGED)
    ids = real[1:] + forged + [calm]
    answers = post_together([real[0]]) + post_together(ids)
    # After the first refusal the budget holds DescribeInstances back until ECS's next minute.
    assert 1 <= len(_verifications(box, set(ids) | {real[0]})) <= 1 + math.ceil(len(ids) / 100)
    for status, body in answers:  # nobody is told what the cloud did not say
        assert status == 202 and body["outcome"] == "accepted" and body["task"]["status"] == "received", body
    assert not box.emulators["aliyun"].calls_of("CreateImage")
    # The latency held the requests' calls in flight for the others to join; the ticks below need
    # none (120 images, disks kept and user data read, 300 ms each, cost the test 45 s).
    box.emulators["aliyun"].scenario.latency_ms = 0
    clock = runner.clock
    for _ in range(20):
        clock.advance(5.0)
        runner.tick()
        rows = {i: runner.store.get_by_key(f"aliyun:cn-hangzhou:{i}") for i in real + forged + [calm]}
        if all(r is not None and r.status != "received" for r in rows.values()):
            break
    assert {i: rows[i].status for i in forged + [calm]} == {i: "rejected" for i in forged + [calm]}
    assert all(rows[i].status in ("imaging", "launching", "done") for i in real), {i: rows[i].status for i in real}


def test_concurrent_forged_and_real_notices_share_a_few_reads_and_each_gets_its_own_verdict(wave_app):
    post_together, box, _, real, calm = wave_app()
    forged = [f"i-bp1forged{n:011d}" for n in range(FORGED)]
    ids = real + forged + [calm]
    answers = dict(zip(ids, post_together(ids)))
    for i in real:
        assert answers[i][0] == 202 and answers[i][1]["outcome"] == "accepted", answers[i]
    for i in forged + [calm]:
        assert answers[i][0] == 200 and answers[i][1]["outcome"] == "rejected", answers[i]
    assert "not marked for reclamation" in answers[calm][1]["task"]["reason"]
    reads = _verifications(box, set(ids))
    # Alone, 17 reads; side by side, the first goes at once and the rest join the next call or two.
    assert len(reads) <= 4, reads
    assert set().union(*map(set, reads)) == set(ids)
    assert max(len(r) for r in reads) >= 8, reads


def test_a_throttled_shared_read_gives_every_request_the_outcome_it_would_have_had_alone(wave_app):
    # Every verification call of the burst is throttled: nobody may be told `rejected` (the cloud
    # said nothing about its instance) or `failed`; each waits for its retry, as one alone would.
    post_together, box, runner, real, calm = wave_app(
        faults=[{"action": "DescribeInstances", "code": "Throttling.User", "status": 400, "times": 4}])
    forged = [f"i-bp1forged{n:011d}" for n in range(4)]
    ids = real[:4] + forged + [calm]
    answers = post_together(ids)
    for status, body in answers:
        assert status == 202 and body["outcome"] == "accepted", body
        assert body["task"]["status"] == "received", body
    assert not box.emulators["aliyun"].calls_of("CreateImage")
    # Once the cloud answers, each gets the verdict it would have had.
    clock = runner.clock
    for _ in range(20):
        clock.advance(5.0)
        runner.tick()
        rows = {i: runner.store.get_by_key(f"aliyun:cn-hangzhou:{i}") for i in ids}
        if all(r is not None and r.status != "received" for r in rows.values()):
            break
    assert {i: rows[i].status for i in forged + [calm]} == {i: "rejected" for i in forged + [calm]}
    assert all(rows[i].status in ("imaging", "launching", "done") for i in real[:4]), {i: rows[i].status for i in real}


def test_group_commit_joins_the_callers_that_arrive_while_a_call_is_in_flight():
    group, calls, release = GroupCommit(), [], threading.Event()
    first_in = threading.Event()

    def fetch(page):
        calls.append(page)
        if len(calls) == 1:
            first_in.set()
            release.wait(10)
        return {i: f"seen {i}" for i in page if not i.startswith("gone")}

    answers: dict = {}

    def ask(i: str) -> None:
        answers[i] = group.read(("instances", "aliyun", "r"), [i], fetch)
    lead = threading.Thread(target=ask, args=("a",))
    lead.start()
    first_in.wait(10)
    others = [threading.Thread(target=ask, args=(i,)) for i in ("b", "c", "gone-d")]
    for t in others:
        t.start()
    while _queued_ids(group) < 3:
        threading.Event().wait(0.01)
    release.set()
    for t in [lead, *others]:
        t.join(10)
    assert calls == [("a",), ("b", "c", "gone-d")] or sorted(calls[1]) == ["b", "c", "gone-d"]
    assert answers == {"a": {"a": "seen a"}, "b": {"b": "seen b"}, "c": {"c": "seen c"}, "gone-d": {}}


def test_a_failed_group_call_raises_for_every_caller_in_it():
    group, release, first_in = GroupCommit(), threading.Event(), threading.Event()
    raised: dict = {}

    def fetch(page):
        if page == ("a",):
            first_in.set()
            release.wait(10)
            return {"a": 1}
        raise RuntimeError(f"throttled {page}")

    def ask(i: str) -> None:
        try:
            raised[i] = group.read(("k",), [i], fetch)
        except RuntimeError as exc:
            raised[i] = str(exc)
    threads = [threading.Thread(target=ask, args=("a",))]
    threads[0].start()
    first_in.wait(10)
    threads += [threading.Thread(target=ask, args=(i,)) for i in ("b", "c")]
    for t in threads[1:]:
        t.start()
    while _queued_ids(group) < 2:
        threading.Event().wait(0.01)
    release.set()
    for t in threads:
        t.join(10)
    assert raised["a"] == {"a": 1}
    assert raised["b"] == raised["c"] and raised["b"].startswith("throttled")
    assert not group._batches  # the key is free again: the next caller goes at once


def _queued_ids(group: GroupCommit) -> int:
    """Ids waiting for a call (not in the one in flight)."""
    return sum(len(b.ids) for batches in group._batches.values() for b in batches if not b.closed)



def test_a_lingering_read_goes_when_a_reader_that_cannot_wait_joins_it_or_when_it_is_full(monkeypatch):
    monkeypatch.setattr(group_reads, "STILL_CLOCK_S", 120.0)
    clock, calls, answers = ManualClock(0.0), [], {}
    group = GroupCommit(most=3, clock=clock)

    def fetch(page):
        calls.append(page)
        return {i: f"seen {i}" for i in page}

    def ask(i: str, linger: float) -> None:
        with group_reads.lingering(linger):
            answers[i] = group.read(("instances", "aliyun", "r"), [i], fetch)

    def started(*names: str) -> list[threading.Thread]:
        threads = [threading.Thread(target=ask, args=(i, 5.0)) for i in names]
        for t in threads:
            t.start()
        return threads

    waiting = started("a", "b")
    while group.lingering() < 2:
        time.sleep(0.01)
    time.sleep(0.1)
    assert calls == [] and group.next_deadline() == 5.0  # the clock stands still: they wait
    ask("tick", 0.0)  # the tick's read cannot wait: it takes them along at once
    for t in waiting:
        t.join(10)
    assert calls == [("a", "b", "tick")] and answers["a"] == {"a": "seen a"} and answers["tick"] == {"tick": "seen tick"}
    for t in started("c", "d", "e"):  # a full page does not wait for the clock either
        t.join(10)
    assert calls[1:] == [("c", "d", "e")] or sorted(calls[1]) == ["c", "d", "e"]
    assert group.lingering() == 0 and group.next_deadline() is None and not group._batches


def test_the_events_of_one_body_are_verified_in_turn_without_waiting_for_company(wave_app, monkeypatch):
    # In a wave, and on a clock that stands still: a lingering read would hold each event 120 s.
    monkeypatch.setattr(group_reads, "STILL_CLOCK_S", 120.0)
    post_together, box, runner, real, _ = wave_app()
    post_together([real[0]])
    started = time.monotonic()
    raw = "[" + ",".join(_body("aliyun", "cn-hangzhou", i) for i in real[1:4]) + "]"
    status, body = handle_body(runner, raw.encode())
    assert status == 202 and [r["outcome"] for r in body["results"]] == ["accepted"] * 3, body
    assert time.monotonic() - started < 60
    assert _verifications(box, set(real[1:4])) == [[i] for i in real[1:4]]


def test_a_lingering_read_goes_once_every_request_the_server_runs_at_once_waits_in_it(monkeypatch):
    # gunicorn's 8 threads all waiting: no ninth request could come to join, so the read goes.
    monkeypatch.setattr(group_reads, "STILL_CLOCK_S", 120.0)
    group, calls = GroupCommit(clock=ManualClock(0.0)), []

    def ask(i: str) -> None:
        with group_reads.lingering(5.0, company=3):
            group.read(("k",), [i], lambda page: calls.append(page) or {})
    threads = [threading.Thread(target=ask, args=(i,)) for i in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads) and sorted(calls[0]) == ["a", "b", "c"] and len(calls) == 1


def test_a_sender_posting_one_notice_at_a_time_stops_waiting_for_company_and_a_burst_waits_again(
        wave_app, monkeypatch):
    # One notice at a time, each within the wave window of the last: after LONELY_LINGERS waits that
    # nobody joined, a notice no longer waits the linger in full for company that never comes.
    monkeypatch.setattr(group_reads, "STILL_CLOCK_S", 120.0)
    post_together, box, runner, real, _ = wave_app(real=14)
    waited = []
    for instance_id in real[:6]:
        before = runner.clock()
        ((status, body),) = post_together([instance_id])
        assert status == 202 and body["outcome"] == "accepted", body
        waited.append(runner.clock() - before >= VERIFY_LINGER_S)
    assert waited == [False] + [True] * batching.LONELY_LINGERS + [False] * (5 - batching.LONELY_LINGERS)
    assert _verifications(box, set(real[:6])) == [[i] for i in real[:6]]
    # Notices that arrive beside each other wait again and share their reads.
    burst = real[6:]
    answers = post_together(burst)
    assert [a[0] for a in answers] == [202] * len(burst), answers
    reads = _verifications(box, set(burst))
    assert len(reads) <= 2 and sorted(i for r in reads for i in r) == sorted(burst), reads


def test_a_sender_one_at_a_time_stops_the_waits_whatever_regions_it_names_and_a_pause_starts_them_again():
    arrivals, now = batching.Arrivals(), 100.0

    def one(region: str) -> batching.Arrival:
        with arrivals.arrive("aws", region, now) as arrival:
            return arrival
    regions = ["us-east-1", "eu-west-1"] * 4
    waits = []
    for region in regions:  # one at a time, 0.1 s apart, alternating regions
        now += 0.1
        waits.append(one(region).may_linger)
    # Each region's first notice is no wave; the next two lingers find nobody; then no more waits.
    assert waits == [False, False] + [True] * batching.LONELY_LINGERS + [False] * (6 - batching.LONELY_LINGERS)
    now += 0.1
    with arrivals.arrive("aws", "us-east-1", now) as first:  # a notice being worked...
        now += 0.1
        beside = one("us-east-1")  # ...and one arriving beside it waits for company again
    assert not first.may_linger and beside.may_linger
    now += batching.WAVE_WINDOW_S + 1  # a pause: the next wave's notices wait again
    one("eu-west-1")
    now += 0.1
    assert one("eu-west-1").may_linger
