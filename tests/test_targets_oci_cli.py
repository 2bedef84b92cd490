"""`responder targets add --cloud oci ...` checked against the OCI emulator through the SDK: the
README's example is stored; a flex shape without a size, a size above the Always Free limit, both
an image and an OS, an AD, subnet, image or shape the tenancy does not have are refused with exit 2
naming the option, nothing stored and nothing launched; `responder tick` then hunts, and
`targets show --json` and `GET /targets/<name>` carry the statistics.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oci_fixtures import AD1, AD2, oci_box, oci_scenario, start_oci_box  # noqa: F401
from responder.cli import cli

KEY_BODY = "AAAAC3NzaC1lZDI1NTE5AAAAIHq2Z0pd7vWkSjQ0mY4Y4mHc9m8b2Wn6d8Vw1c3pXyZa"
ADD = ["targets", "add", "--cloud", "oci", "--name", "a1", "--region", "ap-chuncheon-1",
       "--instance-types", "VM.Standard.A1.Flex", "--count", "1", "--kind", "instances", "--ocpus", "4",
       "--memory-gb", "24", "--boot-volume-gb", "50", "--image-os", "Canonical Ubuntu", "--image-os-version", "22.04",
       "--subnet", "public-subnet", "--instance-name", "a1-main"]


@pytest.fixture
def env(oci_box, tmp_path):
    key = tmp_path / "id_ed25519.pub"
    key.write_text(f"ssh-ed25519 {KEY_BODY} me@laptop\n")
    return {**oci_box.env, "RESPONDER_CLOUDS": "oci", "RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
            "RESPONDER_TARGETS_INTERVAL_SECONDS": "0", "KEY": str(key)}


def run(env, *args):
    return CliRunner().invoke(cli, list(args), env={k: v for k, v in env.items() if k != "KEY"})


def test_the_readme_example_is_stored_and_the_key_is_shown_shortened(env, oci_box):
    added = run(env, *ADD, "--ssh-public-key-file", env["KEY"], "--json")
    assert added.exit_code == 0, added.output
    view = json.loads(added.output)
    assert (view["zones"], view["launch"]["ocpus"], view["launch"]["subnet"]) == ([], 4.0, "public-subnet")
    assert view["launch"]["ssh_public_key"] == "ssh-ed25519 …" + KEY_BODY[-12:] + " me@laptop"
    assert "AAAAC3NzaC1lZDI1NTE5" not in added.output
    assert "LaunchInstance" not in oci_box.calls()


BAD = [
    (["--ocpus", None, "--memory-gb", None], "ocpus"),  # a flex shape needs a size
    (["--ocpus", "6"], "ocpus"),
    (["--memory-gb", "32"], "memory_gb"),
    (["--image", "ocid1.image.oc1.ap-chuncheon-1.ubuntu2204arm20240601"], "image_os"),  # both
    (["--zones", "AD-3"], "zones"),  # the region has AD-1 and AD-2
    (["--subnet", "private-subnet"], "subnet"),
    (["--image-os-version", "20.04"], "image_os"),
    (["--instance-types", "VM.Standard.E9.Flex"], "instance_types"),
    (["--kind", "reservation"], "kind"),
    (["--boot-volume-gb", "10"], "boot_volume_gb"),
]


@pytest.mark.parametrize("change, field", BAD, ids=[f"{f}:{' '.join(str(c) for c in ch)}" for ch, f in BAD])
def test_bad_input_exits_2_naming_the_option_stores_nothing_and_launches_nothing(env, oci_box, change, field):
    args = list(ADD)
    for i in range(0, len(change), 2):
        option, value = change[i], change[i + 1]
        if option in args:
            at = args.index(option)
            args[at:at + 2] = [] if value is None else [option, value]
        else:
            args += [option, value]
    result = run(env, *args)
    assert result.exit_code == 2, result.output
    assert json.loads(result.stderr.strip().splitlines()[-1])["field"] == field
    assert json.loads(run(env, "targets", "list", "--json").output) == []
    assert "LaunchInstance" not in oci_box.calls()


def test_a_short_ad_name_is_resolved_and_tick_hunts_with_statistics_in_show_and_get(env, tmp_path):
    box = start_oci_box(oci_scenario(capacity={"offers": [
        {"shape": "VM.Standard.A1.Flex", "availability_domain": AD1, "available": 0},
        {"shape": "VM.Standard.A1.Flex", "availability_domain": AD2, "available": 0}]}))
    try:
        env = {**env, **box.env, "RESPONDER_HUNT_MIN_INTERVAL_SECONDS": "0"}
        assert run(env, *ADD, "--zones", "AD-2,AD-1").exit_code == 0
        assert run(env, "tick").exit_code == 0
        shown = json.loads(run(env, "targets", "show", "a1", "--json").output)
        assert shown["attempts_by_zone"] == {AD2: 1, AD1: 1}  # in the target's order
        assert (shown["outcomes"], shown["state"], shown["last_error"]) == \
            ({"out_of_capacity": 2}, "hunting", "OutOfHostCapacity")
        from responder.settings import Settings
        from responder.web import create_app

        app = create_app(box.settings(Settings(database_url=env["RESPONDER_DATABASE_URL"], background_ticker=False)))
        got = app.test_client().get("/targets/a1").get_json()
        assert got["attempts_by_zone"] == shown["attempts_by_zone"] and got["outcomes"] == shown["outcomes"]
        page = app.test_client().get("/").get_data(as_text=True)
        assert "hunting" in page and "out of capacity 2" in page
    finally:
        box.sandbox.stop()
