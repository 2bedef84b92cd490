"""`responder protect`: a recent image of every instance carrying a tag, with retention.

Parts: ProtectReport, image_name_for (one name per instance and period: a second run in the same
period makes no second image), protect_fleet (image, then retention through leftovers.py).

Why: `latest-image` launches at once from the newest image we made of the instance, and a disk
that was snapshotted before has an incremental next snapshot, so the interruption's own image is
ready sooner. Retention only ever sees images tagged responder:source-instance (CloudPort.own_images)
and deletes an image together with its snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from responder.capacity.tokens import token_for
from responder.clouds.base import CloudPort
from responder.errors import CloudError
from responder.protect.leftovers import GRACE_SECONDS, cloud_leftovers, remove

MADE_BY = ("responder:made-by", "protect")


@dataclass
class ProtectReport:
    imaged: list[str] = field(default_factory=list)  # this period's image of each instance (made now or earlier)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = True  # False: out of time, the instances left and retention wait for the next run
    tagged: int = 0  # instances found with the tag (0: nothing to image, and the command says so)

    def to_json(self) -> dict:
        return {"imaged": self.imaged, "deleted": self.deleted, "errors": self.errors, "complete": self.complete}


def image_name_for(instance_id: str, period: int) -> str:
    return f"responder-protect-{instance_id}-{period}"


def protect_fleet(cloud: CloudPort, region: str, tag: tuple[str, str], period_seconds: float, now: float,
                  keep: int = 2, max_interruption_images: int = 1, task_open: Callable[[str], bool] | None = None,
                  grace: float = GRACE_SECONDS,
                  out_of_time: Callable[[], bool] = lambda: False) -> ProtectReport:
    """Image every instance tagged `tag` once per period, then apply retention: our images beyond
    `keep` (with their snapshots), our snapshots whose image is gone, our launch templates whose
    task ended (`task_open`; None: none ends); snapshots and templates only once older than `grace`.
    `out_of_time` is asked before each instance and before retention: a tick's pass is bounded, and
    what it left is done by the next one (the names and tokens make a repeated instance free)."""
    report = ProtectReport()
    period = int(now // period_seconds)
    # This period's images already made (an earlier pass cut short by its budget, a concurrent
    # ticker) are read once and skipped: a resumed pass spends its budget on what is left.
    made = {i.name: i.image_id for i in cloud.own_images(region) if i.made_by == MADE_BY[1]}
    tagged = cloud.instances_tagged(region, *tag)
    report.tagged = len(tagged)
    for instance_id in tagged:
        if out_of_time():
            report.complete = False
            return report
        name = image_name_for(instance_id, period)
        if name in made:
            report.imaged.append(made[name])
            continue
        try:
            report.imaged.append(cloud.create_image(
                region, instance_id, name, client_token=token_for(f"protect:{region}:{instance_id}", str(period)),
                tags=(("responder:source-instance", instance_id), MADE_BY)))
        except CloudError as exc:  # one instance's refusal must not stop the fleet
            report.errors.append(f"{instance_id}: {exc}")
    if out_of_time():
        report.complete = False
        return report
    try:
        leftovers = cloud_leftovers(cloud, region, keep, max_interruption_images, task_open or (lambda _: True), now,
                                    grace)
    except CloudError as exc:  # retention waits for the next run; the images made stand
        report.errors.append(f"listing what to clean up: {exc}")
        return report
    deleted, errors = remove(cloud, leftovers)
    report.deleted += deleted
    report.errors += errors
    return report
