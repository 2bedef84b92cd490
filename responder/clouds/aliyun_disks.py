"""The Aliyun adapter's disks: what the race against the release reads and moves.

Parts: disk_info (one DescribeDisks row), AliyunDisksMixin — describe_disks, zone_disks (the disks of
one zone, one NextToken listing), set_delete_with_instance (ModifyDiskAttribute),
attach_disk, detach_disk, delete_disk, image_snapshots (DescribeImages DiskDeviceMappings),
snapshot_usable (DescribeSnapshots `Available`: an ESSD snapshot with instant access can make a
disk before it finishes), restore_disk (CreateDisk from a snapshot, with a ClientToken),
assign_private_ip (the original's address as a secondary one of the replacement's primary ENI:
DescribeNetworkInterfaces, AssignPrivateIpAddresses), swap_root (StopInstance KeepCharging,
ReplaceSystemDisk, StartInstance: one step per call, from what ECS shows), root_looks (what the swap
stands at, for a page of instances in one DescribeInstances), stand_in_image (the newest public
image of the instance's OS and architecture).

Every call goes through the adapter's `_call`, which classifies errors once.
"""

from __future__ import annotations

import json
from typing import Any

from responder.clouds.base import DiskInfo, InstanceInfo, RootLook, RootSwap
from responder.errors import CloudError, NotFound, Transient

_STATUS = {"Available": "available", "In_use": "in-use", "Creating": "creating", "Attaching": "attaching",
           "Detaching": "detaching"}


def disk_info(r: dict[str, Any]) -> DiskInfo:
    """One DescribeDisks row."""
    return DiskInfo(disk_id=r["DiskId"], kind=r.get("Type", "data"), category=r.get("Category", ""),
                    size_gib=int(r.get("Size") or 0), zone=r.get("ZoneId", ""),
                    delete_with_instance=bool(r.get("DeleteWithInstance")), instance_id=r.get("InstanceId") or "",
                    device=r.get("Device") or "", status=_STATUS.get(r.get("Status", ""), r.get("Status", "")))


