"""A wire-level Aliyun emulator on loopback, driven by a scenario: ECS (2014-05-26 RPC), the VPC
API (2016-04-28) for vswitches and EIPs, and KMS (2016-01-20) for secrets.

Parts: AliyunEcsEmulator (start/stop, endpoint, calls, clock, stock, policies), PRODUCTS (API
version → its actions), the WSGI app (`_handle`: signature check → the product of the Version →
RAM authorization (authz_aliyun) → latency → injected fault → action), signature helpers (`string_to_sign`,
`sign`) matching aliyunsdkcore's rpc_signature_composer, error rendering, and `main` for
`python -m responder.sandbox.aliyun_ecs --port 8081` (curl and newcomers).

The real SDK talks to it unchanged: `AcsClient.add_endpoint(region, "Ecs", emulator.endpoint)` (and
"Vpc"). Each product answers only its own actions under its own Version: the VPC API lives at its
own endpoint in the cloud, so a VPC action signed as ECS 2014-05-26 is ECS's deprecated copy (still
served, "While the deprecated API remains temporarily accessible", and authorised as the vpc:
action all the same). Every call but the account owner's (SANDBOX_ADMIN_KEY) is checked against
the scenario's RAM policy (the shipped one by default) and refused with Forbidden.RAM.
Sandbox controls that no real API has: `POST /_sandbox/advance?seconds=N` jumps scenario time and
`GET /_sandbox/calls` lists every call so far.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import hashlib
import hmac
import json
import threading
import time
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from responder.sandbox.aliyun_ecs_actions import READ_ACTIONS
from responder.sandbox.aliyun_ecs_advice import ADVICE_ACTIONS
from responder.sandbox.aliyun_ecs_capacity import CAPACITY_ACTIONS
from responder.sandbox.aliyun_ecs_disks import DISK_ACTIONS, settle
from responder.sandbox.aliyun_ecs_network import NETWORK_ACTIONS
from responder.sandbox.aliyun_ecs_prices import PRICE_ACTIONS
from responder.sandbox.aliyun_ecs_state import EcsError, World, request_id
from responder.sandbox.aliyun_ecs_swap import SWAP_ACTIONS, seed_public_images
from responder.sandbox.aliyun_kms import KMS_ACTIONS, KMS_VERSION
from responder.sandbox.authz import SANDBOX_ADMIN_KEY
from responder.sandbox.authz_aliyun import authorize
from responder.sandbox.call_log import CallLog
from responder.sandbox.image_removals import ImageRemovals
from responder.sandbox.loopback import LoopbackServer
from responder.sandbox.rate_limits import rate_limits_for
from responder.sandbox.scenario import Scenario, load_scenario

API_VERSION, VPC_VERSION = "2014-05-26", "2016-04-28"
ECS_ACTIONS = {**READ_ACTIONS, **CAPACITY_ACTIONS, **DISK_ACTIONS, **NETWORK_ACTIONS, **SWAP_ACTIONS, **PRICE_ACTIONS,
               **ADVICE_ACTIONS}
VPC_ACTIONS = {a: ECS_ACTIONS[a] for a in ("DescribeVSwitches", "AssociateEipAddress", "DescribeEipAddresses")}
PRODUCTS = {API_VERSION: ECS_ACTIONS, VPC_VERSION: VPC_ACTIONS, KMS_VERSION: KMS_ACTIONS}
# Never echoed into the call log: they are credentials or change on every call.
_SECRET_PARAMS = {"Signature", "AccessKeyId", "SecurityToken"}
# Default HTTP status for a fault rule that names only a code.
_FAULT_STATUS = {"ServiceUnavailable": 503, "InternalError": 500, "OperationDenied.NoStock": 403,
                 "Zone.NotOnSale": 403, "InvalidResourceType.NotSupported": 403, "InstanceType.Offline": 403}
_FAULT_MESSAGE = {"Throttling": "Request was denied due to request throttling.",
                  "Throttling.User": "Request was denied due to user flow control.",
                  "Throttling.Api": "Request was denied due to api flow control.",
                  "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
                  "InternalError": "The request processing has failed due to some unknown error."}


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the ECS signer uses it: only A-Z a-z 0-9 - _ . ~ stay literal."""
    return quote(str(value), safe="~")


