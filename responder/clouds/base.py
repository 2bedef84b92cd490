"""The cloud port: domain verbs returning neutral dataclasses.

Parts: InstanceInfo, ImageInfo, InstanceTypeSpec, Subnet, LaunchRequest, LaunchResult,
Reservation, InstanceSummary, Capabilities (what a cloud can do, declared instead of probed), TOKEN_TAG,
CloudPort (the Protocol every adapter implements in full). What retention and `responder orphans`
read of what the responder made (OwnImage, OwnSnapshot, OwnTemplate, LeftoversPort) is in
leftovers_port.py.

Adapters translate to and from one cloud's API and classify its errors into responder.errors.
They never sleep, never retry, never decide: the engine and the task state machine do that. Before
each API call an adapter asks its `gate` (a CallGate; OPEN_GATE unless the runner gives it the API
budget; clouds/gate.py), which may refuse with errors.Deferred: waiting is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from responder.clouds.gate import CallGate
from responder.clouds.leftovers_port import OwnImage
from responder.clouds.prices import HourlyPrice
from responder.model import Market, Offering


@dataclass(frozen=True)
class InstanceInfo:
    """What we learn about the doomed instance: enough to verify it and to clone it."""

    instance_id: str
    region: str
    zone: str
    instance_type: str
    status: str  # cloud's own word: Running / Stopped / running / ...
    spot: bool  # preemptible / spot lifecycle
    reclaiming: bool  # the cloud itself says it is being taken away (Recycling lock / marked-for-termination)
    cpu: int = 0
    memory_mib: int = 0
    architecture: str = ""
    account: str = ""
    vpc_id: str = ""
    subnet_id: str = ""  # vswitch on Aliyun
    security_group_ids: tuple[str, ...] = ()
    key_pair: str = ""
    name: str = ""
    hostname: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    role: str = ""  # RAM role / IAM instance profile
    user_data: str = ""  # base64, as the API takes it
    public_ip: str = ""
    private_ip: str = ""  # the primary private address (OCI: the primary VNIC's)
    public_bandwidth_out: int = 0
    elastic_ip_allocation: str = ""  # AWS: allocation id of an EIP on the original
    system_disk_category: str = ""
    system_disk_size: int = 0
    image_id: str = ""
    spot_request_state: str = ""  # AWS: spot request status code, for verification
    # OCI: a flex shape's exact OCPUs (cpu is whole), the key in the metadata's ssh_authorized_keys.
    ocpus: float = 0.0
    ssh_public_key: str = ""
    # OCI: the preemption action keeps the boot volume (preserve_boot_volume): the state outlives the instance.
    boot_volume_preserved: bool = False
    # What the replacement copies so it is a clone, not a cousin (RunInstances / the launch template):
    internet_charge_type: str = ""  # Aliyun: PayByTraffic / PayByBandwidth, with public_bandwidth_out
    credit_mode: str = ""  # burstable types: Aliyun CreditSpecification Standard/Unlimited, AWS standard/unlimited
    spot_price_limit: float = 0.0  # Aliyun SpotPriceLimit (SpotWithPriceLimit) / AWS spot MaxPrice; 0: market price
    spot_duration: int = -1  # Aliyun SpotDuration (hours of protection); -1: not read
    spot_interruption_behavior: str = ""  # Aliyun Terminate / Stop
    placement_group: str = ""  # Aliyun DeploymentSetId / AWS placement group name
    resource_group_id: str = ""  # Aliyun ResourceGroupId
    hpc_cluster_id: str = ""  # Aliyun HpcClusterId
    tenancy: str = ""  # AWS default / dedicated / host
    # What a stand-in image must share with the instance for its root to be swapped later
    # (clouds/*_disks.py stand_in_image): the OS, the virtualization, the billing (AWS product codes).
    os_type: str = ""  # linux | windows
    virtualization: str = ""  # AWS hvm | paravirtual
    billing: str = ""  # AWS: the product codes, sorted and comma-joined, then "|" and UsageOperation


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    state: str  # "creating" | "available" | "failed"
    progress: str = ""
    reason: str = ""


@dataclass(frozen=True)
class RootSwap:
    """Where putting an image's root disk onto a running instance stands (CloudPort.swap_root)."""

    state: str  # "working" (call again later) | "done"
    step: str = ""  # the cloud's own step: stopping / replacing / starting (Aliyun), the task state (EC2)
    acted: bool = False  # this step wrote (stopped, replaced, started, made a task): what was seen before is old


