"""Helpers for tests that run `responder sandbox` and other responder commands as processes.

Parts: SandboxProcess (start `python -m responder sandbox --port 0`, read its export lines with a
deadline, `state()` / `calls()` over HTTP, stop with a signal), responder_env (a clean environment
with the exports applied), run_responder (one command to completion).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = ["RESPONDER_ALIYUN_ENDPOINT", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "RESPONDER_AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
            "OCI_USER_OCID", "OCI_TENANCY_OCID", "OCI_FINGERPRINT", "OCI_REGION", "OCI_COMPARTMENT_OCID", "OCI_KEY_FILE",
            "RESPONDER_OCI_ENDPOINT"]
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def responder_env(exports: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXIES and not k.startswith(("RESPONDER_", "AWS_"))}
    env.update(exports or {})
    env.update(extra)
    return env


class SandboxProcess:
    """`responder sandbox` in a subprocess; `exports` holds what it printed."""

    def __init__(self, *args: str, env_file: Path | None = None):
        command = [sys.executable, "-m", "responder", "sandbox", "--port", "0", *args]
        if env_file:
            command += ["--env-file", str(env_file)]
        # stderr to a file, not a pipe: a pipe nobody reads fills up and stalls a chatty server.
        self._err = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=responder_env(), stdout=subprocess.PIPE,
                                     stderr=self._err, text=True)
        self.lines: list[str] = []
        self.exports: dict[str, str] = {}

    def wait_ready(self, timeout: float = 60) -> "SandboxProcess":
        def read():
            for _ in EXPORTED:
                line = self.proc.stdout.readline()
                if not line:
                    return
                self.lines.append(line.rstrip("\n"))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if len(self.lines) < len(EXPORTED):
            self.stop()
            raise AssertionError(f"sandbox printed {self.lines!r} then stopped or stalled; stderr: {self.stderr()}")
        for line in self.lines:
            name, _, value = line.removeprefix("export ").partition("=")
            self.exports[name] = value
        return self

    @property
    def base_url(self) -> str:
        return self.exports["RESPONDER_AWS_ENDPOINT_URL"]

    def get(self, path: str):
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(self.base_url + path, timeout=10) as answer:
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
        return self.proc.returncode

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read()


def run_responder(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "responder", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
