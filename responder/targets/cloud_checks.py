"""The checks a new or changed target must pass with its cloud, before it is stored (read-only
calls; targets/checks.py has the ones that ask no cloud).

Parts: check_with_cloud (waits out a throttle: the check only reads, so asking again is safe),
_check_once.
"""

from __future__ import annotations

import time
from typing import Callable

from responder.errors import CloudError, Invalid, NotFound, Throttled
from responder.targets.model import Target, TargetInvalid
from responder.targets.oci_resolve import check_oci_with_cloud

# Seconds between tries of a throttled check (ECS advises probing a second after a throttle, then
# backing off): about 15 s in all before the command gives up and says so.
THROTTLE_WAITS = (1.0, 2.0, 4.0, 8.0)


def check_with_cloud(t: Target, clouds: dict, sleep: Callable[[float], None] = time.sleep) -> None:
    for wait in THROTTLE_WAITS:
        try:
            return _check_once(t, clouds)
        except Throttled:
            sleep(wait)
    try:
        return _check_once(t, clouds)
    except Throttled as exc:
        raise TargetInvalid("cloud", f"the cloud kept throttling the check ({exc.code}): try again later, "
                                     "or pass --no-cloud-check") from None


def _check_once(t: Target, clouds: dict) -> None:
    """Unknown types are refused by the cloud's own catalog, an --image that does not exist by
    DescribeImages (no write is made); OCI: the ADs, the subnet and the image must exist."""
    cloud = clouds.get(t.cloud)
    if cloud is None:
        raise TargetInvalid("cloud", f"no {t.cloud} credentials are configured (or pass --no-cloud-check)")
    if t.cloud == "oci":
        return check_oci_with_cloud(t, cloud)
    try:
        if t.cloud == "aws":
            known = set(cloud.instance_types(t.region, list(t.instance_types)))
        else:
            known = set(cloud.instance_types(t.region))
    except Throttled:
        raise
    except CloudError as exc:
        if exc.code.startswith("InvalidInstanceType"):
            known = set()
        else:
            raise TargetInvalid("instance_types", f"the cloud could not check them: {exc.code}") from None
    unknown = [it for it in t.instance_types if it not in known]
    if unknown:
        raise TargetInvalid("instance_types", f"{', '.join(unknown)} is not offered in {t.region}")
    if t.launch.image_id:  # a launch from an image that is not there would fail on every tick
        try:
            cloud.describe_image(t.region, t.launch.image_id)
        except (NotFound, Invalid):  # EC2: InvalidAMIID.NotFound, or .Malformed for an id of no image's form
            raise TargetInvalid("image", f"{t.launch.image_id} does not exist in {t.region} (give an image id "
                                         "this account can launch)") from None
        except Throttled:
            raise
        except CloudError as exc:
            raise TargetInvalid("image", f"the cloud could not check {t.launch.image_id}: {exc.code}") from None
