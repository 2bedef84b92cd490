"""Capacity above target: reported always, released only when the target allows it.

Parts: release_excess (reservations: shrink the newest one, cancel whole unused ones;
instances: terminate the newest this target launched, never one it adopted by name).

Only unused units are given up: a reservation is never shrunk below what runs in it, and an
instance found by name (made before the responder) is never terminated.
"""

from __future__ import annotations

from responder.errors import CloudError
from responder.targets.inventory import Held
from responder.targets.model import TARGET_TAG, Target


def release_excess(cloud, t: Target, held: Held, excess: int) -> tuple[int, list[str]]:
    """(units released, what was done). Stops at the first refusal: the next tick tries again."""
    done: list[str] = []
    released = 0
    try:
        if t.kind == "reservation":
            for r in reversed(held.live_reservations()):
                if excess <= 0:
                    break
                if r.state != "active":
                    continue
                unused = r.available if r.available or r.total == 0 else r.total
                if r.total <= excess and unused >= r.total:
                    cloud.cancel_reservation(t.region, r.reservation_id)
                    done.append(f"cancelled {r.reservation_id} ({r.total})")
                    released, excess = released + r.total, excess - r.total
                elif r.total > excess:
                    cut = min(excess, unused)
                    if cut > 0:
                        cloud.modify_reservation(t.region, r.reservation_id, r.total - cut)
                        done.append(f"shrank {r.reservation_id} {r.total}->{r.total - cut}")
                        released, excess = released + cut, excess - cut
        else:
            ours = [i for i in held.live_instances() if dict(i.tags).get(TARGET_TAG) == t.name]
            for inst in sorted(ours, key=lambda i: i.instance_id, reverse=True)[:excess]:
                cloud.terminate_instance(t.region, inst.instance_id)
                done.append(f"terminated {inst.instance_id}")
                released += 1
    except CloudError as exc:
        done.append(f"stopped: {exc.code}")
    return released, done
