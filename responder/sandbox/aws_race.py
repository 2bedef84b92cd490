"""The race clock of the EC2 emulator: interrupted Spot Instances go, AMIs take their volumes'
time, launched instances take time to run.

Parts: AwsRace (settle: stop or terminate every interrupted instance whose two minutes are up;
arm: a `notice_at: first_read` sample's two minutes start when a call first names it;
image_seconds: how long an AMI of an instance stays pending; launched / describe_instances:
launched instances show `pending` for `instance_boot_seconds`).

Rules, with their sources (figures in race_model.py): EC2 stops, hibernates or terminates the
instance two minutes after the warning, per its `instance-action` (the spot request's
marked-for-termination / marked-for-stop / marked-for-hibernation); a stopped or hibernated
instance keeps its volumes. An instance whose interruption behaviour is hibernate (its
`interruption_behavior: hibernate`, or a spot request `marked-for-hibernation`) stops at once: "If
you specify hibernation as the interruption behavior, you receive an interruption notice, but you do
not receive a two-minute warning because the hibernation process begins immediately" ("Spot
Instance interruption notices", EC2 user guide,
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html). An AMI "stays pending until all of its snapshots complete", and
deleting a volume has no effect on its in-progress snapshots ("Delete an Amazon EBS volume":
"deleting a volume has no effect on snapshots created from it"), so the AMI still completes after
the instance and its root volume are gone: the emulator never fails it for that.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from typing import Any

from responder.sandbox import race_model

_BEHAVIOUR_OF = {"marked-for-termination": "terminate", "marked-for-stop": "stop",
                 "marked-for-hibernation": "hibernate"}
BEHAVIOURS = ("terminate", "stop", "hibernate")
_INSTANCE_ID = re.compile(rb"<instanceId>(i-[0-9a-f]+)</instanceId>")


class AwsRace:
    def __init__(self, scenario, clock):
        self.clock, self.raw = clock, scenario.raw
        self.boot_seconds = float(scenario.raw.get("instance_boot_seconds", 0))
        self.pending: dict[tuple[str, str], float] = {}  # (instance, region) → release time
        self.released: dict[str, float] = {}
        self.unread: dict[tuple[str, str], dict[str, Any]] = {}  # (instance, region) → a first_read sample unnamed yet
        self.actions: dict[str, str] = {}
        self.booting: dict[str, float] = {}  # launched instance → when it runs
        self.snapshots_made: dict[tuple[str, str], int] = {}  # (instance, device) → count
        self.volumes: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        for region in scenario.regions_of("aws"):
            for inst in region.instances:
                disks = [dict(inst.get("system_disk") or {"category": "gp3", "size": 8}, device="/dev/xvda")]
                disks += [dict(d, device=f"/dev/sd{chr(ord('f') + n)}") for n, d in enumerate(inst.get("data_disks") or [])]
                self.volumes[inst["id"]] = disks
                behaviour = inst.get("interruption_behavior") or _BEHAVIOUR_OF.get(inst.get("spot_request_state", ""),
                                                                                   "terminate")
                marked = dict(inst, spot_marked=inst.get("spot_request_state", "") in _BEHAVIOUR_OF)
                if behaviour == "hibernate":  # no two-minute warning: it stops as its notice is given
                    marked["release_after"] = 0.0
                if inst.get("notice_at") == race_model.FIRST_READ:  # its notice starts when a call names it
                    self.unread[(inst["id"], region.region)] = marked
                    due = None
                else:
                    due = race_model.release_at("aws", marked, scenario.raw)
                if due is not None:
                    self.pending[(inst["id"], region.region)] = due
                self.actions[inst["id"]] = "terminate" if behaviour == "terminate" else "stop"

    def arm(self, params: dict[str, str]) -> None:
        """Give each `notice_at: first_read` sample that the call names its notice now."""
        if not self.unread:
            return
        now = self.clock()
        with self._lock:
            for key, inst in list(self.unread.items()):
                if race_model.names_instance(params, key[0]):
                    del self.unread[key]
                    due = race_model.release_at("aws", dict(inst, notice_at=now), self.raw)
                    if due is not None:
                        self.pending[key] = due

    def settle(self, backends: dict[str, Any]) -> None:
        now = self.clock()
        with self._lock:
            due = [(k, t) for k, t in self.pending.items() if now >= t]
            for key, _ in due:
                del self.pending[key]
        for (instance_id, region), at in due:
            backend = backends[region]
            if self.actions[instance_id] == "stop":
                backend.stop_instances([instance_id])
            else:
                backend.terminate_instances([instance_id])
            self.released[instance_id] = at

    def image_seconds(self, instance_id: str) -> float | None:
        """The AMI's pending time: its slowest volume's snapshot (they are taken together); None
        when the scenario keeps the fixed image_build_seconds."""
        if self.raw.get("image_timing") != "disks":
            return None
        speed = float(self.raw.get("snapshot_speed", 1.0))
        spread = race_model.SnapshotTime.parse(self.raw.get("snapshot_time"), int(self.raw.get("seed", 0)))
        longest = 0.0
        for disk in self.volumes.get(instance_id, [{"category": "gp3", "size": 8, "device": "/dev/xvda"}]):
            key = (instance_id, disk["device"])
            with self._lock:
                made = self.snapshots_made.get(key, int(disk.get("earlier_snapshots", 0)))
                self.snapshots_made[key] = made + 1
            nominal = race_model.snapshot_seconds(disk.get("category", "gp3"), float(disk.get("size", 8)), made > 0, speed)
            longest = max(longest, nominal * spread.factor(f"{instance_id}:{disk['device']}", made))
        return longest

    def launched(self, body: bytes) -> None:
        if self.boot_seconds <= 0:
            return
        runs_at = self.clock() + self.boot_seconds
        with self._lock:
            for match in _INSTANCE_ID.finditer(body):
                self.booting.setdefault(match.group(1).decode(), runs_at)

    def describe_instances(self, body: bytes) -> bytes:
        """Instances still booting answer `pending` (code 0), as EC2 shows them before `running`."""
        now = self.clock()
        with self._lock:
            booting = {i for i, t in self.booting.items() if t > now}
        if not booting or not any(i.encode() in body for i in booting):
            return body
        root = ET.fromstring(body)
        ns = root.tag[:-len(root.tag.rsplit("}", 1)[-1])]
        for item in root.iter(f"{ns}item"):
            node = item.find(f"{ns}instanceId")
            state = item.find(f"{ns}instanceState")
            if node is not None and state is not None and node.text in booting:
                state.find(f"{ns}code").text, state.find(f"{ns}name").text = "0", "pending"
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)
