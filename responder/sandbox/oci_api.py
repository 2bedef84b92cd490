"""A wire-level OCI emulator (core Compute and VirtualNetwork, identity; API 20160918) on loopback.

Parts: OciEmulator (start/stop, endpoint, calls, clock, world, policies), the WSGI app (`wsgi`:
route → signature check → IAM (`_authorize`: the scenario's OCI policy, the shipped one by default) → throttle → latency → injected fault → action), ROUTES (method and resource →
operation name and handler) and the error answer OCI gives: `{"code", "message"}` with the HTTP
status and an opc-request-id header (https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm).

Every OCI client points at one base URL: `<endpoint>/20160918/...` answers the scenario's region
(the tenancy's home region, where Always Free lives) and `<endpoint>/<region>/20160918/...` names
it. Shared with the other clouds, the base is `http://host:port/oci` (shared.py). Operation names
(LaunchInstance, ListInstances, ...) are what fault rules and the call log use.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from werkzeug.wrappers import Request, Response

from responder.clouds.permissions import OCI, OCI_LOCATION
from responder.sandbox import oci_render as render
from responder.sandbox.call_log import CallLog
from responder.sandbox.loopback import LoopbackServer
from responder.sandbox.oci_sign import SignatureError, load_public_key, verify
from responder.sandbox.oci_world import OciConfig, OciError, OciWorld, not_found
from responder.sandbox.rate_limits import rate_limits_for
from responder.sandbox.scenario import Scenario

API = "20160918"
_PATH = re.compile(rf"^(?:/oci)?(?:/(?P<region>[a-z0-9-]+))?/{API}/(?P<kind>[A-Za-z]+)(?:/(?P<id>[^/]+))?$")
_FAULT_STATUS = {"InternalError": 500, "TooManyRequests": 429, "ServiceUnavailable": 503, "LimitExceeded": 400,
                 "NotAuthenticated": 401}


def _get(world: OciWorld, find: Callable[[str], Any], render_one: Callable) -> Callable:
    """A Get* handler: the resource `find` returns for the path's id, rendered, or OCI's 404."""
    def one(ident: str, q, body) -> tuple[int, Any]:
        found = find(ident)
        if found is None:
            raise not_found()
        return 200, render_one(world, found)
    return one


class OciEmulator(CallLog):
    """The OCI API for one scenario's `oci:` section, verified against one API key."""

    def __init__(self, scenario: Scenario, public_key_pem: str, fingerprint: str, clock=None, port: int = 0):
        self.scenario = scenario
        self.config = OciConfig.parse(scenario.raw.get("oci"))
        self.clock = clock or scenario.new_clock()
        self.world = OciWorld(self.config, self.clock, scenario.image_build_seconds)
        self.faults = scenario.new_faults()
        self.policies = scenario.new_policies()  # the OCI statements: None when the scenario turns them off
        self.rate_limits = rate_limits_for(scenario.raw, "oci", self.clock)  # per tenancy and class; None: off
        self.key_id = f"{self.config.tenancy}/{self.config.user}/{fingerprint}"
        self._public_key = load_public_key(public_key_pem)
        CallLog.__init__(self)
        self._http = LoopbackServer(self.wsgi, port, name="oci-emulator")
        self.endpoint = ""
        w = self.world
        self.routes: dict[tuple[str, str, bool], tuple[str, Callable]] = {
            ("GET", "availabilityDomains", False): ("ListAvailabilityDomains", lambda i, q, b: (
                200, [render.ad_json(w, ad) for ad in w.config.availability_domains])),
            ("GET", "shapes", False): ("ListShapes", lambda i, q, b: (200, render.list_shapes(w, q))),
            ("GET", "images", False): ("ListImages", lambda i, q, b: (200, render.list_images(w, q))),
            ("GET", "images", True): ("GetImage", _get(w, w.images.get, render.image_json)),
            ("POST", "images", False): ("CreateImage", lambda i, q, b: (
                200, render.image_json(w, w.create_image(b, q.get("opc-retry-token", ""))))),
            ("GET", "subnets", False): ("ListSubnets", lambda i, q, b: (200, render.list_subnets(w, q))),
            ("GET", "subnets", True): ("GetSubnet", _get(w, w.subnet, render.subnet_json)),
            ("GET", "instances", False): ("ListInstances", lambda i, q, b: (200, render.list_instances(w, q))),
            ("GET", "instances", True): ("GetInstance", _get(w, w.instances.get, render.instance_json)),
            ("POST", "instances", False): ("LaunchInstance", lambda i, q, b: (
                200, render.instance_json(w, w.launch(b, q.get("opc-retry-token", ""))))),
            ("DELETE", "instances", True): ("TerminateInstance", lambda i, q, b: (
                204, w.terminate(i, q.get("preserveBootVolume", "false").lower() == "true"))),
            ("GET", "bootVolumeAttachments", False): ("ListBootVolumeAttachments", lambda i, q, b: (
                200, render.list_boot_volume_attachments(w, q))),
            ("GET", "bootVolumes", True): ("GetBootVolume", _get(w, w.boot_volume, render.boot_volume_json)),
            ("GET", "vnicAttachments", False): ("ListVnicAttachments", lambda i, q, b: (
                200, render.list_vnic_attachments(w, q))),
            ("GET", "vnics", True): ("GetVnic", _get(w, w.vnic, render.vnic_json)),
        }

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, serve: bool = True) -> "OciEmulator":
        """serve=False: no server of its own; the shared sandbox calls `wsgi` under /oci."""
        if serve:
            self.endpoint = f"http://127.0.0.1:{self._http.start()}"
        return self

    def stop(self) -> None:
        self._http.stop()

    # -- HTTP ------------------------------------------------------------------------------
    def wsgi(self, environ, start_response):
        request = Request(environ)
        target = environ.get("REQUEST_URI") or request.full_path.rstrip("?")
        match = _PATH.match(urlsplit(target).path)
        query = dict(parse_qsl(urlsplit(target).query))
        operation, fault, started, throttled = "", None, self.clock(), ""
        body: Any
        try:
            raw = request.get_data()
            try:  # authentication first: an unsigned caller learns nothing, not even which paths exist
                verify(request.headers.get("Authorization", ""), request.method, target, request.headers, raw,
                       self.key_id, self._public_key)
            except SignatureError as err:
                # OCI's own message for every signature failure, with the reason after it.
                raise OciError(401, "NotAuthenticated", "The required information to complete authentication "
                                                        f"was not provided or was incorrect. ({err})") from err
            if match is None or (match["region"] and match["region"] != self.config.region):
                raise OciError(404, "NotAuthorizedOrNotFound", f"Unknown resource {request.path}")
            route = self.routes.get((request.method, match["kind"], bool(match["id"])))
            if route is None:
                raise OciError(404, "NotAuthorizedOrNotFound", f"Unknown resource {request.method} {request.path}")
            operation, handler = route
            self._authorize(operation)
            self.world.throttle(self.config.user)
            refusal = self.rate_limits and self.rate_limits.admit(self.config.tenancy, self.config.region, operation)
            if refusal:
                throttled = refusal.bucket
                raise OciError(refusal.status, refusal.code, refusal.message)
            if self.scenario.latency_ms > 0:
                time.sleep(self.scenario.latency_ms / 1000.0)
            fault = self.faults.fault_for(operation)
            if fault is not None and fault.ends_before_action:
                self._log(operation, 0, fault.kind, started, fault)
                fault.before()  # timeout / reset: the connection ends here, nothing was done
            if fault is not None and fault.kind == "error":
                raise OciError(fault.status or _FAULT_STATUS.get(fault.code, 400), fault.code,
                               fault.message or "Injected by the sandbox scenario.")
            payload = json.loads(raw) if raw else {}
            if not isinstance(payload, dict):
                raise OciError(400, "CannotParseRequest", "The request body must be a JSON object.")
            if request.method == "POST":
                query["opc-retry-token"] = request.headers.get("opc-retry-token", "")
            with self.world.lock:
                self.world.settle()
                status, body = handler(match["id"], query, payload)
                headers = {}
                if isinstance(body, list):
                    body, headers["opc-next-page"] = render.page(body, query, self.config.page_size)
            code = ""
        except OciError as err:
            status, code, body, headers = err.status, err.code, {"code": err.code, "message": err.message}, {}
        except ValueError:  # a body that is not JSON
            status, code, headers = 400, "CannotParseRequest", {}
            body = {"code": code, "message": "The request body is not valid JSON."}
        if code == "TooManyRequests" and not throttled and fault is None:  # the per-user `oci.throttle`
            throttled = "user"
        self._log(operation or f"{request.method} {request.path}", status, code, started, fault, throttled)
        if fault is not None:
            fault.after()  # lost: the action was done for real, and its answer never leaves
        return self._answer(status, body, headers)(environ, start_response)

    def _authorize(self, operation: str) -> None:
        """OCI IAM: every permission the operation needs, granted to the user's group in the
        scenario's compartment (or the tenancy). A refusal is indistinguishable from a missing
        resource: 404 NotAuthorizedOrNotFound ("Authorization failed or requested resource not found")."""
        policy = self.policies.oci
        if policy is None:
            return
        for permission in OCI.get(operation, (f"(no permission known for {operation})",)):
            if not policy.allows(self.policies.oci_group, permission, self.policies.oci_compartment,
                                 on_tenancy=OCI_LOCATION.get(permission) == "tenancy"):
                raise OciError(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")

    def _answer(self, status: int, body: Any, headers: dict[str, str]) -> Response:
        response = Response(b"" if status == 204 else json.dumps(body), status=status, mimetype="application/json")
        response.headers["opc-request-id"] = uuid.uuid4().hex.upper()
        for name, value in headers.items():
            if value:
                response.headers[name] = value
        return response

    def _log(self, operation: str, status: int, code: str, started: float, fault=None, throttled: str = "") -> None:
        entry = {"action": operation, "status": status, "code": code, "t": started}
        if fault is not None:
            entry["fault"] = fault.kind
        if throttled:
            entry["throttled"] = throttled
        self._log_call(entry)
