"""Shared fixtures for the AWS emulator and adapter tests (imported by the modules that use them).

Parts: aws_env (fake credentials, no proxies), scenario (the default scenario, sped up), emulator
(a running AwsEc2Emulator), ec2 (a raw boto3 client on it, retries off), cloud (AwsCloud on it),
make_emulator (start one from a modified scenario).

Import into a test module with `from aws_fixtures import *` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import copy

import boto3
import pytest
from botocore.config import Config

from responder.clouds.aws import AwsCloud
from responder.sandbox.aws_ec2 import AwsEc2Emulator
from responder.sandbox.scenario import DEFAULT_SCENARIO, load_scenario

REGION = "us-east-2"
SPOT_ID = "i-1234567890abcdef0"

__all__ = ["REGION", "SPOT_ID", "aws_env", "scenario_dict", "make_emulator", "emulator", "ec2", "cloud", "client_for"]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def scenario_dict():
    """The default scenario as a dict, for tests to edit before starting an emulator."""
    import yaml

    return copy.deepcopy(yaml.safe_load(DEFAULT_SCENARIO.read_text()))


@pytest.fixture
def make_emulator():
    started = []

    def make(data=None, **overrides):
        emu = AwsEc2Emulator(load_scenario(data, **overrides)).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(make_emulator):
    return make_emulator()


def client_for(emu):
    """A raw EC2 client signed as the account owner (SANDBOX_ADMIN_KEY): test set-up and the
    emulator's own rules, never refused by the responder's policy. The adapter (`cloud`) is checked."""
    return boto3.client("ec2", region_name=REGION, endpoint_url=emu.endpoint_url, aws_access_key_id="sandbox-admin",
                        aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def ec2(emulator):
    return client_for(emulator)


@pytest.fixture
def cloud(emulator):
    return AwsCloud(endpoint_url=emulator.endpoint_url, region_name=REGION)
