"""One shared sandbox: both emulators behind one port, for many responder processes at once.

Parts: SharedSandbox (start/stop, port, `wsgi` — the per-request dispatch and the read-only
`/_sandbox/state` and `/_sandbox/calls` routes), export_lines (the `export NAME=value` lines that
point a responder process at it), state_of_aliyun / state_of_aws (what each cloud holds), and
run_shared (what `responder sandbox` runs: start, print the exports, serve until SIGINT/SIGTERM).

Dispatch, per request: a SigV4 `Authorization: AWS4-HMAC-SHA256 ...` header goes to the EC2
emulator (moto + the scenario middleware); anything else to the Aliyun ECS RPC emulator, which
signs in its parameters (`Action=...&Signature=...`) and so never sends that header; a path under
`/oci/` to the OCI emulator (its clients' base URL is `http://host:port/oci`).
`POST /_sandbox/advance?seconds=N` moves every cloud's scenario time together.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, TextIO
from urllib.parse import parse_qs

from responder.sandbox import race_model
from responder.sandbox.loopback import LoopbackServer, QuietHandler
from responder.sandbox.runtime import SANDBOX_KEY, SANDBOX_SECRET
from responder.sandbox.scenario import Scenario

log = logging.getLogger(__name__)
_JSON = [("Content-Type", "application/json")]


class SharedSandbox:
    """The scenario's Aliyun and AWS emulators served on one host:port."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", port: int = 0, key_dir: str | None = None):
        self.scenario = scenario
        self.host = host
        self.port = port
        self.key_dir = key_dir  # where the OCI API key's PEM goes (None: a new temp dir)
        self.aliyun = None
        self.aws = None
        self.oci = None  # OciSandbox
        self._server: LoopbackServer | None = None

    def start(self) -> "SharedSandbox":
        handler = QuietHandler
        if self.scenario.regions_of("aliyun"):
            # Lazy: only the clouds the scenario (or a replay's event) needs are started.
            from responder.sandbox.aliyun_ecs import AliyunEcsEmulator

            self.aliyun = AliyunEcsEmulator(self.scenario, SANDBOX_KEY, SANDBOX_SECRET).start(serve=False)
        if self.scenario.regions_of("aws"):
            # Lazy: only the clouds the scenario (or a replay's event) needs are started; moto is slow to load.
            from responder.sandbox.aws_ec2 import AwsEc2Emulator, quiet_moto_handler

            self.aws = AwsEc2Emulator(self.scenario).start(serve=False)
            handler = quiet_moto_handler()  # moto needs its environ fix-ups on every request it sees
        if self.scenario.raw.get("oci"):
            # Lazy: only the clouds the scenario needs are started; the OCI SDK is slow to load.
            from responder.sandbox.oci_setup import start_oci

            self.oci = start_oci(self.scenario, key_dir=self.key_dir, serve=False)
        self._server = LoopbackServer(self.wsgi, self.port, "shared-sandbox", handler=handler, host=self.host)
        self.port = self._server.start()
        if self.oci is not None:
            self.oci.endpoint = f"http://{self.address}/oci"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "SharedSandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """host:port to connect to (a wildcard bind is reached on loopback)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"{host}:{self.port}"

    # -- HTTP ------------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_sandbox/state" and environ.get("REQUEST_METHOD") == "GET":
            return _answer(start_response, 200, self.state())
        if path == "/_sandbox/calls" and environ.get("REQUEST_METHOD") == "GET":
            return _answer(start_response, 200, self.calls())
        if path == "/_sandbox/advance" and environ.get("REQUEST_METHOD") == "POST":
            seconds = _float_arg(environ.get("QUERY_STRING", ""), "seconds")
            if seconds is None:
                return _answer(start_response, 400, {"error": "advance needs ?seconds=N (a number)"})
            now = {}
            clouds = (("aliyun", self.aliyun), ("aws", self.aws), ("oci", self.oci and self.oci.emulator))
            for cloud, emulator in clouds:
                if emulator is not None:
                    emulator.clock.advance(seconds)
                    now[cloud] = emulator.clock()
            return _answer(start_response, 200, {"advanced": seconds, "now": now})
        if path.startswith("/_sandbox/"):
            return _answer(start_response, 404, {"error": "unknown sandbox route; see docs/sandbox.md"})
        if path.startswith("/oci/"):
            if self.oci is None:
                return _answer(start_response, 404, {"error": "this scenario has no oci section"})
            return self.oci.emulator.wsgi(environ, start_response)
        target = self.aws if environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-HMAC-SHA256") else self.aliyun
        if target is None:
            return _answer(start_response, 404, {"error": "this scenario has no region of the cloud that signed the request"})
        return target.wsgi(environ, start_response)

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.aliyun is not None:
            out["aliyun"] = state_of_aliyun(self.aliyun)
        if self.aws is not None:
            out["aws"] = state_of_aws(self.aws)
        if self.oci is not None:
            out["oci"] = state_of_oci(self.oci.emulator)
        return out

    def calls(self) -> dict[str, list[dict[str, Any]]]:
        """Each cloud's call log (parameters without signatures or access keys)."""
        out: dict[str, list[dict[str, Any]]] = {}
        if self.aliyun is not None:
            out["aliyun"] = self.aliyun.calls
        if self.aws is not None:
            out["aws"] = self.aws.calls
        if self.oci is not None:
            out["oci"] = self.oci.emulator.calls
        return out


