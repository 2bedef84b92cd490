"""IAM on the AWS sandbox: the authorization questions an EC2 or Secrets Manager call asks, and the refusal.

Parts: access_key_of (the SigV4 credential's key id), ec2_checks (call → Checks), secret_check,
authorize_ec2 / authorize_secret (raise Ec2Error UnauthorizedOperation / return the Secrets Manager
AccessDeniedException body), unauthorized_message.

Resource-level questions follow the Service Authorization Reference for Amazon EC2: the actions the
responder scopes by tag are asked on the resource's ARN with its tags as aws:ResourceTag/<key> and
ec2:ResourceTag/<key> (DetachVolume on the volume and on the instance: both resource types are
listed for it); a create's TagSpecifications ask ec2:CreateTags with ec2:CreateAction, aws:RequestTag
and aws:TagKeys ("Grant permission to tag resources during creation"); CreateFleet asks
ec2:RunInstances too, and iam:PassRole (iam:PassedToService ec2.amazonaws.com) when its launch
template names an instance profile. Every other call is asked on "*".
EC2 refuses with UnauthorizedOperation, HTTP 403, "You are not authorized to perform this
operation.", followed (as IAM's access-denied messages are, "Troubleshoot access denied error
messages", IAM User Guide) by who may not perform which action on which resource and why.
"""

from __future__ import annotations

import json
import re
from typing import Any

from responder.clouds.permissions import AWS, AWS_PASSING, AWS_TAGGING
from responder.sandbox.aws_wire import Ec2Error, as_list, tags_from
from responder.sandbox.authz_json import Check, JsonPolicy

_KEY = re.compile(r"Credential=([^/]+)/")
# API → (ARN resource type, parameter naming the resource, its list form) for the tag-scoped actions.
_SCOPED = {
    "TerminateInstances": ("instance", "InstanceId"), "DeleteVolume": ("volume", "VolumeId"),
    "DetachVolume": ("volume", "VolumeId"), "DeregisterImage": ("image", "ImageId"),
    "DeleteSnapshot": ("snapshot", "SnapshotId"), "DeleteLaunchTemplate": ("launch-template", "LaunchTemplateId"),
    "CancelCapacityReservation": ("capacity-reservation", "CapacityReservationId"),
    "ModifyCapacityReservation": ("capacity-reservation", "CapacityReservationId"),
}
_KIND_OF_ID = {"i-": "instance", "vol-": "volume", "ami-": "image", "snap-": "snapshot", "lt-": "launch-template",
               "cr-": "capacity-reservation"}


def access_key_of(environ: dict[str, Any]) -> str:
    match = _KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else ""


def _arn(region: str, account: str, kind: str, ident: str) -> str:
    owner = "" if kind in ("image", "snapshot") else account  # AMI and snapshot ARNs carry no account
    return f"arn:aws:ec2:{region}:{owner}:{kind}/{ident}"


def _tags_of(call, kind: str, ident: str) -> dict[str, str]:
    if kind == "capacity-reservation":
        found = call.emulator.reservations[call.region].describe({"CapacityReservationId": [ident]})
        rows = found.get("CapacityReservations", [])
        return {t["Key"]: t["Value"] for t in rows[0].get("Tags", [])} if rows else {}
    return dict(call.backend.tags.get(ident, {}))


