"""Capacity and time where moto has neither: launches that can be refused, images that take time.

Parts: offered_fn (which (type, zone) a scenario region sells), describe_offerings
(DescribeInstanceTypeOfferings from the scenario), run_instances (RunInstances consuming stock,
InsufficientInstanceCapacity as HTTP 500), create_fleet (CreateFleet instant, implemented here:
override pools filled in the order the allocation strategy takes them — aws_allocation; Priority
only where EC2 reads it — refused overrides reported in Errors[], instances created in moto),
ImageBook + create_image / describe_images (pending for image_build_seconds of scenario time,
then available — or failed when the source instance says `image_result: failed`).

Every handler takes an aws_ec2.Call and returns (status, body) or raises Ec2Error.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Callable

from responder.sandbox import aws_allocation, aws_clone, aws_retention, aws_scores
from responder.sandbox.aws_wire import Ec2Error, as_list, ec2_response, tags_from

# Keep EC2's default namespace (moto writes it without the trailing slash) when re-serializing.
for _ns in ("http://ec2.amazonaws.com/doc/2016-11-15/", "http://ec2.amazonaws.com/doc/2016-11-15"):
    ET.register_namespace("", _ns)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node, name: str):
    return next((c for c in node if _local(c.tag) == name), None)


def offered_fn(region) -> Callable[[str, str], bool]:
    """Scenario `instance_types` (optionally with `zones`) restrict the catalog; without them,
    moto's real per-AZ offerings apply."""
    zones = set(region.zones)
    listed = {t["type"]: (set(t["zones"]) if t.get("zones") else None) for t in region.instance_types}
    if listed:
        return lambda t, z: z in zones and t in listed and (listed[t] is None or z in listed[t])
    return lambda t, z: z in zones and (t, z) in _moto_catalogue(region.region)


@functools.cache
def _moto_catalogue(region_name: str) -> frozenset[tuple[str, str]]:
    """moto's (type, zone) offerings of a region: a static table, read once per process and region
    on its first question (a default sandbox has 37 regions, most never asked)."""
    # Lazy: moto loads in about 1.5 s; an Aliyun- or OCI-only sandbox never needs it.
    from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

    return frozenset((o["InstanceType"], o["Location"])
                     for o in INSTANCE_TYPE_OFFERINGS["availability-zone"].get(region_name, []))


def _scenario_region(call):
    return next(r for r in call.emulator.regions if r.region == call.region)


def describe_offerings(call) -> tuple[int, bytes]:
    region = _scenario_region(call)
    if not region.instance_types:
        return call.forward()
    location_type = call.p.get("LocationType", "region")
    rows = []
    for t in region.instance_types:
        for zone in region.zones:
            if call.view.offered(t["type"], zone):
                location = {"availability-zone": zone, "availability-zone-id": call.view.zone_ids.get(zone, zone)}
                rows.append({"InstanceType": t["type"], "LocationType": location_type,
                             "Location": location.get(location_type, region.region)})
    unique = {(r["InstanceType"], r["Location"]): r for r in rows}.values()
    filtered = [r for r in unique if all(_match(r, f) for f in as_list(call.p.get("Filter")))]
    return 200, ec2_response("DescribeInstanceTypeOfferings", {"InstanceTypeOfferings": filtered})


def _match(row: dict[str, str], f: dict[str, Any]) -> bool:
    key = {"instance-type": "InstanceType", "location": "Location"}.get(f.get("Name", ""))
    if key is None:
        return True
    return any(fnmatch.fnmatchcase(row[key], v) for v in as_list(f.get("Value")))


def _insufficient(instance_type: str, zone: str) -> Ec2Error:
    return Ec2Error("InsufficientInstanceCapacity",
                    f"We currently do not have sufficient {instance_type} capacity in the Availability Zone "
                    f"you requested ({zone}). Our system will be working on provisioning additional capacity.")


def _unsupported(instance_type: str, zone: str) -> Ec2Error:
    return Ec2Error("Unsupported", f"Your requested instance type ({instance_type}) is not supported in your "
                                   f"requested Availability Zone ({zone}).")


def _take(call, instance_type: str, zone: str, market: str, count: int) -> bool:
    """On-demand launches land in a matching open reservation first, as on EC2."""
    if market == "ondemand" and call.emulator.reservations[call.region].use_open(instance_type, zone, count):
        return True
    return call.view.stock.take(instance_type, zone, market, count)


