"""Aliyun replacement benchmark: receipt → CreateImage, image Available → RunInstances,
API calls per replacement and a 200-event burst, on the wire sandbox at 0 ms and 50 ms per call.

Run: python bench/aliyun_replacement.py [--events 100] [--burst 200] [--senders 16] [--json]
Method and figures: BENCHMARKS.md, "Aliyun replacement". Harness: bench/common.py.
"""

from __future__ import annotations

import random
import string

from common import CloudBench, main

_ALNUM = string.ascii_lowercase + string.digits


def _aliyun_id(rng: random.Random) -> str:
    return "i-bp1" + "".join(rng.choice(_ALNUM) for _ in range(17))


ALIYUN = CloudBench(
    cloud="aliyun",
    event_file="aliyun/cloudmonitor-interruption.json",
    make_id=_aliyun_id,
    is_doomed=lambda inst: "Recycling" in (inst.get("locks") or []),
    launch_action="RunInstances",
    image_created_at=lambda emulator, image_id: emulator.world.images[image_id]["created"],
    old_system={"calls before CreateImage": "~6", "image Available -> RunInstances": "up to 20 s, ~10 s on average "
                "(polled every 20 s)"},
)

if __name__ == "__main__":
    main(ALIYUN)
