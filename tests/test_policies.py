"""The deploy policies grant exactly what the code calls.

Parts: flow_calls (every flow run once on one shared sandbox — the Aliyun and AWS replacements, an
AWS reservation and rebalance replacement, `odcr create` + `odcr expand` on both clouds,
`spot-scores` and `nodepools` — and the actions the emulators answered, per cloud), then checks:
the flows call what responder/clouds/actions.py lists (nothing missing, nothing listed that no
flow calls), and the RAM policy in s.yaml, the IAM policy in template.yaml and the standalone
documents in deploy/ grant exactly policy_actions, with reservation writes scoped by tag.

After new cloud calls land, re-run this file: a failure names each action and the feature list
in responder/clouds/actions.py to add it to; then `python deploy/policies.py` rewrites the
policy documents.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from responder.clouds.actions import (CALLED, IMPLIED, PREFIX, SCOPED, UNREACHABLE_ON_SANDBOX, called_actions,
                                      policy_actions)
from tests.conftest import event_bytes

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = {"aliyun": ROOT / "deploy" / "aliyun-ram-policy.json", "aws": ROOT / "deploy" / "aws-iam-policy.json"}


def _env_of(box) -> dict[str, str]:
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
def flow_calls(tmp_path_factory) -> dict[str, set[str]]:
    from responder.sandbox.scenario import load_scenario
    from responder.sandbox.shared import SharedSandbox

    tmp = tmp_path_factory.mktemp("flows")
    with SharedSandbox(load_scenario(time_scale=50)) as box, pytest.MonkeyPatch.context() as patch:
        env = _env_of(box)
        for name, value in env.items():
            patch.setenv(name, value)  # boto3 reads its credentials from the process environment
        _replace_flows(env, tmp)
        _cli_flows(env, tmp)
        calls = box.calls()
    return {cloud: {c["action"] for c in entries if c.get("action")} for cloud, entries in calls.items()}


@pytest.mark.parametrize("cloud", sorted(CALLED))
def test_every_action_the_flows_call_is_listed_for_a_feature(cloud, flow_calls):
    missing = sorted(flow_calls[cloud] - called_actions(cloud))
    assert not missing, (f"{cloud}: the flows call {missing}, which responder/clouds/actions.py does not list: "
                         f"add each to the feature that calls it in CALLED[{cloud!r}]")


@pytest.mark.parametrize("cloud", sorted(CALLED))
def test_every_listed_action_is_called_by_some_flow(cloud, flow_calls):
    unused = sorted(called_actions(cloud) - flow_calls[cloud] - set(UNREACHABLE_ON_SANDBOX[cloud]))
    assert not unused, f"{cloud}: responder/clouds/actions.py lists {unused}, which no flow calls: remove them"


def _statements(document: dict) -> list[dict]:
    return document.get("Statement", [])


def _granted(document: dict) -> set[str]:
    granted: set[str] = set()
    for statement in _statements(document):
        assert statement.get("Effect") == "Allow", statement
        actions = statement["Action"]
        granted |= {actions} if isinstance(actions, str) else set(actions)
    return granted


def _s_yaml_policy() -> dict:
    doc = yaml.safe_load((ROOT / "s.yaml").read_text())
    return json.loads(doc["vars"]["ramPolicy"])


def _template_policy() -> dict:
    from tests.test_deploy_lambda import function

    policies = function()["Policies"]
    document = next(p["Statement"] for p in policies if isinstance(p, dict) and "Statement" in p)
    # Statements about the platform (the store's secret, the dead-letter queue) are not cloud calls.
    return {"Statement": [s for s in document if not s.get("Sid", "").startswith("Platform")]}


POLICIES = {
    ("aliyun", "deploy/aliyun-ram-policy.json"): lambda: json.loads(DOCUMENTS["aliyun"].read_text()),
    ("aliyun", "s.yaml"): _s_yaml_policy,
    ("aws", "deploy/aws-iam-policy.json"): lambda: json.loads(DOCUMENTS["aws"].read_text()),
    ("aws", "template.yaml"): _template_policy,
}


@pytest.mark.parametrize("cloud,where", sorted(POLICIES))
def test_the_policy_grants_exactly_what_the_code_calls(cloud, where):
    granted = _granted(POLICIES[(cloud, where)]())
    wanted = policy_actions(cloud)
    assert not sorted(wanted - granted), f"{where} lacks {sorted(wanted - granted)}"
    assert not sorted(granted - wanted), f"{where} grants {sorted(granted - wanted)}, which nothing calls"
    assert not [a for a in granted if "*" in a], "no wildcard actions"


@pytest.mark.parametrize("where", ["deploy/aws-iam-policy.json", "template.yaml"])
def test_aws_reservation_writes_are_limited_to_reservations_the_responder_tagged(where):
    statements = _statements(POLICIES[("aws", where)]())
    for action, tag in SCOPED["aws"].items():
        granting = [s for s in statements if f"ec2:{action}" in s["Action"]]
        assert granting and all(
            s["Condition"]["StringEquals"][f"aws:ResourceTag/{tag}"] == "true" for s in granting), (action, granting)
    creating = [s for s in statements if "ec2:CreateCapacityReservation" in s["Action"]]
    assert all(s["Condition"]["StringEquals"]["aws:RequestTag/responder:managed"] == "true" for s in creating)


@pytest.mark.parametrize("where", ["deploy/aws-iam-policy.json", "template.yaml"])
def test_passing_a_role_is_limited_to_ec2(where):
    statements = _statements(POLICIES[("aws", where)]())
    passing = [s for s in statements if "iam:PassRole" in s["Action"]]
    assert passing and all(s["Condition"]["StringEquals"]["iam:PassedToService"] == "ec2.amazonaws.com"
                           for s in passing)


@pytest.mark.parametrize("cloud", sorted(DOCUMENTS))
def test_the_standalone_documents_are_what_deploy_policies_py_writes(cloud):
    from responder.clouds.policies import policy_document

    assert json.loads(DOCUMENTS[cloud].read_text()) == policy_document(cloud)


def test_every_implied_or_unreachable_permission_says_why():
    for table in (IMPLIED, UNREACHABLE_ON_SANDBOX):
        assert all(reason.strip() for cloud in table.values() for reason in cloud.values())
    assert set(PREFIX) == set(CALLED) == set(IMPLIED) == set(UNREACHABLE_ON_SANDBOX)
    assert all(set(UNREACHABLE_ON_SANDBOX[c]) <= called_actions(c) for c in CALLED)
