"""The fleet (RESPONDER_FLEET_SELECTORS) read from the cloud, and its instances in published-stressed
pools adopted so planned moves judge them (the rule: adoption.py).

Parts: FLEET_SCAN_SECONDS, Look (one fleet instance: its pool's band, why it is not adopted),
known_instances (what the store's tasks placed or hold), read_fleet (one selector's instances and
bands), look_fleet (every selector, judged; with `write`, adopted; the dry run's without), adopt_due (the revert pass's
call: once per FLEET_SCAN_SECONDS per process).

Reads per selector and pass: DescribeInstances by the tag, one call per page of 100 instances, and
the published bands of the types found through the executor's band reads (a day per cloud, region
and types); never a call per instance: a fleet of 1,000 is ten calls. They go through the API
budget (the runner gives the adapters its gate) after the interruptions' calls are asked for.
Why every FLEET_SCAN_SECONDS rather than every revert pass (a minute): a fleet changes when its
owner launches instances, the bands are a trailing month read once a day, and a planned move waits
RESPONDER_REVERT_AFTER after the adoption anyway; a read a minute per process would spend the API
budget interruptions share for nothing.

Adopting twice is ruled out by the claim key (adoption.adopted_key): a second ticker, another
process or a restart finds the row. The row is claimed leased, then finished: a crash between the
two leaves it leased for two passes, and the next pass finishes it before any ticker would work it.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

from responder.clouds.base import InstanceInfo
from responder.clouds.spot_bands import band_for
from responder.errors import CloudError
from responder.model import RECORD_KINDS
from responder.replace import calm_rule
from responder.replace.record import Task
from responder.revert.adoption import ADOPTED, adopted_key, adopted_record, calmer_zone, cloud_says, store_says
from responder.revert.scan import SCAN_LIMIT, interrupted
from responder.settings import SPOT_BANDS
from responder.store import Store

log = logging.getLogger("responder.revert")
FLEET_SCAN_SECONDS = 900.0
ADOPT_LEASE_SECONDS = 2 * FLEET_SCAN_SECONDS
_next_read: "weakref.WeakKeyDictionary[object, float]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Look:
    cloud: str
    info: InstanceInfo
    band: int | None
    why: str = ""  # why it is not adopted; "" adopted (or, in a dry run, would be)
    adopted_as: str = ""  # the task row that adopted it before ("" if none)

    def to_json(self) -> dict:
        info = self.info
        band = SPOT_BANDS[self.band] if self.band is not None else "none published"
        return {"cloud": self.cloud, "region": info.region, "instance_id": info.instance_id,
                "from": f"{info.instance_type} ({'spot' if info.spot else 'on-demand'}) in {info.zone}",
                "band": band, "adopt": not self.why, "why": self.why or f"fleet instance in a pool published at {band}"}


def known_instances(store: Store, limit: int = SCAN_LIMIT) -> set[str]:
    """Every instance the newest `limit` tasks name: the ones they were about, the ones they bought."""
    known: set[str] = set()
    for row in store.list(limit=limit):
        if row.kind in RECORD_KINDS:
            continue
        task = Task(row)
        known.add(row.instance_id)
        known.update(task.record.launch.replacement_ids)
        if task.record.revert is not None and task.record.revert.bought_instance_id:
            known.add(task.record.revert.bought_instance_id)
    return known


def read_fleet(runner, selector: tuple[str, str, str, str]) -> list[Look]:
    """One selector's running instances, each with its pool's published band and the cloud's verdict."""
    cloud_name, region, key, value = selector
    cloud = runner.clouds[cloud_name]
    infos = cloud.fleet_instances(region, key, value)
    types = sorted({i.instance_type for i in infos if i.spot})
    view = runner.executor.probes.band_reads.read(cloud_name, region, cloud, types) if types else None
    bands = view.bands if view is not None else {}
    looks = []
    for info in infos:
        band = band_for(bands, info.instance_type, info.zone) if info.spot else None
        why = cloud_says(info, band, runner.settings, cloud.capabilities.retires_tagged_only,
                         calmer_zone(bands, info, runner.settings))
        looks.append(Look(cloud_name, info, band, why))
    return looks


def look_fleet(runner, now: float, write: bool = True) -> list[Look]:
    """Every fleet instance, judged; with `write`, the ones that qualify adopted. A selector whose
    cloud is not configured or whose read fails is skipped (logged): the next pass reads it again."""
    settings, store = runner.settings, runner.store
    if not settings.fleet_selectors or not calm_rule.enabled(settings):
        return []
    known: set[str] | None = None  # read once, and only when an instance gets that far
    looks: list[Look] = []
    for selector in settings.fleet_selectors:
        if selector[0] not in runner.clouds:
            continue
        try:
            found = read_fleet(runner, selector)
        except CloudError as exc:
            log.warning("reading the fleet %s:%s:%s=%s failed: %s", *selector, exc)
            continue
        for look in found:
            if not look.why:
                known = known_instances(store) if known is None else known
                look = _judged(store, look, known)
                if not look.why and write:
                    _adopt(store, look, now)
            looks.append(look)
    return looks


def _judged(store: Store, look: Look, known: set[str]) -> Look:
    """The store's say on an instance the cloud's view allows: adopted already, placed by a task of
    ours, or interrupted."""
    info = look.info
    row = store.get_by_key(adopted_key(look.cloud, info.region, info.instance_id))
    if row is not None and row.status == "done":
        return Look(look.cloud, info, look.band, f"adopted already ({row.id})", adopted_as=row.id)
    why = store_says(info.instance_id in known, interrupted(store, look.cloud, info.region, info.instance_id))
    return Look(look.cloud, info, look.band, why) if why else look


def _adopt(store: Store, look: Look, now: float) -> None:
    info = look.info
    record = adopted_record(info, look.band, now)
    claimed = store.claim(adopted_key(look.cloud, info.region, info.instance_id), look.cloud, info.region,
                          info.instance_id, ADOPTED, data=record.to_json(), lease_seconds=ADOPT_LEASE_SECONDS)
    row = claimed.task
    if row.status == "done":
        return  # adopted before, by this process or another
    row.status, row.data = "done", record.to_json()  # a row a crash left unfinished gets this read's record
    row.reason = (f"adopted: fleet spot instance {info.instance_type} in {info.zone}, a pool published at "
                  f"{SPOT_BANDS[look.band]} a month (RESPONDER_FLEET_SELECTORS)")
    store.save(row)
    store.release(row.id)


def adopt_due(runner, now: float, force: bool = False) -> list[Look]:
    """The fleet read and adopted when this process's last read is FLEET_SCAN_SECONDS old (`force`: now)."""
    if not runner.settings.fleet_selectors:
        return []
    if not force and now < _next_read.get(runner, float("-inf")):
        return []
    _next_read[runner] = now + FLEET_SCAN_SECONDS
    return look_fleet(runner, now)
