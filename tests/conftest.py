"""Shared fixtures: sample events, sandbox clouds on loopback, an app wired to them; how the
session is laid out (bytecode compiled once, slow tests first).

The sandbox is the real thing on the wire: the aliyun SDK and boto3 sign and send requests to
the emulators. Only time is ever sped up (scenario time_scale), nothing is mocked.

Parts: pytest_sessionstart (responder/ and handlers/ compiled to bytecode once, for the many
`python -m responder` processes the tests start), pytest_collection_modifyitems (tests marked
`slow` first, so two workers end together), pytest_collection_finish (the imported code kept out
of the garbage collector's sight, its young generation grown), pytest_runtest_protocol (each test's CPU, written
where SUITE_CPU_FILE says: bench/suite.py's CPU per file), event_bytes / event_json,
sandbox_factory, test_settings, responder_factory.
"""

from __future__ import annotations

import compileall
import gc
import json
import os
import resource
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

# The aliyun SDK ignores NO_PROXY and sends proxy variables even to loopback.
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-2")


def pytest_sessionstart(session):
    """Compile the project once. Each `python -m responder ...` a test starts would otherwise compile
    every module it imports again wherever bytecode is not written (PYTHONDONTWRITEBYTECODE, a fresh
    checkout): about 0.4 s of CPU per process, and the suite starts hundreds."""
    for package in ("responder", "handlers"):
        compileall.compile_dir(str(ROOT / package), quiet=1, workers=1)


def pytest_configure(config):
    """Under xdist's default `--dist load`, tests are dealt one at a time (`--maxschedchunk 1`)
    unless the command line says otherwise. Unlimited, the first worker is handed the first quarter
    of its share of the collection in one block: every `slow` test (they are sorted first), run one
    after another on that worker while the others run the short ones. Dealt one at a time, each
    idle worker takes the next slow test, so their waits (builds, processes, scenario clocks)
    overlap."""
    if getattr(config.option, "dist", "no") == "load" and getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Tests marked `slow` run first (in collection order among themselves), dealt one at a time
    (pytest_configure): the suite then ends on short tests, not on one long one alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With SUITE_CPU_FILE set, append "<CPU seconds>\t<node id>" per test: its set-up, call and
    teardown in this worker (threads included) and the processes it started and waited for. Wall
    time says little on a shared machine; CPU says which set-ups cost work."""
    where = os.environ.get("SUITE_CPU_FILE")
    before = _cpu() if where else 0.0
    yield
    if where:
        with open(where, "a") as out:  # one short append per test: lines from two workers never interleave
            out.write(f"{_cpu() - before:.3f}\t{item.nodeid}\n")


def _cpu() -> float:
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """The worker's collector works less: what is alive once the test modules are imported (the
    modules, the SDKs, their models) moves to the permanent generation (gc.freeze), and the young
    generation grows from 700 to 20,000 allocations. A sandbox start allocates hundreds of thousands
    of objects (moto's AMI catalogue, botocore's models), and with the defaults each full collection
    walked the whole heap again: about a quarter of a flow test's CPU. Garbage is still collected,
    only in bigger batches; nothing a test asserts depends on when."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)


def event_bytes(relative: str) -> bytes:
    return (EVENTS / relative).read_bytes()


def event_json(relative: str):
    return json.loads(event_bytes(relative))


@pytest.fixture
def sandbox_factory():
    """start(scenario_or_None, **overrides) → a running Sandbox; all are stopped at teardown."""
    from responder.sandbox.runtime import start_sandbox

    started = []

    def start(scenario=None, **overrides):
        overrides.setdefault("time_scale", 20)
        box = start_sandbox(scenario, **overrides)
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()


@pytest.fixture
def test_settings(tmp_path):
    from responder.settings import Settings

    # The image-first flow these tests pin down; the race tests (test_race_*.py) take `auto`.
    # The sandbox runs 20 scenario seconds a real second (sandbox_factory): ECS's per-minute API
    # windows are 3 real seconds there, and the API budget counts them so (RESPONDER_API_RATES).
    return Settings(database_url=f"sqlite:///{tmp_path}/tasks.db", launch_retry_seconds=0,
                    background_ticker=False, tick_interval=0.05, launch_from="fresh-image",
                    api_rates=(("aliyun", "*", 200.0, 3.0, True), ("aliyun", "instances", 5000.0, 3.0, True)))


@pytest.fixture
def responder_factory(sandbox_factory, test_settings):
    """build(scenario=None, settings_changes={}, **scenario_overrides) → (client, runner, sandbox)."""
    from responder.replace.runner import TaskRunner
    from responder.store import Store
    from responder.web import create_app

    def build(scenario=None, settings=None, **overrides):
        box = sandbox_factory(scenario, **overrides)
        chosen = test_settings.with_(**(settings or {}))
        runner = TaskRunner(Store(chosen.database_url), box.clouds, chosen)
        app = create_app(chosen, runner=runner)
        return app.test_client(), runner, box

    return build
