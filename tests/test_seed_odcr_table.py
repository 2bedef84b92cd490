"""Seed 001 (AWS-ODCR): its table is the control surface. The seed's DDL and INSERT, copied from its
document, run on a database of their own (MariaDB, as the seed's Aurora MySQL; PostgreSQL; SQLite);
`targets import --follow` follows the table, and each `responder tick` applies the operator's next
UPDATE / INSERT / DELETE, row by row, on the default sandbox.

SQLite cannot run the seed's DDL as written (a table constraint before column definitions is a
syntax error there), so for SQLite only the PRIMARY KEY clause moves to the end.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from responder.cli import cli
from tests.databases import fresh_database

# Copied from the seed ("创建资源需求元数据表", "插入数据", "更新数据"), `<database>.` filled in per server.
SEED_DDL = """CREATE Table IF NOT EXISTS <database>.odcr_capacity  
(InstanceType varchar(255),  
AvailabilityZone varchar(255),PRIMARY KEY (InstanceType,AvailabilityZone),  
Target_Capacity int NOT NULL,  
Current_Capacity int DEFAULT 0)"""  # noqa: W291 (the seed's trailing spaces, kept)
SEED_INSERT = "INSERT INTO <database>.odcr_capacity VALUES ('r5b.2xlarge','ap-northeast-1c',15,0)"
SEED_UPDATE = ("update <database>.odcr_capacity set Current_Capacity=5 where InstanceType='r5b.2xlarge' and "
               "AvailabilityZone='ap-northeast-1a'")
NAME = "r5b.2xlarge-ap-northeast-1c"


def seed_sql(sql: str, backend: str, url: str) -> str:
    schema = {"mariadb": sa.engine.make_url(url).database, "postgres": "public", "sqlite": "main"}[backend]
    sql = sql.replace("<database>", schema)
    if backend == "sqlite":
        sql = sql.replace(",PRIMARY KEY (InstanceType,AvailabilityZone),", ",").replace(
            "Current_Capacity int DEFAULT 0)", "Current_Capacity int DEFAULT 0, PRIMARY KEY (InstanceType,AvailabilityZone))")
    return sql


@pytest.fixture(params=["mariadb", "postgres", "sqlite"])
def old_table(request, tmp_path):
    backend = request.param
    with fresh_database(backend, tmp_path) as url:
        engine = sa.create_engine(url)

        def execute(sql: str) -> None:
            with engine.begin() as conn:
                conn.execute(sa.text(seed_sql(sql, backend, url)))

        execute(SEED_DDL)
        execute(SEED_INSERT)
        yield url, execute
        engine.dispose()


def run(env, *args):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def held(box) -> int:
    listed = box.clouds["aws"].list_reservations("ap-northeast-1", state="", only_ours=True)
    return sum(r.total for r in listed if dict(r.tags).get("responder:target") == NAME and r.state == "active")


def tick(env) -> dict:
    return json.loads(run(env, "tick").strip().splitlines()[-1])["targets"]


def test_the_seeds_table_is_followed_tick_by_tick_row_by_row(old_table, tmp_path, sandbox_factory):
    url, execute = old_table
    box = sandbox_factory(None, only=("aws",))
    env = {"RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/store.db", "RESPONDER_MAX_TARGET_COUNT": "50",
           "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url}
    execute("INSERT INTO <database>.odcr_capacity VALUES ('m5.large','us-west-2a',2,0)")  # another region
    imported = json.loads(run(env, "targets", "import", "--from", url, "--region", "ap-northeast-1", "--follow",
                              "--json"))
    assert imported["added"] == [NAME] and imported["table"] == "odcr_capacity"  # the seed's name, by default
    (refused,) = imported["errors"]
    assert refused["row"] in (1, 2) and "us-west-2a is in us-west-2, not ap-northeast-1" in refused["error"]
    assert sa.engine.make_url(url).password is None or "***" in imported["source"]

    assert tick(env)["acquired"] == 15 and held(box) == 15

    execute(SEED_UPDATE)  # as written it names ap-northeast-1a: no row, and Current_Capacity is never trusted
    execute("update <database>.odcr_capacity set Target_Capacity=20 where InstanceType='r5b.2xlarge' and "
            "AvailabilityZone='ap-northeast-1c'")
    ticked = tick(env)
    assert ticked["followed"][0]["updated"] == [NAME] and held(box) == 20
    shown = json.loads(run(env, "targets", "show", NAME, "--json"))
    assert (shown["count"], shown["held"]) == (20, 20)

    execute("INSERT INTO <database>.odcr_capacity VALUES ('r5b.2xlarge','ap-northeast-1a',1,0)")
    execute("DELETE FROM <database>.odcr_capacity WHERE AvailabilityZone='ap-northeast-1c'")
    followed = tick(env)["followed"][0]
    assert followed["added"] == ["r5b.2xlarge-ap-northeast-1a"] and followed["removed"] == [NAME]
    names = [t["name"] for t in json.loads(run(env, "targets", "list", "--json"))]
    assert names == ["r5b.2xlarge-ap-northeast-1a"]
    assert held(box) == 20  # a deleted row stops the target; what it bought stays, as `targets remove` says


def test_a_row_that_turns_bad_keeps_its_target_and_an_unreadable_table_changes_nothing(tmp_path):
    from responder.store import Store
    from responder.targets.follow import Follow, FollowStore, sync_follow
    from responder.targets.table import TargetStore

    old = f"sqlite:///{tmp_path}/old.db"
    engine = sa.create_engine(old)
    with engine.begin() as conn:
        conn.execute(sa.text(seed_sql(SEED_DDL, "sqlite", old)))
        conn.execute(sa.text(seed_sql(SEED_INSERT, "sqlite", old)))
    store = Store(f"sqlite:///{tmp_path}/store.db", upgrade=True)
    tstore, fstore = TargetStore(store.engine), FollowStore(store.engine)
    follow = Follow("f", old, "odcr_capacity", "aws", "ap-northeast-1")
    fstore.add(follow)
    managed, report = sync_follow(follow, tstore, 50)
    assert managed == [NAME] and report.added == [NAME]
    with engine.begin() as conn:  # a typo in an UPDATE: the row is bad, not gone
        conn.execute(sa.text("UPDATE odcr_capacity SET Target_Capacity=-3"))
    managed, report = sync_follow(Follow("f", old, "odcr_capacity", "aws", "ap-northeast-1", managed=tuple(managed)),
                                  tstore, 50)
    assert managed == [NAME] and report.errors[0].field == "count" and tstore.get(NAME).target.count == 15
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE odcr_capacity"))
    managed, report = sync_follow(Follow("f", old, "odcr_capacity", "aws", "ap-northeast-1", managed=tuple(managed)),
                                  tstore, 50)
    assert "no table odcr_capacity" in report.unreadable and managed == [NAME] and tstore.get(NAME) is not None
