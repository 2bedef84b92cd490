"""Aliyun capacity reservations (immediate, pay-as-you-go private pools) for the ECS adapter.

Parts: flatten_tags (Tag.N.Key/Value), AliyunCapacityMixin — create_reservation, modify_reservation, describe_reservation,
cancel_reservation, list_reservations — and `_reservation` (one CapacityReservationItem →
Reservation). Mixed into AliyunCloud, which supplies `_call`.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from responder.clouds.base import Reservation
from responder.errors import NotFound
from responder.model import Offering


def flatten_tags(tags) -> dict[str, str]:
    """Tag.N.Key / Tag.N.Value, as the RPC API takes tags."""
    out: dict[str, str] = {}
    for n, (key, value) in enumerate(tags, start=1):
        out[f"Tag.{n}.Key"] = key
        out[f"Tag.{n}.Value"] = value
    return out


def _reservation(item: dict[str, Any]) -> Reservation:
    allocated = (item.get("AllocatedResources") or {}).get("AllocatedResource") or [{}]
    first = allocated[0]
    total = int(first.get("TotalAmount") or 0)
    return Reservation(
        reservation_id=item["PrivatePoolOptionsId"], instance_type=first.get("InstanceType", ""),
        zone=first.get("zoneId") or first.get("ZoneId", ""), total=total,
        available=int(first.get("AvailableAmount", total - int(first.get("UsedAmount") or 0))),
        state=str(item.get("Status", "Active")).lower(), created_at=item.get("StartTime", ""),
        tags=tuple((t.get("TagKey", ""), t.get("TagValue", "")) for t in (item.get("Tags") or {}).get("Tag", [])),
        end_date=item.get("EndTime", "") or "",
    )


class AliyunCapacityMixin:
    def _call(self, region: str, action: str, doing: str, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError  # provided by AliyunCloud

    def create_reservation(self, region: str, offering: Offering, count: int, client_token: str,
                           preference: str = "open", tags: tuple[tuple[str, str], ...] = (),
                           end_date: str = "") -> Reservation:
        """Reserve `count` pay-as-you-go units of (type, zone); the same client_token returns the
        same private pool. No stock surfaces as NoCapacity. `end_date` (ISO time, UTC): EndTimeType
        Limited, released then."""
        params = {
            "InstanceType": offering.instance_type, "ZoneId.1": offering.zone, "InstanceAmount": count,
            "PrivatePoolOptions.MatchCriteria": "Open" if preference == "open" else "Target",
            "InstanceChargeType": "PostPaid", "EndTimeType": "Unlimited", "Platform": "linux",
            "ClientToken": client_token, **flatten_tags(tags),
        }
        if end_date:  # ECS takes yyyy-MM-ddTHH:mm:ssZ, in UTC
            ends = _dt.datetime.fromisoformat(end_date.replace("Z", "+00:00")).astimezone(_dt.timezone.utc)
            params.update({"EndTimeType": "Limited", "EndTime": ends.strftime("%Y-%m-%dT%H:%M:%SZ")})
        body = self._call(region, "CreateCapacityReservation",
                          f"reserving {count} x {offering.instance_type} in {offering.zone}", params)
        # Built from what we asked rather than a second call: a throttled describe right after a
        # successful create must not look like a failed create.
        return Reservation(reservation_id=body["PrivatePoolOptionsId"], instance_type=offering.instance_type,
                           zone=offering.zone, total=count, available=count, state="active")

    def modify_reservation(self, region: str, reservation_id: str, total: int, client_token: str = "") -> Reservation:
        """Set the reservation's total. ModifyCapacityReservation takes no ClientToken; setting an
        absolute total is itself idempotent, so `client_token` is accepted and unused."""
        self._call(region, "ModifyCapacityReservation", f"resizing reservation {reservation_id} to {total}",
                   {"PrivatePoolOptions.Id": reservation_id, "InstanceAmount": total})
        return self.describe_reservation(region, reservation_id)

    def describe_reservation(self, region: str, reservation_id: str) -> Reservation:
        body = self._call(region, "DescribeCapacityReservations", f"reading reservation {reservation_id}",
                          {"PrivatePoolOptions.Ids": json.dumps([reservation_id])})
        found = body.get("CapacityReservationSet", {}).get("CapacityReservationItem", [])
        if not found:
            raise NotFound("InvalidParameter.PrivatePoolOptions.Id", f"reservation {reservation_id} does not exist",
                           "DescribeCapacityReservations")
        return _reservation(found[0])

    def cancel_reservation(self, region: str, reservation_id: str) -> None:
        self._call(region, "ReleaseCapacityReservation", f"releasing reservation {reservation_id}",
                   {"PrivatePoolOptions.Id": reservation_id})

    def list_reservations(self, region: str, instance_type: str = "", zone: str = "",
                          status: str = "Active") -> list[Reservation]:
        """`status=""` asks for every status (Pending, Preparing, Prepared, Active, Released)."""
        found: list[Reservation] = []
        token = ""
        while True:
            body = self._call(region, "DescribeCapacityReservations", "listing reservations",
                              {"InstanceType": instance_type, "ZoneId": zone, "MaxResults": 100, "NextToken": token,
                               "Status": status})
            found += [_reservation(i) for i in body.get("CapacityReservationSet", {}).get("CapacityReservationItem", [])]
            token = body.get("NextToken") or ""
            if not token:
                return found
