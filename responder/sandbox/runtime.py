"""Start the sandbox clouds for a scenario and hand back adapters pointed at them.

Parts: Sandbox (emulators + adapters + the ordered call log; `oci` holds the OCI emulator's key
file and settings), start_sandbox.
Used by `responder serve --sandbox`, `responder replay --sandbox`, the ODCR CLI, tests and benches.
"""

from __future__ import annotations

import os
from pathlib import Path

from responder.sandbox.scenario import Scenario, load_scenario
from responder.sandbox.spot_advice import ADVISOR_PATH

SANDBOX_KEY, SANDBOX_SECRET = "sandbox-key", "sandbox-secret"


class Sandbox:
    def __init__(self, scenario: Scenario, only: tuple[str, ...] | None = None, clock=None):
        self.scenario = scenario
        self.clock = clock  # None: each emulator keeps its own scaled clock
        self.only = only  # start just these clouds (moto is slow to import; an Aliyun replay needs none of it)
        self.emulators: dict = {}
        self.clouds: dict = {}
        self.oci = None  # OciSandbox: the key file and settings of the OCI emulator

    def start(self) -> "Sandbox":
        # The aliyun SDK sends proxy variables even to loopback; the sandbox is always local.
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            os.environ.pop(name, None)
        if self.scenario.regions_of("aliyun") and self._wanted("aliyun"):
            # Lazy: only the clouds the scenario (or a replay's event) needs are started.
            from responder.clouds.aliyun import AliyunCloud
            from responder.sandbox.aliyun_ecs import AliyunEcsEmulator

            emulator = AliyunEcsEmulator(self.scenario, access_key_id=SANDBOX_KEY,
                                         access_key_secret=SANDBOX_SECRET, clock=self.clock).start()
            self.emulators["aliyun"] = emulator
            self.clouds["aliyun"] = AliyunCloud(SANDBOX_KEY, SANDBOX_SECRET, endpoint=emulator.endpoint)
        if self.scenario.regions_of("aws") and self._wanted("aws"):
            # Lazy: only the clouds the scenario (or a replay's event) needs are started; moto is slow to load.
            from responder.clouds.aws import AwsCloud
            from responder.sandbox.aws_ec2 import AwsEc2Emulator

            emulator = AwsEc2Emulator(self.scenario, clock=self.clock).start()
            self.emulators["aws"] = emulator
            # The Spot Instance Advisor's document comes from the emulator too (spot_advice.py).
            self.clouds["aws"] = AwsCloud(endpoint_url=emulator.endpoint_url, aws_access_key_id=SANDBOX_KEY,
                                          advisor_url=emulator.endpoint_url + ADVISOR_PATH,
                                          aws_secret_access_key=SANDBOX_SECRET,
                                          region_name=self.scenario.regions_of("aws")[0].region)
        if self.scenario.raw.get("oci") and self._wanted("oci"):
            # Lazy: only the clouds the scenario needs are started; the OCI SDK is slow to load.
            from responder.sandbox.oci_setup import start_oci

            self.oci = start_oci(self.scenario, clock=self.clock)
            self.emulators["oci"] = self.oci.emulator
            self.clouds["oci"] = self.oci.cloud()
        return self

    def _wanted(self, cloud: str) -> bool:
        return self.only is None or cloud in self.only

    def calls(self, cloud: str) -> list[str]:
        """The API actions the sandbox answered for `cloud`, in order."""
        emulator = self.emulators.get(cloud)
        return [c["action"] for c in list(emulator.calls)] if emulator else []

    def stop(self) -> None:
        for emulator in self.emulators.values():
            emulator.stop()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandbox(scenario: str | Path | dict | Scenario | None = None, only: tuple[str, ...] | None = None,
                  clock=None, **overrides) -> Sandbox:
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, **overrides)
    return Sandbox(scenario, only, clock).start()
