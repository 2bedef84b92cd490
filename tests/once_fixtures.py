"""Something expensive built once per test run, however many workers run it (pytest -n 4).

Parts: built_once (a directory in the run's shared temporary folder, built under a file lock by
the first worker that asks; the others wait for it and reuse it).

A build that fails or skips leaves no mark, so the next worker tries again and meets the same
failure itself: no test passes on another worker's half-built directory.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """The directory `name`, filled by `build(directory)` once for the whole run."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's basetemp sits in the run's one folder
    where = root / name
    ready = root / f"{name}.ready"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when build raises
        if not ready.exists():
            where.mkdir(exist_ok=True)
            build(where)
            ready.touch()
    return where
