"""What a step asks for: Call (an intended cloud call: verb, arguments, token) and Decision (calls
to make, a time to come back, or an end). Shared by steps.py and race_steps.py; the executor
makes the calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class Call:
    verb: str  # what the executor does: a CloudPort verb, or probe / acquire_replacement / reserve
    args: dict[str, Any] = field(default_factory=dict)
    token: str = ""  # the deterministic ClientToken of a create

    def to_json(self) -> dict[str, Any]:
        return {"verb": self.verb, **({"token": self.token} if self.token else {}), "args": self.args}


@dataclass
class Decision:
    calls: list[Call] = field(default_factory=list)
    wait_until: Optional[float] = None
    finish: Optional[tuple[str, str]] = None  # (status, reason)
