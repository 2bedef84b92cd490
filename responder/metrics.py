"""Prometheus metrics: a registry of the app's own (tests create many apps), or, under gunicorn,
every worker's values added up.

Parts: Metrics (events, tasks finished, request latency), render, multiprocess_mode.

Under gunicorn each worker is a process with its own counters, and a scrape reaches one worker at
random. prometheus_client's multiprocess mode fixes that: with PROMETHEUS_MULTIPROC_DIR in the
environment before prometheus_client is first imported, every value lives in a file of that
directory, and a MultiProcessCollector sums the files of all workers, live or dead
(https://prometheus.github.io/client_python/multiprocess/). gunicorn.conf.py sets the directory.
The library decides the mode once, at import; multiprocess_mode asks it rather than the
environment, so /metrics can never aggregate files nobody writes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values


def multiprocess_mode() -> bool:
    """True when prometheus_client keeps values in PROMETHEUS_MULTIPROC_DIR (chosen at its import)."""
    return values.ValueClass is not values.MutexValue


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.events = Counter("responder_events_total", "Events received, by cloud, kind and outcome",
                              ["cloud", "kind", "outcome"], registry=self.registry)
        self.finished = Counter("responder_tasks_finished_total", "Tasks finished, by cloud and status",
                                ["cloud", "status"], registry=self.registry)
        self.request_seconds = Histogram("responder_request_seconds", "Time to answer an event delivery",
                                         ["endpoint"], registry=self.registry,
                                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    def render(self) -> bytes:
        if not multiprocess_mode():
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        # A fresh registry per scrape, as the library documents: the collector reads every
        # worker's files now, and this process's own registry would count its values twice.
        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        return generate_latest(merged)
