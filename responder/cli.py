"""The `responder` command: serve, replay, tick, sandbox, standing capacity (`responder targets ...`), the ODCR manager (`responder odcr ...`),
`responder spot-scores` / `responder nodepools` (responder.spot.cli), and the store's schema
(`responder db upgrade | current`).

Parts: cli (click group), serve, replay, tick, sandbox (one shared sandbox cloud for many
processes), outcome_json (what replay prints). What every command shares (settings, logging, the
store, the clouds) is in cli_common.py.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from responder.cli_common import (ConfigError, ResponderGroup, build_runtime, one_line, settings_or_usage_error,
    setup_logging)
from responder.cli_progress import QUIET, progress
from responder.db_cli import db
from responder.errors import BadEvent
from responder.extras import sandbox_or_usage_error
from responder.intake import handle_events
from responder.logfiles import configure_log_file
from responder.logsafe import install_log_redaction
from responder.model import Interruption
from responder.notify.service import attach
from responder.odcr.cli import odcr
from responder.parsing import parse_body
from responder.protect.cli import orphans, protect
from responder.protect.tick import tick_protect
from responder.replace.record import Task
from responder.replace.runner import TaskRunner
from responder.revert.cli import revert
from responder.revert.tick import tick_revert
from responder.setting_names import unknown_settings
from responder.settings import Settings, SettingsError
from responder.spot.cli import nodepools, spot_scores
from responder.store import UNFINISHED
from responder.targets.cli import targets
from responder.targets.tick import tick_targets

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REJECTED = 0, 1, 2, 3
CLI_EXIT_CODES = ("\b\nExit codes (every command):\n  0  done\n"
                  "  1  failed; the store cannot be reached or its schema is behind (one line says which)\n"
                  "  2  bad input: an argument, a setting (RESPONDER_*), a store URL or a scenario file\n"
                  "     (one line names it and the fix)\n"
                  "replay and odcr add their own: see `responder replay --help` and `responder odcr --help`.\n"
                  "A RESPONDER_* variable that is no setting is named on stderr (with the closest setting)\n"
                  "and ignored.")
REPLAY_EXIT_CODES = ("\b\nExit codes:\n  0  done, ignored or a duplicate of a finished task\n"
                     "  1  failed, or not finished within --timeout\n  2  bad input (the event file)\n"
                     "  3  rejected (the cloud does not confirm the interruption)")


@click.group(cls=ResponderGroup, epilog=CLI_EXIT_CODES)
@click.version_option(package_name="interruption-responder")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Interruption Responder: keeps spot / preemptible capacity alive."""
    for line in unknown_settings():  # a misspelt setting is named, not silently ignored
        click.echo(f"warning: {line}", err=True)
    try:  # every subcommand (odcr too) logs through the redaction, even one that sets up no logging
        settings = Settings.from_env()
    except SettingsError as exc:
        if ctx.meta.get("responder.help"):
            return  # `responder tick --help` shows the help whatever the environment holds
        raise ConfigError(one_line(exc)) from None
    install_log_redaction(settings)
    configure_log_file(settings)  # ... and into the dated log file, when RESPONDER_LOG_DIR asks for one


