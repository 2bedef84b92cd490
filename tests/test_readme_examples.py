"""The README tells the truth: its examples run as written on the sandbox, every setting is
documented, exit codes are in --help, and .env is read from the working directory.

Parts: sh_blocks (the README's ```sh blocks in order), the curl block against `responder serve
--sandbox` (on a free port instead of 9000, which other servers on the machine may hold) after ten
minutes of the sandbox's clock, docs/sandbox.md's session after the same pause, the replay block, the ODCR and spot-score blocks against one shared sandbox, blocks marked "# needs …"
(a real account or database) checked by `bash -n` only, README command 2 verbatim in .ci/run, the
settings table and .env.example against every name responder/settings.py reads, the exit codes.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sandbox_process import fast_default_scenario

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


def sh_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README, flags=re.S | re.M)


def block_with(text: str) -> str:
    return next(b for b in sh_blocks() if text in b)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def shell_env(tmp_path):
    """`responder` from this tree (PYTHONPATH first), a private HOME for ledgers, no proxies."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("RESPONDER_")}
    env.update(PATH=f"{BIN}:{env.get('PATH', '')}", PYTHONPATH=str(ROOT), HOME=str(tmp_path))
    return env


def bash(script: str, env: dict, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs a README block; a background job it started is stopped even when the block fails."""
    script = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_every_block_that_needs_an_account_or_a_database_is_at_least_valid_shell():
    marked = [b for b in sh_blocks() if b.startswith("# needs ")]
    assert len(marked) >= 4  # FC, container, Lambda, the database upgrade
    for block in marked:
        done = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        assert done.returncode == 0, (block[:200], done.stderr)


def test_readme_command_two_is_what_ci_runs_verbatim():
    command = next(line for line in sh_blocks()[0].splitlines() if "pytest" in line)
    assert command in (ROOT / ".ci" / "run").read_text()


def _sandbox_clouds(server: subprocess.Popen) -> dict[str, str]:
    """The clouds `serve --sandbox` printed on stderr: {"aliyun": "127.0.0.1:P", "aws": "http://...", ...}."""
    for line in server.stderr:
        if line.startswith("sandbox clouds: "):
            return dict(item.split(" at ", 1) for item in line.removeprefix("sandbox clouds: ").strip().split(", "))
    raise AssertionError("serve --sandbox never named its clouds")


def _advance(endpoint: str, seconds: float) -> float:
    """POST /_sandbox/advance on one sandbox cloud's port; its scenario time after the jump."""
    base = endpoint if endpoint.startswith("http") else f"http://{endpoint}"
    request = urllib.request.Request(f"{base}/_sandbox/advance?seconds={seconds}", method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as answer:
        return json.loads(answer.read())["now"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_curl_examples_answer_as_the_readme_says_even_after_the_release_time(shell_env, tmp_path):
    """Slow: `responder serve --sandbox` starts as a process (all three sandbox clouds) before the first curl."""
    port = free_port()
    server = subprocess.Popen([str(BIN / "responder"), "serve", "--sandbox", "--port", str(port)], env=shell_env,
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        clouds = _sandbox_clouds(server)
        threading.Thread(target=server.stderr.read, daemon=True).start()  # drained: the pipe never fills
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        # A reader who takes ten minutes before the first curl: longer than both samples' release
        # (Aliyun 300 s, AWS 120 s after the notice), on the sandbox's own clock, not a real sleep.
        for cloud in ("aliyun", "aws"):
            assert _advance(clouds[cloud], 600) >= 600
        lines = [line for line in block_with("curl -s -XPOST").splitlines() if line.startswith("curl")]
        answers = []
        for line in lines:
            done = bash(line.replace("localhost:9000", f"localhost:{port}"), shell_env, ROOT, timeout=60)
            assert done.returncode == 0, (line, done.stderr)
            answers.append(done.stdout)
    finally:
        server.terminate()
        server.wait(timeout=30)
    first = json.loads(answers[0])
    assert first["outcome"] == "accepted", first
    assert json.loads(answers[1])["duplicate"] is True
    assert json.loads(answers[2])["outcome"] == "rejected"
    assert json.loads(answers[3])["outcome"] == "accepted"
    oci = json.loads(answers[4])
    assert oci["outcome"] == "accepted" and "one-shot target preempted-" in oci["reason"]
    assert "instanceId" in json.loads(answers[5])["error"]
    assert '"tasks"' in answers[6] and '"status"' in answers[6]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_docs_sandbox_session_replays_both_samples_after_ten_minutes(shell_env, tmp_path):
    """docs/sandbox.md's shell session, as written but for its port, folder and clock: its `advance`
    jumps the shared sandbox's clock past both samples' release before the first replay. Slow: a
    `responder sandbox` process and every command of the session as processes."""
    text = (ROOT / "docs" / "sandbox.md").read_text()
    block = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)[0]
    assert "_sandbox/advance?seconds=600" in block.split("responder replay")[0]
    assert "responder sandbox --port" in block
    block = block.replace("9100", str(free_port())).replace("/tmp/", f"{tmp_path}/")
    fast = fast_default_scenario(tmp_path)
    block = block.replace("responder sandbox --port", f"responder sandbox --scenario {fast} --port")
    done = bash(block, shell_env, ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert done.stdout.count("status: done") == 2, done.stdout[-3000:]
    state = json.loads(done.stdout.strip().splitlines()[-1])
    aliyun = next(i for i in state["aliyun"]["instances"] if i["id"] == "i-bp1ecr7pz2yq4v5go2go")
    assert aliyun["notice_at"] >= 600 and aliyun["release_at"] == aliyun["notice_at"] + 300


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_replay_examples_run_to_done(shell_env):
    """Slow: each replay runs in real time as typed, until the instance's own image is available
    (the throttled example backs off and polls its image as it would on AWS: about 20 s)."""
    for line in block_with("responder replay").strip().splitlines():
        done = bash(line, shell_env, ROOT, timeout=300)
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
        assert "done" in done.stdout.splitlines()[-1] or "status: done" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_odcr_examples_run_as_typed_on_the_sandbox(shell_env, tmp_path):
    """Slow: every line is a process that starts its own sandbox."""
    for line in block_with("--count 8 --region us-west-2 --sandbox").strip().splitlines():
        done = bash(line, shell_env, tmp_path)
        assert done.returncode == 0, (line, done.stderr[-2000:])
        assert json.loads(done.stdout.strip().splitlines()[-1])["success"] is True


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_shared_sandbox_odcr_session_creates_and_expands(shell_env, tmp_path):
    """Slow: a `responder sandbox` process and every command of the session as processes."""
    block = block_with("odcr expand").replace("9100", str(free_port())).replace("/tmp/", f"{tmp_path}/")
    done = bash(block, shell_env, tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["success"] for r in results] == [True, True] and results[0]["actual_increase"] == 5
    assert json.loads((tmp_path / "odcr.json").read_text())["actual_count"] == 10


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_spot_score_examples_run_on_the_shared_sandbox(shell_env, tmp_path):
    """Slow: each command reads a Region's whole EC2 catalogue (DescribeInstanceTypes, about 20 pages)
    from the sandbox, as it would from EC2."""
    port = free_port()
    block = block_with("responder spot-scores")
    session = (f"responder sandbox --port {port} --env-file {tmp_path}/sandbox.env > /dev/null &\n"
               f"until [ -s {tmp_path}/sandbox.env ]; do sleep 1; done; . {tmp_path}/sandbox.env\n{block}\n")
    done = bash(session, shell_env, tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "kind: NodePool" in (tmp_path / "nodepools.yaml").read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_oci_hunt_example_runs_on_the_shared_sandbox(shell_env, tmp_path):
    """Slow: a `responder sandbox` process and every command of the session as processes."""
    block = block_with("--oci-env /tmp/oci.env").replace("9100", str(free_port())).replace("/tmp/", f"{tmp_path}/")
    done = bash(block, shell_env, tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    a1, micro = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")][-2:]
    assert (a1["name"], a1["state"], a1["outcomes"], a1["last_error"]) == \
        ("a1-main", "hunting", {"out_of_capacity": 1}, "OutOfHostCapacity")
    assert (micro["name"], micro["state"], micro["held"]) == ("micro-main", "met", 1) and micro["acquired_at"]


def _names_settings_reads() -> set[str]:
    source = (ROOT / "responder" / "settings.py").read_text()
    return set(re.findall(r'(?:get|number|_bool)\("([A-Z][A-Z0-9_]+)"', source))


def test_every_setting_is_in_the_readme_table_and_the_env_example():
    env_example = (ROOT / ".env.example").read_text()
    # boto3 reads the AWS_* credentials itself (the README's "boto3's chain" row); Settings only
    # reads them to redact them.
    names = {n for n in _names_settings_reads() if not n.startswith("AWS_")} | {"PROMETHEUS_MULTIPROC_DIR"}
    table = "\n".join(line for line in README.splitlines() if line.startswith("| `"))
    aliyun = {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"}
    missing_readme = sorted(n for n in names - aliyun if f"`{n}`" not in table)
    missing_example = sorted(n for n in names if not re.search(rf"^#? ?{n}=", env_example, flags=re.M))
    assert not missing_readme, f"not in README's settings table: {missing_readme}"
    assert not missing_example, f"not in .env.example: {missing_example}"
    assert len(names) > 30


def test_the_env_example_no_longer_says_invoke_takes_the_token():
    text = (ROOT / ".env.example").read_text()
    assert "present on /invoke" not in text and "/invoke takes no token" in text


@pytest.mark.parametrize("command,codes", [(["replay"], ["0", "1", "2", "3"]),
                                           (["odcr"], ["0", "2", "3", "4", "5", "6", "130"]),
                                           (["odcr", "create"], ["0", "2", "3", "4", "5", "6", "130"]),
                                           (["odcr", "expand"], ["0", "2", "3", "4", "5", "6", "130"])])
def test_the_exit_codes_the_readme_promises_are_in_help(command, codes):
    from responder.cli import cli

    shown = CliRunner().invoke(cli, [*command, "--help"]).output
    listed = shown.split("Exit codes:")[1]
    assert [c for c in codes if not re.search(rf"^\s+{c}\b", listed, flags=re.M)] == []


def test_dotenv_is_read_from_the_working_directory(tmp_path, monkeypatch):
    from responder.settings import Settings

    monkeypatch.delenv("RESPONDER_MARKET_POLICY", raising=False)
    (tmp_path / ".env").write_text("RESPONDER_MARKET_POLICY=ondemand\n")
    monkeypatch.chdir(tmp_path)
    try:
        assert Settings.from_env().market_policy == "ondemand"
    finally:
        os.environ.pop("RESPONDER_MARKET_POLICY", None)


def test_the_design_document_the_readme_points_to_is_in_the_repository():
    assert "`docs/architecture.md`" in README and (ROOT / "docs" / "architecture.md").is_file()
    # No path outside the repository: neither the machine's work folders nor the shared folder beside it.
    assert not re.search(r"/(work|farm)/", README) and "../shared" not in (ROOT / "docs" / "architecture.md").read_text()