class AliyunDisksMixin:
    def describe_disks(self, region: str, instance_id: str = "", disk_ids: tuple[str, ...] = ()) -> list[DiskInfo]:
        doing = f"listing disks of {instance_id or ', '.join(disk_ids)}"
        params: dict[str, Any] = {"PageSize": 100}
        if instance_id:
            params["InstanceId"] = instance_id
        if disk_ids:
            params["DiskIds"] = json.dumps(list(disk_ids))
        rows = self._call(region, "DescribeDisks", doing, params).get("Disks", {}).get("Disk", [])
        return [disk_info(r) for r in rows]

    def zone_disks(self, region: str, zone: str) -> tuple[list[DiskInfo], int]:
        """(every disk in `zone`, pages read): one listing by `ZoneId`, paged by NextToken /
        MaxResults (at most 100). No Status filter: a disk of an original caught `Attaching` or
        `Detaching` must be listed as its per-instance read would list it (one missed would be
        released with its instance). ECS DescribeDisks: "If a large number of
        entries are to be returned, we recommend that you use [NextToken]. When NextToken is
        specified, PageSize and PageNumber do not take effect and TotalCount in the response is
        invalid" — so the listing ends when no NextToken comes back, never by a count. PageNumber
        paging could skip a disk when the wave deletes one between pages; a token cannot."""
        params: dict[str, Any] = {"ZoneId": zone, "MaxResults": 100}
        disks, pages = [], 0
        while True:
            body = self._call(region, "DescribeDisks", f"listing the disks in {zone}", params)
            disks += [disk_info(r) for r in body.get("Disks", {}).get("Disk", [])]
            pages += 1
            if not body.get("NextToken"):
                return disks, pages
            params["NextToken"] = body["NextToken"]

    def set_delete_with_instance(self, region: str, disk_ids: tuple[str, ...], delete: bool,
                                 known: tuple[DiskInfo, ...] = ()) -> None:
        params: dict[str, Any] = {"DeleteWithInstance": "true" if delete else "false"}
        params.update({f"DiskIds.{n}": d for n, d in enumerate(disk_ids, start=1)})
        doing = f"{'releasing' if delete else 'keeping'} disks {', '.join(disk_ids)} with their instance"
        self._call(region, "ModifyDiskAttribute", doing, params)

    def attach_disk(self, region: str, disk_id: str, instance_id: str, device: str = "",
                    delete_with_instance: bool = False) -> None:
        # ECS picks the device name itself; DeleteWithInstance as the disk had it on the original.
        self._call(region, "AttachDisk", f"attaching {disk_id} to {instance_id}",
                   {"DiskId": disk_id, "InstanceId": instance_id,
                    "DeleteWithInstance": "true" if delete_with_instance else "false"})

    def detach_disk(self, region: str, disk_id: str, instance_id: str) -> None:
        self._call(region, "DetachDisk", f"detaching {disk_id} from {instance_id}",
                   {"DiskId": disk_id, "InstanceId": instance_id})

    def delete_disk(self, region: str, disk_id: str) -> None:
        self._call(region, "DeleteDisk", f"deleting disk {disk_id}", {"DiskId": disk_id})

    def image_snapshots(self, region: str, image_id: str) -> dict[str, str]:
        rows = self._call(region, "DescribeImages", f"reading the snapshots of image {image_id}",
                          {"ImageId": image_id, "Status": "Creating,Waiting,Available"})["Images"]["Image"]
        mappings = (rows[0].get("DiskDeviceMappings") or {}).get("DiskDeviceMapping", []) if rows else []
        return {m["Device"]: m["SnapshotId"] for m in mappings if m.get("Device") and m.get("SnapshotId")}

    def snapshot_usable(self, region: str, snapshot_id: str) -> bool:
        rows = self._call(region, "DescribeSnapshots", f"reading snapshot {snapshot_id}",
                          {"SnapshotIds": json.dumps([snapshot_id])}).get("Snapshots", {}).get("Snapshot", [])
        return bool(rows) and (bool(rows[0].get("Available")) or rows[0].get("Status") == "accomplished")

    def restore_disk(self, region: str, snapshot_id: str, zone: str, category: str, client_token: str) -> str:
        return self._call(region, "CreateDisk", f"restoring snapshot {snapshot_id} in {zone}",
                          {"SnapshotId": snapshot_id, "ZoneId": zone, "DiskCategory": category,
                           "ClientToken": client_token})["DiskId"]

    def assign_private_ip(self, region: str, instance_id: str, ip: str, client_token: str = "") -> None:
        """Check before act: an assignment whose answer was lost left the address on the ENI."""
        doing = f"giving {instance_id} the private IP {ip}"
        rows = self._call(region, "DescribeNetworkInterfaces", doing,
                          {"InstanceId": instance_id, "Type": "Primary"}).get("NetworkInterfaceSets", {})
        rows = rows.get("NetworkInterfaceSet", [])
        if not rows:
            raise NotFound("InvalidEniId.NotFound", f"{doing}: no primary ENI", "DescribeNetworkInterfaces")
        held = {p.get("PrivateIpAddress") for p in (rows[0].get("PrivateIpSets") or {}).get("PrivateIpSet", [])}
        if ip in held:
            return
        self._call(region, "AssignPrivateIpAddresses", doing, {"NetworkInterfaceId": rows[0]["NetworkInterfaceId"],
                                                              "PrivateIpAddress.1": ip, "ClientToken": client_token})

    def root_looks(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, RootLook]:
        """Status and image per instance, 100 ids per DescribeInstances: ReplaceSystemDisk gives the
        instance the new image ("ImageId: the ID of the image that the instance is running",
        https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-describeinstances),
        so one read of many instances says where each swap stands."""
        looks: dict[str, RootLook] = {}
        for start in range(0, len(instance_ids), 100):
            chunk = list(instance_ids[start:start + 100])
            rows = self._call(region, "DescribeInstances", f"reading the root disks of {len(chunk)} instances",
                              {"InstanceIds": json.dumps(chunk), "PageSize": 100})["Instances"]["Instance"]
            looks.update({r["InstanceId"]: RootLook(status=r.get("Status", ""), root_image=r.get("ImageId", ""))
                          for r in rows})
        return looks

    def swap_root(self, region: str, instance_id: str, image_id: str, client_token: str,
                  look: RootLook | None = None) -> RootSwap:
        """One step of giving the instance a system disk from `image_id` (ReplaceSystemDisk,
        https://www.alibabacloud.com/help/en/ecs/api-replacesystemdisk: the instance must be Stopped;
        the new disk has a new id, the old one is released). What ECS shows decides the step — the
        instance's ImageId says whether its system disk was replaced — so a repeat or a restart never
        stops, replaces or starts twice. The stop keeps the capacity: StoppedMode=KeepCharging
        (StopInstance: "its instance type resources and public IP address are retained"; the
        economical mode may give them back and the start then fail for lack of stock)."""
        doing = f"replacing the system disk of {instance_id} from {image_id}"
        if look is None:
            look = self.root_looks(region, (instance_id,)).get(instance_id)
        if look is None or not look.status:
            raise NotFound("InvalidInstanceId.NotFound", f"{doing}: no such instance", "DescribeInstances")
        status, replaced = look.status, look.root_image == image_id
        if status == "Running" and replaced:
            return RootSwap("done", "running")
        if status == "Running":
            self._call(region, "StopInstance", doing, {"InstanceId": instance_id, "StoppedMode": "KeepCharging"})
            return RootSwap("working", "stopping", acted=True)
        if status == "Stopped" and replaced:
            self._call(region, "StartInstance", doing, {"InstanceId": instance_id})
            return RootSwap("working", "starting", acted=True)
        if status == "Stopped":
            try:
                self._call(region, "ReplaceSystemDisk", doing, {"InstanceId": instance_id, "ImageId": image_id,
                                                                "ClientToken": client_token})
            except Transient:
                raise
            except CloudError:  # refused: the replacement runs on, on its older system disk
                self._call(region, "StartInstance", doing, {"InstanceId": instance_id})
                raise
            return RootSwap("working", "replacing", acted=True)
        return RootSwap("working", status.lower())  # Stopping, Starting, Pending: look again

    def stand_in_image(self, region: str, source: InstanceInfo) -> str:
        """The newest Available public image (DescribeImages ImageOwnerAlias=system) of the
        instance's OS type and its type's CPU architecture: ReplaceSystemDisk keeps the system
        disk's category and billing method (ReplaceSystemDisk, usage notes), and the image must suit
        the instance type's architecture and OS; a replacement launched from it takes the fresh
        image's system disk later. "" when none matches."""
        doing = f"finding a stand-in image for {source.instance_id}"
        types = self._call(region, "DescribeInstanceTypes", doing, {"InstanceTypes.1": source.instance_type})
        spec = next(iter((types.get("InstanceTypes") or {}).get("InstanceType") or []), {})
        architecture = "arm64" if spec.get("CpuArchitecture") == "ARM" else "x86_64"
        params: dict[str, Any] = {"ImageOwnerAlias": "system", "Status": "Available", "Architecture": architecture,
                                  "PageSize": 100}
        if source.os_type:
            params["OSType"] = source.os_type
        rows = self._call(region, "DescribeImages", doing, params).get("Images", {}).get("Image", [])
        fits = [r for r in rows if r.get("Architecture") == architecture
                and (not source.os_type or str(r.get("OSType", "")).lower() == source.os_type)]
        fits.sort(key=lambda r: (r.get("CreationTime", ""), r["ImageId"]), reverse=True)
        return fits[0]["ImageId"] if fits else ""
