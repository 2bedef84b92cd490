"""What a capacity target is.

Parts: KINDS, CLOUDS, LaunchSpec (what `instances` targets launch), Target (one row, frozen),
TargetInvalid (names the field), short_key (an SSH public key as it is shown). The checks a new or
changed target must pass are in responder.targets.checks (OCI's own in responder.targets.oci_spec).

A target says how much capacity must exist, never how much we think we bought: the reconcile
reads the cloud on every tick (responder.targets.inventory).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

KINDS = ("reservation", "instances")
CLOUDS = ("aws", "aliyun", "oci")
MATCH_CRITERIA = ("open", "targeted")
MARKETS = ("ondemand", "spot")
TARGET_TAG = "responder:target"  # every reservation and instance a target buys carries its name


class TargetInvalid(ValueError):
    """Bad input: `field` is the option / JSON field at fault; nothing was stored."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(f"{field_name}: {message}")


@dataclass(frozen=True)
class LaunchSpec:
    """How an `instances` target launches (the same fields a clone of an instance carries)."""

    image_id: str = ""
    subnets: tuple[tuple[str, str], ...] = ()  # (zone, subnet id) on AWS, (zone, vswitch id) on Aliyun
    security_groups: tuple[str, ...] = ()
    key_pair: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    user_data: str = ""  # base64, as the APIs take it; never shown (only its size)
    market: str = "ondemand"
    name: str = ""  # instance name; an instance of this name made before the responder counts as held
    # OCI: a flex shape's size, the boot volume (0 = the image's default), the key put in the
    # instance metadata; the image by OS and version (resolved per shape at hunt time) when no
    # image id is given; one subnet (OCI subnets are regional) by display name or OCID.
    ocpus: float = 0.0
    memory_gb: float = 0.0
    boot_volume_gb: int = 0
    ssh_public_key: str = ""
    image_os: str = ""
    image_os_version: str = ""
    subnet: str = ""
    # OCI: boot from this existing boot volume (the preserved one of a preempted instance) rather
    # than from image_id, which stays as the fallback when the volume is gone or refused.
    boot_volume_id: str = ""
    # A one-shot target (the relaunch of a preempted instance no target owns): it launches its
    # count once and is then done (state `done`, never worked again); no instance is adopted
    # by its name, since the name is the original's and others may share it.
    once: bool = False

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tags"], out["subnets"] = dict(self.tags), dict(self.subnets)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> "LaunchSpec":
        raw = dict(raw or {})
        raw["subnets"] = tuple((str(k), str(v)) for k, v in dict(raw.get("subnets") or {}).items())
        raw["security_groups"] = tuple(raw.get("security_groups") or ())
        raw["tags"] = tuple((str(k), str(v)) for k, v in dict(raw.get("tags") or {}).items())
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


@dataclass(frozen=True)
class Target:
    name: str
    cloud: str
    region: str
    zones: tuple[str, ...]
    instance_types: tuple[str, ...]
    count: int
    kind: str = "reservation"
    match_criteria: str = "open"  # reservations: open | targeted
    end_date: str = ""  # reservations: ISO time they end ("" = unlimited)
    spend_cap: int = 0  # units this target may ever buy; 0 = 4 x count
    release_excess: bool = False  # release capacity above target (otherwise it is only reported)
    launch: LaunchSpec = field(default_factory=LaunchSpec)

    @property
    def claim_key(self) -> str:
        return f"target:{self.name}"

    @property
    def cap(self) -> int:
        return self.spend_cap or 4 * self.count

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "launch"}
        out["zones"], out["instance_types"] = list(self.zones), list(self.instance_types)
        if self.kind == "instances":
            launch = self.launch.to_json()
            launch["user_data"] = {"bytes": len(self.launch.user_data)} if self.launch.user_data else None
            launch["ssh_public_key"] = short_key(self.launch.ssh_public_key)
            out["launch"] = launch
        return out

    def spec_json(self) -> dict[str, Any]:
        """What the row's `spec` column stores (user data included: it is needed to launch)."""
        return {"zones": list(self.zones), "instance_types": list(self.instance_types),
                "match_criteria": self.match_criteria, "end_date": self.end_date, "spend_cap": self.spend_cap,
                "release_excess": self.release_excess, "launch": self.launch.to_json()}


def short_key(key: str) -> str:
    """An SSH public key as shown: its type, the end of its body and its comment. It is not a
    secret, but a whole key in every answer and log line is noise and invites copying."""
    parts = key.split()
    if len(parts) < 2:
        return "" if not key else "…"
    return " ".join([parts[0], "…" + parts[1][-12:], *parts[2:3]])
