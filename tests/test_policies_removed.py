"""Every action the shipped policies grant is needed: without it, a named flow fails with the
missing action in its reason.

Parts: box (one shared sandbox enforcing the shipped policies, with a resource of each kind the
responder owns: tagged instances, a kept volume, an image and its snapshot, a launch template, a
reservation, a secret on each cloud), the flows (each a short path of the product: the Aliyun or
AWS replacement through /events, or one adapter verb a feature calls), FLOW_OF (granted action →
flow), and the parametrised test: the action taken out of the shipped document, the flow run, its
refusal read. OCI: each statement of deploy/oci-policy.txt taken out in turn.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import boto3
import pytest
import yaml

from oci_fixtures import REGION as OCI_REGION
from oci_fixtures import start_oci_box
from responder.clouds.aliyun import AliyunCloud
from responder.clouds.aws import AwsCloud
from responder.clouds.base import LaunchRequest
from responder.clouds.prices import price_cache
from responder.clouds.secret_url import SecretRefused, read_secret
from responder.errors import CloudError, PermissionDenied
from responder.model import Market, Offering
from responder.sandbox.authz import SANDBOX_ADMIN_KEY
from responder.sandbox.authz_json import JsonPolicy
from responder.sandbox.authz_oci import OciPolicy
from responder.sandbox.runtime import SANDBOX_KEY, SANDBOX_SECRET
from responder.sandbox.scenario import DEFAULT_SCENARIO, load_scenario
from responder.sandbox.shared import SharedSandbox
from tests.conftest import event_bytes
from tests.test_oci_adapter import micro
from tests.test_policies import env_of

ROOT = Path(__file__).resolve().parents[1]
ALI, AWS = "cn-hangzhou", "us-east-2"
ORIGINAL, HEALTHY, OURS = "i-bp1ecr7pz2yq4v5go2go", "i-bp1healthy0000000000", "i-bp1managed0000000000"
SPOT, OTHER = "i-1234567890abcdef0", "i-0b662ef9931388ba0"
# Stopped instances for the swap's steps: one whose system disk is still its own image (ReplaceSystemDisk
# is next), one whose system disk already came from the image asked for (StartInstance is next).
TO_REPLACE, TO_START, SWAP_IMAGE = "i-bp1swapreplace000000", "i-bp1swapstart0000000", "m-bp1swapimage00000000"
SECRET = {"username": "u", "password": "p", "host": "db", "port": 3306, "dbname": "d"}


def _scenario():
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    aliyun = next(r for r in data["regions"] if r["cloud"] == "aliyun")
    aliyun["instances"].append({"id": OURS, "type": "ecs.g7.large", "zone": "cn-hangzhou-i", "status": "Running",
                                "subnet": "vsw-bp1xgvok3myac6ctry030", "spot_strategy": "NoSpot", "locks": [],
                                "tags": {"responder:managed": "true"}})
    for instance_id, image in ((TO_REPLACE, "m-bp1oldimage000000000"), (TO_START, SWAP_IMAGE)):
        aliyun["instances"].append({"id": instance_id, "type": "ecs.g7.large", "zone": "cn-hangzhou-i",
                                    "status": "Stopped", "subnet": "vsw-bp1xgvok3myac6ctry030",
                                    "spot_strategy": "NoSpot", "locks": [], "image": image})
    aliyun["secrets"] = {"store": SECRET}
    data["image_timing"] = "disks"  # an image is made of its disks' snapshots: retention deletes them too
    return load_scenario(data)


class Ctx:
    def __init__(self, box, tmp):
        from responder.settings import Settings

        self.box, self.tmp, self.env = box, tmp, env_of(box)
        self.settings = Settings.from_env(self.env, dotenv=False)
        self.ali = AliyunCloud(SANDBOX_KEY, SANDBOX_SECRET, endpoint=box.address)
        self.aws = AwsCloud(endpoint_url=f"http://{box.address}", aws_access_key_id=SANDBOX_KEY,
                            aws_secret_access_key=SANDBOX_SECRET, region_name=AWS)
        self.runs = 0

    def owned(self):
        """Resources the responder owns, made with the full policy: a tagged instance and volume, an
        image with its snapshot, a launch template, a reservation, a secret."""
        self.aws.take_charge(AWS, (OTHER,))
        self.volume = self.aws.describe_disks(AWS, instance_id=OTHER)[0].disk_id
        self.aws.take_charge(AWS, (self.volume,))
        self.ami = self.aws.create_image(AWS, OTHER, "policy-test", "tok-ami", (("responder:source-instance", OTHER),))
        self.snapshot = next(iter(self.aws.image_snapshots(AWS, self.ami).values()))
        ec2 = boto3.client("ec2", region_name=AWS, endpoint_url=f"http://{self.box.address}",
                           aws_access_key_id=SANDBOX_KEY, aws_secret_access_key=SANDBOX_SECRET)
        self.template = ec2.create_launch_template(
            LaunchTemplateName="policy-test", LaunchTemplateData={"ImageId": self.ami},
            TagSpecifications=[{"ResourceType": "launch-template",
                                "Tags": [{"Key": "responder:managed", "Value": "true"}]}])["LaunchTemplate"]["LaunchTemplateId"]
        self.reservation = self.aws.create_reservation(AWS, Offering("m5.large", "us-east-2b", Market.ONDEMAND), 1,
                                                       "tok-cr").reservation_id
        boto3.client("secretsmanager", region_name=AWS, endpoint_url=f"http://{self.box.address}",
                     aws_access_key_id=SANDBOX_ADMIN_KEY, aws_secret_access_key="x").create_secret(
            Name="store", SecretString=json.dumps(SECRET))
        self.ali_image = self.ali.create_image(ALI, ORIGINAL, "policy-test", "tok-img")

    def replace(self, sample: str) -> str:
        """The replacement an event asks for, through /events: the task's reason when it failed."""
        from responder.web import create_app

        self.runs += 1
        settings = self.settings.with_(database_url=f"sqlite:///{self.tmp}/removed{self.runs}.db",
                                       background_ticker=False, launch_retry_seconds=0)
        app = create_app(settings)
        body = app.test_client().post("/events", data=event_bytes(sample)).get_json()
        task = app.extensions["responder"]["runner"].run_to_end(body["task"]["id"], timeout=60)
        assert task.status == "failed" and task.record.denied, (task.status, task.reason)
        return task.reason


