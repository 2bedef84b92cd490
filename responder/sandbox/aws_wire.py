"""EC2 query-protocol wire helpers for the AWS emulator.

Parts: parse_query (form body → flat params), unflatten (EC2 `A.1.B` params → nested dicts and
lists), ec2_response (a dict → the EC2 XML response of an operation, driven by botocore's own
service model so the SDK is guaranteed to parse what we write), error_body (the EC2 XML error
envelope), status_for (the HTTP status real EC2 uses for an error code), check_filter_values (EC2's
refusal of a call with more than MAX_FILTER_VALUES filter values).

Why the botocore model: EC2 XML element names are the shapes' `locationName`s (camelCase, lists
as `<xSet><item>`), and guessing them by hand is how emulators drift from the real service.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session

_EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
_model = None

# HTTP statuses real EC2 uses; everything else it reports as 400.
_STATUS = {
    "RequestLimitExceeded": 503,  # "Request limit exceeded." comes back as 503 Service Unavailable
    "InsufficientInstanceCapacity": 500,
    "InsufficientCapacity": 500,
    "InsufficientHostCapacity": 500,
    "InternalError": 500,
    "Unavailable": 503,
    "ServiceUnavailable": 503,
}


def status_for(code: str) -> int:
    return _STATUS.get(code, 400)


# EC2 refuses a describe call whose filters carry more than 200 values in all, with
# FilterLimitExceeded (HTTP 400): "The maximum number of filter values specified on a single call
# is 200" (the answer as EC2 sends it, quoted in https://github.com/convox/rack/issues/2205 and
# https://github.com/gjbae1212/gossm/issues/31; the API reference's Filter type names no limit).
# The responder's many-instance reads send at most 100 a call (clouds/one_by_one.py chunks).
MAX_FILTER_VALUES = 200


def check_filter_values(params: dict[str, str]) -> None:
    values = sum(1 for k in params if k.startswith("Filter.") and ".Value." in k)
    if values > MAX_FILTER_VALUES:
        raise Ec2Error("FilterLimitExceeded", "The maximum number of filter values specified on a single call is "
                       f"{MAX_FILTER_VALUES}", 400)


def _service_model():
    global _model
    if _model is None:
        _model = botocore.session.get_session().get_service_model("ec2")
    return _model


def parse_query(body: bytes, query_string: str = "") -> dict[str, str]:
    """EC2 calls arrive as a form body (botocore) or a query string (curl); merge both."""
    params: dict[str, str] = {}
    for source in (query_string, body.decode("utf-8", "replace")):
        for key, values in parse_qs(source, keep_blank_values=True).items():
            params[key] = values[-1]
    return params


def unflatten(params: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """`{"A.1.B": "x", "C": "y"}` → `{"A": [{"B": "x"}], "C": "y"}` (numeric segments are lists)."""
    tree: dict[str, Any] = {}
    for key, value in params.items():
        if prefix:
            if not key.startswith(prefix + "."):
                continue
            key = key[len(prefix) + 1:]
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # "A" and "A.1" both present: keep the deeper one
                break
        else:
            node[parts[-1]] = value
    return _lists(tree)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


def as_list(value: Any) -> list:
    """A parameter that may be absent, one value or a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def tags_from(params: dict[str, Any], resource_type: str) -> dict[str, str]:
    """Tags of one resource type from an unflattened `TagSpecification` parameter."""
    out: dict[str, str] = {}
    # CreateFleet names the list TagSpecification, CreateCapacityReservation TagSpecifications.
    specs = as_list(params.get("TagSpecification")) + as_list(params.get("TagSpecifications"))
    for spec in specs:
        if spec.get("ResourceType") in (resource_type, None):
            for tag in as_list(spec.get("Tag")) + as_list(spec.get("Tags")):
                out[tag.get("Key", "")] = tag.get("Value", "")
    return out


def _scalar(shape, value: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value in (True, "true", "True") else "false"
    if shape.type_name == "timestamp" and isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return escape(str(value))


def _xml(shape, value: Any, tag: str, out: list[str]) -> None:
    if value is None:
        return
    kind = shape.type_name
    if kind == "structure":
        out.append(f"<{tag}>")
        for name, member in shape.members.items():
            if name in value:
                _xml(member, value[name], member.serialization.get("name", name), out)
        out.append(f"</{tag}>")
    elif kind == "list":
        item_tag = shape.member.serialization.get("name", "item")
        if shape.serialization.get("flattened"):
            for item in value:
                _xml(shape.member, item, tag, out)
            return
        out.append(f"<{tag}>")
        for item in value:
            _xml(shape.member, item, item_tag, out)
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{_scalar(shape, value)}</{tag}>")


def ec2_response(operation: str, result: dict[str, Any]) -> bytes:
    """Serialize `result` (keys = botocore output member names) as `operation`'s EC2 XML."""
    shape = _service_model().operation_model(operation).output_shape
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{operation}Response xmlns="{_EC2_NS}">',
           f"<requestId>{uuid.uuid4()}</requestId>"]
    if shape is not None:
        for name, member in shape.members.items():
            if name in result:
                _xml(member, result[name], member.serialization.get("name", name), out)
    out.append(f"</{operation}Response>")
    return "".join(out).encode("utf-8")


def error_body(code: str, message: str) -> bytes:
    """The EC2 error envelope: <Response><Errors><Error>… — what botocore's EC2 parser reads."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode("utf-8")


class Ec2Error(Exception):
    """Raised by intercept handlers; the middleware turns it into the EC2 error response."""

    def __init__(self, code: str, message: str, status: int | None = None, throttled: str = ""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status or status_for(code)
        self.throttled = throttled  # the rate limit that refused the call, for the call log
