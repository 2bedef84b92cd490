"""The emulators' API rate limits (`rate_limits:`, responder/sandbox/rate_limits.py), met through the
real SDKs on a ManualClock: EC2's token buckets refill at the documented rates and refuse with
RequestLimitExceeded / 503; ECS refuses with Throttling.User / 400 and stays refused until the next
minute; OCI answers 429; the call log marks every throttled answer; the scenario check names a
bad field and its line."""

from __future__ import annotations

import copy

import boto3
import pytest
from aliyun_fixtures import SMALL, ecs_call, no_proxy_env, sdk_client  # noqa: F401  (fixtures are used by name)
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aws_fixtures import REGION as AWS_REGION
from aws_fixtures import aws_env  # noqa: F401  (a fixture, used by name)
from botocore.config import Config
from botocore.exceptions import ClientError
from oci_fixtures import TENANCY, oci_scenario, start_oci_box

from responder.sandbox.aliyun_ecs import AliyunEcsEmulator
from responder.sandbox.aws_ec2 import AwsEc2Emulator
from responder.sandbox.rate_limits import RateLimits
from responder.sandbox.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario
from responder.sandbox.stock import ManualClock


def _aws_scenario(**rate_limits) -> dict:
    import yaml

    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data.pop("world", None)  # one region is enough here (and starts faster)
    data["regions"] = [r for r in data["regions"] if r["cloud"] == "aws"]
    data["rate_limits"] = rate_limits or True
    return data


@pytest.fixture
def aws_box(aws_env):  # noqa: F811  (the imported fixture)
    clock = ManualClock()
    boxes = []

    def start(data):
        emu = AwsEc2Emulator(load_scenario(data), clock=clock).start()
        boxes.append(emu)
        # The responder's own credentials (not the owner's sandbox-admin key, which no limit applies to).
        client = boto3.client("ec2", region_name=AWS_REGION, endpoint_url=emu.endpoint_url,
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              config=Config(retries={"total_max_attempts": 1}))
        return emu, client

    yield start, clock
    for emu in boxes:
        emu.stop()


