"""The store's schema comes from Alembic on SQLite, MariaDB and PostgreSQL (a database of its own
each): the revisions build exactly the tables the code queries, a Store refuses a schema that is
behind or ahead and says which command to run (password redacted), concurrent upgraders do not
collide, a pre-migration database is adopted, and `responder db upgrade | current` work."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import sqlite3
import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

import responder.capacity.ledger  # noqa: F401 - puts the ledger table on the shared metadata
import responder.capacity.shared_windows  # noqa: F401 - puts the API windows table on the shared metadata
import responder.replace.caps  # noqa: F401 - puts the spend-slot table on the shared metadata
import responder.replace.build_times  # noqa: F401 - puts the build-times table on the shared metadata
import responder.replace.churn_store  # noqa: F401 - puts the reclaims table on the shared metadata
import responder.targets.table  # noqa: F401 - puts the capacity-target table on the shared metadata
from responder import migrations
from responder.capacity.ledger import SqlLedger
from responder.cli import cli
from responder.store import Store, metadata
from tests.databases import BACKENDS, database_url, fresh_database  # noqa: F401 - a fixture

HEAD = migrations.head_revision()


def test_the_revisions_build_exactly_the_tables_the_code_queries(database_url):
    migrations.upgrade(database_url)
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, metadata)
                       if not (d[0] == "remove_table" and d[1].name == migrations.VERSION_TABLE)]
    engine.dispose()
    assert differences == []


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_a_server_store_refuses_an_empty_schema_and_names_the_upgrade_command(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        with pytest.raises(migrations.SchemaOutOfDate) as refused:
            Store(url)
        assert f"responder db upgrade --database-url {url}" in str(refused.value)
        assert "empty" in str(refused.value) and HEAD in str(refused.value)


def test_the_upgrade_hint_never_shows_the_password(tmp_path):
    with fresh_database("postgres", tmp_path) as url:  # trust auth: the password is accepted and ignored
        with_password = url.replace("postgres@", "postgres:s3cret-pw@")
        with pytest.raises(migrations.SchemaOutOfDate) as refused:
            Store(with_password)
        assert "s3cret-pw" not in str(refused.value)
        assert "responder db upgrade --database-url postgresql+psycopg://postgres:***@" in str(refused.value)


def test_a_sqlite_store_upgrades_itself_unless_told_not_to(tmp_path):
    with pytest.raises(migrations.SchemaOutOfDate):
        Store(f"sqlite:///{tmp_path}/frozen.db", upgrade=False)
    Store(f"sqlite:///{tmp_path}/scratch.db")
    assert Store(f"sqlite:///{tmp_path}/scratch.db", upgrade=False).list() == []


def test_a_sqlite_store_opened_while_another_process_upgrades_it_waits_for_the_upgrade(tmp_path):
    """A second gunicorn worker opens the new SQLite file while the first holds its write lock for
    longer than a plain read waits (4 s): it waits for the upgrade instead of failing to boot."""
    path = tmp_path / "shared.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # what a concurrent upgrader holds while it builds the schema
    threading.Timer(5.5, lambda: holder.execute("ROLLBACK")).start()
    store = Store(f"sqlite:///{path}")
    assert store.list() == []
    holder.close()


def test_a_schema_newer_than_the_code_is_refused_without_suggesting_a_downgrade(database_url):
    migrations.upgrade(database_url)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = 'f00dfeed'"))
    engine.dispose()
    with pytest.raises(migrations.SchemaOutOfDate) as refused:
        Store(database_url, upgrade=False)
    assert "newer than this responder knows" in str(refused.value) and "db upgrade" not in str(refused.value)


def _upgrade_in_a_process(url: str, barrier) -> tuple:
    barrier.wait()
    return migrations.upgrade(url)


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_processes_upgrading_at_once_upgrade_once_and_all_succeed(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        spawn = multiprocessing.get_context("spawn")
        with spawn.Manager() as manager:
            barrier = manager.Barrier(3)
            with concurrent.futures.ProcessPoolExecutor(3, mp_context=spawn) as pool:
                outcomes = sorted(pool.map(_upgrade_in_a_process, [url] * 3, [barrier] * 3), key=str)
        assert outcomes == sorted([(None, HEAD), (HEAD, HEAD), (HEAD, HEAD)], key=str)
        assert Store(url, upgrade=False).list() == []


def test_a_database_made_before_migrations_is_adopted_with_its_rows_and_a_wider_data_column(database_url):
    old = sa.MetaData()
    sa.Table("responder_tasks", old, sa.Column("id", sa.String(40), primary_key=True),
             sa.Column("key", sa.String(255), nullable=False, unique=True),
             *[sa.Column(name, sa.String(64), nullable=False) for name in ("cloud", "region", "instance_id", "kind")],
             sa.Column("status", sa.String(16), nullable=False, index=True),
             sa.Column("reason", sa.Text, nullable=False), sa.Column("data", sa.Text, nullable=False),
             sa.Column("deliveries", sa.Integer, nullable=False),
             sa.Column("next_at", sa.Double, nullable=False, index=True),
             sa.Column("lease_owner", sa.String(64)), sa.Column("lease_until", sa.Double),
             sa.Column("created_at", sa.Double, nullable=False), sa.Column("updated_at", sa.Double, nullable=False))
    engine = sa.create_engine(database_url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.tables["responder_tasks"].insert().values(
            id="t-old", key="aliyun:cn-hangzhou:i-old", cloud="aliyun", region="cn-hangzhou", instance_id="i-old",
            kind="interruption", status="done", reason="", data="{}", deliveries=1, next_at=0.0,
            created_at=1.0, updated_at=1.0))
    engine.dispose()
    assert migrations.upgrade(database_url) == (None, HEAD)
    store = Store(database_url, upgrade=False)
    assert store.get("t-old").status == "done"
    task = store.claim("aws:us-east-2:i-new", "aws", "us-east-2", "i-new", "interruption",
                       data={"user_data": "u" * 200_000}).task
    assert len(store.get(task.id).data["user_data"]) == 200_000
    store.engine.dispose()


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_a_server_ledger_is_held_to_the_same_schema_rule(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        with pytest.raises(migrations.SchemaOutOfDate):
            SqlLedger(url)
        migrations.upgrade(url)
        assert SqlLedger(url).runs() == []


def test_db_current_and_db_upgrade_report_and_move_the_revision(database_url):
    runner = CliRunner()
    before = runner.invoke(cli, ["db", "current", "--database-url", database_url])
    assert before.exit_code == 0 and before.output.startswith("empty (head is")
    assert "responder db upgrade --database-url" in before.output
    upgraded = runner.invoke(cli, ["db", "upgrade", "--database-url", database_url])
    assert upgraded.exit_code == 0 and f"upgraded empty -> {HEAD}" in upgraded.output
    again = runner.invoke(cli, ["db", "upgrade", "--database-url", database_url])
    assert again.exit_code == 0 and f"already at {HEAD}" in again.output
    assert runner.invoke(cli, ["db", "current", "--database-url", database_url]).output == f"{HEAD} (head)\n"


def test_db_upgrade_against_a_dead_server_is_one_line_without_the_password():
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url",
                                      "postgresql+psycopg://u:hunter2@127.0.0.1:1/none"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: task store at postgresql+psycopg://u:***@127.0.0.1:1/none: cannot be reached: check that the "
        "server is running and that the URL's host and port are right"]


def test_the_cheap_head_and_revision_reads_agree_with_alembic(database_url):
    """Store checks the schema without importing Alembic (cold starts); its answers must be Alembic's."""
    from alembic.script import ScriptDirectory

    from responder import migrations

    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert migrations.head_revision() == script.get_current_head()
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert migrations.current_revision(conn) is None
        migrations.upgrade(database_url)
        with engine.connect() as conn:
            expected = MigrationContext.configure(conn, opts={"version_table": migrations.VERSION_TABLE})
            assert migrations.current_revision(conn) == expected.get_current_revision() == script.get_current_head()
    finally:
        engine.dispose()
