"""The FC package, started as Function Compute starts it, keeps FC's contract end to end.

Parts: deploy/build-fc.sh's package (tests/package_fixtures.py: built once per run); the server
started with s.yaml's own customRuntimeConfig command and args, in the package folder, with its
PYTHONPATH pointed at the package's python/ and the build's bytecode only (PYTHONDONTWRITEBYTECODE: /code is read-only);
the Aliyun emulator as the cloud with no AccessKey in the environment; the sample interruption
posted to /invoke with only FC's x-fc-* credential headers → the instance replaced, the
interruption and replaced notices at a local receiver before the answer, and neither the secret
nor the token in the server's output.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from package_fixtures import deploy_package

from responder.sandbox.runtime import SANDBOX_KEY, SANDBOX_SECRET
from tests.conftest import event_bytes
from tests.notify_receiver import receiver  # noqa: F401  (the fixture)
from tests.scenarios import scenario

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "CAISfc-package-token-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.mark.slow
@pytest.mark.timeout(1500)  # the build pip-installs the requirements (minutes on a loaded machine)
def test_the_fc_package_started_as_fc_starts_it_replaces_with_only_the_header_credentials(
        sandbox_factory, receiver, tmp_path, tmp_path_factory):  # noqa: F811
    """Slow: the package is built (pip installs the requirements; shared with the size test, built
    once per run) and served by a process started as FC starts it."""
    package, _ = deploy_package(tmp_path_factory, "fc")
    props = yaml.safe_load((ROOT / "s.yaml").read_text())["resources"]["responder"]["props"]
    runtime = props["customRuntimeConfig"]
    assert runtime["command"][0] == "python3" and props["environmentVariables"]["PYTHONPATH"] == "/code/python"
    box = sandbox_factory(scenario(cloud="aliyun"))
    port = _free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(package / "python"),
           "PYTHONDONTWRITEBYTECODE": "1", "FC_SERVER_PORT": str(port), "RESPONDER_CLOUDS": "aliyun",
           "RESPONDER_BACKGROUND_TICKER": "false", "RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/fc.db",
           "RESPONDER_ALIYUN_ENDPOINT": box.emulators["aliyun"].endpoint,
           "RESPONDER_NOTIFY_URLS": f"{receiver.base}/fc", "RESPONDER_LOG_LEVEL": "DEBUG"}
    # FC's python3 is the runtime's interpreter, not this test's virtualenv.
    command = [getattr(sys, "_base_executable", sys.executable), *runtime["command"][1:], *runtime["args"]]
    output = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(command, cwd=package, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if _call(f"{base}/healthz")[0] in (200, 503):
                    break
            except OSError:
                time.sleep(0.5)
        headers = {"x-fc-access-key-id": SANDBOX_KEY, "x-fc-access-key-secret": SANDBOX_SECRET,
                   "x-fc-security-token": TOKEN, "x-fc-function-timeout": "120", "x-fc-request-id": "req-package",
                   "Content-Type": "application/json"}
        status, body = _call(f"{base}/invoke", event_bytes("aliyun/cloudmonitor-interruption.json"), headers,
                             timeout=150)
        assert status == 202, body
        kinds = [got.json()["kind"] for got in receiver.requests]  # before the answer: nothing ticks here
        assert "interruption" in kinds and "replaced" in kinds, kinds
        _, task = _call(f"{base}/tasks/{body['task']['id']}")
        replacements = set(re.findall(r"\bi-[a-z0-9]{20}\b", json.dumps(task))) - {task["instance_id"]}
        assert task["status"] == "done" and replacements, task
    finally:
        server.terminate()
        server.wait(timeout=30)
    logged = (tmp_path / "server.log").read_text()
    assert "FC Invoke Start RequestId: req-package" in logged
    assert SANDBOX_SECRET not in logged and TOKEN not in logged
