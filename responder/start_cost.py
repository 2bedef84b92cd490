"""What an entry point's start need not pay: the cyclic collector walking the modules it imports, and
standard modules a library imports at its top but the responder never calls.

Parts: collector_paused (a context manager around an entry point's imports and its app's set-up),
defer_unused_stdlib (asyncio and importlib.metadata, loaded at their first use instead).

Importing the app allocates a few hundred thousand objects (SQLAlchemy's, Flask's, the responder's
own records and tables), nearly all of them alive until the process ends. With the collector's
default thresholds every 700 allocations start a collection, and the older generations are walked
again and again as the heap grows: about an eighth of the FC package's import CPU
(bench/cold_start.py, BENCHMARKS.md "Cold start of the artifacts as shipped"). So the collector is
off while the entry point imports, and what is alive at the end moves to the permanent generation
(gc.freeze, "ignore them in all the future collections"): later collections walk only what the
requests allocate, instead of paying the import's objects once more at the first request.
Reference counting frees every acyclic object as before; an import-time cycle (rare) is kept.

SQLAlchemy 2.0 imports asyncio and importlib.metadata at the top of sqlalchemy/util/compat.py (and
asyncio in util/concurrency.py, util/queue.py, the aiosqlite dialect) for its asyncio extension and
its entry-point plugin lookup. The synchronous store calls neither: asyncio only for an async engine
or to tell a CancelledError apart while a pool handles an exception, importlib.metadata only for a
dialect that is not built in. Loading both (with ssl, subprocess, email, zipfile...) is about a
tenth of the FC package's import. DEFERRED puts each in sys.modules unexecuted; the first attribute
read runs it (importlib.util.LazyLoader's approach, with a lock: LazyLoader on Python 3.10 and 3.11
lets a second thread see a half-run module). A process that uses them pays the same import later.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import sys
import threading
import types
from collections.abc import Iterator

DEFERRED = ("asyncio", "importlib.metadata")
_pending: dict[str, object] = {}  # module name -> its spec, until the module's first use
_loading = threading.RLock()  # one thread runs a deferred module; the others wait for all of it


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


class _DeferredModule(types.ModuleType):
    """A module in sys.modules whose code runs when a name it does not hold yet is first read."""

    def __getattr__(self, attr: str):
        with _loading:
            spec = _pending.pop(self.__name__, None)
            if spec is not None:  # the first use: run the module in its own (already listed) object
                try:
                    spec.loader.exec_module(self)  # another thread's read waits on the lock meanwhile
                except BaseException:
                    sys.modules.pop(self.__name__, None)  # as a failed import leaves it: not imported
                    raise
                finally:
                    self.__class__ = types.ModuleType  # a plain module from now on
        try:
            return self.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}") from None


def defer_unused_stdlib(names: tuple[str, ...] = DEFERRED) -> None:
    """List each module (not yet imported) in sys.modules without running it; its first use runs it."""
    with _loading:
        for name in names:
            if name in sys.modules:
                continue
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                continue
            module = importlib.util.module_from_spec(spec)
            module.__class__ = _DeferredModule
            _pending[name] = spec
            sys.modules[name] = module
            parent, _, child = name.rpartition(".")
            if parent:  # `from importlib import metadata` reads the parent's attribute
                setattr(sys.modules[parent], child, module)
