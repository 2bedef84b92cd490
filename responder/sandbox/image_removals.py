"""Launch images that go away during a scenario (`deleted_images:`): an owner deletes an old
custom image, or a public image is retired, while instances launched from it still run.

Parts: ImageRemovals (the scenario's list, parsed and checked; `due(now)` hands out each image id
once its time has come), check_config (the section's mistakes, each naming its field).

A rule: `{id: IMAGE_ID, at: SECONDS}` (`at` defaults to 0: gone from the start). The emulators
forget the image as their own API would after a deletion: ECS's DeleteImage (RunInstances then
answers InvalidImageId.NotFound, DescribeImages no longer lists it) and EC2's DeregisterImage
("After you deregister an AMI, it can't be used to launch new instances", DeregisterImage,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html: RunInstances
answers InvalidAMIID.NotFound, DescribeImages no longer lists it).
"""

from __future__ import annotations

import threading
from typing import Any

from responder.sandbox.stock import ScenarioError


def check_config(raw: Any) -> list[tuple[str, float]]:
    """The scenario's `deleted_images:` → [(image id, at)], sorted by time."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ScenarioError(f"deleted_images: must be a list of {{id, at}}, not {raw!r}")
    rules = []
    for i, rule in enumerate(raw):
        where = f"deleted_images[{i}]"
        if not isinstance(rule, dict):
            raise ScenarioError(f"{where}: must be a mapping {{id: IMAGE_ID, at: SECONDS}}, not {rule!r}")
        if not isinstance(rule.get("id"), str) or not rule["id"]:
            raise ScenarioError(f"{where}: missing 'id' (the image id)")
        at = rule.get("at", 0)
        if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
            raise ScenarioError(f"{where}.at: must be a number of scenario seconds, 0 or more, not {at!r}")
        rules.append((rule["id"], float(at)))
    return sorted(rules, key=lambda r: r[1])


class ImageRemovals:
    """Which scenario images are gone by now; each id is handed out by `due` once."""

    def __init__(self, scenario_raw: dict[str, Any]):
        self._pending = check_config(scenario_raw.get("deleted_images"))
        self._lock = threading.Lock()

    def due(self, now: float) -> list[str]:
        with self._lock:
            gone = [image for image, at in self._pending if at <= now]
            self._pending = [(image, at) for image, at in self._pending if at > now]
        return gone
