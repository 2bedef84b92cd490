"""Reading what a task bought and what its original cost, per hour, into the record's `costs`.

Parts: read_price (one offering's price, or why it is unknown), price_purchase (the Costs of one
purchase: original and bought, for any flow that buys — a replacement, a move back to spot),
purchase_of (what a done replacement task bought), price_task (the runner's hook: a done task's
costs, read once).

Never on the critical path of a race: prices are read once the task is done (the replacement
runs, the data is moved), through the adapter's price cache and the API budget like any call. A
read the budget defers, the cloud throttles or refuses leaves that price unknown, with the reason,
and the task ends as it would have; nothing waits or retries for a price.
"""

from __future__ import annotations

import logging

from responder.clouds.base import CloudPort
from responder.errors import CloudError, Deferred
from responder.model import Market, Offering
from responder.replace.costs import Costs, PriceRead
from responder.replace.record import Task

log = logging.getLogger("responder.costs")


def read_price(cloud: CloudPort, region: str, offering: Offering, now: float) -> PriceRead:
    read = PriceRead(offering.instance_type, offering.zone, Market(offering.market).value, read_at=now)
    try:
        price = cloud.hourly_price(region, offering)
    except Deferred:
        read.unknown = "deferred by the API budget"
    except CloudError as exc:
        read.unknown = exc.code or type(exc).__name__
    else:
        read.hourly, read.currency, read.source = price.price, price.currency, price.source
    return read


def price_purchase(cloud: CloudPort, region: str, original: Offering, bought: Offering, count: int,
                   since: float | None, instance_ids: list[str], now: float) -> Costs:
    """The costs section of a purchase: the original's price and the bought offering's."""
    return Costs(original=read_price(cloud, region, original, now), bought=read_price(cloud, region, bought, now),
                 count=count, since=since, instance_ids=list(instance_ids))


def purchase_of(task: Task) -> tuple[Offering, Offering, int, float | None, list[str]] | None:
    """(original, bought, count, since, instance ids) of a done task that bought something, else None."""
    record = task.record
    source, launch, reserved = record.source, record.launch, record.reservation.reserved
    if source is None or task.status != "done":
        return None
    original = Offering(source.instance_type, source.zone, Market.SPOT if source.spot else Market.ONDEMAND)
    bought = launch.launched_offering or (launch.replacement.offering if launch.replacement else None)
    if bought is not None and launch.replacement_ids:
        return original, bought, len(launch.replacement_ids), launch.launched_at, list(launch.replacement_ids)
    if reserved is not None:  # an On-Demand Capacity Reservation bills its units at the on-demand price
        since = record.timings.get("finished")  # the reservation is made in the step that ends the task
        return original, Offering(reserved.instance_type, reserved.zone, Market.ONDEMAND), reserved.count, since, []
    return None


def price_task(cloud: CloudPort, task: Task, now: float) -> None:
    """Fill a done task's `costs` once; a failure leaves it with the prices unknown, never raises."""
    if task.record.costs is not None:
        return
    try:
        purchase = purchase_of(task)
        if purchase is not None:
            original, bought, count, since, ids = purchase
            task.record.costs = price_purchase(cloud, task.region, original, bought, count, since, ids, now)
    except Exception as exc:  # a price is a report's figure: it must never undo or stop a replacement
        log.exception("task %s: prices could not be read", task.id)
        task.record.costs = Costs(original=PriceRead(unknown=type(exc).__name__),
                                  bought=PriceRead(unknown=type(exc).__name__))
