"""The AWS adapter's EBS volumes: what the race against the release reads and moves.

Parts: AwsDisksMixin — describe_disks (DescribeVolumes), set_delete_with_instance
(ModifyInstanceAttribute BlockDeviceMapping DeleteOnTermination, per instance and device),
attach_disk / detach_disk (AttachVolume / DetachVolume), delete_disk, image_snapshots
(DescribeImages BlockDeviceMappings), snapshot_usable (DescribeSnapshots: `completed`),
restore_disk (CreateVolume from a snapshot, with a ClientToken), assign_private_ip (the original's
address as a secondary one of the replacement's primary interface: AssignPrivateIpAddresses),
swap_root (CreateReplaceRootVolumeTask from an AMI, DescribeReplaceRootVolumeTasks), stand_in_image
(the newest Amazon AMI such a swap accepts on an instance launched from it).

EC2 rules the race relies on ("Preserve data when an instance is terminated",
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/preserving-volumes-on-termination.html): a
volume whose DeleteOnTermination is false is detached, not deleted, when its instance terminates,
and that flag is changed on a running instance with ModifyInstanceAttribute's BlockDeviceMapping.
AttachVolume needs an `available` volume in the instance's Availability Zone (AttachVolume API).
"""

from __future__ import annotations

from typing import Any

from responder.clouds.aws_batch import billing_of
from responder.clouds.base import OWNED_TAG, DiskInfo, InstanceInfo, RootLook, RootSwap
from responder.errors import Fatal, NotFound

ROOT_DEVICES = ("/dev/sda1", "/dev/xvda")


def same_billing(a: str, b: str) -> bool:
    """Product codes equal; UsageOperation equal where both sides name one (billing_of)."""
    codes_a, _, usage_a = a.partition("|")
    codes_b, _, usage_b = b.partition("|")
    return codes_a == codes_b and (not usage_a or not usage_b or usage_a == usage_b)


