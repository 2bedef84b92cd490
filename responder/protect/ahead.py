"""`responder protect`: a recent image of every instance carrying a tag, with retention.

Parts: ProtectReport, image_name_for (one name per instance and period: a second run in the same
period makes no second image), plan_retention (pure: which of our images to delete), protect_fleet.

Why: `latest-image` launches at once from the newest image we made of the instance, and a disk
that was snapshotted before has an incremental next snapshot, so the interruption's own image is
ready sooner. Retention only ever sees images tagged responder:source-instance (CloudPort.own_images)
and deletes an image together with its snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from responder.capacity.tokens import token_for
from responder.clouds.base import CloudPort, OwnImage
from responder.errors import CloudError

MADE_BY = ("responder:made-by", "protect")


@dataclass
class ProtectReport:
    imaged: list[str] = field(default_factory=list)  # image ids made now
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"imaged": self.imaged, "deleted": self.deleted, "errors": self.errors}


def image_name_for(instance_id: str, period: int) -> str:
    return f"responder-protect-{instance_id}-{period}"


def plan_retention(images: list[OwnImage], keep: int, max_interruption_images: int) -> list[str]:
    """Our images to delete: per instance, protect images beyond the newest `keep` that are
    available (a pending one never counts as kept), and interruption images beyond the newest
    `max_interruption_images`. Failed images of ours always go."""
    doomed = [i.image_id for i in images if i.state == "failed"]
    by_instance: dict[tuple[str, str], list[OwnImage]] = {}
    for image in images:
        if image.state != "failed":
            by_instance.setdefault((image.instance_id, image.made_by), []).append(image)
    for (_, made_by), group in by_instance.items():
        limit = keep if made_by == "protect" else max_interruption_images
        ready = sorted((i for i in group if i.state == "available"), key=lambda i: i.created, reverse=True)
        doomed += [i.image_id for i in ready[limit:]]
    return doomed


def protect_fleet(cloud: CloudPort, region: str, tag: tuple[str, str], period_seconds: float, now: float,
                  keep: int = 2, max_interruption_images: int = 1) -> ProtectReport:
    report = ProtectReport()
    period = int(now // period_seconds)
    for instance_id in cloud.instances_tagged(region, *tag):
        name = image_name_for(instance_id, period)
        try:
            report.imaged.append(cloud.create_image(
                region, instance_id, name, client_token=token_for(f"protect:{region}:{instance_id}", str(period)),
                tags=(("responder:source-instance", instance_id), MADE_BY)))
        except CloudError as exc:  # one instance's refusal must not stop the fleet
            report.errors.append(f"{instance_id}: {exc}")
    for image_id in plan_retention(cloud.own_images(region), keep, max_interruption_images):
        try:
            cloud.delete_image(region, image_id)
            report.deleted.append(image_id)
        except CloudError as exc:
            report.errors.append(f"{image_id}: {exc}")
    return report
