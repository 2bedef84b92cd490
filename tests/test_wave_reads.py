"""The wave's shared reads (responder/replace/wave_reads.py): one call answers every watched id, an
answer serves other polls while fresh (longer when the caller says it may be older), and a write
of ours makes the id's next read ask the cloud."""

from __future__ import annotations

from responder.replace.wave_reads import FRESH_S, WaveReads
from responder.sandbox.scenario import ManualClock


def _reader():
    clock, asked = ManualClock(), []

    def fetch(page):
        asked.append(page)
        return {i: f"{i}@{clock():.1f}" for i in page}
    return clock, asked, fetch, WaveReads(clock)


def test_one_call_reads_every_watched_id_and_its_answer_serves_the_others_while_fresh():
    clock, asked, fetch, wave = _reader()
    wave.read("roots", "aliyun", "r", ["a"], fetch, lambda _: False)
    wave.read("roots", "aliyun", "r", ["b"], fetch, lambda _: False)  # a fresh answer for a, a call for b
    clock.advance(FRESH_S + 0.5)
    assert wave.read("roots", "aliyun", "r", ["a"], fetch, lambda _: False) == {"a": "a@2.0"}
    assert asked == [("a",), ("b", "a"), ("a", "b")]  # the third call also asked for b, watched
    clock.advance(0.5)
    assert wave.read("roots", "aliyun", "r", ["b"], fetch, lambda _: False) == {"b": "b@2.0"}  # no call
    assert len(asked) == 3


def test_a_caller_may_take_an_older_answer_and_a_write_forgets_the_id():
    clock, asked, fetch, wave = _reader()
    wave.read("images", "aws", "r", ["x", "y"], fetch, lambda _: False)
    clock.advance(10.0)
    assert wave.read("images", "aws", "r", ["x"], fetch, lambda _: False, fresh_s=15.0) == {"x": "x@0.0"}
    assert len(asked) == 1
    wave.forget("images", "aws", "r", ["x"])
    assert wave.read("images", "aws", "r", ["x"], fetch, lambda _: False, fresh_s=15.0) == {"x": "x@10.0"}
    assert len(asked) == 2


def test_expected_ids_are_read_with_the_first_call_and_serve_their_own_reads_later():
    """A wave's instances whose CreateImage waits for the budget: their disks are read with the
    first task's, a page at a time, and each later read of its own takes that answer without a call."""
    clock, asked, fetch, wave = _reader()
    wave.expect("disks of", "aws", "r", ["b", "c"])
    assert asked == []  # expecting reads nothing
    clock.advance(60.0)  # longer than WATCH_S: the caller keeps expected ids watched for its own watch_s
    assert wave.read("disks of", "aws", "r", ["a"], fetch, lambda _: True, fresh_s=30.0, watch_s=180.0) == {
        "a": "a@60.0"}
    assert asked == [("a", "b", "c")]
    clock.advance(20.0)
    assert wave.read("disks of", "aws", "r", ["c"], fetch, lambda _: True, fresh_s=30.0, watch_s=180.0) == {
        "c": "c@60.0"}
    assert len(asked) == 1
    clock.advance(15.0)  # b's answer is now older than fresh_s: its own read asks the cloud, alone
    assert wave.read("disks of", "aws", "r", ["b"], fetch, lambda _: True, fresh_s=30.0, watch_s=180.0) == {
        "b": "b@95.0"}
    assert asked[1] == ("b",)


def test_an_expected_id_leaves_the_watch_after_watch_s():
    clock, asked, fetch, wave = _reader()
    wave.expect("disks of", "aws", "r", ["b"])
    clock.advance(181.0)
    wave.read("disks of", "aws", "r", ["a"], fetch, lambda _: True, fresh_s=30.0, watch_s=180.0)
    assert asked == [("a",)]
