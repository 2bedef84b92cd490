"""Which policies the sandbox enforces: the scenario's `policies:` key, the shipped files by default.

Parts: SANDBOX_ADMIN_KEY (the account owner's key: never checked, for test set-up and people with
curl), OCI_GROUP / OCI_COMPARTMENT (the names the shipped OCI policy uses for the sandbox's user and
compartment), Policies (the loaded RAM, IAM and OCI policies, None where enforcement is off),
load_policies (scenario value → Policies), refusal helpers for each cloud (aliyun_refusal,
aws_refusal, oci_refusal: the cloud's own error for a denied call).

`policies:` (docs/scenario.md): absent or `shipped` → deploy/aliyun-ram-policy.json,
deploy/aws-iam-policy.json and deploy/oci-policy.txt, the files the deploy templates carry; `off`
→ nothing checked; a mapping `{aliyun: ..., aws: ..., oci: ...}` where each value is `shipped`,
`off`, a file path or the document itself (a mapping for RAM / IAM, text for OCI), plus
`oci_group` / `oci_compartment` for the OCI names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responder.sandbox.authz_json import JsonPolicy, PolicyError
from responder.sandbox.authz_oci import OciPolicy

SANDBOX_ADMIN_KEY = "sandbox-admin"
OCI_GROUP, OCI_COMPARTMENT = "ResponderHunters", "responder-compartment"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SHIPPED = {"aliyun": "aliyun-ram-policy.json", "aws": "aws-iam-policy.json", "oci": "oci-policy.txt"}


@dataclass
class Policies:
    aliyun: JsonPolicy | None = None
    aws: JsonPolicy | None = None
    oci: OciPolicy | None = None
    oci_group: str = OCI_GROUP
    oci_compartment: str = OCI_COMPARTMENT


def _text(cloud: str, value: Any) -> Any:
    """The document (dict) or text a value names; None when off."""
    if value in (None, "shipped"):
        path = DEPLOY / SHIPPED[cloud]
        if not path.is_file():
            raise PolicyError(f"policies: the shipped {cloud} policy {path} is not beside this install; "
                              f"name a file (policies: {{{cloud}: PATH}}) or turn it off (policies: off)")
        value = str(path)
    if value is False or value == "off":
        return None
    if isinstance(value, dict) or (cloud == "oci" and isinstance(value, str) and "\n" in value):
        return value
    path = Path(str(value))
    if not path.is_absolute() and not path.exists() and (DEPLOY.parent / path).exists():
        path = DEPLOY.parent / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"policies.{cloud}: cannot read {path} ({exc.strerror})") from None
    return text if cloud == "oci" else json.loads(text)


def load_policies(raw: Any) -> Policies:
    """The scenario's `policies` value → the policies each emulator enforces (PolicyError if bad)."""
    if raw is False or raw == "off":
        return Policies()
    if raw in (None, "shipped"):
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"policies: expected shipped, off or a mapping, not {raw!r}")
    unknown = set(raw) - {"aliyun", "aws", "oci", "oci_group", "oci_compartment"}
    if unknown:
        raise PolicyError(f"policies: unknown keys {sorted(unknown)}")
    found = {cloud: _text(cloud, raw.get(cloud)) for cloud in SHIPPED}
    return Policies(
        aliyun=JsonPolicy(found["aliyun"], "policies.aliyun") if found["aliyun"] is not None else None,
        aws=JsonPolicy(found["aws"], "policies.aws") if found["aws"] is not None else None,
        oci=OciPolicy(found["oci"], "policies.oci") if found["oci"] is not None else None,
        oci_group=str(raw.get("oci_group", OCI_GROUP)), oci_compartment=str(raw.get("oci_compartment", OCI_COMPARTMENT)))
