"""Boot volumes of the OCI emulator: each instance boots from one, and a preemptible one's
preemption action says whether it outlives the instance.

Parts: BootVolumes (the mixin OciWorld takes: make_boot_volume at launch, boot_volume_state,
check_boot_volume_source for a launch from a volume, preserve_on_termination), boot_volume_json,
list_boot_volume_attachments (the API's shapes of a BootVolume and a BootVolumeAttachment).

Rules, each as OCI documents it (or the harsher reading where it does not):
- "When you terminate a preemptible instance ... the boot volume is deleted unless you choose to
  preserve it" and the preemption action's preserveBootVolume: "Whether to preserve the boot volume
  that was used to launch the preemptible instance when the instance is terminated. Defaults to
  false if not specified" (docs.oracle.com, Content/Compute/Concepts/preemptible.htm, and the API
  reference of TerminatePreemptionAction). TerminateInstance takes the same choice as its
  preserveBootVolume query parameter (default false). A preserved volume stays AVAILABLE, detached,
  in its AD; one that is not is gone: GetBootVolume answers 404 (OCI does not say how long a
  terminated volume stays readable: the harsher reading).
- The volume stays attached until its instance is TERMINATED (the harsher reading: OCI detaches it
  as part of the termination, and a TERMINATING instance still holds it).
- LaunchInstance with InstanceSourceViaBootVolumeDetails ("sourceType": "bootVolume",
  "bootVolumeId"): the volume must exist (404 NotAuthorizedOrNotFound, as for an unknown image),
  be in the instance's AD (a boot volume is an AD-local block volume, "Boot volumes ... can only be
  attached to instances in the same availability domain", Content/Block/Concepts/bootvolumes.htm:
  400 InvalidParameter) and be detached (409 Conflict, the code LaunchInstance documents for a
  resource in a conflicting state). The new instance carries the volume: its content marker too.
- ListBootVolumeAttachments takes availabilityDomain and compartmentId (both required, 400
  MissingParameter without them) and filters by instanceId and bootVolumeId; a detached
  attachment stays listed as DETACHED.
"""

from __future__ import annotations

import uuid
from typing import Any

from responder.sandbox.oci_answer import OciError, not_found

DEFAULT_BOOT_GB = 47  # the size of a platform image's boot volume when the launch names none


class BootVolumes:
    """Mixin of OciWorld: needs config, instances, clock, state_of and a `boot_volumes` dict."""

    boot_volumes: dict[str, dict[str, Any]]
    boot_attachments: list[dict[str, Any]]

    def make_boot_volume(self, instance: dict[str, Any]) -> None:
        """The volume an instance boots from: a new one from its image, or the one it was launched from."""
        source = instance.get("sourceDetails") or {}
        region = self.config.region  # type: ignore[attr-defined]
        if source.get("sourceType") == "bootVolume":
            volume = self.boot_volumes[source["bootVolumeId"]]
        else:
            volume_id = f"ocid1.bootvolume.oc1.{region}.{uuid.uuid4().hex}"
            volume = {"id": volume_id, "ad": instance["availabilityDomain"], "compartment": instance.get("compartmentId"),
                      "size_gb": int(source.get("bootVolumeSizeInGBs") or DEFAULT_BOOT_GB),
                      "image_id": source.get("imageId"), "content": f"image:{source.get('imageId')}",
                      "created_at": instance["created_at"]}
            self.boot_volumes[volume_id] = volume
        volume["instance"] = instance["id"]
        instance["bootVolumeId"] = volume["id"]
        self.boot_attachments.append({"id": f"ocid1.bootvolumeattachment.oc1.{region}.{uuid.uuid4().hex}",
                                      "volume": volume["id"], "instance": instance["id"]})

    def boot_volume_state(self, volume: dict[str, Any]) -> str:
        """ATTACHED (its instance is not TERMINATED yet), AVAILABLE (detached: preserved) or GONE."""
        instance = self.instances[volume["instance"]]  # type: ignore[attr-defined]
        if self.state_of(instance) != "TERMINATED":  # type: ignore[attr-defined]
            return "ATTACHED"
        return "AVAILABLE" if instance.get("preserveBootVolume") else "GONE"

    def boot_volume(self, volume_id: str) -> dict[str, Any] | None:
        volume = self.boot_volumes.get(volume_id)
        return None if volume is None or self.boot_volume_state(volume) == "GONE" else volume

    def check_boot_volume_source(self, details: dict[str, Any]) -> None:
        volume = self.boot_volume(details["sourceDetails"].get("bootVolumeId") or "")
        if volume is None:
            raise not_found()
        if volume["ad"] != details["availabilityDomain"]:
            raise OciError(400, "InvalidParameter", f"Boot volume {volume['id']} is in {volume['ad']}, not in "
                                                    f"{details['availabilityDomain']}.")
        if self.boot_volume_state(volume) == "ATTACHED":
            raise OciError(409, "Conflict", f"Boot volume {volume['id']} is attached to instance "
                                            f"{volume['instance']}.")


def preserve_on_termination(instance: dict[str, Any]) -> bool:
    """Whether the preemption action of a preemptible instance keeps its boot volume."""
    action = (instance.get("preemptibleInstanceConfig") or {}).get("preemptionAction") or {}
    return bool(action.get("preserveBootVolume"))
