"""Import the old tool's table of capacity targets (InstanceType, AvailabilityZone,
Target_Capacity, Current_Capacity) from a database URL or a CSV file.

Parts: COLUMNS, ImportRefused, read_old_table, targets_from_rows.

Current_Capacity was a counter the old function incremented itself, never checked against the
cloud: it is carried into the answer for comparison and never used. Every row is checked before
any target is stored, so a bad row stores nothing.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import sqlalchemy as sa

from responder.targets.model import Target, TargetInvalid

COLUMNS = ("InstanceType", "AvailabilityZone", "Target_Capacity", "Current_Capacity")


class ImportRefused(ValueError):
    pass


def read_old_table(source: str, table: str = "capacity_targets") -> list[dict]:
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


def targets_from_rows(rows: list[dict], cloud: str, region: str, prefix: str = "") -> list[tuple[Target, int | None]]:
    """(target, the old Current_Capacity) per row; one reservation target per (type, zone)."""
    made, seen = [], set()
    for n, row in enumerate(rows, start=1):
        missing = [c for c in COLUMNS[:3] if c not in row]
        if missing:
            raise TargetInvalid(missing[0], f"row {n}: the column is missing (expected {', '.join(COLUMNS)})")
        itype, zone = str(row["InstanceType"]).strip(), str(row["AvailabilityZone"]).strip()
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{prefix}{itype}-{zone}")[:63]
        if name in seen:
            raise TargetInvalid("InstanceType", f"row {n}: {itype} in {zone} appears twice")
        seen.add(name)
        current = row.get("Current_Capacity")
        made.append((Target(name=name, cloud=cloud, region=region, zones=(zone,), instance_types=(itype,),
                            count=_count(row, "Target_Capacity", n), kind="reservation"),
                     None if current in (None, "") else _count(row, "Current_Capacity", n)))
    return made
