"""Bounds checked on the raw body before a full JSON parse, so no input can exhaust the parser.

Parts: decode_json (size → UTF-8 → nesting depth → json.loads with number and constant hooks),
MAX_DEPTH, MAX_NUMBER_CHARS.

Why before parsing: CPython's json decoder recurses once per nested array/object and raises
RecursionError on deep input, and int() on a huge digit string is slow (3.10) or raises (3.11+).
The depth is measured without recursion: strings are blanked out by one regular expression, then
the brackets left are summed as +1 / -1 and the running maximum taken.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from responder.errors import BadEvent

MAX_DEPTH = 32  # the deepest real payload (AWS Health eventDescription) nests 4 levels
MAX_NUMBER_CHARS = 40  # no field we read is a number; a longer literal is an attack, not an event
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(text: str) -> int:
    """The deepest [ / { nesting in JSON text, counting only brackets outside strings."""
    outside_strings = _STRING.sub('""', text)
    steps = (_STEP[b] for b in _BRACKET.findall(outside_strings))
    return max(accumulate(steps), default=0)


def _number(literal: str) -> Any:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BadEvent(f"a number in the body has {len(literal)} characters, over the limit of {MAX_NUMBER_CHARS}")
    return float(literal) if any(c in literal for c in ".eE") else int(literal)


def _constant(name: str) -> Any:
    raise BadEvent(f"{name} is not a JSON value")


def decode_json(raw: bytes, max_bytes: int) -> Any:
    """The JSON value in `raw`, or BadEvent (413 over `max_bytes`, 400 otherwise) naming the problem."""
    if len(raw) > max_bytes:
        raise BadEvent(f"body is {len(raw)} bytes, over the {max_bytes}-byte limit", status=413)
    if not raw.strip():
        raise BadEvent("empty body: expected a JSON event or a JSON array of events")
    try:  # RFC 8259 section 8.1: JSON exchanged between systems MUST be UTF-8
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadEvent(f"body is not JSON: not UTF-8 (byte {exc.start})") from None
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise BadEvent(f"body nests {depth} levels deep, over the limit of {MAX_DEPTH}")
    try:
        return json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_constant)
    except ValueError as exc:
        raise BadEvent(f"body is not JSON: {exc}") from None
