"""Protect ahead of time and retention on the EC2 sandbox, through boto3 and the AWS adapter: one AMI
per tagged instance and period (the unique name is the idempotency), retention deletes our older
AMIs with their snapshots, our snapshots whose AMI is gone and our launch templates of ended tasks,
and never an AMI, snapshot or launch template that is not ours, even when its name looks like ours."""

from __future__ import annotations

import boto3
import pytest

from race_fixtures import Race, shape
from responder.protect.ahead import image_name_for, protect_fleet
from responder.protect.leftovers import cloud_leftovers, task_open_in
from responder.settings import Settings

WEB = "i-0aaa00000000000a1"  # healthy, tagged protect=yes
API = "i-0aaa00000000000a2"  # interrupted (marked-for-termination), tagged protect=yes
CACHE = "i-0aaa00000000000a4"  # healthy, not tagged
HOUR = 3600.0
TAG = ("protect", "yes")


@pytest.fixture
def race(tmp_path):
    scenario = shape("aws", "web", "api", "cache")
    for inst in scenario["regions"][0]["instances"]:
        if inst["id"] != API:
            inst.pop("spot_request_state")  # healthy: protected ahead of any warning
        if inst["id"] != CACHE:
            inst["tags"]["protect"] = "yes"
    one = Race(scenario, Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                                  launch_from="source-image"), tmp_path)
    yield one
    one.stop()


def ec2(r: Race):
    return boto3.client("ec2", region_name=r.region, endpoint_url=r.emulator.endpoint_url,
                        aws_access_key_id="sandbox-admin", aws_secret_access_key="sandbox-secret")


def now(r: Race) -> float:
    """The wall time the emulator stamps on what it creates (its epoch + the scenario clock)."""
    return r.emulator.epoch + r.clock()


def protect(r: Race, **kw):
    return protect_fleet(r.box.clouds["aws"], r.region, TAG, period_seconds=HOUR, now=now(r), **kw)


def ours(client) -> dict[str, dict]:
    images = client.describe_images(Owners=["self"], Filters=[{"Name": "tag-key", "Values": ["responder:source-instance"]}])
    return {i["ImageId"]: i for i in images["Images"]}


def snapshot_ids(client) -> set[str]:
    return {s["SnapshotId"] for s in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def test_a_run_images_every_tagged_instance_once_per_period(race):
    client = ec2(race)
    first = protect(race)
    race.clock.advance(60.0)  # same period, and API's two minutes are not up yet
    again = protect(race)
    assert first.errors == [] and again.errors == []
    assert len(first.imaged) == 2 and sorted(again.imaged) == sorted(first.imaged)  # the same AMIs
    images = ours(client)
    assert set(images) == set(first.imaged)
    period = int(now(race) // HOUR)
    assert {i["Name"] for i in images.values()} == {image_name_for(WEB, period), image_name_for(API, period)}
    assert len(race.emulator.calls_of("CreateImage")) == 2  # the second run asked for none
    for image in images.values():  # the snapshots carry our tags too: found again if the AMI goes first
        (mapping,) = [m for m in image["BlockDeviceMappings"] if "Ebs" in m]
        (snap,) = client.describe_snapshots(SnapshotIds=[mapping["Ebs"]["SnapshotId"]])["Snapshots"]
        assert {"Key": "responder:made-by", "Value": "protect"} in snap["Tags"]


def test_retention_keeps_the_newest_and_deletes_older_amis_with_their_snapshots_and_never_anothers(race):
    client, backend = ec2(race), race.emulator.backends[race.region]
    made, snaps = [], {}
    for hour in range(4):
        race.clock.advance_to(hour * HOUR + 1)
        (image_id,) = [i for i in protect(race, keep=2).imaged if ours(client)[i]["Name"].startswith(
            f"responder-protect-{WEB}")]
        made.append(image_id)
        snaps[image_id] = ours(client)[image_id]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        race.clock.advance(400.0)  # each one available before the next run
    assert made[0] not in ours(client)  # the third run already let the oldest go
    # Not ours, though named like ours: no responder tag on the AMI, its snapshot or the template.
    theirs = backend.create_image(WEB, image_name_for(WEB, 99), "someone else's", []).id
    their_snap = client.describe_images(ImageIds=[theirs])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    volume = client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [WEB]}])["Volumes"][0]
    loose = client.create_snapshot(VolumeId=volume["VolumeId"], Description="responder-protect lookalike")["SnapshotId"]
    template = client.create_launch_template(LaunchTemplateName="responder-rlookalike-launch",
                                             LaunchTemplateData={"ImageId": theirs})["LaunchTemplate"]["LaunchTemplateId"]
    race.clock.advance_to(4 * HOUR + 1)
    report = protect(race, keep=2, task_open=lambda claim: False, grace=0.0)
    assert report.errors == []
    left = ours(client)
    assert made[0] not in left and made[1] not in left and made[2] in left and made[3] in left
    assert not {snaps[made[0]], snaps[made[1]]} & snapshot_ids(client)  # deleted with their AMIs
    assert {snaps[made[2]], snaps[made[3]]} <= snapshot_ids(client)
    assert made[1] in report.deleted and theirs not in report.deleted
    assert client.describe_images(ImageIds=[theirs])["Images"][0]["State"] in ("pending", "available")
    assert {their_snap, loose} <= snapshot_ids(client)
    assert [t["LaunchTemplateId"] for t in client.describe_launch_templates()["LaunchTemplates"]] == [template]


