"""Seed 000 (the old ODCR manager's guide): its lines, copied from the guide, run on the default
sandbox as written — `python odcr_manager.py` becomes `responder odcr`, nothing else changes.

The default sandbox runs here and outlives each command; the CLI reaches it through
RESPONDER_AWS_ENDPOINT_URL with the sandbox's keys, as a user points it at a cloud. No `--region`
unless the guide's line has one: the region comes from the zone (us-west-2a → us-west-2), and
`expand` takes the guide's `export AWS_DEFAULT_REGION=us-west-2`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = f"{shlex.quote(sys.executable)} -m responder"

# Each create line of the guide, verbatim after `python odcr_manager.py`: (line, count, type, zone).
CREATE_LINES = [
    (("create --instance-type r7i.metal-24xl --availability-zone us-west-2a --count 10 --preference open "
      "--timeout 60 --region us-west-2"), 10, "r7i.metal-24xl", "us-west-2a"),
    ("create --instance-type m5.large --availability-zone us-west-2a --count 50", 50, "m5.large", "us-west-2a"),
    ("create --instance-type r7i.metal-24xl --availability-zone us-west-2a --count 5", 5, "r7i.metal-24xl",
     "us-west-2a"),
    ("create --instance-type t3.medium --availability-zone us-west-2a --count 20 --timeout 30", 20, "t3.medium",
     "us-west-2a"),
    ("create --instance-type t3.micro --availability-zone us-west-2a --count 2 --timeout 5", 2, "t3.micro",
     "us-west-2a"),
    ("create --instance-type c5.xlarge --availability-zone us-west-2b --count 5", 5, "c5.xlarge", "us-west-2b"),
    ("create --instance-type r5.large --availability-zone us-west-2c --count 8", 8, "r5.large", "us-west-2c"),
]


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    from responder.sandbox.runtime import SANDBOX_KEY, SANDBOX_SECRET, start_sandbox
    from responder.sandbox.scenario import DEFAULT_SCENARIO

    box = start_sandbox(DEFAULT_SCENARIO, only=("aws",))
    home = tmp_path_factory.mktemp("home")  # the default ledger lives under ~/.responder
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(home), "AWS_ACCESS_KEY_ID": SANDBOX_KEY,
           "AWS_SECRET_ACCESS_KEY": SANDBOX_SECRET, "RESPONDER_AWS_ENDPOINT_URL": box.emulators["aws"].endpoint_url}
    env.pop("AWS_DEFAULT_REGION", None)
    env.pop("AWS_PROFILE", None)
    yield box, env
    box.stop()


def shell(line: str, env: dict, **more_env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", line], check=False, capture_output=True, text=True,
                          cwd=ROOT, env={**env, **more_env}, timeout=120)


@pytest.mark.parametrize("line,count,itype,zone", CREATE_LINES, ids=[c[0][:60] for c in CREATE_LINES])
def test_each_create_line_of_the_guide_reserves_in_the_zones_region(aws, line, count, itype, zone):
    box, env = aws
    proc = shell(f"{CLI} odcr {line}", env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["region"] == "us-west-2" and out["completed"] and out["actual_count"] == count
    (made,) = out["created_odcrs"]
    held = box.clouds["aws"].describe_reservation("us-west-2", made["odcr_id"])
    assert (held.total, held.instance_type, held.zone) == (count, itype, zone)


def test_the_guides_id_extraction_pipeline_prints_the_id_with_text(aws):
    box, env = aws
    line = ("create --instance-type m5.large --availability-zone us-west-2a --count 10 --text "
            "| grep \"cr-\" | awk '{print $4}'")
    proc = shell(f"{CLI} odcr {line}", env)
    assert proc.returncode == 0, proc.stderr
    (odcr_id,) = proc.stdout.split()
    assert odcr_id.startswith("cr-") and box.clouds["aws"].describe_reservation("us-west-2", odcr_id).total == 10


def test_the_expand_line_after_the_guides_export_finds_the_reservation_in_that_region(aws):
    box, env = aws
    made = shell(f"{CLI} odcr create --instance-type m5.large --availability-zone us-west-2a --count 5 --text "
                 "| grep \"cr-\" | awk '{print $4}'", env)
    odcr_id = made.stdout.strip()
    proc = shell(f"{CLI} odcr expand --odcr-id {odcr_id} --count 10 --text", env, AWS_DEFAULT_REGION="us-west-2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split()[3] == odcr_id and "now 15 (+10)" in proc.stdout
    assert box.clouds["aws"].describe_reservation("us-west-2", odcr_id).total == 15


def test_the_guides_placeholder_id_is_the_documented_not_found_exit_2(aws):
    _, env = aws
    proc = shell(f"{CLI} odcr expand --odcr-id cr-xxxxxxxxx --count 2 --timeout 5", env, AWS_DEFAULT_REGION="us-west-2")
    assert proc.returncode == 2
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["region"] == "us-west-2" and "reservation id" in out["error"]["hint"]


def test_zones_of_two_regions_in_one_run_are_refused_before_any_call(aws):
    _, env = aws
    proc = shell(f"{CLI} odcr create --instance-type m5.large --availability-zone us-west-2a,ap-northeast-1c "
                 "--count 2", env)
    assert proc.returncode == 2 and "several regions" in proc.stderr and proc.stdout == ""


# Every (zone, type) the seeds' examples name, by market: seed 000's guide, seed 001's INSERT and
# UPDATE, seed 002's families in us-west-2 (its spot placement score example's region).
SEED_PLACES = {
    "ondemand": [("us-west-2a", t) for t in ("r7i.metal-24xl", "m5.large", "t3.medium", "t3.micro")]
    + [("us-west-2b", "c5.xlarge"), ("us-west-2c", "r5.large"), ("ap-northeast-1c", "r5b.2xlarge"),
       ("ap-northeast-1a", "r5b.2xlarge")],
    "spot": [("us-west-2a", f"{family}.{size}") for family in ("c5", "c6i", "m5", "m6i", "r5", "r6i")
             for size in ("large", "xlarge")],
}


@pytest.mark.parametrize("market", sorted(SEED_PLACES))
def test_the_default_sandbox_offers_every_zone_and_type_the_seeds_name(aws, market):
    box, _ = aws
    from responder.model import Market

    for region in sorted({zone[:-1] for zone, _ in SEED_PLACES[market]}):
        wanted = {(t, z) for z, t in SEED_PLACES[market] if z.startswith(region)}
        offered = box.clouds["aws"].offerings_with_stock(region, sorted({t for t, _ in wanted}), Market(market))
        assert wanted <= offered, sorted(wanted - offered)