def _ali_replace(c):
    return c.replace("aliyun/cloudmonitor-interruption.json")


def _aws_replace(c):
    return c.replace("aws/spot-interruption-warning.json")


def _secret(cloud, region):
    def read(c):
        with pytest.raises(SecretRefused) as refused:
            read_secret(c.settings, cloud, region, "store")
        return str(refused.value)
    return read


def _fresh_price(adapter, offering):
    price_cache(adapter).clear()  # an answer cached by an earlier read would hide the refusal
    return adapter.hourly_price(AWS if adapter.cloud == "aws" else ALI, offering)


AL = lambda f: lambda c: f(c.ali)  # noqa: E731 - an Aliyun adapter verb
AW = lambda f: lambda c: f(c.aws)  # noqa: E731 - an AWS adapter verb
ODCR = Offering("ecs.g7.large", "cn-hangzhou-j", Market.ONDEMAND)
FLOW_OF = {
    "aliyun": {
        **{a: ("aliyun-replacement", _ali_replace) for a in (
            "ecs:DescribeInstances", "ecs:DescribeUserData", "ecs:DescribeInstanceRamRole", "ecs:DescribeDisks",
            "ecs:CreateImage", "ecs:DescribeImages", "ecs:DescribeInstanceTypes", "ecs:DescribeAvailableResource")},
        "vpc:DescribeVSwitches": ("plan", AL(lambda a: a.subnets(ALI, "vpc-bp171csbkbnjhg1bj3npw"))),
        **{a: ("launch-with-the-original's-role", lambda c: c.ali.launch(ALI, LaunchRequest(
            source=c.ali.clone_details(ALI, c.ali.describe_instance(ALI, ORIGINAL), ("role",)), image_id=c.ali_image,
            client_token="tok-run", offerings=(Offering("ecs.g7.large", "cn-hangzhou-j", Market.ONDEMAND),),
            subnet_by_zone=(("cn-hangzhou-j", "vsw-bp1j4k2lmn7opq3rst5uv"),))))
           for a in ("ecs:RunInstances", "ram:PassRole")},
        "ecs:ModifyDiskAttribute": ("race-keep-disks", AL(lambda a: a.set_delete_with_instance(ALI, ("d-x",), False))),
        "ecs:AttachDisk": ("race-reattach", AL(lambda a: a.attach_disk(ALI, "d-x", HEALTHY))),
        "ecs:DetachDisk": ("race-detach", AL(lambda a: a.detach_disk(ALI, "d-x", ORIGINAL))),
        "ecs:DeleteDisk": ("race-give-back", AL(lambda a: a.delete_disk(ALI, "d-x"))),
        "ecs:CreateDisk": ("race-restore", AL(lambda a: a.restore_disk(ALI, "s-x", "cn-hangzhou-j", "cloud_essd", "t"))),
        "ecs:DescribeSnapshots": ("race-restore", AL(lambda a: a.snapshot_usable(ALI, "s-x"))),
        "ecs:DeleteImage": ("retention", AL(lambda a: a.delete_image(ALI, "m-x"))),
        "ecs:DeleteSnapshot": ("retention", lambda c: c.ali.delete_image(ALI, c.ali_image)),
        "ecs:DescribeNetworkInterfaces": ("race-private-ip", AL(lambda a: a.assign_private_ip(ALI, HEALTHY, "172.16.0.9"))),
        "ecs:AssignPrivateIpAddresses": ("race-private-ip", AL(lambda a: a.assign_private_ip(ALI, HEALTHY, "172.16.0.9"))),
        "ecs:ConvertNatPublicIpToEip": ("race-public-ip", AL(lambda a: a.convert_public_ip(ALI, ORIGINAL))),
        "vpc:AssociateEipAddress": ("race-bind-eip", AL(lambda a: a.associate_address(ALI, "eip-x", HEALTHY))),
        "ecs:CreateCapacityReservation": ("odcr-create", AL(lambda a: a.create_reservation(ALI, ODCR, 1, "t"))),
        "ecs:ModifyCapacityReservation": ("odcr-expand", AL(lambda a: a.modify_reservation(ALI, "crp-x", 2))),
        "ecs:DescribeCapacityReservations": ("odcr-list", AL(lambda a: a.list_reservations(ALI))),
        "ecs:ReleaseCapacityReservation": ("targets-release", AL(lambda a: a.cancel_reservation(ALI, "crp-x"))),
        "ecs:DeleteInstance": ("targets-release", AL(lambda a: a.terminate_instance(ALI, OURS))),
        "kms:GetSecretValue": ("store-secret", _secret("aliyun", ALI)),
        "ecs:DescribePrice": ("cost", AL(lambda a: _fresh_price(a, Offering("ecs.g7.large", "cn-hangzhou-i", Market.SPOT)))),
        # a replacement goes on without the bands (advice): the adapter's read is what stops
        "ecs:DescribeSpotAdvice": ("spot-bands", AL(lambda a: a.spot_bands(ALI, ["ecs.g7.large"]))),
        "ecs:StopInstance": ("race-swap", AL(lambda a: a.swap_root(ALI, HEALTHY, SWAP_IMAGE, "t-swap"))),
        "ecs:ReplaceSystemDisk": ("race-swap", AL(lambda a: a.swap_root(ALI, TO_REPLACE, SWAP_IMAGE, "t-swap"))),
        "ecs:StartInstance": ("race-swap", AL(lambda a: a.swap_root(ALI, TO_START, SWAP_IMAGE, "t-swap"))),
    },
    "aws": {
        **{a: ("aws-replacement", _aws_replace) for a in (
            "ec2:CreateLaunchTemplate", "ec2:CreateFleet", "ec2:RunInstances")},
        "iam:PassRole": ("launch-with-the-original's-profile", lambda c: c.aws.launch(AWS, LaunchRequest(
            source=c.aws.describe_instance(AWS, SPOT), image_id=c.ami, client_token="tok-passrole",
            offerings=(Offering("m5.large", "us-east-2a", Market.ONDEMAND),),
            subnet_by_zone=(("us-east-2a", "subnet-0a1b2c3d4e5f60001"),)))),
        "ec2:DescribeInstances": ("verify", AW(lambda a: a.describe_instance(AWS, SPOT))),
        "ec2:DescribeSpotInstanceRequests": ("verify", AW(lambda a: a.describe_instance(AWS, SPOT))),
        "ec2:DescribeInstanceAttribute": ("clone", lambda c: c.aws.clone_details(
            AWS, c.aws.describe_instance(AWS, SPOT), ("user_data",))),
        # the credit mode is read of a burstable original only: the same instance, read as a t3
        "ec2:DescribeInstanceCreditSpecifications": ("clone", lambda c: c.aws.clone_details(
            AWS, dataclasses.replace(c.aws.describe_instance(AWS, SPOT), instance_type="t3.large"), ("credit",))),
        "ec2:DescribeAddresses": ("clone", lambda c: c.aws.clone_details(
            AWS, c.aws.describe_instance(AWS, SPOT), ("elastic_ip",))),
        "ec2:CreateImage": ("image", AW(lambda a: a.create_image(AWS, SPOT, "p-img", "t", (("k", "v"),)))),
        "ec2:CreateTags": ("rebalance-take-charge", AW(lambda a: a.take_charge(AWS, (SPOT,)))),
        "ec2:DescribeImages": ("image-poll", AW(lambda a: a.latest_image(AWS, SPOT))),
        "ec2:DescribeInstanceTypes": ("plan", AW(lambda a: a.instance_types(AWS, ["m5.large"]))),
        "ec2:DescribeInstanceTypeOfferings": ("plan", AW(lambda a: a.offerings_with_stock(AWS, ["m5.large"], Market.SPOT))),
        "ec2:DescribeSubnets": ("plan", AW(lambda a: a.subnets(AWS, "vpc-0a1b2c3d4e5f60000"))),
        "ec2:DescribeSpotPriceHistory": ("plan", AW(lambda a: a.spot_prices(AWS, ["m5.large"]))),
        "ec2:GetSpotPlacementScores": ("spot-scores", AW(lambda a: a.placement_scores(AWS, ["m5.large"]))),
        "ec2:DescribeLaunchTemplates": ("retention", AW(lambda a: a.own_launch_templates(AWS))),
        "ec2:DescribeAvailabilityZones": ("odcr-create", AW(lambda a: a.zone_names(AWS))),
        "ec2:DescribeCapacityReservations": ("odcr-list", AW(lambda a: a.list_reservations(AWS))),
        "ec2:CreateCapacityReservation": ("odcr-create", AW(lambda a: a.create_reservation(
            AWS, Offering("m5.large", "us-east-2b", Market.ONDEMAND), 1, "t2"))),
        "ec2:ModifyCapacityReservation": ("odcr-expand", lambda c: c.aws.modify_reservation(AWS, c.reservation, 2)),
        "ec2:CancelCapacityReservation": ("targets-release", lambda c: c.aws.cancel_reservation(AWS, c.reservation)),
        "ec2:TerminateInstances": ("rebalance-retire", AW(lambda a: a.terminate_instance(AWS, OTHER))),
        "ec2:DescribeVolumes": ("race-keep-disks", AW(lambda a: a.describe_disks(AWS, instance_id=SPOT))),
        "ec2:ModifyInstanceAttribute": ("race-keep-disks", lambda c: c.aws.set_delete_with_instance(
            AWS, (c.volume,), True)),
        "ec2:AttachVolume": ("race-reattach", AW(lambda a: a.attach_disk(AWS, "vol-0abc", SPOT, "/dev/sdf"))),
        "ec2:DetachVolume": ("race-detach", lambda c: c.aws.detach_disk(AWS, c.volume, OTHER)),
        "ec2:DeleteVolume": ("race-give-back", lambda c: c.aws.delete_disk(AWS, c.volume)),
        "ec2:CreateVolume": ("race-restore", AW(lambda a: a.restore_disk(AWS, "snap-0abc", "us-east-2a", "gp3", "t"))),
        "ec2:DescribeSnapshots": ("race-restore", AW(lambda a: a.snapshot_usable(AWS, "snap-0abc"))),
        "ec2:AssignPrivateIpAddresses": ("race-private-ip", AW(lambda a: a.assign_private_ip(AWS, SPOT, "10.0.1.250"))),
        "ec2:AssociateAddress": ("elastic-ip", AW(lambda a: a.associate_address(AWS, "eipalloc-0abc", SPOT))),
        "ec2:DeregisterImage": ("retention", lambda c: c.aws.delete_image(AWS, c.ami)),
        "ec2:DeleteSnapshot": ("retention", lambda c: c.aws.delete_snapshot(AWS, c.snapshot)),
        "ec2:DeleteLaunchTemplate": ("retention", lambda c: c.aws.delete_launch_template(AWS, c.template)),
        "secretsmanager:GetSecretValue": ("store-secret", _secret("aws", AWS)),
        "pricing:GetProducts": ("cost", AW(lambda a: _fresh_price(a, Offering("m5.large", "us-east-2b", Market.ONDEMAND)))),
        **{a: ("race-swap", lambda c: c.aws.swap_root(AWS, SPOT, c.ami, "t-swap"))
           for a in ("ec2:CreateReplaceRootVolumeTask", "ec2:DescribeReplaceRootVolumeTasks")},
    },
}
DOCUMENTS = {"aliyun": ROOT / "deploy" / "aliyun-ram-policy.json", "aws": ROOT / "deploy" / "aws-iam-policy.json"}