@cli.command()
@click.option("--sandbox", is_flag=True, help="Run against the built-in sandbox clouds on loopback.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False), help="Sandbox scenario file.")
@click.option("--host", default=None, help="Bind address (default 0.0.0.0, or 127.0.0.1 with --sandbox).")
@click.option("--port", type=int, default=None, help="Port (default FC_SERVER_PORT or 9000).")
@click.option("--database-url", default=None, help="Task store URL (default RESPONDER_DATABASE_URL).")
def serve(sandbox: bool, scenario: str | None, host: str | None, port: int | None, database_url: str | None) -> None:
    """Serve /invoke, /events, /tasks, /targets, /healthz, /metrics and the status page at /, with
    a background ticker."""
    # Lazy: the web app (Flask, the status page) is only for `serve`; cron's `tick` never loads it.
    from werkzeug.serving import run_simple

    from responder.web import create_app

    settings = settings_or_usage_error()
    setup_logging(settings.log_level, settings)
    with progress("starting the sandbox clouds", quiet=not sandbox):
        settings, store, clouds, box = build_runtime(sandbox, scenario, database_url, settings)
    app = create_app(settings, runner=TaskRunner(store, clouds, settings))
    app.start_ticker()
    host = host or ("127.0.0.1" if sandbox else "0.0.0.0")
    port = port or settings.port
    if box:
        where = ", ".join(f"{name} at {getattr(e, 'endpoint', None) or e.endpoint_url}"
                          for name, e in box.emulators.items())
        click.echo(f"sandbox clouds: {where}", err=True)
        click.echo(f"try: curl -s -XPOST http://{host}:{port}/events --data-binary @events/aliyun/cloudmonitor-interruption.json", err=True)
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if box:
            box.stop()


@cli.command(epilog=REPLAY_EXIT_CODES)
@click.argument("event_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--sandbox", is_flag=True, help="Run against the built-in sandbox clouds.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False), help="Sandbox scenario file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line of stdout.")
@click.option("--timeout", type=float, default=900.0, show_default=True, help="Seconds to wait for the outcome.")
@click.option("--database-url", default=None, help="Task store URL.")
@QUIET
def replay(event_file: str, sandbox: bool, scenario: str | None, as_json: bool, timeout: float,
           database_url: str | None, quiet: bool) -> None:
    """Run one event file to completion and print the outcome (progress on stderr)."""
    settings = settings_or_usage_error()
    setup_logging("WARNING" if as_json else settings.log_level, settings)
    try:
        events = parse_body(Path(event_file).read_bytes(), settings.max_body_bytes)
    except BadEvent as exc:  # refused before any cloud starts
        _emit({"status": "invalid", "error": str(exc), "http_status": exc.status}, as_json)
        sys.exit(EXIT_BAD_INPUT)
    needed = tuple({e.cloud.value for e in events if isinstance(e, Interruption)})
    with progress("starting the sandbox clouds" if sandbox else "opening the store", quiet or as_json) as say:
        settings, store, clouds, box = build_runtime(sandbox, scenario, database_url,
                                                     settings.with_(background_ticker=False), only=needed)
        runner = TaskRunner(store, clouds, settings)
        started = time.time()
        try:
            say("verifying the event with the cloud")
            _, body = handle_events(runner, events)
            outcomes = []
            for result in body["results"]:
                task = result.get("task")
                if task and not result.get("duplicate"):
                    final = runner.run_to_end(task["id"], timeout=timeout, sleep=_watching(store, task["id"], say))
                    outcomes.append(outcome_json(final, box, started))
                elif task:
                    outcomes.append({**outcome_json(Task(store.get(task["id"])), box, started), "duplicate": True})
                else:
                    outcomes.append({"status": result["outcome"], "reason": result.get("reason", "")})
        finally:
            if box:
                box.stop()
    summary = dict(outcomes[0])
    if len(outcomes) > 1:
        summary["events"] = outcomes
    _emit(summary, as_json)
    statuses = {o["status"] for o in outcomes}
    unfinished_or_failed = statuses & {"failed", *UNFINISHED}
    sys.exit(EXIT_FAILED if unfinished_or_failed else EXIT_REJECTED if "rejected" in statuses else EXIT_OK)


def _watching(store, task_id: str, say):
    """A sleep for run_to_end that first tells where the task is (imaging, launching, ...)."""
    def sleep(seconds: float) -> None:
        row = store.get(task_id)
        if row is not None:
            say(f"task {task_id}: {row.status}")
        time.sleep(seconds)

    return sleep


def outcome_json(task, box, started: float) -> dict:
    record = task.record
    chosen = record.launch.replacement
    received = record.timings.get("received", started)
    return {
        "task_id": task.id, "status": task.status, "reason": task.reason, "cloud": task.cloud,
        "region": task.region, "instance_id": task.instance_id, "image_id": record.image.image_id or None,
        "replacement_ids": list(record.launch.replacement_ids),
        "instance_type": chosen.instance_type if chosen else None, "zone": chosen.zone if chosen else None,
        "market": chosen.market if chosen else None, "intended_calls": record.intended,
        "calls": box.calls(task.cloud) if box else [],
        # Moments as seconds after receipt; the figures that are durations already (the gaps, "_s")
        # as they are.
        "timings": {k: round(v if k.endswith("_s") else v - received, 3) for k, v in record.timings.items()},
    }


def _emit(summary: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    click.echo(f"status: {summary.get('status')}")
    for key in ("reason", "error", "task_id", "image_id", "replacement_ids", "instance_type", "zone", "market"):
        if summary.get(key):
            click.echo(f"{key}: {summary[key]}")
    if summary.get("calls"):
        click.echo(f"calls: {' → '.join(summary['calls'])}")


@cli.command()
@click.option("--database-url", default=None, help="Task store URL.")
@QUIET
def tick(database_url: str | None, quiet: bool) -> None:
    """Advance every due task once (cron / timer trigger); the JSON summary on stdout, progress on stderr."""
    settings = settings_or_usage_error()
    setup_logging(settings.log_level, settings)
    with progress("opening the store", quiet) as say:
        settings, store, clouds, _ = build_runtime(False, None, database_url, settings)
        runner = TaskRunner(store, clouds, settings)
        notifier = attach(runner, settings)
        say("advancing the due tasks")
        advanced = runner.tick()
        say("reconciling the capacity targets")
        targets = tick_targets(runner)
        say("protecting ahead (RESPONDER_PROTECT_SELECTORS)")
        protected = tick_protect(runner)
        say("moving replacements back to spot (RESPONDER_REVERT)")
        reverted = tick_revert(runner)
        say("sending notifications")
        # Notifications go out after the work: the timer that runs `tick` is their deliverer too.
        notified = notifier.tick() if notifier else 0
    click.echo(json.dumps({"advanced": advanced, "targets": targets, "protect": protected, "revert": reverted,
                           "notified": notified}))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
@click.option("--port", type=int, default=9100, show_default=True, help="Port (0 = any free port).")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False), help="Scenario file (default: the shipped one).")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Also write the export lines to this file.")
def sandbox(host: str, port: int, scenario: str | None, env_file: str | None) -> None:
    """Serve the three sandbox clouds (Aliyun ECS, AWS EC2, OCI under /oci) on one port; print the
    `export` lines that point responder at it."""
    sandbox_or_usage_error()
    # Lazy: the sandbox (moto, the emulators) is an install extra a production install lacks.
    from responder.sandbox.scenario import load_scenario
    from responder.sandbox.shared import run_shared

    settings = settings_or_usage_error()
    setup_logging(settings.log_level, settings)
    loaded = load_scenario(scenario)  # a scenario mistake: one line naming the file, line and field, exit 2
    click.echo("starting the sandbox clouds (a few seconds: moto loads EC2's catalogue)", err=True)
    run_shared(loaded, host, port, env_file)


for command in (odcr, spot_scores, nodepools, targets, db, protect, orphans, revert):
    cli.add_command(command)


def main() -> None:
    cli()
