"""A task the money cap refuses: whether it takes its image first, and what its record says.

Parts: IMAGED_ONLY / NOT_IMAGED (the record's `capped`), spend_before_image (what a task takes from
the cap before CreateImage), capped_reason (the record and the reason of a refused task).

RESPONDER_IMAGE_WHEN_CAPPED decides, and the record states the outcome:
- yes (the default, data first): the image is taken whatever the cap says; the launch asks the cap
  where the money is spent, and a refused task ends `failed`, "capped: imaged only, no launch",
  with its image kept (the data is saved; a person can launch from it).
- no: the cap unit of the task's first spend is taken before the image, with that spend's own
  ClientToken (the first launch token, or the first reservation token with
  RESPONDER_AWS_ACTION=reserve). The launch later sends that very token, and a token is one
  purchase (caps.py), so it takes nothing more. A refused task ends "capped: no image, no launch"
  having written nothing. Exact in a burst: 50 interruptions under a cap of 10 make 10 images.
  A rebalance answered with an image only launches nothing yet: its image is not held against the
  cap, only refused while the hour's cap is already spent.
"""

from __future__ import annotations

from responder.capacity.tokens import client_token, token_for
from responder.model import Cloud
from responder.replace.record import Task
from responder.settings import Settings

IMAGED_ONLY = "imaged only, no launch"
NOT_IMAGED = "no image, no launch"


def spend_before_image(task: Task, settings: Settings) -> tuple[str, str]:
    """(token, kind) of the task's first spend: the capacity engine's first call of its run (seq 1)."""
    if task.cloud == Cloud.AWS.value and settings.aws_action == "reserve":
        return client_token(token_for(task.key, "reserve"), 1), "reservation"
    return client_token(token_for(task.key, "launch"), 1), "launch"


def capped_reason(task: Task, refusal: str) -> str:
    """Record what a refused task did (its image kept or never made) and return its reason."""
    image_id = task.record.image.image_id
    task.record.capped = IMAGED_ONLY if image_id else NOT_IMAGED
    kept = f" (image {image_id} kept)" if image_id else ""
    return f"capped: {task.record.capped}{kept}; {refusal}"
