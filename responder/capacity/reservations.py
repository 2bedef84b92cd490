"""Acquirers over the cloud port's reservation verbs: what the engine buys for `odcr create/expand`
and capacity targets, on any cloud (AWS ODCRs, Aliyun immediate capacity reservations).

Parts: ReservationAcquirer (create = a new reservation; grow = resize the given one to an
absolute total), holding_of (a port Reservation → an engine Holding).

grow sets holding.count + add, where holding.count is the total the engine (and its ledger) knows:
an absolute number, so a call re-issued after a crash asks for the same total instead of adding
again. We deliberately do not re-read the total before each resize: "read, then add" would buy
twice when the first resize had in fact gone through before the crash.
"""

from __future__ import annotations

from responder.capacity.engine import Holding
from responder.clouds.base import CloudPort, Reservation
from responder.model import Offering


def holding_of(reservation: Reservation, offering: Offering | None = None, initial: int = 0) -> Holding:
    offering = offering or Offering(reservation.instance_type, reservation.zone)
    return Holding(reservation.reservation_id, offering, reservation.total,
                   initial=initial or reservation.total, created_at=reservation.created_at)


class ReservationAcquirer:
    """Buys reservations in one region of one cloud through the CloudPort."""

    def __init__(self, cloud: CloudPort, region: str, preference: str = "open",
                 tags: tuple[tuple[str, str], ...] = ()):
        self.cloud, self.region, self.preference, self.tags = cloud, region, preference, tags

    def create(self, offering: Offering, count: int, token: str) -> Holding:
        made = self.cloud.create_reservation(self.region, offering, count, token, self.preference, self.tags)
        return holding_of(made, offering)

    def grow(self, holding: Holding, add: int, token: str) -> Holding:
        resized = self.cloud.modify_reservation(self.region, holding.holding_id, holding.count + add, token)
        # The port answers with the reservation as it now is; keep what we knew about its birth.
        return Holding(holding.holding_id, holding.offering, max(resized.total, holding.count + add),
                       initial=holding.initial or holding.count, created_at=holding.created_at)

    def describe(self, reservation_id: str) -> Holding:
        return holding_of(self.cloud.describe_reservation(self.region, reservation_id))
