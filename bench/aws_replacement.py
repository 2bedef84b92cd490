"""AWS replacement benchmark: receipt → CreateImage, image Available → CreateFleet,
API calls per replacement and a 200-event burst, on the wire sandbox at 0 ms and 50 ms per call,
set against the 2-minute spot interruption warning.

Run: python bench/aws_replacement.py [--events 100] [--burst 200] [--senders 16] [--json]
Method and figures: BENCHMARKS.md, "AWS replacement". Harness: bench/common.py.
"""

from __future__ import annotations

import random

from common import CloudBench, main


def _aws_id(rng: random.Random) -> str:
    return "i-" + "".join(rng.choice("0123456789abcdef") for _ in range(17))


AWS = CloudBench(
    cloud="aws",
    event_file="aws/spot-interruption-warning.json",
    make_id=_aws_id,
    is_doomed=lambda inst: inst.get("spot_request_state") == "marked-for-termination",
    launch_action="CreateFleet",
    # The emulator's ImageBook keeps (scenario time of CreateImage, result) per image id.
    image_created_at=lambda emulator, image_id: emulator.images._images[image_id][0],
    old_system={"calls before CreateImage": "~6", "image Available -> launch": "up to 20 s, ~10 s on average "
                "(polled every 20 s)"},
    window_seconds=120.0,
)

if __name__ == "__main__":
    main(AWS)
