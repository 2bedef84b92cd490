"""The `responder protect` and `responder orphans` commands.

Parts: protect (image every instance tagged --tag, once per --period, keep the newest --keep;
last stdout line: JSON report), orphans (list what still bills; exit 1 when something does).
"""

from __future__ import annotations

import json
import time

import click

from responder.protect.ahead import protect_fleet
from responder.protect.leftovers import TEMPLATE_GRACE_SECONDS, task_open_in
from responder.protect.orphans import find_orphans


@click.command()
@click.option("--cloud", type=click.Choice(["aliyun", "aws"]), required=True)
@click.option("--region", required=True)
@click.option("--tag", required=True, help="key=value the instances to protect carry.")
@click.option("--period", type=float, default=86400.0, show_default=True, help="Seconds between images of one instance.")
@click.option("--keep", type=click.IntRange(1, 20), default=2, show_default=True, help="Protect images kept per instance.")
@click.option("--template-grace", type=click.FloatRange(0), default=TEMPLATE_GRACE_SECONDS, show_default=True,
              help="Seconds a launch template of ours outlives its ended task before it is deleted.")
@click.option("--database-url", default=None, help="Task store URL (which tasks are still open).")
def protect(cloud: str, region: str, tag: str, period: float, keep: int, template_grace: float,
            database_url: str | None) -> None:
    """Keep a recent image of each tagged instance; delete our older ones (never another's)."""
    from responder.cli import _settings, build_runtime

    if "=" not in tag:
        raise click.BadParameter("must be key=value", param_hint="--tag")
    key, _, value = tag.partition("=")
    _, store, clouds, _ = build_runtime(False, None, database_url, _settings())
    if cloud not in clouds:
        raise click.UsageError(f"no {cloud} cloud is configured")
    report = protect_fleet(clouds[cloud], region, (key.strip(), value.strip()), period, time.time(), keep=keep,
                           task_open=task_open_in(store), template_grace=template_grace)
    click.echo(json.dumps(report.to_json()))


@click.command()
@click.option("--database-url", default=None, help="Task store URL.")
def orphans(database_url: str | None) -> None:
    """List disks and EIPs the responder kept that still bill (exit 1 when there are any)."""
    from responder.cli import _settings, build_runtime

    _, store, clouds, _ = build_runtime(False, None, database_url, _settings())
    found = find_orphans(store, clouds)
    click.echo(json.dumps({"orphans": found}))
    if found:
        raise SystemExit(1)
