"""`responder targets add | set | list | show | remove | import | follows | unfollow`.

Parts: targets (the click group), TARGET_OPTIONS (shared by add and set), add, set_, list_, show,
remove, import_ (responder.targets.importer), import_follow / follows / unfollow (followed tables,
responder.targets.follow), _open (store + clouds), _build (options → Target),
check_with_cloud (targets/cloud_checks.py: types the cloud does not know are refused before anything is stored).

Exit codes: 0 done; 2 bad input (the message names the field; nothing was stored); 1 the store
or the cloud could not be reached.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from pathlib import Path

import click

from responder.cli_common import open_store, settings_or_usage_error
from responder.clouds.factory import clouds_from_settings
from responder.clouds.secret_url import with_secret_url
from responder.targets.checks import check_target
from responder.targets.cloud_checks import check_with_cloud
from responder.targets.follow import Follow, FollowStore, sync_follow
from responder.targets.importer import DEFAULT_TABLE, ImportRefused, read_old_table, targets_from_rows
from responder.targets.model import KINDS, LaunchSpec, Target, TargetInvalid
from responder.targets.oci_env import targets_from_oci_env, what_is_left, with_file_credentials
from responder.targets.table import TargetExists, TargetStore


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in (value or "").split(",") if v.strip()))


def _pairs(value: str | None, option: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in _csv(value):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise TargetInvalid(option.lstrip("-").replace("-", "_"), f"entries must be key=value, not {item!r}")
        out.append((key.strip(), val.strip()))
    return tuple(out)


TARGET_OPTIONS = (
    click.option("--cloud", type=str, default=None, help="aws, aliyun or oci."),
    click.option("--region", default=None, help="Region, e.g. us-east-2, cn-hangzhou or ap-chuncheon-1."),
    click.option("--zones", default=None, help="Zone, or several in order of preference: a,b,c "
                                               "(OCI: availability domains, AD-1 or full; default every AD)."),
    click.option("--instance-types", default=None, help="Acceptable types in order of preference: t1,t2."),
    click.option("--count", type=int, default=None, help="How many units must exist."),
    click.option("--kind", type=str, default=None, help=f"{' | '.join(KINDS)} (default reservation)."),
    click.option("--match-criteria", default=None, help="Reservations: open (default) or targeted."),
    click.option("--end-date", default=None, help="Reservations: ISO time they end (default unlimited)."),
    click.option("--spend-cap", type=int, default=None, help="Units this target may ever buy (default 4 x count)."),
    click.option("--release-excess/--keep-excess", default=None, help="Release capacity above the count (default keep)."),
    click.option("--image", default=None, help="Instances: image id to launch."),
    click.option("--subnets", default=None, help="Instances: zone=subnet-or-vswitch id, one per zone."),
    click.option("--security-groups", default=None, help="Instances: security group ids."),
    click.option("--key-pair", default=None, help="Instances: key pair name."),
    click.option("--tags", default=None, help="Instances: key=value,... put on every instance."),
    click.option("--user-data-file", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="Instances: user data (sent base64-encoded)."),
    click.option("--market", default=None, help="Instances: ondemand (default) or spot."),
    click.option("--instance-name", default=None,
                 help="Instances: Name; a running instance of this name made before the responder counts as held."),
    click.option("--ocpus", type=float, default=None, help="OCI flex shapes: OCPUs."),
    click.option("--memory-gb", type=float, default=None, help="OCI flex shapes: memory in GB."),
    click.option("--boot-volume-gb", type=int, default=None, help="OCI: boot volume size in GB (default the image's)."),
    click.option("--image-os", default=None, help="OCI: the image's OS (e.g. \"Canonical Ubuntu\"), instead of --image."),
    click.option("--image-os-version", default=None, help="OCI: the OS version (e.g. 22.04)."),
    click.option("--subnet", default=None, help="OCI: subnet display name or OCID (subnets are regional)."),
    click.option("--ssh-public-key-file", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="OCI: the public key put in the instance's ssh_authorized_keys."),
    click.option("--database-url", default=None, help="Store URL (default RESPONDER_DATABASE_URL)."),
    click.option("--no-cloud-check", is_flag=True, default=False, help="Do not ask the cloud whether the types exist."),
    click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON."),
)


def target_options(func):
    for option in reversed(TARGET_OPTIONS):
        func = option(func)
    return func


@click.group()
def targets() -> None:
    """Standing capacity: reservations or instances kept at a count on every tick."""


def _fail(exc: TargetInvalid):
    # ensure_ascii=False: a Korean subnet name prints as itself, not as \uD37C escapes.
    click.echo(json.dumps({"error": str(exc), "field": exc.field}, ensure_ascii=False), err=True)
    sys.exit(2)


def _open(database_url: str | None):
    settings = settings_or_usage_error()
    if database_url:
        settings = settings.with_(database_url=database_url)
    else:
        settings = with_secret_url(settings)
    store = open_store(settings.database_url)
    return settings, store, TargetStore(store.engine)


def _build(base: Target | None, name: str, o: dict) -> Target:
    def pick(key, current):
        return current if o.get(key) is None else o[key]

    launch = base.launch if base else LaunchSpec()
    user_data = launch.user_data
    if o.get("user_data_file"):

        user_data = base64.b64encode(Path(o["user_data_file"]).read_bytes()).decode("ascii")
    launch = LaunchSpec(
        image_id=pick("image", launch.image_id),
        subnets=_pairs(o["subnets"], "--subnets") if o.get("subnets") is not None else launch.subnets,
        security_groups=_csv(o["security_groups"]) if o.get("security_groups") is not None else launch.security_groups,
        key_pair=pick("key_pair", launch.key_pair),
        tags=_pairs(o["tags"], "--tags") if o.get("tags") is not None else launch.tags,
        user_data=user_data, market=pick("market", launch.market), name=pick("instance_name", launch.name),
        ocpus=pick("ocpus", launch.ocpus), memory_gb=pick("memory_gb", launch.memory_gb),
        boot_volume_gb=pick("boot_volume_gb", launch.boot_volume_gb), image_os=pick("image_os", launch.image_os),
        image_os_version=pick("image_os_version", launch.image_os_version), subnet=pick("subnet", launch.subnet),
        ssh_public_key=_read_key(o["ssh_public_key_file"]) if o.get("ssh_public_key_file") else launch.ssh_public_key)
    if base is None:
        for required in ("cloud", "region", "zones", "instance_types", "count"):
            if o.get(required) is None and not (required == "zones" and o.get("cloud") == "oci"):
                raise TargetInvalid(required, f"--{required.replace('_', '-')} is required")
        base = Target(name=name, cloud="", region="", zones=(), instance_types=(), count=0)
    return dataclasses.replace(
        base, cloud=pick("cloud", base.cloud), region=pick("region", base.region),
        zones=_csv(o["zones"]) if o.get("zones") is not None else base.zones,
        instance_types=_csv(o["instance_types"]) if o.get("instance_types") is not None else base.instance_types,
        count=pick("count", base.count), kind=pick("kind", base.kind),
        match_criteria=pick("match_criteria", base.match_criteria), end_date=pick("end_date", base.end_date),
        spend_cap=pick("spend_cap", base.spend_cap), release_excess=pick("release_excess", base.release_excess),
        launch=launch)


def _read_key(path: str) -> str:
    text = Path(path).read_text(encoding="utf-8", errors="replace").strip()
    if "PRIVATE KEY" in text:  # never store (or echo) a private key handed over by mistake
        raise TargetInvalid("ssh_public_key", f"{path} holds a private key: give the .pub file")
    return text


def _validated(t: Target, settings, no_cloud_check: bool) -> Target:
    check_target(t, settings.max_target_count)
    if not no_cloud_check:
        check_with_cloud(t, clouds_from_settings(settings))
    return t


def _show(row, as_json: bool) -> None:
    view = row.to_json()
    if as_json:
        click.echo(json.dumps(view, sort_keys=True, ensure_ascii=False))
        return
    for key in ("name", "cloud", "region", "kind", "zones", "instance_types", "count", "held", "excess", "state",
                "attempts", "attempts_by_zone", "outcomes", "last_error", "first_attempt", "last_attempt",
                "acquired_at", "next_attempt"):
        click.echo(f"{key}: {view.get(key)}")


@targets.command()
@click.option("--name", required=True, help="Target name (letters, digits, . _ -).")
@target_options
def add(name: str, database_url, no_cloud_check: bool, as_json: bool, **o):
    """Add a target; it is reconciled at the next tick."""
    settings, _, tstore = _open(database_url)
    try:
        t = _validated(_build(None, name, o), settings, no_cloud_check)
        tstore.add(t)
    except TargetInvalid as exc:
        _fail(exc)
    except TargetExists:
        _fail(TargetInvalid("name", f"a target named {name!r} exists (use `responder targets set`)"))
    _show(tstore.get(name), as_json)


@targets.command("set")
@click.argument("name")
@target_options
def set_(name: str, database_url, no_cloud_check: bool, as_json: bool, **o):
    """Change a target (only the options given)."""
    settings, _, tstore = _open(database_url)
    row = tstore.get(name)
    if row is None:
        _fail(TargetInvalid("name", f"no target named {name!r}"))
    try:
        t = _validated(_build(row.target, name, o), settings, no_cloud_check)
    except TargetInvalid as exc:
        _fail(exc)
    tstore.update(t)
    _show(tstore.get(name), as_json)


@targets.command("list")
@click.option("--database-url", default=None)
@click.option("--json", "as_json", is_flag=True, default=False)
def list_(database_url, as_json: bool):
    """Every target with what the last reconcile found."""
    _, _, tstore = _open(database_url)
    rows = [r.to_json() for r in tstore.list()]
    if as_json:
        click.echo(json.dumps(rows, sort_keys=True, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r['name']}\t{r['cloud']}/{r['region']}\t{r['kind']}\t{r['held']}/{r['count']}\t{r['state']}"
                   f"\t{r['last_error']}")


@targets.command()
@click.argument("name")
@click.option("--database-url", default=None)
@click.option("--json", "as_json", is_flag=True, default=False)
def show(name: str, database_url, as_json: bool):
    """One target: count, held, attempts, last error, first / last attempt, acquired at."""
    _, _, tstore = _open(database_url)
    row = tstore.get(name)
    if row is None:
        _fail(TargetInvalid("name", f"no target named {name!r}"))
    _show(row, as_json)


@targets.command()
@click.argument("name")
@click.option("--database-url", default=None)
def remove(name: str, database_url):
    """Forget a target (what it bought stays in the cloud)."""
    _, _, tstore = _open(database_url)
    if not tstore.remove(name):
        _fail(TargetInvalid("name", f"no target named {name!r}"))
    click.echo(json.dumps({"removed": name}))


@targets.command("import")
@click.option("--from", "source", default=None,
              help=f"The old tool's table: a database URL (table {DEFAULT_TABLE}) or a CSV file.")
@click.option("--oci-env", default=None, type=click.Path(dir_okay=False),
              help="An OCI provisioner's .env: its A1 flex and Micro instances become two hunting targets.")
@click.option("--table", default=DEFAULT_TABLE, show_default=True, help="Table name in that database.")
@click.option("--follow", is_flag=True, default=False,
              help="With --from: re-read the table at every tick and apply its inserts, updates and deletes, "
                   "row by row (a bad row is reported, the others apply).")
@click.option("--cloud", default="aws", show_default=True)
@click.option("--region", default=None, help="With --from: the region of the rows.")
@click.option("--prefix", default="", help="Prefix for the target names made.")
@click.option("--dry-run", is_flag=True, default=False, help="With --oci-env: show the targets, store nothing.")
@click.option("--database-url", default=None, help="Our store URL.")
@click.option("--no-cloud-check", is_flag=True, default=False)
@click.option("--json", "as_json", is_flag=True, default=False)
def import_(source, oci_env, table, follow, cloud, region, prefix, dry_run, database_url, no_cloud_check, as_json):
    """Import InstanceType / AvailabilityZone / Target_Capacity rows as reservation targets
    (Current_Capacity is shown, never trusted: the cloud is read at the next tick), or an OCI
    provisioner's .env (--oci-env) as its two hunting targets."""
    if bool(source) == bool(oci_env):
        _fail(TargetInvalid("from", "give --from (the old table) or --oci-env (an OCI .env), one of them"))
    if oci_env:
        return _import_oci_env(oci_env, prefix, dry_run, database_url, no_cloud_check, as_json)
    if not region:
        _fail(TargetInvalid("region", "--region is required with --from"))
    if follow:
        return import_follow(source, table, cloud, region, prefix, database_url, as_json)
    settings, _, tstore = _open(database_url)
    try:
        made = targets_from_rows(read_old_table(source, table), cloud, region, prefix)
        for t, _current in made:
            _validated(t, settings, no_cloud_check)
    except TargetInvalid as exc:
        _fail(exc)
    except ImportRefused as exc:
        _fail(TargetInvalid("from", str(exc)))
    done = []
    for t, current in made:
        try:
            tstore.add(t)
            done.append({"name": t.name, "count": t.count, "old_current_capacity": current, "status": "added"})
        except TargetExists:
            done.append({"name": t.name, "count": t.count, "old_current_capacity": current, "status": "exists"})
    click.echo(json.dumps(done, ensure_ascii=False) if as_json else "\n".join(f"{d['status']}: {d['name']} ({d['count']})" for d in done))


