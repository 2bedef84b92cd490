"""Injected faults, as hostile as a real cloud: errors, timeouts, resets and lost answers.

Parts: FaultPlan (which call fails, how: counted `times`/`after` and a seeded `rate`), KINDS and
validate_rule (the scenario's fault rule format), Fault (one fired rule, with `before` / `after`
that the emulators call around the real action), DEFAULT_CODE.

A rule: {action, kind, code, status, message, times, after, rate, seconds}.

- `error` answers the cloud's error (`code`, `status`) and does nothing.
- `timeout` holds the request `seconds` of real time, then closes the connection without an
  answer; nothing is done.
- `reset` closes the connection with a TCP RST before answering; nothing is done.
- `lost` performs the action for real, then closes the connection instead of answering: the
  create happened but the caller never learns it.

Why these four: ECS tells callers to retry "when error 500 (InternalError) or 503
(ServiceUnavailable) is returned or when no response is received"
(https://www.alibabacloud.com/help/doc-detail/25693.html), and EC2 warns that "operations might
also time out or encounter other server issues before they complete, even though the request has
already returned a result" (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
A product that is only ever shown clean error bodies never meets the "no response" half.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from responder.sandbox.loopback import drop_connection

KINDS = ("error", "timeout", "reset", "lost")
DEFAULT_CODE = "InternalError"  # HTTP 500 on both clouds
DEFAULT_TIMEOUT_SECONDS = 65.0  # longer than either SDK's default read timeout


def validate_rule(rule: Any, where: str) -> str | None:
    """The problem with one fault rule, or None; `where` names it in the message."""
    if not isinstance(rule, dict):
        return f"{where}: a fault rule must be a mapping"
    if not rule.get("action"):
        return f"{where}: missing 'action'"
    kind = rule.get("kind", "error")
    if kind not in KINDS:
        return f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}"
    if "rate" in rule:
        try:
            rate = float(rule["rate"])
        except (TypeError, ValueError):
            return f"{where}: rate must be a number between 0 and 1, not {rule['rate']!r}"
        if not 0 <= rate <= 1:
            return f"{where}: rate must be between 0 and 1, not {rate}"
    return None


class Fault:
    """One fired rule. An emulator calls `before()` ahead of the action (raises to drop the
    connection for timeout/reset; returns False for error so the caller answers the error) and
    `after()` once the action ran (drops the connection for lost)."""

    def __init__(self, rule: dict[str, Any]):
        self.rule = rule
        self.kind = str(rule.get("kind", "error"))
        self.code = str(rule.get("code") or DEFAULT_CODE)
        self.status = int(rule["status"]) if rule.get("status") else None
        self.message = str(rule.get("message") or "")
        self.seconds = float(rule.get("seconds", DEFAULT_TIMEOUT_SECONDS))

    @property
    def ends_before_action(self) -> bool:
        """timeout and reset end the connection before the action runs."""
        return self.kind in ("timeout", "reset")

    def before(self) -> None:
        if self.kind == "timeout":
            time.sleep(self.seconds)
            drop_connection(reset=False)
        elif self.kind == "reset":
            drop_connection(reset=True)

    def after(self) -> None:
        if self.kind == "lost":
            drop_connection(reset=False)


class FaultPlan:
    """Injected faults: each rule fails the next `times` calls of `action` (or `*`).

    `after` skips that many matching calls first; times: -1 means forever. `rate` makes each
    eligible call fail with that probability instead (times then defaults to forever), drawn from
    one RNG seeded with the scenario's `seed`, so a run is repeatable call for call.
    """

    def __init__(self, rules: list[dict[str, Any]], seed: int = 0):
        self._rules = [dict(rule, seen=0, fired=0) for rule in rules]
        self._lock = threading.Lock()
        self._rand = random.Random(seed)

    def next_fault(self, action: str) -> dict[str, Any] | None:
        """The rule that fails this call, or None (kept for callers that read the rule dict)."""
        with self._lock:
            for rule in self._rules:
                if rule.get("action") not in (action, "*"):
                    continue
                rule["seen"] += 1
                if rule["seen"] <= int(rule.get("after", 0)):
                    continue
                times = int(rule.get("times", -1 if "rate" in rule else 1))
                if times >= 0 and rule["fired"] >= times:
                    continue
                if "rate" in rule and self._rand.random() >= float(rule["rate"]):
                    continue
                rule["fired"] += 1
                return rule
        return None

    def fault_for(self, action: str) -> Fault | None:
        rule = self.next_fault(action)
        return Fault(rule) if rule is not None else None
