"""Seed 003 (the OCI A1 provisioner): its `.env`, with the README's example values as written
(Oracle Linux 9, the subnet `퍼블릭 서브넷-main-vcn`), is accepted by the default sandbox with the
cloud check on, and the next tick launches the Micro on the Oracle Linux 9 image; a subnet name
the tenancy lacks is refused naming it as text (no \\uXXXX escapes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from notify_receiver import receiver  # noqa: F401 - the fixture

from responder.cli import cli
from responder.sandbox.runtime import start_sandbox

ROOT = Path(__file__).resolve().parent.parent
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq2Z0pd7vWkSjQ0mY4Y4mHc9m8b2Wn6d8Vw1c3pXyZa me@laptop"
# The README's tables ("A1 Flex 인스턴스 설정", "Micro 인스턴스 설정"): the example column, verbatim.
SEED_VALUES = {
    "A1_DISPLAY_NAME": "a1-main", "A1_SHAPE": "VM.Standard.A1.Flex", "A1_OCPUS": "4", "A1_MEMORY_IN_GBS": "24",
    "A1_BOOT_VOLUME_SIZE_IN_GBS": "100", "A1_SUBNET_DISPLAY_NAME": "퍼블릭 서브넷-main-vcn",
    "A1_IMAGE_OS": "Oracle Linux", "A1_IMAGE_OS_VERSION": "9",
    "MICRO_DISPLAY_NAME": "micro-main", "MICRO_SHAPE": "VM.Standard.E2.1.Micro",
}


@pytest.fixture(scope="module")
def box():
    started = start_sandbox(None, only=("oci",))
    yield started
    started.stop()


@pytest.fixture
def own_box():
    """A world of its own, for a test that counts what its tick starts: the module's box already
    holds the instances an earlier test's tick launched, which a new store's targets adopt."""
    started = start_sandbox(None, only=("oci",))
    yield started
    started.stop()


def write_env(path, values: dict) -> str:
    path.write_text("".join(f'{k}="{v}"\n' if " " in v else f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return str(path)


def env_of(box, tmp_path) -> tuple[dict, dict]:
    """(the responder's environment, the old .env's values): the old credentials name the sandbox."""
    oci = box.oci.env
    old = {**{k: v for k, v in oci.items() if k.startswith("OCI_")}, "SSH_PUBLIC_KEY": KEY, **SEED_VALUES}
    return {"RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/t.db", "RESPONDER_CLOUDS": "oci",
            "RESPONDER_OCI_ENDPOINT": oci["RESPONDER_OCI_ENDPOINT"], **{k: oci[k] for k in oci if k.startswith("OCI_")},
            "RESPONDER_LOG_DIR": str(tmp_path / "logs")}, old


def test_the_seeds_env_is_accepted_and_the_tick_launches_the_micro_on_oracle_linux_9(box, tmp_path):
    env, old = env_of(box, tmp_path)
    result = CliRunner().invoke(cli, ["targets", "import", "--oci-env", write_env(tmp_path / ".env", old)], env=env)
    assert result.exit_code == 0, result.output + result.stderr
    assert "subnet '퍼블릭 서브넷-main-vcn'" in result.output and "Oracle Linux 9" in result.output
    ticked = CliRunner().invoke(cli, ["tick"], env=env)
    assert ticked.exit_code == 0, ticked.output
    (micro,) = [i for i in box.oci.emulator.world.instances.values() if i.get("displayName") == "micro-main"]
    assert micro["sourceDetails"]["imageId"].endswith("ol9x86") and micro["shape"] == "VM.Standard.E2.1.Micro"
    assert micro["createVnicDetails"]["subnetId"].endswith("mainvcnpublicsubnet")
    a1 = json.loads(CliRunner().invoke(cli, ["targets", "show", "a1-main", "--json"], env=env).output)
    assert (a1["state"], a1["last_error"]) == ("hunting", "OutOfHostCapacity")  # AD-1 has no A1 host this hour


def test_a_subnet_the_tenancy_lacks_is_refused_naming_it_as_text(box, tmp_path):
    env, old = env_of(box, tmp_path)
    old["A1_SUBNET_DISPLAY_NAME"] = "프라이빗 서브넷-main-vcn"
    result = CliRunner().invoke(cli, ["targets", "import", "--oci-env", write_env(tmp_path / ".env", old)], env=env)
    assert result.exit_code == 2
    assert "프라이빗 서브넷-main-vcn" in result.stderr and "\\u" not in result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1])["field"] == "subnet"


def test_tick_from_the_old_directory_keeps_its_dated_log_its_stats_json_and_a_daily_report_with_the_hunt(
        own_box, tmp_path, receiver):  # noqa: F811 - the fixture
    """The cron line the import recommends (`cd DIR && responder tick`), run where the old .env is:
    logs/ gets the day's file without RESPONDER_LOG_DIR, RESPONDER_STATS_FILE gets the statistics,
    and the daily report sent by `tick` (not only `serve`) carries each hunting target's line."""
    box = own_box
    env, old = env_of(box, tmp_path)
    env.pop("RESPONDER_LOG_DIR")
    store = {"RESPONDER_DATABASE_URL": env["RESPONDER_DATABASE_URL"]}
    imported = CliRunner().invoke(cli, ["targets", "import", "--oci-env", write_env(tmp_path / "seed.env", old)],
                                  env=env)
    assert imported.exit_code == 0, imported.output + imported.stderr
    write_env(tmp_path / ".env", old)  # the old directory: its .env beside the cron line
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    proc = subprocess.run(
        [sys.executable, "-m", "responder", "tick", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), **store, "RESPONDER_OCI_ENDPOINT": env["RESPONDER_OCI_ENDPOINT"],
             "RESPONDER_STATS_FILE": "stats.json", "RESPONDER_NOTIFY_URLS": f"{receiver.base}/hook",
             "RESPONDER_NOTIFY_DAILY_AT": now.strftime("%H:%M"), "RESPONDER_NOTIFY_DAILY_TIMEZONE": "UTC",
             # The level the old directory runs at, whatever the test worker's own environment holds.
             "RESPONDER_LOG_LEVEL": "INFO"})
    assert proc.returncode == 0, proc.stderr
    (log_file,) = (tmp_path / "logs").glob("*.log")
    logged = log_file.read_text(encoding="utf-8")
    assert datetime.now().strftime("%Y-%m-%d") in log_file.name, log_file.name
    # The hunt's start is in the day's file (what the old cron script's log showed).
    assert "hunt_started" in logged and "a1-main" in logged, (logged, proc.stdout, proc.stderr[-2000:])
    stats = json.loads((tmp_path / "stats.json").read_text(encoding="utf-8"))
    a1 = stats["targets"]["a1-main"]
    assert (a1["shape"], a1["state"], a1["outcomes"]) == ("VM.Standard.A1.Flex", "hunting", {"out_of_capacity": 1})
    assert a1["attempts"] == 1 and stats["targets"]["micro-main"]["held"] == 1
    (report,) = [r.json() for r in receiver.requests if r.json()["kind"] == "daily_report"]
    assert report["fields"]["hunt_a1-main"] == \
        "hunting 0/1; 1 attempts (AD-1 1); out of capacity 1; last error OutOfHostCapacity"
    assert report["fields"]["capacity"] == {"a1-main": "0/1", "micro-main": "1/1"}


def test_the_log_dir_default_is_off_without_the_old_env_and_off_turns_it_off():
    from responder.settings import Settings

    assert Settings.from_env({}, dotenv=False).log_dir == ""
    assert Settings.from_env({"A1_DISPLAY_NAME": "a1-main"}, dotenv=False).log_dir == "logs"
    assert Settings.from_env({"A1_DISPLAY_NAME": "a1-main", "RESPONDER_LOG_DIR": "off"}, dotenv=False).log_dir == ""
    assert Settings.from_env({"A1_DISPLAY_NAME": "x", "RESPONDER_LOG_DIR": "/var/log/r"}, dotenv=False).log_dir == "/var/log/r"
