"""The fleet's own instances as planned moves see them: which one is adopted, and the finished task
row that stands for it. Pure: fleet.py reads the cloud and the store for it.

Parts: ADOPTED (the task kind), adopted_key (its claim key), cloud_says / store_says (one instance
of the fleet → why it is not adopted, or ""), calmer_zone (a calmer zone of its type is published),
adopted_record (the task record, as if the responder had placed it).

Why adopt: planned moves judge the instances a task of ours left running (revert/calm.py placed_of),
and a fleet's first instances are the ones no task has seen; most of a month's reclaims are first
reclaims of instances sitting in a stressed pool (BENCHMARKS.md "Spot month"). An adopted instance
is a finished task row of kind `adopted` whose record reads like an interruption's that placed the
instance (record.source and record.launch.replacement are the instance itself, launch.band its
pool's published band when adopted): placed_of, judge_calm, start_move and the move's steps take it
unchanged. Its move retires the instance itself, the original: its own image to launch from, its
data disks, EIP and (RESPONDER_KEEP_PRIVATE_IP) private IP move to the new one.

Which: a running spot instance carrying a RESPONDER_FLEET_SELECTORS tag, in a pool published at or
above RESPONDER_CALM_BAND while another zone of its type is published below it (a planned move's
only kind of target: calm_rule.targets), that the responder may release (on Aliyun, where the RAM
policy lets it release only instances tagged responder:managed=true, one its owner tagged so), that
no task of ours knows (it is no replacement or move's instance: that task judges it) and whose
claim key holds no task (an interruption in flight or handled: that task decides). A calm pool's
instance is not recorded: it is looked at again on the next pass, so a pool published as stressed
later is caught then, and a calm fleet writes no row.
"""

from __future__ import annotations

from responder.clouds.base import OWNED_TAG, InstanceInfo
from responder.clouds.spot_bands import ANY_ZONE, Bands
from responder.model import EventKind, claim_key
from responder.replace.calm_rule import stressed
from responder.replace.planner import Candidate
from responder.replace.record import EventFacts, TaskRecord
from responder.settings import SPOT_BANDS, Settings

ADOPTED = EventKind.ADOPTED.value
ADOPTED_TIER = "adopted"  # the Candidate tier of an instance nobody chose: the fleet placed it


def adopted_key(cloud: str, region: str, instance_id: str) -> str:
    """Beside the instance's claim key, never on it: an interruption of it must still find its key free."""
    return f"{claim_key(cloud, region, instance_id)}:adopted"


def cloud_says(info: InstanceInfo, band: int | None, settings: Settings, tagged_only: bool = False,
               calmer: bool = True) -> str:
    """Why the cloud's view of this fleet instance keeps it from adoption ("" when nothing does).
    `band`: its pool's published band now; `tagged_only`: the cloud's policy lets the responder
    release only instances carrying OWNED_TAG (Capabilities.retires_tagged_only), and a planned move
    releases the instance it moves once the new one runs: without the tag it would end with both;
    `calmer`: another zone of its type is published below RESPONDER_CALM_BAND (calmer_zone)."""
    if not info.spot:
        return "on-demand: planned moves are for spot instances"
    if str(info.status).lower() != "running":
        return f"{info.status}, not running"
    if info.reclaiming:
        return "the cloud is reclaiming it: the interruption's task decides"
    if band is None:
        return "no published band for its pool"
    if not stressed(band, settings):
        return f"its pool is published at {SPOT_BANDS[band]} a month, below RESPONDER_CALM_BAND={settings.calm_band}"
    if not calmer:
        return ("no other zone of its type is published calmer (the AWS Spot Instance Advisor publishes one band "
                "per region and type): a planned move would find nowhere to go")
    if tagged_only and OWNED_TAG not in info.tags:
        return (f"it carries no {OWNED_TAG[0]}={OWNED_TAG[1]}: the cloud's policy lets the responder release only "
                "instances so tagged, and a planned move releases the one it moves (tag it to let it move)")
    return ""


def calmer_zone(bands: Bands, info: InstanceInfo, settings: Settings) -> bool:
    """Whether another zone of the instance's type is published below RESPONDER_CALM_BAND: where
    bands are per region and type (AWS), none is, and a planned move could only wait for a week."""
    return any(t == info.instance_type and zone not in (ANY_ZONE, info.zone) and not stressed(band, settings)
               for (t, zone), band in bands.items())


def store_says(known: bool, claimed: bool) -> str:
    """Why the store keeps it from adoption ("" when nothing does): asked only of the instances the
    cloud's view allows, so a pass reads the store for the stressed ones only."""
    if claimed:
        return "a task of its own holds its claim key (an interruption): that task decides"
    if known:
        return "a task of ours placed it: that task's record is judged"
    return ""


def adopted_record(info: InstanceInfo, band: int, now: float) -> TaskRecord:
    """What a task that placed `info` in its pool would have recorded; running since `now` (the
    instance's own launch time is not read), so a move waits RESPONDER_REVERT_AFTER from the adoption."""
    record = TaskRecord(event=EventFacts(account=info.account), source=info, timings={"received": now, "running": now})
    launch = record.launch
    launch.replacement = Candidate(info.instance_type, info.zone, "spot", info.subnet_id, ADOPTED_TIER)
    launch.replacement_ids, launch.band = [info.instance_id], band
    return record
