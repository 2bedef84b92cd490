"""What a store URL may look like, and what a failed connection means, in words a person can act on.

Parts: FORMS (the URL forms this install has drivers for), StoreUrlError, url_problem (why a URL
can never work, or None), check_store_url (raise StoreUrlError with that), connect_problem (what a
driver's connection error means: the database does not exist, the login was refused, or the
server cannot be reached).

A URL is checked before any engine is made, so `mysql://…` (no MySQLdb here) or `postgres://…`
(no such SQLAlchemy dialect) is one line naming the forms that work, not an ImportError. Driver
messages are read only to tell these cases apart and are never passed on: they name hosts, ports
and, for statements, their parameters.
"""

from __future__ import annotations

import os
import re

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError

from responder.errors import ConfigurationError
from responder.logsafe import redact_url

# drivername → the form shown to a person; these are the drivers requirements.txt installs.
DRIVERS = {"sqlite": "sqlite:///PATH", "sqlite+pysqlite": "sqlite:///PATH",
           "mysql+pymysql": "mysql+pymysql://USER:PASSWORD@HOST:3306/DATABASE",
           "mariadb+pymysql": "mysql+pymysql://USER:PASSWORD@HOST:3306/DATABASE",
           "postgresql+psycopg": "postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE"}
FORMS = ", ".join(dict.fromkeys(DRIVERS.values()))
# A scheme people write for a server this install does support, and the form to write instead.
_INSTEAD = {"mysql": "mysql+pymysql", "mariadb": "mysql+pymysql", "mysql+mysqldb": "mysql+pymysql",
            "mysql+mysqlconnector": "mysql+pymysql", "postgres": "postgresql+psycopg",
            "postgresql": "postgresql+psycopg", "postgresql+psycopg2": "postgresql+psycopg",
            "postgresql+asyncpg": "postgresql+psycopg", "postgresql+pg8000": "postgresql+psycopg"}
_PG_MISSING_DB = re.compile(r'database "[^"]*" does not exist')
_PG_NO_LOGIN = re.compile(r'role "[^"]*" does not exist|password authentication failed|no pg_hba.conf entry')
MYSQL_UNKNOWN_DATABASE, MYSQL_ACCESS_DENIED = 1049, (1044, 1045, 1698)


class StoreUrlError(ConfigurationError):
    """A store URL that can never work here (unknown scheme, no driver, a SQLite file in a missing
    directory); the message names the forms that do."""


def url_problem(url: str) -> str | None:
    """Why `url` cannot work in this install, as a phrase that begins with the URL (its password
    masked), or None when it may work."""
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError:  # not shown: a value that is no URL may still hold a password
        return f"is not a URL; use one of {FORMS}"
    shown, scheme = redact_url(url), parsed.drivername
    if scheme not in DRIVERS:
        instead = _INSTEAD.get(scheme)
        if instead:
            return (f"{shown}: {scheme}:// needs a driver this install does not have; "
                    f"write {instead}:// instead ({DRIVERS[instead]})")
        return f"{shown}: {scheme}:// is not a supported store; use one of {FORMS}"
    if scheme.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        folder = os.path.dirname(os.path.abspath(parsed.database))
        if not os.path.isdir(folder):
            return f"{shown}: the SQLite file's folder {folder} does not exist; create it or choose another path"
    return None


def check_store_url(url: str) -> None:
    problem = url_problem(url)
    if problem:
        raise StoreUrlError(f"store URL {problem}")


def connect_problem(exc: BaseException, url: str) -> str:
    """What a driver's error on connecting means: 'database NAME does not exist', 'refused the
    login', or 'cannot be reached' (the default: refused, timed out, no route)."""
    original = getattr(exc, "orig", exc)
    code = original.args[0] if getattr(original, "args", None) else None
    text = str(original)
    try:
        database = sa.engine.make_url(url).database or ""
    except ArgumentError:
        database = ""
    if code == MYSQL_UNKNOWN_DATABASE or _PG_MISSING_DB.search(text):
        return (f"database {database!r} does not exist on that server: create it (CREATE DATABASE {database}) "
                "or fix the name at the end of the URL")
    if code in MYSQL_ACCESS_DENIED or _PG_NO_LOGIN.search(text):
        return "the server refused the login: check the user and password in the URL and the user's grants"
    return "cannot be reached: check that the server is running and that the URL's host and port are right"
