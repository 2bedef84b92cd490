"""Small validators shared by the per-cloud parsers: each error names the field and the problem.

Parts: text_field (typed and length-bounded), matching, region_field, mapping_field, list_field,
text_items, shown (a value trimmed for a message), MAX_TEXT_CHARS.
"""

from __future__ import annotations

import re
from typing import Any

from responder.errors import BadEvent

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+){1,4}$")
SHOWN_CHARS = 80  # how much of a bad value a message repeats: enough to recognise, never a whole body
# The longest field we read is an ARN (~100 characters). What we keep goes into the task row, whose
# JSON column is a MySQL TEXT (64 KiB): an unbounded id or time could make a bad event fail to store
# (503, redelivered for ever) instead of being refused once.
MAX_TEXT_CHARS = 1024


def shown(value: str) -> str:
    return repr(value[:SHOWN_CHARS])


def text_field(container: dict, name: str, path: str, required: bool = True) -> str:
    value = container.get(name) if isinstance(container, dict) else None
    if value is None or value == "":
        if required:
            raise BadEvent(f"missing {path}")
        return ""
    if not isinstance(value, str):
        raise BadEvent(f"{path} must be a string, not {type(value).__name__}")
    return _bounded(value, path)


def _bounded(value: str, path: str) -> str:
    if len(value) > MAX_TEXT_CHARS:
        raise BadEvent(f"{path} is {len(value)} characters, over the limit of {MAX_TEXT_CHARS}")
    return value


def matching(value: str, pattern: re.Pattern, path: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise BadEvent(f"{path} {shown(value)} is not a valid {what}")
    return value


def region_field(container: dict, name: str, path: str) -> str:
    return matching(text_field(container, name, path), REGION_RE, path, "region id")


def mapping_field(container: dict, name: str, path: str) -> dict[str, Any]:
    value = container.get(name)
    if not isinstance(value, dict):
        raise BadEvent(f"missing {path}" if value is None else f"{path} must be an object, not {type(value).__name__}")
    return value


def list_field(container: dict, name: str, path: str) -> list[Any]:
    """An optional JSON array: absent or null is empty; any other non-array is refused."""
    value = container.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadEvent(f"{path} must be an array, not {type(value).__name__}")
    return value


def text_items(container: dict, name: str, path: str) -> list[str]:
    """An optional array of strings; the message names the first item of another type."""
    items = list_field(container, name, path)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise BadEvent(f"{path}[{index}] must be a string, not {type(item).__name__}")
        _bounded(item, f"{path}[{index}]")
    return items