def _refused(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response


def test_ec2_non_mutating_bucket_holds_100_and_refills_20_a_second(aws_box):
    start, clock = aws_box
    emu, ec2 = start(_aws_scenario())
    for _ in range(100):
        ec2.describe_images(Owners=["self"])
    refused = _refused(lambda: ec2.describe_images(Owners=["self"]))
    assert refused["Error"]["Code"] == "RequestLimitExceeded"
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 503
    clock.advance(0.5)  # 10 tokens back at 20 a second
    for _ in range(10):
        ec2.describe_images(Owners=["self"])
    assert _refused(lambda: ec2.describe_images(Owners=["self"]))["Error"]["Code"] == "RequestLimitExceeded"
    ec2.describe_instance_types(InstanceTypes=["m5.large"])  # another API's bucket is untouched
    throttled = emu.throttled()
    assert [c["throttled"] for c in throttled] == ["DescribeImages", "DescribeImages"]
    assert all(c["status"] == 503 and c["code"] == "RequestLimitExceeded" for c in throttled)
    assert emu.throttled_share() == pytest.approx(2 / 113)


def test_ec2_unfiltered_describe_instances_draws_the_smaller_bucket(aws_box):
    start, clock = aws_box
    emu, ec2 = start(_aws_scenario())
    for _ in range(50):
        ec2.describe_instances()
    assert _refused(ec2.describe_instances)["Error"]["Code"] == "RequestLimitExceeded"
    # With a filter the call draws from the non-mutating bucket, which is still full.
    ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    clock.advance(1)  # 10 a second back in the unfiltered bucket
    for _ in range(10):
        ec2.describe_instances()
    assert _refused(ec2.describe_instances)["Error"]["Code"] == "RequestLimitExceeded"
    assert {c["throttled"] for c in emu.throttled()} == {"DescribeInstances:unfiltered"}


def test_ec2_run_instances_request_and_resource_buckets(aws_box):
    start, clock = aws_box
    data = _aws_scenario(aws={"RunInstances": {"capacity": 100, "refill": 100},
                              "RunInstances:instances": {"capacity": 10, "refill": 2}})
    emu, ec2 = start(data)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def run(count):
        return ec2.run_instances(ImageId=image, InstanceType="m6i.large", MinCount=count, MaxCount=count)

    run(6)
    refused = _refused(lambda: run(5))  # 4 instance tokens left: the whole call is refused
    assert (refused["Error"]["Code"], refused["ResponseMetadata"]["HTTPStatusCode"]) == ("RequestLimitExceeded", 503)
    run(4)
    clock.advance(1.5)  # 3 instance tokens at 2 a second
    run(3)
    assert emu.throttled()[0]["throttled"] == "RunInstances:instances"


def test_ec2_run_instances_documented_request_bucket_is_five(aws_box):
    start, clock = aws_box
    emu, ec2 = start(_aws_scenario())
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for _ in range(5):
        ec2.run_instances(ImageId=image, InstanceType="m6i.large", MinCount=1, MaxCount=1)
    refused = _refused(lambda: ec2.run_instances(ImageId=image, InstanceType="m6i.large", MinCount=1, MaxCount=1))
    assert refused["Error"]["Code"] == "RequestLimitExceeded"
    assert emu.throttled()[0]["throttled"] == "RunInstances"
    clock.advance(0.5)  # 2 a second: one token back
    ec2.run_instances(ImageId=image, InstanceType="m6i.large", MinCount=1, MaxCount=1)


def test_rate_limits_off_lets_every_call_through(aws_box):
    start, _ = aws_box
    data = _aws_scenario()
    data["rate_limits"] = "off"
    emu, ec2 = start(data)
    for _ in range(120):
        ec2.describe_images(Owners=["self"])
    assert emu.throttled() == [] and emu.rate_limits is None


# -- ECS -----------------------------------------------------------------------------------------
def test_ec2_refuses_more_than_200_filter_values_in_one_call(aws_box):
    """EC2's FilterLimitExceeded (400): the responder's many-instance reads send at most 100 values
    a call, and the emulator refuses what EC2 would, so a read of more than it takes fails here too."""
    start, _ = aws_box
    _, client = start(_aws_scenario())
    ids = [f"i-{n:017x}" for n in range(201)]
    refused = _refused(lambda: client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": ids}]))
    assert refused["Error"]["Code"] == "FilterLimitExceeded"
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "200" in refused["Error"]["Message"]
    assert client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": ids[:200]}])["Volumes"] == []


@pytest.fixture
def ecs_box(no_proxy_env):  # noqa: F811  (the imported fixture)
    """Factory: ecs_box(rate_limits) → (clock, emulator, SDK client); stopped at teardown."""
    started = []

    def start(rate_limits):
        clock = ManualClock(0.0)
        emu = AliyunEcsEmulator(load_scenario(dict(copy.deepcopy(SMALL), rate_limits=rate_limits)), clock=clock)
        started.append(emu.start())
        return clock, emu, sdk_client(emu)

    yield start
    for emu in started:
        emu.stop()


def _ecs_refused(client, action: str) -> ServerException:
    with pytest.raises(ServerException) as info:
        ecs_call(client, action)
    return info.value


def test_ecs_throttled_in_minute_t_stays_refused_until_minute_t_plus_1(ecs_box):
    clock, emu, client = ecs_box({"aliyun": {"DescribeImages": {"calls": 5, "seconds": 60}}})
    for _ in range(5):
        ecs_call(client, "DescribeImages")
    refused = _ecs_refused(client, "DescribeImages")
    assert (refused.get_error_code(), refused.get_http_status()) == ("Throttling.User", 400)
    assert refused.get_error_msg() == "Request was denied due to user flow control."
    clock.advance(59)  # still minute 0
    assert _ecs_refused(client, "DescribeImages").get_error_code() == "Throttling.User"
    ecs_call(client, "DescribeInstances")  # another API: its own threshold
    clock.advance(1)  # minute 1
    ecs_call(client, "DescribeImages")
    assert [(c["action"], c["throttled"]) for c in emu.throttled()] == [("DescribeImages", "DescribeImages")] * 2


def test_ecs_default_threshold_is_200_a_minute_per_api(ecs_box):
    _, emu, client = ecs_box(True)
    for _ in range(200):
        ecs_call(client, "DescribeInstanceTypes")
    assert _ecs_refused(client, "DescribeInstanceTypes").get_error_code() == "Throttling.User"
    assert len(emu.throttled()) == 1


def test_ecs_instances_a_minute_are_counted_by_amount():
    clock = ManualClock(0.0)
    limits = RateLimits("aliyun", clock, {"instances": (10.0, 60.0)})
    assert limits.admit("a", "r", "RunInstances", {"Amount": "8"}) is None
    refusal = limits.admit("a", "r", "RunInstances", {"Amount": "3"})
    assert (refusal.code, refusal.status, refusal.bucket) == ("Throttling.User", 400, "instances")
    # The refused call took nothing from RunInstances' own per-API window either.
    assert limits._limits[("a", "r", "RunInstances")].used == 1
    clock.advance(60)
    assert limits.admit("a", "r", "RunInstances", {"Amount": "10"}) is None


def test_the_bound_to_admit_n_calls_follows_the_figures():
    clock = ManualClock(0.0)
    aws, ecs = RateLimits("aws", clock), RateLimits("aliyun", clock)
    assert aws.bound_seconds("CreateImage", 50) == 0.0  # mutating: 50 at once
    assert aws.bound_seconds("CreateImage", 500) == pytest.approx(90.0)  # then 5 a second
    assert aws.bound_seconds("RunInstances", 105) == pytest.approx(50.0)  # its own 5, then 2 a second
    assert ecs.bound_seconds("CreateImage", 200) == 0.0 and ecs.bound_seconds("CreateImage", 201) == 60.0
    assert ecs.bound_seconds("CreateImage", 500) == 120.0  # the 500th in the third minute
    # What the bound promises is what admit does: the 500th ECS CreateImage passes at t=120, not before.
    passed = 0
    while passed < 500:
        if ecs.admit("a", "r", "CreateImage") is None:
            passed += 1
        else:
            clock.advance(1)
    assert clock() == pytest.approx(120.0)


# -- OCI -----------------------------------------------------------------------------------------
def test_oci_read_class_answers_429_through_the_sdk():
    import oci

    box = start_oci_box(dict(oci_scenario(), rate_limits={"oci": {"read": {"capacity": 3, "refill": 1}}}))
    try:
        config = {"user": box.env["OCI_USER_OCID"], "fingerprint": box.env["OCI_FINGERPRINT"],
                  "tenancy": TENANCY, "region": box.env["OCI_REGION"], "key_file": box.env["OCI_KEY_FILE"]}
        compute = oci.core.ComputeClient(config, service_endpoint=box.env["RESPONDER_OCI_ENDPOINT"],
                                         retry_strategy=oci.retry.NoneRetryStrategy())
        for _ in range(3):
            compute.list_instances(TENANCY)
        with pytest.raises(oci.exceptions.ServiceError) as info:
            compute.list_images(TENANCY)  # the same class: reads share one bucket
        assert (info.value.status, info.value.code) == (429, "TooManyRequests")
        box.clock.advance(1)
        compute.list_images(TENANCY)
        assert [c["throttled"] for c in box.emulator.throttled()] == ["read"]
    finally:
        box.sandbox.stop()


# -- the scenario check ----------------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [
    ({"gcp": True}, "rate_limits.gcp: not a cloud"),
    ({"aws": {"mutating": {"capacity": 0, "refill": 5}}}, "rate_limits.aws.mutating.capacity: must be a number above 0"),
    ({"aws": {"mutating": {"capacity": 5}}}, "rate_limits.aws.mutating: missing 'refill'"),
    ({"aliyun": {"*": {"calls": 10, "per": 60}}}, "rate_limits.aliyun.*.per: not a field here"),
    ({"oci": "sometimes"}, "rate_limits.oci: must be on, off or a mapping"),
    ("maybe", "rate_limits: must be on, off or a mapping"),
])
def test_a_bad_rate_limits_value_is_named(value, message):
    with pytest.raises(ScenarioError, match=message.replace("*", r"\*")):
        load_scenario(dict(copy.deepcopy(SMALL), rate_limits=value))


def test_a_bad_rate_limit_in_a_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    import yaml

    base = {k: v for k, v in SMALL.items() if k != "rate_limits"}
    body = yaml.safe_dump(base, sort_keys=False) + "rate_limits:\n  aws:\n    mutating: {capacity: -1, refill: 5}\n"
    path.write_text(body)
    line = body.splitlines().index("    mutating: {capacity: -1, refill: 5}") + 1
    with pytest.raises(ScenarioError, match=rf"bad.yaml, line {line}, rate_limits.aws.mutating.capacity"):
        load_scenario(path)


def test_the_shipped_scenarios_have_rate_limits_on():
    from pathlib import Path

    for path in sorted(Path(DEFAULT_SCENARIO).parent.glob("*.yaml")):
        raw = load_scenario(path).raw
        assert raw.get("rate_limits") not in (None, False, "off"), path.name
