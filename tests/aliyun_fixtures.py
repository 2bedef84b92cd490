"""Fixtures for tests that talk to the Aliyun ECS emulator through the real SDK.

Parts: `no_proxy_env` (the SDK ignores NO_PROXY, so loopback calls must not see HTTP(S)_PROXY),
`aliyun_emulator` (factory: scenario dict/overrides → started emulator, stopped at teardown),
`sdk_client` (an AcsClient pointed at an emulator, retries off), `small_scenario` (a compact
scenario dict tests can copy and edit).

Use from a test module with `from tests.aliyun_fixtures import *  # noqa: F401,F403` or list
"tests.aliyun_fixtures" in conftest's pytest_plugins.
"""

from __future__ import annotations

import copy

import pytest
import json

from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from responder.sandbox.aliyun_ecs import AliyunEcsEmulator
from responder.sandbox.scenario import load_scenario

REGION = "cn-hangzhou"
DOOMED = "i-bp1ecr7pz2yq4v5go2go"
VPC = "vpc-bp171csbkbnjhg1bj3npw"
VSW_I = "vsw-bp1xgvok3myac6ctry030"
VSW_J = "vsw-bp1j4k2lmn7opq3rst5uv"

SMALL = {
    "name": "small",
    "latency_ms": 0,
    "image_build_seconds": 2,
    "instance_boot_seconds": 1,
    "time_scale": 1,
    "stock": {"default": 10, "offers": [
        {"type": "ecs.g7.large", "zone": "cn-hangzhou-i", "market": "spot", "available": 0},
        {"type": "ecs.g7.large", "zone": "cn-hangzhou-j", "market": "spot", "available": 3},
    ]},
    "faults": [],
    "rate_limits": True,  # ECS's per-minute thresholds (docs/scenario.md), as in the shipped scenarios
    "regions": [{
        "cloud": "aliyun", "region": REGION, "account": "1690701234567830",
        "zones": ["cn-hangzhou-i", "cn-hangzhou-j"],
        "subnets": [{"id": VSW_I, "zone": "cn-hangzhou-i", "vpc": VPC},
                    {"id": VSW_J, "zone": "cn-hangzhou-j", "vpc": VPC}],
        "instance_types": [
            {"type": "ecs.g7.large", "family": "ecs.g7", "cpu": 2, "memory_gib": 8},
            {"type": "ecs.g6.large", "family": "ecs.g6", "cpu": 2, "memory_gib": 8},
            {"type": "ecs.g8y.large", "family": "ecs.g8y", "cpu": 2, "memory_gib": 8, "arch": "arm64",
             "zones": ["cn-hangzhou-j"]},
        ],
        "instances": [{
            "id": DOOMED, "type": "ecs.g7.large", "zone": "cn-hangzhou-i", "subnet": VSW_I,
            "spot_strategy": "SpotAsPriceGo", "status": "Running", "locks": ["Recycling"],
            "name": "worker-1", "hostname": "worker-1", "security_groups": ["sg-bp16q7p8yafqaure63n4"],
            "key_pair": "my-kp", "tags": {"app": "batch"}, "ram_role": "worker-role",
            "user_data": "IyEvYmluL3NoCmVjaG8gaGVsbG8K", "public_ip": "47.96.10.20", "bandwidth_out": 5,
            "system_disk": {"category": "cloud_essd", "size": 40},
        }, {
            "id": "i-bp1broken00000000000", "type": "ecs.g6.large", "zone": "cn-hangzhou-j", "subnet": VSW_J,
            "spot_strategy": "NoSpot", "status": "Running", "locks": [], "image_result": "CreateFailed",
        }],
    }],
}


@pytest.fixture
def small_scenario() -> dict:
    return copy.deepcopy(SMALL)


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aliyun_emulator(no_proxy_env):
    """Factory: aliyun_emulator(scenario_dict_or_None, **overrides) → a started emulator."""
    started = []

    def start(scenario=None, **overrides):
        emulator = AliyunEcsEmulator(load_scenario(scenario, **overrides)).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def sdk_client(emulator, secret: str = "sandbox-secret", key: str = "sandbox-key") -> AcsClient:
    client = AcsClient(key, secret, REGION, auto_retry=False, max_retry_time=0, timeout=10, connect_timeout=5,
                       pool_size=32)
    client.add_endpoint(REGION, "Ecs", emulator.endpoint)
    return client


def ecs_call(client: AcsClient, action: str, **params) -> dict:
    """One ECS RPC call through the real SDK's CommonRequest (any action, flat parameters)."""
    request = CommonRequest(domain=None, version="2014-05-26", action_name=action)
    request.set_method("POST")
    request.set_product("Ecs")
    request.add_query_param("RegionId", REGION)
    for key, value in params.items():
        request.add_query_param(key, value)
    return json.loads(client.do_action_with_exception(request))
