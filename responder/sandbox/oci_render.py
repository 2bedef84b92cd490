"""The OCI emulator's JSON: resources as the SDK expects them (camelCase) and the list filters.

Parts: instance_json, image_json, shape_json, subnet_json, ad_json (one resource each, with the
field names of the API reference: Instance, Image, Shape, Subnet, AvailabilityDomain in
https://docs.oracle.com/en-us/iaas/api/#/en/iaas/20160918/), list_images (ListImages' filters and
sort), list_shapes, list_subnets, list_instances, vnic_attachment_json / list_vnic_attachments,
vnic_json (VnicAttachment and Vnic; an instance's primary VNIC), page (limit / page → items and opc-next-page).
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

from responder.sandbox.oci_world import OciError

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)  # scenario time 0, as the API's timeCreated


def stamp(seconds: float) -> str:
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ad_json(world, name: str) -> dict[str, Any]:
    return {"name": name, "id": f"ocid1.availabilitydomain.oc1..{name.split(':')[-1].lower()}",
            "compartmentId": world.config.tenancy}


def instance_json(world, i: dict[str, Any]) -> dict[str, Any]:
    ocpus, memory = world._size(i)
    source = i.get("sourceDetails") or {}
    return {
        "id": i["id"], "availabilityDomain": i["availabilityDomain"], "compartmentId": i["compartmentId"],
        "displayName": i.get("displayName") or i["id"][-12:], "shape": i["shape"], "region": world.config.region,
        "lifecycleState": world.state_of(i), "timeCreated": stamp(i["created_at"]),
        "imageId": source.get("imageId") or (world.boot_volumes.get(source.get("bootVolumeId") or "") or {}).get(
            "image_id"), "freeformTags": i.get("freeformTags") or {}, "definedTags": {},
        "metadata": i.get("metadata") or {}, "faultDomain": "FAULT-DOMAIN-1", "launchMode": "PARAVIRTUALIZED",
        "shapeConfig": {"ocpus": ocpus, "memoryInGBs": memory, "vcpus": int(ocpus * (1 if ".A" in i["shape"] else 2))},
        "sourceDetails": source_json(world, source),
        "preemptibleInstanceConfig": i.get("preemptibleInstanceConfig"),
    }


def image_json(world, image: dict[str, Any]) -> dict[str, Any]:
    made = image.get("created_at", -1.0) >= 0  # a custom image (CreateImage), not a platform one
    return {"id": image["id"], "compartmentId": world.config.compartment if made else None,
            "displayName": image.get("name", image["id"]), "operatingSystem": image.get("os", ""),
            "operatingSystemVersion": str(image.get("os_version", "")),
            "lifecycleState": world.image_state(image) if made else "AVAILABLE",
            "timeCreated": stamp(image["created_at"]) if made else image.get("created", "2024-01-01T00:00:00.000Z"),
            "createImageAllowed": True, "launchMode": "NATIVE", "sizeInMBs": 47694,
            "freeformTags": image.get("freeform_tags") or {}}


def shape_json(shape: dict[str, Any]) -> dict[str, Any]:
    flex = bool(shape.get("flex"))
    out = {"shape": shape["shape"], "ocpus": float(shape.get("ocpus", 1)),
           "memoryInGBs": float(shape.get("memory_gb", 6 if flex else 1)),
           "processorDescription": shape.get("processor", ""), "isFlexible": flex,
           "billingType": shape.get("billing", "PAID")}
    if flex:
        out["ocpuOptions"] = {"min": 1.0, "max": float(shape.get("max_ocpus", 80))}
        out["memoryOptions"] = {"minInGBs": 1.0, "maxInGBs": float(shape.get("max_memory_gb", 512)),
                                "defaultPerOcpuInGBs": float(shape.get("memory_gb_per_ocpu", 6))}
    return out


def subnet_json(world, s: dict[str, Any]) -> dict[str, Any]:
    return {"id": s["id"], "compartmentId": world.config.compartment, "vcnId": s.get("vcn", ""),
            "displayName": s.get("name", ""), "availabilityDomain": s.get("availability_domain"),
            "cidrBlock": s.get("cidr", "10.0.0.0/24"), "lifecycleState": "AVAILABLE", "routeTableId": "",
            "securityListIds": [], "virtualRouterIp": "10.0.0.1", "virtualRouterMac": "00:00:17:00:00:01",
            "prohibitPublicIpOnVnic": bool(s.get("prohibit_public_ip")), "timeCreated": "2024-01-01T00:00:00.000Z"}


def _fits(image: dict[str, Any], shape: str) -> bool:
    return not image.get("shapes") or shape in image["shapes"]


def list_images(world, q: dict[str, str]) -> list[dict[str, Any]]:
    rows = [image_json(world, i) | {"_shapes": i.get("shapes", [])} for i in world.images.values()
            if (not q.get("shape") or _fits(i, q["shape"]))]
    for param, key in (("operatingSystem", "operatingSystem"), ("operatingSystemVersion", "operatingSystemVersion"),
                       ("lifecycleState", "lifecycleState"), ("displayName", "displayName")):
        if q.get(param):
            rows = [r for r in rows if r[key] == q[param]]
    by = "displayName" if q.get("sortBy") == "DISPLAYNAME" else "timeCreated"
    # ListImages: TIMECREATED sorts descending by default, DISPLAYNAME ascending.
    descending = q.get("sortOrder", "DESC" if by == "timeCreated" else "ASC") == "DESC"
    rows.sort(key=lambda r: r[by], reverse=descending)
    return [{k: v for k, v in r.items() if k != "_shapes"} for r in rows]


def list_shapes(world, q: dict[str, str]) -> list[dict[str, Any]]:
    image = world.images.get(q.get("imageId", "")) if q.get("imageId") else None
    return [shape_json(s) for s in world.config.shapes
            if (not q.get("availabilityDomain") or q["availabilityDomain"] in s.get("availability_domains",
                                                                                    world.config.availability_domains))
            and (image is None or _fits(image, s["shape"]))]


def list_subnets(world, q: dict[str, str]) -> list[dict[str, Any]]:
    return [subnet_json(world, s) for s in world.config.subnets
            if (not q.get("vcnId") or s.get("vcn") == q["vcnId"])
            and (not q.get("displayName") or s.get("name") == q["displayName"])]


def list_instances(world, q: dict[str, str]) -> list[dict[str, Any]]:
    rows = [instance_json(world, i) for i in sorted(world.instances.values(), key=lambda i: i["created_at"])
            if i["compartmentId"] == q.get("compartmentId")]
    for param in ("availabilityDomain", "displayName", "lifecycleState"):
        if q.get(param):
            rows = [r for r in rows if r[param] == q[param]]
    return rows


# VnicAttachment.lifecycleState and Vnic.lifecycleState, from the instance's lifecycleState.
def source_json(world, source: dict[str, Any]) -> dict[str, Any]:
    """InstanceSourceViaImageDetails, or InstanceSourceViaBootVolumeDetails for a launch from a volume."""
    if source.get("sourceType") == "bootVolume":
        return {"sourceType": "bootVolume", "bootVolumeId": source.get("bootVolumeId")}
    return {"sourceType": "image", "imageId": source.get("imageId"),
            "bootVolumeSizeInGBs": source.get("bootVolumeSizeInGBs")}


ATTACHMENT_STATES = {"PROVISIONING": "ATTACHING", "TERMINATING": "DETACHING", "TERMINATED": "DETACHED"}
VNIC_STATES = {"PROVISIONING": "PROVISIONING", "TERMINATING": "TERMINATING", "TERMINATED": "TERMINATED"}


def vnic_attachment_json(world, v: dict[str, Any]) -> dict[str, Any]:
    instance = world.instances[v["instance"]]
    state = world.state_of(instance)
    return {"id": v["attachment"], "availabilityDomain": instance["availabilityDomain"],
            "compartmentId": instance["compartmentId"], "displayName": v["display_name"] or None,
            "instanceId": instance["id"], "lifecycleState": ATTACHMENT_STATES.get(state, "ATTACHED"),
            "nicIndex": 0, "subnetId": v["subnet"], "vlanId": None, "vlanTag": 0,
            "timeCreated": stamp(instance["created_at"]),
            # "The OCID of the VNIC. Available after the attachment process is complete."
            "vnicId": None if state == "PROVISIONING" else v["id"]}


def list_vnic_attachments(world, q: dict[str, str]) -> list[dict[str, Any]]:

    if not q.get("compartmentId"):
        raise OciError(400, "MissingParameter", "Missing parameter: compartmentId.")
    rows = [vnic_attachment_json(world, v) for v in world.vnic_attachments()]
    rows = [r for r in rows if r["compartmentId"] == q["compartmentId"]]
    for param in ("instanceId", "availabilityDomain", "vnicId"):
        if q.get(param):
            rows = [r for r in rows if r[param] == q[param]]
    return rows


def vnic_json(world, v: dict[str, Any]) -> dict[str, Any]:
    instance = world.instances[v["instance"]]
    return {"id": v["id"], "availabilityDomain": instance["availabilityDomain"],
            "compartmentId": instance["compartmentId"], "displayName": v["display_name"] or None,
            "definedTags": {}, "freeformTags": {}, "hostnameLabel": None, "isPrimary": True,
            "lifecycleState": VNIC_STATES.get(world.state_of(instance), "AVAILABLE"),
            "macAddress": "02:00:17:" + ":".join(v["id"][-6:][i:i + 2] for i in (0, 2, 4)),
            "nsgIds": [], "privateIp": v["private_ip"], "publicIp": v["public_ip"],
            "skipSourceDestCheck": False, "subnetId": v["subnet"], "timeCreated": stamp(instance["created_at"])}


def boot_volume_json(world, volume: dict[str, Any]) -> dict[str, Any]:
    return {"id": volume["id"], "availabilityDomain": volume["ad"], "compartmentId": volume["compartment"],
            "displayName": volume["id"][-12:], "imageId": volume["image_id"], "sizeInGBs": volume["size_gb"],
            "lifecycleState": "AVAILABLE", "timeCreated": stamp(volume["created_at"]), "freeformTags": {},
            "definedTags": {}}


def list_boot_volume_attachments(world, q: dict[str, str]) -> list[dict[str, Any]]:
    for param in ("availabilityDomain", "compartmentId"):
        if not q.get(param):
            raise OciError(400, "MissingParameter", f"Missing parameter: {param}.")
    rows = []
    for attachment in world.boot_attachments:
        volume, instance = world.boot_volumes[attachment["volume"]], world.instances[attachment["instance"]]
        state = world.state_of(instance)
        rows.append({"id": attachment["id"], "availabilityDomain": volume["ad"],
                     "compartmentId": instance["compartmentId"], "bootVolumeId": volume["id"],
                     "instanceId": instance["id"], "displayName": None, "timeCreated": stamp(instance["created_at"]),
                     "lifecycleState": ATTACHMENT_STATES.get(state, "ATTACHED")})
    return [r for r in rows if r["availabilityDomain"] == q["availabilityDomain"]
            and r["compartmentId"] == q["compartmentId"]
            and all(not q.get(p) or r[p] == q[p] for p in ("instanceId", "bootVolumeId"))]


def page(rows: list, q: dict[str, str], cap: int) -> tuple[list, str]:
    """One page: `limit` rows (at most `cap`) from the opaque `page` token; the next token or ""."""
    try:
        start = int(base64.urlsafe_b64decode(q["page"]).decode()) if q.get("page") else 0
        limit = min(int(q.get("limit") or cap), cap)
    except ValueError:
        start, limit = -1, 0
    if start < 0 or limit < 1:

        raise OciError(400, "InvalidParameter", "Invalid page or limit.")
    end = start + limit
    return rows[start:end], (base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(rows) else "")
