"""Prometheus metrics: a registry of the app's own (tests create many apps), or, under gunicorn,
every worker's values added up.

Parts: Metrics (events, tasks finished, request latency, cloud API calls, capacity errors, the
replacement histograms, notifications, the API budget: throttled calls, seconds waited, its rate;
observe_task), BudgetMetrics (what the API budget tells, into those metrics), StoreCollector (tasks
by status, targets' desired and held capacity, channel health, reclaims per pool and whether the
churn guard demotes it (replace/churn.py), what purchases cost and reverts saved (replace/costs.py,
over the last COST_ROWS tasks): read from the store at scrape time,
for at most SCRAPE_WAIT_SECONDS, else the last levels read), CountingCloud
(counts a cloud port's calls by action and result), render, multiprocess_mode.

Under gunicorn each worker is a process with its own counters, and a scrape reaches one worker at
random. prometheus_client's multiprocess mode fixes that: with PROMETHEUS_MULTIPROC_DIR in the
environment before prometheus_client is first imported, every value lives in a file of that
directory, and a MultiProcessCollector sums the files of all workers, live or dead
(https://prometheus.github.io/client_python/multiprocess/). gunicorn.conf.py sets the directory.
The library decides the mode once, at import; multiprocess_mode asks it rather than the
environment, so /metrics can never aggregate files nobody writes. What is a level rather than a
count (tasks by status, capacity held) is read from the shared store when scraped, so every
worker answers the same and nothing is summed twice.

Names follow https://prometheus.io/docs/practices/naming/: a `responder_` prefix, base units
(`_seconds`), `_total` for counters, labels for what varies (never a task or instance id).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from responder.errors import CloudError, Fatal, Invalid, NoCapacity, NotFound, Throttled, Transient
from responder.notify.messages import timeline
from responder.replace.costs import PURCHASE_KINDS, CostSummary, summarize
from responder.replace.record import Task
from responder.store import tasks
from responder.store_health import health_of

COST_ROWS = 5000  # tasks whose purchases /metrics prices, newest first (the daily report reads as many)
SCRAPE_WAIT_SECONDS = 1.0  # a scrape serves the last levels read when the store takes longer
# A replacement takes from seconds (stock probe) to an hour (a large image): buckets up to 1 h.
REPLACEMENT_BUCKETS = (1, 5, 10, 20, 30, 60, 90, 120, 180, 300, 450, 600, 900, 1800, 3600)
MILESTONES = (  # histogram attribute, timing it ends at, timing it starts from
    ("to_image_requested", "image_requested", "received"),
    ("to_launch_issued", "launch_issued", "received"),
    ("to_running", "running", "received"),
)


def multiprocess_mode() -> bool:
    """True when prometheus_client keeps values in PROMETHEUS_MULTIPROC_DIR (chosen at its import)."""
    return values.ValueClass is not values.MutexValue


def _result(exc: BaseException | None) -> str:
    for kind, name in ((None, "ok"), (NoCapacity, "no_capacity"), (Throttled, "throttled"),
                       (Transient, "transient"), (NotFound, "not_found"), (Invalid, "invalid"), (Fatal, "fatal")):
        if (exc is None and kind is None) or (kind is not None and isinstance(exc, kind)):
            return name
    return "error"


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("responder_events_total", "Events received, by cloud, kind and outcome",
                              ["cloud", "kind", "outcome"], registry=r)
        self.finished = Counter("responder_tasks_finished_total", "Tasks finished, by cloud and status",
                                ["cloud", "status"], registry=r)
        self.request_seconds = Histogram("responder_request_seconds", "Time to answer an event delivery",
                                         ["endpoint"], registry=r,
                                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.api_calls = Counter("responder_cloud_api_calls_total", "Cloud API calls, by cloud, action and result",
                                 ["cloud", "action", "result"], registry=r)
        self.capacity_errors = Counter("responder_capacity_errors_total",
                                       "Insufficient-capacity answers, by instance type, zone and market",
                                       ["instance_type", "zone", "market"], registry=r)
        self.to_image_requested = Histogram(
            "responder_receipt_to_image_requested_seconds", "Receipt of the notice to the image request",
            ["cloud"], registry=r, buckets=REPLACEMENT_BUCKETS)
        self.to_launch_issued = Histogram(
            "responder_receipt_to_launch_issued_seconds", "Receipt of the notice to the replacement's launch",
            ["cloud"], registry=r, buckets=REPLACEMENT_BUCKETS)
        self.to_running = Histogram(
            "responder_receipt_to_running_seconds", "Receipt of the notice to the replacement Running",
            ["cloud"], registry=r, buckets=REPLACEMENT_BUCKETS)
        self.gap = Histogram(
            "responder_replacement_gap_seconds",
            "The original's release to the replacement Running (0 when it ran before the release)",
            ["cloud"], registry=r, buckets=(0,) + REPLACEMENT_BUCKETS)
        self.notifications_sent = Counter("responder_notifications_sent_total", "Notifications delivered, by channel",
                                          ["channel"], registry=r)
        self.notifications_failed = Counter("responder_notifications_failed_total",
                                            "Failed notification attempts, by channel", ["channel"], registry=r)
        self.api_throttled = Counter("responder_api_throttled_total",
                                     "Cloud API calls the cloud throttled, by cloud, region and action",
                                     ["cloud", "region", "action"], registry=r)
        self.budget_wait = Counter("responder_api_budget_wait_seconds_total",
                                   "Seconds calls waited for the client-side API budget, by cloud, region and bucket",
                                   ["cloud", "region", "bucket"], registry=r)
        # Under gunicorn: the sum over live workers, i.e. the rate this deployment allows itself.
        self.budget_rate = Gauge("responder_api_budget_rate", "The API budget's current rate (calls per second), "
                                 "by cloud, region and bucket", ["cloud", "region", "bucket"], registry=r,
                                 multiprocess_mode="livesum")
        self.store_collector: StoreCollector | None = None

    def observe_task(self, task) -> None:
        """A finished task's milestones into the histograms (a Task: its row and typed record)."""
        timings = task.record.timings
        received = timings.get("received", task.row.created_at)
        for attribute, end, _start in MILESTONES:
            if end in timings:
                getattr(self, attribute).labels(task.cloud).observe(max(0.0, timings[end] - received))
        gap = timeline(task).get("gap")
        if task.status == "done" and gap is not None:
            self.gap.labels(task.cloud).observe(gap)

    def watch_store(self, collector: "StoreCollector") -> None:
        self.store_collector = collector
        if not multiprocess_mode():
            self.registry.register(collector)

    def render(self) -> bytes:
        if not multiprocess_mode():
            return generate_latest(self.registry)

        # A fresh registry per scrape, as the library documents: the collector reads every
        # worker's files now, and this process's own registry would count its values twice.
        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        if self.store_collector is not None:
            merged.register(self.store_collector)
        return generate_latest(merged)


