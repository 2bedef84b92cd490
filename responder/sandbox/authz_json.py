"""The JSON policy language RAM and IAM share, evaluated as the clouds evaluate identity policies.

Parts: PolicyError (a document the sandbox cannot evaluate honestly: refused at load), Check (one
authorization question: action, resource, condition context), JsonPolicy (parse → `decide(check)`
→ "allow" | "explicit-deny" | "implicit-deny"), matches (wildcard matching).

What is evaluated ("Policy evaluation logic", IAM User Guide; RAM "Policy elements" and "Policy
evaluation process"): an explicit Deny wins, then any Allow, else the implicit deny. Action and
Resource take `*` and `?` wildcards (actions case-insensitively); a statement's conditions all hold
(operators AND, keys AND, values OR). Operators: StringEquals, StringNotEquals, StringLike,
StringNotLike, StringEqualsIgnoreCase, Bool, Null, each also as ForAllValues: / ForAnyValue:.
A key absent from the request fails a positive operator and passes a negated one; ForAllValues
over no values holds. Condition keys are case-insensitive. NotAction, NotResource, Principal and
any other operator are refused at load rather than guessed at (the harsher reading).
A check whose resource is "*" stands for a call the sandbox does not resolve to one resource:
only a statement on Resource "*" covers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


class PolicyError(ValueError):
    """A policy document outside what the sandbox evaluates; the message names the element."""


@dataclass(frozen=True)
class Check:
    action: str
    resource: str = "*"
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)  # lower-case keys


@lru_cache(maxsize=4096)
def _pattern(text: str, fold: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", re.IGNORECASE if fold else 0)


def matches(pattern: str, value: str, fold: bool = False) -> bool:
    return bool(_pattern(pattern, fold).match(value))


_OPERATORS = {"stringequals", "stringnotequals", "stringlike", "stringnotlike", "stringequalsignorecase", "bool",
              "null"}
_ALLOWED_KEYS = {"sid", "effect", "action", "resource", "condition"}


def _listed(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def _one(op: str, wanted: tuple[str, ...], got: str) -> bool:
    if op in ("stringequals", "bool"):
        return any(got.lower() == w.lower() if op == "bool" else got == w for w in wanted)
    if op == "stringequalsignorecase":
        return any(got.lower() == w.lower() for w in wanted)
    return any(matches(w, got) for w in wanted)  # stringlike


def _holds(operator: str, key: str, wanted: tuple[str, ...], context: dict[str, tuple[str, ...]]) -> bool:
    qualifier, _, op = operator.lower().rpartition(":")
    got = context.get(key.lower())
    if op == "null":
        return (got is None) == (wanted[0].lower() == "true")
    negated = op in ("stringnotequals", "stringnotlike")
    base = {"stringnotequals": "stringequals", "stringnotlike": "stringlike"}.get(op, op)
    if qualifier == "forallvalues":
        return all(_one(base, wanted, g) != negated for g in got or ())
    if got is None:
        return negated
    if qualifier == "foranyvalue" or len(got) <= 1:
        hit = any(_one(base, wanted, g) for g in got)
        return not hit if negated else hit
    return all(_one(base, wanted, g) != negated for g in got)


@dataclass(frozen=True)
class _Statement:
    allow: bool
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]

    def applies(self, check: Check) -> bool:
        if not any(matches(a, check.action, fold=True) for a in self.actions):
            return False
        if check.resource == "*":
            covered = "*" in self.resources
        else:
            covered = any(matches(r, check.resource) for r in self.resources)
        return covered and all(_holds(op, key, wanted, check.context) for op, key, wanted in self.conditions)


class JsonPolicy:
    """One RAM or IAM policy document (several may be joined: pass a list of documents)."""

    def __init__(self, documents: dict[str, Any] | list[dict[str, Any]], name: str = "policy"):
        self.name = name
        self.statements: list[_Statement] = []
        for document in documents if isinstance(documents, list) else [documents]:
            statements = document.get("Statement")
            if not isinstance(statements, list):
                raise PolicyError(f"{name}: Statement must be a list")
            self.statements += [self._parse(s, f"{name}: Statement[{n}]") for n, s in enumerate(statements)]

    @staticmethod
    def _parse(raw: dict[str, Any], where: str) -> _Statement:
        unknown = {k.lower() for k in raw} - _ALLOWED_KEYS
        if unknown:
            raise PolicyError(f"{where}: the sandbox does not evaluate {sorted(unknown)}")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{where}: Effect must be Allow or Deny, not {effect!r}")
        conditions = []
        for operator, block in (raw.get("Condition") or {}).items():
            if operator.lower().rpartition(":")[2] not in _OPERATORS:
                raise PolicyError(f"{where}: the sandbox does not evaluate the condition operator {operator}")
            for key, wanted in block.items():
                conditions.append((operator, key, _listed(wanted)))
        return _Statement(effect == "Allow", _listed(raw.get("Action", [])), _listed(raw.get("Resource", [])),
                          tuple(conditions))

    def decide(self, check: Check) -> str:
        applying = [s for s in self.statements if s.applies(check)]
        if any(not s.allow for s in applying):
            return "explicit-deny"
        return "allow" if applying else "implicit-deny"