def state_of_aliyun(emulator) -> dict[str, Any]:
    world = emulator.world
    with world.lock:
        images = [{"id": i["id"], "status": world.image_status(i)[0], "instance": i.get("instance", ""),
                   "region": i["region"]} for i in world.images.values()]
        instances = [{"id": i["id"], "status": world.instance_status(i), "zone": i.get("zone", ""),
                      "type": i["type"], "image": i.get("image", ""), "region": i["region"],
                      "spot_strategy": i.get("spot_strategy", "NoSpot"), "notice_at": i.get("notice_at"),
                      "release_at": i.get("release_at")} for i in world.instances.values()]
        reservations = [{"id": r["id"], "type": r["type"], "zone": r["zone"], "total": r["total"],
                         "used": r["used"], "status": r["status"], "region": r["region"]}
                        for r in world.reservations.values()]
    return {"images": images, "instances": instances, "reservations": reservations}


def state_of_oci(emulator) -> dict[str, Any]:
    world = emulator.world
    with world.lock:
        world.settle()
        instances = [{"id": i["id"], "status": world.state_of(i), "zone": i["availabilityDomain"],
                      "type": i["shape"], "name": i.get("displayName", ""), "market": i["market"],
                      "region": world.config.region} for i in world.instances.values()]
    return {"instances": instances}


def state_of_aws(emulator) -> dict[str, Any]:
    # Lazy: moto behind it loads only when an AWS state is asked for.
    from responder.sandbox import aws_seed

    instances, reservations = [], []
    race = emulator.race
    for name, view in emulator.views.items():
        backend = aws_seed.ec2_backend(view.account, name)
        for reservation in list(backend.reservations.values()):
            for inst in reservation.instances:
                unread = (inst.id, name) in race.unread
                instances.append({"id": inst.id, "status": inst.state, "zone": inst.placement.zone,
                                  "type": inst.instance_type, "image": inst.image_id,
                                  "lifecycle": inst.lifecycle or "on-demand", "region": name,
                                  "notice_at": race_model.FIRST_READ if unread else None,
                                  "release_at": race.pending.get((inst.id, name), race.released.get(inst.id))})
        for r in emulator.reservations[name].describe({}).get("CapacityReservations", []):
            reservations.append({"id": r["CapacityReservationId"], "type": r["InstanceType"],
                                 "zone": r["AvailabilityZone"], "total": r["TotalInstanceCount"],
                                 "available": r["AvailableInstanceCount"], "status": r["State"], "region": name})
    images = [{"id": i["id"], "status": i["state"], "instance": i["instance"]} for i in emulator.images.snapshot()]
    return {"images": images, "instances": instances, "reservations": reservations}


def export_lines(box: SharedSandbox) -> list[str]:
    """Shell lines that point `responder serve | replay | tick | odcr` at the shared sandbox."""
    aws_regions = box.scenario.regions_of("aws")
    oci = [f"export {name}={value}" for name, value in box.oci.env.items()] if box.oci is not None else []
    return [
        f"export RESPONDER_ALIYUN_ENDPOINT={box.address}",
        f"export ALIBABA_CLOUD_ACCESS_KEY_ID={SANDBOX_KEY}",
        f"export ALIBABA_CLOUD_ACCESS_KEY_SECRET={SANDBOX_SECRET}",
        f"export RESPONDER_AWS_ENDPOINT_URL=http://{box.address}",
        f"export AWS_ACCESS_KEY_ID={SANDBOX_KEY}",
        f"export AWS_SECRET_ACCESS_KEY={SANDBOX_SECRET}",
        f"export AWS_DEFAULT_REGION={aws_regions[0].region if aws_regions else 'us-east-1'}",
    ] + oci


def run_shared(scenario: Scenario, host: str, port: int, env_file: str | None = None,
               out: TextIO = sys.stdout, on_started: Callable[[SharedSandbox], None] | None = None) -> None:
    """Start, print the exports (and write them to env_file), serve until SIGINT or SIGTERM."""
    # The aliyun SDK's callers send proxy variables even to loopback; nothing here needs a proxy.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    key_dir = os.path.dirname(os.path.abspath(env_file)) if env_file else None  # the OCI key beside the env file
    box = SharedSandbox(scenario, host, port, key_dir=key_dir).start()
    try:
        lines = export_lines(box)
        if env_file:
            # Written whole, then renamed: a script polling for the file never reads half of it.
            partial = Path(f"{env_file}.partial")
            partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
            partial.replace(env_file)
        out.write("\n".join(lines) + "\n")
        out.flush()
        log.info("shared sandbox on %s (clouds: %s); GET /_sandbox/state, /_sandbox/calls", box.address,
                 ", ".join(c for c, e in (("aliyun", box.aliyun), ("aws", box.aws), ("oci", box.oci)) if e is not None))
        if on_started:
            on_started(box)
        while not stopping.wait(0.5):  # short waits: the signal handler runs between them
            pass
        log.info("shared sandbox stopping")
    finally:
        box.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _answer(start_response, status: int, payload: Any):
    data = json.dumps(payload, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    start_response(f"{status} {reason}", _JSON + [("Content-Length", str(len(data)))])
    return [data]


def _float_arg(query: str, name: str) -> float | None:

    raw = parse_qs(query).get(name, [""])[-1]
    try:
        return float(raw)
    except ValueError:
        return None