def import_follow(source, table, cloud, region, prefix, database_url, as_json):
    """Store the follow and apply the table once now; each tick applies it again."""
    settings, _, tstore = _open(database_url)
    follow = Follow(name=f"{prefix}{table}"[:64], source=source, table=table, cloud=cloud, region=region, prefix=prefix)
    try:
        read_old_table(source, table)  # an unreadable table is refused now, not found out at a tick
    except ImportRefused as exc:
        _fail(TargetInvalid("from", str(exc)))
    fstore = FollowStore(tstore.engine)
    old = next((f for f in fstore.list() if f.name == follow.name), None)
    if old is not None:  # following it again keeps what it made, so a row gone still removes its target
        follow = dataclasses.replace(follow, managed=old.managed)
    fstore.add(follow)
    managed, report = sync_follow(follow, tstore, settings.max_target_count)
    fstore.save(follow.name, managed, report)
    answer = {**follow.shown(), "targets": managed, **report.to_json()}
    if as_json:
        click.echo(json.dumps(answer, ensure_ascii=False))
        return
    click.echo(f"following {answer['source']} table {table} as {follow.name}: every tick applies its changes")
    for key in ("added", "updated", "removed"):
        for name in report.to_json()[key]:
            click.echo(f"{key}: {name}")
    for e in report.errors:
        click.echo(f"row {e.row} refused: {e.message}")


