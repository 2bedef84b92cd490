"""`responder targets ...`, `responder tick` and `GET /targets`: the fixed option names, the JSON
fields other tools read, bad input refused with exit 2 / a message naming the field and nothing
stored, the old tool's table imported (its counter shown, never trusted), the token on /targets.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from responder.cli import cli
from tests.scenarios import scenario

AWS_ADD = ["targets", "add", "--name", "web", "--cloud", "aws", "--region", "us-east-2",
           "--zones", "us-east-2a,us-east-2b", "--instance-types", "m5.large", "--count", "3",
           "--kind", "reservation"]


@pytest.fixture
def env(tmp_path):
    return {"RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "RESPONDER_MAX_TARGET_COUNT": "50"}


def run(env, *args):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_add_then_show_json_gives_the_fields_other_tools_read(env):
    added = run(env, *AWS_ADD, "--no-cloud-check", "--json")
    assert added.exit_code == 0, added.output
    shown = json.loads(run(env, "targets", "show", "web", "--json").output)
    assert {k: shown[k] for k in ("name", "count", "held", "attempts", "last_error")} == \
        {"name": "web", "count": 3, "held": None, "attempts": 0, "last_error": ""}
    assert shown["zones"] == ["us-east-2a", "us-east-2b"]
    listed = json.loads(run(env, "targets", "list", "--json").output)
    assert [t["name"] for t in listed] == ["web"]


def test_set_changes_only_the_options_given_and_remove_forgets_the_target(env):
    run(env, *AWS_ADD, "--no-cloud-check")
    changed = run(env, "targets", "set", "web", "--count", "7", "--release-excess", "--no-cloud-check", "--json")
    view = json.loads(changed.output)
    assert (view["count"], view["release_excess"], view["zones"]) == (7, True, ["us-east-2a", "us-east-2b"])
    assert run(env, "targets", "remove", "web").exit_code == 0
    assert json.loads(run(env, "targets", "list", "--json").output) == []
    assert run(env, "targets", "remove", "web").exit_code == 2


BAD = [
    (["--count", "0"], "count"),
    (["--count", "-4"], "count"),
    (["--count", "51"], "count"),  # above RESPONDER_MAX_TARGET_COUNT=50
    (["--zones", "us-west-2a"], "zones"),
    (["--zones", "cn-hangzhou-i"], "zones"),
    (["--kind", "fleet"], "kind"),
    (["--cloud", "gcp"], "cloud"),
    (["--end-date", "next tuesday"], "end_date"),
    (["--end-date", "2030-01-01T00:00:00"], "end_date"),  # no time zone
    (["--match-criteria", "closed"], "match_criteria"),
    (["--kind", "instances", "--image", "ami-1"], "subnets"),
    (["--kind", "instances"], "image"),
    (["--spend-cap", "2"], "spend_cap"),
]


@pytest.mark.parametrize("change, field", BAD, ids=[f"{f}:{' '.join(c)}" for c, f in BAD])
def test_bad_input_exits_2_naming_the_field_and_stores_nothing(env, change, field):
    args = list(AWS_ADD)
    for i in range(0, len(change), 2):
        if change[i] in args:
            args[args.index(change[i]) + 1] = change[i + 1]
        else:
            args += change[i:i + 2]
    result = CliRunner().invoke(cli, [*args, "--no-cloud-check"], env=env)
    assert result.exit_code == 2
    assert json.loads(result.stderr.strip().splitlines()[-1])["field"] == field
    assert json.loads(run(env, "targets", "list", "--json").output) == []


def test_an_instance_type_the_cloud_does_not_offer_is_refused_by_the_cloud_catalog(env, sandbox_factory):
    box = sandbox_factory(scenario(cloud="aws"))
    env = {**env, "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url}
    args = list(AWS_ADD)
    args[args.index("--instance-types") + 1] = "m5.large,zz9.huge"
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2 and "zz9.huge" in result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1])["field"] == "instance_types"
    assert json.loads(run(env, "targets", "list", "--json").output) == []
    assert run(env, *AWS_ADD).exit_code == 0  # a type it offers passes the same check


@pytest.mark.slow
def test_a_throttled_cloud_check_is_asked_again_and_a_throttle_that_lasts_is_one_line(env, sandbox_factory):
    """Slow: the lasting throttle is waited out for its whole 15 s before the command gives up. The check only reads: a throttle is waited out (1 s, then 2 s...), not turned into a refusal."""
    box = sandbox_factory(scenario(cloud="aws", faults=[{"action": "DescribeInstanceTypes",
                                                         "code": "RequestLimitExceeded", "times": 2}]))
    env = {**env, "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url}
    assert run(env, *AWS_ADD).exit_code == 0
    assert len(box.emulators["aws"].calls_of("DescribeInstanceTypes")) == 3  # two throttled, then answered
    lasting = sandbox_factory(scenario(cloud="aws", faults=[{"action": "DescribeInstanceTypes",
                                                             "code": "RequestLimitExceeded", "times": -1}]))
    env = {**env, "RESPONDER_AWS_ENDPOINT_URL": lasting.emulators["aws"].endpoint_url}
    args = list(AWS_ADD)
    args[args.index("--name") + 1] = "other"
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2 and "kept throttling" in result.stderr
    assert [t["name"] for t in json.loads(run(env, "targets", "list", "--json").output)] == ["web"]


def test_an_image_that_does_not_exist_is_refused_at_add_naming_it_and_nothing_is_stored(env, sandbox_factory):
    box = sandbox_factory(scenario(cloud="aws"))
    env = {**env, "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url}
    args = [*AWS_ADD[:-1], "instances", "--subnets",
            "us-east-2a=subnet-0a1b2c3d4e5f60001,us-east-2b=subnet-0a1b2c3d4e5f60002", "--image"]
    result = CliRunner().invoke(cli, [*args, "ami-0abc1234567890def"], env=env)
    assert result.exit_code == 2
    refused = json.loads(result.stderr.strip().splitlines()[-1])
    assert refused["field"] == "image" and "ami-0abc1234567890def does not exist in us-east-2" in refused["error"]
    assert json.loads(run(env, "targets", "list", "--json").output) == []
    real = box.clouds["aws"].describe_instance("us-east-2", "i-1234567890abcdef0").image_id
    assert run(env, *args, real).exit_code == 0  # an image the region has passes the same check


def test_a_target_launching_into_a_subnet_that_does_not_exist_names_ec2s_error_not_an_internal_one(env, sandbox_factory):
    box = sandbox_factory(scenario(cloud="aws"))
    env = {**env, "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url}
    image = box.clouds["aws"].describe_instance("us-east-2", "i-1234567890abcdef0").image_id
    added = run(env, *AWS_ADD[:-1], "instances", "--zones", "us-east-2a", "--subnets", "us-east-2a=subnet-1",
                "--image", image, "--no-cloud-check")
    assert added.exit_code == 0, added.output
    run(env, "tick", "--quiet")
    shown = json.loads(run(env, "targets", "show", "web", "--json").output)
    assert (shown["held"], shown["last_error"]) == (0, "InvalidSubnetID.NotFound"), shown


def test_responder_tick_reconciles_targets_and_show_reports_what_the_cloud_holds(env, sandbox_factory):
    box = sandbox_factory(scenario(cloud="aws"))
    env = {**env, "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url}
    run(env, *AWS_ADD, "--no-cloud-check")
    ticked = json.loads(run(env, "tick").output.strip().splitlines()[-1])
    assert ticked["targets"]["reconciled"] == 1 and ticked["targets"]["acquired"] == 3
    shown = json.loads(run(env, "targets", "show", "web", "--json").output)
    assert (shown["held"], shown["state"]) == (3, "met") and shown["attempts"] >= 1


OLD_ROWS = [{"InstanceType": "m5.large", "AvailabilityZone": "us-east-2a", "Target_Capacity": 20, "Current_Capacity": 30},
            {"InstanceType": "m6i.large", "AvailabilityZone": "us-east-2b", "Target_Capacity": 5, "Current_Capacity": 0}]


def test_import_reads_the_old_table_from_a_database_url_and_never_trusts_its_counter(env, tmp_path):
    old = sa.create_engine(f"sqlite:///{tmp_path}/old.db")
    with old.begin() as conn:
        conn.execute(sa.text("CREATE TABLE odcr_capacity (InstanceType TEXT, AvailabilityZone TEXT, "
                             "Target_Capacity INT, Current_Capacity INT)"))
        conn.execute(sa.text("INSERT INTO odcr_capacity VALUES (:InstanceType, :AvailabilityZone, "
                             ":Target_Capacity, :Current_Capacity)"), OLD_ROWS)
    result = run(env, "targets", "import", "--from", f"sqlite:///{tmp_path}/old.db", "--region", "us-east-2",
                 "--no-cloud-check", "--json")
    assert [(d["name"], d["count"], d["old_current_capacity"]) for d in json.loads(result.output)] == \
        [("m5.large-us-east-2a", 20, 30), ("m6i.large-us-east-2b", 5, 0)]
    shown = json.loads(run(env, "targets", "show", "m5.large-us-east-2a", "--json").output)
    assert (shown["count"], shown["held"], shown["kind"]) == (20, None, "reservation")  # read from the cloud at the tick


def test_import_of_a_csv_with_a_bad_row_stores_nothing(env, tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("InstanceType,AvailabilityZone,Target_Capacity,Current_Capacity\n"
                    "m5.large,us-east-2a,10,10\nm5.large,us-east-2b,lots,0\n")
    result = CliRunner().invoke(cli, ["targets", "import", "--from", str(path), "--region", "us-east-2",
                                      "--no-cloud-check"], env=env)
    assert result.exit_code == 2 and "Target_Capacity" in result.stderr
    assert json.loads(run(env, "targets", "list", "--json").output) == []
    path.write_text("InstanceType,AvailabilityZone,Target_Capacity,Current_Capacity\nm5.large,us-east-2a,10,10\n")
    assert run(env, "targets", "import", "--from", str(path), "--region", "us-east-2", "--no-cloud-check").exit_code == 0
    assert [t["name"] for t in json.loads(run(env, "targets", "list", "--json").output)] == ["m5.large-us-east-2a"]


def test_get_targets_is_token_protected_like_tasks_and_shows_each_target(tmp_path):
    from responder.replace.runner import TaskRunner
    from responder.settings import Settings
    from responder.store import Store
    from responder.targets.table import TargetStore
    from responder.web import create_app
    from tests.targets_fixtures import make_target

    settings = Settings(database_url=f"sqlite:///{tmp_path}/web.db", auth_token="s3cret-token", background_ticker=False)
    store = Store(settings.database_url)
    TargetStore(store.engine).add(make_target("aws", count=4))
    client = create_app(settings, runner=TaskRunner(store, {}, settings)).test_client()
    assert client.get("/targets").status_code == 401
    assert client.get("/targets/web").status_code == 401
    ok = client.get("/targets", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and [t["name"] for t in ok.get_json()["targets"]] == ["web"]
    one = client.get("/targets/web", headers={"X-Responder-Token": "s3cret-token"}).get_json()
    assert (one["count"], one["held"], one["attempts"]) == (4, None, 0)
    missing = client.get("/targets/nope", headers={"X-Responder-Token": "s3cret-token"})
    assert missing.status_code == 404 and "nope" in missing.get_json()["error"]


@pytest.mark.parametrize("sample, endpoint", [("aws/scheduled-event.json", "/events"), ("fc/timer-trigger.json", "/invoke")])
def test_a_schedule_or_timer_event_reconciles_the_targets(tmp_path, sandbox_factory, sample, endpoint):
    from responder.replace.runner import TaskRunner
    from responder.settings import Settings
    from responder.store import Store
    from responder.targets.table import TargetStore
    from responder.web import create_app
    from tests.conftest import event_bytes
    from tests.targets_fixtures import make_target

    box = sandbox_factory(scenario(cloud="aws"))
    settings = Settings(database_url=f"sqlite:///{tmp_path}/web.db", background_ticker=False,
                        targets_interval_seconds=0)
    store = Store(settings.database_url)
    TargetStore(store.engine).add(make_target("aws", count=2))
    client = create_app(settings, runner=TaskRunner(store, box.clouds, settings)).test_client()
    answer = client.post(endpoint, data=event_bytes(sample))
    assert answer.status_code == 200
    assert answer.get_json()["targets"]["acquired"] == 2
    assert TargetStore(store.engine).get("web").stats["held"] == 2
