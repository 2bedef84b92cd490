"""The Lambda zip, unpacked as Lambda unpacks it, replaces through lambda_handler and notifies
within the invocation.

Parts: deploy/build-lambda.sh's zip (tests/package_fixtures.py: built once per run), unpacked
(Lambda's /var/task); a
fresh runtime interpreter with only that folder on its path (-S, no bytecode writes: /var/task is
read-only) calling lambda_handler with the sample spot interruption warning and a context that
gives 75 s; the EC2 emulator as the cloud with the sandbox's AWS keys in the environment (Lambda
puts the role's keys there); the interruption and replaced notices at a local receiver by the time
the call returns.
"""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from package_fixtures import deploy_package

from tests.conftest import event_json
from tests.notify_receiver import receiver  # noqa: F401  (the fixture)
from tests.scenarios import scenario

ROOT = Path(__file__).resolve().parents[1]

CALL = """
import json, sys, time
import handlers.lambda_function as h

class Context:
    aws_request_id = "lambda-zip-1"
    deadline = time.monotonic() + 75
    def get_remaining_time_in_millis(self):
        return int((self.deadline - time.monotonic()) * 1000)

result = h.lambda_handler(json.loads(sys.argv[1]), Context())
task = h._get_runner().store.get(result["task"]["id"])
print(json.dumps({"result": result, "status": task.status, "reason": task.reason}))
"""


@pytest.mark.slow
@pytest.mark.timeout(1500)  # the build pip-installs the requirements (minutes on a loaded machine)
def test_the_lambda_zip_replaces_through_lambda_handler_and_notifies_within_the_invocation(
        sandbox_factory, receiver, tmp_path, tmp_path_factory):  # noqa: F811
    """Slow: the zip is built (pip installs the requirements; shared with the size test, built once
    per run) and its handler runs in a process of the runtime's interpreter."""
    out, _ = deploy_package(tmp_path_factory, "lambda")
    task_root = tmp_path / "var-task"
    with zipfile.ZipFile(f"{out}.zip") as archive:
        archive.extractall(task_root)
    box = sandbox_factory(scenario(cloud="aws"))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(task_root),
           "PYTHONDONTWRITEBYTECODE": "1", "RESPONDER_CLOUDS": "aws", "RESPONDER_BACKGROUND_TICKER": "false",
           "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url,
           "RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/lambda.db", "RESPONDER_ALLOW_LOCAL_SQLITE": "true",
           "AWS_ACCESS_KEY_ID": "sandbox-key", "AWS_SECRET_ACCESS_KEY": "sandbox-secret",
           "AWS_DEFAULT_REGION": "us-east-2", "RESPONDER_NOTIFY_URLS": f"{receiver.base}/lambda"}
    done = subprocess.run([getattr(sys, "_base_executable", sys.executable), "-S", "-c", CALL,
                           json.dumps(event_json("aws/spot-interruption-warning.json"))],
                          check=False, cwd=task_root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["result"]["statusCode"] == 202 and answer["status"] == "done", answer
    assert box.calls("aws").count("CreateFleet") == 1
    kinds = [got.json()["kind"] for got in receiver.requests]
    assert "interruption" in kinds and "replaced" in kinds, kinds
    assert "sandbox-secret" not in done.stdout + done.stderr
