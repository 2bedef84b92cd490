"""What a server's start leaves unimported: the SDKs and libraries a start does not need.

Parts: a fresh interpreter importing `responder.wsgi` (gunicorn's entry, the image's default
clouds aliyun and aws, no credentials, an apprise and a plain notification channel, a store
already at its schema, no .env file) that has not loaded boto3, botocore's sessions, apprise,
requests, python-dotenv, Alembic or the MySQL and PostgreSQL dialects, nor run importlib.metadata (listed for a
first use: responder/start_cost.py), its collector on again; and the same app's first /healthz, which
asks boto3's chain then and answers `degraded` naming AWS, as a start-up check did.
BENCHMARKS.md ("Cold start of the artifacts as shipped") measures what each one costs.
"""
import importlib.metadata
import json
import os
import subprocess
import sys

from responder.migrations import upgrade

PROBE = """
import json, sys
import responder.wsgi as wsgi
import gc
loaded = sorted(m for m in sys.modules if m in {NAMES})
metadata_run = "version" in vars(sys.modules["importlib.metadata"])  # listed, not run (start_cost.py)
collector = [gc.isenabled(), gc.get_freeze_count() > 10_000]
health = wsgi.app.test_client().get("/healthz")
import importlib.metadata
print(json.dumps({{"at_start": loaded, "health": health.get_json(), "status": health.status_code,
                  "boto3_after": "boto3" in sys.modules, "metadata_run_at_start": metadata_run,
                  "collector": collector, "metadata_later": importlib.metadata.version("flask")}}))
"""
LEFT_FOR_LATER = ["alembic", "apprise", "boto3", "botocore.session", "dotenv", "requests",
                  "sqlalchemy.dialects.mysql", "sqlalchemy.dialects.postgresql", "urllib3"]


def _fresh_start(tmp_path, clouds: str) -> dict:
    url = f"sqlite:///{tmp_path}/tasks.db"
    upgrade(url)  # a restart: the schema is there (a first start's upgrade loads Alembic, rightly)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "RESPONDER_CLOUDS": clouds,
           "RESPONDER_DATABASE_URL": url, "RESPONDER_BACKGROUND_TICKER": "false",
           "RESPONDER_ALLOW_LOCAL_SQLITE": "true", "PYTHONDONTWRITEBYTECODE": "1",
           # a channel of each kind: apprise and requests load with their first message, not here
           "RESPONDER_NOTIFY_URLS": "json://127.0.0.1:9/hook, http://127.0.0.1:9/plain",
           # boto3's chain with nothing to find, and no metadata service to wait for
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(NAMES=repr(set(LEFT_FOR_LATER)))], env=env, check=False,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_a_server_start_loads_no_sdk_and_no_library_it_does_not_need_yet(tmp_path):
    found = _fresh_start(tmp_path, "aliyun,aws")
    assert found["at_start"] == []


def test_a_start_leaves_importlib_metadata_unrun_and_the_collector_on_with_the_start_frozen(tmp_path):
    """SQLAlchemy imports importlib.metadata at its top; the start lists it unrun and the first use
    runs it (responder/start_cost.py). The cyclic collector, paused while the app was built, is on
    again, with what the start built in the permanent generation."""
    found = _fresh_start(tmp_path, "aliyun,aws")
    assert found["metadata_run_at_start"] is False
    assert found["metadata_later"] == importlib.metadata.version("flask")
    assert found["collector"] == [True, True]


def test_the_first_request_asks_aws_credential_chain_and_healthz_names_what_it_lacks(tmp_path):
    found = _fresh_start(tmp_path, "aliyun,aws")
    assert found["status"] == 200 and found["boto3_after"]
    assert found["health"]["status"] == "degraded" and found["health"]["clouds"] == []
    assert "boto3's chain found none" in found["health"]["unconfigured"]["aws"]
