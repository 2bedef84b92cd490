"""A wave's requests verify together and each keeps its own synchronous verdict: notices arriving
while one request's DescribeInstances is in flight share the next call (replace/group_reads.py),
a forged one is still answered 200 `rejected` and a real one 202 `accepted`, and a call that fails
fails the same way for every request in it — never a verdict the cloud did not give. Through the
real Aliyun SDK on the ECS emulator; the emulator's latency holds each call in flight long enough
for the others to arrive, as a real round trip does.
"""

from __future__ import annotations

import json
import threading

import pytest

from responder.replace.group_reads import GroupCommit
from responder.replace.runner import TaskRunner
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock
from responder.sandbox.wave_drive import wave_scenario
from responder.settings import Settings
from responder.store import Store
from responder.web import create_app

REAL, FORGED = 8, 8


def _body(region: str, instance_id: str) -> str:
    return json.dumps({"name": "Instance:PreemptibleInstanceInterruption", "regionId": region,
                       "content": {"instanceId": instance_id, "action": "delete"}})


@pytest.fixture
def wave_app(tmp_path):
    """build(faults) → (post all bodies at once → [(status, body)], box, real ids, calmed id)."""
    boxes = []

    def build(faults=()):
        scenario, clones = wave_scenario("aliyun", REAL + 1, latency_ms=300, faults=list(faults))
        calm = clones[-1][0]  # a real spot instance of ours that nobody is reclaiming
        scenario["regions"][0]["instances"][-1].update(locks=[])
        scenario["regions"][0]["instances"][-1].pop("notice_at")
        clock = ManualClock(20.0)  # every other clone has had its notice
        box = start_sandbox(scenario, only=("aliyun",), clock=clock)
        boxes.append(box)
        settings = Settings(database_url=f"sqlite:///{tmp_path}/verify.db", background_ticker=False,
                            launch_from="fresh-image")
        runner = TaskRunner(Store(settings.database_url, clock=clock), {"aliyun": box.clouds["aliyun"]}, settings,
                            clock=clock, sleep=clock.advance)
        app = create_app(settings, runner=runner)
        region = scenario["regions"][0]["region"]

        def post_together(ids: list[str]) -> list[tuple[int, dict]]:
            answers: list = [None] * len(ids)
            start = threading.Barrier(len(ids))

            def one(n: int) -> None:
                client = app.test_client()
                start.wait()
                response = client.post("/events", data=_body(region, ids[n]))
                answers[n] = (response.status_code, response.get_json())
            threads = [threading.Thread(target=one, args=(n,)) for n in range(len(ids))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            return answers

        return post_together, box, runner, [i for i, _ in clones[:-1]], calm

    yield build
    for box in boxes:
        box.stop()


def _verifications(box, ids: set[str]) -> list[list[str]]:
    """The instance ids of each DescribeInstances that named any of `ids`, in call order."""
    named = [json.loads(c["params"].get("InstanceIds", "[]")) for c in box.emulators["aliyun"].calls_of("DescribeInstances")]
    return [n for n in named if ids & set(n)]


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
    while sum(len(b.ids) for q in group._queued.values() for b in q) < 3:
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
    while sum(len(b.ids) for q in group._queued.values() for b in q) < 2:
        threading.Event().wait(0.01)
    release.set()
    for t in threads:
        t.join(10)
    assert raised["a"] == {"a": 1}
    assert raised["b"] == raised["c"] and raised["b"].startswith("throttled")
    assert not group._busy  # the key is free again: the next caller goes at once

