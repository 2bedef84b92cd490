"""The authorization each cloud API call needs, as each vendor documents it: the one table the deploy
policies are built from, the sandbox enforces, and a refusal is explained by.

Parts: ALIYUN, AWS, OCI (API name → the permissions a call needs, each cited), AWS_WHEN (the
permissions an EC2 call needs only with a request feature: tags on create, an instance profile),
OCI_LOCATION (OCI permissions checked on the tenancy rather than the compartment), OCI_GRANTS /
OCI_VERBS / OCI_FAMILIES / OCI_FAMILY_EXTRAS (which verb on which resource type grants a
permission), oci_statement_for, needed (cloud, api → every permission the call may need), required
(the same in a policy's words, for a refusal's reason).

Aliyun: each API page's "RAM authorization" table and ECS's RAM reference ("RAM authorization for
ECS", alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-ram). ECS's own
DescribeVSwitches and AssociateEipAddress are deprecated ("This API has been deprecated. We
recommend migrating to Vpc(2016-04-28)") and authorised as `vpc:` actions; the responder calls the
VPC API for both. ConvertNatPublicIpToEip stays an ECS API, authorised as ecs:ConvertNatPublicIpToEip
on the instance. KMS GetSecretValue: "Key Management Service: GetSecretValue", kms:GetSecretValue.
AWS: the Service Authorization Reference for Amazon EC2 (docs.aws.amazon.com/service-authorization/
latest/reference/list_amazonec2.html): every EC2 action is named as its API; CreateFleet lists
ec2:RunInstances, ec2:CreateTags and iam:PassRole as dependent actions; tagging on create needs
ec2:CreateTags with ec2:CreateAction set to the creating API ("Grant permission to tag resources
during creation", AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html). Secrets Manager:
secretsmanager:GetSecretValue. Price List: pricing:GetProducts (the Service Authorization Reference
for AWS Price List supports no resource-level permission: Resource "*").
OCI: "Permissions Required for Each API Operation" (Core Services) and "Details for the Core
Services" (docs.oracle.com/en-us/iaas/Content/Identity/Reference/corepolicyreference.htm).
ListAvailabilityDomains: the document names no permission; the harsher reading is that it needs
`inspect compartments` on the tenancy, and LaunchInstance the `read app-catalog-listing` the
instances table names beside it.
"""

from __future__ import annotations

ALIYUN: dict[str, tuple[str, ...]] = {
    # ECS 2014-05-26
    "DescribeInstances": ("ecs:DescribeInstances",),
    "DescribeUserData": ("ecs:DescribeUserData",),
    "DescribeInstanceRamRole": ("ecs:DescribeInstanceRamRole",),
    "DescribeDisks": ("ecs:DescribeDisks",),
    "DescribeImages": ("ecs:DescribeImages",),
    "DescribeSnapshots": ("ecs:DescribeSnapshots",),
    "DescribeInstanceTypes": ("ecs:DescribeInstanceTypes",),
    "DescribeAvailableResource": ("ecs:DescribeAvailableResource",),
    "DescribeCapacityReservations": ("ecs:DescribeCapacityReservations",),
    "DescribeNetworkInterfaces": ("ecs:DescribeNetworkInterfaces",),
    "DescribePrice": ("ecs:DescribePrice",),
    # "RAM authorization": none disclosed on the API page; the harsher reading is its own action
    "DescribeSpotAdvice": ("ecs:DescribeSpotAdvice",),
    "CreateImage": ("ecs:CreateImage",),
    # RamRoleName: the caller passes the role to the instance (RAM: "ram:PassRole").
    "RunInstances": ("ecs:RunInstances", "ram:PassRole"),
    "DeleteInstance": ("ecs:DeleteInstance",),
    "CreateCapacityReservation": ("ecs:CreateCapacityReservation",),
    "ModifyCapacityReservation": ("ecs:ModifyCapacityReservation",),
    "ReleaseCapacityReservation": ("ecs:ReleaseCapacityReservation",),
    "ModifyDiskAttribute": ("ecs:ModifyDiskAttribute",),
    "AttachDisk": ("ecs:AttachDisk",),
    "DetachDisk": ("ecs:DetachDisk",),
    "DeleteDisk": ("ecs:DeleteDisk",),
    "CreateDisk": ("ecs:CreateDisk",),
    "DeleteImage": ("ecs:DeleteImage",),
    "DeleteSnapshot": ("ecs:DeleteSnapshot",),
    "ConvertNatPublicIpToEip": ("ecs:ConvertNatPublicIpToEip",),
    "AssignPrivateIpAddresses": ("ecs:AssignPrivateIpAddresses",),
    # the swap of a replacement's system disk (replace/swap.py): StopInstance, ReplaceSystemDisk, StartInstance
    "StopInstance": ("ecs:StopInstance",),
    "StartInstance": ("ecs:StartInstance",),
    "ReplaceSystemDisk": ("ecs:ReplaceSystemDisk",),
    # VPC 2016-04-28
    "DescribeVSwitches": ("vpc:DescribeVSwitches",),
    "AssociateEipAddress": ("vpc:AssociateEipAddress",),
    "DescribeEipAddresses": ("vpc:DescribeEipAddresses",),
    # KMS 2016-01-20
    "GetSecretValue": ("kms:GetSecretValue",),
}

