"""The checks a new or changed target must pass with its cloud, before it is stored (read-only
calls; targets/checks.py has the ones that ask no cloud).

Parts: check_with_cloud.
"""

from __future__ import annotations

from responder.errors import CloudError, Invalid, NotFound
from responder.targets.model import Target, TargetInvalid
from responder.targets.oci_resolve import check_oci_with_cloud


def check_with_cloud(t: Target, clouds: dict) -> None:
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
        except CloudError as exc:
            raise TargetInvalid("image", f"the cloud could not check {t.launch.image_id}: {exc.code}") from None
