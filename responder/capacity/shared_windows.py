"""ECS's per-minute API windows counted in the store, so that several processes (FC or Lambda
instances, workers) sharing one account spend one window together instead of each spending all of it.

Parts: api_windows (the table), SharedWindows.grant (take up to n calls of a (cloud, region, API)
window of the account for one calendar window; None when the store does not answer), AccountWindows
(a process's holdings: ready → now, a later time, or a Fetch to make; granted; spend), Held, Fetch,
BATCH_SHARE, EDGE_SHARE, OUTAGE_SECONDS.

ECS counts calls per API, per region, per account in calendar minutes and refuses the rest of the
minute once one call was refused ("API throttling" / 流量控制,
https://www.alibabacloud.com/help/doc-detail/437902.htm). Each process's own limiter
(limiter.py) knows only its own calls: four of them each starting at the full threshold sent up to
four windows' worth in the first minute of a wave, and the lock-out then held every one of them
until the next. Here a process takes calls from the account's window in the store, a batch at a
time (BATCH_SHARE of the window: 10 of ECS's 200, so the store sees about 20 writes a minute per API
for the whole account, not one per call), and spends them itself; a batch taken and not spent before
the window ends is lost, which costs at most a batch per process and window.

No row is read and then written from what was read: a take is one conditional UPDATE
(`used + n <= calls`), which the database applies atomically on SQLite, MySQL and PostgreSQL alike
(a racer's UPDATE re-evaluates the condition on the committed row), in its own short transaction,
so the one row per (API, minute) is locked for one statement at a time and nobody waits behind a
transaction that does something else (the money caps' slot rows, replace/caps.py, avoid the same
thing by other means; a window is a count, not a set of tokens, so one row suffices). When less than
a batch is left, the rest is taken in one more conditional UPDATE. Rows of past windows are
deleted now and then by whoever opens a new window.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from responder.capacity.api_limits import Limit
from responder.store import metadata
from responder.store_connect import log_store_failure

log = logging.getLogger("responder.budget")
BATCH_SHARE = 1 / 20  # of a window's calls, taken from the store at once (10 of ECS's 200 a minute)
KEEP_WINDOWS = 5  # past windows' rows kept (nothing reads them; a few help whoever looks at the table)
RACE_RETRIES = 4  # a take that lost a race for the last calls (or the row's creation) looks again

api_windows = sa.Table(
    "responder_api_windows",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),  # cloud:region:API
    sa.Column("period", sa.BigInteger, primary_key=True, autoincrement=False),  # floor(time / window seconds)
    sa.Column("used", sa.Integer, nullable=False),
)
cols = api_windows.c


def batch_of(calls: float) -> int:
    return max(1, math.floor(calls * BATCH_SHARE))


class SharedWindows:
    """The account's windows in the store (store.engine); thread-safe, one per process is enough."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def grant(self, name: str, window: int, want: int, calls: float) -> int | None:
        """Take up to `want` calls of window `window` of `name`, whose account threshold is `calls`
        a window: how many were taken (0: the account's window is spent), or None when the store did
        not answer (the caller then goes by its own count)."""
        try:
            return self._grant(name, window, want, int(calls))
        except SQLAlchemyError as exc:
            log_store_failure(log, self.engine, "API budget: the shared windows are not answering, each "
                                                "process counts its own calls", exc)
            return None

    def _grant(self, name: str, window: int, want: int, calls: int) -> int:
        for _ in range(RACE_RETRIES):
            with self.engine.begin() as conn:
                if self._take(conn, name, window, want, calls):
                    return want
                used = conn.execute(sa.select(cols.used).where(cols.name == name, cols.period == window)).scalar()
            if used is None:
                if self._open(name, window, min(want, calls)):
                    return min(want, calls)
                continue  # a racer opened it first: take from it
            left = min(want, calls - used)
            if left <= 0:
                return 0
            with self.engine.begin() as conn:
                if self._take(conn, name, window, left, calls):
                    return left
        return 0

    @staticmethod
    def _take(conn: sa.Connection, name: str, window: int, n: int, calls: int) -> bool:
        taken = conn.execute(sa.update(api_windows).where(cols.name == name, cols.period == window,
                                                          cols.used + n <= calls).values(used=cols.used + n))
        return taken.rowcount == 1

    def _open(self, name: str, window: int, n: int) -> bool:
        """The window's first take: its row, holding n. False when a racer made the row first."""
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(api_windows).values(name=name, period=window, used=n))
                conn.execute(sa.delete(api_windows).where(cols.name == name, cols.period < window - KEEP_WINDOWS))
            return True
        except IntegrityError:
            return False


