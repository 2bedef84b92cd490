"""What the AWS adapter does for protect-ahead and retention: only what carries the responder's tags.

Parts: IMAGE_STATES, AwsProtectMixin — instances_tagged, own_images (AMIs tagged
responder:source-instance, and only those), delete_image (DeregisterImage, then DeleteSnapshot of
the snapshots the AMI was made of), own_snapshots / delete_snapshot (snapshots tagged
responder:source-instance, with the AMI that uses them, "" when none does any more), own_launch_templates /
delete_launch_template (templates tagged responder:managed at create time).

Every listing filters on a tag the responder set at create time and checks it again on the answer,
so an AMI, snapshot or template of another's is never listed, whatever its name.
"""

from __future__ import annotations

from typing import Any

from responder.clouds.aws_capacity import OWNED_TAG
from responder.clouds.leftovers_port import OwnImage, OwnSnapshot, OwnTemplate
from responder.errors import NotFound

SOURCE_TAG = "responder:source-instance"
CLAIM_TAG = "responder:claim"
IMAGE_STATES = {"pending": "creating", "available": "available", "failed": "failed", "error": "failed",
                "invalid": "failed", "deregistered": "failed", "disabled": "failed"}
_LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def _tags(raw: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in raw.get("Tags") or []}


def _epoch(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else 0.0


class AwsProtectMixin:
    """Needs `_call` and `_pages` of AwsCloud."""

    def instances_tagged(self, region: str, key: str, value: str) -> list[str]:
        found = self._pages(region, "describe_instances", "Reservations", f"listing instances tagged {key}={value}",
                            Filters=[{"Name": f"tag:{key}", "Values": [value]},
                                     {"Name": "instance-state-name", "Values": _LIVE_STATES}])
        return sorted(i["InstanceId"] for r in found for i in r["Instances"])

    def own_images(self, region: str) -> list[OwnImage]:
        images = self._call(region, "describe_images", "listing the responder's images", Owners=["self"],
                            Filters=[{"Name": "tag-key", "Values": [SOURCE_TAG]}])["Images"]
        found = []
        for image in images:
            tags = _tags(image)
            if SOURCE_TAG not in tags:
                continue  # never another's image, whatever the filter returned
            found.append(OwnImage(image["ImageId"], tags[SOURCE_TAG], tags.get("responder:made-by", "interruption"),
                                  image.get("CreationDate", ""), IMAGE_STATES.get(image.get("State", ""), "creating"),
                                  image.get("Name", "")))
        return found

    def delete_image(self, region: str, image_id: str) -> None:
        """DeregisterImage, then DeleteSnapshot of each snapshot it was made of: "By default,
        deregistering an AMI also has no effect on any snapshots that were created during the AMI
        creation process. You'll continue to incur ... storage costs for the snapshots"
        (docs.aws.amazon.com/AWSEC2/latest/UserGuide/deregister-ami.html). The snapshot ids are read
        before the AMI goes; a snapshot left by a failure here is found again by own_snapshots."""
        doing = f"deleting image {image_id}"
        images = self._call(region, "describe_images", doing, ImageIds=[image_id])["Images"]
        snapshots = [m["Ebs"]["SnapshotId"] for i in images for m in i.get("BlockDeviceMappings", [])
                     if m.get("Ebs", {}).get("SnapshotId")]
        self._call(region, "deregister_image", doing, ImageId=image_id)
        for snapshot_id in snapshots:
            self.delete_snapshot(region, snapshot_id)

    def own_snapshots(self, region: str) -> list[OwnSnapshot]:
        """Listed before the images: a snapshot exists only once its AMI does, so one that no AMI of
        the later listing uses has really lost its image (CreateImage tags both, CreateImage
        TagSpecifications ResourceType=snapshot)."""
        snapshots = self._pages(region, "describe_snapshots", "Snapshots", "listing the responder's snapshots",
                                OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": [SOURCE_TAG]}])
        images = self._pages(region, "describe_images", "Images", "listing images that use snapshots", Owners=["self"])
        used = {m["Ebs"]["SnapshotId"]: i["ImageId"] for i in images for m in i.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")}
        return [OwnSnapshot(s["SnapshotId"], _tags(s)[SOURCE_TAG], int(s.get("VolumeSize") or 0),
                            used.get(s["SnapshotId"], ""), _epoch(s.get("StartTime")))
                for s in snapshots if SOURCE_TAG in _tags(s)]

    def delete_snapshot(self, region: str, snapshot_id: str) -> None:
        try:
            self._call(region, "delete_snapshot", f"deleting snapshot {snapshot_id}", SnapshotId=snapshot_id)
        except NotFound:
            pass  # already gone: what deleting wanted

    def own_launch_templates(self, region: str) -> list[OwnTemplate]:
        key, value = OWNED_TAG
        raw = self._pages(region, "describe_launch_templates", "LaunchTemplates", "listing the responder's launch templates",
                          Filters=[{"Name": f"tag:{key}", "Values": [value]}])
        return [OwnTemplate(t["LaunchTemplateId"], t.get("LaunchTemplateName", ""), _tags(t).get(CLAIM_TAG, ""),
                            _epoch(t.get("CreateTime"))) for t in raw if _tags(t).get(key) == value]

    def delete_launch_template(self, region: str, template_id: str) -> None:
        try:
            self._call(region, "delete_launch_template", f"deleting launch template {template_id}",
                       LaunchTemplateId=template_id)
        except NotFound:
            pass
