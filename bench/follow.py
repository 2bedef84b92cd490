"""Followed table benchmark: what `targets import --follow` adds to every tick — re-reading the old
`odcr_capacity` table and applying it — for tables of 10, 100 and 1000 rows on SQLite, when nothing
changed (the common tick) and when every row's Target_Capacity changed.

Run: python bench/follow.py [--rows 10,100,1000] [--repeat 20]
Method and figures: BENCHMARKS.md, "Followed tables".
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from responder.store import Store
from responder.targets.follow import Follow, FollowStore, sync_follow
from responder.targets.table import TargetStore

DDL = ("CREATE TABLE odcr_capacity (InstanceType varchar(255), AvailabilityZone varchar(255), "
       "Target_Capacity int NOT NULL, Current_Capacity int DEFAULT 0, PRIMARY KEY (InstanceType, AvailabilityZone))")
ZONES = ("us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d")


def _table(path: Path, rows: int) -> str:
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(DDL))
        conn.execute(sa.text("INSERT INTO odcr_capacity VALUES (:t, :z, :n, 0)"),
                     [{"t": f"m{5 + i // 400}.x{i % 100}large", "z": ZONES[(i // 100) % 4], "n": 1 + i % 7}
                      for i in range(rows)])
    engine.dispose()
    return url


def run(rows: int, repeat: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-follow-"))
    old = _table(folder / "old.db", rows)
    store = Store(f"sqlite:///{folder / 'store.db'}", upgrade=True)
    tstore = TargetStore(store.engine)
    follow = Follow("odcr_capacity", old, "odcr_capacity", "aws", "us-west-2")
    FollowStore(store.engine).add(follow)
    managed, _ = sync_follow(follow, tstore, 1000)  # the first read adds every row
    follow = Follow(follow.name, old, follow.table, follow.cloud, follow.region, managed=tuple(managed))
    unchanged, changed = [], []
    engine = sa.create_engine(old)
    for i in range(repeat):
        started = time.perf_counter()
        sync_follow(follow, tstore, 1000)
        unchanged.append(time.perf_counter() - started)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE odcr_capacity SET Target_Capacity = Target_Capacity % 7 + 1 + :i"), {"i": i % 2})
        started = time.perf_counter()
        _, report = sync_follow(follow, tstore, 1000)
        changed.append(time.perf_counter() - started)
        assert len(report.updated) == rows, report.to_json()
    engine.dispose()
    return {"unchanged_ms": 1000 * statistics.median(unchanged), "all_changed_ms": 1000 * statistics.median(changed)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print("| rows | tick, nothing changed (median ms) | tick, every row changed (median ms) |")
    print("|---|---|---|")
    for rows in (int(r) for r in args.rows.split(",")):
        figures = run(rows, args.repeat)
        print(f"| {rows} | {figures['unchanged_ms']:.1f} | {figures['all_changed_ms']:.1f} |")


if __name__ == "__main__":
    main()