def _resource_context(tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, value in tags.items():
        out[f"aws:resourcetag/{key}".lower()] = out[f"ec2:resourcetag/{key}".lower()] = (value,)
    return out


def _request_context(tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    out = {f"aws:requesttag/{k}".lower(): (v,) for k, v in tags.items()}
    out["aws:tagkeys"] = tuple(tags)
    return out


def _on(call, kind: str, ident: str, action: str, extra: dict | None = None) -> Check:
    context = dict(_resource_context(_tags_of(call, kind, ident)), **(extra or {}))
    return Check(action, _arn(call.region, call.view.account, kind, ident), context)


def _created_tags(call) -> list[tuple[str, dict[str, str]]]:
    """(resource type, tags) of each TagSpecification a create carries (CreateFleet: its template's)."""
    specs = as_list(call.p.get("TagSpecification")) + as_list(call.p.get("TagSpecifications"))
    if call.action == "CreateLaunchTemplate":
        specs = [s for s in specs if s.get("ResourceType") == "launch-template"]
    return [(s.get("ResourceType", "*"), tags_from({"TagSpecification": [s]}, s.get("ResourceType", "*")))
            for s in specs]


def _template_of(call) -> dict[str, Any]:
    for config in as_list(call.p.get("LaunchTemplateConfigs")):
        ident = config.get("LaunchTemplateSpecification", {}).get("LaunchTemplateId", "")
        template = call.backend.launch_templates.get(ident)
        if template is not None:
            return template.latest_version().data or {}
    return {}


def ec2_checks(call) -> list[Check]:
    action = call.action
    checks = [Check(p) for p in AWS.get(action, (f"(no IAM action known for {action})",))]
    if action in _SCOPED:
        kind, param = _SCOPED[action]
        idents = [v for k, v in call.params.items() if k == param or k.startswith(param + ".")]
        checks = [_on(call, kind, ident, f"ec2:{action}") for ident in idents] or checks
        if action == "DetachVolume" and call.params.get("InstanceId"):
            checks.append(_on(call, "instance", call.params["InstanceId"], "ec2:DetachVolume"))
    if action == "CreateCapacityReservation":  # asked on the new reservation, with the tags it gets
        tags = tags_from(call.p, "capacity-reservation")
        checks = [Check("ec2:CreateCapacityReservation", _arn(call.region, call.view.account, "capacity-reservation",
                                                             "*"), _request_context(tags))]
    if action == "CreateTags":
        tags = {t.get("Key", ""): t.get("Value", "") for t in as_list(call.p.get("Tag"))}
        ids = [v for k, v in call.params.items() if k.startswith("ResourceId.")]
        checks = [_on(call, _KIND_OF_ID.get(i.split("-")[0] + "-", "*"), i, "ec2:CreateTags", _request_context(tags))
                  for i in ids]
    if action in AWS_TAGGING:
        for kind, tags in _created_tags(call):
            context = dict(_request_context(tags), **{"ec2:createaction": (action,)})
            checks.append(Check("ec2:CreateTags", _arn(call.region, call.view.account, kind, "*"), context))
    if action in AWS_PASSING and (_template_of(call).get("IamInstanceProfile") or call.p.get("IamInstanceProfile")):
        checks.append(Check("iam:PassRole", "*", {"iam:passedtoservice": ("ec2.amazonaws.com",)}))
    return checks


def unauthorized_message(account: str, check: Check, decision: str) -> str:
    why = ("with an explicit deny in an identity-based policy" if decision == "explicit-deny"
           else f"because no identity-based policy allows the {check.action} action")
    return (f"You are not authorized to perform this operation. User: arn:aws:iam::{account}:user/responder "
            f"is not authorized to perform: {check.action} on resource: {check.resource} {why}")


def authorize_ec2(policy: JsonPolicy | None, call) -> None:
    if policy is None:
        return
    for check in ec2_checks(call):
        decision = policy.decide(check)
        if decision != "allow":
            raise Ec2Error("UnauthorizedOperation", unauthorized_message(call.view.account, check, decision), 403)


def authorize_secret(policy: JsonPolicy | None, target: str, body: bytes, region: str, account: str) -> bytes | None:
    """None when allowed; otherwise Secrets Manager's AccessDeniedException body (HTTP 400)."""
    if policy is None or not target.startswith("secretsmanager."):
        return None
    api = target.split(".", 1)[1]
    try:
        secret = str(json.loads(body or b"{}").get("SecretId", "*"))
    except ValueError:
        secret = "*"
    arn = secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"
    check = Check(f"secretsmanager:{api}", arn)
    decision = policy.decide(check)
    if decision == "allow":
        return None
    return json.dumps({"__type": "AccessDeniedException",
                       "Message": unauthorized_message(account, check, decision).split(". ", 1)[1]}).encode()