def _refuse_gone_image(call, image_id: str) -> None:
    """EC2 launches nothing from a deregistered AMI ("After you deregister an AMI, it can't be used
    to launch new instances", DeregisterImage API reference); moto would launch from an id it no
    longer knows, so the sandbox answers as EC2 does for an id it cannot find."""
    if image_id and image_id in call.emulator.gone_images:
        raise Ec2Error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist", 400)


def deregister_image(call) -> tuple[int, bytes]:
    status, body = call.forward()
    if status < 400:
        call.emulator.gone_images.add(call.params.get("ImageId", ""))
    return status, body


def run_instances(call) -> tuple[int, bytes]:
    p = call.params
    image_id = p.get("ImageId", "")
    if not image_id and isinstance(call.p.get("LaunchTemplate"), dict):
        try:
            image_id = call.backend._get_template_from_args(call.p["LaunchTemplate"]).data.get("ImageId", "")
        except Exception:  # moto answers an unknown template itself, with the real error code
            image_id = ""
    _refuse_gone_image(call, image_id)
    instance_type = p.get("InstanceType", "m1.small")
    if p.get("SubnetId"):
        try:
            zone = call.backend.get_subnet(p["SubnetId"]).availability_zone
        except Exception:  # moto answers the unknown subnet itself, with the real error code
            return call.forward()
    else:
        zone = p.get("Placement.AvailabilityZone") or call.view.zones[0]
    market = "spot" if p.get("InstanceMarketOptions.MarketType") == "spot" else "ondemand"
    low, high = int(p.get("MinCount", "1")), int(p.get("MaxCount", p.get("MinCount", "1")))
    # RunInstances is refused for the same key pair, placement group and credit rules as a fleet's
    # override (the product launches through CreateFleet; an operator's own RunInstances must not
    # find a kinder EC2 here).
    asked = {"KeyName": p.get("KeyName"), "Placement": {"GroupName": p.get("Placement.GroupName")},
             "CreditSpecification": {"CpuCredits": p.get("CreditSpecification.CpuCredits")}}
    refusal = aws_clone.launch_refusal(call.backend, _scenario_region(call), asked, instance_type, zone)
    if refusal is not None:
        raise refusal
    if not call.view.offered(instance_type, zone):
        raise _unsupported(instance_type, zone)
    # EC2 launches as many as it can between MinCount and MaxCount.
    got = next((n for n in (high, call.view.stock.available(instance_type, zone, market), low)
                if low <= n <= high and _take(call, instance_type, zone, market, n)), 0)
    if not got:
        raise _insufficient(instance_type, zone)
    status, body = call.forward({"MinCount": str(got), "MaxCount": str(got)})
    if status >= 400:
        call.view.stock.give_back(instance_type, zone, market, got)
    return status, body


def create_fleet(call) -> tuple[int, bytes]:
    # A retried CreateFleet with the same ClientToken is answered by the middleware's token layer.
    for config in as_list(call.p.get("LaunchTemplateConfigs")):
        template = call.backend._get_template_from_args(config.get("LaunchTemplateSpecification", {})).data
        for override in as_list(config.get("Overrides")) or [{}]:
            _refuse_gone_image(call, override.get("ImageId") or template.get("ImageId", ""))
    return 200, ec2_response("CreateFleet", _fleet(call))


def _pools(call, market: str) -> list[aws_allocation.Pool]:
    """One pool per override (type × subnet/zone), with its free units and price right now."""
    backend, catalog = call.backend, aws_scores.type_catalog(call)
    pools = []
    for config in as_list(call.p.get("LaunchTemplateConfigs")):
        spec = config.get("LaunchTemplateSpecification", {})
        template = backend._get_template_from_args(spec).data
        for override in as_list(config.get("Overrides")) or [{}]:
            instance_type = override.get("InstanceType") or template.get("InstanceType", "")
            subnet_id = override.get("SubnetId") or template.get("SubnetId", "")
            zone = backend.get_subnet(subnet_id).availability_zone if subnet_id else override.get("AvailabilityZone", "")
            offered = call.view.offered(instance_type, zone)
            free = max(call.view.stock.available(instance_type, zone, market), 0) if offered else 0
            priority = override.get("Priority")
            pools.append(aws_allocation.Pool(
                None if priority in (None, "") else float(priority), len(pools), instance_type, zone, free,
                aws_allocation.price_of(call.emulator.scenario.raw, catalog, instance_type, zone, market),
                (spec, template, override, subnet_id, offered)))
    return pools


