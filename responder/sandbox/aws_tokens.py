"""EC2's ClientToken rule, once for every action that takes a token: one generic middleware layer.

Parts: ClientTokens (`run(region, action, params, compute)`: replay the first answer for the same
token and parameters, refuse the same token with other parameters), fingerprint (the request
minus what changes on every retry: signature and auth fields, the API version), VOLATILE.

The rule, from "Ensuring idempotency in Amazon EC2 API requests"
(https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html): a retry with the same
client token "completes successfully without performing any further actions", and
IdempotentParameterMismatch is "The request uses the same client token as a previous, but
non-identical request" (Error codes for the Amazon EC2 API,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), a 400 client error.

Tokens are remembered per (region, action, token): the doc scopes nothing wider, and the narrower
scope is the harsher reading for a caller that reuses one token across actions. Only successful
answers are remembered: the doc promises replay of a request that "completes successfully"; a
refused create (no capacity) did nothing, so a retry with the same token may try again, as
production callers with deterministic tokens rely on.
"""

from __future__ import annotations

import json
import threading
from typing import Callable

from responder.sandbox.aws_wire import Ec2Error

# Change on every retry or carry credentials; never part of "the same request".
VOLATILE = {"ClientToken", "Version", "AWSAccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
            "Timestamp", "Expires", "SecurityToken"}


def fingerprint(params: dict[str, str]) -> str:
    return json.dumps(sorted((k, v) for k, v in params.items()
                             if k not in VOLATILE and not k.startswith("X-Amz-")))


class ClientTokens:
    """Answers already given, by (region, action, ClientToken)."""

    def __init__(self):
        self._answers: dict[tuple[str, str, str], tuple[str, int, bytes]] = {}
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def run(self, region: str, action: str, params: dict[str, str],
            compute: Callable[[], "tuple[int, bytes]"]) -> tuple[int, bytes]:
        token = params.get("ClientToken", "")
        if not token:
            return compute()
        key = (region, action, token)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        # One request per token at a time: two concurrent retries still create one resource.
        with lock:
            seen = self._answers.get(key)
            mark = fingerprint(params)
            if seen is not None:
                if seen[0] != mark:
                    raise Ec2Error("IdempotentParameterMismatch",
                                   f"The client token '{token}' was already used for a previous {action} "
                                   "request with different parameters.", 400)
                return seen[1], seen[2]
            status, body = compute()
            if status < 400:
                self._answers[key] = (mark, status, body)
            return status, body
