"""Checks a running responder container (started by deploy/container-check.sh) end to end.

Parts: wait_healthy, post, wait_done, main: the sample events posted over HTTP with the answer
and the final task status each must give, /invoke only on its own port, the `responder` command
and a non-root user inside, the image's HEALTHCHECK, and the FC Invoke lines and task logs in the container's log.

    python deploy/container_check.py --port 9000 --invoke-port 9001 --container NAME
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

EVENTS = Path(__file__).resolve().parents[1] / "events"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
# (sample, endpoint, HTTP status, outcome, final task status or None)
EXPECTED = [
    ("aliyun/cloudmonitor-interruption.json", "events", 202, "accepted", "done"),
    ("aliyun/eventbridge-interruption.json", "invoke", 200, "duplicate", None),
    ("aliyun/forged-not-recycling.json", "events", 200, "rejected", None),
    ("aws/spot-interruption-warning.json", "events", 202, "accepted", "done"),
    ("invalid/missing-instance-id.json", "events", 400, None, None),
]


def request(url: str, body: bytes | None = None) -> tuple[int, dict]:
    try:
        with OPENER.open(urllib.request.Request(url, data=body, method="POST" if body is not None else "GET"),
                         timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def wait_healthy(base: str, deadline: float, container: str) -> dict:
    """Polls /healthz until it answers 200 or the deadline passes; stops early when the container
    has exited (its log then says why)."""
    while time.monotonic() < deadline:
        if podman("inspect", container, "--format", "{{.State.Running}}").strip() != "true":
            logs = subprocess.run(["podman", "logs", container], check=False, capture_output=True, text=True, timeout=60)
            raise SystemExit(f"the container exited before it was ready:\n{(logs.stdout + logs.stderr)[-3000:]}")
        try:
            status, body = request(f"{base}/healthz")
            if status == 200:
                return body
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"no healthy answer from {base}/healthz")


def wait_done(base: str, task_id: str, deadline: float) -> dict:
    while time.monotonic() < deadline:
        _, task = request(f"{base}/tasks/{task_id}")
        if task.get("status") in ("done", "failed", "rejected"):
            return task
        time.sleep(0.5)
    raise SystemExit(f"task {task_id} did not finish")


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True, timeout=120).stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--invoke-port", type=int, required=True)
    parser.add_argument("--container", required=True)
    parser.add_argument("--ready-seconds", type=float, default=180.0)
    args = parser.parse_args()
    base, invoke_base = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.invoke_port}"
    problems: list[str] = []
    health = wait_healthy(base, time.monotonic() + args.ready_seconds, args.container)
    if health.get("status") != "ok" or health.get("clouds") != ["aliyun", "aws"]:
        problems.append(f"/healthz: {health}")
    for sample, endpoint, want_status, want_outcome, want_final in EXPECTED:
        url = f"{invoke_base}/invoke" if endpoint == "invoke" else f"{base}/events"
        status, body = request(url, (EVENTS / sample).read_bytes())
        print(f"{sample} → /{endpoint}: {status} {body.get('outcome') or body.get('error')}")
        if status != want_status or body.get("outcome") != want_outcome:
            problems.append(f"{sample}: {status} {body}")
            continue
        if want_final:
            task = wait_done(base, body["task"]["id"], time.monotonic() + 120)
            print(f"  task {task['id']}: {task['status']} {task.get('replacement_ids', '')}")
            if task["status"] != want_final:
                problems.append(f"{sample}: task ended {task['status']}: {task.get('reason')}")
    status, body = request(f"{base}/invoke", (EVENTS / "aliyun/eventbridge-interruption.json").read_bytes())
    if status != 404:
        problems.append(f"/invoke answered {status} on the published port: {body}")
    status, _ = request(f"{invoke_base}/tasks")
    if status != 404:
        problems.append(f"the invoke port served /tasks ({status})")
    if "Usage: responder" not in podman("exec", args.container, "responder", "--help"):
        problems.append("no `responder` command in the image")
    health_run = subprocess.run(["podman", "healthcheck", "run", args.container], capture_output=True, text=True,
                                timeout=60)
    if health_run.returncode != 0:  # the image's HEALTHCHECK, run as the runtime would
        problems.append(f"the image's HEALTHCHECK failed: {health_run.stdout}{health_run.stderr}")
    if podman("exec", args.container, "id", "-u").strip() == "0":
        problems.append("the server runs as root")
    logs = subprocess.run(["podman", "logs", args.container], capture_output=True, text=True, timeout=60)
    lines = (logs.stdout + logs.stderr).splitlines()
    if not any(line.startswith("FC Invoke Start RequestId: ") for line in lines):
        problems.append("no bare `FC Invoke Start RequestId:` line in the container log")
    if not any(" responder." in line and " INFO " in line for line in lines):
        problems.append("no responder INFO record in the container log (logging not configured)")
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