def _fleet(call) -> dict[str, Any]:
    """Fill the target from the override pools in the order the allocation strategy takes them
    (aws_allocation); pools tried and refused are reported in Errors[], as EC2 does."""
    p, backend = call.p, call.backend
    target = p.get("TargetCapacitySpecification", {})
    total = remaining = int(target.get("TotalTargetCapacity", "1"))
    spot = target.get("DefaultTargetCapacityType", "on-demand") == "spot"
    market, lifecycle = ("spot", "spot") if spot else ("ondemand", "on-demand")
    strategy = aws_allocation.strategy_of(p, market)
    instance_tags = tags_from(p, "instance")
    pools = _pools(call, market)
    order = aws_allocation.fill_order(strategy, pools, remaining)
    share = aws_allocation.diversified_share(strategy, pools, total)
    instances, errors, refused = [], [], set()
    for cap in ([share, None] if share else [None]):  # diversified: an even share first, then the rest
        for pool in order:
            if remaining <= 0:
                break
            if pool.position in refused:
                continue
            spec, template, override, subnet_id, offered = pool.payload
            instance_type, zone = pool.instance_type, pool.zone
            described = {"LaunchTemplateSpecification": dict(spec),
                         "Overrides": {k: v for k, v in override.items()
                                       if k in ("InstanceType", "SubnetId", "AvailabilityZone", "Priority")}}
            want = min(remaining, cap or remaining)
            count = min(want, max(call.view.stock.available(instance_type, zone, market), 0))
            refusal = aws_clone.launch_refusal(backend, _scenario_region(call), template, instance_type, zone)
            if refusal is not None:
                err = refusal
            elif not offered:
                err = _unsupported(instance_type, zone)
            elif market == "ondemand" and call.emulator.reservations[call.region].use_open(instance_type, zone, want):
                count, err = want, None
            elif count > 0 and call.view.stock.take(instance_type, zone, market, count):
                err = None
            else:
                err = _insufficient(instance_type, zone)
            if err is not None:
                refused.add(pool.position)
                errors.append({"LaunchTemplateAndOverrides": described, "Lifecycle": lifecycle,
                               "ErrorCode": err.code, "ErrorMessage": err.message})
                continue
            ids = _launch(backend, template, override, instance_type, subnet_id, zone, count, spot,
                          dict(_template_tags(template), **instance_tags))
            price = _max_price(call, override, instance_type, zone) if spot else ""
            aws_clone.apply_launch(backend, ids, template, price)
            remaining -= count
            instances.append({"LaunchTemplateAndOverrides": described, "Lifecycle": lifecycle, "InstanceIds": ids,
                              "InstanceType": instance_type, "Platform": "Linux/UNIX"})
    return {"FleetId": "fleet-" + uuid.uuid4().hex[:8] + "-" + uuid.uuid4().hex[:4], "Errors": errors,
            "Instances": instances}


def _max_price(call, override: dict[str, Any], instance_type: str, zone: str) -> str:
    """The override's MaxPrice; without one, EC2's default: the on-demand price."""
    if override.get("MaxPrice"):
        return str(override["MaxPrice"])
    catalog = aws_scores.type_catalog(call)
    return str(aws_allocation.price_of(call.emulator.scenario.raw, catalog, instance_type, zone, "ondemand"))


