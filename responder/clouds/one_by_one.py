"""The reads of many ids (CloudPort.describe_instances, describe_images, latest_images, disks_of,
clone_details_many) made one id at a time, for a cloud whose API reads one resource per call.

Parts: chunks (ids in pages), each (one call per id; an id's classified error stands in its place, so one gone instance
or one deferred call does not fail the others), OneByOne — mixed into the OCI adapter: GetInstance and GetImage take one OCID. A wave on OCI
still shares its rounds, its budget and its stock probe; only these reads stay one call per task.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from responder.clouds.base import DiskInfo, ImageInfo, InstanceInfo
from responder.errors import CloudError, NotFound


def chunks(ids: Iterable[str], size: int = 100) -> list[list[str]]:
    """Pages of at most `size` ids (100: the most one Describe* call takes on ECS and EC2), each id once."""
    unique = list(dict.fromkeys(ids))
    return [unique[start:start + size] for start in range(0, len(unique), size)]


def each(ids: Iterable[str], read: Callable[[str], Any]) -> dict[str, Any]:
    """{id: read(id), or the CloudError it raised}: the batch reader hands each task its own."""
    found: dict[str, Any] = {}
    for key in dict.fromkeys(ids):
        try:
            found[key] = read(key)
        except CloudError as exc:
            found[key] = exc
    return found


class OneByOne:
    def describe_instances(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, InstanceInfo]:
        found = {}
        for instance_id in dict.fromkeys(instance_ids):
            try:
                found[instance_id] = self.describe_instance(region, instance_id)  # type: ignore[attr-defined]
            except NotFound:
                continue
        return found

    def describe_images(self, region: str, image_ids: tuple[str, ...]) -> dict[str, ImageInfo]:
        found = {}
        for image_id in dict.fromkeys(image_ids):
            try:
                found[image_id] = self.describe_image(region, image_id)  # type: ignore[attr-defined]
            except NotFound:
                continue
        return found

    def latest_images(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, str]:
        return each(instance_ids, lambda i: self.latest_image(region, i))  # type: ignore[attr-defined]

    def disks_of(self, region: str, instance_ids: tuple[str, ...], zone: str = "",
                 on_listing=None, soon: int = 0) -> dict[str, list[DiskInfo]]:
        return each(instance_ids, lambda i: self.describe_disks(region, instance_id=i))  # type: ignore[attr-defined]

    def clone_details_many(self, region: str, infos: tuple[InstanceInfo, ...], part: str) -> dict[str, InstanceInfo]:
        return clone_each(self, region, infos, part)


def clone_each(cloud, region: str, infos: tuple[InstanceInfo, ...], part: str) -> dict[str, Any]:
    """clone_details of one part, one instance per call (the part's API takes one instance)."""
    by_id = {info.instance_id: info for info in infos}
    return each(by_id, lambda i: cloud.clone_details(region, by_id[i], parts=(part,)))
