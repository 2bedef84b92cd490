"""The `responder protect` and `responder orphans` commands.

Parts: protect (image every instance tagged --tag, once per --period, keep the newest --keep;
last stdout line: JSON report; stderr says so when no instance carries the tag), orphans (what still bills: the task records' part from orphans.py,
the cloud's from leftovers.py; --json; exit 1 when something does).
"""

from __future__ import annotations

import json
import time

import click

from responder.cli_common import build_runtime, settings_or_usage_error
from responder.cli_progress import QUIET, progress
from responder.protect.ahead import protect_fleet
from responder.protect.leftovers import GRACE_SECONDS, cloud_orphans, places_to_scan, task_open_in
from responder.protect.orphans import find_orphans


@click.command()
@click.option("--cloud", type=click.Choice(["aliyun", "aws"]), required=True)
@click.option("--region", required=True)
@click.option("--tag", required=True, help="key=value the instances to protect carry.")
@click.option("--period", type=float, default=86400.0, show_default=True, help="Seconds between images of one instance.")
@click.option("--keep", type=click.IntRange(1, 20), default=2, show_default=True, help="Protect images kept per instance.")
@click.option("--grace", type=click.FloatRange(0), default=GRACE_SECONDS, show_default=True,
              help="Seconds a launch template of ours outlives its ended task, and a snapshot of ours its "
              "image, before it is deleted.")
@click.option("--database-url", default=None, help="Task store URL (which tasks are still open).")
@QUIET
def protect(cloud: str, region: str, tag: str, period: float, keep: int, grace: float,
            database_url: str | None, quiet: bool) -> None:
    """Keep a recent image of each tagged instance; delete our older ones (never another's)."""
    if "=" not in tag:
        raise click.BadParameter("must be key=value", param_hint="--tag")
    key, _, value = tag.partition("=")
    _, store, clouds, _ = build_runtime(False, None, database_url, settings_or_usage_error())
    if cloud not in clouds:
        raise click.UsageError(f"no {cloud} cloud is configured")
    with progress(f"imaging the instances tagged {tag} in {cloud}:{region}", quiet) as say:
        report = protect_fleet(clouds[cloud], region, (key.strip(), value.strip()), period, time.time(), keep=keep,
                               task_open=task_open_in(store), grace=grace)
        if not report.tagged:
            say(f"no instance in {cloud}:{region} carries the tag {key.strip()}={value.strip()}: nothing to image "
                "(tag the instances, or check --cloud, --region and --tag)", done=True)
    click.echo(json.dumps(report.to_json()))


def _place(ctx, param, values) -> tuple[tuple[str, str], ...]:
    found = []
    for value in values:
        cloud, _, region = value.partition(":")
        if cloud not in ("aliyun", "aws") or not region:
            raise click.BadParameter(f"must be cloud:region (aliyun or aws), not {value!r}", param_hint="--region")
        found.append((cloud, region))
    return tuple(found)


@click.command()
@click.option("--region", "places", multiple=True, callback=_place,
              help="cloud:region to list (repeatable; default: the protect selectors' and the task records').")
@click.option("--keep", type=click.IntRange(1, 20), default=None, help="Protect images kept per instance "
              "(default: RESPONDER_PROTECT_KEEP).")
@click.option("--grace", type=click.FloatRange(0), default=GRACE_SECONDS, show_default=True,
              help="Seconds a launch template of ours outlives its ended task, and a snapshot of ours its "
              "image, before it counts.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: {\"orphans\": [...]}.")
@click.option("--database-url", default=None, help="Task store URL.")
@QUIET
def orphans(places: tuple[tuple[str, str], ...], keep: int | None, grace: float, as_json: bool,
            database_url: str | None, quiet: bool) -> None:
    """List what the responder made or kept that still bills: kept disks and EIPs (task records),
    and in the cloud our images beyond --keep with their snapshots, our snapshots whose image is
    gone, our launch templates of ended tasks. Exit 1 when there is any."""
    with progress("reading what the task records kept", quiet or as_json) as say:
        settings, store, clouds, _ = build_runtime(False, None, database_url, settings_or_usage_error())
        found = find_orphans(store, clouds)
        scan = places_to_scan(store, settings, places)
        if scan:
            say(f"listing our images, snapshots and launch templates in {len(scan)} region(s)")
        else:
            say("no region to list our images in: no task record or protect selector names one "
                "(give --region cloud:region)", done=True)
        found += cloud_orphans(clouds, scan, keep or settings.protect_keep, task_open_in(store), time.time(), grace)
    if as_json:
        click.echo(json.dumps({"orphans": found}))
    else:
        for item in found:
            detail = " ".join(f"{k}={v}" for k, v in item.items() if k not in ("kind", "id", "cloud", "region"))
            click.echo(f"{item['kind']:<16} {item.get('id', '-'):<24} {item['cloud']}:{item['region']} {detail}")
        click.echo(f"{len(found)} still billing" if found else "nothing of ours still bills")
    if found:
        raise SystemExit(1)