def _template_tags(template: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in as_list(template.get("TagSpecification")) + as_list(template.get("TagSpecifications")):
        if spec.get("ResourceType") == "instance":
            for tag in as_list(spec.get("Tag")) + as_list(spec.get("Tags")):
                out[tag["Key"]] = tag.get("Value", "")
    return out


def _launch(backend, template, override, instance_type, subnet_id, zone, count, spot, tags) -> list[str]:
    # Lazy: moto loads in about 1.5 s; an Aliyun- or OCI-only sandbox never needs it.
    from moto.ec2.utils import parse_user_data

    groups = as_list(template.get("SecurityGroupId")) + as_list(template.get("SecurityGroupIds"))
    kwargs: dict[str, Any] = dict(instance_type=instance_type, is_instance_type_default=False,
                                  key_name=template.get("KeyName"), security_group_ids=groups,
                                  tags={"instance": tags}, region_name=backend.region_name)
    if subnet_id:
        kwargs["subnet_id"] = subnet_id
    else:
        kwargs["placement"] = zone
    if spot:
        kwargs["lifecycle"] = "spot"
    image_id = override.get("ImageId") or template.get("ImageId")
    user_data = template.get("UserData") or None
    if isinstance(user_data, str) and type(user_data) is str:  # moto may already hold it decoded-typed
        user_data = parse_user_data(user_data)
    reservation = backend.run_instances(image_id, count, user_data, [], **kwargs)
    profile = template.get("IamInstanceProfile") or {}
    for instance in reservation.instances:
        if profile.get("Name") or profile.get("Arn"):
            backend.associate_iam_instance_profile(instance.id, iam_instance_profile_name=profile.get("Name"),
                                                   iam_instance_profile_arn=profile.get("Arn"))
    return [i.id for i in reservation.instances]


class ImageBook:
    """Build state of images created through the emulator, in scenario time."""

    def __init__(self, clock, build_seconds: float, seconds_for=None):
        self._clock = clock
        self._build = build_seconds
        self._seconds_for = seconds_for  # instance → its AMI's pending time from its volumes (aws_race), or None
        self._builds: dict[str, float] = {}
        self._result_of_source: dict[str, str] = {}
        self._images: dict[str, tuple[float, str]] = {}
        self._sources: dict[str, str] = {}
        self._lock = threading.Lock()
        self.naming = threading.Lock()  # CreateImage's name check and create, as one step

    def register_source(self, instance_id: str, result: str) -> None:
        self._result_of_source[instance_id] = result

    def created(self, image_id: str, instance_id: str) -> None:
        with self._lock:
            self._images[image_id] = (self._clock(), self._result_of_source.get(instance_id, "available"))
            self._sources[image_id] = instance_id
        build = self._seconds_for(instance_id) if self._seconds_for else None
        self._builds[image_id] = self._build if build is None else build

    def snapshot(self) -> list[dict[str, str]]:
        """Every image made through CreateImage: id, source instance and state."""
        with self._lock:
            ids = list(self._images)
        return [{"id": i, "instance": self._sources.get(i, ""), "state": self.state(i) or ""} for i in ids]

    def ready_at(self, image_id: str) -> float:
        """Scenario time the image completes (its snapshots with it)."""
        with self._lock:
            started = self._images.get(image_id, (self._clock(), ""))[0]
        return started + self._builds.get(image_id, self._build)

    def state(self, image_id: str) -> str | None:
        with self._lock:
            if image_id not in self._images:
                return None
            started, result = self._images[image_id]
        return "pending" if self._clock() - started < self._builds.get(image_id, self._build) else result


def create_image(call) -> tuple[int, bytes]:
    # EC2 image names are unique per account and region; moto does not check, EC2 does, and
    # atomically: two concurrent CreateImage of one name make one AMI (the check and the create
    # hold one lock here, or two tickers racing would both pass the check).
    name = call.params.get("Name", "")
    snapshot_tags = aws_retention.split_snapshot_tags(call)
    with call.emulator.images.naming:
        taken = next((ami.id for ami in list(call.backend.amis.values()) if name and ami.name == name), None)
        if taken:
            raise Ec2Error("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {taken}", 400)
        status, body = call.forward()
    match = re.search(rb"<imageId>([^<]+)</imageId>", body)
    if status < 400 and match:
        call.emulator.images.created(match.group(1).decode(), call.params.get("InstanceId", ""))
        aws_retention.stamp_image(call, match.group(1).decode(), snapshot_tags)
    return status, body


def describe_images(call) -> tuple[int, bytes]:
    status, body = call.forward()
    if status >= 400:
        return status, body
    root = ET.fromstring(body)
    ns = root.tag[:-len(_local(root.tag))]  # "{namespace}" or ""
    for item in root.iter(f"{ns}item"):
        image_id, state_node = _child(item, "imageId"), _child(item, "imageState")
        if image_id is None or state_node is None:
            continue
        state = call.emulator.images.state(image_id.text or "")
        if state:
            state_node.text = state
            if state == "failed":
                reason = ET.SubElement(item, f"{ns}stateReason")
                ET.SubElement(reason, f"{ns}code").text = "Client.InternalError"
                ET.SubElement(reason, f"{ns}message").text = "Client.InternalError: image creation failed"
    return status, ET.tostring(root, encoding="utf-8", xml_declaration=True)