def string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&%2F&{percent_encode(canonical)}"


def sign(secret: str, text: str) -> str:
    digest = hmac.new((secret + "&").encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunEcsEmulator(CallLog):
    """The ECS RPC API for one scenario, served by a threaded werkzeug server on 127.0.0.1."""

    def __init__(self, scenario: Scenario | None = None, access_key_id: str = "sandbox-key",
                 access_key_secret: str = "sandbox-secret", port: int = 0, clock=None):
        self.scenario = scenario if scenario is not None else load_scenario()
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self.port = port
        self.clock = clock or self.scenario.new_clock()  # a bench may drive its own (virtual) clock
        self.stock = self.scenario.new_stock(self.clock)
        self.faults = self.scenario.new_faults()
        self.world = World(self.scenario, self.clock, self.stock)
        seed_public_images(self.world)
        self.policies = self.scenario.new_policies()  # RAM: None when the scenario turns it off
        self.rate_limits = rate_limits_for(self.scenario.raw, "aliyun", self.clock)  # None: `rate_limits:` off
        self.removals = ImageRemovals(self.scenario.raw)  # `deleted_images:`, deleted at their time
        self.endpoint = ""
        CallLog.__init__(self)
        self._nonces: set[str] = set()
        self._nonces_lock = threading.Lock()
        self._http = LoopbackServer(self._wsgi, port, name="aliyun-ecs-emulator")

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, serve: bool = True) -> "AliyunEcsEmulator":
        """serve=False: no server of its own; a shared server calls `wsgi` (shared.py)."""
        if serve:
            self.port = self._http.start()
            self.endpoint = f"127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> "AliyunEcsEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- HTTP ------------------------------------------------------------------------------
    def wsgi(self, environ, start_response):
        return self._wsgi(environ, start_response)

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/_sandbox/"):
            response = self._sandbox(request)
        else:
            response = self._handle(request)
        return response(environ, start_response)

    def _sandbox(self, request: Request) -> Response:
        if request.path == "/_sandbox/advance" and request.method == "POST":
            self.clock.advance(float(request.args.get("seconds", "0")))
            return _json({"now": self.clock()}, 200)
        if request.path == "/_sandbox/calls" and request.method == "GET":
            return _json({"calls": self.calls, "now": self.clock()}, 200)
        return _json({"Code": "NotFound", "Message": "unknown sandbox path"}, 404)

    def _handle(self, request: Request) -> Response:
        # The SDK puts every parameter in the query string; accept form bodies too, as ECS does.
        params = {**request.form.to_dict(), **request.args.to_dict()}
        action = params.get("Action", "")
        started, arrived = self.clock(), time.time()
        if self.scenario.latency_ms > 0:
            time.sleep(self.scenario.latency_ms / 1000.0)
        fault, throttled = None, ""
        try:
            self._authenticate(request.method, params)
            if action not in PRODUCTS[params["Version"]]:
                raise EcsError("InvalidAction.NotFound", "Specified api is not found, please check your url and method.", 404)
            if params.get("AccessKeyId") != SANDBOX_ADMIN_KEY:
                with self.world.lock:
                    authorize(self.policies.aliyun, self.world, action, params)
                self._throttle(action, params)
            fault = self.faults.fault_for(action)
            if fault is not None and fault.ends_before_action:
                self._log(action, 0, fault.kind, started, arrived, params, fault)
                fault.before()  # timeout / reset: the connection ends here, nothing was done
            if fault is not None and fault.kind == "error":
                raise EcsError(fault.code, fault.message or _FAULT_MESSAGE.get(fault.code, "Injected by the sandbox scenario."),
                               fault.status or _FAULT_STATUS.get(fault.code, 400))
            body = self._dispatch(action, params)
            status, code = 200, ""
        except EcsError as err:
            status, code, throttled = err.status, err.code, err.throttled
            body = {"Code": err.code, "Message": err.message, "HostId": request.host or "ecs.aliyuncs.com",
                    "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product=Ecs"}
            if getattr(err, "detail", None):
                body["AccessDeniedDetail"] = err.detail
        body["RequestId"] = request_id()
        self._log(action, status, code, started, arrived, params, fault, throttled)
        if fault is not None:
            fault.after()  # lost: the action was done for real, and its answer never leaves
        return _json(body, status)

    def _log(self, action: str, status: int, code: str, started: float, arrived: float, params: dict[str, str],
             fault=None, throttled: str = "") -> None:
        entry = {"action": action, "status": status, "code": code, "t": started, "wall": arrived,
                 "params": {k: v for k, v in params.items() if k not in _SECRET_PARAMS}}
        if fault is not None:
            entry["fault"] = fault.kind
        if throttled:
            entry["throttled"] = throttled
        self._log_call(entry)

    def _throttle(self, action: str, params: dict[str, str]) -> None:
        """Refuse the call as ECS does when it is over the account's limits (rate_limits.py); the
        EcsError carries the limit's name to the call log."""
        if self.rate_limits is None or params.get("Version") == KMS_VERSION:  # KMS has its own limits
            return
        region = params.get("RegionId", "")
        account = next((r.account for r in self.scenario.regions_of("aliyun") if r.region == region), "")
        refusal = self.rate_limits.admit(account, region, action, params)
        if refusal is not None:
            raise EcsError(refusal.code, refusal.message, refusal.status, throttled=refusal.bucket)

    def _authenticate(self, method: str, params: dict[str, str]) -> None:
        if params.get("AccessKeyId") not in (self.access_key_id, SANDBOX_ADMIN_KEY):
            raise EcsError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        if params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
            raise EcsError("InvalidSignatureMethod", "Specified signature method is not supported.", 400)
        signed = {k: v for k, v in params.items() if k != "Signature"}
        text = string_to_sign(method, signed)
        if not hmac.compare_digest(sign(self._secret, text), params.get("Signature", "")):
            # The SDK compares the text after the colon with its own string-to-sign and, when they
            # agree, reports InvalidAccessKeySecret: keep the real message shape.
            raise EcsError("SignatureDoesNotMatch",
                           f"Specified signature is not matched with our calculation. server string to sign is:{text}", 400)
        stamp = params.get("Timestamp", "")
        try:
            skew = abs(time.time() - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
        except ValueError:
            raise EcsError("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.", 400) from None
        if skew > 900:
            raise EcsError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)
        nonce = params.get("SignatureNonce", "")
        with self._nonces_lock:
            if not nonce or nonce in self._nonces:
                raise EcsError("SignatureNonceUsed", "Specified signature nonce was used already.", 400)
            self._nonces.add(nonce)
        if params.get("Version") not in PRODUCTS:
            raise EcsError("InvalidVersion", "Specified parameter Version is not valid.", 400)

    def _dispatch(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        with self.world.lock:
            if params["Version"] == KMS_VERSION:  # KMS takes its region from the endpoint, not a parameter
                return dict(KMS_ACTIONS[action](self.world, params.get("RegionId", ""), params))
            region = self.world.region(params.get("RegionId", ""))
            settle(self.world, params)  # interrupted instances whose notice ran out are gone before the action
            for image_id in self.removals.due(self.clock()):  # as DeleteImage would: no launch, not listed
                self.world.images.pop(image_id, None)
            return dict(PRODUCTS[params["Version"]][action](self.world, region, params))


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Aliyun ECS sandbox on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--scenario", default=None, help="scenario YAML/JSON (default: the shipped default)")
    args = parser.parse_args(argv)
    emulator = AliyunEcsEmulator(load_scenario(args.scenario), port=args.port).start()
    print(f"Aliyun ECS sandbox on http://{emulator.endpoint}  (key sandbox-key / secret sandbox-secret)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()
