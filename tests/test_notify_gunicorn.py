"""Metrics and notifications under real gunicorn with two workers, on the shared sandbox cloud:
after full flows every scrape shows the counts of both workers, and each notification reached
the channel once although both workers run a dispatcher.

Parts: the shared sandbox process, a two-worker gunicorn pointed at it with a receiver channel,
series (one series' value from /metrics), and the test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from notify_receiver import receiver  # noqa: F401 - the fixture
from sandbox_process import SandboxProcess, fast_default_scenario
from tests.conftest import ROOT, event_bytes
from test_metrics_multiprocess import free_port

EVENTS = ("aliyun/cloudmonitor-interruption.json", "aws/spot-interruption-warning.json")


@pytest.fixture
def shared_sandbox(tmp_path):
    box = SandboxProcess("--scenario", str(fast_default_scenario(tmp_path))).wait_ready()
    yield box
    box.stop()


@pytest.fixture
def notifying_gunicorn(tmp_path, shared_sandbox, receiver):
    """`gunicorn -c gunicorn.conf.py responder.wsgi:app`, two workers with their tickers and
    dispatchers, on the shared sandbox, notifying the receiver."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RESPONDER_", "PROMETHEUS_", "prometheus_", "ALIBABA_CLOUD_", "AWS_"))}
    env.update(shared_sandbox.exports)
    env.update({"FC_SERVER_PORT": str(port), "RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/tasks.db",
                "RESPONDER_NOTIFY_URLS": f"{receiver.base}/hook", "RESPONDER_NOTIFY_DAILY_AT": "off", "RESPONDER_TICK_INTERVAL": "0.2",
                "RESPONDER_LOG_LEVEL": "warning", "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    with open(tmp_path / "gunicorn.err", "w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--access-logfile", "/dev/null", "responder.wsgi:app"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.err").read_text()[-2000:]
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                assert time.monotonic() < deadline, "gunicorn did not answer /healthz in time"
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def series(text: str, name: str, **labels: str) -> float:
    """The sum of every series of `name` whose labels include `labels`."""
    total = 0.0
    for found, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', found))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


@pytest.mark.slow
# A hang guard, not a speed limit: the flow runs in real time and ends with the root swap (tens of
# seconds after the image); with two workers starting under -n 4 on a loaded machine the default
# 120 s was reached once.
@pytest.mark.timeout(300)
def test_two_workers_count_a_full_flow_once_each_and_deliver_each_notification_once(notifying_gunicorn, receiver):
    """Slow: a `responder sandbox` process and a two-worker gunicorn start, and the flows run in real
    time until each worker's dispatcher has passed twice."""
    base = notifying_gunicorn
    for name in EVENTS:
        for _ in range(2):  # a redelivery too, to whichever worker accepts the connection
            answer = requests.post(f"{base}/events", data=event_bytes(name), timeout=60, headers={"Connection": "close"})
            assert answer.status_code in (200, 202), answer.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        tasks = requests.get(f"{base}/tasks", timeout=10).json()["tasks"]
        kinds = [r.json()["kind"] for r in receiver.requests]
        if len(tasks) == 2 and all(t["status"] == "done" for t in tasks) and kinds.count("replaced") == 2:
            break
        time.sleep(0.5)
    assert sorted(t["status"] for t in tasks) == ["done", "done"], tasks
    time.sleep(1.5)  # a second dispatcher pass: nothing more may be sent
    kinds = [r.json()["kind"] for r in receiver.requests]
    assert kinds.count("interruption") == kinds.count("replaced") == 2 and set(kinds) <= {"started", "interruption",
                                                                                         "replaced"}
    for _ in range(6):  # whichever worker answers, the totals are both workers' together
        text = requests.get(f"{base}/metrics", timeout=10, headers={"Connection": "close"}).text
        assert series(text, "responder_events_total", cloud="aliyun") == 2
        assert series(text, "responder_events_total", cloud="aws") == 2
        assert series(text, "responder_tasks_finished_total", status="done") == 2
        assert series(text, "responder_receipt_to_running_seconds_count") == 2
        assert series(text, "responder_replacement_gap_seconds_count") == 2
        assert series(text, "responder_tasks", status="done") == 2
        assert series(text, "responder_cloud_api_calls_total", action="create_image", result="ok") == 2
        assert series(text, "responder_notifications_sent_total") == len(kinds)
