"""The store URL from a secret (RESPONDER_DATABASE_SECRET): the old tool's JSON fields read from
moto's Secrets Manager and from the Aliyun KMS secrets API on the sandbox, both through the real
SDKs; a real MariaDB / PostgreSQL user with a password full of URL characters logs in with it, and
the password appears in no answer and no log line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from urllib.parse import quote

import boto3
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from responder.cli import cli
from responder.store import Store
from responder.clouds.secret_url import SecretRefused, parse_reference, url_from_fields
from tests.databases import _admin_engine, fresh_database
from tests.scenarios import scenario
from tests.targets_fixtures import make_target

PASSWORD = "Pw@" + uuid.uuid4().hex[:10] + "/:%#"


@contextlib.contextmanager
def database_user(backend: str, tmp_path):
    """(fields for the secret, the URL they make): a user of its own with PASSWORD on a fresh database."""
    with fresh_database(backend, tmp_path) as url:
        parsed = sa.engine.make_url(url)
        user = f"resp_{uuid.uuid4().hex[:10]}"
        admin = _admin_engine(backend)
        with admin.connect() as conn:
            if backend == "mariadb":
                conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY :pw"), {"pw": PASSWORD})
                conn.execute(sa.text(f"GRANT ALL ON {parsed.database}.* TO '{user}'@'%'"))
            else:
                conn.execute(sa.text(f"CREATE ROLE {user} LOGIN PASSWORD '{PASSWORD}'"))
                conn.execute(sa.text(f"ALTER DATABASE {parsed.database} OWNER TO {user}"))
        fields = {"username": user, "password": PASSWORD, "host": parsed.host, "port": parsed.port,
                  "dbname": parsed.database, **({"engine": "postgres"} if backend == "postgres" else {})}
        try:
            Store(url_from_fields(fields), upgrade=True).engine.dispose()
            yield fields
        finally:
            with admin.connect() as conn:
                if backend == "postgres":
                    conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :u"),
                                 {"u": user})
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {parsed.database}"))
                    conn.execute(sa.text(f"DROP ROLE IF EXISTS {user}"))
                else:
                    conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
            admin.dispose()


def _list_and_tick(env, caplog):
    runner = CliRunner()
    with caplog.at_level(logging.DEBUG):
        listed = runner.invoke(cli, ["targets", "list", "--json"], env=env, catch_exceptions=False)
        ticked = runner.invoke(cli, ["tick"], env={**env, "RESPONDER_LOG_LEVEL": "DEBUG"}, catch_exceptions=False)
    return listed, ticked


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_the_store_url_comes_from_an_aws_secrets_manager_secret_and_the_password_never_shows(
        sandbox_factory, tmp_path, backend, caplog):
    box = sandbox_factory(scenario(cloud="aws"))
    endpoint = box.emulators["aws"].endpoint_url
    with database_user(backend, tmp_path) as fields:
        # The account owner makes the secret; the responder (sandbox-key) may only read it.
        sm = boto3.client("secretsmanager", region_name="us-east-2", endpoint_url=endpoint,
                          aws_access_key_id="sandbox-admin", aws_secret_access_key="x")
        name = f"prod/responder/db-{uuid.uuid4().hex[:8]}"  # moto's state outlives one sandbox
        sm.create_secret(Name=name, SecretString=json.dumps(fields))
        from responder.targets.table import TargetStore

        store = Store(url_from_fields(fields))
        TargetStore(store.engine).add(make_target("aws", name="from-secret", count=1))
        store.engine.dispose()
        env = {"RESPONDER_DATABASE_SECRET": f"aws:us-east-2:{name}", "RESPONDER_AWS_ENDPOINT_URL": endpoint}
        listed, ticked = _list_and_tick(env, caplog)
        assert listed.exit_code == 0 and [t["name"] for t in json.loads(listed.output)] == ["from-secret"]
        assert ticked.exit_code == 0 and json.loads(ticked.output.strip().splitlines()[-1])["targets"]["acquired"] == 1
        for text in (listed.output, listed.stderr, ticked.output, ticked.stderr, caplog.text):
            assert PASSWORD not in text and quote(PASSWORD, safe="") not in text  # raw or as in the URL


def test_the_store_url_comes_from_an_aliyun_kms_secret_on_the_sandbox(sandbox_factory, tmp_path, caplog):
    with database_user("mariadb", tmp_path) as fields:
        data = scenario(cloud="aliyun")
        data["regions"][0]["secrets"] = {"responder-db": fields}
        box = sandbox_factory(data)
        env = {"RESPONDER_DATABASE_SECRET": "aliyun:cn-hangzhou:responder-db",
               "RESPONDER_ALIYUN_ENDPOINT": box.emulators["aliyun"].endpoint,
               "ALIBABA_CLOUD_ACCESS_KEY_ID": "sandbox-key", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sandbox-secret"}
        listed, _ = _list_and_tick(env, caplog)
        assert listed.exit_code == 0 and json.loads(listed.output) == []
        assert "GetSecretValue" in box.calls("aliyun")
        shown = listed.output + listed.stderr + caplog.text
        assert PASSWORD not in shown and quote(PASSWORD, safe="") not in shown


def test_a_missing_secret_stops_the_start_naming_the_secret_not_its_content(sandbox_factory):
    box = sandbox_factory(scenario(cloud="aws"))
    env = {"RESPONDER_DATABASE_SECRET": "aws:us-east-2:no/such/secret",
           "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url}
    result = CliRunner().invoke(cli, ["tick"], env=env)
    assert result.exit_code == 1 and "no/such/secret" in result.output + result.stderr


def test_secret_fields_make_a_url_with_the_password_quoted_and_refuse_a_missing_field_by_name():
    url = url_from_fields({"username": "app", "password": "a@b/c:d", "host": "db", "port": 5432, "dbname": "r"})
    assert url == "postgresql+psycopg://app:a%40b%2Fc%3Ad@db:5432/r"
    assert url_from_fields({"username": "u", "password": "p", "host": "h", "port": 3306, "dbname": "d"}) \
        .startswith("mysql+pymysql://u:p@h:3306/d")
    with pytest.raises(SecretRefused, match="lacks password") as refused:
        url_from_fields({"username": "u", "host": "h", "dbname": "d"})
    assert "u" not in str(refused.value).replace("lacks", "")
    assert parse_reference("arn:aws:secretsmanager:eu-west-1:1:secret:db") == \
        ("aws", "eu-west-1", "arn:aws:secretsmanager:eu-west-1:1:secret:db")
    assert parse_reference("aliyun:cn-hangzhou:db") == ("aliyun", "cn-hangzhou", "db")
    assert parse_reference("db") == ("aws", "", "db")


def test_db_upgrade_upgrades_the_store_the_secret_names_not_a_local_file(sandbox_factory, tmp_path, monkeypatch):
    box = sandbox_factory(scenario(cloud="aws"))
    endpoint = box.emulators["aws"].endpoint_url
    monkeypatch.chdir(tmp_path)  # where a stray default sqlite:///responder.db would appear
    with database_user("postgres", tmp_path) as fields:
        sm = boto3.client("secretsmanager", region_name="us-east-2", endpoint_url=endpoint,
                          aws_access_key_id="sandbox-admin", aws_secret_access_key="x")
        name = f"prod/responder/db-{uuid.uuid4().hex[:8]}"
        sm.create_secret(Name=name, SecretString=json.dumps(fields))
        env = {"RESPONDER_DATABASE_SECRET": f"aws:us-east-2:{name}", "RESPONDER_AWS_ENDPOINT_URL": endpoint}
        for command in ("upgrade", "current"):
            result = CliRunner().invoke(cli, ["db", command], env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.output
            assert PASSWORD not in result.output and quote(PASSWORD, safe="") not in result.output
            assert "head" in result.output
        upgraded = CliRunner().invoke(cli, ["db", "upgrade"], env=env).output
        assert fields["dbname"] in upgraded and "already at" in upgraded
    assert not (tmp_path / "responder.db").exists()
