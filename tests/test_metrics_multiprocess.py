"""/metrics under real gunicorn with two workers: every scrape shows what all workers counted.

Parts: a gunicorn fixture (the repository's gunicorn.conf.py, a free loopback port, sandbox-free
settings, a SQLite store in tmp, its own environment), scrape (one counter's value from
/metrics), and the tests: the total is the same whichever worker answers, and the temp metrics
directory gunicorn.conf.py made is gone when gunicorn stops.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, event_bytes

IGNORED_SERIES = re.compile(r'^responder_events_total\{cloud="-",kind="-",outcome="ignored"\} (\S+)$', re.M)
REQUESTS = 40
SCRAPES = 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # a worker still importing the app on a busy machine
            pass
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer {url} in time")


@pytest.fixture
def gunicorn_server(tmp_path):
    """(base URL, process, the env it runs with): `gunicorn -c gunicorn.conf.py responder.wsgi:app`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RESPONDER_", "PROMETHEUS_", "prometheus_", "ALIBABA_CLOUD_"))}
    env.update({
        "FC_SERVER_PORT": str(port), "RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/tasks.db",
        "RESPONDER_BACKGROUND_TICKER": "false", "RESPONDER_LOG_LEVEL": "warning",
        "TMPDIR": str(tmp_path),  # where gunicorn.conf.py makes its metrics directory
        "PYTHONPATH": str(ROOT),  # this tree's responder, whatever is installed
    })
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--access-logfile", "/dev/null", "responder.wsgi:app"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/healthz", process, time.monotonic() + 60)
        yield base, process, tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def scrape(base: str, session: requests.Session) -> float:
    text = session.get(f"{base}/metrics", timeout=10).text
    found = IGNORED_SERIES.search(text)
    return float(found.group(1)) if found else 0.0


def worker_pids(process: subprocess.Popen) -> set[int]:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


def counting_pids(tmp_path: Path) -> set[str]:
    """Worker pids with a counter file: the workers that have counted something."""
    return {f.stem.split("_")[-1] for d in tmp_path.glob("responder-metrics-*") for f in d.glob("counter_*.db")}


def post_ignored(base: str, count: int) -> None:
    body = event_bytes("aliyun/ignored-other-event.json")
    for _ in range(count):
        # A new connection each time, so either worker may accept it.
        answer = requests.post(f"{base}/events", data=body, timeout=10, headers={"Connection": "close"})
        assert answer.status_code == 200 and answer.json()["outcome"] == "ignored"


def test_every_scrape_of_two_workers_shows_the_total_of_both(gunicorn_server):
    base, _, tmp_path = gunicorn_server
    sent = 0
    while len(counting_pids(tmp_path)) < 2 and sent < 20 * REQUESTS:  # until both workers counted
        post_ignored(base, REQUESTS)
        sent += REQUESTS
    assert len(counting_pids(tmp_path)) == 2, f"{sent} requests all went to one worker"
    # Each worker holds part of the count: a scrape of one worker's own registry would fall short.
    for _ in range(SCRAPES):
        with requests.Session() as fresh:
            fresh.headers["Connection"] = "close"
            assert scrape(base, fresh) == sent


def test_a_worker_that_dies_keeps_its_counts_and_gunicorn_removes_its_temp_metrics_dir(gunicorn_server):
    base, process, tmp_path = gunicorn_server
    post_ignored(base, 10)
    [metrics_dir] = [p for p in tmp_path.iterdir() if p.name.startswith("responder-metrics-")]
    assert any(metrics_dir.glob("counter_*.db"))
    os.kill(sorted(worker_pids(process))[0], signal.SIGKILL)  # gunicorn forks a replacement
    deadline = time.monotonic() + 30
    while len(worker_pids(process)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert scrape(base, requests.Session()) == 10
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert not metrics_dir.exists()