# Where RAM checks a resource of the call rather than "*": (service, ARN resource type, the parameter
# naming it). The responder scopes DeleteInstance by tag ("Use tags to restrict RAM users to managing
# specific ECS instances": acs:ResourceTag/<key> on ECS instances) and KMS reads to secrets.
ALIYUN_RESOURCE = {"DeleteInstance": ("ecs", "instance", "InstanceId"), "GetSecretValue": ("kms", "secret", "SecretName")}

AWS: dict[str, tuple[str, ...]] = {
    **{api: (f"ec2:{api}",) for api in (
        "DescribeInstances", "DescribeInstanceAttribute", "DescribeSpotInstanceRequests", "DescribeAddresses",
        "DescribeImages", "DescribeInstanceTypes", "DescribeInstanceTypeOfferings", "DescribeSubnets",
        "DescribeSpotPriceHistory", "GetSpotPlacementScores", "DescribeLaunchTemplates", "DescribeAvailabilityZones",
        "DescribeCapacityReservations", "DescribeVolumes", "DescribeSnapshots", "AssociateAddress",
        "TerminateInstances", "ModifyCapacityReservation", "CancelCapacityReservation", "ModifyInstanceAttribute",
        "AttachVolume", "DetachVolume", "DeleteVolume", "AssignPrivateIpAddresses", "DeregisterImage",
        "DeleteSnapshot", "DeleteLaunchTemplate", "CreateTags", "RunInstances", "DescribeInstanceCreditSpecifications",
        "CreateImage", "CreateLaunchTemplate", "CreateCapacityReservation", "CreateVolume",
        "CreateReplaceRootVolumeTask", "DescribeReplaceRootVolumeTasks")},
    # An instant fleet launches through RunInstances under the caller's own policy.
    "CreateFleet": ("ec2:CreateFleet", "ec2:RunInstances"),
    "GetSecretValue": ("secretsmanager:GetSecretValue",),
    # The Price List Query API: "Actions defined by AWS Price List", pricing:GetProducts on "*".
    "GetProducts": ("pricing:GetProducts",),
}

# Feature of the request → the further permission it needs (checked by the sandbox, named in a refusal).
AWS_WHEN = {
    "tags": "ec2:CreateTags",  # TagSpecifications on a create: ec2:CreateTags with ec2:CreateAction
    "instance_profile": "iam:PassRole",  # the launch template names an IAM instance profile
}
AWS_TAGGING = frozenset({"CreateImage", "CreateFleet", "CreateLaunchTemplate", "CreateCapacityReservation",
                         "CreateVolume", "RunInstances"})
AWS_PASSING = frozenset({"CreateFleet", "RunInstances"})

OCI: dict[str, tuple[str, ...]] = {
    "ListAvailabilityDomains": ("COMPARTMENT_INSPECT",),
    "ListShapes": ("INSTANCE_INSPECT",),
    "ListImages": ("INSTANCE_IMAGE_INSPECT",),
    "GetImage": ("INSTANCE_IMAGE_INSPECT",),
    "CreateImage": ("INSTANCE_IMAGE_CREATE", "INSTANCE_CREATE_IMAGE"),
    "ListInstances": ("INSTANCE_READ",),
    "GetInstance": ("INSTANCE_READ",),
    "LaunchInstance": ("INSTANCE_CREATE", "INSTANCE_IMAGE_READ", "VNIC_CREATE", "VNIC_ATTACH", "SUBNET_ATTACH",
                       "APP_CATALOG_LISTING_READ", "VOLUME_WRITE", "VOLUME_ATTACHMENT_CREATE"),
    "TerminateInstance": ("INSTANCE_DELETE", "VNIC_DELETE", "SUBNET_DETACH"),
    "ListVnicAttachments": ("VNIC_ATTACHMENT_READ", "INSTANCE_INSPECT"),
    "GetVnic": ("VNIC_READ",),
    # The preserved boot volume of a preempted instance, and a relaunch from it: LaunchInstance
    # with a boot volume source attaches that volume (VOLUME_WRITE on volumes, the attachment's
    # VOLUME_ATTACHMENT_CREATE) — "Details for the Core Services", volumes and volume-attachments.
    "ListBootVolumeAttachments": ("INSTANCE_INSPECT", "VOLUME_ATTACHMENT_INSPECT", "VOLUME_INSPECT"),
    "GetBootVolume": ("VOLUME_INSPECT",),
    "ListSubnets": ("SUBNET_READ",),
    "GetSubnet": ("SUBNET_READ",),
}
# Checked on the tenancy (root compartment), not the compartment of the instances.
OCI_LOCATION = {"COMPARTMENT_INSPECT": "tenancy", "APP_CATALOG_LISTING_READ": "tenancy"}