class BudgetMetrics:
    """The API budget's watcher (capacity/budget.py BudgetWatcher): what it sees, as metrics."""

    def __init__(self, metrics: Metrics):
        self._metrics = metrics

    def throttled(self, cloud: str, region: str, action: str) -> None:
        self._metrics.api_throttled.labels(cloud, region, action).inc()

    def waited(self, cloud: str, region: str, bucket: str, seconds: float) -> None:
        self._metrics.budget_wait.labels(cloud, region, bucket).inc(max(0.0, seconds))

    def rate(self, cloud: str, region: str, bucket: str, per_second: float) -> None:
        self._metrics.budget_rate.labels(cloud, region, bucket).set(per_second)


class StoreCollector:
    """Levels read from the shared store: tasks by status, each target's desired and held capacity
    (a callable the targets flow provides), each channel's health, and whether the last read
    worked (`responder_store_up`).

    A scrape never waits on the store longer than `wait`: it starts a read (unless one is still
    running) and serves what the read brings within that time, else the last levels read. A store
    that has gone silent holds a background read, not the scrape; a part that fails keeps its last
    value."""

    def __init__(self, store, targets: Callable[[], list[dict]] | None = None,
                 channel_health: Callable[[], dict[str, dict]] | None = None, wait: float = SCRAPE_WAIT_SECONDS,
                 pools: Callable[[], list[dict]] | None = None):
        self.store = store
        self.targets = targets
        self.channel_health = channel_health
        self.pools = pools
        self.pools_read: list[dict] = []
        self.wait = wait
        self.by_status: dict[str, int] = {}
        self.targets_read: list[dict] = []
        self.health_read: dict[str, dict] = {}
        self.costs_read = CostSummary()
        self.up = True
        self._reading: threading.Thread | None = None
        self._lock = threading.Lock()

    def _read(self) -> None:
        up = True
        try:
            with self.store.engine.connect() as conn:
                rows = conn.execute(sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)).all()
            self.by_status = {status: count for status, count in rows}
            self.costs_read = summarize((Task(r) for r in self.store.list(limit=COST_ROWS)), float("-inf"), time.time())
        except Exception:  # a scrape must answer while the store is down; /healthz says why
            up = False
        if self.targets is not None:
            try:
                self.targets_read = list(self.targets())
            except Exception:
                up = False
        if self.channel_health is not None:
            try:
                self.health_read = dict(self.channel_health())
            except Exception:
                up = False
        if self.pools is not None:
            try:
                self.pools_read = list(self.pools())
            except Exception:
                up = False
        self.up = up

    def refresh(self) -> None:
        with self._lock:
            if self._reading is None or not self._reading.is_alive():
                self._reading = threading.Thread(target=self._read, name="responder-metrics-read", daemon=True)
                self._reading.start()
            reading = self._reading
        reading.join(self.wait)

    def collect(self):
        self.refresh()
        health = health_of(self.store.engine)
        up = GaugeMetricFamily("responder_store_up", "1 when the store answers (the last read for these levels worked)")
        up.add_metric([], 1 if self.up and not (health is not None and health.down) else 0)
        yield up
        by_status = GaugeMetricFamily("responder_tasks", "Task rows, by status", labels=["status"])
        for status in ("received", "imaging", "launching", "done", "failed", "rejected"):
            by_status.add_metric([status], self.by_status.get(status, 0))
        yield by_status
        yield from _cost_families(self.costs_read)
        if self.targets is not None:
            desired = GaugeMetricFamily("responder_target_desired_capacity", "Capacity a target wants", labels=["target"])
            held = GaugeMetricFamily("responder_target_held_capacity", "Capacity a target holds", labels=["target"])
            for target in self.targets_read:
                desired.add_metric([target["name"]], target["desired"])
                held.add_metric([target["name"]], target["held"])
            yield desired
            yield held
        if self.channel_health is not None:
            failing = GaugeMetricFamily("responder_notification_channel_failing",
                                        "1 while a notification channel keeps failing", labels=["channel"])
            for name, state in self.health_read.items():
                failing.add_metric([name], 1 if state["status"] == "failing" else 0)
            yield failing
        if self.pools is not None:
            yield from _pool_metrics(self.pools_read)