@targets.command("follows")
@click.option("--database-url", default=None)
@click.option("--json", "as_json", is_flag=True, default=False)
def follows(database_url, as_json: bool):
    """The followed tables: source (password masked), table, region, the targets each made, and
    what the last tick's read found (rows refused, an unreadable table)."""
    _, _, tstore = _open(database_url)
    fstore = FollowStore(tstore.engine)
    listed = [{**f.shown(), "last_read": fstore.last_report(f.name)} for f in fstore.list()]
    if as_json:
        click.echo(json.dumps(listed, ensure_ascii=False, sort_keys=True))
        return
    for f in listed:
        errors = len(f["last_read"].get("errors", []))
        unreadable = f["last_read"].get("unreadable")
        click.echo(f"{f['name']}\t{f['source']} {f['table']}\t{f['cloud']}/{f['region']}\t{len(f['targets'])} targets"
                   + (f"\tunreadable: {unreadable}" if unreadable else f"\t{errors} rows refused" if errors else ""))


@targets.command()
@click.argument("name")
@click.option("--database-url", default=None)
def unfollow(name: str, database_url):
    """Stop reading a followed table (its targets stay: `targets remove` them if no longer wanted)."""
    _, _, tstore = _open(database_url)
    if not FollowStore(tstore.engine).remove(name):
        _fail(TargetInvalid("name", f"no followed table named {name!r} (see `responder targets follows`)"))
    click.echo(json.dumps({"unfollowed": name}))


