"""The store answers or says it cannot, within 5 s: against a server that accepts TCP connections
and never replies (at a MySQL and at a PostgreSQL URL), and against a SQLite file another process
keeps locked. The error names the component and nothing of the driver's message; the web layer
answers 503 with a fixed body; `responder serve` prints one line and exits non-zero."""

from __future__ import annotations

import logging
import multiprocessing
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from responder.replace.caps import MoneyCaps, Spend
from responder.settings import Settings
from responder.store import Store, StoreUnavailable, make_engine
from tests.conftest import event_bytes

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pa55-w0rd-never-shown"
WITHIN = 5.0


@pytest.fixture(scope="module")
def silent_port():
    """A TCP server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held, stopping = [], threading.Event()

    def accept():
        while not stopping.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    stopping.set()
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture(params=["mysql+pymysql", "postgresql+psycopg"])
def silent_url(request, silent_port):
    return f"{request.param}://responder:{PASSWORD}@127.0.0.1:{silent_port}/responder"


def _assert_says_only_unavailable(exc: BaseException, port: int, component: str = "task store") -> None:
    text = str(exc)
    assert text.startswith(f"{component} unavailable")
    for secret in (PASSWORD, "127.0.0.1", str(port), "responder:"):
        assert secret not in text
    assert exc.__cause__ is None and exc.__context__ is None  # no driver message riding along


def _timed_failure(call) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as failure:
        call()
    return failure.value, time.monotonic() - started


@pytest.fixture
def store_gone_silent(tmp_path, silent_url):
    """A working Store whose database then stops answering."""
    store = Store(f"sqlite:///{tmp_path}/tasks.db")
    store.engine.dispose()
    store.engine = make_engine(silent_url)
    yield store
    store.engine.dispose()


def test_opening_a_store_on_a_silent_server_fails_within_five_seconds(silent_url, silent_port):
    exc, took = _timed_failure(lambda: Store(silent_url))
    assert took < WITHIN
    _assert_says_only_unavailable(exc, silent_port)


def test_store_operations_on_a_silent_server_fail_within_five_seconds(store_gone_silent, silent_port):
    for call in (lambda: store_gone_silent.claim("aws:us-east-2:i-1", "aws", "us-east-2", "i-1", "interruption",
                                                 data={"user_data": "secret-user-data"}),
                 store_gone_silent.due):
        exc, took = _timed_failure(call)
        assert took < WITHIN
        _assert_says_only_unavailable(exc, silent_port)
        assert "secret-user-data" not in str(exc)


def test_a_money_cap_take_on_a_silent_server_fails_within_five_seconds(store_gone_silent, silent_port):
    caps = MoneyCaps(store_gone_silent, per_hour=10, per_event=2)
    exc, took = _timed_failure(lambda: caps.take(Spend("tok-1", "aws:us-east-2:i-1", "launch")))
    assert took < WITHIN
    _assert_says_only_unavailable(exc, silent_port, component="money caps")


def test_a_sqlite_file_locked_by_another_writer_fails_within_five_seconds(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/tasks.db")
    other = sqlite3.connect(tmp_path / "tasks.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        exc, took = _timed_failure(lambda: store.claim("aws:r:i-1", "aws", "r", "i-1", "interruption"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert took < WITHIN and str(exc) == "task store unavailable (OperationalError)"
    assert not store.claim("aws:r:i-1", "aws", "r", "i-1", "interruption").duplicate  # works once the lock is gone


def test_the_web_layer_answers_503_with_a_fixed_body_and_logs_no_driver_message(
        responder_factory, silent_url, silent_port, caplog):
    from tests.scenarios import scenario

    client, runner, _ = responder_factory(scenario(cloud="aliyun"))
    runner.store.engine.dispose()
    runner.store.engine = make_engine(silent_url)
    with caplog.at_level(logging.DEBUG):
        started = time.monotonic()
        invoked = client.post("/invoke", data=event_bytes("aliyun/cloudmonitor-interruption.json"))
        took = time.monotonic() - started
        health = client.get("/healthz")
    assert took < WITHIN
    assert invoked.status_code == 503 and invoked.headers["x-fc-status"] == "404"
    assert invoked.get_json() == {"error": "task store unavailable", "component": "store"}
    assert health.status_code == 503
    assert health.get_json() == {"status": "unavailable", "error": "task store unavailable", "component": "store"}
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    for secret in (PASSWORD, f"127.0.0.1:{silent_port}", "Lost connection", "connection timeout"):
        assert secret not in logged and secret not in invoked.get_data(as_text=True)


def _serve(database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "responder", "serve", "--database-url", database_url, "--port", "0"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT)})


@pytest.mark.parametrize("where", ["silent", "refused"])
def test_serve_on_an_unreachable_database_prints_one_line_and_exits_non_zero(where, silent_port):
    port = silent_port if where == "silent" else 1  # nothing listens on port 1
    proc = _serve(f"mysql+pymysql://responder:{PASSWORD}@127.0.0.1:{port}/responder")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"Error: task store at mysql+pymysql://responder:***@127.0.0.1:{port}/responder: cannot be reached: "
        "check that the server is running and that the URL's host and port are right"]
    assert "Traceback" not in proc.stderr and PASSWORD not in proc.stderr + proc.stdout


def test_serve_on_an_unupgraded_server_database_names_the_upgrade_command(tmp_path):
    from tests.databases import fresh_database

    with fresh_database("mariadb", tmp_path) as url:
        proc = _serve(url)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(f"run `responder db upgrade --database-url {url}`")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_settings_never_show_the_database_password():
    assert PASSWORD not in repr(Settings(database_url=f"mysql+pymysql://responder:{PASSWORD}@db/responder"))



def _open_at_the_barrier(path: str, barrier, answers) -> None:
    barrier.wait()
    try:
        engine = make_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
        engine.dispose()
        answers.put("ok")
    except Exception as exc:  # the answer is compared below, whatever it is
        answers.put(repr(exc)[:200])


def test_processes_opening_a_new_sqlite_file_at_once_all_open_it(tmp_path):
    # The first connections of a new file switch it to WAL; two that do it at the same moment
    # both want the exclusive lock, and SQLite answers one "database is locked" without waiting.
    # Three `responder upgrade`s or workers started together met it about once in 160 opens.
    context = multiprocessing.get_context("fork")
    for round_ in range(100):
        path = str(tmp_path / f"new-{round_}.db")
        barrier, answers = context.Barrier(4), context.Queue()
        opening = [context.Process(target=_open_at_the_barrier, args=(path, barrier, answers)) for _ in range(4)]
        for process in opening:
            process.start()
        for process in opening:
            process.join(60)
        assert [answers.get(timeout=5) for _ in opening] == ["ok"] * 4, round_
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # A later connection finds the file in WAL and still sets its own (per-connection) synchronous.
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()
