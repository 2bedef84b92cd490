"""responder/start_cost.py: a deferred module runs once, whole, however many threads first use it
at once; a failed run leaves it unimported; the collector pause gives back the collector as found.

Parts: each case in a fresh interpreter (-S: nothing has imported asyncio or importlib.metadata yet).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> dict:
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_sixteen_threads_first_using_a_deferred_module_at_once_all_see_it_whole():
    found = _run("""
import json, sys, threading
from responder.start_cost import defer_unused_stdlib
defer_unused_stdlib()
import asyncio
from importlib import metadata
unrun = "get_event_loop" not in vars(asyncio) and "version" not in vars(metadata)
start = threading.Barrier(16)
seen = []
def first_use():
    start.wait()
    seen.append((asyncio.CancelledError.__name__, asyncio.run(asyncio.sleep(0, "ok"))))
threads = [threading.Thread(target=first_use) for _ in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps({"unrun": unrun, "seen": sorted(set(seen)), "count": len(seen),
                  "same": sys.modules["asyncio"] is asyncio, "plain": type(asyncio).__name__,
                  "metadata_parent": __import__("importlib").metadata is metadata}))
""")
    assert found == {"unrun": True, "seen": [["CancelledError", "ok"]], "count": 16, "same": True, "plain": "module",
                     "metadata_parent": True}


def test_a_deferred_module_whose_run_fails_is_left_unimported_as_a_failed_import_is(tmp_path):
    (tmp_path / "breaks_on_use.py").write_text("VALUE = 1\nraise RuntimeError('broken at import')\n")
    found = _run(f"""
import json, sys
sys.path.insert(0, {str(tmp_path)!r})
from responder.start_cost import defer_unused_stdlib
defer_unused_stdlib(("breaks_on_use",))
import breaks_on_use
try:
    breaks_on_use.VALUE
    error = ""
except RuntimeError as exc:
    error = str(exc)
print(json.dumps({{"error": error, "listed_after": "breaks_on_use" in sys.modules}}))
""")
    assert found == {"error": "broken at import", "listed_after": False}


def test_the_collector_pause_freezes_what_was_built_and_keeps_a_collector_the_host_turned_off():
    found = _run("""
import gc, json
from responder.start_cost import collector_paused
with collector_paused():
    inside = gc.isenabled()
    built = [[i] for i in range(1000)]
on_after = gc.isenabled()
gc.disable()
with collector_paused():
    pass
print(json.dumps({"inside": inside, "on_after": on_after, "frozen": gc.get_freeze_count() >= 1000,
                  "off_kept_off": not gc.isenabled()}))
""")
    assert found == {"inside": False, "on_after": True, "frozen": True, "off_kept_off": True}