def test_an_image_name_taken_by_anothers_ami_is_not_adopted(race):
    backend = race.emulator.backends[race.region]
    theirs = backend.create_image(WEB, image_name_for(WEB, int(now(race) // HOUR)), "someone else's", []).id
    report = protect(race)
    assert theirs not in report.imaged and len(report.imaged) == 1  # API's only
    assert len(report.errors) == 1 and report.errors[0].startswith(WEB) and "InvalidAMIName.Duplicate" in report.errors[0]
    assert theirs not in report.deleted


def test_a_snapshot_whose_ami_is_gone_is_listed_and_deleted_once_past_the_grace(race):
    client, cloud = ec2(race), race.box.clouds["aws"]
    image_id = next(i for i in protect(race).imaged)
    snap = client.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    client.deregister_image(ImageId=image_id)  # as when a clean-up stopped between its two calls

    def listed():
        return [(i["kind"], i["id"]) for i in cloud_leftovers(cloud, race.region, keep=2, max_interruption_images=1,
                                                               task_open=lambda c: True, now=now(race), grace=HOUR)]

    assert listed() == []  # young: it may belong to an AMI still pending
    race.clock.advance(HOUR)
    assert listed() == [("snapshot", snap)]
    assert snap in protect(race, grace=HOUR).deleted and snap not in snapshot_ids(client)


def test_the_launch_template_of_a_launch_goes_once_its_task_ended_and_the_grace_is_over(race):
    client, cloud = ec2(race), race.box.clouds["aws"]
    (task,) = race.run([API])
    assert task.status == "done", task.reason
    (template,) = client.describe_launch_templates()["LaunchTemplates"]
    tags = {t["Key"]: t["Value"] for t in template["Tags"]}
    assert tags == {"responder:managed": "true", "responder:claim": task.key}
    task_open = task_open_in(race.store)
    assert task_open(task.key) is False and task_open("aws:us-east-2:i-unknown") is False

    def listed(open_, grace):
        return [i["id"] for i in cloud_leftovers(cloud, race.region, 2, 1, open_, now(race), grace)
                if i["kind"] == "launch-template"]

    assert listed(task_open, grace=HOUR) == []  # younger than the grace period
    assert listed(lambda claim: claim == task.key, grace=0.0) == []  # its task still open
    assert listed(task_open, grace=0.0) == [template["LaunchTemplateId"]]
    race.clock.advance(2 * HOUR)
    report = protect(race, task_open=task_open, grace=HOUR)
    assert template["LaunchTemplateId"] in report.deleted
    assert client.describe_launch_templates()["LaunchTemplates"] == []


def test_responder_orphans_lists_what_still_bills_in_the_cloud_and_exits_1(race, tmp_path):
    import json

    from click.testing import CliRunner

    from responder.cli import cli

    client = ec2(race)
    # The command reads wall time; the scenario's three hours must lie in its past, or a snapshot made
    # at scenario second 1 can look younger than --grace 0 when the command runs within that second.
    race.emulator.epoch -= 4 * HOUR
    made = []
    for hour in range(3):
        race.clock.advance_to(hour * HOUR + 1)
        made.append(protect(race, keep=3).imaged)
        race.clock.advance(400.0)
    api_image = next(i for i in made[0] if ours(client)[i]["Name"].startswith(f"responder-protect-{API}"))
    api_snap = client.describe_images(ImageIds=[api_image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    client.deregister_image(ImageId=api_image)  # its snapshot now bills alone
    web = [next(i for i in run if i != api_image) for run in made]
    env = {"RESPONDER_CLOUDS": "aws", "RESPONDER_AWS_ENDPOINT_URL": race.emulator.endpoint_url,
           "AWS_ACCESS_KEY_ID": "sandbox-key", "AWS_SECRET_ACCESS_KEY": "sandbox-secret"}
    args = ["orphans", "--region", "aws:us-east-2", "--grace", "0", "--keep", "1",
            "--database-url", f"sqlite:///{tmp_path}/o.db"]
    listed = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert listed.exit_code == 1, listed.output
    found = json.loads(listed.output.splitlines()[-1])["orphans"]
    assert {(o["kind"], o["id"]) for o in found} == {("image", web[0]), ("image", web[1]), ("snapshot", api_snap)}
    assert all(len(o["snapshots"]) == 1 for o in found if o["kind"] == "image")
    text = CliRunner().invoke(cli, args, env=env)
    assert text.exit_code == 1 and text.output.splitlines()[-1] == "3 still billing"
    kept = CliRunner().invoke(cli, [*args[:-4], "--keep", "3", *args[-2:], "--json"], env=env)
    assert kept.exit_code == 1 and [o["kind"] for o in json.loads(kept.output)["orphans"]] == ["snapshot"]
    bad = CliRunner().invoke(cli, ["orphans", "--region", "us-east-2"], env=env)
    assert bad.exit_code == 2 and "--region" in bad.output


def test_responder_protect_says_why_when_no_instance_carries_the_tag(race, tmp_path):
    import json

    from click.testing import CliRunner

    from responder.cli import cli

    env = {"RESPONDER_CLOUDS": "aws", "RESPONDER_AWS_ENDPOINT_URL": race.emulator.endpoint_url,
           "AWS_ACCESS_KEY_ID": "sandbox-key", "AWS_SECRET_ACCESS_KEY": "sandbox-secret"}
    done = CliRunner().invoke(cli, ["protect", "--cloud", "aws", "--region", "us-east-2", "--tag", "protect=nobody",
                                    "--database-url", f"sqlite:///{tmp_path}/p.db", "--quiet"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout.strip().splitlines()[-1])["imaged"] == []
    assert done.stderr.strip().splitlines() == [
        "no instance in aws:us-east-2 carries the tag protect=nobody: nothing to image (tag the instances, or "
        "check --cloud, --region and --tag)"]
    tagged = CliRunner().invoke(cli, ["protect", "--cloud", "aws", "--region", "us-east-2", "--tag", "protect=yes",
                                      "--database-url", f"sqlite:///{tmp_path}/p.db", "--quiet"], env=env)
    assert json.loads(tagged.stdout.strip().splitlines()[-1])["imaged"] and "nothing to image" not in tagged.stderr


def test_the_sandbox_keeps_an_amis_snapshot_after_deregister_and_refuses_to_delete_it_while_in_use(race):
    """EC2's rules the clean-up relies on: DeregisterImage leaves the snapshots (they bill on), and
    DeleteSnapshot of a snapshot a registered AMI uses is refused, so the order is AMI, then snapshots."""
    from botocore.exceptions import ClientError

    client = ec2(race)
    image_id = protect(race).imaged[0]
    snap = client.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    with pytest.raises(ClientError) as refused:
        client.delete_snapshot(SnapshotId=snap)
    assert refused.value.response["Error"]["Code"] == "InvalidSnapshot.InUse"
    client.deregister_image(ImageId=image_id)
    assert snap in snapshot_ids(client)
    client.delete_snapshot(SnapshotId=snap)
    assert snap not in snapshot_ids(client)


def test_the_sandbox_makes_one_ami_of_a_name_however_many_ask_at_once(race):
    import threading

    from botocore.exceptions import ClientError

    start, answers = threading.Barrier(8), []

    def create():
        client = ec2(race)
        start.wait()
        try:
            answers.append(client.create_image(InstanceId=WEB, Name="responder-protect-race", NoReboot=True)["ImageId"])
        except ClientError as err:
            answers.append(err.response["Error"]["Code"])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [a for a in answers if a.startswith("ami-")]
    assert len(made) == 1 and answers.count("InvalidAMIName.Duplicate") == 7
    named = ec2(race).describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["responder-protect-race"]}])
    assert [i["ImageId"] for i in named["Images"]] == made
