"""Import the old tool's table of capacity targets (InstanceType, AvailabilityZone,
Target_Capacity, Current_Capacity) from a database URL or a CSV file.

Parts: COLUMNS, DEFAULT_TABLE, ImportRefused, read_old_table, RowError, target_from_row,
targets_from_rows (all or nothing: a one-off import), targets_each_row (row by row: a followed
table, where one bad row must not stop the others).

Current_Capacity was a counter the old function incremented itself, never checked against the
cloud: it is carried into the answer for comparison and never used. A one-off import checks every
row before any target is stored, so a bad row stores nothing; a followed table (`--follow`) applies
each good row and reports each bad one.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from responder.clouds.zone_regions import region_of_zone
from responder.targets.model import Target, TargetInvalid

COLUMNS = ("InstanceType", "AvailabilityZone", "Target_Capacity", "Current_Capacity")
DEFAULT_TABLE = "odcr_capacity"  # the AWS-ODCR solution's table name (its DDL: CREATE TABLE odcr_capacity)


class ImportRefused(ValueError):
    pass


def _known_names(row: dict) -> dict:
    """The old columns by their documented names whatever the case the database kept: PostgreSQL
    folds the seed's unquoted `InstanceType` to `instancetype`."""
    by_lower = {c.lower(): c for c in COLUMNS}
    return {by_lower.get(str(k).lower(), k): v for k, v in row.items()}


def read_old_table(source: str, table: str = DEFAULT_TABLE) -> list[dict]:
    return [_known_names(r) for r in _read(source, table)]


def _read(source: str, table: str) -> list[dict]:
    if "://" not in source:
        path = Path(source)
        if not path.is_file():
            raise ImportRefused(f"{source} is neither a database URL nor a CSV file")
        with path.open(newline="", encoding="utf-8-sig") as f:
            return [dict(r) for r in csv.DictReader(f)]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", table):
        raise ImportRefused(f"{table!r} is not a table name")
    engine = sa.create_engine(source)
    try:
        with engine.connect() as conn:
            old = sa.Table(table, sa.MetaData(), autoload_with=conn)
            return [dict(r._mapping) for r in conn.execute(sa.select(old))]
    except sa.exc.NoSuchTableError:
        raise ImportRefused(f"the database has no table {table}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise ImportRefused(f"the old table could not be read ({exc.__class__.__name__})") from None
    finally:
        engine.dispose()


def _count(row: dict, column: str, n: int) -> int:
    raw = row.get(column)
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        raise TargetInvalid(column, f"row {n}: {raw!r} is not a whole number") from None


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based, in the table's read order
    key: str  # "type in zone", as far as the row says
    field: str  # the column at fault
    message: str
    name: str = ""  # the target name the row would make ("" when its type or zone is unreadable)

    def to_json(self) -> dict:
        return {"row": self.row, "key": self.key, "field": self.field, "error": self.message}


def target_from_row(row: dict, n: int, cloud: str, region: str, prefix: str = "") -> tuple[Target, int | None]:
    """(target, the old Current_Capacity) for row n; TargetInvalid naming the row when it is bad."""
    missing = [c for c in COLUMNS[:3] if c not in row]
    if missing:
        raise TargetInvalid(missing[0], f"row {n}: the column is missing (expected {', '.join(COLUMNS)})")
    itype, zone = str(row["InstanceType"]).strip(), str(row["AvailabilityZone"]).strip()
    zone_region = region_of_zone(cloud, zone)
    if zone_region and zone_region != region:
        # One store target talks to one region; the old Lambda ran per region (RegionName).
        raise TargetInvalid("AvailabilityZone", f"row {n}: {zone} is in {zone_region}, not {region}")
    name = target_name(prefix, itype, zone)
    current = row.get("Current_Capacity")
    target = Target(name=name, cloud=cloud, region=region, zones=(zone,), instance_types=(itype,),
                    count=_count(row, "Target_Capacity", n), kind="reservation")
    return target, None if current in (None, "") else _count(row, "Current_Capacity", n)


def target_name(prefix: str, itype: str, zone: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{prefix}{itype}-{zone}")[:63]


def targets_each_row(rows: list[dict], cloud: str, region: str, prefix: str = "",
                     check: Callable[[Target], object] | None = None,
                     ) -> tuple[list[tuple[Target, int | None]], list[RowError]]:
    """Every good row's target, and every bad row's error (a later duplicate of a type and zone is
    an error; the first one stands). `check` may refuse a target with TargetInvalid."""
    made, errors, seen = [], [], set()
    for n, row in enumerate(rows, start=1):
        itype, zone = row.get("InstanceType"), row.get("AvailabilityZone")
        key = f"{itype} in {zone}"
        name = target_name(prefix, str(itype).strip(), str(zone).strip()) if itype and zone else ""
        try:
            target, current = target_from_row(row, n, cloud, region, prefix)
            if check is not None:
                check(target)
        except TargetInvalid as exc:
            errors.append(RowError(n, key, exc.field, str(exc).removeprefix(f"{exc.field}: "), name))
            continue
        if target.name in seen:
            errors.append(RowError(n, key, "InstanceType", f"row {n}: {key} appears twice"))
            continue
        seen.add(target.name)
        made.append((target, current))
    return made, errors


def targets_from_rows(rows: list[dict], cloud: str, region: str, prefix: str = "") -> list[tuple[Target, int | None]]:
    """(target, the old Current_Capacity) per row; one reservation target per (type, zone); the
    first bad row refuses them all."""
    made, errors = targets_each_row(rows, cloud, region, prefix)
    if errors:
        raise TargetInvalid(errors[0].field, errors[0].message)
    return made
