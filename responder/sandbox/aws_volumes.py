"""EBS volume rules of the EC2 emulator, where moto is kinder than EC2.

Parts: VolumeBook (the snapshots each AMI took, per device, and when each completes), and the
intercepts in VOLUME_HANDLERS: ModifyInstanceAttribute (a BlockDeviceMapping's DeleteOnTermination),
DescribeVolumes (each attachment says its DeleteOnTermination), AttachVolume, CreateVolume,
DescribeSnapshots; create_image / describe_images wrap aws_launch's to give every AMI one snapshot
per volume, pending until the AMI completes.

Rules and their sources:
- At termination, volumes whose DeleteOnTermination is true are deleted and the others are detached
  (`available`); "Preserve data when an instance is terminated",
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/preserving-volumes-on-termination.html. moto
  does this, but stores ModifyInstanceAttribute's "false" as a (truthy) string: set here as a bool.
- A stopped instance keeps its EBS volumes attached ("Stop and start Amazon EC2 instances"); moto does.
- AttachVolume: "The volume and instance must be in the same Availability Zone" and the volume must
  be `available` (AttachVolume, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachVolume.html);
  codes from "Error codes for the Amazon EC2 API": InvalidVolume.ZoneMismatch, VolumeInUse,
  IncorrectState; a device name already used by the instance is refused (InvalidParameterValue,
  "Attachment point ... is already in use"). moto checks none of these.
- An AMI "stays pending until all of its snapshots complete" (CreateImage); its BlockDeviceMappings
  name one snapshot per volume.
- CreateVolume from a `pending` snapshot: the EBS guide ("Create an Amazon EBS volume") describes
  creating volumes from snapshots and never says a pending one can be used; the harsher reading
  is taken: only a `completed` snapshot makes a volume (IncorrectState otherwise).
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET

from responder.sandbox import aws_launch
from responder.sandbox.aws_wire import Ec2Error, ec2_response

_BDM = re.compile(r"BlockDeviceMapping\.(\d+)\.(DeviceName|Ebs\.DeleteOnTermination)$")


class VolumeBook:
    def __init__(self, clock):
        self.clock = clock
        self.of_image: dict[str, list[dict]] = {}  # AMI → [{device, snapshot, size, type, dot}]
        self.ready_at: dict[str, float] = {}  # snapshot → when it completes
        self._lock = threading.Lock()

    def pending(self, snapshot_id: str) -> bool:
        return self.clock() < self.ready_at.get(snapshot_id, float("-inf"))


def _rewrite(body: bytes, fix) -> bytes:
    """Call fix(item, ns) on every <item> of an EC2 answer; the answer again, as XML."""
    root = ET.fromstring(body)
    ns = root.tag[:-len(root.tag.rsplit("}", 1)[-1])]
    for item in list(root.iter(f"{ns}item")):
        fix(item, ns)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def modify_instance_attribute(call) -> tuple[int, bytes]:
    pairs: dict[str, dict[str, str]] = {}
    for key, value in call.params.items():
        match = _BDM.match(key)
        if match:
            pairs.setdefault(match.group(1), {})[match.group(2)] = value
    if not pairs:
        return call.forward()
    instance = call.backend.get_instance(call.params.get("InstanceId", ""))
    for mapping in pairs.values():
        device = mapping.get("DeviceName", "")
        mapped = instance.block_device_mapping.get(device)
        if mapped is None:
            raise Ec2Error("InvalidInstanceAttributeValue", f"No device is currently mapped at {device}", 400)
        if "Ebs.DeleteOnTermination" in mapping:
            mapped.delete_on_termination = mapping["Ebs.DeleteOnTermination"].lower() == "true"
    return 200, ec2_response("ModifyInstanceAttribute", {})


def describe_volumes(call) -> tuple[int, bytes]:
    def fix(item, ns):
        instance_id, device = item.find(f"{ns}instanceId"), item.find(f"{ns}device")
        if instance_id is None or device is None or item.find(f"{ns}deleteOnTermination") is not None:
            return
        mapped = call.backend.get_instance(instance_id.text).block_device_mapping.get(device.text)
        flag = bool(mapped is not None and mapped.delete_on_termination is True)
        ET.SubElement(item, f"{ns}deleteOnTermination").text = "true" if flag else "false"

    status, body = call.forward()
    return (status, body) if status >= 400 else (status, _rewrite(body, fix))


def attach_volume(call) -> tuple[int, bytes]:
    volume_id, device = call.params.get("VolumeId", ""), call.params.get("Device", "")
    volume = call.backend.get_volume(volume_id)
    instance = call.backend.get_instance(call.params.get("InstanceId", ""))
    if volume.attachment is not None:
        raise Ec2Error("VolumeInUse", f"{volume_id} is already attached to an instance", 400)
    if volume.zone.name != instance.placement.zone:
        raise Ec2Error("InvalidVolume.ZoneMismatch", f"The volume '{volume_id}' is not in the same availability "
                       f"zone as instance '{instance.id}'", 400)
    if instance.state not in ("running", "stopped"):
        raise Ec2Error("IncorrectState", f"Instance '{instance.id}' is not 'running'.", 400)
    if device in instance.block_device_mapping:
        raise Ec2Error("InvalidParameterValue", f"Invalid value '{device}' for unixDevice. "
                       f"Attachment point {device} is already in use", 400)
    return call.forward()


def create_volume(call) -> tuple[int, bytes]:
    snapshot_id = call.params.get("SnapshotId", "")
    if snapshot_id and call.emulator.volumes.pending(snapshot_id):
        raise Ec2Error("IncorrectState", f"Snapshot '{snapshot_id}' is not 'completed'", 400)
    if snapshot_id and not call.params.get("Size"):
        size = next((m["size"] for maps in call.emulator.volumes.of_image.values() for m in maps
                     if m["snapshot"] == snapshot_id), None)
        if size is not None:  # EC2 takes the snapshot's size; moto wants one
            return call.forward({"Size": str(size)})
    return call.forward()


def describe_snapshots(call) -> tuple[int, bytes]:
    book = call.emulator.volumes

    def fix(item, ns):
        node, state = item.find(f"{ns}snapshotId"), item.find(f"{ns}status")
        if node is not None and state is not None and book.pending(node.text or ""):
            state.text = "pending"

    status, body = call.forward()
    return (status, body) if status >= 400 or not book.ready_at else (status, _rewrite(body, fix))


def create_image(call) -> tuple[int, bytes]:
    """aws_launch's CreateImage, then one snapshot per volume of the instance, pending with the AMI."""
    status, body = aws_launch.create_image(call)
    match = re.search(rb"<imageId>([^<]+)</imageId>", body)
    if status >= 400 or not match:
        return status, body
    image_id = match.group(1).decode()
    instance = call.backend.get_instance(call.params.get("InstanceId", ""))
    ready = call.emulator.images.ready_at(image_id)
    book, maps = call.emulator.volumes, []
    # moto snapshots a throwaway volume for every AMI; the AMI's real snapshots replace it and take
    # its tags (CreateImage's snapshot TagSpecifications) and its scenario-time start.
    ami = call.backend.amis.get(image_id)
    placeholder = call.backend.snapshots.pop(ami.ebs_snapshot.id, None) if ami is not None else None
    for device, mapped in instance.get_block_device_mapping:
        volume = call.backend.get_volume(mapped.volume_id)
        snap = call.backend.create_snapshot(volume.id, f"Created by CreateImage for {image_id}", from_ami=image_id)
        if placeholder is not None:
            snap.add_tags({t["key"]: t["value"] for t in placeholder.get_tags()})
            snap.start_time = placeholder.start_time
            if device == instance.root_device_name:
                ami.ebs_snapshot = snap
        maps.append({"device": device, "snapshot": snap.id, "size": volume.size, "type": volume.volume_type,
                     "dot": mapped.delete_on_termination is True})
        with book._lock:
            book.ready_at[snap.id] = ready
    if placeholder is not None:
        call.backend.tags.pop(placeholder.id, None)
    with book._lock:
        book.of_image[image_id] = maps
    return status, body