@dataclass(frozen=True)
class RootLook:
    """What decides a root swap's next step (CloudPort.root_looks), read for many instances in one
    call so a wave's swaps share their looks; the write (swap_root) then acts on it."""

    status: str = ""  # the instance's status as the cloud says it (Aliyun: Running, Stopped, Stopping, ...)
    root_image: str = ""  # the image its system disk was made from (Aliyun DescribeInstances ImageId)
    swaps: tuple[tuple[str, str], ...] = ()  # (image id, task state) of its replace-root tasks (EC2)

    @property
    def swaps_ended(self) -> bool:
        """EC2: every replace-root task of the instance has ended (succeeded, failed): nothing to watch."""
        return bool(self.swaps) and all(state in ("succeeded", "failed", "failed-detached") for _, state in self.swaps)


@dataclass(frozen=True)
class DiskInfo:
    """One disk / volume of an instance, as the race needs it: what to keep, how long a snapshot takes."""

    disk_id: str
    kind: str  # "system" | "data"
    category: str  # cloud_essd / gp3 / ...
    size_gib: int
    zone: str
    delete_with_instance: bool
    instance_id: str = ""  # "" once detached (Available)
    device: str = ""
    status: str = ""  # lower case: available / in-use / creating (the cloud's own word otherwise)


@dataclass(frozen=True)
class InstanceTypeSpec:
    instance_type: str
    family: str
    cpu: int
    memory_gib: float
    architecture: str = "x86_64"


@dataclass(frozen=True)
class Subnet:
    subnet_id: str  # vswitch id on Aliyun
    zone: str
    vpc_id: str


TOKEN_TAG = "responder:token"  # every launched instance carries its launch's ClientToken
# What the responder made, or took charge of: the only resources its policies let it delete or detach.
OWNED_TAG = ("responder:managed", "true")


@dataclass(frozen=True)
class Capabilities:
    launches_many_offerings: bool = False  # one launch call may carry several ranked offerings
    offerings_are_static: bool = False  # offerings_with_stock says where a type is sold, not live stock
    placement_scores: bool = False  # placement_scores / spot_prices answer with real figures
    elastic_ips: bool = False  # an Elastic IP of the original can be moved to the replacement
    clone_parts: tuple[str, ...] = ()  # what clone_details reads, one call each, in this order
    disks_go_with_instance: bool = False  # the release deletes disks and their unfinished snapshots (Aliyun)
    public_ip_converts: bool = False  # a NAT public IP can be turned into an EIP before the release (Aliyun)
    # The policy lets the responder release only instances carrying OWNED_TAG, and take_charge does not
    # tag (Aliyun: the RAM policy's DeleteInstance condition; a right to tag any instance would be a
    # right to release any): an instance it did not launch is retired only when its owner tagged it.
    retires_tagged_only: bool = False
    # Reads of one instance's facts that the API answers for many instances in one call (AWS: the
    # volumes by attachment.instance-id, our AMIs by tag, the Elastic IPs by instance-id; ECS: our
    # images, one listing by tag key): a wave reads them ahead for the instances whose CreateImage
    # waits (replace/batching.py).
    reads_ahead: tuple[str, ...] = ()
    root_look_page: int = 100  # instances whose root looks one call answers in one page


@dataclass(frozen=True)
class LaunchRequest:
    """Launch `count` clones of `source` from `image_id`; `offerings` in preference order.

    Aliyun launches one offering per call (RunInstances); AWS may pass several as fleet overrides;
    OCI launches one instance of the first offering per call (LaunchInstance).
    """

    source: InstanceInfo
    image_id: str
    offerings: tuple[Offering, ...]
    subnet_by_zone: tuple[tuple[str, str], ...]
    client_token: str
    count: int = 1
    extra_tags: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    # OCI: a flex shape's size (0 = the shape's fixed size), the boot volume (0 = the image's
    # default) and the key put in the instance metadata as ssh_authorized_keys.
    shape_ocpus: float = 0.0
    shape_memory_gb: float = 0.0
    boot_volume_gb: int = 0
    ssh_public_key: str = ""
    # OCI: boot from this existing (detached, same-AD) boot volume instead of image_id: the
    # relaunch of a preempted instance whose boot volume was preserved keeps its state.
    boot_volume_id: str = ""


