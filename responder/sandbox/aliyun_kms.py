"""The Aliyun KMS secrets API on the Aliyun sandbox endpoint: GetSecretValue, enough for a store
URL kept in a KMS secret (RESPONDER_DATABASE_SECRET=aliyun:REGION:NAME).

Parts: KMS_VERSION, secrets_of (the scenario's `secrets:` of each Aliyun region, seeded once per
world), get_secret_value, KMS_ACTIONS (Action → function, dispatched by aliyun_ecs with the KMS
API version).

The answer follows "Key Management Service: GetSecretValue" (alibabacloud.com/help/en/kms/
key-management-service/developer-reference/api-kms-2016-01-20-getsecretvalue): SecretName,
SecretData, SecretDataType, VersionId, VersionStages (ACSCurrent when no stage is asked for).
The document names no error for an unknown secret; the sandbox answers 404
Forbidden.ResourceNotFound, a not-found the caller must not retry (the harsher reading).
"""

from __future__ import annotations

import json
from typing import Any

from responder.sandbox.aliyun_ecs_state import EcsError, World, require

KMS_VERSION = "2016-01-20"


def secrets_of(world: World) -> dict[tuple[str, str], str]:
    """(region, name) → secret text; a mapping value in the scenario is stored as its JSON."""
    made = world.__dict__.get("kms_secrets")
    if made is None:
        made = {}
        for region in world.regions.values():
            for name, value in (region.raw.get("secrets") or {}).items():
                made[(region.region, str(name))] = value if isinstance(value, str) else json.dumps(value)
        world.__dict__["kms_secrets"] = made
    return made


def get_secret_value(world: World, region_id: str, params: dict[str, str]) -> dict[str, Any]:
    name = require(params, "SecretName")
    stage = params.get("VersionStage") or "ACSCurrent"
    text = secrets_of(world).get((region_id, name))
    if text is None or stage != "ACSCurrent":
        raise EcsError("Forbidden.ResourceNotFound", "The resource not exists.", 404)
    return {"SecretName": name, "SecretData": text, "SecretDataType": "text",
            "VersionId": "00000000000000000000000000000001", "CreateTime": "2026-01-01T00:00:00Z",
            "VersionStages": {"VersionStage": ["ACSCurrent"]}}


KMS_ACTIONS = {"GetSecretValue": get_secret_value}
