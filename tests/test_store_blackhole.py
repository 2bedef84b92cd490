"""Every route answers within 5 s when the store goes silent: a TCP forwarder that keeps accepting
connections and taking bytes but never answers (tests/blackhole.py) stands between the responder
and PostgreSQL, then MariaDB. The routes are hit all at once, each as the first caller of the
outage, then again one by one; /metrics serves its last levels; the ticker keeps going; the log
holds one line for the outage and one for the recovery, and no traceback.

Slow by nature: each backend waits out one answer bound (about 4 s) and a reconnect interval.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from responder.replace.runner import TaskRunner
from responder.store import Store
from responder.web import Ticker, create_app
from tests.blackhole import Forwarder
from tests.conftest import event_bytes
from tests.databases import fresh_database
from tests.scenarios import scenario

WITHIN = 5.0
PORTS = {"postgres": 5432, "mariadb": 3306}
EVENT = "aliyun/cloudmonitor-interruption.json"


@pytest.fixture(params=["postgres", "mariadb"])
def behind_a_forwarder(request, tmp_path, sandbox_factory, test_settings):
    """(client, runner, forwarder): an app whose store is reached through the forwarder."""
    with fresh_database(request.param, tmp_path) as url:
        forwarder = Forwarder(PORTS[request.param]).start()
        via = sa.engine.make_url(url).set(port=forwarder.port).render_as_string(hide_password=False)
        chosen = test_settings.with_(database_url=via)
        box = sandbox_factory(scenario(cloud="aliyun"))
        runner = TaskRunner(Store(via, upgrade=True), box.clouds, chosen)
        try:
            yield create_app(chosen, runner=runner).test_client(), runner, forwarder
        finally:
            runner.store.engine.dispose()
            forwarder.stop()


def _routes(task_id: str) -> list[tuple[str, str, bytes | None]]:
    body = event_bytes(EVENT)
    return [("POST", "/invoke", body), ("POST", "/events", body), ("GET", "/tasks", None),
            ("GET", f"/tasks/{task_id}", None), ("GET", "/targets", None), ("GET", "/targets/pool-a", None),
            ("GET", "/healthz", None), ("GET", "/metrics", None), ("GET", "/", None)]


def _timed(client, method: str, path: str, body: bytes | None):
    started = time.monotonic()
    response = client.open(path, method=method, data=body)
    return path, response, time.monotonic() - started


def _store_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "responder.store"]


def test_every_route_answers_within_five_seconds_while_the_store_is_a_black_hole(behind_a_forwarder, caplog):
    client, runner, forwarder = behind_a_forwarder
    accepted = client.post("/events", data=event_bytes(EVENT))
    assert accepted.status_code in (200, 202), accepted.get_json()
    task_id = accepted.get_json()["task"]["id"]
    before = client.get("/metrics").get_data(as_text=True)
    assert "responder_store_up 1.0" in before
    routes = _routes(task_id)
    assert all(client.open(p, method=m, data=b).status_code < 500 for m, p, b in routes)  # pool warm

    caplog.set_level(logging.INFO)
    forwarder.go_silent()
    with ThreadPoolExecutor(len(routes)) as pool:  # each one the first to meet the silence
        first = list(pool.map(lambda route: _timed(client, *route), routes))
    then = [_timed(client, *route) for route in routes]
    for path, response, took in first + then:
        assert took < WITHIN, (path, took)
        if path == "/metrics":  # what it has: the last levels read
            text = response.get_data(as_text=True)
            assert response.status_code == 200 and 'responder_tasks{status="received"}' in text
            assert any(f'responder_tasks{{status="{s}"}} 1.0' in text for s in ("imaging", "launching", "done"))
        else:
            assert response.status_code == 503, (path, response.status_code, response.get_data()[:200])
            if path == "/invoke":
                assert response.headers["x-fc-status"] == "404"

    assert "responder_store_up 0.0" in then[-2][1].get_data(as_text=True)  # once the outage is known

    ticker = Ticker(runner, interval=0.05)  # ticks every 50 ms against the silent store
    ticker.start()
    time.sleep(1.5)
    forwarder.answer_again()
    deadline = time.monotonic() + 10
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "the store never came back"
        time.sleep(0.2)
    time.sleep(0.3)
    ticker.stop()
    ticker.join(5)

    assert client.get(f"/tasks/{task_id}").status_code == 200
    lines = _store_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("task store unavailable (") and lines[1].startswith("task store available again")
    assert not [r for r in caplog.records if r.exc_info or r.exc_text], "a traceback was logged"
    assert not [r for r in caplog.records if r.name == "responder.web" and r.levelno >= logging.WARNING]


def test_a_store_that_refuses_connections_costs_the_ticker_one_line_not_one_per_tick(behind_a_forwarder, caplog):
    client, runner, forwarder = behind_a_forwarder
    assert client.get("/healthz").status_code == 200
    caplog.set_level(logging.INFO)
    forwarder.stop()  # nothing listens on the port any more: every connection is refused
    runner.store.engine.dispose()
    ticker = Ticker(runner, interval=0.02)
    ticker.start()
    try:
        time.sleep(1.0)
        started = time.monotonic()
        assert client.get("/tasks").status_code == 503
        assert time.monotonic() - started < 0.5  # refused at once: the outage is known
    finally:
        ticker.stop()
        ticker.join(5)
    lines = _store_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("task store unavailable ("), lines
    assert not [r for r in caplog.records if r.exc_info or r.exc_text or r.name == "responder.web"]


def test_a_live_server_s_own_statement_timeout_is_not_taken_for_an_outage(tmp_path, caplog):
    with fresh_database("postgres", tmp_path) as url:
        store = Store(url, upgrade=True)
        caplog.set_level(logging.INFO)
        try:
            with pytest.raises(sa.exc.OperationalError) as slow, store.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_sleep(10)"))  # the server cancels it at 3 s
            assert slow.value.orig.sqlstate == "57014"  # query_canceled: the server spoke first
            assert store.list() == [] and _store_lines(caplog) == []
        finally:
            store.engine.dispose()


def test_a_connection_that_gets_no_answer_is_closed_and_the_next_one_works(tmp_path):
    with fresh_database("postgres", tmp_path) as url:
        forwarder = Forwarder(PORTS["postgres"]).start()
        via = sa.engine.make_url(url).set(port=forwarder.port).render_as_string(hide_password=False)
        store = Store(via, upgrade=True)
        try:
            raw = store.engine.raw_connection()
            forwarder.go_silent()
            started = time.monotonic()
            with pytest.raises(Exception) as silent:
                raw.driver_connection.execute("SELECT 1")
            assert 3.5 < time.monotonic() - started < WITHIN
            assert type(silent.value).__name__ == "NoAnswer" and raw.driver_connection.closed
            raw.invalidate()
            forwarder.answer_again()
            deadline = time.monotonic() + 5
            while True:  # the reconnect interval passes, then the store answers again
                try:
                    assert store.list() == []
                    break
                except Exception:
                    assert time.monotonic() < deadline
                    threading.Event().wait(0.2)
        finally:
            store.engine.dispose()
            forwarder.stop()
