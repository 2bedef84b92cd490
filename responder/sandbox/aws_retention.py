"""What the EC2 emulator adds for images, snapshots and launch templates made and cleaned up by
the responder (moto lacks it or keeps wall time).

Parts: split_snapshot_tags (CreateImage TagSpecifications of ResourceType `snapshot` are applied by
EC2 to every snapshot the image is made of; moto raises NotImplementedError for them, so the
emulator applies them itself), stamp_image / create_launch_template (creation times in scenario
time, so retention and grace periods follow a ManualClock).

Rules kept from moto, which match EC2: DeregisterImage leaves the AMI's snapshots in place
("deregistering an AMI also has no effect on any snapshots that were created during the AMI
creation process", docs.aws.amazon.com/AWSEC2/latest/UserGuide/deregister-ami.html), and
DeleteSnapshot of a snapshot a registered AMI still uses is refused (InvalidSnapshot.InUse).
"""

from __future__ import annotations

import datetime
import re

from responder.sandbox.aws_wire import as_list

_SPEC = re.compile(r"^TagSpecifications?\.(\d+)\.")


def split_snapshot_tags(call) -> dict[str, str]:
    """The snapshot tags of a CreateImage; they are removed from `call.params` before moto sees them.

    "To tag the snapshots that are created of the root volume and of other Amazon EBS volumes that
    are attached to the instance, the value for ResourceType must be snapshot. The same tag is
    applied to all of the snapshots that are created." (EC2 API Reference, CreateImage)"""
    specs = as_list(call.p.get("TagSpecification"))
    numbers = {str(n) for n, spec in enumerate(specs, start=1) if spec.get("ResourceType") == "snapshot"}
    tags: dict[str, str] = {}
    for spec in specs:
        if spec.get("ResourceType") == "snapshot":
            tags.update({t["Key"]: t.get("Value", "") for t in as_list(spec.get("Tag"))})

    def kept(key: str) -> bool:
        match = _SPEC.match(key)
        return not (match and match.group(1) in numbers)

    call.params = {k: v for k, v in call.params.items() if kept(k)}
    return tags


def wall(emulator) -> datetime.datetime:
    """Scenario time as the naive UTC datetime moto keeps (the emulator's epoch + its clock)."""
    stamp = datetime.datetime.fromtimestamp(emulator.epoch + max(emulator.clock(), 0.0), datetime.timezone.utc)
    return stamp.replace(tzinfo=None)


def stamp_image(call, image_id: str, snapshot_tags: dict[str, str]) -> None:
    ami = call.backend.amis.get(image_id)
    if ami is None:
        return
    ami.creation_date = wall(call.emulator)
    snapshot = getattr(ami, "ebs_snapshot", None)  # moto snapshots the root volume only
    if snapshot is not None:
        snapshot.start_time = ami.creation_date
        for key, value in snapshot_tags.items():
            snapshot.add_tag(key, value)


def create_launch_template(call) -> tuple[int, bytes]:
    status, body = call.forward()
    match = re.search(rb"<launchTemplateId>([^<]+)</launchTemplateId>", body)
    if status < 400 and match:
        template = call.backend.launch_templates.get(match.group(1).decode())
        if template is not None:
            template.create_time = wall(call.emulator)
    return status, body
