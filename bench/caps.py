"""Money caps under a burst: N launches' spends taken at once by P processes (T threads each) on one
server database, against an hourly cap below N. Prints wall seconds, the slowest take, store errors
(a lock wait past its bound or a deadlock surfaces as StoreUnavailable), other exceptions, and the
units granted and held against the cap: granted must equal the cap exactly.

Run: python bench/caps.py [--backend postgres|mariadb] [--launches 500] [--processes 4] [--threads 16]
     [--cap 100] [--json]
A throwaway database is created on the local server (127.0.0.1, PostgreSQL 5432 / MariaDB 3306) and
dropped after. Figures: BENCHMARKS.md, "Money caps under a burst".
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import sys
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from responder.replace.caps import MoneyCaps, Spend, spend_slots  # noqa: E402
from responder.store import Store, StoreUnavailable  # noqa: E402

SERVERS = {"postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
           "mariadb": "mysql+pymysql://root@127.0.0.1:3306/"}


def _takes(url: str, barrier, threads: int, takes: int, cap: int, seed: str) -> dict:
    """One process: `threads` threads share `takes` spends, all started together."""
    store = Store(url)
    caps = MoneyCaps(store, per_hour=cap, per_event=2)
    figures = {"granted": 0, "refused": 0, "store_errors": 0, "other_errors": 0, "slowest_s": 0.0}
    lock = threading.Lock()
    mine = [Spend(token=f"{seed}-{n}", claim_key=f"aliyun:cn-hangzhou:i-{seed}-{n}", kind="launch")
            for n in range(takes)]

    def take(spend: Spend) -> None:
        started = time.monotonic()
        try:
            outcome = "granted" if caps.take(spend).ok else "refused"
        except StoreUnavailable:
            outcome = "store_errors"
        except Exception:  # noqa: BLE001 - counted: a traceback in the product
            outcome = "other_errors"
        with lock:
            figures[outcome] += 1
            figures["slowest_s"] = max(figures["slowest_s"], time.monotonic() - started)

    try:
        barrier.wait()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(take, mine))
        return figures
    finally:
        store.engine.dispose()


def burst(url: str, launches: int, processes: int, threads: int, cap: int) -> dict:
    """Figures of one burst on the database at `url` (its schema made here)."""
    Store(url, upgrade=True).engine.dispose()
    spawn = multiprocessing.get_context("spawn")
    share = [launches // processes + (1 if p < launches % processes else 0) for p in range(processes)]
    with spawn.Manager() as manager:
        barrier = manager.Barrier(processes + 1)
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=spawn) as pool:
            futures = [pool.submit(_takes, url, barrier, threads, n, cap, f"p{p}") for p, n in enumerate(share)]
            barrier.wait()
            started = time.monotonic()
            parts = [f.result() for f in futures]
            wall = time.monotonic() - started
    store = Store(url)
    with store.engine.connect() as conn:
        held = conn.execute(sa.select(sa.func.count()).where(spend_slots.c.scope == "hour",
                                                             spend_slots.c.token.is_not(None))).scalar_one()
    store.engine.dispose()
    total = {k: sum(p[k] for p in parts) for k in ("granted", "refused", "store_errors", "other_errors")}
    return {"launches": launches, "processes": processes, "cap": cap, "wall_s": round(wall, 3),
            "slowest_take_s": round(max(p["slowest_s"] for p in parts), 3), **total, "held": held,
            "exact": total["granted"] == held == min(cap, launches)}


def with_database(backend: str, run):
    name = f"responder_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(SERVERS[backend], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        return run(sa.engine.make_url(SERVERS[backend]).set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            if backend == "postgres":
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=sorted(SERVERS), default="postgres")
    parser.add_argument("--launches", type=int, default=500)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--cap", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = with_database(args.backend, lambda url: burst(url, args.launches, args.processes, args.threads,
                                                            args.cap))
    figures["backend"] = args.backend
    print(f"{args.backend}: {figures['launches']} launches in {figures['processes']} processes, cap {figures['cap']}: "
          f"{figures['wall_s']} s wall, slowest take {figures['slowest_take_s']} s, "
          f"store errors (lock waits, deadlocks) {figures['store_errors']}, other errors {figures['other_errors']}, "
          f"granted {figures['granted']} / held {figures['held']} (exact: {figures['exact']})", file=sys.stderr)
    if args.json:
        print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