# The cloud's minute may begin a little before or after ours (clocks synchronised, not equal): a
# call sent this share of the window from either end may be counted in a neighbouring minute of the
# cloud's. That matters only where the account spends whole windows: once the store said one was
# spent, the process keeps its calls of the current and the next window off their edges. A window
# that nobody spends has room for a call counted a minute early or late, so on a fresh window a call
# goes at once.
EDGE_SHARE = 1 / 120  # half a second of ECS's minute
OUTAGE_SECONDS = 30.0  # after the store did not answer, each process goes by its own count this long


@dataclass
class Held:
    """What one process holds of one (cloud, region, API) window of the account."""

    period: int = -1
    calls: int = 0  # taken from the store for `period`, not spent yet
    spent: bool = False  # the store said the account's window `period` has nothing left
    last_spent: float = -math.inf  # the latest period the store said was spent (edges kept after it)
    alone_until: float = -math.inf  # the store did not answer: the process's own count only


@dataclass(frozen=True)
class Fetch:
    """A take to make from the store, outside the budget's lock."""

    name: str
    period: int
    want: int
    calls: float


class AccountWindows:
    """The process's side of the shared windows: what it holds of each, whether it must ask the
    store first, and when a spent window lets calls go again. Not thread-safe: the budget calls it
    under its lock, and makes the Fetch it returns outside."""

    def __init__(self, windows: SharedWindows):
        self.windows = windows
        self.held: dict[str, Held] = {}

    def ready(self, name: str, limit: Limit, now: float, need: int) -> float | Fetch:
        """`now` when the process holds `need` calls of the account's current window (or the store
        is out), a later time when the window cannot give them, or the Fetch that would get them."""
        held = self._held(name, limit, now)
        if held is None:
            return now
        period = held.period
        start, end = period * limit.window, (period + 1) * limit.window
        edge = EDGE_SHARE * limit.window
        if held.spent and held.calls < need:
            return end + edge
        if held.last_spent >= period - 1 and not start + edge <= now < end - edge:
            return start + edge if now < start + edge else end + edge  # the account spends whole windows
        if held.calls >= need:
            return now
        return Fetch(name, period, max(need - held.calls, batch_of(limit.capacity)), limit.capacity)

    def fetch(self, fetch: Fetch) -> int | None:
        return self.windows.grant(fetch.name, fetch.period, fetch.want, fetch.calls)

    def granted(self, fetch: Fetch, got: int | None, now: float) -> None:
        held = self.held.setdefault(fetch.name, Held())
        if got is None:
            held.alone_until = now + OUTAGE_SECONDS
        elif held.period == fetch.period:
            held.calls += got
            held.spent = got < fetch.want
            if held.spent:
                held.last_spent = fetch.period
        # a window that ended meanwhile: what it gave is lost, as any batch not spent in time

    def spend(self, name: str, limit: Limit, now: float) -> None:
        held = self._held(name, limit, now)
        if held is not None and held.calls > 0:
            held.calls -= 1

    def _held(self, name: str, limit: Limit, now: float) -> Held | None:
        """The current window's holding; None when the limit is no shared window or the store is out."""
        if not limit.window:
            return None
        held = self.held.setdefault(name, Held())
        if now < held.alone_until:
            return None
        period = math.floor(now / limit.window)
        if period != held.period:
            held.period, held.calls, held.spent = period, 0, False
        return held
