"""Helpers for the back-to-spot tests: a spot instance whose pool is sold out falls back to
on-demand, then spot stock returns (the scenario's schedule) and the replacement is moved back.

Parts: RETURN (scenario second the spot stock comes back), fallback_scenario (the realistic shape
with every spot pool sold out until RETURN in the original's own pool), Back (a Race that falls
back, then moves back: `fall_back`, `lose_answers`, `move` (crash: a restart after every tick);
what the cloud holds at the end:
`purchases`, `root_of`, `data_disk_on`, `address_on`, `instances`, `writes_since`), backs (a
fixture's body: Backs on scenarios of the test's choosing, each in its own folder, all stopped after).
"""

from __future__ import annotations

import boto3

from race_fixtures import Race, shape, with_data_disk
from responder.replace.record import Task
from responder.revert.tick import tick_revert
from responder.sandbox.aliyun_ecs_swap import write_root
from responder.sandbox.faults import FaultPlan
from responder.settings import Settings

RETURN = 4000.0
SCAN_STEP = 60.0  # the ticker's revert pass runs at most once a minute (revert/tick.py)
ORIGINAL = {"aliyun": "i-bp1db0000000000000a", "aws": "i-0aaa00000000000a2"}
ZONE = {"aliyun": "cn-hangzhou-j", "aws": "us-east-2a"}
BEFORE, ON_DEMAND = "files written before the notice", "files written on the on-demand one"
WRITES = {"aliyun": ("RunInstances", "CreateImage", "ModifyDiskAttribute", "StopInstance", "ReplaceSystemDisk",
                     "StartInstance", "DeleteInstance", "AttachDisk", "AssociateEipAddress", "DeleteDisk",
                     "ConvertNatPublicIpToEip"),
          "aws": ("CreateFleet", "RunInstances", "CreateImage", "CreateTags", "ModifyInstanceAttribute",
                  "CreateReplaceRootVolumeTask", "TerminateInstances", "AttachVolume", "AssociateAddress",
                  "DeleteVolume", "CreateLaunchTemplate")}


def fallback_scenario(cloud: str) -> dict:
    """Aliyun: the database (a 200 GiB data disk) with a public IP; AWS: the API server with a
    20 GiB data volume and an Elastic IP. Every spot pool is sold out; the original's own pool
    gets stock back at RETURN."""
    if cloud == "aliyun":
        data = shape("aliyun", "db")
        inst = data["regions"][0]["instances"][0]
        inst["public_ip"], inst["bandwidth_out"] = "47.96.10.99", 5
    else:
        data = with_data_disk(shape("aws", "api"), "api", {"category": "gp3", "size": 20})
        inst = data["regions"][0]["instances"][0]
        inst["elastic_ip"] = True
    region = data["regions"][0]
    offers = []
    for kind in region["instance_types"]:
        for zone in region["zones"]:
            offer = {"type": kind["type"], "zone": zone, "market": "spot", "available": 0}
            if kind["type"] == inst["type"] and zone == inst["zone"]:
                offer["schedule"] = [{"at": RETURN, "available": 5}]
            offers.append(offer)
    data["stock"] = {"default": 1000, "offers": offers}
    return data


