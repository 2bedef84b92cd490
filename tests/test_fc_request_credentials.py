"""Function Compute's contract on /invoke: the role's credentials from each request's x-fc-* headers,
and the outbox delivered before the invocation answers.

Parts: an app built from settings alone (the Aliyun emulator's endpoint, no AccessKey in them) and
the real SDK signing against the emulator, which refuses an unknown key; the sample CloudMonitor
interruption posted with only the headers → the instance replaced and the interruption and
replaced notices at a local receiver before the answer; without the headers → the same event
fails for the key; headers winning over the environment's STS token but not over a configured
AccessKey; no credential in any log record; the channels read from a KMS secret that s.yaml and
template.yaml name, never the URLs themselves.
"""
import json
import logging
import re
from pathlib import Path

import pytest

from responder.sandbox.runtime import SANDBOX_KEY, SANDBOX_SECRET
from responder.settings import Settings
from responder.web import create_app
from tests.conftest import event_bytes
from tests.notify_receiver import receiver  # noqa: F401  (the fixture)
from tests.scenarios import scenario

EVENT = "aliyun/cloudmonitor-interruption.json"
TOKEN = "CAISfc-request-token-0123456789"
FC_HEADERS = {"x-fc-access-key-id": SANDBOX_KEY, "x-fc-access-key-secret": SANDBOX_SECRET,
              "x-fc-security-token": TOKEN, "x-fc-function-timeout": "120", "x-fc-request-id": "req-cred"}


@pytest.fixture
def fc_app(sandbox_factory, test_settings: Settings, receiver):  # noqa: F811
    def build(**changes):
        box = sandbox_factory(scenario(cloud="aliyun"))
        settings = test_settings.with_(clouds=("aliyun",), aliyun_endpoint=box.emulators["aliyun"].endpoint,
                                       notify_urls=(f"{receiver.base}/fc",), **changes)
        return create_app(settings).test_client()

    return build


def _kinds(receiver) -> list[str]:  # noqa: F811
    return [got.json()["kind"] for got in receiver.requests]


def test_only_the_fc_headers_replace_the_instance_and_both_notices_arrive_within_the_invocation(
        fc_app, receiver, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    client = fc_app()
    answer = client.post("/invoke", data=event_bytes(EVENT), headers=FC_HEADERS)
    assert answer.status_code == 202, answer.get_json()
    task = client.get(f"/tasks/{answer.get_json()['task']['id']}").get_json()
    replacements = set(re.findall(r"\bi-[a-z0-9]{20}\b", json.dumps(task))) - {task["instance_id"]}
    assert task["status"] == "done" and replacements, task
    kinds = _kinds(receiver)  # read at once: delivered before /invoke answered, not by a ticker
    assert "interruption" in kinds and "replaced" in kinds, kinds
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert SANDBOX_SECRET not in logged and TOKEN not in logged


def test_post_to_the_root_with_the_headers_is_the_same_invocation(fc_app):
    client = fc_app()
    answer = client.post("/", data=event_bytes(EVENT), headers=FC_HEADERS)
    assert answer.status_code == 202 and answer.get_json()["outcome"] == "accepted"


def test_without_the_headers_the_empty_key_is_refused_by_the_cloud(fc_app):
    client = fc_app()
    headers = {k: v for k, v in FC_HEADERS.items() if not k.startswith("x-fc-access") and k != "x-fc-security-token"}
    answer = client.post("/invoke", data=event_bytes(EVENT), headers=headers)
    body = answer.get_json()
    task = client.get(f"/tasks/{body['task']['id']}").get_json() if "task" in body else body
    assert task.get("status") != "done" and "InvalidAccessKeyId" in str(task), task


def test_the_headers_win_over_the_environments_sts_token(fc_app):
    client = fc_app(aliyun_access_key_id="STS.expired", aliyun_access_key_secret="old-secret",
                    aliyun_security_token="old-token")
    answer = client.post("/invoke", data=event_bytes(EVENT), headers=FC_HEADERS)
    task = client.get(f"/tasks/{answer.get_json()['task']['id']}").get_json()
    assert task["status"] == "done", task


def test_a_configured_accesskey_wins_over_the_headers(fc_app):
    client = fc_app(aliyun_access_key_id=SANDBOX_KEY, aliyun_access_key_secret=SANDBOX_SECRET)
    wrong = {**FC_HEADERS, "x-fc-access-key-id": "STS.someone-else", "x-fc-access-key-secret": "nope"}
    answer = client.post("/invoke", data=event_bytes(EVENT), headers=wrong)
    task = client.get(f"/tasks/{answer.get_json()['task']['id']}").get_json()
    assert task["status"] == "done", task


def test_the_channels_come_from_a_kms_secret_and_the_deploy_files_pass_only_its_name(
        sandbox_factory, test_settings: Settings, receiver):  # noqa: F811
    data = scenario(cloud="aliyun")
    data["regions"][0]["secrets"] = {"responder-notify": json.dumps({"urls": f"{receiver.base}/from-secret"})}
    box = sandbox_factory(data)
    # At start, before any request: the role's STS token FC puts in the environment reads the secret.
    settings = test_settings.with_(clouds=("aliyun",), aliyun_endpoint=box.emulators["aliyun"].endpoint,
                                   aliyun_access_key_id=SANDBOX_KEY, aliyun_access_key_secret=SANDBOX_SECRET,
                                   aliyun_security_token="env-token", notify_secret=f"aliyun:{data['regions'][0]['region']}:responder-notify")
    client = create_app(settings).test_client()
    answer = client.post("/invoke", data=event_bytes(EVENT), headers=FC_HEADERS)
    assert answer.status_code == 202
    assert "GetSecretValue" in box.calls("aliyun")
    assert {got.path for got in receiver.requests} == {"/from-secret"} and "replaced" in _kinds(receiver)
    for deploy_file, reference in (("s.yaml", "RESPONDER_NOTIFY_SECRET: ${env('RESPONDER_NOTIFY_SECRET'"),
                                   ("template.yaml", "RESPONDER_NOTIFY_SECRET: !Ref NotifySecretArn")):
        text = (Path(__file__).resolve().parents[1] / deploy_file).read_text()
        assert reference in text
        assert "RESPONDER_NOTIFY_URLS:" not in text and "RESPONDER_NOTIFY_WEBHOOK_URL:" not in text