@dataclass(frozen=True)
class LaunchResult:
    instance_ids: tuple[str, ...]
    offering: Offering | None
    # Per-offering refusals the cloud reported inside a successful call (AWS fleet Errors[]).
    refused: tuple[tuple[Offering, str], ...] = ()


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    instance_type: str
    zone: str
    total: int
    available: int = 0
    state: str = "active"
    created_at: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    end_date: str = ""  # ISO time it expires; "" = unlimited


@dataclass(frozen=True)
class InstanceSummary:
    """One instance as an inventory listing sees it (standing capacity counts these)."""

    instance_id: str
    instance_type: str
    zone: str
    state: str  # normalised: pending | running | stopping | stopped | terminated
    name: str = ""
    tags: tuple[tuple[str, str], ...] = ()


class CloudPort(Protocol):
    cloud: str
    capabilities: Capabilities
    gate: CallGate  # asked before every API call (OPEN_GATE: none; the runner gives it the API budget)

    def describe_instance(self, region: str, instance_id: str) -> InstanceInfo: ...

    # -- reads of many at once (replace/batching.py): ids the cloud does not know are absent -----
    def describe_instances(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, InstanceInfo]:
        """describe_instance for up to 100 ids in as few calls as the API allows."""
        ...

    def describe_images(self, region: str, image_ids: tuple[str, ...]) -> dict[str, ImageInfo]: ...

    def latest_images(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, str]:
        """latest_image of each instance ("" when there is none)."""
        ...

    def disks_of(self, region: str, instance_ids: tuple[str, ...], zone: str = "",
                 on_listing: Callable[[list[DiskInfo]], None] | None = None, soon: int = 0) -> dict[str, list[DiskInfo]]:
        """describe_disks(instance_id=...) of each instance; `zone`, where they all are (when known),
        lets an API that filters disks by one instance list the zone's disks instead (worth it for
        these and the `soon` more instances expected to ask), and then `on_listing` is given every
        disk of that listing (the caller may serve later tasks from it)."""
        ...

    def clone_details_many(self, region: str, infos: tuple[InstanceInfo, ...], part: str) -> dict[str, InstanceInfo]:
        """clone_details of one part for each instance, in one call where the API takes many ids."""
        ...

    def clone_details(self, region: str, info: InstanceInfo, parts: tuple[str, ...] | None = None) -> InstanceInfo:
        """`info` completed with what the instance API leaves out (user data, role, disks, EIP):
        the given parts of capabilities.clone_parts, or all of them."""
        ...

    def find_launched(self, region: str, client_token: str) -> tuple[str, ...]:
        """Instances (not terminated) that a launch with this token made, found by TOKEN_TAG: what
        a lost answer or a reused token leaves behind."""
        ...

    def terminate_instance(self, region: str, instance_id: str) -> None: ...

    def take_charge(self, region: str, resource_ids: tuple[str, ...]) -> None:
        """Mark resources the responder did not make but will later delete or detach (an original it
        retires, a volume it keeps) with its own tag, so a policy can limit those deletes to tagged
        resources. A no-op where the policy does not scope them."""
        ...

    def associate_address(self, region: str, allocation_id: str, instance_id: str) -> str: ...

    def placement_scores(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], float]:
        """(type, zone) → score; empty where the cloud has no such figure."""
        ...

    def spot_prices(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], float]: ...

    def spot_bands(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], int]:
        """(type, zone) → the published interruption band (clouds/spot_bands.py; zone "" for a band
        that holds in every zone); empty where the cloud publishes none. Raises when it cannot be read."""
        return {}

    def hourly_price(self, region: str, offering: Offering) -> HourlyPrice:
        """What one instance of the offering costs per hour (Linux), cached (clouds/prices.py);
        a CloudError when it cannot be read (NotFound: the cloud publishes no such price)."""
        ...

    def create_image(self, region: str, instance_id: str, name: str, client_token: str,
                     tags: tuple[tuple[str, str], ...] = ()) -> str: ...

    def describe_image(self, region: str, image_id: str) -> ImageInfo: ...

    def instance_types(self, region: str) -> dict[str, InstanceTypeSpec]: ...

    def offerings_with_stock(self, region: str, instance_types: list[str], market: Market) -> set[tuple[str, str]]:
        """(instance_type, zone) pairs that can launch now on that market."""
        ...

    def subnets(self, region: str, vpc_id: str) -> list[Subnet]: ...

    def launch(self, region: str, request: LaunchRequest) -> LaunchResult: ...

    def instance_states(self, region: str, instance_ids: list[str]) -> dict[str, str]: ...

    def create_reservation(self, region: str, offering: Offering, count: int, client_token: str,
                           preference: str = "open", tags: tuple[tuple[str, str], ...] = ()) -> Reservation: ...

    def modify_reservation(self, region: str, reservation_id: str, total: int, client_token: str = "") -> Reservation: ...

    def describe_reservation(self, region: str, reservation_id: str) -> Reservation: ...

    # -- the race against the release (replace/race.py) ----------------------------------------
    def describe_disks(self, region: str, instance_id: str = "", disk_ids: tuple[str, ...] = ()) -> list[DiskInfo]:
        """The disks of an instance, or the named disks (those that still exist)."""
        ...

    def set_delete_with_instance(self, region: str, disk_ids: tuple[str, ...], delete: bool,
                                 known: tuple[DiskInfo, ...] = ()) -> None:
        """delete=False: the disks outlive their instance (DeleteWithInstance / DeleteOnTermination);
        True: they go with it again (given back before the release). `known`: those disks as just
        read (where EC2 needs their instance and device, no second read)."""
        ...

    def attach_disk(self, region: str, disk_id: str, instance_id: str, device: str = "",
                    delete_with_instance: bool = False) -> None:
        """Aliyun sets DeleteWithInstance in AttachDisk; EC2's AttachVolume leaves DeleteOnTermination
        false and the adapter does not change it while the volume is still attaching."""
        ...

    def detach_disk(self, region: str, disk_id: str, instance_id: str) -> None:
        """From a stopped original (EC2 keeps the volumes of a stopped instance attached)."""
        ...

    def delete_disk(self, region: str, disk_id: str) -> None: ...

    def image_snapshots(self, region: str, image_id: str) -> dict[str, str]:
        """Device name → the snapshot the image took of that disk."""
        ...

    def snapshot_usable(self, region: str, snapshot_id: str) -> bool:
        """Whether a disk can be made from the snapshot now (Aliyun instant access: before it ends)."""
        ...

    def restore_disk(self, region: str, snapshot_id: str, zone: str, category: str, client_token: str) -> str:
        """A new disk from the snapshot in `zone`; the token makes a retry return the same disk."""
        ...

    def assign_private_ip(self, region: str, instance_id: str, ip: str, client_token: str = "") -> None:
        """`ip` as a secondary private address of the instance's primary interface (refused while
        another interface still holds it)."""
        ...

    def convert_public_ip(self, region: str, instance_id: str) -> str:
        """Turn the instance's NAT public IP into an EIP it keeps; returns the allocation id."""
        ...

    def latest_image(self, region: str, instance_id: str) -> str:
        """The newest available image the responder made of this instance, or ""."""
        ...

    def stand_in_image(self, region: str, source: InstanceInfo) -> str:
        """The cloud's newest public image a root swap from `source`'s own images would accept on
        an instance launched from it (same OS, architecture, virtualization and billing), or "":
        capacity from it now, the notice-time root swapped in later (replace/swap.py)."""
        ...

    def root_looks(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, RootLook]:
        """What each instance's root swap stands at, a page of ids per call; ids the cloud does not
        know are absent."""
        ...

    def swap_root(self, region: str, instance_id: str, image_id: str, client_token: str,
                  look: RootLook | None = None) -> RootSwap:
        """One step of putting `image_id`'s root disk onto the instance, which keeps its id,
        addresses and data disks (AWS CreateReplaceRootVolumeTask; Aliyun StopInstance KeepCharging,
        ReplaceSystemDisk, StartInstance). Check before act, from what the cloud shows — `look`, read
        by root_looks after this instance's last step, or read here when None: a repeat never swaps
        twice, and `client_token` makes the replacing call itself idempotent. A refusal (the cloud
        rules the swap out for this instance) raises its CloudError."""
        ...

    # -- protect ahead of time and retention (responder/protect/) ------------------------------
    def instances_tagged(self, region: str, key: str, value: str) -> list[str]: ...

    def fleet_instances(self, region: str, key: str, value: str) -> list[InstanceInfo]:
        """The running instances carrying the tag, as describe_instances shows them, read by the tag
        (a page of 100 a call, never a call per instance): the fleet planned moves judge (revert/fleet.py)."""
        ...

    def own_images(self, region: str) -> list[OwnImage]:
        """Images tagged responder:source-instance, and only those: retention never sees others."""
        ...

    def delete_image(self, region: str, image_id: str) -> None:
        """The image and the snapshots it was made of."""
        ...
