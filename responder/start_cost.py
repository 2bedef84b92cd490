"""What an entry point's start need not pay: the cyclic garbage collector walking the modules it imports.

Parts: collector_paused (a context manager around an entry point's imports and its app's set-up).

Importing the app allocates a few hundred thousand objects (SQLAlchemy's, Flask's, the responder's
own records and tables), nearly all of them alive until the process ends. With the collector's
default thresholds every 700 allocations start a collection, and the older generations are walked
again and again as the heap grows: about an eighth of the FC package's import CPU
(bench/cold_start.py, BENCHMARKS.md "Cold start of the artifacts as shipped"). So the collector is
off while the entry point imports, and what is alive at the end moves to the permanent generation
(gc.freeze, "ignore them in all the future collections"): later collections walk only what the
requests allocate, instead of paying the import's objects once more at the first request.
Reference counting frees every acyclic object as before; an import-time cycle (rare) is kept.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block; afterwards everything alive is frozen and the
    collector is on again if it was on before (a host that turned it off keeps it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
