"""Delivering the outbox: every notification to every channel that wants it, with retries, once.

Parts: Outbox (route, enqueue, deliver_due, channel_health), DELIVERY_BACKOFF, MAX_ATTEMPTS,
GIVE_UP_SECONDS, HEALTH_FAILURES.

A delivery is a row per (notification, channel), written with the notification for the channels
configured then (a channel added later is not flooded with old news). A deliverer takes it with a conditional UPDATE
on its lease (the same pattern as task leases, so two workers or a worker and `responder tick`
never send the same row at once), sends, and marks it `sent`; a sent row is never sent again. A
failed send backs off on the row (the project's one Backoff policy, capped at ten minutes) and
gives up (`dead`) after MAX_ATTEMPTS or GIVE_UP_SECONDS. A crash after the channel accepted a
message but before the row was marked sent sends it once more after the lease runs out: a chat
sees a rare duplicate, never a loss.

Sending happens off the replacement path (a dispatcher thread, or after the work of an
invocation) and each channel has its own timeout, so a dead channel costs at most its timeout
per due row per pass, never a replacement.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from responder.notify.channels import Channel, ChannelError
from responder.notify.messages import Notice
from responder.retry import Backoff
from responder.store import insert_notices, outbox, outbox_deliveries

log = logging.getLogger("responder.notify")
DELIVERY_BACKOFF = Backoff(base=2.0, cap=600.0)
MAX_ATTEMPTS = 30
GIVE_UP_SECONDS = 24 * 3600.0
HEALTH_FAILURES = 3  # consecutive failed attempts after which a channel shows as failing


class Outbox:
    def __init__(self, store, channels: Iterable[Channel], clock: Callable[[], float] = time.time,
                 rand: Callable[[], float] = random.random, on_result: Callable[[str, bool], None] | None = None):
        self.store = store
        self.engine = store.engine
        self.channels = list(channels)
        self.clock = clock
        self.rand = rand
        self.on_result = on_result  # (channel name, sent?) after every attempt: the metrics

    def route(self, notices: list[Notice]) -> list[Notice]:
        """Each notice with the channels that want it (its kind passes their filter and level)."""
        return [dataclasses.replace(n, channels=tuple(c.name for c in self.channels if c.wants(n)))
                for n in notices]

    def enqueue(self, notices: list[Notice]) -> int:
        """Route and write notices in their own transaction (for state changes that are not a task
        save); a dedupe key already present is skipped, also when two processes race for it."""
        notices = self.route(notices)
        try:
            with self.engine.begin() as conn:
                return insert_notices(conn, notices, self.clock())
        except IntegrityError:
            return 0

    def deliver_due(self, budget_seconds: float | None = None, limit: int = 100) -> int:
        """Send what is due to every channel; returns how many sends succeeded. Stops taking new
        rows once `budget_seconds` have passed (an invocation's remaining time)."""
        started, sent = time.monotonic(), 0
        for channel in self.channels:
            for notice_id, notice in self._due_for(channel, limit):
                if budget_seconds is not None and time.monotonic() - started >= budget_seconds:
                    return sent
                if self._take(notice_id, channel):
                    sent += self._attempt(notice_id, notice, channel)
        return sent

    def _due_for(self, channel: Channel, limit: int) -> list[tuple[int, Notice]]:
        now, d = self.clock(), outbox_deliveries
        query = (sa.select(outbox).select_from(outbox.join(d, d.c.outbox_id == outbox.c.id))
                 .where(d.c.channel == channel.name, d.c.status == "pending", d.c.next_at <= now,
                        sa.or_(d.c.lease_until.is_(None), d.c.lease_until < now))
                 .order_by(outbox.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [(row.id, Notice.from_row(row)) for row in conn.execute(query)]

    def _take(self, notice_id: int, channel: Channel) -> bool:
        """Lease the delivery row: rowcount 1 means no other deliverer holds or sent it."""
        now, d = self.clock(), outbox_deliveries
        with self.engine.begin() as conn:
            return conn.execute(d.update().where(
                d.c.outbox_id == notice_id, d.c.channel == channel.name, d.c.status == "pending",
                d.c.next_at <= now, sa.or_(d.c.lease_until.is_(None), d.c.lease_until < now),
            ).values(lease_until=now + 2 * channel.timeout + 5, updated_at=now)).rowcount == 1

    def _attempt(self, notice_id: int, notice: Notice, channel: Channel) -> int:
        d = outbox_deliveries
        where = sa.and_(d.c.outbox_id == notice_id, d.c.channel == channel.name)
        try:
            channel.send(notice)
        except Exception as exc:  # any failure of a channel is its own, never the caller's
            error = str(exc) if isinstance(exc, ChannelError) else exc.__class__.__name__
            now = self.clock()
            with self.engine.begin() as conn:
                attempts = conn.execute(sa.select(d.c.attempts).where(where)).scalar_one() + 1
                dead = attempts >= MAX_ATTEMPTS or now - self._created_at(conn, notice_id) >= GIVE_UP_SECONDS
                conn.execute(d.update().where(where).values(
                    attempts=attempts, status="dead" if dead else "pending", lease_until=None,
                    next_at=now + DELIVERY_BACKOFF.delay(attempts, self.rand), last_error=error[:255],
                    updated_at=now))
            log.warning("notification %s (%s) to %s failed (attempt %d%s): %s", notice_id, notice.kind,
                        channel.name, attempts, ", giving up" if dead else "", error)
            self._report(channel.name, False)
            return 0
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(d.update().where(where).values(status="sent", attempts=d.c.attempts + 1, sent_at=now,
                                                        lease_until=None, last_error="", updated_at=now))
        self._report(channel.name, True)
        return 1

    def _created_at(self, conn: sa.Connection, notice_id: int) -> float:
        return conn.execute(sa.select(outbox.c.created_at).where(outbox.c.id == notice_id)).scalar_one()

    def _report(self, channel: str, sent: bool) -> None:
        if self.on_result:
            self.on_result(channel, sent)

    def channel_health(self) -> dict[str, dict]:
        """Per channel: `failing` when a notification has failed HEALTH_FAILURES times in a row or
        was given up in the last day; the worst streak, the last error's kind, the last success."""
        d, now = outbox_deliveries, self.clock()
        health = {}
        with self.engine.connect() as conn:
            for channel in self.channels:
                mine = d.c.channel == channel.name
                streak = conn.execute(sa.select(sa.func.max(d.c.attempts))
                                      .where(mine, d.c.status == "pending")).scalar() or 0
                dead = conn.execute(sa.select(sa.func.count()).select_from(d)
                                    .where(mine, d.c.status == "dead", d.c.updated_at >= now - 86400)).scalar()
                last_sent = conn.execute(sa.select(sa.func.max(d.c.sent_at)).where(mine)).scalar()
                last_error = conn.execute(sa.select(d.c.last_error).where(mine, d.c.last_error != "")
                                          .order_by(d.c.updated_at.desc()).limit(1)).scalar() or ""
                health[channel.name] = {"status": "failing" if streak >= HEALTH_FAILURES or dead else "ok",
                                        "failed_attempts": streak, "given_up_last_day": dead,
                                        "last_sent_at": last_sent, "last_error": last_error}
        return health
