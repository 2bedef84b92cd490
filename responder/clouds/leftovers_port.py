"""What retention and `responder orphans` read of what the responder made: OwnImage, OwnSnapshot,
OwnTemplate, and LeftoversPort (the verbs a cloud adds when its images leave snapshots behind or its
launches make launch templates: AWS).

Part of the cloud port (base.py): neutral dataclasses, no cloud's vocabulary. Only what carries the
responder's tags is ever listed here, so nothing of the owner's can be deleted by retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OwnImage:
    """An image the responder made (it carries responder:source-instance), for retention."""

    image_id: str
    instance_id: str
    made_by: str  # "protect" (ahead of time) or "interruption"
    created: str  # the cloud's ISO time: sorts in time order
    state: str
    name: str = ""


@dataclass(frozen=True)
class OwnSnapshot:
    """A snapshot the responder's images were made of (it carries responder:source-instance)."""

    snapshot_id: str
    instance_id: str
    size_gib: int
    image_id: str  # the image that uses it; "": its image is gone and it bills alone
    created_at: float  # epoch seconds


@dataclass(frozen=True)
class OwnTemplate:
    """A launch template the responder made for one launch (it carries responder:managed)."""

    template_id: str
    name: str
    claim: str  # the claim key of the task that launched with it ("" when the tag is missing)
    created_at: float  # epoch seconds



class LeftoversPort(Protocol):
    """What a cloud whose images leave snapshots behind, or whose launch makes a launch template,
    adds for retention and `responder orphans` (AWS). Only what carries the responder's tags."""

    def own_snapshots(self, region: str) -> list[OwnSnapshot]: ...

    def delete_snapshot(self, region: str, snapshot_id: str) -> None: ...

    def own_launch_templates(self, region: str) -> list[OwnTemplate]: ...

    def delete_launch_template(self, region: str, template_id: str) -> None: ...
