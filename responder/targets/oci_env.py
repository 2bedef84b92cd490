"""Import an OCI provisioner's `.env` (the cron script this replaces) as two hunting targets.

Parts: A1_VARS / MICRO_VARS / SHARED_VARS (what is read), targets_from_oci_env (the A1 flex and
the Micro target, checked like any target, a bad variable named), what_is_left (the steps the
import cannot take for the user), OCI_CREDENTIALS.

The file is read with python-dotenv's `dotenv_values` (nothing is put in the environment). The
targets are named after the instances' display names, so a re-import finds them; each names its
display name as `--instance-name`, so an instance the old script already made counts as held and
nothing is launched for it. Credentials are not copied anywhere: the responder reads OCI_USER_OCID,
OCI_FINGERPRINT, OCI_TENANCY_OCID, OCI_REGION and OCI_KEY_FILE under the same names, and
SLACK_WEBHOOK_URL as a notification channel, so the same `.env` serves both.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from dotenv import dotenv_values

from responder.targets.checks import check_target
from responder.targets.model import LaunchSpec, Target, TargetInvalid

OCI_CREDENTIALS = ("OCI_USER_OCID", "OCI_FINGERPRINT", "OCI_TENANCY_OCID", "OCI_REGION", "OCI_KEY_FILE")
SHARED_VARS = ("OCI_REGION", "SSH_PUBLIC_KEY", "A1_SUBNET_DISPLAY_NAME", "A1_IMAGE_OS", "A1_IMAGE_OS_VERSION")
A1_VARS = ("A1_DISPLAY_NAME", "A1_SHAPE", "A1_OCPUS", "A1_MEMORY_IN_GBS", "A1_BOOT_VOLUME_SIZE_IN_GBS")
MICRO_VARS = ("MICRO_DISPLAY_NAME", "MICRO_SHAPE")
# A target field at fault → the variable that set it (per target: A1_ or MICRO_).
_FIELD_VAR = {"ocpus": "A1_OCPUS", "memory_gb": "A1_MEMORY_IN_GBS", "boot_volume_gb": "A1_BOOT_VOLUME_SIZE_IN_GBS",
              "ssh_public_key": "SSH_PUBLIC_KEY", "region": "OCI_REGION", "subnet": "A1_SUBNET_DISPLAY_NAME",
              "image_os": "A1_IMAGE_OS", "image": "A1_IMAGE_OS", "image_os_version": "A1_IMAGE_OS_VERSION"}


def _values(path: str) -> dict[str, str]:

    if not Path(path).is_file():
        raise TargetInvalid("oci_env", f"{path} is not a file")
    return {k: (v or "").strip() for k, v in dotenv_values(path).items()}


def _need(values: dict, name: str) -> str:
    value = values.get(name, "")
    if not value:
        raise TargetInvalid(name, "is missing or empty in the .env")
    return value


def _number(values: dict, name: str, kind=float):
    raw = _need(values, name)
    try:
        return kind(raw)
    except ValueError:
        raise TargetInvalid(name, f"{raw!r} is not a {'whole ' if kind is int else ''}number") from None


def _ssh_key(raw: str) -> str:
    """SSH_PUBLIC_KEY holds the key itself, or a path to the .pub file."""
    path = Path(raw).expanduser()
    if not raw.startswith(("ssh-", "ecdsa-", "sk-")) and path.is_file():
        raw = path.read_text(encoding="utf-8", errors="replace").strip()
    if "PRIVATE KEY" in raw:
        raise TargetInvalid("SSH_PUBLIC_KEY", "names a private key: give the public key (.pub)")
    return raw


def _name(display: str, fallback: str, prefix: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", display).strip("-.") or fallback
    return f"{prefix}{name}"[:63]


def _checked(t: Target, max_count: int, prefix: str) -> Target:
    try:
        return check_target(t, max_count)
    except TargetInvalid as exc:
        var = {"instance_types": f"{prefix}SHAPE", "name": f"{prefix}DISPLAY_NAME"}.get(exc.field) \
            or _FIELD_VAR.get(exc.field)
        if prefix == "MICRO_" and exc.field in ("ocpus", "memory_gb"):
            var = "MICRO_SHAPE"  # the Micro is given no size: a flex MICRO_SHAPE is what is wrong
        raise TargetInvalid(var or exc.field, str(exc).split(": ", 1)[-1]) from None


def targets_from_oci_env(path: str, max_count: int, prefix: str = "") -> list[Target]:
    """The A1 flex target and the Micro target the old script hunted, or TargetInvalid naming the
    variable at fault (nothing is stored by the caller then)."""
    values = _values(path)
    region = _need(values, "OCI_REGION")
    spec = LaunchSpec(ssh_public_key=_ssh_key(_need(values, "SSH_PUBLIC_KEY")),
                      subnet=_need(values, "A1_SUBNET_DISPLAY_NAME"), image_os=_need(values, "A1_IMAGE_OS"),
                      image_os_version=_need(values, "A1_IMAGE_OS_VERSION"))
    a1_name = _need(values, "A1_DISPLAY_NAME")
    a1 = Target(name=_name(a1_name, "a1", prefix), cloud="oci", region=region, zones=(),
                instance_types=(_need(values, "A1_SHAPE"),), count=1, kind="instances",
                launch=dataclasses.replace(spec, name=a1_name, ocpus=_number(values, "A1_OCPUS"),
                                           memory_gb=_number(values, "A1_MEMORY_IN_GBS"),
                                           boot_volume_gb=_number(values, "A1_BOOT_VOLUME_SIZE_IN_GBS", int)))
    micro_name = _need(values, "MICRO_DISPLAY_NAME")
    micro = Target(name=_name(micro_name, "micro", prefix), cloud="oci", region=region, zones=(),
                   instance_types=(_need(values, "MICRO_SHAPE"),), count=1, kind="instances",
                   launch=dataclasses.replace(spec, name=micro_name))
    if a1.name == micro.name:
        raise TargetInvalid("MICRO_DISPLAY_NAME", f"names the same instance as A1_DISPLAY_NAME ({a1_name!r})")
    return [_checked(a1, max_count, "A1_"), _checked(micro, max_count, "MICRO_")]


def what_is_left(path: str) -> list[str]:
    """What the user still has to do, from what the file has (never a value of it)."""
    values = _values(path)
    missing = [v for v in OCI_CREDENTIALS if not values.get(v)]
    steps = [f"credentials: {', '.join(missing)} missing from {path}; the responder reads OCI_* under the same names"
             if missing else
             "credentials: the responder reads OCI_* under the same names: run it where this .env is its "
             "working directory's .env, or export its lines"]
    if values.get("SLACK_WEBHOOK_URL"):
        steps.append("notifications: SLACK_WEBHOOK_URL is read as a Slack channel (slack://...) when "
                     "RESPONDER_NOTIFY_URLS is not set: start-up, hunt started, acquired, daily report at 07:00 KST")
    steps.append("cron: replace the old `*/5 * * * * ... main.py` line with `* * * * * cd DIR && responder tick` "
                 "(each OCI target is still asked at most every RESPONDER_HUNT_MIN_INTERVAL_SECONDS), "
                 "or run `responder serve`, whose ticker does the same")
    return steps


def with_file_credentials(settings, path: str):
    """Settings for the import's cloud check: the OCI credentials of the file where the
    environment has none (the file is not loaded into the environment)."""
    values = _values(path)
    fields = {"oci_user": "OCI_USER_OCID", "oci_fingerprint": "OCI_FINGERPRINT", "oci_tenancy": "OCI_TENANCY_OCID",
              "oci_region": "OCI_REGION", "oci_key_file": "OCI_KEY_FILE", "oci_key_passphrase": "OCI_KEY_PASSPHRASE",
              "oci_compartment": "OCI_COMPARTMENT_OCID"}
    changes = {f: values[v] for f, v in fields.items() if values.get(v) and not getattr(settings, f)}
    if "oci" not in settings.clouds:
        changes["clouds"] = settings.clouds + ("oci",)
    return settings.with_(**changes) if changes else settings
