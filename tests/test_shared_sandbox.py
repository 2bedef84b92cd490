"""`responder sandbox`: one process serves both clouds on one port, and other responder processes,
pointed at it only by the exported variables (no --sandbox), share that one cloud."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox_process import EXPORTED, ROOT, SandboxProcess, responder_env, run_responder

ALIYUN_DOOMED = "i-bp1ecr7pz2yq4v5go2go"
AWS_DOOMED = "i-1234567890abcdef0"


@pytest.fixture
def shared(tmp_path):
    box = SandboxProcess(env_file=tmp_path / "sandbox.env").wait_ready()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def untouched():
    """One sandbox process for the tests that only read it (a process start is seconds of imports)."""
    box = SandboxProcess().wait_ready()
    yield box
    box.stop()


def test_it_prints_only_the_exports_and_writes_the_same_lines_to_the_env_file(shared, tmp_path):
    oci = ["OCI_USER_OCID", "OCI_TENANCY_OCID", "OCI_FINGERPRINT", "OCI_REGION", "OCI_COMPARTMENT_OCID",
           "OCI_KEY_FILE", "RESPONDER_OCI_ENDPOINT"]  # the default scenario has an oci: section
    assert sorted(line.split("=", 1)[0] for line in shared.lines) == sorted(f"export {n}" for n in EXPORTED + oci)
    port = shared.exports["RESPONDER_ALIYUN_ENDPOINT"].rsplit(":", 1)[1]
    assert shared.exports["RESPONDER_AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    assert shared.exports["AWS_DEFAULT_REGION"] == "us-east-2"
    assert shared.exports["RESPONDER_OCI_ENDPOINT"] == f"http://127.0.0.1:{port}/oci"
    assert shared.exports["OCI_KEY_FILE"] == str(tmp_path / "oci_api_key.pem")  # beside --env-file
    printed = list(shared.lines)
    assert (tmp_path / "sandbox.env").read_text().splitlines() == printed
    assert shared.stop() == 0
    assert shared.lines == printed  # nothing after the exports, to the end: logs go to stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_it_cleanly(sig):
    box = SandboxProcess().wait_ready()
    assert box.state()["aliyun"]["instances"]
    assert box.stop(sig) == 0
    with pytest.raises(urllib.error.URLError):
        box.state()


def test_the_state_lists_images_instances_and_reservations_per_cloud(untouched):
    state = untouched.state()
    assert set(state) == {"aliyun", "aws", "oci"}
    # the OCI tenancy holds only the preemptible instance events/oci/preemption-action.json names,
    # taken back at the start; hunting fills the rest
    (preempted,) = state["oci"]["instances"]
    assert (preempted["id"], preempted["market"]) == (json.load(open(ROOT / "events/oci/preemption-action.json"))
                                                      ["data"]["resourceId"], "spot")
    assert preempted["status"] in ("TERMINATING", "TERMINATED")
    for cloud, doomed in (("aliyun", ALIYUN_DOOMED), ("aws", AWS_DOOMED)):
        assert set(state[cloud]) == {"images", "instances", "reservations"}
        inst = next(i for i in state[cloud]["instances"] if i["id"] == doomed)
        assert inst["zone"] and inst["status"].lower() == "running"


def test_unknown_sandbox_routes_and_bad_advance_are_client_errors(untouched):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for method, path, status in (("GET", "/_sandbox/nothing", 404), ("POST", "/_sandbox/advance?seconds=soon", 400)):
        with pytest.raises(urllib.error.HTTPError) as err:
            opener.open(urllib.request.Request(untouched.base_url + path, method=method, data=b"" if method == "POST" else None))
        assert err.value.code == status and "error" in json.loads(err.value.read())


def test_replays_in_other_processes_share_the_one_cloud(shared, tmp_path):
    from responder.store import Store

    url = f"sqlite:///{tmp_path}/tasks.db"
    # The schema first: two processes creating it at once on an empty database race each other.
    Store(url)
    # The image-first flow: each replacement is launched from its own fresh image (`auto` may
    # launch from the original's image first when the image cannot beat the notice).
    env = responder_env(shared.exports, RESPONDER_DATABASE_URL=url, RESPONDER_LAUNCH_FROM="fresh-image")

    def replay(event):
        return run_responder("replay", event, "--json", env=env)

    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(replay, ["events/aliyun/cloudmonitor-interruption.json",
                                      "events/aws/spot-interruption-warning.json"]))
    outcomes = []
    for result in done:
        assert result.returncode == 0, result.stderr[-2000:]
        outcomes.append(json.loads(result.stdout.splitlines()[-1]))
    assert [o["status"] for o in outcomes] == ["done", "done"]

    state = shared.state()
    for cloud, doomed, outcome in (("aliyun", ALIYUN_DOOMED, outcomes[0]), ("aws", AWS_DOOMED, outcomes[1])):
        images = [i for i in state[cloud]["images"] if i["instance"] == doomed]
        assert [i["id"] for i in images] == [outcome["image_id"]]
        replacements = [i for i in state[cloud]["instances"] if i["image"] == outcome["image_id"]]
        assert [i["id"] for i in replacements] == outcome["replacement_ids"]
        assert replacements[0]["zone"] == outcome["zone"]

    calls = shared.calls()
    assert [c["action"] for c in calls["aliyun"]].count("CreateImage") == 1
    assert [c["action"] for c in calls["aws"]].count("CreateImage") == 1
    logged = json.dumps(calls)
    for secret in ("sandbox-secret", "sandbox-key", "AWS4-HMAC-SHA256"):
        assert secret not in logged
    keys = {k for cloud in calls.values() for c in cloud for k in c["params"]}
    assert not keys & {"Signature", "AccessKeyId", "SecurityToken", "X-Amz-Signature", "X-Amz-Credential"}


def test_one_port_answers_both_sdks_and_the_state_shows_their_reservations(monkeypatch):
    import boto3
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest
    from botocore.config import Config

    from responder.sandbox.scenario import load_scenario
    from responder.sandbox.shared import SharedSandbox

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with SharedSandbox(load_scenario()) as box:
        ec2 = boto3.client("ec2", region_name="us-east-2", endpoint_url=f"http://{box.address}",
                           aws_access_key_id="sandbox-admin", aws_secret_access_key="sandbox-secret",
                           config=Config(retries={"total_max_attempts": 1}))
        reserved = ec2.create_capacity_reservation(InstanceType="m5.large", InstancePlatform="Linux/UNIX",
                                                   AvailabilityZone="us-east-2b", InstanceCount=2)["CapacityReservation"]
        ecs = AcsClient("sandbox-key", "sandbox-secret", "cn-hangzhou", auto_retry=False)
        ecs.add_endpoint("cn-hangzhou", "Ecs", box.address)
        request = CommonRequest(domain=None, version="2014-05-26", action_name="CreateCapacityReservation")
        request.set_method("POST")
        request.set_product("Ecs")
        for key, value in {"RegionId": "cn-hangzhou", "InstanceType": "ecs.g7.large", "InstanceAmount": "3",
                           "ZoneId.1": "cn-hangzhou-j"}.items():
            request.add_query_param(key, value)
        pool = json.loads(ecs.do_action_with_exception(request))["PrivatePoolOptionsId"]
        state = box.state()
        assert [(r["id"], r["total"]) for r in state["aws"]["reservations"]] == [(reserved["CapacityReservationId"], 2)]
        assert [(r["id"], r["total"], r["zone"]) for r in state["aliyun"]["reservations"]] == [(pool, 3, "cn-hangzhou-j")]
        assert [c["action"] for c in box.calls()["aws"]] == ["CreateCapacityReservation"]
        assert [c["action"] for c in box.calls()["aliyun"]] == ["CreateCapacityReservation"]
