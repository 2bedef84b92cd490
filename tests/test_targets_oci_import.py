"""`responder targets import --oci-env FILE`: an OCI provisioner's .env becomes its A1 flex and
Micro hunting targets; --dry-run stores nothing; a re-import finds them by name; a missing or
malformed variable is refused naming it (exit 2, nothing stored); its Slack webhook keeps
notifying; neither the SSH key nor the webhook token is printed.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from responder.cli import cli
from responder.settings import Settings, SettingsError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq2Z0pd7vWkSjQ0mY4Y4mHc9m8b2Wn6d8Vw1c3pXyZa me@laptop"
SLACK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc"
OLD_ENV = {
    "OCI_USER_OCID": "ocid1.user.oc1..aaaaaaaauser", "OCI_FINGERPRINT": "12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc:de:f0",
    "OCI_TENANCY_OCID": "ocid1.tenancy.oc1..aaaaaaaatenancy", "OCI_REGION": "ap-chuncheon-1",
    "OCI_KEY_FILE": "~/.oci/oci_api_key.pem", "SSH_PUBLIC_KEY": KEY,
    "A1_DISPLAY_NAME": "a1-main", "A1_SHAPE": "VM.Standard.A1.Flex", "A1_OCPUS": "4", "A1_MEMORY_IN_GBS": "24",
    "A1_BOOT_VOLUME_SIZE_IN_GBS": "100", "A1_SUBNET_DISPLAY_NAME": "퍼블릭 서브넷-main-vcn",
    "A1_IMAGE_OS": "Oracle Linux", "A1_IMAGE_OS_VERSION": "9",
    "MICRO_DISPLAY_NAME": "micro-main", "MICRO_SHAPE": "VM.Standard.E2.1.Micro", "SLACK_WEBHOOK_URL": SLACK,
}


def write_env(path, values: dict) -> str:
    # the old README's style: KEY=value lines, values with spaces quoted
    path.write_text("".join(f'{k}="{v}"\n' if " " in v else f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return str(path)


@pytest.fixture
def env(tmp_path):
    return {"RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/t.db"}


def run(env, *args):
    return CliRunner().invoke(cli, list(args), env=env)


def listed(env) -> list[dict]:
    return json.loads(run(env, "targets", "list", "--json").output)


def test_the_old_env_becomes_the_a1_and_micro_targets_and_a_reimport_finds_them(tmp_path, env):
    path = write_env(tmp_path / ".env", OLD_ENV)
    result = run(env, "targets", "import", "--oci-env", path, "--no-cloud-check")
    assert result.exit_code == 0, result.output
    assert KEY not in result.output and "cccccccc" not in result.output
    assert "added: a1-main (VM.Standard.A1.Flex 4 OCPU / 24 GB, ap-chuncheon-1" in result.output
    assert "to do: cron:" in result.output and "SLACK_WEBHOOK_URL is read as a Slack channel" in result.output
    a1, micro = listed(env)
    assert (a1["name"], a1["cloud"], a1["kind"], a1["count"], a1["zones"]) == ("a1-main", "oci", "instances", 1, [])
    assert {k: a1["launch"][k] for k in ("ocpus", "memory_gb", "boot_volume_gb", "image_os", "image_os_version",
                                         "subnet", "name")} == \
        {"ocpus": 4.0, "memory_gb": 24.0, "boot_volume_gb": 100, "image_os": "Oracle Linux", "image_os_version": "9",
         "subnet": "퍼블릭 서브넷-main-vcn", "name": "a1-main"}
    assert a1["launch"]["ssh_public_key"] == "ssh-ed25519 …" + KEY.split()[1][-12:] + " me@laptop"
    assert (micro["name"], micro["instance_types"], micro["launch"]["ocpus"], micro["launch"]["subnet"]) == \
        ("micro-main", ["VM.Standard.E2.1.Micro"], 0.0, "퍼블릭 서브넷-main-vcn")
    again = run(env, "targets", "import", "--oci-env", path, "--no-cloud-check", "--json")
    assert [d["status"] for d in json.loads(again.output)["targets"]] == ["unchanged", "unchanged"]
    path = write_env(tmp_path / ".env", {**OLD_ENV, "A1_OCPUS": "2", "A1_MEMORY_IN_GBS": "12"})
    changed = json.loads(run(env, "targets", "import", "--oci-env", path, "--no-cloud-check", "--json").output)
    assert [d["status"] for d in changed["targets"]] == ["updated", "unchanged"]
    assert [t["launch"]["ocpus"] for t in listed(env)] == [2.0, 0.0]


def test_dry_run_shows_the_targets_and_stores_nothing(tmp_path, env):
    path = write_env(tmp_path / "old.env", OLD_ENV)
    result = run(env, "targets", "import", "--oci-env", path, "--dry-run", "--no-cloud-check", "--json")
    answer = json.loads(result.output)
    assert answer["dry_run"] is True
    assert [(d["status"], d["target"]["name"]) for d in answer["targets"]] == \
        [("would be added", "a1-main"), ("would be added", "micro-main")]
    assert listed(env) == []


BAD = [
    ({"A1_OCPUS": None}, "A1_OCPUS"),
    ({"A1_OCPUS": "four"}, "A1_OCPUS"),
    ({"A1_OCPUS": "8"}, "A1_OCPUS"),  # above the Always Free 4
    ({"A1_MEMORY_IN_GBS": "48"}, "A1_MEMORY_IN_GBS"),
    ({"A1_BOOT_VOLUME_SIZE_IN_GBS": "20"}, "A1_BOOT_VOLUME_SIZE_IN_GBS"),  # below OCI's 50 GB
    ({"A1_BOOT_VOLUME_SIZE_IN_GBS": "1e2"}, "A1_BOOT_VOLUME_SIZE_IN_GBS"),
    ({"OCI_REGION": None}, "OCI_REGION"),
    ({"SSH_PUBLIC_KEY": "not a key"}, "SSH_PUBLIC_KEY"),
    ({"MICRO_SHAPE": "VM.Standard.E4.Flex"}, "MICRO_SHAPE"),  # a flex Micro would need a size
    ({"MICRO_DISPLAY_NAME": ""}, "MICRO_DISPLAY_NAME"),
    ({"A1_IMAGE_OS_VERSION": None}, "A1_IMAGE_OS_VERSION"),
]


@pytest.mark.parametrize("change, variable", BAD, ids=[v + ":" + str(list(c.values())[0]) for c, v in BAD])
def test_a_missing_or_malformed_variable_is_refused_naming_it_and_nothing_is_stored(tmp_path, env, change, variable):
    values = {k: v for k, v in {**OLD_ENV, **change}.items() if v is not None}
    result = run(env, "targets", "import", "--oci-env", write_env(tmp_path / ".env", values), "--no-cloud-check")
    assert result.exit_code == 2, result.output
    refusal = json.loads(result.stderr.strip().splitlines()[-1])
    assert refusal["field"] == variable, refusal
    assert listed(env) == []


def test_the_old_slack_webhook_keeps_notifying_and_a_wrong_one_is_refused_naming_it():
    settings = Settings.from_env({"SLACK_WEBHOOK_URL": SLACK}, dotenv=False)
    assert settings.notify_urls == ("slack://T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc",)
    assert "cccccccc" not in repr(settings)
    explicit = Settings.from_env({"SLACK_WEBHOOK_URL": SLACK, "RESPONDER_NOTIFY_URLS": "json://h/x"}, dotenv=False)
    assert explicit.notify_urls == ("json://h/x",)
    with pytest.raises(SettingsError, match="SLACK_WEBHOOK_URL"):
        Settings.from_env({"SLACK_WEBHOOK_URL": "https://example.com/hook"}, dotenv=False)


def test_import_takes_one_source(tmp_path, env):
    result = run(env, "targets", "import", "--no-cloud-check")
    assert result.exit_code == 2 and json.loads(result.stderr.strip())["field"] == "from"
