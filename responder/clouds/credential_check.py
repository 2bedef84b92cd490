"""A served cloud's credential check that only its SDK's credential chain can answer, run once
after a server's start instead of during it.

AWS without keys in the environment is the case: boto3's chain (profile, container or instance
role) is the only judge, and importing boto3 for it cost a server's start about 0.1 s of CPU and
9 MB of peak RSS before its first answer (BENCHMARKS.md, "Cold start of the artifacts as
shipped"). The adapter is built as if the chain will find credentials (it imports boto3 itself
on its first call); the check runs in the ticker's thread as it starts, or in the first request
that comes before that, and every request and tick waits for its answer before it reads the
clouds: an event is never acted on, and /healthz never answers, as if unchecked credentials
were there. A cloud the chain finds nothing for leaves the clouds and joins the unconfigured
ones, as a start-up check would have made it.

Parts: CredentialCheck (resolve: once, thread-safe; done: whether it has run).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

log = logging.getLogger("responder.web")


class CredentialCheck:
    """`checks`: cloud → a check returning why the cloud is unconfigured ("" when it is not)
    (responder.clouds.factory.chain_checks). `clouds` and `unconfigured` are the app's own dicts,
    changed in place; `on_done` runs once, after the answers are in them (the start-up notice and
    log lines, which name the clouds)."""

    def __init__(self, checks: Mapping[str, Callable[[], str]], clouds: MutableMapping[str, Any],
                 unconfigured: MutableMapping[str, str], on_done: Callable[[], None]):
        self._checks = dict(checks)
        self._clouds, self._unconfigured, self._on_done = clouds, unconfigured, on_done
        self._lock = threading.Lock()
        self._done = threading.Event()

    @property
    def done(self) -> threading.Event:
        return self._done

    def resolve(self) -> None:
        """Run the checks unless they have run; a second caller waits for the first one's answer."""
        if self._done.is_set():
            return
        with self._lock:
            if self._done.is_set():
                return
            for cloud, check in self._checks.items():
                try:
                    reason = check()
                # Any failure of the chain (a broken profile or config file) leaves the cloud uncallable.
                except Exception as exc:  # noqa: BLE001
                    reason = f"the {cloud} credential chain failed: {exc.__class__.__name__}"
                    log.warning("cloud %s: credential check failed (%s)", cloud, exc.__class__.__name__)
                if reason:
                    self._clouds.pop(cloud, None)
                    self._unconfigured[cloud] = reason
            try:
                self._on_done()
            finally:
                self._done.set()