def _granted(cloud: str) -> list[str]:
    document = json.loads(DOCUMENTS[cloud].read_text())
    return sorted({a for s in document["Statement"] for a in s["Action"]})


def without(document: dict, action: str) -> dict:
    out = copy.deepcopy(document)
    for statement in out["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != action]
    out["Statement"] = [s for s in out["Statement"] if s["Action"]]
    return out


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    with SharedSandbox(_scenario()) as box, pytest.MonkeyPatch.context() as patch:
        for name, value in env_of(box).items():
            patch.setenv(name, value)
        c = Ctx(box, tmp_path_factory.mktemp("removed"))
        c.owned()
        yield c


def _reason(flow, c) -> str:
    try:
        return flow(c)
    except (PermissionDenied, CloudError) as exc:
        return str(exc)


CASES = [(cloud, action) for cloud in ("aliyun", "aws") for action in _granted(cloud)]


@pytest.mark.parametrize("cloud,action", CASES, ids=[f"{a}-stops-{FLOW_OF[c].get(a, ('?',))[0]}" for c, a in CASES])
def test_a_policy_without_the_action_stops_its_flow_naming_the_action(ctx, cloud, action):
    assert action in FLOW_OF[cloud], f"no flow named for {action}: add one to FLOW_OF"
    emulator = ctx.box.aliyun if cloud == "aliyun" else ctx.box.aws
    shipped = getattr(emulator.policies, cloud)
    setattr(emulator.policies, cloud, JsonPolicy(without(json.loads(DOCUMENTS[cloud].read_text()), action)))
    try:
        reason = _reason(FLOW_OF[cloud][action][1], ctx)
    finally:
        setattr(emulator.policies, cloud, shipped)
    assert action in reason, reason


OCI_STATEMENTS = [line for line in (ROOT / "deploy" / "oci-policy.txt").read_text().splitlines()
                  if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def oci_box():
    box = start_oci_box()
    box.seed = box.cloud.launch(OCI_REGION, micro("tok-seed", name="seed")).instance_ids[0]  # with the full policy
    yield box
    box.sandbox.stop()


def _oci_flow(statement: str):
    """The OCI call a statement is for: the primary VNIC of an instance (ListVnicAttachments), the
    availability domains, the image of an instance, or a launch (what LaunchInstance needs)."""
    if "vnic-attachments" in statement:
        return lambda box: box.cloud.describe_instance(OCI_REGION, box.seed)
    if "compartments" in statement:
        return lambda box: box.cloud.availability_domains(OCI_REGION)
    if "manage instance-images" in statement or " use instances " in statement:
        return lambda box: box.cloud.create_image(OCI_REGION, box.seed, "img", "tok")
    return lambda box: box.cloud.launch(OCI_REGION, micro("tok-policy"))


@pytest.mark.parametrize("statement", OCI_STATEMENTS)
def test_an_oci_policy_without_the_statement_stops_its_call_naming_the_verb(oci_box, statement):
    emulator = oci_box.emulator
    shipped = emulator.policies.oci
    emulator.policies.oci = OciPolicy("\n".join(s for s in OCI_STATEMENTS if s != statement))
    try:
        reason = _reason(_oci_flow(statement), oci_box)
    finally:
        emulator.policies.oci = shipped
    words = statement.split(" to ", 1)[1].split(" in ", 1)[0]  # "use vnics"
    assert words in reason, reason
