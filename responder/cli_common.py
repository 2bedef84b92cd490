"""What every `responder` command shares: settings, logging, the store and the clouds.

Parts: ConfigError and ResponderGroup (every error a person can cause is one line on stderr: exit 2
for configuration, 1 for the store and anything unforeseen), settings_or_usage_error (the
environment's settings, or one line naming the bad one),
setup_logging (redaction first, then console or JSON, then the dated file), build_runtime
(settings + store + clouds, real or sandbox), open_store (a Store, or one line and exit 1).

The command modules (cli.py, protect/cli.py, targets/cli.py) import this one; it imports none of
them, so the command tree has no import circle.
"""

from __future__ import annotations

import logging
import sys
import tempfile

import click

from responder.clouds.secret_url import SecretRefused, with_secret_url
from responder.errors import ConfigurationError
from responder.extras import MissingExtra, sandbox_or_usage_error
from responder.logfiles import configure_log_file
from responder.logformat import configure_logging
from responder.logsafe import active_redactor, install_log_redaction
from responder.migrations import SchemaOutOfDate
from responder.settings import Settings, SettingsError
from responder.store import Store, StoreUnavailable, redact_url
from responder.store_url import check_store_url


class ConfigError(click.ClickException):
    """A setting, store URL or scenario that cannot work: its one line on stderr, exit 2."""

    exit_code = 2


def one_line(text: object) -> str:
    return " ".join(str(text).split())


class ResponderGroup(click.Group):
    """The `responder` group: an error a person can cause leaves any command as one line on
    stderr — a configuration error (a setting, a store URL, a scenario) exit 2, the store or its
    schema exit 1, anything unforeseen exit 1 with its traceback only at RESPONDER_LOG_LEVEL=DEBUG.
    Click's own usage errors keep their usage lines."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        ctx.meta["responder.help"] = "--help" in args  # `responder tick --help` still shows the help
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (ConfigurationError, MissingExtra) as exc:
            raise ConfigError(one_line(exc)) from None
        except (StoreUnavailable, SchemaOutOfDate) as exc:
            raise click.ClickException(one_line(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the last guard: no traceback reaches a person
            logging.getLogger("responder.cli").debug("unexpected error", exc_info=True)
            shown = active_redactor().redact(f"{exc.__class__.__name__}: {exc}")
            raise click.ClickException(one_line(f"unexpected {shown} (RESPONDER_LOG_LEVEL=DEBUG logs where)")) from None


def settings_or_usage_error() -> Settings:
    """The environment's settings; a bad one is one line naming it (exit 2)."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise ConfigError(one_line(exc)) from None


def setup_logging(level: str, settings: Settings) -> None:
    install_log_redaction(settings)  # before the first record: every one is masked
    root = logging.getLogger()
    for dated in [h for h in root.handlers if getattr(h, "_responder_file", False)]:
        root.removeHandler(dated)  # basicConfig adds its console only to a root without handlers
        dated.close()
    if settings.log_format == "json":  # one JSON object per line, with task / instance / request ids
        configure_logging(settings, level)
    else:
        logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_log_file(settings)  # RESPONDER_LOG_DIR: the same records to a file a day


def build_runtime(sandbox: bool, scenario: str | None, database_url: str | None, settings: Settings,
                  only: tuple[str, ...] | None = None):
    """(settings, store, clouds, sandbox-or-None). The sandbox keeps its store in a temp file."""
    box = None
    clouds = None
    if sandbox:
        sandbox_or_usage_error()
        # Lazy: the sandbox (moto, the emulators) is an install extra a production install lacks.
        from responder.sandbox.runtime import start_sandbox

        box = start_sandbox(scenario, only=only)
        clouds = box.clouds
        if box.oci is not None:  # OCI settings name the sandbox's tenancy, region and key, as a .env would
            settings = settings.with_(clouds=tuple(dict.fromkeys(settings.clouds + ("oci",))),
                                      **box.oci.settings_fields())
        if not database_url:
            database_url = f"sqlite:///{tempfile.mkdtemp(prefix='responder-')}/sandbox.db"
    elif scenario:
        raise click.UsageError("--scenario only makes sense with --sandbox")
    if database_url:
        check_store_url(database_url)  # named as the URL given, not as RESPONDER_DATABASE_URL
        settings = settings.with_(database_url=database_url)
    else:
        try:
            settings = with_secret_url(settings)
        except SecretRefused as exc:
            raise click.ClickException(str(exc)) from None
    if clouds is None:
        # Lazy: the cloud SDKs (boto3, the Aliyun SDK) cost most of a command's start; a command
        # that needs no cloud never builds them.
        from responder.clouds.factory import clouds_from_settings

        clouds = clouds_from_settings(settings)
    # The sandbox's store is a scratch one: it upgrades itself, even at a server URL.
    return settings, open_store(settings.database_url, upgrade=True if sandbox else None), clouds, box


def open_store(url: str, upgrade: bool | None = None) -> Store:
    """Store(url), or one line on stderr and exit 1 when it is down or its schema is behind."""
    try:
        return Store(url, upgrade=upgrade)
    except StoreUnavailable as exc:
        raise click.ClickException(f"{exc.component} at {redact_url(url)}: {exc.problem}" if exc.problem
                                   else f"{exc} at {redact_url(url)}") from None
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
