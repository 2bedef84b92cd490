"""The OCI A1 provisioner's `stats.json`, kept: with RESPONDER_STATS_FILE set, every tick writes
each target's attempt statistics to that file, for the scripts and dashboards that read the old one.

Parts: STATS_VERSION, stats_document (the file's content from the target rows), write_stats_file
(atomic: a reader never sees half a file, two tickers never interleave).

The old tool's README documents the file only as "attempt statistics" (시도 통계 기록) feeding the
24-hour daily report. The document keeps that role, keyed by the instance's display name as the
old script's own log lines were: per target its attempts, outcomes by kind, attempts per
availability domain, first / last attempt, last error, when it was acquired and what it holds.
Names print as text (ensure_ascii=False: a Korean display name stays readable).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from typing import Any

from responder.targets.table import TargetRow

STATS_VERSION = 1
FIELDS = ("state", "attempts", "outcomes", "attempts_by_zone", "first_attempt", "last_attempt", "last_error",
          "acquired_at", "held", "preempted")


def stats_document(rows: list[TargetRow], now: float) -> dict[str, Any]:
    targets = {}
    for row in rows:
        view = row.to_json()
        launch = row.target.launch
        key = launch.name or row.target.name  # the old file's key: the instance's display name
        targets[key] = {"target": row.target.name, "cloud": row.target.cloud, "region": row.target.region,
                        "shape": row.target.instance_types[0] if row.target.instance_types else "",
                        **{f: view.get(f) for f in FIELDS}}
    return {"version": STATS_VERSION,
            "updated_at": _dt.datetime.fromtimestamp(now, _dt.timezone.utc).isoformat(timespec="seconds"),
            "targets": targets}


def write_stats_file(path: str, document: dict[str, Any]) -> None:
    """Write next to the file, then rename over it (atomic on POSIX and Windows)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".stats-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, ensure_ascii=False, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
