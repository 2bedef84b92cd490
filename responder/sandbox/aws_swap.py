"""Root volume replacement in the EC2 emulator (moto has none), and the content markers that let a
test see whose root state an instance runs.

Parts: RootSwaps (the replace-root tasks of the emulator, each instance's root content marker and
its billing: write_root, launched, billing_of), the intercepts in SWAP_HANDLERS: CreateReplaceRootVolumeTask,
DescribeReplaceRootVolumeTasks, and CreateImage (aws_volumes' CreateImage, then the AMI takes the
root content of its instance).

Content markers: each instance's root volume carries `content` (a string standing for what is
written on it). An instance launched from an AMI starts with the AMI's content: "image:<ami>" for
an AMI the scenario names, else what the root volume held when CreateImage took its snapshot (the
notice-time state). A test writes on the original before the notice (write_root) and asserts the
replacement's root volume carries it after the swap.

Rules, from the API reference (CreateReplaceRootVolumeTask,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateReplaceRootVolumeTask.html) and
"Replace a root volume" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/replace-root.html):
the instance must be `running` ("Replaces the EBS-backed root volume for a running instance":
IncorrectState otherwise); only an EBS root can be replaced (an instance-store root is refused,
UnsupportedOperation); the AMI must exist and be available and "must have the same product code,
billing information, architecture type, and virtualization type as that of the instance" (the
ImageId parameter; here: architecture, virtualization type, platform — Windows or not, which EC2
bills apart — and product codes, the instance's being its launch AMI's; InvalidParameterValue
otherwise); one task per
instance at a time (the harsher reading: IncorrectState while one is pending or in progress). The
task is `pending`, then `in-progress` while the instance restarts on the new volume, then
`succeeded` after `root_swap_seconds` of scenario time (default 30: no published figure). The
ClientToken rule is the middleware's (aws_tokens): a repeat returns the first task.
"""

from __future__ import annotations

import datetime
import re
import threading
import uuid
from typing import Any

from responder.sandbox import aws_volumes
from responder.sandbox.aws_wire import Ec2Error, as_list, ec2_response

_LAUNCHED = re.compile(rb">(i-[0-9a-f]{8,17})<")  # RunInstances' instanceId, CreateFleet's instanceIds items
SWAP_SECONDS = 30.0
PENDING_SECONDS = 2.0


class RootSwaps:
    def __init__(self, clock, scenario_raw: dict[str, Any], epoch: float):
        self.clock, self.epoch = clock, epoch
        self.seconds = float(scenario_raw.get("root_swap_seconds", SWAP_SECONDS))
        self.tasks: dict[str, dict[str, Any]] = {}
        self.root: dict[str, str] = {}  # instance → what its root volume holds
        self.image_content: dict[str, str] = {}  # AMI → what a root volume made from it holds
        self.billing: dict[str, frozenset] = {}  # instance → its launch AMI's product codes (its billing)
        self._lock = threading.Lock()
        # One CreateReplaceRootVolumeTask at a time: its "one task in progress per instance" check
        # and its insert must not interleave with another's (the swaps of a wave run side by side).
        self.creating = threading.Lock()

    def write_root(self, instance_id: str, marker: str) -> None:
        """Files written on the instance's root volume: its content is now `marker`."""
        with self._lock:
            self.root[instance_id] = marker

    def root_of(self, instance_id: str, image_id: str = "") -> str:
        with self._lock:
            return self.root.get(instance_id) or f"image:{image_id}"

    def launched(self, backend, body: bytes) -> None:
        """Instances a RunInstances / CreateFleet answer names start with their AMI's content."""
        for instance_id in dict.fromkeys(m.group(1).decode() for m in _LAUNCHED.finditer(body)):
            image_id = backend.get_instance(instance_id).image_id
            ami = backend.amis.get(image_id)
            with self._lock:
                self.root[instance_id] = self.image_content.get(image_id) or f"image:{image_id}"
                self.billing[instance_id] = frozenset(getattr(ami, "product_codes", None) or ())

    def billing_of(self, backend, instance) -> frozenset:
        """The instance's product codes: its launch AMI's (an instance seeded before the emulator
        saw a launch reads them from that AMI while it exists)."""
        with self._lock:
            if instance.id in self.billing:
                return self.billing[instance.id]
        ami = backend.amis.get(instance.image_id)
        return frozenset(getattr(ami, "product_codes", None) or ())

    def state(self, task: dict[str, Any]) -> str:
        """The task's state now; at `succeeded` the instance's root holds the AMI's content."""
        age = self.clock() - task["started"]
        if age < PENDING_SECONDS:
            return "pending"
        if age < self.seconds:
            return "in-progress"
        with self._lock:
            if not task.get("applied"):
                task["applied"] = True
                self.root[task["instance"]] = self.image_content.get(task["image"]) or f"image:{task['image']}"
        return "succeeded"

    def render(self, task: dict[str, Any]) -> dict[str, Any]:
        state = self.state(task)
        started = datetime.datetime.fromtimestamp(self.epoch + task["started"], datetime.timezone.utc)
        row = {"ReplaceRootVolumeTaskId": task["id"], "InstanceId": task["instance"], "TaskState": state,
               "StartTime": started.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "ImageId": task["image"],
               "DeleteReplacedRootVolume": task["delete"]}
        if state == "succeeded":
            done = started + datetime.timedelta(seconds=self.seconds)
            row["CompleteTime"] = done.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return row


