"""The state of the OCI emulator: the scenario's `oci:` section and what launches make of it.

Parts: OciError (re-exported from oci_answer), OciConfig (the section, parsed and
checked: docs/scenario-oci.md), OciWorld (instances, images, retry tokens, host capacity per shape
and AD over time, the tenancy's service limits, the per-user throttle) and its verbs: launch,
terminate, create_image, state_of / image_state (lifecycle from scenario time), the primary VNIC
each instance gets in its subnet (vnic_attachments, vnic), the boot volume each boots from
(BootVolumes, oci_volumes.py: preserved or deleted on termination, a launch from it).

Rules the product relies on, each as OCI documents it (or the harsher reading where it does not):
- Host capacity: a launch into a (shape, AD) without a free host answers HTTP 500 InternalError
  "Out of host capacity." (https://docs.oracle.com/en-us/iaas/Content/Compute/Tasks/launchinginstance.htm,
  "Out of host capacity" under troubleshooting); the slot is given back when the instance is TERMINATED.
- Service limits: Always Free gives a tenancy Arm A1 instances totalling 4 OCPUs and 24 GB and
  up to two VM.Standard.E2.1.Micro instances
  (https://docs.oracle.com/en-us/iaas/Content/FreeTier/freetier_topic-Always_Free_Resources.htm);
  a launch past a limit answers 400 LimitExceeded. Instances count until TERMINATED (the harsher
  reading: a TERMINATING instance still holds its share).
- opc-retry-token: "uniquely identifies a request so it can be retried in case of a timeout or
  server error without risk of executing that same action again. Retry tokens expire after 24
  hours" (LaunchInstance API reference). The same token with the same body answers the first
  instance; with another body, 409 — OCI does not document the code for that case, so the
  emulator answers InvalidatedRetryToken, its documented 409 for a token that cannot be replayed.
  Only a call that succeeded records its token: a refused launch may be sent again.
- VNICs: "Each instance has a primary VNIC that is automatically created and attached during
  launch", in the subnet of createVnicDetails, with a private IP from the subnet's CIDR (the
  first two addresses and the last are reserved) and a public one unless assignPublicIp is false
  (https://docs.oracle.com/en-us/iaas/Content/Network/Tasks/managingVNICs.htm). GetInstance does
  not name them: ListVnicAttachments (filter instanceId) gives the attachment, with its subnetId
  and vnicId, and GetVnic the VNIC (VnicAttachment and Vnic in the API reference). The
  attachment follows the instance (ATTACHING, ATTACHED, DETACHING, DETACHED) and stays listed
  once DETACHED; the VNIC is deleted with the instance: GetVnic answers 404 once the instance is
  TERMINATED (OCI does not say how long a terminated VNIC can be read: the harsher reading).
- Throttling: OCI publishes no per-API rate; a token bucket per user (rate, burst) answers 429
  TooManyRequests when calls come faster (https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from responder.sandbox.oci_answer import OciError, not_found
from responder.sandbox.oci_volumes import BootVolumes, preserve_on_termination
from responder.sandbox.stock import UNLIMITED, OfferStock, ScenarioError, StockBook

__all__ = ["OciConfig", "OciError", "OciWorld", "not_found"]

RETRY_TOKEN_SECONDS = 24 * 3600.0
ALWAYS_FREE_LIMITS = [  # the Always Free resources page, above
    {"shape": "VM.Standard.A1.Flex", "ocpus": 4, "memory_gb": 24},
    {"shape": "VM.Standard.E2.1.Micro", "instances": 2},
]
LIMIT_NAMES = {"VM.Standard.A1.Flex": "standard-a1-core-count", "VM.Standard.E2.1.Micro": "vm-standard-e2-1-micro-count"}


@dataclass
class OciConfig:
    tenancy: str
    user: str
    region: str
    compartment: str
    availability_domains: list[str]
    subnets: list[dict[str, Any]]
    shapes: list[dict[str, Any]]
    images: list[dict[str, Any]]
    capacity: dict[str, Any]
    limits: list[dict[str, Any]]
    throttle: dict[str, Any]
    boot_seconds: float = 60.0
    terminate_seconds: float = 30.0
    page_size: int = 100
    instances: list[dict[str, Any]] = field(default_factory=list)
    preemptions: list[dict[str, Any]] = field(default_factory=list)  # {at, shape, availability_domain, count}

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> "OciConfig":
        if not isinstance(raw, dict):
            raise ScenarioError("oci: must be a mapping")
        for key in ("tenancy", "user", "region", "availability_domains"):
            if not raw.get(key):
                raise ScenarioError(f"oci: missing '{key}'")
        shapes = list(raw.get("shapes", []))
        for i, s in enumerate(shapes):
            if "shape" not in s:
                raise ScenarioError(f"oci.shapes[{i}]: missing 'shape'")
        return cls(tenancy=raw["tenancy"], user=raw["user"], region=raw["region"],
                   compartment=raw.get("compartment") or raw["tenancy"],
                   availability_domains=list(raw["availability_domains"]), subnets=list(raw.get("subnets", [])),
                   shapes=shapes, images=list(raw.get("images", [])), capacity=dict(raw.get("capacity", {}) or {}),
                   limits=list(raw["limits"]) if raw.get("limits") is not None else copy.deepcopy(ALWAYS_FREE_LIMITS),
                   throttle=dict(raw.get("throttle", {}) or {}), boot_seconds=float(raw.get("boot_seconds", 60)),
                   terminate_seconds=float(raw.get("terminate_seconds", 30)),
                   page_size=int(raw.get("page_size", 100)), instances=list(raw.get("instances", [])),
                   preemptions=sorted((dict(p) for p in raw.get("preemptions", []) or []),
                                      key=lambda p: float(p.get("at", 0))))


def _capacity_book(capacity: dict[str, Any], clock) -> StockBook:
    offers: dict[tuple[str, str, str], OfferStock] = {}
    for rule in capacity.get("offers", []) or []:
        ads = rule.get("availability_domains") or [rule.get("availability_domain")]
        for ad in ads:
            for market in ([rule["market"]] if rule.get("market") else ["ondemand", "spot"]):
                offers[(rule["shape"], ad, market)] = OfferStock(
                    available=int(rule.get("available", capacity.get("default", UNLIMITED))),
                    schedule=sorted(copy.deepcopy(rule.get("schedule", [])), key=lambda s: float(s.get("at", 0))))
    return StockBook(int(capacity.get("default", UNLIMITED)), offers, clock)


class OciWorld(BootVolumes):
    """Everything the emulator holds; every verb takes the lock."""

    def __init__(self, config: OciConfig, clock, image_build_seconds: float = 2.0):
        self.config = config
        self.clock = clock
        self.image_build_seconds = image_build_seconds
        self.lock = threading.RLock()
        self.capacity = _capacity_book(config.capacity, clock)
        self.instances: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {i["id"]: dict(i, created_at=-1.0) for i in config.images}
        self.tokens: dict[str, tuple[float, str, str]] = {}  # token → (when, body, instance id)
        self.vnics: dict[str, dict[str, Any]] = {}  # vnic id → {id, instance, subnet, private_ip, public_ip}
        self.boot_volumes: dict[str, dict[str, Any]] = {}  # id → {id, ad, compartment, instance, content...}
        self.boot_attachments: list[dict[str, Any]] = []  # {id, volume, instance}, kept once DETACHED
        self._next_host: dict[str, int] = {}  # subnet id → the next host number to hand out
        self._buckets: dict[str, tuple[float, float]] = {}  # user → (tokens, last refill)
        for seed in config.instances:
            self._add(seed, created_at=-config.boot_seconds)

    # -- throttle --------------------------------------------------------------------------
    def throttle(self, user: str) -> None:
        rate = float(self.config.throttle.get("rate_per_second", 0) or 0)
        if rate <= 0:
            return
        burst = float(self.config.throttle.get("burst", max(rate, 1)))
        with self.lock:
            now = self.clock()
            tokens, last = self._buckets.get(user, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens < 1:
                self._buckets[user] = (tokens, now)
                raise OciError(429, "TooManyRequests", "User-rate limit exceeded.")
            self._buckets[user] = (tokens - 1, now)

    # -- instances -------------------------------------------------------------------------
    def _add(self, details: dict[str, Any], created_at: float) -> dict[str, Any]:
        instance_id = details.get("id") or f"ocid1.instance.oc1.{self.config.region}.{uuid.uuid4().hex}"
        instance = dict(details, id=instance_id, created_at=created_at, terminated_at=None,
                        market="spot" if details.get("preemptibleInstanceConfig") else "ondemand")
        self.instances[instance_id] = instance
        self._attach_primary_vnic(instance)
        self.make_boot_volume(instance)
        return instance

    # -- VNICs -----------------------------------------------------------------------------
    def _attach_primary_vnic(self, instance: dict[str, Any]) -> None:
        vnic_details = instance.get("createVnicDetails") or {}
        subnet = self.subnet(vnic_details.get("subnetId") or instance.get("subnetId") or "")
        if subnet is None:  # a seeded instance without a known subnet: no VNIC to show
            return
        network = ipaddress.ip_network(subnet.get("cidr", "10.0.0.0/24"), strict=False)
        host = self._next_host.get(subnet["id"], 2)  # .0 and .1 are reserved (network, gateway)
        if host >= network.num_addresses - 1:  # the last address is reserved too
            raise OciError(400, "InvalidParameter", f"Subnet {subnet['id']} has no free private IP address.")
        self._next_host[subnet["id"]] = host + 1
        unique = instance["id"].rsplit(".", 1)[-1]
        public = vnic_details.get("assignPublicIp") is not False and not subnet.get("prohibit_public_ip")
        self.vnics[f"ocid1.vnic.oc1.{self.config.region}.{unique}"] = {
            "id": f"ocid1.vnic.oc1.{self.config.region}.{unique}", "instance": instance["id"], "subnet": subnet["id"],
            "attachment": f"ocid1.vnicattachment.oc1.{self.config.region}.{unique}",
            "private_ip": str(network.network_address + host),
            "public_ip": f"192.0.2.{1 + len(self.vnics) % 254}" if public else None,
            "display_name": vnic_details.get("displayName") or instance.get("displayName") or ""}

    def vnic_attachments(self) -> list[dict[str, Any]]:
        return [v for v in self.vnics.values() if v["instance"] in self.instances]

    def vnic(self, vnic_id: str) -> dict[str, Any] | None:
        found = self.vnics.get(vnic_id)
        if found is None or self.state_of(self.instances[found["instance"]]) == "TERMINATED":
            return None  # deleted with its instance
        return found

    def settle(self) -> None:
        """Fire the preemptions that are due: OCI takes a preemptible instance back by terminating
        it ("When preemptible capacity is reclaimed, the instance is terminated",
        https://docs.oracle.com/en-us/iaas/Content/Compute/Concepts/preemptible.htm). The host went
        to someone else, so it does not come back to the free pool when the instance is gone."""
        with self.lock:
            now = self.clock()
            while self.config.preemptions and float(self.config.preemptions[0].get("at", 0)) <= now:
                rule = self.config.preemptions.pop(0)
                chosen = [i for i in self.instances.values() if i["market"] == "spot" and i["terminated_at"] is None
                          and rule.get("shape") in (None, i["shape"])
                          and rule.get("availability_domain") in (None, i["availabilityDomain"])]
                for instance in chosen[:int(rule.get("count", 1))]:
                    instance.update(terminated_at=float(rule.get("at", 0)), released=True, preempted=True,
                                    preserveBootVolume=preserve_on_termination(instance))

    def state_of(self, instance: dict[str, Any]) -> str:
        now = self.clock()
        if instance["terminated_at"] is not None:
            done = now >= instance["terminated_at"] + self.config.terminate_seconds
            if done and not instance.get("released"):
                instance["released"] = True
                self.capacity.give_back(instance["shape"], instance["availabilityDomain"], instance["market"], 1)
            return "TERMINATED" if done else "TERMINATING"
        return "RUNNING" if now >= instance["created_at"] + self.config.boot_seconds else "PROVISIONING"

    def launch(self, details: dict[str, Any], token: str) -> dict[str, Any]:
        with self.lock:
            now = self.clock()
            body = json.dumps(details, sort_keys=True)
            if token and token in self.tokens and now - self.tokens[token][0] < RETRY_TOKEN_SECONDS:
                when, first_body, instance_id = self.tokens[token]
                if first_body != body:
                    raise OciError(409, "InvalidatedRetryToken",
                                   "The retry token was used by an earlier request with different parameters.")
                return self.instances[instance_id]
            self._check(details)
            shape, ad = details["shape"], details["availabilityDomain"]
            self._check_limits(details)
            market = "spot" if details.get("preemptibleInstanceConfig") else "ondemand"
            if not self.capacity.take(shape, ad, market, 1):
                raise OciError(500, "InternalError", "Out of host capacity.")
            try:
                instance = self._add(details, created_at=now)
            except OciError:  # no private IP left in the subnet: nothing was made
                self.capacity.give_back(shape, ad, market, 1)
                raise
            if token:
                self.tokens[token] = (now, body, instance["id"])
            return instance

    def _check(self, details: dict[str, Any]) -> None:
        for key in ("availabilityDomain", "compartmentId", "shape", "sourceDetails"):
            if not details.get(key):
                raise OciError(400, "MissingParameter", f"Missing parameter: {key}.")
        for key in ("sourceDetails", "createVnicDetails", "shapeConfig", "metadata", "freeformTags"):
            if details.get(key) is not None and not isinstance(details[key], dict):
                raise OciError(400, "InvalidParameter", f"{key} must be an object.")
        if details["availabilityDomain"] not in self.config.availability_domains:
            raise OciError(400, "InvalidParameter", f"Invalid availabilityDomain: {details['availabilityDomain']}.")
        shape = self.shape(details["shape"])
        if shape is None:
            raise OciError(400, "InvalidParameter", f"Shape {details['shape']} is not valid.")
        if details["sourceDetails"].get("sourceType") == "bootVolume":
            self.check_boot_volume_source(details)
            image = self.images.get(self.boot_volumes[details["sourceDetails"]["bootVolumeId"]]["image_id"] or "", {})
        else:
            image = self.images.get(details["sourceDetails"].get("imageId", ""))
        if image is None:
            raise OciError(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
        if image.get("shapes") and details["shape"] not in image["shapes"]:
            raise OciError(400, "InvalidParameter", f"Shape {details['shape']} is not compatible with image.")
        subnet = (details.get("createVnicDetails") or {}).get("subnetId") or details.get("subnetId")
        if self.subnet(subnet or "") is None:
            raise OciError(404, "RelatedResourceNotAuthorizedOrNotFound", f"Subnet {subnet} not found.")
        config = details.get("shapeConfig") or {}
        if shape.get("flex") and not config.get("ocpus"):
            raise OciError(400, "InvalidParameter", f"shapeConfig.ocpus is required for flexible shape {shape['shape']}.")

    def _size(self, instance: dict[str, Any]) -> tuple[float, float]:
        """(OCPUs, GB) an instance holds: its shapeConfig, else the shape's size (a flex shape
        without memory gets the scenario's memory_gb_per_ocpu, 6 GB by default)."""
        config = instance.get("shapeConfig") or {}
        shape = self.shape(instance["shape"]) or {}
        ocpus = float(config.get("ocpus") or shape.get("ocpus", 1))
        if config.get("memoryInGBs"):
            return ocpus, float(config["memoryInGBs"])
        if shape.get("flex"):
            return ocpus, ocpus * float(shape.get("memory_gb_per_ocpu", 6))
        return ocpus, float(shape.get("memory_gb", 1))

    def _check_limits(self, details: dict[str, Any]) -> None:
        for limit in self.config.limits:
            if limit["shape"] != details["shape"]:
                continue
            held = [i for i in self.instances.values() if i["shape"] == limit["shape"] and self.state_of(i) != "TERMINATED"]
            ocpus, memory = self._size(details)
            over = ("instances" in limit and len(held) + 1 > int(limit["instances"])) or \
                   ("ocpus" in limit and sum(self._size(i)[0] for i in held) + ocpus > float(limit["ocpus"])) or \
                   ("memory_gb" in limit and sum(self._size(i)[1] for i in held) + memory > float(limit["memory_gb"]))
            if over:
                name = LIMIT_NAMES.get(limit["shape"], f"{limit['shape'].lower()}-count")
                raise OciError(400, "LimitExceeded", f"The following service limits were exceeded: {name}. Request a "
                                                     "service limit increase from the service limits page in the console.")

    def terminate(self, instance_id: str, preserve_boot_volume: bool = False) -> None:
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise not_found()
            if instance["terminated_at"] is None:
                instance.update(terminated_at=self.clock(), preserveBootVolume=preserve_boot_volume)

    def shape(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.config.shapes if s["shape"] == name), None)

    def subnet(self, subnet_id: str) -> dict[str, Any] | None:
        return next((s for s in self.config.subnets if s["id"] == subnet_id), None)

    # -- images ----------------------------------------------------------------------------
    def create_image(self, details: dict[str, Any], token: str) -> dict[str, Any]:
        with self.lock:
            if token and f"image:{token}" in self.tokens:
                return self.images[self.tokens[f"image:{token}"][2]]
            source = self.instances.get(details.get("instanceId", ""))
            if source is None:
                raise not_found()
            image_id = f"ocid1.image.oc1.{self.config.region}.{uuid.uuid4().hex}"
            # An instance booted from a volume has no imageId of its own: its volume's image is the base.
            volume = self.boot_volumes.get(source.get("bootVolumeId") or "", {})
            base = self.images.get(source["sourceDetails"].get("imageId") or volume.get("image_id") or "", {})
            self.images[image_id] = {"id": image_id, "name": details.get("displayName") or image_id,
                                     "os": base.get("os", ""), "os_version": base.get("os_version", ""),
                                     "shapes": base.get("shapes", []), "created_at": self.clock(),
                                     "freeform_tags": details.get("freeformTags") or {}}
            if token:
                self.tokens[f"image:{token}"] = (self.clock(), "", image_id)
            return self.images[image_id]

    def image_state(self, image: dict[str, Any]) -> str:
        return "AVAILABLE" if self.clock() >= image["created_at"] + self.image_build_seconds else "PROVISIONING"
