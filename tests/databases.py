"""Throwaway databases for store tests: one uniquely named database per test on the local MariaDB
and PostgreSQL servers, dropped at teardown; a skip naming the server when it is not reachable.

Parts: SERVERS (admin URLs), BACKENDS, fresh_database (context manager → URL), database_url
(pytest fixture parametrised over sqlite / mariadb / postgres, schema not yet created).
"""

from __future__ import annotations

import contextlib
import uuid

import pytest
import sqlalchemy as sa

SERVERS = {
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
}
BACKENDS = ["sqlite", "mariadb", "postgres"]


def _admin_engine(backend: str) -> sa.Engine:
    connect_args = {"connect_timeout": 3}
    return sa.create_engine(SERVERS[backend], isolation_level="AUTOCOMMIT", connect_args=connect_args)


@contextlib.contextmanager
def fresh_database(backend: str, tmp_path):
    """Yield the URL of an empty database of its own; skip when the server is not reachable."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/store-{uuid.uuid4().hex[:8]}.db"
        return
    name = f"responder_test_{uuid.uuid4().hex}"
    admin = _admin_engine(backend)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"{backend} at {sa.engine.make_url(SERVERS[backend]).render_as_string()} is not reachable "
                    f"({exc.__class__.__name__}); CI starts it")
    url = sa.engine.make_url(SERVERS[backend]).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            if backend == "postgres":  # a leftover pooled connection would block DROP DATABASE
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    with fresh_database(request.param, tmp_path) as url:
        yield url
