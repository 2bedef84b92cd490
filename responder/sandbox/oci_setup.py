"""Wiring the OCI emulator for a sandbox: its API key on disk, the settings that point at it.

Parts: OciSandbox (the emulator, the key file and the endpoint, with `env` — the OCI_* names an
OCI provisioner's .env uses plus RESPONDER_OCI_ENDPOINT — `settings_fields` for Settings.with_ and
`cloud()` — an OciCloud signing with that key), start_oci (the process's emulator key pair, its
private PEM written mode 0600, the emulator verifying with the public half).
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from responder.clouds.oci import OciCloud
from responder.sandbox.oci_api import OciEmulator
from responder.sandbox.oci_sign import new_api_key


@dataclass
class OciSandbox:
    emulator: OciEmulator
    key_file: str
    fingerprint: str
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        c = self.emulator.config
        return {"OCI_USER_OCID": c.user, "OCI_TENANCY_OCID": c.tenancy, "OCI_FINGERPRINT": self.fingerprint,
                "OCI_REGION": c.region, "OCI_COMPARTMENT_OCID": c.compartment, "OCI_KEY_FILE": self.key_file,
                "RESPONDER_OCI_ENDPOINT": self.endpoint}

    def settings_fields(self) -> dict[str, str]:
        c = self.emulator.config
        return {"oci_user": c.user, "oci_tenancy": c.tenancy, "oci_fingerprint": self.fingerprint,
                "oci_region": c.region, "oci_compartment": c.compartment, "oci_key_file": self.key_file,
                "oci_endpoint": self.endpoint}

    def cloud(self):

        c = self.emulator.config
        return OciCloud(c.user, self.fingerprint, c.tenancy, c.region, self.key_file, compartment=c.compartment,
                        endpoint=self.endpoint)


def write_private_key(pem: str, directory: str | Path | None = None) -> str:
    """The PEM in `directory` (a new temp dir when None), readable by its owner only (0600)."""
    folder = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="responder-oci-"))
    path = folder / "oci_api_key.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(pem)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT: set it again
    return str(path)


# One API key per process for every emulator it starts: a 2048-bit RSA key costs about 60 ms of
# CPU, more than the rest of an OCI emulator's start. Each emulator is a separate account on its own
# port with its own key file; the key only proves the caller read that file.
_emulator_key = functools.cache(new_api_key)


def start_oci(scenario, clock=None, key_dir: str | Path | None = None, serve: bool = True,
              endpoint: str = "") -> OciSandbox:
    """The emulator, trusting the process's API key, written to a key file of its own. serve=False:
    the shared sandbox serves it under `endpoint` (its /oci base URL)."""
    key = _emulator_key()
    key_file = write_private_key(key.private_pem, key_dir)
    emulator = OciEmulator(scenario, key.public_pem, key.fingerprint, clock=clock).start(serve=serve)
    return OciSandbox(emulator, key_file, key.fingerprint, emulator.endpoint if serve else endpoint)
