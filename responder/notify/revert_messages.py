"""What a move back to spot says: started (spot stock was seen, the first write made), moved
(the spot one runs, the replacement it moved off is retired), given up (after it started: why, and
what runs now). A planned move out of a published-stressed pool (revert/calm.py) says the same with
`purpose` set: its instance was on spot already, so its titles must not say "back to spot".

Parts: revert_notices (the notices a `revert` task's state implies). A move that gives up before
it started (the instance gone, RESPONDER_REVERT=off) wrote nothing and says nothing.
"""

from __future__ import annotations

from typing import Any, Callable


def revert_notices(task, make_notice: Callable[..., Any]) -> list:
    revert = task.record.revert
    if revert.started_at is None:
        return []
    base = dict(cloud=task.cloud, region=task.region, instance_id=task.instance_id, event=task.kind,
                from_task=revert.from_task, old_type=revert.retired_type, old_market=revert.retired_market,
                original_type=revert.original_type, **({"purpose": revert.purpose} if revert.purpose else {}))
    key = f"{task.id}:revert"
    bought = dict(new_instance_id=revert.bought_instance_id, new_type=revert.bought_type,
                  new_zone=revert.bought_zone, new_market=revert.bought_market) if revert.bought_instance_id else {}
    notices = [make_notice("revert_started", f"{key}:started", task_id=task.id, **base, **bought)]
    if task.status == "done" and revert.outcome == "moved":
        notices.append(make_notice("reverted", f"{key}:moved", task_id=task.id, **base, **bought,
                                   image_id=task.record.image.image_id, root_state=task.record.race.root_state or None,
                                   degraded=list(task.record.degraded) or None, reason=task.reason))
    elif task.finished:
        notices.append(make_notice("revert_given_up", f"{key}:given-up", task_id=task.id, **base, **bought,
                                   image_id=task.record.image.image_id or None, reason=task.reason,
                                   todo="nothing is lost: the replacement named above still runs; "
                                        "a later pass tries again" if not bought else
                                        "both instances run: keep the one with the state, terminate the other"))
    return notices
