"""`responder replay EVENT --sandbox --json`: other tools read its last stdout line, so its fields
and exit codes are a contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import EVENTS, ROOT


def replay(name: str, *extra: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "responder", "replay", str(EVENTS / name), "--sandbox", "--json",
                           *extra], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout.splitlines()[-1])


def test_a_real_interruption_is_replaced_and_reported_with_calls_and_timings():
    code, out = replay("aliyun/cloudmonitor-interruption.json")
    assert code == 0 and out["status"] == "done"
    assert out["image_id"].startswith("m-") and len(out["replacement_ids"]) == 1
    assert (out["instance_type"], out["zone"], out["market"]) == ("ecs.g7.large", "cn-hangzhou-j", "spot")
    assert out["calls"][:2] == ["DescribeInstances", "CreateImage"] and "RunInstances" in out["calls"]
    assert out["timings"]["received"] == 0 and out["timings"]["running"] > out["timings"]["image_requested"]
    # The gaps are durations, not moments: never shifted by the time of receipt.
    assert 0 <= out["timings"]["capacity_gap_s"] <= out["timings"]["running"], out["timings"]
    assert 0 <= out["timings"]["service_gap_s"] <= out["timings"]["service_ready"], out["timings"]


@pytest.mark.parametrize("name,code,status", [
    ("aliyun/forged-not-found.json", 3, "rejected"),
    ("invalid/not-json.txt", 2, "invalid"),
    ("aliyun/ignored-other-event.json", 0, "ignored"),
])
def test_exit_codes_tell_rejected_invalid_and_ignored_apart(name, code, status):
    got, out = replay(name)
    assert (got, out["status"]) == (code, status)
    if status == "rejected":
        assert out["calls"] == ["DescribeInstances"]  # verification only, no write