def describe_images(call) -> tuple[int, bytes]:
    """aws_launch's DescribeImages with each AMI's own snapshots as its BlockDeviceMappings."""
    book = call.emulator.volumes

    def fix(item, ns):
        image_id, mapping = item.find(f"{ns}imageId"), item.find(f"{ns}blockDeviceMapping")
        maps = book.of_image.get(image_id.text if image_id is not None else "")
        if maps is None or mapping is None:
            return
        for child in list(mapping):
            mapping.remove(child)
        for m in maps:
            entry = ET.SubElement(mapping, f"{ns}item")
            ET.SubElement(entry, f"{ns}deviceName").text = m["device"]
            ebs = ET.SubElement(entry, f"{ns}ebs")
            ET.SubElement(ebs, f"{ns}snapshotId").text = m["snapshot"]
            ET.SubElement(ebs, f"{ns}volumeSize").text = str(m["size"])
            ET.SubElement(ebs, f"{ns}deleteOnTermination").text = "true" if m["dot"] else "false"
            ET.SubElement(ebs, f"{ns}volumeType").text = m["type"]

    status, body = aws_launch.describe_images(call)
    return (status, body) if status >= 400 or not book.of_image else (status, _rewrite(body, fix))


VOLUME_HANDLERS = {
    "ModifyInstanceAttribute": modify_instance_attribute,
    "DescribeVolumes": describe_volumes,
    "AttachVolume": attach_volume,
    "CreateVolume": create_volume,
    "DescribeSnapshots": describe_snapshots,
    "CreateImage": create_image,
    "DescribeImages": describe_images,
}