def _import_oci_env(path, prefix, dry_run, database_url, no_cloud_check, as_json):
    """Both targets are checked before either is stored; a re-import finds them by name and
    changes only what the file changed."""
    settings, _, tstore = _open(database_url)
    try:
        made = targets_from_oci_env(path, settings.max_target_count, prefix)
        for t in made:
            _validated(t, with_file_credentials(settings, path), no_cloud_check)
    except TargetInvalid as exc:
        _fail(exc)
    done = []
    for t in made:
        row = tstore.get(t.name)
        status = "added" if row is None else "unchanged" if row.target == t else "updated"
        if not dry_run and status == "added":
            tstore.add(t)
        elif not dry_run and status == "updated":
            tstore.update(t)
        done.append({"status": f"would be {status}" if dry_run else status, "target": t.to_json()})
    steps = what_is_left(path)
    if as_json:
        click.echo(json.dumps({"targets": done, "dry_run": dry_run, "to_do": steps}, sort_keys=True, ensure_ascii=False))
        return
    for d in done:
        v, spec = d["target"], d["target"]["launch"]
        size = f" {spec['ocpus']:g} OCPU / {spec['memory_gb']:g} GB" if spec["ocpus"] else ""
        click.echo(f"{d['status']}: {v['name']} ({v['instance_types'][0]}{size}, {v['region']}, instance "
                   f"{spec['name']!r}, {spec['image_os']} {spec['image_os_version']}, subnet {spec['subnet']!r})")
    for step in steps:
        click.echo(f"to do: {step}")

