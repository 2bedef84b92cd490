"""The SAM template is valid and wires what the Lambda handler expects.

Parts: cfn-lint on template.yaml (the SAM transform included), the function (handler importable,
runtime one the project supports, the store from a Secrets Manager secret, no SQLite), the
EventBridge rules (spot warning, rebalance, state change, Health) and the schedule whose input the
handler reads as a tick, the dead-letter queue on the function and on every rule.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from responder.parsing import parse_body
from responder.model import Tick

ROOT = Path(__file__).resolve().parents[1]


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short forms (!Ref, !Sub, !GetAtt, !If) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else
    loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node)))


def template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


def function() -> dict:
    return template()["Resources"]["ResponderFunction"]["Properties"]


def cfn_lint() -> list[str]:
    found = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    if found is None:
        pytest.skip("cfn-lint is not installed (requirements-dev.txt pins it)")
    return [found]


def test_cfn_lint_finds_nothing_in_the_template():
    done = subprocess.run([*cfn_lint(), str(ROOT / "template.yaml")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_would_catch_a_broken_template(tmp_path):
    broken = (ROOT / "template.yaml").read_text().replace("Runtime: python3.11", "Runtime: python2.7")
    (tmp_path / "template.yaml").write_text(broken)
    done = subprocess.run([*cfn_lint(), str(tmp_path / "template.yaml")], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "python2.7" in done.stdout


def test_the_handler_is_the_lambda_entry_point_and_the_runtime_is_supported():
    props, globals_ = function(), template()["Globals"]["Function"]
    module, _, name = props["Handler"].rpartition(".")
    assert callable(getattr(__import__(module, fromlist=[name]), name))
    assert globals_["Runtime"] in ("python3.10", "python3.11", "python3.12")
    assert props["CodeUri"] == "build/lambda"


def test_the_function_timeout_is_lambdas_maximum_the_race_needs_more():
    # The slowest AMI of the realistic AWS pack (a 200 GiB gp3 volume) takes 1220 s: more than
    # Lambda's 900 s maximum, so the function asks for all of it and the schedule resumes the rest.
    assert function()["Timeout"] == 900


def test_the_store_comes_from_a_secret_and_is_never_sqlite():
    env = function()["Environment"]["Variables"]
    assert "{{resolve:secretsmanager:${StoreSecretArn}" in env["RESPONDER_DATABASE_URL"]
    assert "sqlite" not in json.dumps(env) and "RESPONDER_ALLOW_LOCAL_SQLITE" not in env
    assert env["RESPONDER_CLOUDS"] == "aws"


def test_eventbridge_rules_cover_the_four_aws_notices_and_each_has_the_dead_letter_queue():
    events = function()["Events"]
    rules = {name: e["Properties"] for name, e in events.items() if e["Type"] == "EventBridgeRule"}
    kinds = {t for r in rules.values() for t in r["Pattern"]["detail-type"]}
    assert kinds == {"EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation",
                     "EC2 Instance State-change Notification", "AWS Health Event"}
    for rule in rules.values():
        assert rule["DeadLetterConfig"]["Arn"] == "ResponderDeadLetters.Arn"
    assert function()["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": "ResponderDeadLetters.Arn"}


def test_the_schedule_sends_what_the_handler_reads_as_a_tick():
    schedule = next(e["Properties"] for e in function()["Events"].values() if e["Type"] == "Schedule")
    assert schedule["Schedule"] == "rate(1 minute)"
    assert [type(e) for e in parse_body(schedule["Input"].encode(), 4096)] == [Tick]