class AwsDisksMixin:
    def describe_disks(self, region: str, instance_id: str = "", disk_ids: tuple[str, ...] = ()) -> list[DiskInfo]:
        """EBS volumes of an instance (or by id): what the image will snapshot, what may be kept."""
        kwargs: dict[str, Any] = {}
        if instance_id:
            kwargs["Filters"] = [{"Name": "attachment.instance-id", "Values": [instance_id]}]
        if disk_ids:
            kwargs["Filters"] = [{"Name": "volume-id", "Values": list(disk_ids)}]  # absent ids: no error
        return self._volumes(region, f"listing volumes of {instance_id or ', '.join(disk_ids)}", **kwargs)

    def _volumes(self, region: str, doing: str, **kwargs: Any) -> list[DiskInfo]:
        found = []
        for v in self._pages(region, "describe_volumes", "Volumes", doing, **kwargs):
            attached = (v.get("Attachments") or [{}])[0]
            device = attached.get("Device", "")
            found.append(DiskInfo(disk_id=v["VolumeId"], kind="system" if device in ROOT_DEVICES else "data",
                                  category=v.get("VolumeType", ""), size_gib=int(v.get("Size") or 0),
                                  zone=v.get("AvailabilityZone", ""),
                                  delete_with_instance=bool(attached.get("DeleteOnTermination", False)),
                                  instance_id=attached.get("InstanceId", ""), device=device,
                                  status=v.get("State", "")))
        return found

    def set_delete_with_instance(self, region: str, disk_ids: tuple[str, ...], delete: bool,
                                 known: tuple[DiskInfo, ...] = ()) -> None:
        """DeleteOnTermination belongs to the instance's block device mapping: read where each volume
        is attached (unless `known` holds them all, just read), then one ModifyInstanceAttribute per
        instance and device."""
        if not delete:  # kept now, deleted or detached later: tagged as the responder's first
            self.take_charge(region, disk_ids)  # type: ignore[attr-defined]
        read = known if {d.disk_id for d in known} >= set(disk_ids) else self.describe_disks(region, disk_ids=disk_ids)
        for disk in read:
            if not disk.instance_id:
                continue  # detached already: nothing goes with an instance
            self._call(region, "modify_instance_attribute",
                       f"{'releasing' if delete else 'keeping'} volume {disk.disk_id} with {disk.instance_id}",
                       InstanceId=disk.instance_id,
                       BlockDeviceMappings=[{"DeviceName": disk.device, "Ebs": {"DeleteOnTermination": delete}}])

    def attach_disk(self, region: str, disk_id: str, instance_id: str, device: str = "",
                    delete_with_instance: bool = False) -> None:
        # AttachVolume takes no DeleteOnTermination (it starts false): the executor sets it with
        # ModifyInstanceAttribute once the volume shows on the replacement.
        self._call(region, "attach_volume", f"attaching {disk_id} to {instance_id} at {device}",
                   VolumeId=disk_id, InstanceId=instance_id, Device=device)

    def detach_disk(self, region: str, disk_id: str, instance_id: str) -> None:
        self._call(region, "detach_volume", f"detaching {disk_id} from {instance_id}",
                   VolumeId=disk_id, InstanceId=instance_id)

    def delete_disk(self, region: str, disk_id: str) -> None:
        self._call(region, "delete_volume", f"deleting volume {disk_id}", VolumeId=disk_id)

    def image_snapshots(self, region: str, image_id: str) -> dict[str, str]:
        images = self._call(region, "describe_images", f"reading the snapshots of {image_id}",
                            ImageIds=[image_id])["Images"]
        mappings = images[0].get("BlockDeviceMappings", []) if images else []
        return {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in mappings if m.get("Ebs", {}).get("SnapshotId")}

    def snapshot_usable(self, region: str, snapshot_id: str) -> bool:
        snaps = self._call(region, "describe_snapshots", f"reading snapshot {snapshot_id}",
                           SnapshotIds=[snapshot_id])["Snapshots"]
        return bool(snaps) and snaps[0].get("State") == "completed"

    def restore_disk(self, region: str, snapshot_id: str, zone: str, category: str, client_token: str) -> str:
        key, value = OWNED_TAG  # the responder's: the policy lets it delete only volumes so tagged
        return self._call(region, "create_volume", f"restoring snapshot {snapshot_id} in {zone}",
                          SnapshotId=snapshot_id, AvailabilityZone=zone, VolumeType=category or "gp3",
                          ClientToken=client_token,
                          TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": key, "Value": value}]}])["VolumeId"]

    def assign_private_ip(self, region: str, instance_id: str, ip: str, client_token: str = "") -> None:
        """Check before act (AssignPrivateIpAddresses takes no ClientToken): an assignment whose
        answer was lost left the address on the interface. AllowReassignment stays false: an
        address still in use elsewhere is refused (InvalidIPAddress.InUse), never taken over."""
        doing = f"giving {instance_id} the private IP {ip}"
        found = self._call(region, "describe_instances", doing, InstanceIds=[instance_id])["Reservations"]
        raw = found[0]["Instances"][0] if found and found[0].get("Instances") else {}
        primary = next((n for n in raw.get("NetworkInterfaces", []) if n.get("Attachment", {}).get("DeviceIndex") == 0),
                       None)
        if primary is None:
            raise NotFound("InvalidNetworkInterfaceID.NotFound", f"{doing}: no primary interface", "DescribeInstances")
        if ip in {a.get("PrivateIpAddress") for a in primary.get("PrivateIpAddresses", [])}:
            return
        self._call(region, "assign_private_ip_addresses", doing, NetworkInterfaceId=primary["NetworkInterfaceId"],
                   PrivateIpAddresses=[ip], AllowReassignment=False)

    def root_looks(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, RootLook]:
        """The replace-root tasks of a page of instances in one DescribeReplaceRootVolumeTasks (an
        `instance-id` filter of many values; the answer paged by NextToken, MaxResults at most 50).
        Every id asked gets a look, with no tasks when it has none: EC2 answers tasks, not instances."""
        looks: dict[str, list[tuple[str, str]]] = {i: [] for i in instance_ids}
        for start in range(0, len(instance_ids), 100):
            chunk = list(instance_ids[start:start + 100])
            for t in self._pages(region, "describe_replace_root_volume_tasks", "ReplaceRootVolumeTasks",
                                 f"reading the root volume swaps of {len(chunk)} instances",
                                 Filters=[{"Name": "instance-id", "Values": chunk}], MaxResults=50):
                looks.setdefault(t.get("InstanceId", ""), []).append((t.get("ImageId", ""), t.get("TaskState", "")))
        return {i: RootLook(swaps=tuple(seen)) for i, seen in looks.items() if i in instance_ids}

    def swap_root(self, region: str, instance_id: str, image_id: str, client_token: str,
                  look: RootLook | None = None) -> RootSwap:
        """The instance's root volume replaced by one from `image_id` ("Replace a root volume",
        https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/replace-root.html): the instance keeps its
        id, addresses and other volumes, and restarts. Its task for this AMI is read first; none yet:
        CreateReplaceRootVolumeTask with the token (a repeat returns the same task) and the replaced
        volume deleted with it (it would bill unseen). A failed task is a refusal."""
        doing = f"replacing the root volume of {instance_id} from {image_id}"
        if look is None:
            look = self.root_looks(region, (instance_id,)).get(instance_id, RootLook())
        mine, acted = [state for image, state in look.swaps if image == image_id], False
        if not mine:
            made = self._call(region, "create_replace_root_volume_task", doing, InstanceId=instance_id,
                              ImageId=image_id, ClientToken=client_token,
                              DeleteReplacedRootVolume=True)["ReplaceRootVolumeTask"]
            mine, acted = [made.get("TaskState", "")], True
        state = mine[-1]
        if state in ("failed", "failed-detached", "failing"):
            raise Fatal("ReplaceRootVolumeTaskFailed", f"{doing}: its task {state}", "DescribeReplaceRootVolumeTasks")
        return RootSwap("done" if state == "succeeded" else "working", state, acted=acted)

    def stand_in_image(self, region: str, source: InstanceInfo) -> str:
        """The newest available Amazon-owned EBS AMI with the instance's architecture,
        virtualization type, platform and billing (product codes, UsageOperation): what
        CreateReplaceRootVolumeTask takes ("The specified AMI must have the same product code,
        billing information, architecture type, and virtualization type as that of the instance",
        API reference). A replacement launched from it has those keys, so the swap of the fresh AMI
        (made from the original, which has them too) is accepted. "" when nothing matches: a
        Marketplace product code has no Amazon stand-in."""
        if not source.architecture:
            return ""
        filters = [{"Name": "architecture", "Values": [source.architecture]},
                   {"Name": "state", "Values": ["available"]}, {"Name": "root-device-type", "Values": ["ebs"]},
                   {"Name": "image-type", "Values": ["machine"]}]
        if source.virtualization:
            filters.append({"Name": "virtualization-type", "Values": [source.virtualization]})
        images = self._call(region, "describe_images", f"finding a stand-in image for {source.instance_id}",
                            Owners=["amazon"], Filters=filters)["Images"]
        windows = source.os_type == "windows"
        fits = [i for i in images if (str(i.get("Platform", "")).lower() == "windows") == windows
                and same_billing(billing_of(i), source.billing)
                and (not source.virtualization or i.get("VirtualizationType") == source.virtualization)]
        fits.sort(key=lambda i: (i.get("CreationDate", ""), i["ImageId"]), reverse=True)
        return fits[0]["ImageId"] if fits else ""
