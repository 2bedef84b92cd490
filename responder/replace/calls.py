"""What a step asks for and what came of it: Call (an intended cloud call: verb, arguments, token),
Decision (calls to make, a time to come back, or an end), CallOutcome (one call's answer, its
classified error, or the time the API budget lets it go). Shared by steps.py, race_steps.py, the
executor (which makes the calls of a round) and the runner (which folds the outcomes back)."""

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


@dataclass(frozen=True)
class CallOutcome:
    """One call of a round, as the executor leaves it: an answer, or the error the adapter
    classified (responder.errors; a budget deferral is errors.Deferred with its retry_at), or a
    money cap's refusal (steps.CapReached). Exactly one of `answer` / `error` is meaningful."""

    answer: Any = None
    error: Optional[Exception] = None

    @property
    def ok(self) -> bool:
        return self.error is None
