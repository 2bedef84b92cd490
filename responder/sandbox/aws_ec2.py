"""A wire-level EC2 for tests and newcomers: moto, served in-process, behind a scenario middleware.

Parts: AwsEc2Emulator (start/stop/context manager, `endpoint_url`, `calls` from CallLog, `clock`, `stock`),
its WSGI middleware (records every call, adds the scenario's latency and injected faults, answers
what moto lacks, and otherwise forwards to moto's own WSGI app), and the `/_sandbox/*` control
routes (advance scenario time, read the call log and the stock). Every call but the account
owner's (SANDBOX_ADMIN_KEY) is first checked against the scenario's IAM policy (authz_aws; the
shipped one by default). ClientToken idempotency is one
generic layer for every action (aws_tokens); a region not in the scenario answers AuthFailure.

What is intercepted, and where: capacity reservations in aws_capacity; spot placement scores in
aws_scores; spot prices (the ones CreateFleet's strategies weigh) in aws_allocation; the Price List API's
GetProducts (on-demand prices) in aws_pricing; RunInstances /
CreateFleet capacity, image build time and the scenario's instance-type offerings in aws_launch;
snapshot tags of CreateImage and creation times in scenario time in aws_retention; EBS volume rules
(DeleteOnTermination, AttachVolume, an AMI's per-volume snapshots) in aws_volumes; an address in
use refused by AssignPrivateIpAddresses in aws_private_ip; root volume replacement and the content
markers of root volumes in aws_swap;
the scenario's VPCs, subnets, groups, key pairs and instances are seeded into moto's backend by
aws_seed before the server starts.

moto's state is process-global (keyed by account and region): starting an emulator resets the
EC2 backend of each scenario region, so run one emulator per region at a time.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from typing import Any, Callable
from urllib.parse import urlencode

from responder.sandbox import (
    aws_allocation,
    aws_capacity,
    aws_clone,
    aws_launch,
    aws_pricing,
    aws_private_ip,
    aws_race,
    aws_retention,
    aws_scores,
    aws_seed,
    aws_swap,
    aws_volumes,
    spot_advice,
)
from responder.sandbox.authz import SANDBOX_ADMIN_KEY
from responder.sandbox.authz_aws import access_key_of, authorize_ec2, authorize_secret
from responder.sandbox.aws_tokens import ClientTokens
from responder.sandbox.aws_wire import (
    Ec2Error,
    check_filter_values,
    ec2_response,
    error_body,
    parse_query,
    status_for,
    unflatten,
)
from responder.sandbox.call_log import CallLog
from responder.sandbox.image_removals import ImageRemovals
from responder.sandbox.loopback import DropConnection, LoopbackServer, QuietHandler
from responder.sandbox.rate_limits import rate_limits_for
from responder.sandbox.scenario import Scenario, load_scenario

DEFAULT_ACCOUNT = "123456789012"  # moto's default; used when a scenario region names none
_REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
log = logging.getLogger(__name__)
_ERROR_CODE = re.compile(rb"<Code>([^<]+)</Code>")
# Query-signed requests (curl, presigned URLs) carry these; never in the call log.
_SECRET_PARAMS = {"AWSAccessKeyId", "Signature", "SecurityToken"}


class Call:
    """What one intercept handler sees: the region, its parameters, and a way to ask moto."""

    def __init__(self, emulator: "AwsEc2Emulator", region: str, action: str, params: dict[str, str],
                 environ: dict[str, Any]):
        self.emulator = emulator
        self.region = region
        self.action = action
        self.params = params  # flat, as sent: {"InstanceType": "m5.large", "Filter.1.Name": ...}
        self.p = unflatten(params)  # nested: {"Filter": [{"Name": ..., "Value": [...]}]}
        self._environ = environ

    @property
    def view(self) -> aws_capacity.RegionView:
        return self.emulator.views[self.region]

    @property
    def backend(self):
        return aws_seed.ec2_backend(self.view.account, self.region)

    def forward(self, overrides: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Send the call (optionally with parameters replaced) to moto; (status, body)."""
        params = dict(self.params, **(overrides or {}))
        body = urlencode(params).encode("utf-8")
        environ = dict(self._environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        status_holder: list[str] = []

        def start_response(status, headers, exc_info=None):
            status_holder.append(status)

        chunks = self.emulator._moto(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return int(status_holder[0].split()[0]), data


Handler = Callable[[Call], "tuple[int, bytes]"]


class AwsEc2Emulator(CallLog):
    """moto's EC2 on 127.0.0.1, driven by a scenario. `with AwsEc2Emulator(scn) as emu: ...`"""

    def __init__(self, scenario: Scenario | str | dict | None = None, port: int = 0, clock=None):
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.regions = self.scenario.regions_of("aws")
        if not self.regions:
            raise ValueError("the scenario has no aws region")
        self.port = port
        self.clock = clock or self.scenario.new_clock()  # a bench may drive its own (virtual) clock
        self.epoch = time.time()  # wall time at scenario t=0, for CreationDate / CreateTime fields
        self.stock = self.scenario.new_stock(self.clock)
        self.faults = self.scenario.new_faults()
        self.policies = self.scenario.new_policies()  # IAM: None when the scenario turns it off
        self.rate_limits = rate_limits_for(self.scenario.raw, "aws", self.clock)  # None: `rate_limits:` off
        self.race = aws_race.AwsRace(self.scenario, self.clock)
        self.removals = ImageRemovals(self.scenario.raw)  # `deleted_images:`, deregistered at their time
        self.gone_images: set[str] = set()  # deregistered AMIs: RunInstances refuses them
        self.backends: dict[str, Any] = {}
        CallLog.__init__(self)
        self.views: dict[str, aws_capacity.RegionView] = {}
        self.reservations: dict[str, aws_capacity.CapacityReservations] = {}
        self.images = aws_launch.ImageBook(self.clock, self.scenario.image_build_seconds, self.race.image_seconds)
        self.volumes = aws_volumes.VolumeBook(self.clock)
        self.swaps = aws_swap.RootSwaps(self.clock, self.scenario.raw, self.epoch)
        self.tokens = ClientTokens()
        self.endpoint_url = ""
        self.advisor_fetches = 0  # GETs of the Advisor's document (not an EC2 call: not in the call log)
        self._server: LoopbackServer | None = None
        self._moto = None
        self._handlers: dict[str, Handler] = {
            "CreateCapacityReservation": lambda c: self._ok(c, self.reservations[c.region].create(c.p)),
            "ModifyCapacityReservation": lambda c: self._ok(c, self.reservations[c.region].modify(c.p)),
            "DescribeCapacityReservations": lambda c: self._ok(c, self.reservations[c.region].describe(c.p)),
            "CancelCapacityReservation": lambda c: self._ok(c, self.reservations[c.region].cancel(c.p)),
            "GetSpotPlacementScores": aws_scores.get_spot_placement_scores,
            "DescribeSpotPriceHistory": aws_allocation.describe_spot_price_history,
            "RunInstances": aws_launch.run_instances,
            "CreateFleet": aws_launch.create_fleet,
            "CreateImage": aws_launch.create_image,
            "DescribeImages": aws_launch.describe_images,
            "DeregisterImage": aws_launch.deregister_image,
            "CreateLaunchTemplate": aws_retention.create_launch_template,
            "DescribeInstanceTypeOfferings": aws_launch.describe_offerings,
            "DescribeInstanceCreditSpecifications": aws_clone.describe_instance_credit_specifications,
            **aws_volumes.VOLUME_HANDLERS,  # EBS rules moto leaves out; wraps CreateImage / DescribeImages
            **aws_private_ip.PRIVATE_IP_HANDLERS,  # an address in use is refused
            **aws_swap.SWAP_HANDLERS,  # root volume replacement, content markers; wraps aws_volumes' CreateImage
        }

    @property
    def region(self) -> str:
        """The first (usually only) aws region of the scenario."""
        return self.regions[0].region

    @staticmethod
    def _ok(call: Call, result: dict[str, Any]) -> tuple[int, bytes]:
        return 200, ec2_response(call.action, result)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, serve: bool = True) -> "AwsEc2Emulator":
        """serve=False: seed moto but run no server of its own; a shared server calls `wsgi`."""
        # Lazy: moto loads in about 1.5 s; an Aliyun- or OCI-only sandbox never needs it.
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        for region in self.regions:
            account = region.account or DEFAULT_ACCOUNT
            backend = aws_seed.seed_region(account, region, self.images)
            aws_clone.seed_clone_attributes(backend, region)
            self.backends[region.region] = backend
            view = aws_capacity.RegionView(
                region=region.region, account=account, zones=list(region.zones),
                zone_ids=aws_seed.zone_ids(backend), offered=aws_launch.offered_fn(region),
                stock=self.stock, clock=self.clock, scores=list(region.raw.get("placement_scores", [])),
            )
            self.views[region.region] = view
            self.reservations[region.region] = aws_capacity.CapacityReservations(view)
        self._moto = DomainDispatcherApplication(create_backend_app)

        if not serve:
            return self
        self._server = LoopbackServer(self._wsgi, self.port, "aws-ec2-emulator", handler=quiet_moto_handler())
        self.port = self._server.start()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> "AwsEc2Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the middleware --------------------------------------------------------------------
    def _record(self, action: str, status: int, code: str, params: dict[str, str],
                t: float | None = None, wall: float | None = None, fault: str | None = None,
                region: str = "", throttled: str = "") -> None:
        """`t` is scenario time and `wall` time.time() at the call's arrival (before the latency);
        `region` the one the request was signed for, served or not; `throttled` the rate limit
        that refused it."""
        entry = {"action": action, "status": status, "code": code, "params": params, "t": t, "wall": wall,
                 "region": region}
        if fault:
            entry["fault"] = fault
        if throttled:
            entry["throttled"] = throttled
        self._log_call(entry)

    def _deregister_due(self) -> None:
        """The scenario's `deleted_images:` whose time has come are deregistered, as their owner would."""
        for image_id in self.removals.due(self.clock()):
            self.gone_images.add(image_id)
            for backend in self.backends.values():
                if image_id in backend.amis:
                    backend.deregister_image(image_id)

    def _throttle(self, call: Call) -> None:
        """Refuse the call as EC2 does when it is over the account's limits (rate_limits.py); the
        Ec2Error carries the refusing limit's name to the call log."""
        if self.rate_limits is None:
            return
        refusal = self.rate_limits.admit(call.view.account, call.region, call.action, call.params)
        if refusal is not None:
            raise Ec2Error(refusal.code, refusal.message, refusal.status, throttled=refusal.bucket)

    def _region_of(self, environ: dict[str, Any]) -> str:
        """The region of the SigV4 credential scope (curl without a signature: the first region)."""
        match = _REGION_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:
            return self.region
        if match.group(1) not in self.views:
            # EC2 answers a request signed for a region it does not serve to this account (unknown,
            # or an opt-in region not enabled) with AuthFailure, HTTP 401: "The provided credentials
            # could not be validated" (Error codes for the Amazon EC2 API,
            # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html; the
            # not-opted-in case reported at https://github.com/turbot/steampipe-plugin-aws/issues/75).
            # OptInRequired would invite the caller to subscribe; AuthFailure is the harsher reading.
            raise Ec2Error("AuthFailure", "AWS was not able to validate the provided access credentials", 401)
        return match.group(1)

    def wsgi(self, environ: dict[str, Any], start_response):
        return self._wsgi(environ, start_response)

    def _wsgi(self, environ: dict[str, Any], start_response):
        if environ.get("PATH_INFO", "").startswith("/_sandbox/"):
            return self._control(environ, start_response)
        if environ.get("PATH_INFO", "") == spot_advice.ADVISOR_PATH:  # the Spot Instance Advisor's data, public
            self.advisor_fetches += 1
            return spot_advice.serve_advisor(self.scenario, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        started, arrived = self.clock(), time.time()
        body = environ["wsgi.input"].read(length) if length else b""
        checked = access_key_of(environ) != SANDBOX_ADMIN_KEY  # the account owner is never refused
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("AWSPriceListService."):
            return aws_pricing.serve(self, environ, body, checked, start_response)  # on-demand prices
        if environ.get("HTTP_X_AMZ_TARGET"):
            # A JSON-protocol service on the same endpoint (Secrets Manager holds the store's
            # credentials): moto answers it as sent once IAM allows it; nothing of EC2's applies.
            match = _REGION_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
            refused = authorize_secret(self.policies.aws if checked else None, environ["HTTP_X_AMZ_TARGET"], body,
                                       match.group(1) if match else self.region, self.regions[0].account or DEFAULT_ACCOUNT)
            if refused is not None:
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                                   ("Content-Length", str(len(refused)))])
                return [refused]
            environ["wsgi.input"] = io.BytesIO(body)
            return self._moto(environ, start_response)
        params = parse_query(body, environ.get("QUERY_STRING", ""))
        action = params.get("Action", "")
        logged = {k: v for k, v in params.items() if k not in _SECRET_PARAMS and not k.startswith("X-Amz-")}
        signed = _REGION_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
        signed_region = signed.group(1) if signed else self.region
        if self.scenario.latency_ms:
            time.sleep(self.scenario.latency_ms / 1000.0)
        fault, throttled = None, ""
        try:
            region = self._region_of(environ)
            # moto picks the account from this header; scenario instances live in the scenario's account.
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = self.views[region].account
            call = Call(self, region, action, params, environ)
            if checked:
                authorize_ec2(self.policies.aws, call)  # IAM answers before anything is done
                self._throttle(call)
            check_filter_values(params)
            fault = self.faults.fault_for(action)
            if fault is not None and fault.ends_before_action:
                self._record(action, 0, fault.kind, logged, t=started, wall=arrived, fault=fault.kind,
                             region=signed_region)
                fault.before()  # timeout / reset: the connection ends here, nothing was done
            if fault is not None and fault.kind == "error":
                raise Ec2Error(fault.code, fault.message or _FAULT_MESSAGES.get(fault.code, "Injected fault."),
                               fault.status or status_for(fault.code))
            handler = self._handlers.get(action)
            self.race.arm(params)  # a first_read sample's notice starts when a call names it
            self.race.settle(self.backends)  # interrupted instances whose two minutes ran out are gone first
            self._deregister_due()
            status, data = self.tokens.run(region, action, params, lambda: handler(call) if handler else call.forward())
            if status < 400 and action in ("RunInstances", "CreateFleet"):
                self.race.launched(data)
                self.swaps.launched(self.backends[region], data)
            elif status < 400 and action == "DescribeInstances":
                data = self.race.describe_instances(data)
        except Ec2Error as err:
            status, data, throttled = err.status, error_body(err.code, err.message), err.throttled
        except DropConnection:
            raise  # a timeout / reset fault: werkzeug ends the connection without an answer
        except Exception as err:  # moto refusing a request inside an intercept, or a bug in one
            # moto's own errors carry their code: RESTError as error_type (status in .code), EC2's
            # client errors (InvalidSubnetID.NotFound, InvalidAMIID.NotFound, ...) as .code, a 400.
            moto_code = getattr(err, "code", 0)
            code = getattr(err, "error_type", "") or (moto_code if isinstance(moto_code, str) else "") or "InternalError"
            status = 500 if code == "InternalError" else moto_code if isinstance(moto_code, int) and moto_code else 400
            if status >= 500:  # a bug: answer as EC2 would, keep the trace
                log.exception("sandbox EC2 failed on %s", action)
            data = error_body(code, getattr(err, "message", "") or str(err))
        code = ""
        if status >= 400:
            match = _ERROR_CODE.search(data)
            code = match.group(1).decode() if match else ""
        self._record(action, status, code, logged, t=started, wall=arrived, fault=fault.kind if fault else None,
                     region=signed_region, throttled=throttled)
        if fault is not None:
            fault.after()  # lost: the action was done for real, and its answer never leaves
        start_response(f"{status} {'OK' if status < 400 else 'Error'}",
                       [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(data)))])
        return [data]

    def _control(self, environ: dict[str, Any], start_response):
        """POST /_sandbox/advance?seconds=N, GET /_sandbox/calls, GET /_sandbox/stock?type=&zone=&market=."""
        path = environ["PATH_INFO"]
        q = parse_query(b"", environ.get("QUERY_STRING", ""))
        if path == "/_sandbox/advance":
            self.clock.advance(float(q.get("seconds", "0")))
            payload: Any = {"now": self.clock()}
        elif path == "/_sandbox/calls":
            payload = self.calls
        elif path == "/_sandbox/stock":
            payload = {"available": self.stock.available(q.get("type", ""), q.get("zone", ""), q.get("market", "ondemand"))}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "unknown sandbox route"}']
        data = json.dumps(payload).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def quiet_moto_handler():
    """moto's environ fix-ups with loopback's silence and connection drops."""
    # Lazy: moto loads in about 1.5 s; an Aliyun- or OCI-only sandbox never needs it.
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietMotoHandler(QuietHandler, MotoRequestHandler):
        pass

    return QuietMotoHandler


_FAULT_MESSAGES = {
    "InternalError": "An internal error has occurred.",
    "Unavailable": "The server is overloaded and can't handle the request.",
    "ServiceUnavailable": "The server is overloaded and can't handle the request.",
    "RequestLimitExceeded": "Request limit exceeded.",
    "InsufficientInstanceCapacity": "We currently do not have sufficient capacity in the Availability Zone you requested.",
}
