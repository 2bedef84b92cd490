"""OCI's catalogue verbs, and the port verbs OCI does not have.

Parts: OciCatalogMixin — availability_domains (ListAvailabilityDomains, API order),
platform_image (ListImages by OS, version and shape, newest first), find_subnet (by OCID, or by
display name in the compartment), subnets, instance_types (ListShapes), offerings_with_stock
(static: where ListShapes says a shape is sold); Unsupported — the verbs with no OCI counterpart
here, each refusing with Invalid naming the verb, and the AWS-only figures answered empty.

Mixed into OciCloud, which provides `_call`, `_pages` and `compartment`.
"""

from __future__ import annotations

from responder.clouds.base import InstanceInfo, InstanceTypeSpec, Subnet
from responder.errors import Invalid, NotFound
from responder.model import Market, Offering

OCID_PREFIX = "ocid1."


class OciCatalogMixin:
    compartment: str

    def availability_domains(self, region: str) -> list[str]:
        """Full AD names (e.g. Uocm:AP-CHUNCHEON-1-AD-1), in the order the API lists them."""
        answer = self._call(region, "identity", "list_availability_domains",  # type: ignore[attr-defined]
                            "listing availability domains", self.compartment)
        return [ad.name for ad in answer.data]

    def platform_image(self, region: str, operating_system: str, os_version: str, shape: str) -> str:
        """The newest AVAILABLE image of that OS and version that runs on `shape`."""
        doing = f"finding the newest {operating_system} {os_version} image for {shape}"
        answer = self._call(region, "compute", "list_images", doing, self.compartment,  # type: ignore[attr-defined]
                            operating_system=operating_system, operating_system_version=os_version, shape=shape,
                            sort_by="TIMECREATED", sort_order="DESC", lifecycle_state="AVAILABLE", limit=1)
        if not answer.data:
            raise NotFound("NotAuthorizedOrNotFound",
                           f"{doing}: no image of operating system {operating_system!r} version {os_version!r} "
                           f"runs on shape {shape!r}", "ListImages")
        return answer.data[0].id

    def find_subnet(self, region: str, name_or_id: str) -> Subnet:
        """By OCID, or by display name in the compartment. A regional subnet (no AD) has zone ""."""
        doing = f"finding subnet {name_or_id}"
        if name_or_id.startswith(OCID_PREFIX):
            return _subnet(self._call(region, "network", "get_subnet", doing, name_or_id).data)  # type: ignore[attr-defined]
        found = self._pages(region, "network", "list_subnets", doing, self.compartment,  # type: ignore[attr-defined]
                            display_name=name_or_id)
        live = [s for s in found if s.lifecycle_state not in ("TERMINATING", "TERMINATED")]
        if not live:
            raise NotFound("NotAuthorizedOrNotFound",
                           f"{doing}: no subnet named {name_or_id!r} in compartment {self.compartment}", "ListSubnets")
        return _subnet(live[0])

    def subnets(self, region: str, vpc_id: str) -> list[Subnet]:
        found = self._pages(region, "network", "list_subnets", f"listing subnets of {vpc_id}",  # type: ignore[attr-defined]
                            self.compartment, vcn_id=vpc_id)
        return [_subnet(s) for s in found]

    def instance_types(self, region: str) -> dict[str, InstanceTypeSpec]:
        """Shapes: OCPUs and memory as ListShapes gives them (a flex shape's default size)."""
        specs: dict[str, InstanceTypeSpec] = {}
        shapes = self._pages(region, "compute", "list_shapes", "listing shapes", self.compartment)  # type: ignore[attr-defined]
        for s in shapes:
            specs[s.shape] = InstanceTypeSpec(
                instance_type=s.shape, family=s.shape.rsplit(".", 1)[0], cpu=int(s.ocpus or 0),
                memory_gib=float(s.memory_in_gbs or 0),
                architecture="arm64" if "ampere" in (s.processor_description or "").lower() or ".A" in s.shape
                else "x86_64")
        return specs

    def offerings_with_stock(self, region: str, instance_types: list[str], market: Market) -> set[tuple[str, str]]:
        """(shape, AD) pairs ListShapes lists: where a shape is sold, not live host capacity (OCI
        publishes none: "Out of host capacity" at launch is the only signal)."""
        wanted = set(instance_types)
        pairs: set[tuple[str, str]] = set()
        for ad in self.availability_domains(region):
            for s in self._pages(region, "compute", "list_shapes", f"listing shapes in {ad}",  # type: ignore[attr-defined]
                                 self.compartment, availability_domain=ad):
                if s.shape in wanted:
                    pairs.add((s.shape, ad))
        return pairs


def _subnet(raw) -> Subnet:
    return Subnet(subnet_id=raw.id, zone=raw.availability_domain or "", vpc_id=raw.vcn_id)


def _refuse(verb: str, why: str = ""):
    """A port method that raises Invalid naming the verb (and why OCI has none here)."""
    def refused(self, *args, **kwargs):
        raise Invalid("UnsupportedOperation", f"OCI has no {verb} here{': ' + why if why else ''}", verb)

    refused.__name__ = verb
    return refused


RESERVATIONS = "compute capacity reservations are not supported yet"
RACE = "the race against a release is not supported on OCI"


class Unsupported:
    """Port verbs the OCI adapter does not offer: Invalid, never a silent no-op that looks done."""

    def clone_details(self, region: str, info: InstanceInfo, parts: tuple[str, ...] | None = None) -> InstanceInfo:
        return info  # capabilities.clone_parts is empty: nothing more to read

    def placement_scores(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], float]:
        return {}  # OCI publishes no placement score

    def spot_prices(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], float]:
        return {}  # preemptible capacity has a fixed discount, not a market price

    def hourly_price(self, region: str, offering: Offering):
        # OCI's price list is a public web page, not an API of the SDK: the record says unknown.
        raise NotFound("PriceUnavailable", f"OCI publishes no price API for {offering.instance_type}", "hourly_price")

    def latest_image(self, region: str, instance_id: str) -> str:
        return ""  # no responder-made image is looked up on OCI: the race makes a fresh one

    associate_address = _refuse("associate_address", "reserved public IPs are not moved by the responder")
    create_reservation = _refuse("create_reservation", RESERVATIONS)
    modify_reservation = _refuse("modify_reservation", RESERVATIONS)
    describe_reservation = _refuse("describe_reservation", RESERVATIONS)
    describe_disks = _refuse("describe_disks", RACE)
    set_delete_with_instance = _refuse("set_delete_with_instance", RACE)
    attach_disk = _refuse("attach_disk", RACE)
    delete_disk = _refuse("delete_disk", RACE)
    convert_public_ip = _refuse("convert_public_ip")
    instances_tagged = _refuse("instances_tagged", "protect-ahead is not supported on OCI")
    own_images = _refuse("own_images", "image retention is not supported on OCI")
    delete_image = _refuse("delete_image", "image retention is not supported on OCI")
