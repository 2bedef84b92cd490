"""An OCI target made concrete for one tick: its availability domains, its image per shape and
its subnet, read from the cloud once per tick and region.

Parts: Resolved (the target with full AD names, one subnet for every AD, the image of each
shape), Resolver (resolve: cached per (region, ...) for the life of one Resolver, i.e. one tick),
check_oci_with_cloud (the same reads when a target is added: what the cloud does not know is
refused naming the option, before anything is stored).

Why at hunt time: a target names its image by OS and version ("Canonical Ubuntu" 22.04) and the
newest compatible platform image changes every few weeks; a short `AD-1` means a different full
name in every tenancy. OCI subnets are regional, so one subnet serves every AD.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from responder.errors import CloudError, NotFound, Throttled
from responder.targets.model import Target, TargetInvalid
from responder.targets.oci_spec import resolve_ads


@dataclass(frozen=True)
class Resolved:
    target: Target  # zones = full AD names; launch.subnets = (ad, subnet id) for each
    images: tuple[tuple[str, str], ...]  # shape → image id

    def image_for(self, shape: str) -> str:
        return dict(self.images).get(shape) or self.target.launch.image_id


class Resolver:
    """One per tick: a region's ADs, a subnet and an image are asked for once however many
    targets name them."""

    def __init__(self, cloud):
        self.cloud = cloud
        self._cache: dict[tuple, object] = {}

    def _once(self, key: tuple, call):
        if key not in self._cache:
            self._cache[key] = call()
        return self._cache[key]

    def resolve(self, t: Target) -> Resolved:
        """Raises TargetInvalid (an AD, subnet or image the cloud does not know, naming the
        option) or CloudError (the cloud could not be read: throttled, down)."""
        region, spec = t.region, t.launch
        listed = self._once(("ads", region), lambda: list(self.cloud.availability_domains(region)))
        ads = resolve_ads(t.zones, listed)
        try:
            subnet = self._once(("subnet", region, spec.subnet), lambda: self.cloud.find_subnet(region, spec.subnet))
        except NotFound:
            raise TargetInvalid("subnet", f"no subnet {spec.subnet!r} in {region}") from None
        images = []
        if not spec.image_id:
            for shape in t.instance_types:
                key = ("image", region, spec.image_os, spec.image_os_version, shape)
                try:
                    image = self._once(key, lambda shape=shape: self.cloud.platform_image(
                        region, spec.image_os, spec.image_os_version, shape))
                except NotFound:
                    raise TargetInvalid("image_os", f"no {spec.image_os} {spec.image_os_version} image for "
                                                    f"{shape} in {region}") from None
                images.append((shape, image))
        launch = dataclasses.replace(spec, subnets=tuple((ad, subnet.subnet_id) for ad in ads))
        return Resolved(dataclasses.replace(t, zones=ads, launch=launch), tuple(images))


def check_oci_with_cloud(t: Target, cloud) -> None:
    """The add / set check: the shapes, the ADs, the subnet and the image must exist (no write
    is made)."""
    try:
        known = set(cloud.instance_types(t.region))
        unknown = [s for s in t.instance_types if s not in known]
        if unknown:
            raise TargetInvalid("instance_types", f"{', '.join(unknown)} is not offered in {t.region}")
        Resolver(cloud).resolve(t)
    except Throttled:
        raise  # check_with_cloud waits it out
    except CloudError as exc:
        raise TargetInvalid("cloud", f"OCI could not check the target: {exc.code}") from None