def create_replace_root_volume_task(call) -> tuple[int, bytes]:
    swaps: RootSwaps = call.emulator.swaps
    instance_id, image_id = call.params.get("InstanceId", ""), call.params.get("ImageId", "")
    if not instance_id:
        raise Ec2Error("MissingParameter", "The request must contain the parameter InstanceId", 400)
    instance = call.backend.get_instance(instance_id)  # InvalidInstanceID.NotFound from moto
    if instance.state != "running":
        raise Ec2Error("IncorrectState", f"The instance '{instance_id}' is not in the 'running' state.", 400)
    if getattr(instance, "root_device_type", "ebs") != "ebs":
        raise Ec2Error("UnsupportedOperation", f"The instance '{instance_id}' does not have an EBS root volume.", 400)
    if image_id:
        ami = call.backend.amis.get(image_id)
        if ami is None:
            raise Ec2Error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist", 400)
        if call.emulator.images.state(image_id) not in (None, "available"):
            raise Ec2Error("IncorrectState", f"The image '{image_id}' is not available.", 400)
        mismatch = _key_mismatch(ami, instance, swaps.billing_of(call.backend, instance))
        if mismatch:
            raise Ec2Error("InvalidParameterValue", f"The {mismatch} of the image '{image_id}' does not match "
                           f"the instance '{instance_id}'.", 400)
    with swaps.creating:
        with swaps._lock:  # a copy: other swaps add their tasks while this one looks
            mine = [t for t in swaps.tasks.values() if t["instance"] == instance_id]
        busy = [t for t in mine if swaps.state(t) != "succeeded"]
        if busy:
            raise Ec2Error("IncorrectState", f"The instance '{instance_id}' already has a replace root volume task "
                           f"in progress ({busy[0]['id']}).", 400)
        task = {"id": "replacevol-" + uuid.uuid4().hex[:17], "instance": instance_id, "image": image_id,
                "started": call.emulator.clock(),
                "delete": call.params.get("DeleteReplacedRootVolume", "false").lower() == "true"}
        with swaps._lock:
            swaps.tasks[task["id"]] = task
    return 200, ec2_response("CreateReplaceRootVolumeTask", {"ReplaceRootVolumeTask": swaps.render(task)})


def _platform(thing) -> str:
    return "windows" if str(getattr(thing, "platform", "") or "").lower() == "windows" else "linux"


def _key_mismatch(ami, instance, instance_codes: frozenset) -> str:
    """The first key characteristic the AMI does not share with the instance, or ""."""
    if getattr(ami, "architecture", "") != getattr(instance, "architecture", getattr(ami, "architecture", "")):
        return "architecture"
    if (getattr(ami, "virtualization_type", None) or "hvm") != (getattr(instance, "virtualization_type", None) or "hvm"):
        return "virtualization type"
    if _platform(ami) != _platform(instance):
        return "platform"
    if frozenset(getattr(ami, "product_codes", None) or ()) != instance_codes:
        return "product code"
    return ""


def describe_replace_root_volume_tasks(call) -> tuple[int, bytes]:
    swaps: RootSwaps = call.emulator.swaps
    ids = set(as_list(call.p.get("ReplaceRootVolumeTaskId")))
    instances: set[str] = set()
    for f in as_list(call.p.get("Filter")):
        if f.get("Name") == "instance-id":
            instances |= set(as_list(f.get("Value")))
    with swaps._lock:  # a copy: swaps running side by side add tasks meanwhile
        tasks = list(swaps.tasks.values())
    rows = [swaps.render(t) for t in tasks
            if (not ids or t["id"] in ids) and (not instances or t["instance"] in instances)]
    return 200, ec2_response("DescribeReplaceRootVolumeTasks", {"ReplaceRootVolumeTasks": rows})


def create_image(call) -> tuple[int, bytes]:
    """aws_volumes' CreateImage; the AMI then holds what the instance's root volume holds now."""
    status, body = aws_volumes.create_image(call)
    if status < 400:
        image_id = body.split(b"<imageId>", 1)[1].split(b"</imageId>", 1)[0].decode()
        instance = call.backend.get_instance(call.params.get("InstanceId", ""))
        swaps: RootSwaps = call.emulator.swaps
        content = swaps.root_of(instance.id, instance.image_id)
        codes = swaps.billing_of(call.backend, instance)
        with swaps._lock:
            swaps.image_content[image_id] = content
        ami = call.backend.amis.get(image_id)
        if ami is not None:  # an AMI made from a Marketplace instance keeps its product code
            ami.product_codes = set(codes)
    return status, body


SWAP_HANDLERS = {
    "CreateReplaceRootVolumeTask": create_replace_root_volume_task,
    "DescribeReplaceRootVolumeTasks": describe_replace_root_volume_tasks,
    "CreateImage": create_image,
}
