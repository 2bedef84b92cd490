"""The `responder revert` command: move replacements back to spot now, or show the plan.

Parts: revert (--dry-run: the plan, nothing written; without: start every due move and work it
once, the ticker finishes it; --json: one JSON object).
"""

from __future__ import annotations

import json

import click

from responder.cli_common import build_runtime, settings_or_usage_error
from responder.cli_progress import QUIET, progress
from responder.replace import calm_rule
from responder.replace.runner import TaskRunner
from responder.revert.plan import plan
from responder.revert.tick import start_due


@click.command()
@click.option("--dry-run", is_flag=True, help="Show which replacements would move, to what, and why or why not.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--database-url", default=None, help="Task store URL.")
@QUIET
def revert(dry_run: bool, as_json: bool, database_url: str | None, quiet: bool) -> None:
    """Move replacements on on-demand (or on another type) back to spot on the original type."""
    settings = settings_or_usage_error()
    settings, store, clouds, _ = build_runtime(False, None, database_url, settings)
    runner = TaskRunner(store, clouds, settings)
    if dry_run:
        with progress("reading the replacements and the spot stock", quiet):
            lines = plan(runner)
        _show({"dry_run": True, "replacements": lines}, lines, as_json)
        return
    if not (settings.revert or calm_rule.enabled(settings)):
        raise click.UsageError("RESPONDER_REVERT=off and RESPONDER_CALM_MOVES=off: no move is started")
    with progress("starting the due moves back to spot", quiet):
        started = start_due(runner, force=True)
    lines = [{"instance_id": t.instance_id, "revert_task": t.id, "status": t.status, "why": t.reason or
              (t.record.revert.why if t.record.revert else "")} for t in started]
    _show({"started": lines}, lines, as_json)


def _show(body: dict, lines: list[dict], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(body))
        return
    if not lines:
        click.echo("no replacement to move back to spot")
    for line in lines:
        verb = "MOVE" if line.get("move") else ("started" if "revert_task" in line and "move" not in line else "stay")
        if "adopt" in line:  # a fleet instance (revert/fleet.py): adopted by the next fleet read, or left
            verb = "ADOPT" if line["adopt"] else "leave"
        to = f" → {line['to']}" if line.get("to") else ""
        where = f"{line.get('cloud', '')} {line.get('instance_id')} {line.get('from', '')}"
        click.echo(f"{verb:7} {where}{to}: {line['why']}")
