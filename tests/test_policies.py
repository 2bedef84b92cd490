"""The deploy policies grant exactly what the code calls, as the vendors' table names it, and the
sandbox enforces them.

Parts: flow_calls (every flow run once per test run, on one shared sandbox enforcing the shipped policies — the
Aliyun and AWS replacements, an AWS reservation and rebalance replacement, `odcr create` + `odcr
expand` on both clouds, `spot-scores` and `nodepools` — and the calls the emulators answered),
then checks: the flows call what responder/clouds/actions.py lists; every shipped document (the
RAM policy in s.yaml and deploy/, the IAM policy in template.yaml and deploy/, deploy/oci-policy.txt)
allows every permission the table (responder/clouds/permissions.py) says those calls need, and
nothing else; scoped deletes refuse untagged resources. The removal test lives in
tests/test_policies_removed.py.

After new cloud calls land, re-run this file: a failure names each call and the feature list in
responder/clouds/actions.py to add it to; then `python deploy/policies.py` rewrites the documents.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from responder.clouds.actions import CALLED, UNREACHABLE_ON_SANDBOX, called_actions, policy_actions
from responder.clouds.permissions import OCI, OCI_LOCATION, needed
from responder.clouds.policies import TAG_SCOPED, oci_policy_text, policy_document
from responder.sandbox.authz import OCI_COMPARTMENT, OCI_GROUP
from responder.sandbox.authz_json import Check, JsonPolicy
from responder.sandbox.authz_oci import OciPolicy
from tests.conftest import event_bytes
from tests.once_fixtures import built_once

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = {"aliyun": ROOT / "deploy" / "aliyun-ram-policy.json", "aws": ROOT / "deploy" / "aws-iam-policy.json"}
SANDBOX_FLOWS = ("aliyun", "aws")  # the clouds this file's flows drive; OCI's own tests drive OCI


def env_of(box) -> dict[str, str]:
    from responder.sandbox.shared import export_lines

    return dict(line.removeprefix("export ").split("=", 1) for line in export_lines(box))


def _replace_flows(env: dict[str, str], tmp: Path) -> None:
    from responder.settings import Settings
    from responder.web import create_app

    runs = [
        ({}, ["aliyun/cloudmonitor-interruption.json"]),
        ({"aws_action": "both"}, ["aws/spot-interruption-warning.json"]),
        ({"rebalance_policy": "replace", "rebalance_retire_delay_seconds": 0}, ["aws/rebalance-recommendation.json"]),
    ]
    for n, (changes, samples) in enumerate(runs):
        settings = Settings.from_env(env, dotenv=False).with_(
            database_url=f"sqlite:///{tmp}/flow{n}.db", background_ticker=False, launch_retry_seconds=0, **changes)
        app = create_app(settings)
        runner = app.extensions["responder"]["runner"]
        client = app.test_client()
        for sample in samples:
            body = client.post("/events", data=event_bytes(sample)).get_json()
            assert body["outcome"] == "accepted", body
            task = runner.run_to_end(body["task"]["id"], timeout=60)
            assert task.status == "done", (sample, task.reason)


def _cli_flows(env: dict[str, str], tmp: Path) -> None:
    from responder.cli import cli

    runner = CliRunner()

    def run(*args: str) -> dict:
        result = runner.invoke(cli, list(args), env={**env, "RESPONDER_DATABASE_URL": f"sqlite:///{tmp}/cli.db"},
                               catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output[-2000:])
        last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "{}"
        return json.loads(last) if last.startswith("{") else {}

    for cloud, itype, zone, region in (("aliyun", "ecs.g7.large", "cn-hangzhou-j", "cn-hangzhou"),
                                       ("aws", "m5.large", "us-east-2b", "us-east-2")):
        created = run("odcr", "create", "--cloud", cloud, "--instance-type", itype, "--availability-zone", zone,
                      "--count", "2", "--region", region, "--ledger", f"sqlite:///{tmp}/ledger-{cloud}.db",
                      "--wait-after-success", "0")
        reservation = created["created_odcrs"][0]["odcr_id"]
        run("odcr", "expand", "--cloud", cloud, "--odcr-id", reservation, "--count", "1", "--region", region,
            "--ledger", f"sqlite:///{tmp}/ledger-{cloud}.db", "--wait-after-success", "0")
    run("spot-scores", "--region", "us-east-2", "--families", "m5,m6i,m7i", "--sizes", "large", "--json")
    runner.invoke(cli, ["nodepools", "--region", "us-east-2", "--families", "m5,m6i,m7i", "--sizes", "large",
                        "--min-score", "1"], env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def flow_calls(tmp_path_factory) -> dict[str, list[dict]]:
    """The calls the flows made, recorded once for the run: with tests dealt one at a time, each
    worker running one of this file's tests would otherwise drive every flow again. The tests only
    read the log, so the workers share it (as JSON, the form /_sandbox/calls serves it in)."""
    recorded = built_once(tmp_path_factory, "policy-flow-calls", _record_flow_calls)
    return json.loads((recorded / "calls.json").read_text())


def _record_flow_calls(where: Path) -> None:
    from responder.sandbox.scenario import load_scenario
    from responder.sandbox.shared import SharedSandbox

    scenario = load_scenario(time_scale=50)
    assert scenario.new_policies().aws is not None, "the default sandbox enforces the shipped policies"
    with SharedSandbox(scenario) as box, pytest.MonkeyPatch.context() as patch:
        env = env_of(box)
        for name, value in env.items():
            patch.setenv(name, value)  # boto3 reads its credentials from the process environment
        _replace_flows(env, where)
        _cli_flows(env, where)
        (where / "calls.json").write_text(json.dumps(box.calls()))


def _answered(flow_calls, cloud: str) -> set[str]:
    return {c["action"] for c in flow_calls[cloud] if c.get("action") and c.get("status") == 200}


@pytest.mark.parametrize("cloud", SANDBOX_FLOWS)
def test_every_flow_passes_with_the_shipped_policy_enforced(cloud, flow_calls):
    refused = [(c["action"], c["code"]) for c in flow_calls[cloud]
               if c.get("code") in ("Forbidden.RAM", "UnauthorizedOperation")]
    assert not refused, f"{cloud}: the shipped policy refused {refused}"


@pytest.mark.parametrize("cloud", SANDBOX_FLOWS)
def test_every_action_the_flows_call_is_listed_for_a_feature(cloud, flow_calls):
    missing = sorted(_answered(flow_calls, cloud) - called_actions(cloud))
    assert not missing, (f"{cloud}: the flows call {missing}, which responder/clouds/actions.py does not list: "
                         f"add each to the feature that calls it in CALLED[{cloud!r}]")


@pytest.mark.parametrize("cloud", SANDBOX_FLOWS)
def test_every_listed_action_is_called_by_some_flow(cloud, flow_calls):
    unused = sorted(called_actions(cloud) - _answered(flow_calls, cloud) - set(UNREACHABLE_ON_SANDBOX[cloud]))
    assert not unused, f"{cloud}: responder/clouds/actions.py lists {unused}, which no flow calls: remove them"


def test_every_called_api_has_its_permissions_in_the_cited_table():
    unknown = sorted((cloud, api) for cloud in CALLED for api in called_actions(cloud) if not needed(cloud, api))
    assert not unknown, f"responder/clouds/permissions.py names no permission for {unknown}"


def _s_yaml_policy() -> dict:
    doc = yaml.safe_load((ROOT / "s.yaml").read_text())
    return json.loads(doc["vars"]["ramPolicy"])


def _template_policy() -> dict:
    from tests.test_deploy_lambda import function

    policies = function()["Policies"]
    document = next(p["Statement"] for p in policies if isinstance(p, dict) and "Statement" in p)
    # Statements about the platform (the dead-letter queue) are not cloud calls.
    return {"Statement": [s for s in document if not s.get("Sid", "").startswith("Platform")]}


POLICIES = {
    ("aliyun", "deploy/aliyun-ram-policy.json"): lambda: json.loads(DOCUMENTS["aliyun"].read_text()),
    ("aliyun", "s.yaml"): _s_yaml_policy,
    ("aws", "deploy/aws-iam-policy.json"): lambda: json.loads(DOCUMENTS["aws"].read_text()),
    ("aws", "template.yaml"): _template_policy,
}


def _granted(document: dict) -> set[str]:
    granted: set[str] = set()
    for statement in document["Statement"]:
        assert statement.get("Effect") == "Allow", statement
        actions = statement["Action"]
        granted |= {actions} if isinstance(actions, str) else set(actions)
    return granted


def _check_for(cloud: str, permission: str) -> Check:
    """The question the cloud asks for `permission` on a resource the responder owns."""
    action = permission.split(":", 1)[1]
    owned = {"aws:resourcetag/responder:managed": ("true",), "ec2:resourcetag/responder:managed": ("true",),
             "acs:resourcetag/responder:managed": ("true",)}
    if cloud == "aws" and action in TAG_SCOPED:
        kind = TAG_SCOPED[action][0]
        owner = "" if kind in ("image", "snapshot") else "123456789012"
        return Check(permission, f"arn:aws:ec2:us-east-2:{owner}:{kind}/x-1", owned)
    if permission == "ec2:CreateTags":
        return Check(permission, "*", {"ec2:createaction": ("CreateImage",), "aws:tagkeys": ("responder:managed",)})
    if permission == "ec2:CreateCapacityReservation":
        return Check(permission, "arn:aws:ec2:us-east-2:123456789012:capacity-reservation/*",
                     {"aws:requesttag/responder:managed": ("true",)})
    if permission == "iam:PassRole":
        return Check(permission, "*", {"iam:passedtoservice": ("ec2.amazonaws.com",)})
    if permission == "secretsmanager:GetSecretValue":
        return Check(permission, "arn:aws:secretsmanager:us-east-2:123456789012:secret:store-AbCdEf")
    if permission == "ecs:DeleteInstance":
        return Check(permission, "acs:ecs:cn-hangzhou:1690701234567830:instance/i-1", owned)
    if permission == "kms:GetSecretValue":
        return Check(permission, "acs:kms:cn-hangzhou:1690701234567830:secret/store")
    return Check(permission)


@pytest.mark.parametrize("cloud,where", sorted(POLICIES))
def test_the_policy_allows_every_permission_the_table_says_the_calls_need(cloud, where):
    policy = JsonPolicy(POLICIES[(cloud, where)](), where)
    refused = sorted(p for p in policy_actions(cloud) if policy.decide(_check_for(cloud, p)) != "allow")
    assert not refused, f"{where} does not allow {refused}"


@pytest.mark.parametrize("cloud,where", sorted(POLICIES))
def test_the_policy_grants_nothing_the_calls_do_not_need(cloud, where):
    granted = _granted(POLICIES[(cloud, where)]())
    assert not sorted(granted - policy_actions(cloud)), f"{where} grants {sorted(granted - policy_actions(cloud))}"
    assert not [a for a in granted if "*" in a], "no wildcard actions"


@pytest.mark.parametrize("where", ["deploy/aws-iam-policy.json", "template.yaml"])
@pytest.mark.parametrize("action", sorted(TAG_SCOPED))
def test_an_ec2_delete_is_refused_on_a_resource_the_responder_did_not_tag(where, action):
    policy = JsonPolicy(POLICIES[("aws", where)]())
    owned = _check_for("aws", f"ec2:{action}")
    assert policy.decide(owned) == "allow"
    assert policy.decide(Check(owned.action, owned.resource, {"aws:resourcetag/app": ("batch",)})) == "implicit-deny"


@pytest.mark.parametrize("where", ["deploy/aws-iam-policy.json", "template.yaml"])
def test_create_tags_outside_a_create_writes_only_the_responder_tag(where):
    policy = JsonPolicy(POLICIES[("aws", where)]())
    ours = {"aws:requesttag/responder:managed": ("true",), "aws:tagkeys": ("responder:managed",)}
    instance = "arn:aws:ec2:us-east-2:123456789012:instance/i-1"
    assert policy.decide(Check("ec2:CreateTags", instance, ours)) == "allow"
    other = dict(ours, **{"aws:requesttag/owner": ("me",), "aws:tagkeys": ("responder:managed", "owner")})
    assert policy.decide(Check("ec2:CreateTags", instance, other)) == "implicit-deny"


@pytest.mark.parametrize("where", ["deploy/aliyun-ram-policy.json", "s.yaml"])
def test_aliyun_releases_only_instances_the_responder_tagged(where):
    policy = JsonPolicy(POLICIES[("aliyun", where)]())
    check = _check_for("aliyun", "ecs:DeleteInstance")
    assert policy.decide(check) == "allow"
    assert policy.decide(Check(check.action, check.resource, {})) == "implicit-deny"


@pytest.mark.parametrize("cloud", sorted(DOCUMENTS))
def test_the_standalone_documents_are_what_deploy_policies_py_writes(cloud):
    assert json.loads(DOCUMENTS[cloud].read_text()) == policy_document(cloud)


def test_the_oci_policy_is_what_deploy_policies_py_writes():
    text = (ROOT / "deploy" / "oci-policy.txt").read_text()
    statements = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert statements == oci_policy_text().splitlines()


def test_the_oci_policy_grants_what_each_operation_needs_and_no_broad_manage():
    policy = OciPolicy((ROOT / "deploy" / "oci-policy.txt").read_text())
    for api in called_actions("oci"):
        for permission in OCI[api]:
            assert policy.allows(OCI_GROUP, permission, OCI_COMPARTMENT,
                                 on_tenancy=OCI_LOCATION.get(permission) == "tenancy"), (api, permission)
    for unused in ("INSTANCE_MOVE", "INSTANCE_IMAGE_DELETE", "INSTANCE_ATTACH_SECONDARY_VNIC", "VOLUME_CREATE"):
        assert not policy.allows(OCI_GROUP, unused, OCI_COMPARTMENT), unused
    assert not policy.allows("SomeoneElse", "INSTANCE_READ", OCI_COMPARTMENT)


def test_every_unreachable_permission_says_why():
    assert all(reason.strip() for cloud in UNREACHABLE_ON_SANDBOX.values() for reason in cloud.values())
    assert set(CALLED) == set(UNREACHABLE_ON_SANDBOX)
    assert all(set(UNREACHABLE_ON_SANDBOX[c]) <= called_actions(c) for c in CALLED)
