"""OCI payloads: an Events service message (CloudEvents 0.1 envelope) delivered by a rule's
Notifications / Functions action.

Parts: parse_event, PREEMPTION_EVENT, INSTANCE_OCID_RE, region_of (an instance OCID's region).

OCI announces the reclamation of a preemptible instance as the Compute event "Instance -
Preemption Action", `com.oraclecloud.computeapi.instancepreemptionaction` ("When preemptible
capacity is reclaimed, the instance is terminated. Use the Events service to receive
notifications when this event occurs", docs.oracle.com, Content/Compute/Concepts/preemptible.htm;
the type is in the Compute section of Content/Events/Reference/eventsproducers.htm). The
envelope is OCI's event message (eventType, cloudEventsVersion, source, eventID, eventTime,
data.resourceId / compartmentId / availabilityDomain / freeformTags / additionalDetails); the
instance is in `data.resourceId`, the action (TERMINATE) in `data.additionalDetails.preemptionAction`.
The message carries no region field: it is read from the instance OCID
(ocid1.instance.<realm>.<region>.<unique>), where older regions use their short code (iad, phx),
mapped to the region name by the oci SDK's own table when it is installed.
Every other OCI event is acknowledged and ignored.
"""

from __future__ import annotations

import re

from responder.errors import BadEvent
from responder.model import Cloud, EventKind, Ignored, Interruption
from responder.parsing.fields import REGION_RE, mapping_field, matching, shown, text_field

PREEMPTION_EVENT = "com.oraclecloud.computeapi.instancepreemptionaction"
INSTANCE_OCID_RE = re.compile(r"ocid1\.instance\.oc[0-9]+\.(?P<region>[a-z0-9-]{2,40})\.[A-Za-z0-9]{8,80}")


def region_of(instance_id: str) -> str:
    region = INSTANCE_OCID_RE.fullmatch(instance_id)["region"]
    if REGION_RE.fullmatch(region):
        return region
    try:  # a short code (iad): the SDK knows every region's
        # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
        from oci.regions import REGIONS_SHORT_NAMES
    except ImportError:
        REGIONS_SHORT_NAMES = {}
    if region not in REGIONS_SHORT_NAMES:
        raise BadEvent(f"data.resourceId names region {shown(region)}, which is not an OCI region")
    return REGIONS_SHORT_NAMES[region]


def parse_event(event: dict) -> Interruption | Ignored:
    event_type = text_field(event, "eventType", "eventType")
    if event_type != PREEMPTION_EVENT:
        return Ignored(reason=f"OCI event {shown(event_type)} is not a preemption", shape="oci-events")
    data = mapping_field(event, "data", "data")
    instance_id = matching(text_field(data, "resourceId", "data.resourceId"), INSTANCE_OCID_RE, "data.resourceId",
                           "OCI instance OCID")
    details = data.get("additionalDetails") or {}
    if not isinstance(details, dict):
        raise BadEvent(f"data.additionalDetails must be an object, not {type(details).__name__}")
    return Interruption(
        cloud=Cloud.OCI, region=region_of(instance_id), instance_id=instance_id, kind=EventKind.INTERRUPTION,
        account=text_field(data, "compartmentId", "data.compartmentId", required=False),
        event_id=text_field(event, "eventID", "eventID", required=False),
        event_time=text_field(event, "eventTime", "eventTime", required=False), shape="oci-events",
        detail=(("action", text_field(details, "preemptionAction", "data.additionalDetails.preemptionAction",
                                      required=False)),
                ("availability_domain", text_field(data, "availabilityDomain", "data.availabilityDomain",
                                                   required=False))),
    )