POOL_LABELS = ["cloud", "region", "zone", "instance_type", "market"]


def _pool_metrics(pools: list[dict]):
    """Reclaims per pool within RESPONDER_CHURN_WINDOW_HOURS (instances, and the occasions the guard
    counts), and 1 while the churn guard demotes it."""
    reclaims = GaugeMetricFamily("responder_pool_reclaims", "Reclaims of our instances per pool within the churn "
                                 "window (RESPONDER_CHURN_WINDOW_HOURS)", labels=POOL_LABELS)
    occasions = GaugeMetricFamily("responder_pool_reclaim_occasions", "Occasions on which the pool reclaimed our "
                                  "instances within the churn window (a wave is one)", labels=POOL_LABELS)
    demoted = GaugeMetricFamily("responder_pool_demoted", "1 while the churn guard ranks the pool last",
                                labels=POOL_LABELS)
    for pool in pools:
        labels = [pool[name] for name in POOL_LABELS]
        reclaims.add_metric(labels, pool["reclaims"])
        occasions.add_metric(labels, pool["occasions"])
        demoted.add_metric(labels, 1 if pool["demoted"] else 0)
    yield reclaims
    yield occasions
    yield demoted


def _cost_families(costs: CostSummary):
    """What the tasks' purchases cost from each purchase until it ended or now, what still runs costs
    per hour (replacement: every interruption's purchase; fallback: the part on-demand or on a
    pricier type; revert: moves back to spot; planned_move: moves out of a stressed spot pool), what
    reverts saved, and how many prices are unknown."""
    spent = GaugeMetricFamily("responder_purchase_cost", "Money spent on what tasks bought, until it ended or now, "
                              "by kind and currency", labels=["kind", "currency"])
    hourly = GaugeMetricFamily("responder_purchase_hourly_cost", "What the purchases still running cost per hour, "
                               "by kind and currency", labels=["kind", "currency"])
    for kind in PURCHASE_KINDS:
        for currency, amount in costs.spent.get(kind, {}).items():
            spent.add_metric([kind, currency], round(amount, 6))
        for currency, amount in costs.hourly.get(kind, {}).items():
            hourly.add_metric([kind, currency], round(amount, 6))
    saved = GaugeMetricFamily("responder_revert_saved", "Money moving on-demand fallbacks back to spot saved, "
                              "by currency", labels=["currency"])
    for currency, amount in costs.saved.items():
        saved.add_metric([currency], round(amount, 6))
    unknown = GaugeMetricFamily("responder_purchase_prices_unknown", "Done tasks whose prices could not be read")
    unknown.add_metric([], costs.unknown)
    yield from (spent, hourly, saved, unknown)


class CountingCloud:
    """A cloud port that counts each call (by port verb and result) and each no-capacity answer
    (by the offering asked for) before passing the answer or the error on unchanged."""

    def __init__(self, cloud, name: str, metrics: Metrics):
        self._cloud, self._name, self._metrics = cloud, name, metrics

    def __setattr__(self, attribute, value):
        if attribute == "gate":  # the API budget belongs to the adapter this wraps
            setattr(self._cloud, attribute, value)
        else:
            object.__setattr__(self, attribute, value)

    def __getattr__(self, attribute):
        target = getattr(self._cloud, attribute)
        if not callable(target) or attribute.startswith("_"):
            return target

        def counted(*args, **kwargs):
            try:
                answer = target(*args, **kwargs)
            except CloudError as exc:
                self._metrics.api_calls.labels(self._name, attribute, _result(exc)).inc()
                if isinstance(exc, NoCapacity):
                    for offering in _offerings(args, kwargs):
                        market = getattr(offering.market, "value", offering.market)
                        self._metrics.capacity_errors.labels(offering.instance_type, offering.zone, market).inc()
                raise
            self._metrics.api_calls.labels(self._name, attribute, "ok").inc()
            return answer

        return counted


def _offerings(args, kwargs) -> list:
    for value in list(args) + list(kwargs.values()):
        if hasattr(value, "offerings"):  # a LaunchRequest
            return list(value.offerings)
        if hasattr(value, "instance_type") and hasattr(value, "zone") and hasattr(value, "market"):
            return [value]
    return []
