"""The FC package keeps its store on every backend it supports, without greenlet.

Parts: deploy/build-fc.sh's package (tests/package_fixtures.py: built once per run); a clean
interpreter (-S, only the package on PYTHONPATH, no bytecode writes: FC's read-only /code) that
opens a Store on SQLite, MariaDB and PostgreSQL (tests/databases.py: a database of its own each,
already at its schema, as on a restart), writes a task whose data overflows MySQL's 64 KB
TEXT, reads it back, and reports what it imported. deploy/prune-site-packages.sh leaves greenlet
out (SQLAlchemy's synchronous engine never calls it); the store's LONG_TEXT loads SQLAlchemy's MySQL
dialect only for a MySQL URL (responder/store.py, LongText). And the package's start, with a
first event, leaves asyncio and importlib.metadata unrun (responder/start_cost.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from package_fixtures import deploy_package

from responder.migrations import upgrade
from tests.databases import BACKENDS, fresh_database

PROBE = """
import json, sys
from responder.store import Store
store = Store(sys.argv[1])
big = "x" * 100_000
claimed = store.claim("aliyun:cn-hangzhou:i-cold", "aliyun", "cn-hangzhou", "i-cold", "interruption", {"big": big})
again = store.get(claimed.task.id)
print(json.dumps({"kept": again.data["big"] == big, "duplicate": claimed.duplicate,
                  "greenlet": "greenlet" in sys.modules, "mysql_dialect": "sqlalchemy.dialects.mysql" in sys.modules}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_shipped_fc_package_keeps_a_large_task_on_each_backend_without_greenlet(backend, tmp_path,
                                                                                     tmp_path_factory):
    package, _ = deploy_package(tmp_path_factory, "fc")
    assert not (package / "python" / "greenlet").exists()
    with fresh_database(backend, tmp_path) as url:
        upgrade(url)  # a restart: a first start's upgrade runs the migrations, which name MySQL's types
        env = {"PYTHONPATH": f"{package / 'python'}:{package}", "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(tmp_path)}
        done = subprocess.run([sys.executable, "-S", "-c", PROBE, url], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found == {"kept": True, "duplicate": False, "greenlet": False, "mysql_dialect": backend == "mariadb"}


START = """
import gc, json, sys
import responder.wsgi
from werkzeug.test import create_environ
unrun = [name for name, defined in (("asyncio", "get_event_loop"), ("importlib.metadata", "version"))
         if defined not in vars(sys.modules[name])]
seen = []
environ = create_environ("/invoke", method="POST", data=open(sys.argv[1], "rb").read(), content_type="application/json")
answer = json.loads(b"".join(responder.wsgi.app(environ, lambda status, headers, exc_info=None: seen.append(status))))
unrun_after_event = [name for name, defined in (("asyncio", "get_event_loop"), ("importlib.metadata", "version"))
                     if defined not in vars(sys.modules[name])]
import asyncio
print(json.dumps({"unrun": unrun, "status": seen[0], "outcome": answer.get("outcome"),
                  "unrun_after_event": unrun_after_event, "collector": gc.isenabled(),
                  "asyncio_works": asyncio.run(asyncio.sleep(0, "ok"))}))
"""


@pytest.mark.slow
def test_the_shipped_fc_package_starts_and_answers_a_first_event_without_running_asyncio_or_metadata(
        tmp_path, tmp_path_factory):
    """Started as FC starts it (-S, the package only), SQLAlchemy's asyncio and importlib.metadata are
    listed but not run (responder/start_cost.py), nor by a first ignored event; a later use runs them."""
    package, _ = deploy_package(tmp_path_factory, "fc")
    url = f"sqlite:///{tmp_path}/tasks.db"
    upgrade(url)
    env = {"PYTHONPATH": f"{package / 'python'}:{package}", "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(tmp_path),
           "RESPONDER_DATABASE_URL": url, "RESPONDER_ALLOW_LOCAL_SQLITE": "true", "RESPONDER_CLOUDS": "aliyun",
           "RESPONDER_BACKGROUND_TICKER": "false"}
    event = Path(__file__).resolve().parents[1] / "events" / "aliyun" / "ignored-other-event.json"
    done = subprocess.run([sys.executable, "-S", "-c", START, str(event)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found == {"unrun": ["asyncio", "importlib.metadata"], "status": "200 OK", "outcome": "ignored",
                     "unrun_after_event": ["asyncio", "importlib.metadata"], "collector": True, "asyncio_works": "ok"}
