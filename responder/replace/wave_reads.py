"""The reads a whole wave watches: image builds and instance states, read for every watched id
whenever any task polls, and the answer shared for a moment.

Parts: FRESH_S, WaveReads.read (kind, cloud, region, wanted ids, fetch → {id: answer}), WaveReads.expect
(ids a read will soon be asked for: the next call for any of them reads them too), WaveReads.forget
(an id whose answer our own write just changed: its next read asks the cloud), WaveReads.keep_listing /
listing (a whole zone's disks, read once, serving the tasks that ask soon after), WaveReads.together
(reads asked at the same moment by several threads, one call for all: group_reads.py).

A reclaimed pool's tasks poll their images (and their replacements' and originals' states) on
their own schedules; batching.py joins the polls that fall in one round. This joins the rest: the
call one task's poll makes also asks for every other id the wave is watching (up to the page the
call costs anyway), and a poll due within FRESH_S of that answer takes it without a call. An id
leaves the watch when its answer is final (an image no longer creating) or absent, or when no
task asked about it for WATCH_S (or the `watch_s` the kind's caller gives: ids expected long before
they are asked, like the instances of a wave whose CreateImage waits for the API budget). Per executor,
thread-safe; on the task clock.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from responder.replace.group_reads import GroupCommit

FRESH_S = 1.5  # an answer this recent serves another's poll: a wave reads every 2 s (ECS: checks 1-2 s apart)
PAGE = 100
# The oldest answer a poll takes when it was read after the poller's own last look (`since_asked_s`):
# a task polls its image or instance at most this far apart once the wave reads them together.
SINCE_ASKED_S = 30.0
WATCH_S = 30.0  # an id no task asked about for this long leaves the watch (its task ended or moved on)
_ABSENT = object()


class WaveReads:
    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._lock = threading.Lock()
        self._watched: dict[tuple, dict[str, float]] = {}  # (kind, cloud, region) → id → last asked
        self._seen: dict[tuple, dict[str, tuple[float, Any]]] = {}  # … → id → (when, answer or _ABSENT)
        self._listings: dict[tuple, tuple[float, list]] = {}  # (what, cloud, region, zone) → (when, items)
        # Verification: each notice's request asks for its own instance, a wave's within a moment.
        self.together = GroupCommit(clock=clock)

    def read(self, kind: str, cloud: str, region: str, wanted: list[str],
             fetch: Callable[[tuple[str, ...]], dict[str, Any]], settled: Callable[[Any], bool],
             fresh_s: float | None = None, watch_s: float = WATCH_S, since_asked_s: float = 0.0,
             once: bool = False, page: int = PAGE) -> dict[str, Any]:
        """{id: answer} for `wanted` (absent ids left out); `settled(answer)` says an id needs no
        more watching (its answer will not change); `fresh_s`, how old an answer may be (FRESH_S);
        `watch_s`, how long an id stays watched after it was last asked or expected (WATCH_S);
        `since_asked_s` (polls, and looks whose older answer can only make a step wait: the asker
        forgets the id after each write of its own): an answer read after the id was last asked or
        expected also serves, up to this old — it is newer than what the asker knew, so taking it
        is polling a little earlier, within the asker's own poll interval; `once`
        (facts read ahead, each id asked for by its own task): an id leaves the watch when its
        asker takes its answer, not when a call read it for others — an answer read ahead can go
        stale before its task asks (the API budget admits the wave's tasks over a minute or more),
        and the next call then reads it again with the rest of the page instead of one call per
        task; `page`, the ids one call answers in one page (fewer where the answer is paged by
        something else: EC2's replace-root tasks, 50 a page)."""
        key, now, fresh_s = (kind, cloud, region), self.clock(), FRESH_S if fresh_s is None else fresh_s
        with self._lock:
            watched = self._watched.setdefault(key, {})
            seen = self._seen.setdefault(key, {})
            for i in [i for i, asked in watched.items() if asked < now - watch_s]:
                del watched[i]
            for i in [i for i, (at, _) in seen.items() if at < now - max(WATCH_S, fresh_s, since_asked_s)]:
                del seen[i]
            before = {i: watched.get(i) for i in wanted}
            for i in wanted:
                watched[i] = now
            fresh = {i: seen[i][1] for i in wanted
                     if i in seen and _serves(seen[i][0], now, fresh_s, before[i], since_asked_s)}
            for i in [i for i, answer in fresh.items() if once or answer is _ABSENT or settled(answer)]:
                watched.pop(i, None)  # answered for good: no later call reads it again for others
            missing = [i for i in dict.fromkeys(wanted) if i not in fresh]
            room = -len(missing) % page  # the rest of the page the call costs anyway
            # The stalest first (never read before them all): the pages of a wave larger than
            # one page take turns, instead of the first watched ids riding every call.
            others = sorted((i for i in watched if i not in fresh and i not in missing),
                            key=lambda i: seen[i][0] if i in seen else float("-inf"))[:room] if missing else []
        if missing:
            self._fetch(key, missing + others, fetch, settled, now, fresh, set(missing) if once else None, page)
        return {i: fresh[i] for i in wanted if fresh.get(i, _ABSENT) is not _ABSENT}

    def _fetch(self, key: tuple, asked: list[str], fetch: Callable[[tuple[str, ...]], dict[str, Any]],
               settled: Callable[[Any], bool], now: float, fresh: dict[str, Any],
               only_leave: set[str] | None = None, page: int = PAGE) -> None:
        """`only_leave`: the ids that may leave the watch (None: every settled one)."""
        found: dict[str, Any] = {}
        for start in range(0, len(asked), page):
            found.update(fetch(tuple(asked[start:start + page])))
        with self._lock:
            watched, seen = self._watched[key], self._seen[key]
            for i in asked:
                answer = found.get(i, _ABSENT)
                seen[i] = (now, answer)
                if (answer is _ABSENT or settled(answer)) and (only_leave is None or i in only_leave):
                    watched.pop(i, None)
                fresh[i] = answer

    def expect(self, kind: str, cloud: str, region: str, ids: list[str]) -> None:
        """These ids will be asked about soon: watch them now, so the next call of this kind (for
        any id) reads them with its own, up to the page it costs anyway."""
        now = self.clock()
        with self._lock:
            watched = self._watched.setdefault((kind, cloud, region), {})
            seen = self._seen.get((kind, cloud, region), {})
            for i in ids:
                if i not in seen:
                    watched[i] = now

    def expected(self, kind: str, cloud: str, region: str, within_s: float) -> int:
        """How many ids were expected within `within_s` and not asked for yet (see settle)."""
        since = self.clock() - within_s
        with self._lock:
            return sum(1 for at in self._watched.get((kind, cloud, region), {}).values() if at >= since)

    def settle(self, kind: str, cloud: str, region: str, ids) -> None:
        """These expected ids were asked for: no longer expected."""
        with self._lock:
            watched = self._watched.get((kind, cloud, region), {})
            for i in ids:
                watched.pop(i, None)

    def keep_listing(self, key: tuple, items: list) -> None:
        """A whole listing (every disk of a zone) just read: later readers may serve from it."""
        with self._lock:
            self._listings[key] = (self.clock(), list(items))

    def listing(self, key: tuple, taken_after: float, fresh_s: float) -> list | None:
        """The listing kept under `key` if it was read after `taken_after` and within fresh_s; else None."""
        with self._lock:
            at, items = self._listings.get(key, (None, None))
        if at is None or at < taken_after or at < self.clock() - fresh_s:
            return None
        return items

    def forget(self, kind: str, cloud: str, region: str, ids: list[str]) -> None:
        """Drop what was seen of these ids: a write of ours just changed them, so an answer read
        before it must not decide the next step (the id stays watched)."""
        with self._lock:
            seen = self._seen.get((kind, cloud, region), {})
            for i in ids:
                seen.pop(i, None)


def _serves(read_at: float, now: float, fresh_s: float, asked_at: float | None, since_asked_s: float) -> bool:
    """Whether an answer read at `read_at` serves a read now: fresh, or (polls) read after the
    asker's last ask and no older than since_asked_s."""
    if read_at >= now - fresh_s:
        return True
    return since_asked_s > 0 and asked_at is not None and read_at > asked_at and read_at >= now - since_asked_s
