"""What the capacity engine buys for a target: reservations or instances, under the money caps.

Parts: CapRefused, CappedAcquirer (takes the spend in MoneyCaps before each call, gives it back
when the cloud had no capacity), TargetReservations (ReservationAcquirer with the target's tags,
match criteria and end date), TargetInstances (a launch of the target's spec per call; a
re-issued call looks its token up first; OCI: the shape's size, boot volume, SSH key and the
image resolved for the shape), offerings_of.
"""

from __future__ import annotations

from responder.capacity.engine import Holding
from responder.capacity.reservations import ReservationAcquirer, holding_of
from responder.clouds.base import TOKEN_TAG, InstanceInfo, LaunchRequest
from responder.errors import Fatal, NoCapacity
from responder.model import Market, Offering
from responder.replace.caps import MoneyCaps, Spend
from responder.targets.model import TARGET_TAG, Target
from responder.targets.oci_relaunch import launch_from_boot_volume


class CapRefused(Fatal):
    """A money cap said no: the run ends, nothing was sent."""


def offerings_of(t: Target) -> list[Offering]:
    """Zones in the target's order of preference, each with every acceptable type in order."""
    market = Market.SPOT if t.kind == "instances" and t.launch.market == "spot" else Market.ONDEMAND
    return [Offering(it, z, market) for z in t.zones for it in t.instance_types]


class CappedAcquirer:
    def __init__(self, inner, caps: MoneyCaps, claim_key: str, kind: str):
        self.inner, self.caps, self.claim_key, self.kind = inner, caps, claim_key, kind
        if callable(getattr(inner, "grow", None)):
            self.grow = self._grow  # the engine grows only when the acquirer can

    def _spend(self, token: str, units: int, call):
        verdict = self.caps.take(Spend(token, self.claim_key, self.kind, units))
        if not verdict.ok:
            raise CapRefused("SpendCapReached", verdict.reason)
        try:
            return call()
        except NoCapacity:
            self.caps.give_back(token)  # nothing was bought: a sold-out offering costs no cap
            raise

    def create(self, offering: Offering, count: int, token: str) -> Holding:
        return self._spend(token, count, lambda: self.inner.create(offering, count, token))

    def _grow(self, holding: Holding, add: int, token: str) -> Holding:
        return self._spend(token, add, lambda: self.inner.grow(holding, add, token))


class TargetReservations(ReservationAcquirer):
    def __init__(self, cloud, t: Target):
        super().__init__(cloud, t.region, t.match_criteria, ((TARGET_TAG, t.name),))
        self.end_date = t.end_date

    def create(self, offering: Offering, count: int, token: str) -> Holding:
        if not self.end_date:
            return super().create(offering, count, token)
        made = self.cloud.create_reservation(self.region, offering, count, token, self.preference, self.tags,
                                             end_date=self.end_date)
        return holding_of(made, offering)


class TargetInstances:
    """Launches the target's spec; holding_id is the launch's ClientToken (it names the batch)."""

    def __init__(self, cloud, t: Target, resumed_tokens: frozenset[str] = frozenset(),
                 images: tuple[tuple[str, str], ...] = ()):
        self.cloud, self.target, self.resumed = cloud, t, resumed_tokens
        self.images = dict(images)  # shape → image id, when the image was resolved per shape (OCI)

    def _source(self) -> InstanceInfo:
        spec, t = self.target.launch, self.target
        return InstanceInfo(instance_id=f"target {t.name}", region=t.region, zone="", instance_type="", status="",
                            spot=spec.market == "spot", reclaiming=False,
                            security_group_ids=spec.security_groups, key_pair=spec.key_pair,
                            name=spec.name, tags=spec.tags + ((TARGET_TAG, t.name),) + ((("Name", spec.name),) if spec.name else ()),
                            user_data=spec.user_data)

    def create(self, offering: Offering, count: int, token: str) -> Holding:
        if token in self.resumed:  # the answer to this very call may have been lost: look first
            found = self.cloud.find_launched(self.target.region, token)
            if found:
                return Holding(token, offering, len(found), members=tuple(found))
        spec = self.target.launch
        flex = offering.instance_type.endswith(".Flex")  # only a flex shape takes a size
        request = LaunchRequest(source=self._source(), image_id=self.images.get(offering.instance_type, spec.image_id),
                                offerings=(offering,), subnet_by_zone=spec.subnets, client_token=token, count=count,
                                extra_tags=((TOKEN_TAG, token),), shape_ocpus=spec.ocpus if flex else 0.0,
                                shape_memory_gb=spec.memory_gb if flex else 0.0, boot_volume_gb=spec.boot_volume_gb,
                                ssh_public_key=spec.ssh_public_key, boot_volume_id=spec.boot_volume_id)
        if spec.boot_volume_id:  # OCI: the relaunch from a preserved boot volume, the image as fallback
            result = launch_from_boot_volume(self.cloud, self.target, request)
        else:
            result = self.cloud.launch(self.target.region, request)
        if not result.instance_ids:
            raise NoCapacity("NothingLaunched", f"launching {offering} for target {self.target.name}")
        return Holding(token, result.offering or offering, len(result.instance_ids), members=result.instance_ids)
