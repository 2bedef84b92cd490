"""`responder odcr`: create or expand capacity reservations through the shared engine.

Parts: EXIT_* (documented exit codes), SHARED (options accepted on the group *and* on each
subcommand, so `odcr --region X create ...` and `odcr create ... --region X` both work — the old
tool broke on the second), odcr (the click group), create, expand, _refuse_above_limit (the
--count bound), _Run (sandbox / cloud / ledger / signals / engine for one invocation), _exit_code.

The successor of the old ODCR script ("ODCR本地管理工具"): same
algorithm family (halve on shortage, grow the last reservation first, the same three waits as
options), same result JSON on the last line of stdout, progress on stderr. New: several zones
(`--availability-zone a,b,c`), Aliyun (`--cloud aliyun`), a ledger so `--run-id` resumes a run
killed at any point without buying twice, `--sandbox` to try it all without an account.

Exit codes: 0 target reached; 2 bad input (arguments, a --count above RESPONDER_MAX_ODCR_COUNT,
unknown zone/type, reservation not found);
3 partial (some capacity, not all, by the deadline); 4 nothing acquired; 5 credentials or
permissions; 6 other cloud error; 130 interrupted by Ctrl+C, 143 by SIGTERM (the JSON still says
what was acquired).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Optional

import click
from rich.console import Console

from responder.capacity.engine import CapacityEngine, EngineConfig, MemoryLedger, Outcome, Waits
from responder.capacity.ledger import SqlLedger
from responder.capacity.reservations import ReservationAcquirer
from responder.errors import CloudError, Invalid, NotFound
from responder.extras import sandbox_or_usage_error
from responder.model import Offering
from responder.clouds.zone_regions import MixedRegions, region_of_zones
from responder.odcr.report import HINTS, Reporter, create_result, elapsed_text, expand_result, hint_for, text_lines
from responder.settings import Settings, SettingsError

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL, EXIT_NOTHING, EXIT_AUTH, EXIT_CLOUD = 0, 2, 3, 4, 5, 6
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}
EXIT_CODES_HELP = ("\b\nExit codes:\n  0  target reached\n  2  bad input (arguments, a --count above "
                   "RESPONDER_MAX_ODCR_COUNT, unknown zone or type, reservation not found)\n"
                   "  3  partial: some capacity, not all, by the deadline\n  4  nothing acquired\n"
                   "  5  credentials or permissions\n  6  other cloud error\n"
                   "  130 / 143  interrupted by Ctrl+C / SIGTERM (the JSON still says what was acquired)")
DEFAULT_LEDGER = Path.home() / ".responder" / "odcr-ledger.db"
DEFAULTS = {"timeout": 60.0, "cloud": "aws", "wait_after_success": 30.0, "wait_after_halving": 5.0,
            "wait_after_shortage": 30.0}

SHARED = (
    click.option("--region", default=None, help="Region (default: the zone's own region, us-west-2a -> us-west-2; "
                 "else AWS_DEFAULT_REGION / the profile's)."),
    click.option("--cloud", type=click.Choice(["aws", "aliyun"]), default=None, help="Cloud (default aws)."),
    click.option("--timeout", type=float, default=None, help="Give up after this many minutes (default 60)."),
    click.option("--wait-after-success", type=float, default=None, help="Seconds after a success (default 30)."),
    click.option("--wait-after-halving", type=float, default=None, help="Seconds before a halved retry (default 5)."),
    click.option("--wait-after-shortage", type=float, default=None,
                 help="Seconds to wait when even 1 is refused (default 30)."),
    click.option("--sandbox", is_flag=True, default=False, help="Run against the in-process sandbox cloud."),
    click.option("--scenario", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="Sandbox scenario file (default: the shipped default.yaml)."),
    click.option("--ledger", default=None, help=f"Ledger: SQLAlchemy URL or file (default {DEFAULT_LEDGER})."),
    click.option("--run-id", default=None, help="Resume this run (printed at the start of every run)."),
    click.option("--endpoint", default=None, help="API endpoint override (a VPC endpoint, an emulator)."),
    click.option("--text", is_flag=True, default=False,
                 help="Print the old tool's lines on stdout instead of the JSON: one line per reservation whose "
                      "4th field is its id (`| grep cr- | awk '{print $4}'`), then a summary."),
)
SHARED_NAMES = ("region", "cloud", "timeout", "wait_after_success", "wait_after_halving", "wait_after_shortage",
                "sandbox", "scenario", "ledger", "run_id", "endpoint", "text")


def shared_options(func):
    for option in reversed(SHARED):
        func = option(func)
    return func


def _options(ctx: click.Context, local: dict[str, Any]) -> dict[str, Any]:
    """Subcommand value, else group value, else the default. ctx.meta, not ctx.obj: the parent
    `responder` group owns obj."""
    group = ctx.meta.get("responder.odcr", {})
    merged = {}
    for name in SHARED_NAMES:
        value = local.get(name)
        if value is None or value is False:
            value = group.get(name)
        merged[name] = DEFAULTS.get(name) if value is None else value
    for name in ("timeout", "wait_after_success", "wait_after_halving", "wait_after_shortage"):
        if merged[name] < 0:
            raise click.BadParameter("must be >= 0", param_hint=f"--{name.replace('_', '-')}")
    return merged


@click.group(epilog=EXIT_CODES_HELP)
@shared_options
@click.pass_context
def odcr(ctx: click.Context, **shared):
    """Create or expand capacity reservations (AWS ODCR, Aliyun capacity reservations)."""
    ctx.meta["responder.odcr"] = shared


@odcr.command(epilog=EXIT_CODES_HELP)
@click.option("--instance-type", required=True, help="Instance type, e.g. m5.large or ecs.g7.large.")
@click.option("--availability-zone", "zones", required=True, help="Zone, or several: a,b,c (spread across them).")
@click.option("--count", type=click.IntRange(min=1), required=True, help="How many instances to reserve.")
@click.option("--preference", type=click.Choice(["open", "targeted"]), default="open", show_default=True)
@shared_options
@click.pass_context
def create(ctx: click.Context, instance_type: str, zones: str, count: int, preference: str, **local):
    """Reserve COUNT instances of a type in one or more zones, in as few reservations as possible."""
    _refuse_above_limit(count)
    opts = _options(ctx, local)
    zone_list = [z.strip() for z in zones.split(",") if z.strip()]
    if not zone_list:
        raise click.BadParameter("name at least one zone", param_hint="--availability-zone")
    try:
        opts["zone_region"] = region_of_zones(opts["cloud"], zone_list)
    except MixedRegions as exc:
        raise click.BadParameter(str(exc), param_hint="--availability-zone") from None
    offerings = [Offering(instance_type, z) for z in dict.fromkeys(zone_list)]
    title = f"target: reserve {count} x {instance_type} in {', '.join(zone_list)}; timeout {opts['timeout']:g} min"
    with _Run(opts, "create", title, count) as run:
        acquirer = ReservationAcquirer(run.cloud, run.region, preference, (("responder:run", run.run_id),))
        outcome = run.engine(acquirer, offerings, count, EngineConfig(timeout=run.timeout, waits=run.waits))
        run.finish(create_result(outcome, run.elapsed(), **run.extra()), outcome)


@odcr.command(epilog=EXIT_CODES_HELP)
@click.option("--odcr-id", required=True, help="The reservation to grow (cr-... on AWS, crp-... on Aliyun).")
@click.option("--count", type=click.IntRange(min=1), required=True, help="How many instances to add.")
@shared_options
@click.pass_context
def expand(ctx: click.Context, odcr_id: str, count: int, **local):
    """Add COUNT instances to an existing reservation."""
    _refuse_above_limit(count)
    opts = _options(ctx, local)
    title = f"target: add {count} to {odcr_id}; timeout {opts['timeout']:g} min"
    with _Run(opts, "expand", title, count) as run:
        acquirer = ReservationAcquirer(run.cloud, run.region)
        current = run.guard(lambda: acquirer.describe(odcr_id), odcr_id=odcr_id)
        run.reporter.say(f"current capacity: {current.count} ({current.offering.instance_type} in {current.offering.zone})")
        config = EngineConfig(timeout=run.timeout, waits=run.waits, allow_create=False)
        outcome = run.engine(acquirer, [current.offering], count, config, holdings=(current,))
        final = next((h.count for h in outcome.holdings if h.holding_id == odcr_id), current.count)
        run.finish(expand_result(outcome, odcr_id, final, run.elapsed(), **run.extra()), outcome)


def _refuse_above_limit(count: int) -> None:
    """A --count above RESPONDER_MAX_ODCR_COUNT exits 2 before any cloud call: 1000 typed for 100
    is a bill, not a typo."""
    try:
        limit = Settings.from_env().max_odcr_count
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if count > limit:
        raise click.BadParameter(f"{count} is above RESPONDER_MAX_ODCR_COUNT={limit} (raise the setting to reserve more)",
                                 param_hint="--count")


class _Failed(Exception):
    """A cloud error before the engine ran (bad zone, unknown reservation): already reported."""


class _Run:
    """Everything one invocation needs, torn down in order: signals, sandbox, progress."""

    def __init__(self, opts: dict[str, Any], kind: str, title: str, target: int):
        self.opts, self.kind, self.target = opts, kind, target
        self.started = time.monotonic()
        self.stop, self.signum = threading.Event(), None
        self.sandbox = None
        self.console = Console(file=sys.stderr, highlight=False)
        self.timeout = opts["timeout"] * 60.0
        self.waits = Waits(opts["wait_after_success"], opts["wait_after_halving"], opts["wait_after_shortage"])
        self.run_id = opts["run_id"] or f"odcr-{kind}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.title = title

    def __enter__(self) -> "_Run":
        self._old = {s: signal.signal(s, self._on_signal) for s in EXIT_SIGNAL}
        try:
            self.cloud, self.region = self._cloud()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.ledger = self._ledger()
        self.reporter = Reporter(self.console, self.target, self.title, self.stop)
        self.reporter.say(f"run id: {self.run_id} (resume with --run-id {self.run_id}) | {self.opts['cloud']} {self.region}")
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if getattr(self, "reporter", None) is not None:
            self.reporter.close()
        if self.sandbox is not None:
            self.sandbox.stop()
        for s, old in getattr(self, "_old", {}).items():
            signal.signal(s, old)
        if exc_type is _Failed:
            sys.exit(self.code)
        return False

    def _on_signal(self, signum, _frame) -> None:
        # Only a flag: an in-flight cloud call finishes and is written to the ledger first.
        self.signum = self.signum or signum
        self.stop.set()

    def _cloud(self):
        opts, cloud = self.opts, self.opts["cloud"]
        # --region, else the zone's own region, else the environment's (AWS_DEFAULT_REGION / the profile).
        region = opts["region"] or opts.get("zone_region")
        if opts["sandbox"]:
            sandbox_or_usage_error()
            # Lazy: the sandbox is an install extra a production install lacks.
            from responder.sandbox.runtime import start_sandbox
            from responder.sandbox.scenario import load_scenario

            scenario = load_scenario(opts["scenario"])
            if not scenario.regions_of(cloud):
                raise click.UsageError(f"the scenario has no {cloud} region")
            known = [r.region for r in scenario.regions_of(cloud)]
            if not opts["region"] and region not in known:
                # A zone of no region the sandbox knows: the environment's region, where the cloud
                # refuses the zone as EC2 does (InvalidParameterValue), exit 2.
                region = (os.environ.get("AWS_DEFAULT_REGION") if cloud == "aws" else None) or known[0]
            self.sandbox = start_sandbox(scenario, only=(cloud,))
            return self.sandbox.clouds[cloud], region

        settings = Settings.from_env()
        if cloud == "aliyun":
            # Lazy: each cloud's SDK loads only when that cloud is used (a cold start pays for none it skips).
            from responder.clouds.aliyun import AliyunCloud

            if not region:
                raise click.UsageError("--region is required with --cloud aliyun unless the zone names it "
                                       "(e.g. cn-hangzhou)")
            if not settings.aliyun_access_key_id:
                raise click.UsageError("set ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            return AliyunCloud(settings.aliyun_access_key_id, settings.aliyun_access_key_secret,
                               security_token=settings.aliyun_security_token,
                               endpoint=opts["endpoint"] or settings.aliyun_endpoint), region
        # Lazy: boto3 costs about 0.3 s of a start; it loads only when AWS is used.
        import boto3

        # Lazy: boto3 costs about 0.3 s of a start; it loads only when AWS is used.
        from responder.clouds.aws import AwsCloud

        region = region or boto3.session.Session().region_name
        if not region:
            raise click.UsageError("--region is required (or set AWS_DEFAULT_REGION / a profile region)")
        return AwsCloud(endpoint_url=opts["endpoint"] or settings.aws_endpoint_url or None), region

    def _ledger(self):
        if self.opts["ledger"] is None and self.opts["sandbox"]:
            return MemoryLedger()  # the sandbox dies with the process; so would anything to resume

        target = self.opts["ledger"] or str(DEFAULT_LEDGER)
        if "://" not in target:
            Path(target).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return SqlLedger(target)

    def guard(self, call, odcr_id: str = ""):
        """Run a cloud call outside the engine; a failure prints the error JSON and exits."""
        try:
            return call()
        except CloudError as err:
            self.code = _error_code(err)
            self.reporter.say(f"error: {err}")
            hint = HINTS["not_found"] if isinstance(err, NotFound) else hint_for(f"{err.code} {err.message}")
            if hint:
                self.reporter.say(f"hint: {hint}")
            self.emit({"success": False, "odcr_id": odcr_id, "completed": False,
                       "elapsed_time": elapsed_text(self.elapsed()), "total_attempts": 0,
                       "error": {"code": err.code, "message": err.message, "hint": hint}, **self.extra()})
            raise _Failed() from err

    def emit(self, result: dict) -> None:
        """The result on stdout: the JSON on one line, or with --text the old tool's lines."""
        if self.opts["text"]:
            print("\n".join(text_lines(result)), flush=True)
        else:
            print(json.dumps(result, ensure_ascii=False), flush=True)

    def engine(self, acquirer, offerings, target, config, holdings=()) -> Outcome:
        return CapacityEngine(acquirer, offerings, target, run_id=self.run_id, config=config, ledger=self.ledger,
                              holdings=holdings, on_event=self.reporter.on_event, sleep=self.reporter.sleep,
                              should_stop=self.stop.is_set).run()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def extra(self) -> dict:
        return {"run_id": self.run_id, "cloud": self.opts["cloud"], "region": self.region}

    def finish(self, result: dict, outcome: Outcome) -> None:
        code = _exit_code(outcome, self.signum)
        if outcome.error is not None:
            err = outcome.error
            hint = HINTS["not_found"] if isinstance(err, NotFound) else hint_for(f"{err.code} {err.message}")
            result["error"] = {"code": err.code, "message": err.message, "hint": hint}
            self.reporter.say(f"error: {err}" + (f"\nhint: {hint}" if hint else ""))
        elif outcome.acquired == 0 and code == EXIT_NOTHING:
            self.reporter.say(f"hint: {HINTS['no_capacity']}")
        self.reporter.close()
        done = "done" if outcome.completed else f"stopped ({outcome.reason})"
        self.reporter.say(f"{done}: {outcome.acquired}/{outcome.target} in "
                          f"{len(outcome.holdings)} reservation(s), {outcome.attempts} attempts")
        self.emit(result)
        self.code = code
        if code:
            raise _Failed()


def _error_code(err: CloudError) -> int:
    if hint_for(err.code) == HINTS["auth"]:  # by code only: a message may mention anything
        return EXIT_AUTH
    if isinstance(err, (Invalid, NotFound)):
        return EXIT_USAGE
    return EXIT_CLOUD


def _exit_code(outcome: Outcome, signum: Optional[int]) -> int:
    if outcome.completed:
        return EXIT_OK
    if signum is not None:
        return EXIT_SIGNAL.get(signum, 130)
    if outcome.error is not None:
        return _error_code(outcome.error)
    return EXIT_PARTIAL if outcome.acquired > 0 else EXIT_NOTHING


def main() -> None:  # `python -m responder.odcr.cli`; `responder odcr` mounts the same group
    odcr(prog_name="odcr")


if __name__ == "__main__":
    main()
