"""The wave's shared reads (responder/replace/wave_reads.py): one call answers every watched id, an
answer serves other polls while fresh (longer when the caller says it may be older), and a write
of ours makes the id's next read ask the cloud."""

from __future__ import annotations

from responder.clouds.base import RootLook
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


def test_facts_read_ahead_stay_watched_until_their_own_task_takes_them():
    """`once` (read ahead): a page read for others keeps its ids watched, so when the answers go
    stale before their tasks ask (the budget admits a wave's CreateImage over a minute and more),
    the next task's call reads them again together: a call per page, never one per task."""
    clock, asked, fetch, wave = _reader()
    ids = [f"i{n:02}" for n in range(10)]
    wave.expect("disks of", "aws", "r", ids)
    read = lambda i: wave.read("disks of", "aws", "r", [i], fetch, lambda _: True, fresh_s=30.0,  # noqa: E731
                               watch_s=180.0, once=True)
    assert read("i00") == {"i00": "i00@0.0"}
    assert asked == [tuple(ids)]
    clock.advance(40.0)  # every answer read ahead is stale now
    for n, i in enumerate(ids[1:], start=1):
        assert read(i) == {i: f"{i}@40.0"}  # read by the first stale task's call
        clock.advance(1.0)
    assert len(asked) == 2 and set(asked[1]) == set(ids[1:])  # i00 took its answer: not read again
    clock.advance(40.0)
    read("i05")  # asked again later (a retry): alone, every other task took its own
    assert asked[2] == ("i05",)


def test_an_expected_id_leaves_the_watch_after_watch_s():
    clock, asked, fetch, wave = _reader()
    wave.expect("disks of", "aws", "r", ["b"])
    clock.advance(181.0)
    wave.read("disks of", "aws", "r", ["a"], fetch, lambda _: True, fresh_s=30.0, watch_s=180.0)
    assert asked == [("a",)]


def test_a_wave_larger_than_a_page_reads_its_stalest_ids_first():
    """150 watched ids, one poll a beat: each call's room goes to the ids read longest ago, so two
    calls cover the wave and the next polls of any id take those answers (not one call per poll)."""
    clock, asked, fetch, wave = _reader()
    ids = [f"i{n:03}" for n in range(150)]
    wave.read("states", "aliyun", "r", ids, fetch, lambda _: False)  # two pages, every id watched
    assert [len(page) for page in asked] == [100, 50]
    clock.advance(FRESH_S + 0.5)
    wave.read("states", "aliyun", "r", ["i000"], fetch, lambda _: False)  # i000 and the 99 next stalest
    clock.advance(1.0)
    wave.read("states", "aliyun", "r", ["i001"], fetch, lambda _: False)  # fresh from that call: no call
    assert len(asked) == 3
    clock.advance(1.0)
    wave.read("states", "aliyun", "r", ["i149"], fetch, lambda _: False)
    assert len(asked) == 4 and set(asked[2]) | set(asked[3]) == set(ids)  # the pages took turns


def test_a_poll_takes_an_answer_read_since_its_own_last_look():
    """A task polling every 10 s takes the wave's answer read 6 s ago (newer than what it knew);
    never the answer its own last poll already had, and never one older than since_asked_s."""
    clock, asked, fetch, wave = _reader()
    poll = {"settled": lambda _: False, "since_asked_s": 30.0}
    wave.read("images", "aws", "r", ["x"], fetch, **poll)  # x's own poll at 0
    clock.advance(4.0)
    wave.read("images", "aws", "r", ["y"], fetch, **poll)  # y's poll at 4 also reads x
    clock.advance(6.0)
    assert wave.read("images", "aws", "r", ["x"], fetch, **poll) == {"x": "x@4.0"}  # no call
    assert len(asked) == 2
    clock.advance(10.0)  # x's last look was at 10 and took the answer of 4: it asks the cloud
    assert wave.read("images", "aws", "r", ["x"], fetch, **poll) == {"x": "x@20.0"}
    # A new image expected when it is created: its first poll takes any read made since.
    wave.expect("images", "aws", "r", ["z"])
    clock.advance(3.0)
    wave.read("images", "aws", "r", ["w"], fetch, **poll)  # another new image's poll reads z with it
    clock.advance(20.0)
    calls = len(asked)
    assert wave.read("images", "aws", "r", ["z"], fetch, **poll) == {"z": "z@23.0"}
    assert len(asked) == calls
    clock.advance(31.0)  # no answer read since, and past since_asked_s: a call
    wave.read("images", "aws", "r", ["z"], fetch, **poll)
    assert len(asked) == calls + 1


def test_a_page_smaller_than_a_hundred_bounds_the_ids_a_call_fills():
    """`page`: an answer paged by something else (EC2's replace-root tasks, 50 a page) is asked for
    no more ids than one page answers, so filling the call with watched ids never costs a second page."""
    clock, asked, fetch, wave = _reader()
    ids = [f"i{n:02}" for n in range(80)]
    wave.read("roots", "aws", "r", ids, fetch, lambda _: False, page=50)
    assert [len(p) for p in asked] == [50, 30]
    clock.advance(FRESH_S + 0.5)
    wave.read("roots", "aws", "r", ["i00"], fetch, lambda _: False, page=50)
    assert len(asked[2]) == 50


def test_an_instance_whose_replace_root_tasks_all_ended_leaves_the_root_watch():
    assert RootLook(swaps=(("ami-1", "succeeded"),)).swaps_ended
    assert RootLook(swaps=(("ami-0", "failed"), ("ami-1", "succeeded"))).swaps_ended
    assert not RootLook(swaps=(("ami-1", "in-progress"),)).swaps_ended
    assert not RootLook().swaps_ended  # no task yet: the swap is still to come
