"""What moto lacks, answered from the scenario: On-Demand Capacity Reservations (spot placement
scores are in aws_scores).

Parts: RegionView (one scenario region as the intercepts see it: zones, zone ids, offered types,
stock, clock), CapacityReservations (Create/Modify/Describe/CancelCapacityReservation, consuming
the StockBook's on-demand capacity, ClientToken idempotent).

Handlers take the unflattened query parameters and return the result dict that
aws_wire.ec2_response serializes; refusals raise Ec2Error with the code real EC2 uses.
"""

from __future__ import annotations

import datetime as _dt
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from responder.sandbox.aws_wire import Ec2Error, as_list, tags_from
from responder.sandbox.scenario import StockBook


@dataclass
class RegionView:
    region: str
    account: str
    zones: list[str]
    zone_ids: dict[str, str]  # us-east-2a → use2-az1, as DescribeAvailabilityZones says
    offered: Callable[[str, str], bool]  # (instance_type, zone) → is it sold there at all
    stock: StockBook
    clock: Callable[[], float]
    scores: list[dict[str, Any]] = field(default_factory=list)  # scenario placement_scores


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


class CapacityReservations:
    """ODCRs of one region. Capacity comes out of the StockBook's `ondemand` market, so a
    reservation and a launch compete for the same units, as they do in a real zone."""

    def __init__(self, view: RegionView):
        self.view = view
        self._by_id: dict[str, dict[str, Any]] = {}
        self._by_token: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------
    def _get(self, reservation_id: str) -> dict[str, Any]:
        if reservation_id not in self._by_id:
            raise Ec2Error("InvalidCapacityReservationId.NotFound",
                           f"The capacity reservation ID '{reservation_id}' does not exist")
        return self._by_id[reservation_id]

    def _check_offering(self, instance_type: str, zone: str) -> None:
        if zone not in self.view.zones:
            raise Ec2Error("InvalidParameterValue", f"Invalid availability zone: [{zone}]")
        if not self.view.offered(instance_type, zone):
            raise Ec2Error("InvalidParameterValue",
                           f"The instance type '{instance_type}' is not supported in {zone}.")

    @staticmethod
    def _insufficient(instance_type: str, zone: str) -> Ec2Error:
        return Ec2Error("InsufficientInstanceCapacity",
                        f"There is no capacity available for {instance_type} in {zone} "
                        "to fulfil the capacity reservation request. Try again later or in another zone.")

    # -- operations ------------------------------------------------------------------------
    def create(self, p: dict[str, Any]) -> dict[str, Any]:
        instance_type = p.get("InstanceType", "")
        zone = p.get("AvailabilityZone") or self._zone_of_id(p.get("AvailabilityZoneId", ""))
        count = int(p.get("InstanceCount", "0") or 0)
        if count < 1:
            raise Ec2Error("InvalidParameterValue", "InstanceCount must be at least 1")
        self._check_offering(instance_type, zone)
        token = p.get("ClientToken", "")
        end_date = self._end_date(p)
        with self._lock:
            if token and token in self._by_token:
                # Same token, same request → the same reservation (EC2 idempotency contract).
                fingerprint, existing_id = self._by_token[token][0], self._by_token[token][1]["CapacityReservationId"]
                if fingerprint != f"{instance_type}/{zone}/{count}":
                    raise Ec2Error("IdempotentParameterMismatch",
                                   "The client token was already used with different parameters.")
                return {"CapacityReservation": self._by_id[existing_id]}
            if not self.view.stock.take(instance_type, zone, "ondemand", count):
                raise self._insufficient(instance_type, zone)
            rid = "cr-" + uuid.uuid4().hex[:17]
            tags = tags_from(p, "capacity-reservation")
            now = _now()
            reservation = {
                "CapacityReservationId": rid,
                "OwnerId": self.view.account,
                "CapacityReservationArn": f"arn:aws:ec2:{self.view.region}:{self.view.account}:capacity-reservation/{rid}",
                "AvailabilityZoneId": self.view.zone_ids.get(zone, ""),
                "InstanceType": instance_type,
                "InstancePlatform": p.get("InstancePlatform", "Linux/UNIX"),
                "AvailabilityZone": zone,
                "Tenancy": p.get("Tenancy", "default"),
                "TotalInstanceCount": count,
                "AvailableInstanceCount": count,
                "EbsOptimized": p.get("EbsOptimized", "false") in ("true", "True"),
                "EphemeralStorage": False,
                "State": "active",
                "StartDate": now,
                "EndDateType": p.get("EndDateType", "unlimited"),
                **({"EndDate": end_date} if end_date else {}),
                "InstanceMatchCriteria": p.get("InstanceMatchCriteria", "open"),
                "CreateDate": now,
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                "ReservationType": "default",
            }
            self._by_id[rid] = reservation
            if token:
                self._by_token[token] = (f"{instance_type}/{zone}/{count}", reservation)
            return {"CapacityReservation": reservation}

    def modify(self, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            r = self._get(p.get("CapacityReservationId", ""))
            if r["State"] != "active":
                raise Ec2Error("IncorrectState", f"The capacity reservation {r['CapacityReservationId']} is not active.")
            if "InstanceCount" in p:
                new_total = int(p["InstanceCount"])
                used = r["TotalInstanceCount"] - r["AvailableInstanceCount"]
                if new_total < max(used, 1):
                    raise Ec2Error("InvalidParameterValue",
                                   f"InstanceCount {new_total} is below the {used} instances running in it")
                delta = new_total - r["TotalInstanceCount"]
                if delta > 0 and not self.view.stock.take(r["InstanceType"], r["AvailabilityZone"], "ondemand", delta):
                    raise self._insufficient(r["InstanceType"], r["AvailabilityZone"])
                if delta < 0:
                    self.view.stock.give_back(r["InstanceType"], r["AvailabilityZone"], "ondemand", -delta)
                r["TotalInstanceCount"] = new_total
                r["AvailableInstanceCount"] += delta
            if p.get("InstanceMatchCriteria"):
                r["InstanceMatchCriteria"] = p["InstanceMatchCriteria"]
            if p.get("EndDateType"):
                r["EndDateType"] = p["EndDateType"]
            return {"Return": True}

    def cancel(self, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            r = self._get(p.get("CapacityReservationId", ""))
            if r["State"] == "active":
                # Unused units go back to the zone; running instances keep theirs.
                self.view.stock.give_back(r["InstanceType"], r["AvailabilityZone"], "ondemand",
                                          r["AvailableInstanceCount"])
                r["State"] = "cancelled"
                r["AvailableInstanceCount"] = 0
            return {"Return": True}

    @staticmethod
    def _end_date(p: dict[str, Any]):
        """"You must provide an EndDate value if EndDateType is limited. Omit EndDate if EndDateType
        is unlimited" (EC2 API Reference, CreateCapacityReservation)."""
        limited = p.get("EndDateType", "unlimited") == "limited"
        if limited != bool(p.get("EndDate")):
            raise Ec2Error("InvalidParameterCombination", "EndDate is required when EndDateType is limited, "
                                                          "and not allowed when it is unlimited")
        if not limited:
            return None
        try:
            return _dt.datetime.fromisoformat(str(p["EndDate"]).replace("Z", "+00:00"))
        except ValueError:
            raise Ec2Error("InvalidParameterValue", f"Invalid EndDate: {p['EndDate']}") from None

    def set_state(self, reservation_id: str, state: str) -> None:
        """Sandbox lever: move a reservation to `state` the way EC2 would (expired, cancelled and
        failed give their unused units back to the zone; pending holds them, launchable later)."""
        with self._lock:
            r = self._get(reservation_id)
            if r["State"] in ("active", "pending") and state in ("expired", "cancelled", "failed"):
                self.view.stock.give_back(r["InstanceType"], r["AvailabilityZone"], "ondemand",
                                          r["AvailableInstanceCount"])
                r["AvailableInstanceCount"] = 0
            r["State"] = state

    def expire(self, reservation_id: str) -> None:
        self.set_state(reservation_id, "expired")

    def _expire_due(self) -> None:
        """"The Capacity Reservation's state changes to expired when it reaches its end date and
        time" (EC2 API Reference, CreateCapacityReservation EndDate; EC2 ends it within the hour
        after: the sandbox takes the harsher reading, at the exact time)."""
        now = _now()
        for r in list(self._by_id.values()):
            if r["State"] == "active" and r.get("EndDate") is not None and r["EndDate"] <= now:
                self.view.stock.give_back(r["InstanceType"], r["AvailabilityZone"], "ondemand",
                                          r["AvailableInstanceCount"])
                r["State"], r["AvailableInstanceCount"] = "expired", 0

    def describe(self, p: dict[str, Any]) -> dict[str, Any]:
        ids = as_list(p.get("CapacityReservationId"))
        with self._lock:
            self._expire_due()
            found = [self._get(i) for i in ids] if ids else list(self._by_id.values())
            for f in as_list(p.get("Filter")):
                name, values = f.get("Name", ""), set(as_list(f.get("Value")))
                found = [r for r in found if _filter_value(r, name) in values]
            return {"CapacityReservations": [dict(r) for r in found]}

    def use_open(self, instance_type: str, zone: str, count: int) -> bool:
        """A launch of matching on-demand instances lands in an open reservation first."""
        with self._lock:
            for r in self._by_id.values():
                if (r["State"] == "active" and r["InstanceMatchCriteria"] == "open"
                        and r["InstanceType"] == instance_type and r["AvailabilityZone"] == zone
                        and r["AvailableInstanceCount"] >= count):
                    r["AvailableInstanceCount"] -= count
                    return True
        return False

    def _zone_of_id(self, zone_id: str) -> str:
        for name, zid in self.view.zone_ids.items():
            if zid == zone_id:
                return name
        return zone_id


def _filter_value(r: dict[str, Any], name: str) -> str:
    if name.startswith("tag:"):
        return {t["Key"]: t["Value"] for t in r["Tags"]}.get(name[4:], "")
    field_name = {"state": "State", "instance-type": "InstanceType", "availability-zone": "AvailabilityZone",
                  "instance-match-criteria": "InstanceMatchCriteria", "owner-id": "OwnerId"}.get(name, "")
    return str(r.get(field_name, ""))
