"""OCI fixtures: a sandbox serving a scenario's `oci:` section, and an OciCloud signed to talk to it.

Parts: OCI_SCENARIO (an Always Free tenancy in ap-chuncheon-1: A1.Flex and E2.1.Micro, two
Ubuntu and one Oracle Linux image, a regional public subnet), oci_scenario (that scenario with
changes), OciBox (the Sandbox, its OciCloud, the OCI emulator, the settings env, the ManualClock),
start_oci_box, the `oci_box` fixture (the default scenario) and `oci_box_factory` (a scenario of
the test's own), preemption_event (events/oci/preemption-action.json about one of the box's
instances), launched (the box's instances in launch order).

Tests reach the emulator only through the real `oci` SDK over HTTP: every call is signed and
verified. Time is a ManualClock: `box.clock.advance(seconds)`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from responder.sandbox.runtime import Sandbox, start_sandbox
from responder.sandbox.scenario import ManualClock

REGION = "ap-chuncheon-1"
AD1, AD2 = "Uocm:AP-CHUNCHEON-1-AD-1", "Uocm:AP-CHUNCHEON-1-AD-2"
TENANCY = "ocid1.tenancy.oc1..aaaasandboxtenancy"
SUBNET_ID = "ocid1.subnet.oc1.ap-chuncheon-1.aaaasandboxsubnet"
A1, MICRO = "VM.Standard.A1.Flex", "VM.Standard.E2.1.Micro"
UBUNTU_ARM_NEW = "ocid1.image.oc1.ap-chuncheon-1.ubuntu2204arm20240601"
UBUNTU_ARM_OLD = "ocid1.image.oc1.ap-chuncheon-1.ubuntu2204arm20240101"
UBUNTU_X86_NEW = "ocid1.image.oc1.ap-chuncheon-1.ubuntu2204x8620240701"

OCI_SCENARIO: dict[str, Any] = {
    "name": "oci-always-free",
    "rate_limits": True,  # OCI's 429s at the sandbox's figures (docs/scenario.md), as in the shipped scenarios
    "regions": [],
    "oci": {
        "tenancy": TENANCY,
        "user": "ocid1.user.oc1..aaaasandboxuser",
        "region": REGION,
        "availability_domains": [AD1, AD2],
        "boot_seconds": 60,
        "subnets": [{"id": SUBNET_ID, "name": "public-subnet", "vcn": "ocid1.vcn.oc1.ap-chuncheon-1.aaaavcn",
                     "cidr": "10.0.0.0/24"}],
        "shapes": [
            {"shape": A1, "flex": True, "ocpus": 1, "memory_gb": 6, "processor": "3.0 GHz Ampere Altra",
             "billing": "LIMITED_FREE"},
            {"shape": MICRO, "ocpus": 1, "memory_gb": 1, "processor": "2.0 GHz AMD EPYC 7551",
             "billing": "ALWAYS_FREE"},
        ],
        "images": [
            {"id": UBUNTU_ARM_OLD, "name": "Canonical-Ubuntu-22.04-aarch64-2024.01.01-0", "os": "Canonical Ubuntu",
             "os_version": "22.04", "shapes": [A1], "created": "2024-01-01T00:00:00.000Z"},
            {"id": UBUNTU_ARM_NEW, "name": "Canonical-Ubuntu-22.04-aarch64-2024.06.01-0", "os": "Canonical Ubuntu",
             "os_version": "22.04", "shapes": [A1], "created": "2024-06-01T00:00:00.000Z"},
            {"id": UBUNTU_X86_NEW, "name": "Canonical-Ubuntu-22.04-2024.07.01-0", "os": "Canonical Ubuntu",
             "os_version": "22.04", "shapes": [MICRO], "created": "2024-07-01T00:00:00.000Z"},
            {"id": "ocid1.image.oc1.ap-chuncheon-1.ol8", "name": "Oracle-Linux-8.9-2024.05.29-0",
             "os": "Oracle Linux", "os_version": "8", "created": "2024-05-29T00:00:00.000Z"},
        ],
    },
}


def oci_scenario(**oci_changes: Any) -> dict[str, Any]:
    """The default scenario with keys of its `oci:` section replaced (or added)."""
    scenario = copy.deepcopy(OCI_SCENARIO)
    scenario["oci"].update(copy.deepcopy(oci_changes))
    return scenario


@dataclass
class OciBox:
    sandbox: Sandbox
    clock: ManualClock

    @property
    def cloud(self):
        return self.sandbox.clouds["oci"]

    @property
    def emulator(self):
        return self.sandbox.oci.emulator

    @property
    def env(self) -> dict[str, str]:
        """OCI_USER_OCID, OCI_FINGERPRINT, ..., RESPONDER_OCI_ENDPOINT: what a .env would say."""
        return self.sandbox.oci.env

    def settings(self, base=None):
        """Settings with the OCI fields pointing at this sandbox (clouds: oci)."""
        from responder.settings import Settings

        return (base or Settings()).with_(clouds=("oci",), **self.sandbox.oci.settings_fields())

    def calls(self) -> list[str]:
        return self.sandbox.calls("oci")


def start_oci_box(scenario: dict[str, Any] | None = None, **overrides: Any) -> OciBox:
    clock = ManualClock()
    box = start_sandbox(copy.deepcopy(scenario or OCI_SCENARIO), only=("oci",), clock=clock, **overrides)
    return OciBox(box, clock)


@pytest.fixture
def oci_box():
    box = start_oci_box()
    yield box
    box.sandbox.stop()


@pytest.fixture
def oci_box_factory():
    started: list[OciBox] = []

    def make(scenario: dict[str, Any] | None = None, **overrides: Any) -> OciBox:
        box = start_oci_box(scenario, **overrides)
        started.append(box)
        return box

    yield make
    for box in started:
        box.sandbox.stop()


PREEMPTION_SAMPLE = Path(__file__).resolve().parents[1] / "events" / "oci" / "preemption-action.json"


def preemption_event(box: OciBox, instance_id: str) -> bytes:
    """OCI's preemption event about `instance_id`, in the box's compartment, as the body OCI posts."""
    event = json.loads(PREEMPTION_SAMPLE.read_text())
    event["data"]["resourceId"] = instance_id
    event["data"]["compartmentId"] = event["extensions"]["compartmentId"] = box.emulator.world.config.compartment
    return json.dumps(event).encode()


def launched(box: OciBox) -> list[dict[str, Any]]:
    return list(box.emulator.world.instances.values())  # in launch order
