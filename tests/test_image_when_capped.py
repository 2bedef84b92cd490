"""RESPONDER_IMAGE_WHEN_CAPPED: whether a task whose launch the money cap refuses still takes its
image. A burst of 12 interruptions under a cap of 4, through the real aliyun SDK on the sandbox:
`yes` (the default, data first) images all 12 and launches 4; `no` images and launches 4 and
writes nothing for the other 8. Either way the record and the notification say what happened."""

from __future__ import annotations

from collections import Counter

import pytest

from responder.notify.messages import task_notices
from responder.replace.capped import IMAGED_ONLY, NOT_IMAGED
from tests.test_multiprocess import interruption, many_doomed_scenario

DOOMED = [f"i-bp1capped{n:010d}" for n in range(12)]
CAP = 4


def _burst(responder_factory, image_when_capped: bool):
    client, runner, box = responder_factory(many_doomed_scenario(DOOMED, image_build_seconds=1, time_scale=20),
                                            settings={"max_launches_per_hour": CAP,
                                                      "image_when_capped": image_when_capped})
    answers = [client.post("/events", data=interruption(i)).get_json() for i in DOOMED]
    tasks = [runner.run_to_end(a["task"]["id"], timeout=60) for a in answers]
    calls = box.calls("aliyun")
    return runner, tasks, calls


def _cap_notices(tasks) -> list[dict]:
    return [n.fields for t in tasks for n in task_notices(t) if n.kind == "cap_reached"]


@pytest.mark.parametrize("image_when_capped", [True, False], ids=["yes", "no"])
def test_a_burst_beyond_the_cap_images_as_the_setting_says_and_the_record_says_so(responder_factory,
                                                                                  image_when_capped):
    _, tasks, calls = _burst(responder_factory, image_when_capped)
    assert Counter(t.status for t in tasks) == Counter({"done": CAP, "failed": len(DOOMED) - CAP})
    assert calls.count("RunInstances") == CAP
    refused = [t for t in tasks if t.status == "failed"]
    if image_when_capped:  # data first: every instance's disks are saved
        assert calls.count("CreateImage") == len(DOOMED)
        assert all(t.record.capped == IMAGED_ONLY and t.record.image.image_id for t in refused)
        assert all(t.reason.startswith(f"capped: {IMAGED_ONLY} (image {t.record.image.image_id} kept)")
                   for t in refused)
    else:  # the launch's unit was taken before the image: nothing is written for a refused task
        assert calls.count("CreateImage") == CAP
        assert all(t.record.capped == NOT_IMAGED and not t.record.image.image_id for t in refused)
        assert all(t.reason.startswith(f"capped: {NOT_IMAGED};") for t in refused)
    assert all("RESPONDER_MAX_LAUNCHES_PER_HOUR=4" in t.reason for t in refused)
    notices = _cap_notices(tasks)
    assert len(notices) == len(refused)
    assert {n.get("capped") for n in notices} == {IMAGED_ONLY if image_when_capped else NOT_IMAGED}
    assert {bool(n.get("image_id")) for n in notices} == {image_when_capped}
