"""`responder db`: the store's schema from the command line.

Parts: db (the click group), upgrade (to head, safe to run from several deploy steps at once),
current (the revision the database is at, and whether that is this code's head).

Every URL printed here has its password redacted.
"""

from __future__ import annotations

import click
import sqlalchemy as sa

from responder import migrations
from responder.clouds.secret_url import SecretRefused, with_secret_url
from responder.settings import Settings, SettingsError
from responder.store_connect import make_engine, redact_url
from responder.store_url import connect_problem

DATABASE_URL = click.option("--database-url", default=None,
                            help="Store URL (default: the URL in RESPONDER_DATABASE_SECRET, else "
                                 "RESPONDER_DATABASE_URL, else sqlite:///responder.db).")


def _url(database_url: str | None) -> str:
    """--database-url, else the store every other command opens: RESPONDER_DATABASE_SECRET's URL
    when set, else RESPONDER_DATABASE_URL (never a local responder.db beside a configured secret)."""
    if database_url:
        return database_url
    try:
        return with_secret_url(Settings.from_env()).database_url
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    except SecretRefused as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def db() -> None:
    """Create or upgrade the store's schema (tasks, capacity ledger, money caps)."""


@db.command()
@DATABASE_URL
def upgrade(database_url: str | None) -> None:
    """Upgrade the store's schema to this responder's newest revision."""
    url = _url(database_url)
    try:
        before, after = migrations.upgrade(url)
    except TimeoutError as exc:  # another upgrader held the lock for too long
        raise click.ClickException(f"{exc}; try again") from None
    except sa.exc.SQLAlchemyError as exc:  # the driver's message may carry the password: never shown
        raise click.ClickException(f"task store at {redact_url(url)}: {connect_problem(exc, url)}") from None
    if before == after:
        click.echo(f"{redact_url(url)}: already at {after} (head)")
    else:
        click.echo(f"{redact_url(url)}: upgraded {before or 'empty'} -> {after} (head)")


@db.command()
@DATABASE_URL
def current(database_url: str | None) -> None:
    """Show the revision the store is at (and the command to run when it is behind)."""
    url = _url(database_url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision = migrations.current_revision(conn)
    except sa.exc.SQLAlchemyError as exc:  # the driver's message may carry the password: never shown
        raise click.ClickException(f"task store at {redact_url(url)}: {connect_problem(exc, url)}") from None
    finally:
        engine.dispose()
    head = migrations.head_revision()
    if revision == head:
        click.echo(f"{revision} (head)")
    else:
        click.echo(f"{revision or 'empty'} (head is {head}: run `responder db upgrade --database-url {redact_url(url)}`)")
