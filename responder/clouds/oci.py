"""The OCI adapter: CloudPort over the official `oci` SDK (core Compute and VirtualNetwork, identity).

Parts: OciCloud — plumbing (per-thread clients, _call, _pages), instances (describe_instance with
the primary VNIC's subnet and addresses, list_instances, instance_states, find_launched, terminate_instance), launch (LaunchInstance with
opc-retry-token; from an image, or from an existing boot volume), preserved_boot_volume (the
detached boot volume a preempted instance left), boot_volume_holder, images (create_image / describe_image); the catalogue (availability domains,
platform images, shapes, subnets) comes from OciCatalogMixin in oci_catalog.py. Errors are
classified by oci_errors.classify.

The SDK is imported on the first call, never at module import: it is an install extra (`oci`),
and an FC / Lambda deployment that serves no OCI target never pays its import (cold start).
SDK retries are off (oci.retry.NoneRetryStrategy, passed to every client): exactly one layer retries, and it is ours.
The adapter never sleeps, never retries, never decides.

Clients hold a requests.Session, which is not safe to share between threads or forked processes,
so clients are cached per (process, thread, region, service) like AwsCloud's.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from responder.clouds.base import (TOKEN_TAG, Capabilities, ImageInfo, InstanceInfo,
    InstanceSummary, LaunchRequest, LaunchResult)
from responder.clouds.gate import OPEN_GATE, CallGate, through_gate
from responder.clouds.oci_catalog import OciCatalogMixin, Unsupported
from responder.clouds.oci_errors import classify, classify_transport
from responder.clouds.one_by_one import OneByOne
from responder.errors import Invalid, NotFound
from responder.model import Market, Offering

# Instance.lifecycleState → the neutral words of InstanceSummary.
STATES = {"PROVISIONING": "pending", "STARTING": "pending", "MOVING": "pending", "CREATING_IMAGE": "running",
          "RUNNING": "running", "STOPPING": "stopping", "STOPPED": "stopped", "TERMINATING": "terminated",
          "TERMINATED": "terminated"}
IMAGE_STATES = {"PROVISIONING": "creating", "IMPORTING": "creating", "EXPORTING": "available",
                "AVAILABLE": "available", "DISABLED": "failed", "DELETED": "failed"}
SERVICES = {"compute": ("oci.core", "ComputeClient"), "network": ("oci.core", "VirtualNetworkClient"),
            "identity": ("oci.identity", "IdentityClient"), "blockstorage": ("oci.core", "BlockstorageClient")}
PAGE_LIMIT = 100


class OciCloud(OciCatalogMixin, Unsupported, OneByOne):
    """CloudPort for OCI Compute: one instance per LaunchInstance, offerings are static ADs."""

    cloud = "oci"
    # LaunchInstance takes one shape in one AD; ListShapes says where a shape is sold, not stock.
    gate: CallGate = OPEN_GATE  # the API budget, when the runner gives it one
    capabilities = Capabilities(offerings_are_static=True)

    def __init__(self, user: str, fingerprint: str, tenancy: str, region: str, key_file: str,
                 pass_phrase: str = "", compartment: str = "", endpoint: str = "", timeout: float = 10.0):
        self._config = {"user": user, "fingerprint": fingerprint, "tenancy": tenancy, "region": region,
                        "key_file": key_file, "pass_phrase": pass_phrase or None}
        self.region = region
        self.compartment = compartment or tenancy
        self._endpoint = endpoint.rstrip("/")
        self._timeout = timeout
        self._local = threading.local()

    @classmethod
    def from_settings(cls, settings) -> "OciCloud":
        return cls(settings.oci_user, settings.oci_fingerprint, settings.oci_tenancy, settings.oci_region,
                   settings.oci_key_file, settings.oci_key_passphrase, settings.oci_compartment, settings.oci_endpoint)

    def __repr__(self) -> str:  # the key file's path is harmless; its passphrase is not shown
        return f"OciCloud(region={self.region!r}, endpoint={self._endpoint!r})"

    # -- plumbing --------------------------------------------------------------------------
    def _client(self, region: str, service: str):
        clients = self._local.__dict__.setdefault("clients", {})
        key = (os.getpid(), region, service)
        if key not in clients:
            # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
            import importlib

            # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
            import oci.retry

            module, name = SERVICES[service]
            kwargs: dict[str, Any] = {"retry_strategy": oci.retry.NoneRetryStrategy(),
                                      "timeout": (self._timeout, self._timeout)}
            if self._endpoint:  # the sandbox: one base URL for every service; other regions under it
                kwargs["service_endpoint"] = (self._endpoint if region == self.region
                                              else f"{self._endpoint}/{region}")
            try:
                clients[key] = getattr(importlib.import_module(module), name)({**self._config, "region": region},
                                                                                **kwargs)
            except Exception as err:  # a key the SDK cannot load, an invalid config
                raise classify_transport(err, name, f"making the OCI {service} client") from err
        return clients[key]

    def _call(self, region: str, service: str, operation: str, doing: str, *args: Any, **kwargs: Any):
        # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
        import oci.exceptions

        client = self._client(region, service)
        with through_gate(self.gate, self.cloud, region, operation):  # the API budget: may hold the call back
            try:
                return getattr(client, operation)(*args, **kwargs)
            except oci.exceptions.ServiceError as err:
                raise classify(err, doing) from err
            except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout,
                    oci.exceptions.ClientError) as err:
                raise classify_transport(err, operation, doing) from err

    def _pages(self, region: str, service: str, operation: str, doing: str, *args: Any, **kwargs: Any) -> list:
        """Every item of a paged list call, following opc-next-page."""
        items: list = []
        page = None
        while True:
            answer = self._call(region, service, operation, doing, *args, limit=PAGE_LIMIT, page=page, **kwargs)
            items.extend(answer.data)
            page = answer.next_page
            if not page:
                return items

    # -- instances -------------------------------------------------------------------------
    def describe_instance(self, region: str, instance_id: str) -> InstanceInfo:
        raw = self._call(region, "compute", "get_instance", f"describing instance {instance_id}", instance_id).data
        preemptible = raw.preemptible_instance_config is not None
        config = raw.shape_config
        tags = tuple(sorted((raw.freeform_tags or {}).items()))
        source = raw.source_details
        metadata = raw.metadata or {}
        subnet, private_ip, public_ip = self._primary_vnic(region, raw.compartment_id, raw.id)
        action = getattr(raw.preemptible_instance_config, "preemption_action", None)
        return InstanceInfo(
            instance_id=raw.id, region=region, zone=raw.availability_domain, instance_type=raw.shape,
            status=raw.lifecycle_state, spot=preemptible,
            # A preemptible instance that OCI is taking back goes straight to STOPPING / TERMINATING
            # (https://docs.oracle.com/en-us/iaas/Content/Compute/Concepts/preemptible.htm).
            reclaiming=preemptible and raw.lifecycle_state in ("STOPPING", "TERMINATING", "TERMINATED"),
            cpu=int(config.ocpus or 0) if config else 0,
            memory_mib=int((config.memory_in_gbs or 0) * 1024) if config else 0,
            architecture="arm64" if ".A" in raw.shape else "x86_64",
            account=raw.compartment_id, name=raw.display_name or "", tags=tags,
            image_id=(getattr(source, "image_id", "") or raw.image_id or ""),
            system_disk_size=int(getattr(source, "boot_volume_size_in_gbs", 0) or 0),
            ocpus=float(config.ocpus or 0) if config else 0.0, subnet_id=subnet, private_ip=private_ip,
            public_ip=public_ip, ssh_public_key=metadata.get("ssh_authorized_keys", ""),
            user_data=metadata.get("user_data", ""),
            boot_volume_preserved=bool(getattr(action, "preserve_boot_volume", False)))

    def _primary_vnic(self, region: str, compartment: str, instance_id: str) -> tuple[str, str, str]:
        """(subnet id, private IP, public IP) of the instance's primary VNIC. GetInstance names
        none of them ("To retrieve public and private IP addresses for an instance, use the
        ListVnicAttachments operation to get the VNIC ID for the instance, and then call GetVnic",
        GetInstance API reference): each attachment has its subnetId and vnicId, and GetVnic says
        which VNIC is the primary and its addresses. The primary is
        made at launch, so it is the oldest attachment; its subnetId is kept once the VNIC is
        gone (a terminated instance's attachment is DETACHED, its VNIC may be deleted): the
        subnet is still known, the addresses are not."""
        doing = f"reading the network of instance {instance_id}"
        attachments = sorted(self._pages(region, "compute", "list_vnic_attachments", doing, compartment,
                                         instance_id=instance_id), key=lambda a: str(a.time_created))
        for attachment in attachments:
            if not attachment.vnic_id:  # still ATTACHING: no VNIC id yet
                continue
            try:
                vnic = self._call(region, "network", "get_vnic", doing, attachment.vnic_id).data
            except NotFound:
                continue
            if vnic.is_primary:
                return vnic.subnet_id or attachment.subnet_id or "", vnic.private_ip or "", vnic.public_ip or ""
        return (attachments[0].subnet_id or "") if attachments else "", "", ""

    def list_instances(self, region: str, tag_key: str = "", names: tuple[str, ...] = ()) -> list[InstanceSummary]:
        """Instances carrying freeform tag `tag_key`, or displayed as one of `names` (one listing
        per name: ListInstances filters on one displayName); terminated ones are left out."""
        if not tag_key and not names:
            return []
        doing = "listing instances of standing targets"
        if tag_key:
            raw = [i for i in self._pages(region, "compute", "list_instances", doing, self.compartment)
                   if tag_key in (i.freeform_tags or {})]
        else:
            raw = [i for n in names
                   for i in self._pages(region, "compute", "list_instances", doing, self.compartment, display_name=n)]
        found = []
        for i in raw:
            state = STATES.get(i.lifecycle_state, "pending")
            if state != "terminated":
                found.append(InstanceSummary(i.id, i.shape, i.availability_domain, state, i.display_name or "",
                                             tuple(sorted((i.freeform_tags or {}).items()))))
        return found

    def instance_states(self, region: str, instance_ids: list[str]) -> dict[str, str]:
        """lifecycleState per id; ids OCI no longer knows are absent."""
        states: dict[str, str] = {}
        for instance_id in instance_ids:
            try:
                states[instance_id] = self._call(region, "compute", "get_instance", f"reading the state of {instance_id}",
                                                 instance_id).data.lifecycle_state
            except NotFound:
                continue
        return states

    def find_launched(self, region: str, client_token: str) -> tuple[str, ...]:
        listed = self._pages(region, "compute", "list_instances", f"looking up the launch {client_token}",
                             self.compartment)
        return tuple(sorted(i.id for i in listed if (i.freeform_tags or {}).get(TOKEN_TAG) == client_token
                            and STATES.get(i.lifecycle_state) != "terminated"))

    def terminate_instance(self, region: str, instance_id: str) -> None:
        self._call(region, "compute", "terminate_instance", f"terminating {instance_id}", instance_id,
                   preserve_boot_volume=False)

    # -- launch ----------------------------------------------------------------------------
    def launch(self, region: str, request: LaunchRequest) -> LaunchResult:
        """One LaunchInstance of request.offerings[0]; opc-retry-token = the request's token, so a
        retried launch returns the first one's instance instead of buying a second."""
        if request.count != 1:
            raise Invalid("InvalidParameter", f"OCI launches one instance per call, not {request.count}",
                          "LaunchInstance")
        offering = request.offerings[0]
        subnets = dict(request.subnet_by_zone)
        subnet = subnets.get(offering.zone) or subnets.get("", "")
        if not subnet:
            raise Invalid("MissingParameter", f"no subnet for availability domain {offering.zone}", "LaunchInstance")
        details = self._launch_details(request, offering, subnet)
        doing = f"launching {offering} as {request.source.name or request.source.instance_id}"
        if request.dry_run:  # OCI has no dry run: the request is built (and so checked) but not sent
            return LaunchResult(instance_ids=(), offering=None)
        raw = self._call(region, "compute", "launch_instance", doing, details,
                         opc_retry_token=request.client_token).data
        return LaunchResult(instance_ids=(raw.id,), offering=Offering(raw.shape, raw.availability_domain,
                                                                       offering.market))

    def _launch_details(self, request: LaunchRequest, offering: Offering, subnet: str):
        # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
        from oci.core import models

        # extra_tags may name the token (TOKEN_TAG) of the claim a fallback launch answers for.
        tags = dict(request.source.tags) | {TOKEN_TAG: request.client_token} | dict(request.extra_tags)
        shape_config = None
        if request.shape_ocpus or request.shape_memory_gb:
            shape_config = models.LaunchInstanceShapeConfigDetails(ocpus=request.shape_ocpus or None,
                                                                   memory_in_gbs=request.shape_memory_gb or None)
        metadata = {"ssh_authorized_keys": request.ssh_public_key} if request.ssh_public_key else {}
        if request.source.user_data:  # base64 cloud-init, as the metadata's user_data takes it
            metadata["user_data"] = request.source.user_data
        preemptible = None
        if offering.market == Market.SPOT:
            preemptible = models.PreemptibleInstanceConfigDetails(
                preemption_action=models.TerminatePreemptionAction(preserve_boot_volume=False))
        return models.LaunchInstanceDetails(
            availability_domain=offering.zone, compartment_id=self.compartment, shape=offering.instance_type,
            display_name=request.source.name or None, freeform_tags=tags, shape_config=shape_config,
            source_details=self._source_details(request),
            create_vnic_details=models.CreateVnicDetails(subnet_id=subnet),
            metadata=metadata or None,
            preemptible_instance_config=preemptible)

    @staticmethod
    def _source_details(request: LaunchRequest):
        # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
        from oci.core import models

        if request.boot_volume_id:  # InstanceSourceViaBootVolumeDetails: the volume's size is its own
            return models.InstanceSourceViaBootVolumeDetails(boot_volume_id=request.boot_volume_id)
        return models.InstanceSourceViaImageDetails(image_id=request.image_id,
                                                    boot_volume_size_in_gbs=request.boot_volume_gb or None)

    def preserved_boot_volume(self, region: str, info: InstanceInfo) -> str:
        """The id of the boot volume a terminated instance left AVAILABLE and detached ("" when
        none: not preserved, deleted, or still attached). GetInstance does not name it:
        ListBootVolumeAttachments (by AD, compartment and instance id) does, and the attachment
        stays listed once DETACHED; GetBootVolume says whether the volume is still there."""
        if not info.boot_volume_preserved:
            return ""
        doing = f"reading the boot volume of instance {info.instance_id}"
        attachments = self._pages(region, "compute", "list_boot_volume_attachments", doing, info.zone,
                                  info.account or self.compartment, instance_id=info.instance_id)
        for attachment in attachments:
            try:
                volume = self._call(region, "blockstorage", "get_boot_volume", doing, attachment.boot_volume_id).data
            except NotFound:
                continue
            if volume.lifecycle_state == "AVAILABLE" and attachment.lifecycle_state in ("DETACHING", "DETACHED"):
                return volume.id
        return ""

    def boot_volume_holder(self, region: str, zone: str, volume_id: str) -> str:
        """The lifecycleState of the instance `volume_id` is attached to ("" when none is listed):
        a LaunchInstance refused with 409 Conflict waits for a holder that is going away."""
        doing = f"reading what holds boot volume {volume_id}"
        attachments = self._pages(region, "compute", "list_boot_volume_attachments", doing, zone, self.compartment,
                                  boot_volume_id=volume_id)
        for attachment in attachments:
            if attachment.lifecycle_state in ("ATTACHING", "ATTACHED", "DETACHING"):
                try:
                    return self._call(region, "compute", "get_instance", doing, attachment.instance_id).data.lifecycle_state
                except NotFound:
                    continue
        return ""

    # -- images ----------------------------------------------------------------------------
    def create_image(self, region: str, instance_id: str, name: str, client_token: str,
                     tags: tuple[tuple[str, str], ...] = ()) -> str:
        # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
        from oci.core import models

        details = models.CreateImageDetails(compartment_id=self.compartment, instance_id=instance_id,
                                            display_name=name, freeform_tags=dict(tags) or None)
        return self._call(region, "compute", "create_image", f"creating image {name} of {instance_id}", details,
                          opc_retry_token=client_token).data.id

    def describe_image(self, region: str, image_id: str) -> ImageInfo:
        raw = self._call(region, "compute", "get_image", f"reading image {image_id}", image_id).data
        return ImageInfo(image_id=raw.id, state=IMAGE_STATES.get(raw.lifecycle_state, "creating"))
