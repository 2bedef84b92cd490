"""AWS capacity verbs of the adapter: On-Demand Capacity Reservations and spot market signals.

Parts: OWNED_TAG, tag_list, AwsCapacityMixin — create_reservation / modify_reservation /
describe_reservation / cancel_reservation / list_reservations (ODCRs: Linux/UNIX, EndDateType
unlimited, InstanceMatchCriteria open|targeted, tagged as ours, ClientToken), spot_placement_scores
(one GetSpotPlacementScores configuration, zone ids mapped back to zone names), spot_scorer,
placement_scores (per (type, zone) from groups of >= 3 types, via responder.spot), spot_prices
(DescribeSpotPriceHistory, latest per type and zone), associate_address, zone_names.

Mixed into AwsCloud, which provides `_call(region, operation, doing, **kwargs)`, `_pages(...)`,
`instance_types(region, names)` and the `_zone_names` / `_ebs_optimized` caches.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from responder.clouds.base import OWNED_TAG, Reservation
from responder.clouds.spot_scorer import Score, ScoreRequest, SpotScorer
from responder.errors import NotFound
from responder.model import Offering



def tag_list(pairs) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs]


def _reservation(raw: dict[str, Any]) -> Reservation:
    created, ends = raw.get("CreateDate"), raw.get("EndDate")
    return Reservation(
        reservation_id=raw["CapacityReservationId"], instance_type=raw.get("InstanceType", ""),
        zone=raw.get("AvailabilityZone", ""), total=int(raw.get("TotalInstanceCount", 0)),
        available=int(raw.get("AvailableInstanceCount", 0)), state=raw.get("State", ""),
        created_at=created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
        tags=tuple((t["Key"], t.get("Value", "")) for t in raw.get("Tags", [])),
        end_date=ends.isoformat() if hasattr(ends, "isoformat") else str(ends or ""),
    )


class AwsCapacityMixin:
    _zone_names: dict[str, dict[str, str]]
    _ebs_optimized: dict[tuple[str, str], bool]

    # -- On-Demand Capacity Reservations ---------------------------------------------------
    def create_reservation(self, region: str, offering: Offering, count: int, client_token: str,
                           preference: str = "open", tags: tuple[tuple[str, str], ...] = (),
                           end_date: str = "") -> Reservation:
        """Reserve `count` on-demand units of offering (type, zone). InsufficientInstanceCapacity
        (HTTP 500) surfaces as NoCapacity; the same client_token returns the same reservation.
        `end_date` (ISO time): EndDateType=limited, the reservation expires then."""
        ending: dict[str, Any] = {"EndDateType": "unlimited"}
        if end_date:
            ending = {"EndDateType": "limited",
                      "EndDate": _dt.datetime.fromisoformat(end_date.replace("Z", "+00:00"))}
        doing = f"reserving {count} x {offering.instance_type} in {offering.zone}"
        answer = self._call(  # type: ignore[attr-defined]
            region, "create_capacity_reservation", doing,
            InstanceType=offering.instance_type, InstancePlatform="Linux/UNIX",
            AvailabilityZone=offering.zone, InstanceCount=count, Tenancy="default",
            EbsOptimized=self._is_ebs_optimized(region, offering.instance_type),
            InstanceMatchCriteria=preference, ClientToken=client_token, **ending,
            TagSpecifications=[{"ResourceType": "capacity-reservation", "Tags": tag_list((OWNED_TAG, *tags))}],
        )
        return _reservation(answer["CapacityReservation"])

    def _is_ebs_optimized(self, region: str, instance_type: str) -> bool:
        # EbsOptimized=true on a type that cannot be EBS-optimized is refused; ask the catalog once.
        if (region, instance_type) not in self._ebs_optimized:
            self.instance_types(region, [instance_type])  # type: ignore[attr-defined]
        return self._ebs_optimized.get((region, instance_type), False)

    def modify_reservation(self, region: str, reservation_id: str, total: int, client_token: str = "") -> Reservation:
        """Set the reservation's total: one API call. ModifyCapacityReservation takes no ClientToken
        (an absolute total is itself idempotent, so `client_token` is accepted and unused) and
        answers only Return=true, so the Reservation is built from what we know: its id and the
        total just set (instance_type, zone and created_at are not read back and stay empty;
        describe_reservation reads them). A Return=false answer is checked by reading it back."""
        answer = self._call(region, "modify_capacity_reservation",  # type: ignore[attr-defined]
                            f"resizing reservation {reservation_id} to {total}",
                            CapacityReservationId=reservation_id, InstanceCount=total)
        if answer.get("Return") is False:
            return self.describe_reservation(region, reservation_id)
        return Reservation(reservation_id=reservation_id, instance_type="", zone="", total=total,
                           state="active")

    def describe_reservation(self, region: str, reservation_id: str) -> Reservation:
        found = self._call(region, "describe_capacity_reservations",  # type: ignore[attr-defined]
                           f"reading reservation {reservation_id}",
                           CapacityReservationIds=[reservation_id])["CapacityReservations"]
        if not found:
            raise NotFound("InvalidCapacityReservationId.NotFound", f"reservation {reservation_id} does not exist",
                           "DescribeCapacityReservations")
        return _reservation(found[0])

    def cancel_reservation(self, region: str, reservation_id: str) -> None:
        self._call(region, "cancel_capacity_reservation",  # type: ignore[attr-defined]
                   f"cancelling reservation {reservation_id}", CapacityReservationId=reservation_id)

    def list_reservations(self, region: str, instance_type: str = "", zone: str = "",
                          only_ours: bool = True, state: str = "active") -> list[Reservation]:
        filters = [{"Name": "state", "Values": [state]}] if state else []
        if instance_type:
            filters.append({"Name": "instance-type", "Values": [instance_type]})
        if zone:
            filters.append({"Name": "availability-zone", "Values": [zone]})
        if only_ours:
            filters.append({"Name": f"tag:{OWNED_TAG[0]}", "Values": [OWNED_TAG[1]]})
        raw = self._pages(region, "describe_capacity_reservations", "CapacityReservations",  # type: ignore[attr-defined]
                          "listing reservations", Filters=filters)
        return [_reservation(r) for r in raw]

    # -- spot market signals ---------------------------------------------------------------
    def zone_names(self, region: str) -> dict[str, str]:
        """Zone id (use2-az1) → zone name (us-east-2a); names differ per account, ids do not."""
        if region not in self._zone_names:
            zones = self._call(region, "describe_availability_zones",  # type: ignore[attr-defined]
                               "listing availability zones")["AvailabilityZones"]
            self._zone_names[region] = {z["ZoneId"]: z["ZoneName"] for z in zones}
        return self._zone_names[region]

    def spot_placement_scores(self, region: str, request: ScoreRequest) -> list[Score]:
        """One GetSpotPlacementScores configuration (all pages), zone ids mapped to zone names of
        the Region they belong to."""
        raw = self._pages(region, "get_spot_placement_scores", "SpotPlacementScores",  # type: ignore[attr-defined]
                          f"scoring spot placement of {', '.join(request.instance_types)}", **request.api_kwargs())
        rows = []
        for s in raw:
            scored_region, zone_id = s.get("Region", region), s.get("AvailabilityZoneId", "")
            zone = self.zone_names(scored_region).get(zone_id, zone_id) if zone_id else ""
            rows.append(Score(scored_region, zone, int(s.get("Score", 0))))
        return rows

    def spot_scorer(self) -> SpotScorer:
        """One scorer per adapter: its cache of request configurations lives as long as the adapter."""
        return self.__dict__.setdefault("_spot_scorer", SpotScorer(self.spot_placement_scores))

    def placement_scores(self, region: str, instance_types: list[str],
                         target_capacity: int = 1) -> dict[tuple[str, str], int]:
        """Spot placement score (1-10) per (type, zone), for ranking. EC2 scores a *set* of types and
        scores one or two types low, so the candidates are scored in groups of >= 3 types of one
        shape (responder.clouds.spot_groups.candidate_groups), per zone, and each type gets its group's
        zone scores; configurations are cached and kept within EC2's 24-hour limit (SpotScorer).
        A group the limit refused is left out: the caller ranks those types without a score."""
        shapes = self.__dict__.setdefault("_type_shapes", {})
        missing = [t for t in dict.fromkeys(instance_types) if (region, t) not in shapes]
        if missing:
            for name, spec in self.instance_types(region, missing).items():  # type: ignore[attr-defined]
                shapes[(region, name)] = (spec.cpu, round(spec.memory_gib, 2), spec.architecture)
        return self.spot_scorer().per_type_zone(region, list(instance_types), lambda t: shapes.get((region, t)),
                                                target_capacity)

    def spot_prices(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], float]:
        """Latest Linux/UNIX spot price per (type, zone)."""
        raw = self._pages(region, "describe_spot_price_history", "SpotPriceHistory",  # type: ignore[attr-defined]
                          "reading spot prices", InstanceTypes=list(instance_types),
                          ProductDescriptions=["Linux/UNIX"], StartTime=_dt.datetime.now(_dt.timezone.utc))
        latest: dict[tuple[str, str], tuple[Any, float]] = {}
        for p in raw:
            key = (p["InstanceType"], p["AvailabilityZone"])
            stamp = p.get("Timestamp")
            if key not in latest or (stamp and latest[key][0] and stamp > latest[key][0]):
                latest[key] = (stamp, float(p["SpotPrice"]))
        return {k: v[1] for k, v in latest.items()}

    def associate_address(self, region: str, allocation_id: str, instance_id: str) -> str:
        """Move an Elastic IP to the replacement; returns the association id."""
        answer = self._call(region, "associate_address",  # type: ignore[attr-defined]
                            f"moving Elastic IP {allocation_id} to {instance_id}",
                            AllocationId=allocation_id, InstanceId=instance_id, AllowReassociation=True)
        return answer.get("AssociationId", "")