class Back(Race):
    def __init__(self, cloud: str, settings, tmp_path, scenario: dict | None = None):
        super().__init__(scenario or fallback_scenario(cloud), settings, tmp_path)
        self.original = ORIGINAL[cloud]
        self.write_root(self.original, BEFORE)
        self.calls_before_move = 0

    def write_root(self, instance_id: str, marker: str) -> None:
        if self.cloud == "aliyun":
            write_root(self.emulator.world, instance_id, marker)
        else:
            self.emulator.swaps.write_root(instance_id, marker)

    def fall_back(self) -> Task:
        """The interruption, replaced on-demand (every spot pool sold out); then files are written
        on the on-demand replacement, the state the move must carry."""
        (task,) = self.run([self.original])
        assert task.status == "done" and task.record.launch.replacement.market == "ondemand", task.reason
        self.write_root(task.record.launch.replacement_ids[0], ON_DEMAND)
        self.calls_before_move = len(self.emulator.calls)
        return task

    def lose_answers(self, actions) -> None:
        """From now on, the first call of each action is made but its answer lost."""
        self.emulator.faults = FaultPlan([{"action": a, "kind": "lost", "times": 1} for a in actions])

    def moves(self) -> list[Task]:
        return [Task(r) for r in self.store.list(limit=50) if r.kind == "revert"]

    def move(self, until: float = RETURN + 8000.0, crash: bool = False) -> Task | None:
        """Tick as a ticker would (the revert pass, then every due task), at least once a minute of
        scenario time, until every move ended or `until`. `crash`: a new process after every
        tick, nothing carried over but the task rows."""
        while self.clock() <= until:
            tick_revert(self.runner, force=True)
            self.runner.tick()
            if crash:
                self.restart()
            moves = self.moves()
            if moves and all(m.finished for m in moves):
                break
            due = self.store.next_due_at()
            step = min(due if due is not None else until, self.clock() + SCAN_STEP)
            self.clock.advance_to(max(step, self.clock() + 0.05))
        moves = self.moves()
        return moves[0] if moves else None

    # -- what the cloud holds --------------------------------------------------------------
    def _ec2(self):
        return boto3.client("ec2", region_name=self.region, endpoint_url=self.emulator.endpoint_url,
                            aws_access_key_id="sandbox-key", aws_secret_access_key="sandbox-secret")

    def instances(self) -> dict[str, tuple[str, bool, str]]:
        """Every instance, released ones too: id → (type, spot, state)."""
        if self.cloud == "aliyun":
            world = self.emulator.world
            found = {i: (v["type"], v.get("spot_strategy", "NoSpot") != "NoSpot", world.instance_status(v))
                     for i, v in world.instances.items()}
            found.update({i: ("?", False, "Released") for i in world.released if i not in found})
            return found
        return {i["InstanceId"]: (i["InstanceType"], i.get("InstanceLifecycle") == "spot", i["State"]["Name"])
                for r in self._ec2().describe_instances()["Reservations"] for i in r["Instances"]}

    def purchases(self) -> int:
        return len([i for i in self.instances() if i != self.original])

    def running(self) -> list[str]:
        return [i for i, (_, _, state) in self.instances().items() if state.lower() == "running"]

    def root_of(self, instance_id: str) -> str:
        if self.cloud == "aliyun":
            world = self.emulator.world
            return next(d["content"] for d in world.disks.values()
                        if d["instance"] == instance_id and d["type"] == "system")
        return self.emulator.swaps.root_of(instance_id)

    def data_disk_on(self, disk_id: str) -> str:
        if self.cloud == "aliyun":
            return self.emulator.world.disks[disk_id]["instance"]
        volume = self._ec2().describe_volumes(VolumeIds=[disk_id])["Volumes"][0]
        return volume["Attachments"][0]["InstanceId"] if volume["Attachments"] else ""

    def address_on(self) -> str:
        if self.cloud == "aliyun":
            return next(iter(self.emulator.world.eips.values()))["instance"]
        return self._ec2().describe_addresses()["Addresses"][0].get("InstanceId", "")

    def private_ips(self, instance_id: str) -> list[str]:
        """EC2: every private address of the instance's interfaces, primary first."""
        (found,) = [i for r in self._ec2().describe_instances(InstanceIds=[instance_id])["Reservations"]
                    for i in r["Instances"]]
        return [a["PrivateIpAddress"] for n in found["NetworkInterfaces"] for a in n["PrivateIpAddresses"]]

    def writes_since_fall_back(self) -> list[str]:
        return [c["action"] for c in self.emulator.calls[self.calls_before_move:] if c["action"] in WRITES[self.cloud]]


def backs(tmp_path, scenario_of):
    """Yields start(*scenario_args, **settings_changes) → a started Back on scenario_of(*scenario_args),
    with the back-to-spot tests' settings; stops them all when the test ends (use with `yield from`)."""
    started = []

    def start(*scenario_args, **settings_changes) -> Back:
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            keep_public_ip=True, **settings_changes)
        where = tmp_path / str(len(started))
        where.mkdir()
        one = Back("aliyun", settings, where, scenario=scenario_of(*scenario_args))
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()
