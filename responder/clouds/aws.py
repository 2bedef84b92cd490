"""The AWS adapter: CloudPort over boto3's EC2 client.

Parts: AwsCloud — describe_instance, create_image / describe_image, instance_types,
offerings_with_stock, subnets, launch (CreateFleet instant with an on-the-fly launch template),
instance_states, fleet_instances (the running instances of a tag), create / modify / describe / cancel /
list reservations (ODCRs), and the AWS-only
placement_scores, spot_prices, associate_address; protect and retention come from aws_protect, EBS
volumes from aws_disks, hourly prices from aws_prices (spot price history and the Price List API).
Errors are classified by aws_errors.classify.

botocore's own retries are off (total_max_attempts=1): exactly one layer retries, and it is the engine.
The adapter never sleeps, never retries, never decides.

Clients: boto3 sessions are not thread-safe ("Session objects are not thread safe and should not be
shared across threads and processes",
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/session.html#multithreading-or-multiprocessing-with-sessions),
and the web server calls the adapter from many threads and, under gunicorn, from forked workers.
So the session is made lazily in the process that uses it, only touched under a lock, and clients
are cached per (process, thread, region). One session per thread would also be safe, but each
loads the EC2 service model again (about 0.15 s and 30 MB a thread); a further client from a
warm session costs about 6 ms. boto3 itself is imported when the first client is made, not when
the adapter is built, so an app that never calls AWS never pays its import.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from responder.clouds import spot_bands
from responder.clouds.aws_batch import AwsBatchMixin, instance_info
from responder.clouds.aws_capacity import OWNED_TAG, AwsCapacityMixin
from responder.clouds.aws_capacity import tag_list as _tags
from responder.clouds.aws_disks import AwsDisksMixin
from responder.clouds.aws_errors import classify, classify_transport, is_no_capacity
from responder.clouds.aws_launch import fleet_request, is_burstable, launch_template_data, template_name
from responder.clouds.aws_prices import AwsPricesMixin
from responder.clouds.aws_protect import CLAIM_TAG, AwsProtectMixin
from responder.clouds.base import (TOKEN_TAG, Capabilities, ImageInfo, InstanceInfo,
    InstanceTypeSpec, LaunchRequest, LaunchResult, Subnet)
from responder.clouds.gate import OPEN_GATE, CallGate, through_gate
from responder.clouds.inventory import AwsInventoryMixin
from responder.errors import NoCapacity, NotFound
from responder.model import Market, Offering



class AwsCloud(AwsCapacityMixin, AwsInventoryMixin, AwsProtectMixin, AwsDisksMixin, AwsBatchMixin,
               AwsPricesMixin):
    """CloudPort for EC2; reservations and the AWS-only verbs come from AwsCapacityMixin, protect
    and retention from AwsProtectMixin, EBS volumes from AwsDisksMixin."""

    cloud = "aws"
    # One CreateFleet carries every ranked (type x subnet) override; DescribeInstanceTypeOfferings
    # says where a type is sold, not live stock; placement scores and Elastic IPs exist.
    gate: CallGate = OPEN_GATE  # the API budget, when the runner gives it one
    capabilities = Capabilities(launches_many_offerings=True, offerings_are_static=True,
                                placement_scores=True, elastic_ips=True,
                                clone_parts=("user_data", "elastic_ip", "credit"),
                                reads_ahead=("describe_disks", "latest_image", "elastic_ip"),
                                root_look_page=50)  # DescribeReplaceRootVolumeTasks: MaxResults at most 50

    def __init__(self, endpoint_url: str | None = None, *, session: Any = None,
                 timeout: float = 10.0, advisor_url: str = spot_bands.ADVISOR_URL, **session_kwargs: Any):
        """`session`: a boto3 Session to make clients from (used under the lock, in this process
        only); otherwise one is made from `session_kwargs` on first use, per process. `advisor_url`:
        where the Spot Instance Advisor's data is read (RESPONDER_SPOT_ADVISOR_URL)."""
        self.advisor = spot_bands.AdvisorDocument(advisor_url, timeout)
        self._given_session = session
        self._session_kwargs = session_kwargs
        self._endpoint_url = endpoint_url
        self._timeout = timeout
        self._lock = threading.Lock()  # guards the session: client creation goes through it
        self._session_of_pid: tuple[int, Any] | None = None
        self._local = threading.local()  # this thread's clients: {(pid, region): client}
        self._zone_names: dict[str, dict[str, str]] = {}
        self._ebs_optimized: dict[tuple[str, str], bool] = {}

    def __repr__(self) -> str:  # session_kwargs may hold keys: never show them
        return f"AwsCloud(endpoint_url={self._endpoint_url!r})"

    # -- plumbing --------------------------------------------------------------------------
    def _ec2(self, region: str, service: str = "ec2"):
        """This thread's client of `service` (EC2 unless named) for region, made on first use."""
        clients = self._local.__dict__.setdefault("clients", {})
        key = (os.getpid(), region, service)
        client = clients.get(key)
        if client is None:
            client = clients[key] = self._new_client(region, service)
        return client

    def _new_client(self, region: str, service: str = "ec2"):
        # Lazy: botocore loads with the first AWS client, not at start.
        from botocore.config import Config

        # total_max_attempts=1: one attempt, zero retries. (botocore's `max_attempts` counts
        # *retries* in legacy mode, so {"max_attempts": 1} would still send a failed call twice.)
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                        connect_timeout=self._timeout, read_timeout=self._timeout)
        with self._lock:
            pid = os.getpid()
            if self._session_of_pid is None or self._session_of_pid[0] != pid:
                # A forked child must not reuse its parent's session or connection pools.
                self._session_of_pid = (pid, self._given_session or _new_session(**self._session_kwargs))
            return self._session_of_pid[1].client(service, region_name=region, endpoint_url=self._endpoint_url,
                                                  config=config)

    def _call(self, region: str, operation: str, doing: str, **kwargs: Any) -> dict[str, Any]:
        return self._call_on("ec2", region, operation, doing, **kwargs)

    def _call_on(self, service: str, region: str, operation: str, doing: str, **kwargs: Any) -> dict[str, Any]:
        """One call of `service`'s client in region (EC2 everywhere but the Price List API)."""
        try:
            client = self._ec2(region, service)
        except BotoCoreError as err:  # no client at all (a region botocore cannot resolve)
            raise classify_transport(err, operation, doing) from err
        action = client.meta.method_to_api_mapping.get(operation, operation)
        with through_gate(self.gate, self.cloud, region, action):  # the API budget: may hold the call back
            try:
                return getattr(client, operation)(**kwargs)
            except ClientError as err:
                raise classify(err, doing) from err
            except BotoCoreError as err:  # no HTTP answer at all
                raise classify_transport(err, action, doing) from err

    def _pages(self, region: str, operation: str, key: str, doing: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self._call(region, operation, doing, **kwargs)
            items.extend(page.get(key, []))
            if not page.get("NextToken"):
                return items
            kwargs["NextToken"] = page["NextToken"]

    # -- instances -------------------------------------------------------------------------
    def describe_instance(self, region: str, instance_id: str) -> InstanceInfo:
        found = self.describe_instances(region, (instance_id,)).get(instance_id)
        if found is None:
            raise NotFound("InvalidInstanceID.NotFound", f"describing instance {instance_id}: no such instance",
                           "DescribeInstances")
        return found

    def clone_details(self, region: str, info: InstanceInfo, parts: tuple[str, ...] | None = None) -> InstanceInfo:
        """User data and the Elastic IP (one call per part): read after CreateImage, while the image
        builds, so verification stays two calls (the instance and its spot request)."""
        doing = f"reading clone details of {info.instance_id}"
        for part in parts or self.capabilities.clone_parts:
            if part == "user_data":
                user_data = self._call(region, "describe_instance_attribute", doing, InstanceId=info.instance_id,
                                       Attribute="userData").get("UserData", {}).get("Value", "")
                info = dataclasses.replace(info, user_data=user_data)
            elif part == "credit":
                info = dataclasses.replace(info, credit_mode=self._credit_mode(region, info))
            elif part == "elastic_ip":
                addresses = self._call(region, "describe_addresses", doing,
                                       Filters=[{"Name": "instance-id", "Values": [info.instance_id]}])["Addresses"]
                allocation = next((a.get("AllocationId", "") for a in addresses if a.get("AllocationId")), "")
                info = dataclasses.replace(info, elastic_ip_allocation=allocation)
        return info

    def _credit_mode(self, region: str, info: InstanceInfo) -> str:
        """standard / unlimited of a burstable (T) original; no call for any other type."""
        if not is_burstable(info.instance_type):
            return ""
        rows = self._call(region, "describe_instance_credit_specifications", f"reading the credit mode of "
                          f"{info.instance_id}", InstanceIds=[info.instance_id])["InstanceCreditSpecifications"]
        return rows[0].get("CpuCredits", "") if rows else ""

    def instance_states(self, region: str, instance_ids: list[str]) -> dict[str, str]:
        """State name per instance id; ids EC2 no longer knows are absent from the result."""
        if not instance_ids:
            return {}
        found = self._pages(region, "describe_instances", "Reservations", f"reading states of {len(instance_ids)} instances",
                            Filters=[{"Name": "instance-id", "Values": list(instance_ids)}])
        return {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}

    def find_launched(self, region: str, client_token: str) -> tuple[str, ...]:
        found = self._pages(region, "describe_instances", "Reservations", f"looking up the launch {client_token}",
                            Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [client_token]},
                                     {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        return tuple(sorted(i["InstanceId"] for r in found for i in r["Instances"]))

    def fleet_instances(self, region: str, key: str, value: str) -> list[InstanceInfo]:
        """No DescribeSpotInstanceRequests: an interruption in flight is the claim key's business."""
        found = self._pages(region, "describe_instances", "Reservations", f"reading the fleet tagged {key}={value}",
                            Filters=[{"Name": f"tag:{key}", "Values": [value]},
                                     {"Name": "instance-state-name", "Values": ["running"]}])
        return [instance_info(region, r.get("OwnerId", ""), i, "") for r in found for i in r["Instances"]]

    def take_charge(self, region: str, resource_ids: tuple[str, ...]) -> None:
        """CreateTags responder:managed=true (idempotent): the IAM policy limits TerminateInstances,
        DeleteVolume and DetachVolume to resources carrying it, and lets CreateTags write that one tag."""
        if resource_ids:
            self._call(region, "create_tags", f"taking charge of {', '.join(resource_ids)}",
                       Resources=list(resource_ids), Tags=_tags((OWNED_TAG,)))

    def terminate_instance(self, region: str, instance_id: str) -> None:
        self._call(region, "terminate_instances", f"terminating {instance_id}", InstanceIds=[instance_id])

    # -- images ----------------------------------------------------------------------------
    def create_image(self, region: str, instance_id: str, name: str, client_token: str,
                     tags: tuple[tuple[str, str], ...] = ()) -> str:
        """CreateImage has no ClientToken, so the caller's deterministic `name` is the idempotency
        key: EC2 refuses a second image of that name (InvalidAMIName.Duplicate), and then the one we
        already made is returned. Asking first would put a call before every first attempt.
        The tags go on the AMI and on the snapshots it is made of (ResourceType image and snapshot):
        retention finds a snapshot whose AMI is gone by them."""
        doing = f"creating image {name} of {instance_id}"
        tags = tuple(tags) + (OWNED_TAG,) if tags and OWNED_TAG not in tags else tuple(tags)  # retention may delete it
        kwargs: dict[str, Any] = {"InstanceId": instance_id, "Name": name, "NoReboot": True,
                                  "Description": f"responder image of {instance_id}"}
        if tags:
            kwargs["TagSpecifications"] = [{"ResourceType": kind, "Tags": _tags(tags)} for kind in ("image", "snapshot")]
        try:
            return self._call(region, "create_image", doing, **kwargs)["ImageId"]
        except Exception as err:  # a concurrent creator won the name: theirs is ours
            if getattr(err, "code", "") == "InvalidAMIName.Duplicate":
                found = self._image_named(region, name, tags, doing)
                if found:
                    return found
            raise

    def _image_named(self, region: str, name: str, tags: tuple[tuple[str, str], ...], doing: str) -> str:
        """The AMI of that name carrying our tags: one of another's that took the name is not ours
        (the Duplicate error then stands)."""
        filters = [{"Name": "name", "Values": [name]}] + [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags]
        images = self._call(region, "describe_images", doing, Owners=["self"], Filters=filters)["Images"]
        return images[0]["ImageId"] if images else ""

    def describe_image(self, region: str, image_id: str) -> ImageInfo:
        found = self.describe_images(region, (image_id,)).get(image_id)
        if found is None:
            raise NotFound("InvalidAMIID.NotFound", f"image {image_id} does not exist", "DescribeImages")
        return found

    def latest_image(self, region: str, instance_id: str) -> str:
        """The newest available AMI the responder made of this instance (the state is read, not
        filtered on, so a pending one is never taken)."""
        images = self._call(region, "describe_images", f"finding the latest image of {instance_id}", Owners=["self"],
                            Filters=[{"Name": "tag:responder:source-instance", "Values": [instance_id]}])["Images"]
        ready = sorted((i for i in images if i.get("State") == "available"),
                       key=lambda i: i.get("CreationDate", ""), reverse=True)
        return ready[0]["ImageId"] if ready else ""

    # -- catalog ---------------------------------------------------------------------------
    def instance_types(self, region: str, names: list[str] | None = None) -> dict[str, InstanceTypeSpec]:
        """Specs of `names`, or of every type offered in the region (paged, 100 per call)."""
        if names is None:
            offers = self._pages(region, "describe_instance_type_offerings", "InstanceTypeOfferings",
                                 "listing instance types", LocationType="region")
            names = sorted({o["InstanceType"] for o in offers})
        specs: dict[str, InstanceTypeSpec] = {}
        for start in range(0, len(names), 100):
            for raw in self._pages(region, "describe_instance_types", "InstanceTypes", "describing instance types",
                                   InstanceTypes=names[start:start + 100]):
                archs = raw.get("ProcessorInfo", {}).get("SupportedArchitectures", ["x86_64"])
                name = raw["InstanceType"]
                self._ebs_optimized[(region, name)] = raw.get("EbsInfo", {}).get("EbsOptimizedSupport") == "default"
                specs[name] = InstanceTypeSpec(
                    instance_type=name, family=name.split(".")[0], cpu=int(raw.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
                    memory_gib=raw.get("MemoryInfo", {}).get("SizeInMiB", 0) / 1024.0,
                    architecture="x86_64" if "x86_64" in archs else archs[0])
        return specs

    def offerings_with_stock(self, region: str, instance_types: list[str], market: Market) -> set[tuple[str, str]]:
        """(type, zone) pairs EC2 sells. EC2 does not publish stock: for spot, weigh these with
        placement_scores; for on-demand, a refusal at launch is the only signal."""
        offers = self._pages(region, "describe_instance_type_offerings", "InstanceTypeOfferings",
                             "listing offerings", LocationType="availability-zone",
                             Filters=[{"Name": "instance-type", "Values": list(instance_types)}])
        return {(o["InstanceType"], o["Location"]) for o in offers}

    def subnets(self, region: str, vpc_id: str) -> list[Subnet]:
        raw = self._pages(region, "describe_subnets", "Subnets", f"listing subnets of {vpc_id}",
                          Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        return [Subnet(s["SubnetId"], s["AvailabilityZone"], s["VpcId"]) for s in raw]

    # -- launch ----------------------------------------------------------------------------
    def launch(self, region: str, request: LaunchRequest) -> LaunchResult:
        """One CreateFleet (instant) with an override per (offering × subnet) in preference order.

        Offerings of a market other than the first one's are left out (one fleet = one market).
        Returns the instances launched and the overrides EC2 refused; raises NoCapacity when every
        override was refused for capacity, or the classified error of the first other refusal.
        """
        market = request.offerings[0].market
        subnet_of = dict(request.subnet_by_zone)
        offerings = [o for o in request.offerings if o.market == market and o.zone in subnet_of]
        if request.source.credit_mode and offerings:
            # One template serves every override, and its CreditSpecification fits T types only:
            # a fleet keeps the overrides of the first one's kind (the others are tried next call).
            kind = is_burstable(offerings[0].instance_type)
            offerings = [o for o in offerings if is_burstable(o.instance_type) == kind]
        if not offerings:
            raise NoCapacity("NoSubnet", "no offering has a subnet in its zone", "CreateFleet")
        doing = f"launching {request.count} x {offerings[0]} for {request.source.instance_id}"
        name = template_name(request.client_token)
        data = launch_template_data(request)
        if request.dry_run:
            try:
                self._call(region, "create_launch_template", doing, LaunchTemplateName=name,
                           LaunchTemplateData=data, DryRun=True)
            except Exception as err:
                if getattr(err, "code", "") != "DryRunOperation":
                    raise
            return LaunchResult(instance_ids=(), offering=None)
        # Tagged at create time: retention finds the templates it made by responder:managed, and the
        # task that used one by responder:claim (never by the name alone).
        owned = (OWNED_TAG, *((k, v) for k, v in request.extra_tags if k == CLAIM_TAG))
        template_id = self._ensure_template(region, name, data, request.client_token, owned, doing)
        answer = self._call(region, "create_fleet", doing,
                            **fleet_request(template_id, offerings, subnet_of, market, request.count,
                                            request.client_token, max_price=request.source.spot_price_limit))
        zone_of = {v: k for k, v in subnet_of.items()}
        ids: list[str] = []
        got: Offering | None = None
        for group in answer.get("Instances", []):
            ids.extend(group.get("InstanceIds", []))
            ov = group.get("LaunchTemplateAndOverrides", {}).get("Overrides", {})
            got = got or Offering(group.get("InstanceType") or ov.get("InstanceType", ""),
                                  ov.get("AvailabilityZone") or zone_of.get(ov.get("SubnetId", ""), ""), market)
        refused = tuple(
            (Offering(e["LaunchTemplateAndOverrides"]["Overrides"].get("InstanceType", ""),
                      e["LaunchTemplateAndOverrides"]["Overrides"].get("AvailabilityZone")
                      or zone_of.get(e["LaunchTemplateAndOverrides"]["Overrides"].get("SubnetId", ""), ""), market),
             e.get("ErrorCode", ""))
            for e in answer.get("Errors", []) if e.get("LaunchTemplateAndOverrides", {}).get("Overrides"))
        if not ids:
            _raise_refusal(answer.get("Errors", []), doing)
        return LaunchResult(instance_ids=tuple(ids), offering=got, refused=refused)

    def _ensure_template(self, region: str, name: str, data: dict[str, Any], token: str,
                         tags: tuple[tuple[str, str], ...], doing: str) -> str:
        """Create first (one call on the normal path); a retried launch finds the name taken and
        reuses the template of the first attempt."""
        try:
            created = self._call(region, "create_launch_template", doing, LaunchTemplateName=name, ClientToken=token,
                                 LaunchTemplateData=data,
                                 TagSpecifications=[{"ResourceType": "launch-template", "Tags": _tags(tags)}])
            return created["LaunchTemplate"]["LaunchTemplateId"]
        except Exception as err:
            if "AlreadyExists" not in getattr(err, "code", ""):
                raise
        found = self._call(region, "describe_launch_templates", doing,
                           Filters=[{"Name": "launch-template-name", "Values": [name]}])["LaunchTemplates"]
        return found[0]["LaunchTemplateId"]


def _new_session(**kwargs: Any):
    # Lazy: boto3 costs about 0.3 s of a start; it loads only when AWS is used.
    import boto3.session
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", _shared_loader(core))
    return boto3.session.Session(botocore_session=core, **kwargs)


_LOADER: list[Any] = []  # the process's one botocore data loader, made with the first session


def _shared_loader(core):
    """One botocore data loader for every session of the process. A session's loader parses the
    EC2 service model and the endpoint tables (megabytes of JSON, about 0.2 s of CPU) and caches
    them for that session only; every adapter built again (a reloaded setting, each sandbox) would
    parse them anew. The models are read-only data, shared by a session's clients already, and the
    sessions themselves (credentials, pools) stay one per adapter and process."""
    if not _LOADER:
        _LOADER.append(core.get_component("data_loader"))
    return _LOADER[0]


def _raise_refusal(errors: list[dict[str, Any]], doing: str) -> None:

    if not errors:
        raise NoCapacity("UnfulfillableCapacity", f"{doing}: the fleet launched nothing", "CreateFleet")
    other = next((e for e in errors if not is_no_capacity(e.get("ErrorCode", ""))), None)
    first = other or errors[0]
    err = ClientError({"Error": {"Code": first.get("ErrorCode", ""), "Message": first.get("ErrorMessage", "")}},
                      "CreateFleet")
    summary = "; ".join(f"{e['LaunchTemplateAndOverrides']['Overrides'].get('InstanceType', '?')}"
                        f"/{e['LaunchTemplateAndOverrides']['Overrides'].get('SubnetId', '?')}: {e.get('ErrorCode')}"
                        for e in errors if e.get("LaunchTemplateAndOverrides"))
    raise classify(err, f"{doing}: {summary}")
