"""Helpers for tests that run `responder sandbox` and other responder commands as processes.

Parts: fast_default_scenario (the shipped scenario on a faster clock), SandboxProcess (start
`python -m responder sandbox --port 0`, read its export lines with a deadline, `state()` / `calls()`
over HTTP, stop with a signal), responder_env (a clean environment with the exports applied),
run_responder (one command to completion).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Always printed; the OCI lines (OCI_USER_OCID, ..., RESPONDER_OCI_ENDPOINT) follow when the scenario has an oci: section.
EXPORTED = ["RESPONDER_ALIYUN_ENDPOINT", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "RESPONDER_AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"]
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def responder_env(exports: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXIES and not k.startswith(("RESPONDER_", "AWS_"))}
    env.update(exports or {})
    env.update(extra)
    return env


def fast_default_scenario(folder: Path, scale: float = 30) -> Path:
    """The shipped default scenario with its clock `scale` times real time, as tests run scenarios:
    the same samples and figures, but an AMI's snapshots and a root-volume swap (about 70 s of the
    AWS sample's flow at 1x) take a thirtieth of the real time. The releases come sooner in real
    time too (the AWS sample's 120 s in 4 s): the tests that use it assert how a flow ends, not
    its race against the release."""
    from responder.sandbox.scenario import DEFAULT_SCENARIO

    text = Path(DEFAULT_SCENARIO).read_text()
    assert "\ntime_scale: 1 " in text
    path = Path(folder) / "default-fast.yaml"
    path.write_text(text.replace("\ntime_scale: 1 ", f"\ntime_scale: {scale} ", 1))
    return path


class SandboxProcess:
    """`responder sandbox` in a subprocess; `exports` holds what it printed."""

    def __init__(self, *args: str, env_file: Path | None = None):
        # The env file is written whole and renamed before the same lines go to stdout, so it tells
        # when every export (however many the scenario's clouds need) has been printed.
        self._dir = tempfile.TemporaryDirectory()
        self.env_file = Path(env_file) if env_file else Path(self._dir.name) / "sandbox.env"
        command = [sys.executable, "-m", "responder", "sandbox", "--port", "0", *args, "--env-file", str(self.env_file)]
        # stderr to a file, not a pipe: a pipe nobody reads fills up and stalls a chatty server.
        self._err = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=responder_env(), stdout=subprocess.PIPE,
                                     stderr=self._err, text=True)
        self.lines: list[str] = []  # what it printed on stdout
        self.exports: dict[str, str] = {}

    def wait_ready(self, timeout: float = 60) -> "SandboxProcess":
        def read():
            for line in self.proc.stdout:  # drained to the end, so the pipe never fills
                self.lines.append(line.rstrip("\n"))

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self.env_file.exists() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        written = self.env_file.read_text().splitlines() if self.env_file.exists() else []
        while len(self.lines) < len(written) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not written or self.lines[:len(written)] != written:
            self.stop()
            raise AssertionError(f"sandbox printed {self.lines!r} then stopped or stalled; stderr: {self.stderr()}")
        for line in written:
            name, _, value = line.removeprefix("export ").partition("=")
            self.exports[name] = value
        missing = [name for name in EXPORTED if name not in self.exports]
        assert not missing, f"sandbox did not export {missing}"
        return self

    @property
    def base_url(self) -> str:
        return self.exports["RESPONDER_AWS_ENDPOINT_URL"]

    def get(self, path: str):
        # The test's own patience, not a limit of the product: a sandbox busy with other processes'
        # calls (a shared, loaded machine) may take more than a few seconds to render its state.
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(self.base_url + path, timeout=30) as answer:
            return json.loads(answer.read())

    def state(self) -> dict:
        return self.get("/_sandbox/state")

    def calls(self) -> dict:
        return self.get("/_sandbox/calls")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_reader", None) is not None:
            self._reader.join(5)  # stdout is closed: every line it printed is in self.lines
        return self.proc.returncode

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read()


def run_responder(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "responder", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
