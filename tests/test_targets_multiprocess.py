"""Many tickers, one purchase: 4 `responder tick` processes at once, on one MariaDB and one
PostgreSQL (a database of their own each), over 50 targets on the shared sandbox (`responder
sandbox`, both clouds), never hold more than the targets ask. The lease per target row is what
keeps them apart: the cloud is read only by the process that won the row.
"""

from __future__ import annotations

import concurrent.futures
import json

import pytest

from responder.clouds.aliyun import AliyunCloud
from responder.clouds.aws import AwsCloud
from responder.store import Store
from responder.targets.model import TARGET_TAG
from responder.targets.table import TargetStore
from tests.databases import fresh_database
from tests.sandbox_process import SandboxProcess, responder_env, run_responder
from tests.targets_fixtures import make_target

PER_CLOUD, COUNT, PROCESSES, ROUNDS = 25, 2, 4, 2


@pytest.fixture(scope="module")
def shared_sandbox():
    box = SandboxProcess().wait_ready()
    yield box
    box.stop()


def _held(box: SandboxProcess) -> dict[str, int]:
    e = box.exports
    aws = AwsCloud(endpoint_url=e["RESPONDER_AWS_ENDPOINT_URL"], aws_access_key_id=e["AWS_ACCESS_KEY_ID"],
                   aws_secret_access_key=e["AWS_SECRET_ACCESS_KEY"], region_name="us-east-2")
    aliyun = AliyunCloud(e["ALIBABA_CLOUD_ACCESS_KEY_ID"], e["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                         endpoint=e["RESPONDER_ALIYUN_ENDPOINT"])
    listed = aws.list_reservations("us-east-2", state="active") + aliyun.list_reservations("cn-hangzhou")
    held: dict[str, int] = {}
    for r in listed:
        owner = dict(r.tags).get(TARGET_TAG, "")
        held[owner] = held.get(owner, 0) + r.total
    return held


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_four_processes_ticking_the_same_50_targets_never_buy_more_than_asked(shared_sandbox, tmp_path, backend):
    """Slow: rounds of four `responder tick` processes, each a Python start, on a real database."""
    with fresh_database(backend, tmp_path) as url:
        store = Store(url, upgrade=True)
        tstore = TargetStore(store.engine)
        names = []
        for cloud in ("aws", "aliyun"):
            for n in range(PER_CLOUD):
                name = f"{backend}-{cloud}-{n}"
                tstore.add(make_target(cloud, name=name, count=COUNT, zones=2))
                names.append(name)
        store.engine.dispose()
        env = responder_env(shared_sandbox.exports, RESPONDER_DATABASE_URL=url,
                            RESPONDER_TARGETS_INTERVAL_SECONDS="0", RESPONDER_LOG_LEVEL="WARNING")
        answers = []
        with concurrent.futures.ThreadPoolExecutor(PROCESSES) as pool:
            for _ in range(ROUNDS):
                done = list(pool.map(lambda _: run_responder("tick", env=env), range(PROCESSES)))
                for proc in done:
                    assert proc.returncode == 0, proc.stderr[-2000:]
                    answers.append(json.loads(proc.stdout.strip().splitlines()[-1])["targets"])
        held = _held(shared_sandbox)
        mine = {n: held.get(n, 0) for n in names}
        assert max(mine.values()) <= COUNT  # never more than a target asks
        assert set(mine.values()) == {COUNT}  # and every target got there
        assert sum(a["acquired"] for a in answers) == len(names) * COUNT
        assert sum(a["reconciled"] for a in answers) >= len(names)
