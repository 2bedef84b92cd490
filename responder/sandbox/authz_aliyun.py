"""RAM on the Aliyun sandbox: the authorization questions a call asks, and RAM's refusal.

Parts: checks (action + parameters → the Checks RAM makes, from responder.clouds.permissions),
authorize (raise Forbidden.RAM unless the policy allows every check), FORBIDDEN_MESSAGE.

RAM's refusal ("Forbidden.RAM", HTTP 403) carries AccessDeniedDetail naming the denied action
(AuthAction) and whether a Deny matched (NoPermissionType ExplicitDeny / ImplicitDeny); the SDK
keeps only Code and Message, so the product names the action from its own table. ram:PassRole is
asked only when RunInstances passes a RamRoleName. A resource-level action (ALIYUN_RESOURCE) is
asked on the resource's ARN (acs:ecs:<region>:<account>:instance/<id>, acs:kms:...:secret/<name>),
with an instance's tags as acs:ResourceTag/<key>; every other action on "*". An action the table does not know is refused
(no policy could name it).
"""

from __future__ import annotations

from responder.clouds.permissions import ALIYUN, ALIYUN_RESOURCE
from responder.sandbox.aliyun_ecs_state import EcsError
from responder.sandbox.authz_json import Check, JsonPolicy

FORBIDDEN_MESSAGE = "User not authorized to operate on the specified resource, or this API doesn't support RAM."


class Forbidden(EcsError):
    def __init__(self, permission: str, decision: str):
        super().__init__("Forbidden.RAM", FORBIDDEN_MESSAGE, 403)
        self.detail = {"AuthAction": permission, "AuthPrincipalType": "SubUser",
                       "NoPermissionType": "ExplicitDeny" if decision == "explicit-deny" else "ImplicitDeny",
                       "PolicyType": "AccountLevelIdentityBasedPolicy"}


def checks(world, action: str, params: dict[str, str]) -> list[Check]:
    found = []
    for permission in ALIYUN.get(action, (f"(no RAM action known for {action})",)):
        if permission == "ram:PassRole" and not params.get("RamRoleName"):
            continue
        service, kind, param = ALIYUN_RESOURCE.get(action, ("", "", ""))
        if not kind:
            found.append(Check(permission))
            continue
        ident, region_id = params.get(param, ""), params.get("RegionId", "")
        region = world.regions.get(region_id) or next(iter(world.regions.values()), None)
        account = region.account if region is not None else ""
        tags = ((world.instances.get(ident) or {}).get("tags") or {}) if kind == "instance" else {}
        context = {f"acs:resourcetag/{k}".lower(): (str(v),) for k, v in tags.items()}
        found.append(Check(permission, f"acs:{service}:{region_id or '*'}:{account}:{kind}/{ident}", context))
    return found


def authorize(policy: JsonPolicy | None, world, action: str, params: dict[str, str]) -> None:
    if policy is None:
        return
    for check in checks(world, action, params):
        decision = policy.decide(check)
        if decision != "allow":
            raise Forbidden(check.action, decision)

