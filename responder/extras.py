"""Optional install extras: which are present, and the message when one is missing.

Parts: SANDBOX_MODULES (what only the sandbox clouds import), MissingExtra, require_sandbox,
sandbox_or_usage_error (the same as one line on stderr, exit 2), oci_installed / OCI_MISSING (the
`oci` extra, which the OCI adapter needs).

A production install (`pip install .` / requirements.txt) carries no emulator; the sandbox clouds
need `pip install '.[sandbox]'`. Checked up front, before any emulator starts, so a missing
extra is one clear message and not an ImportError halfway through starting the clouds.
"""

from __future__ import annotations

import importlib.util

import click

SANDBOX_MODULES = ("moto", "oci")  # the `sandbox` extra in pyproject.toml
OCI_MISSING = "the oci SDK is not installed: pip install 'interruption-responder[oci]' (or -r requirements-oci.txt)"


class MissingExtra(RuntimeError):
    """An optional extra this command needs is not installed; the message says how to install it."""


def require_sandbox() -> None:
    """Raise MissingExtra unless every module of the `sandbox` extra can be imported."""
    missing = [name for name in SANDBOX_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(
            f"--sandbox needs the sandbox extra, which this install lacks ({', '.join(missing)} not found): "
            "pip install -e '.[sandbox]' (or pip install -r requirements-sandbox.txt)")


def oci_installed() -> bool:
    """Whether the `oci` extra is here; looked up without importing it (about 0.3 s and 30 MB)."""
    return importlib.util.find_spec("oci") is not None


class MissingExtraError(click.ClickException):
    """For CLI commands: the install command, one line on stderr, exit 2 (bad input)."""

    exit_code = 2


def sandbox_or_usage_error() -> None:
    """For CLI commands: a missing sandbox extra is one line saying what to install (exit 2), not a traceback."""
    try:
        require_sandbox()
    except MissingExtra as exc:
        raise MissingExtraError(str(exc)) from None