# Permission → (resource type, the least verb that grants it), from the verb tables of "Details for
# the Core Services" (and IAM's for compartments). The verbs are cumulative: inspect < read < use < manage.
OCI_GRANTS: dict[str, tuple[str, str]] = {
    "INSTANCE_INSPECT": ("instances", "inspect"), "INSTANCE_READ": ("instances", "read"),
    "INSTANCE_CREATE_IMAGE": ("instances", "use"),
    "INSTANCE_CREATE": ("instances", "manage"), "INSTANCE_DELETE": ("instances", "manage"),
    "INSTANCE_IMAGE_INSPECT": ("instance-images", "inspect"), "INSTANCE_IMAGE_READ": ("instance-images", "read"),
    "INSTANCE_IMAGE_CREATE": ("instance-images", "manage"),
    "VNIC_READ": ("vnics", "inspect"), "VNIC_CREATE": ("vnics", "use"), "VNIC_ATTACH": ("vnics", "use"),
    "VNIC_DELETE": ("vnics", "use"),
    "VNIC_ATTACHMENT_READ": ("vnic-attachments", "inspect"),
    "SUBNET_READ": ("subnets", "read"), "SUBNET_ATTACH": ("subnets", "use"), "SUBNET_DETACH": ("subnets", "use"),
    "COMPARTMENT_INSPECT": ("compartments", "inspect"),
    "APP_CATALOG_LISTING_READ": ("app-catalog-listing", "read"),
    "VOLUME_INSPECT": ("volumes", "inspect"), "VOLUME_WRITE": ("volumes", "use"),
    "VOLUME_ATTACHMENT_INSPECT": ("volume-attachments", "inspect"),
    "VOLUME_ATTACHMENT_CREATE": ("volume-attachments", "use"),
    # Not needed by any call: named so a check can show the shipped policy does not grant them.
    "INSTANCE_MOVE": ("instances", "manage"), "INSTANCE_ATTACH_SECONDARY_VNIC": ("instances", "manage"),
    "INSTANCE_IMAGE_DELETE": ("instance-images", "manage"), "VOLUME_CREATE": ("volumes", "manage"),
}
OCI_VERBS = ("inspect", "read", "use", "manage")
# The families a policy may name instead of a resource type (only their members the table uses),
# and the permissions instance-family adds beyond its members' ("Details for the Core Services").
OCI_FAMILIES = {
    "instance-family": ("instances", "instance-images", "console-histories", "instance-console-connection"),
    "virtual-network-family": ("vcns", "subnets", "vnics", "vnic-attachments", "route-tables", "security-lists",
                               "network-security-groups", "private-ips", "public-ips", "internet-gateways"),
    "volume-family": ("volumes", "volume-attachments", "volume-backups", "boot-volume-backups"),
}
OCI_FAMILY_EXTRAS = {("instance-family", "inspect"): ("VNIC_READ", "VNIC_ATTACHMENT_READ"),
                     ("instance-family", "use"): ("VNIC_ATTACH", "VNIC_DETACH")}

TABLES = {"aliyun": ALIYUN, "aws": AWS, "oci": OCI}


def oci_statement_for(permission: str) -> str:
    """The policy words that grant an OCI permission: "INSTANCE_CREATE (manage instances)"."""
    resource, verb = OCI_GRANTS.get(permission, ("", ""))
    return f"{permission} ({verb} {resource})" if resource else permission


def needed(cloud: str, api: str) -> tuple[str, ...]:
    """Every permission a call of `api` may need, the conditional ones of AWS included (the
    responder tags every create and launches with the original's instance profile); () when the
    table does not know the call."""
    needs = TABLES.get(cloud, {}).get(api, ())
    if cloud == "aws":
        needs += (AWS_WHEN["tags"],) if api in AWS_TAGGING else ()
        needs += (AWS_WHEN["instance_profile"],) if api in AWS_PASSING else ()
    return tuple(dict.fromkeys(needs))


def required(cloud: str, api: str) -> tuple[str, ...]:
    """needed(), in the words a policy uses (OCI: "INSTANCE_CREATE (manage instances)"): a refusal's reason."""
    needs = needed(cloud, api)
    return tuple(oci_statement_for(p) for p in needs) if cloud == "oci" else needs
