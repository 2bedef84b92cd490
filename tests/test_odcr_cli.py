"""`responder odcr` end to end: the CLI as a subprocess against the sandbox clouds.

Parts: helpers (scenario files with fast time, run / spawn the CLI, last-line JSON), the old
guide's scenarios (stock, split purchase, expand), throttling, timeout, signals, resume after
kill -9, argument and cloud errors with their exit codes, both clouds.

Scenarios run with a fast `time_scale` and sub-second waits; resume and expand tests start the
emulator in this process and point the CLI at it with --endpoint, so it outlives a killed CLI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from responder.sandbox.scenario import DEFAULT_SCENARIO

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--wait-after-success", "0.3", "--wait-after-halving", "0.05", "--wait-after-shortage", "0.1"]
TYPE = {"aws": "m5.large", "aliyun": "ecs.g7.large"}
ZONES = {"aws": ["us-east-2a", "us-east-2b", "us-east-2c"], "aliyun": ["cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"]}
REGION = {"aws": "us-east-2", "aliyun": "cn-hangzhou"}
THROTTLE = {"aws": "RequestLimitExceeded", "aliyun": "Throttling.User"}
DENIED = {"aws": "UnauthorizedOperation", "aliyun": "Forbidden.RAM"}


def scenario(tmp_path, cloud="aws", available=0, schedule=(), zone=None, faults=(), time_scale=None, extra=()):
    # moto takes a few seconds to come up, and scenario time runs from then: slower for AWS.
    time_scale = time_scale or (8.0 if cloud == "aws" else 100.0)
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    offers = [{"type": TYPE[cloud], "zone": zone or ZONES[cloud][0], "market": "ondemand", "available": available,
               "schedule": [{"at": at, "add": add} for at, add in schedule]}, *extra]
    data.update(time_scale=time_scale, faults=list(faults), stock={"default": 0, "offers": offers})
    path = tmp_path / f"scenario-{cloud}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cli(*args, env=None, timeout=90):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "responder.odcr.cli", *map(str, args)], check=False,
                          capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=timeout)
    return proc


def result(proc) -> dict:
    return json.loads(proc.stdout.splitlines()[-1])


def create(tmp_path, cloud, count, *more, **scn):
    path = scenario(tmp_path, cloud, **scn)
    return cli("create", "--instance-type", TYPE[cloud], "--availability-zone", ZONES[cloud][0], "--count", count,
               "--sandbox", "--scenario", path, "--cloud", cloud, *FAST, *more)


both = pytest.mark.parametrize("cloud", ["aws", "aliyun"])


@both
def test_with_stock_eight_are_reserved_in_one_reservation_and_one_attempt(tmp_path, cloud):
    proc = create(tmp_path, cloud, 8, available=100)
    assert proc.returncode == 0, proc.stderr
    out = result(proc)
    assert out["success"] and out["completed"] and out["target_count"] == out["actual_count"] == 8
    assert out["total_attempts"] == 1 and len(out["created_odcrs"]) == 1
    odcr = out["created_odcrs"][0]
    assert odcr["initial_capacity"] == odcr["current_capacity"] == 8 and len(odcr["created_at"]) == 14
    assert out["elapsed_time"].count(":") == 2


@both
def test_capacity_freeing_two_then_four_then_four_reaches_ten_growing_the_reservation(tmp_path, cloud):
    """The emulator runs here on a clock that moves only when told: the next four are freed once the
    CLI holds what was free (its "ok:" line), not when a scaled clock says so, which raced the CLI's
    start on a busy machine (it could find four freed before its first attempt and never halve)."""
    from responder.sandbox.runtime import start_sandbox
    from responder.sandbox.stock import ManualClock

    clock = ManualClock()
    box = start_sandbox(scenario(tmp_path, cloud, available=2, schedule=[(30, 4), (60, 4)]), only=(cloud,),
                        clock=clock)
    try:
        env, endpoint = _sandbox_access(box, cloud)
        proc = subprocess.Popen([sys.executable, "-m", "responder.odcr.cli", "create", "--cloud", cloud,
                                 "--region", REGION[cloud], "--endpoint", endpoint, "--ledger", str(tmp_path / "l.db"),
                                 "--instance-type", TYPE[cloud], "--availability-zone", ZONES[cloud][0],
                                 "--count", "10", *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
        stderr_lines = []
        for line in proc.stderr:
            stderr_lines.append(line)
            if line.strip().startswith("ok:"):
                clock.advance_to(30 if clock() < 30 else 60)  # the next step of the schedule frees four more
        stdout, _ = proc.communicate(timeout=90)
    finally:
        box.stop()
    proc.stdout, proc.stderr = stdout, "".join(stderr_lines)
    assert proc.returncode == 0, proc.stderr
    out = result(proc)
    assert out["completed"] and out["actual_count"] == 10
    # The old tool needed two reservations (2 + 8); growing the last one first may need only one.
    assert 1 <= len(out["created_odcrs"]) <= 2
    assert sum(o["current_capacity"] for o in out["created_odcrs"]) == 10
    assert "halving to 5" in proc.stderr and "halving to 2" in proc.stderr


@both
def test_throttling_is_retried_and_the_run_still_completes(tmp_path, cloud):
    faults = [{"action": "CreateCapacityReservation", "code": THROTTLE[cloud], "times": 2}]
    proc = create(tmp_path, cloud, 4, available=10, faults=faults)
    assert proc.returncode == 0, proc.stderr
    out = result(proc)
    assert out["completed"] and out["total_attempts"] == 3 and len(out["created_odcrs"]) == 1
    assert proc.stderr.count("throttled") == 2


def test_the_timeout_ends_with_the_partial_result_and_exit_3(tmp_path):
    proc = create(tmp_path, "aliyun", 10, "--timeout", "0.03", available=3)
    assert proc.returncode == 3, proc.stderr
    out = result(proc)
    assert out["success"] and not out["completed"] and out["actual_count"] == 3 and out["reason"] == "deadline"


def test_nothing_acquired_exits_4_with_the_no_capacity_hint(tmp_path):
    proc = create(tmp_path, "aliyun", 2, "--timeout", "0.01", available=0)
    assert proc.returncode == 4
    out = result(proc)
    assert not out["success"] and out["actual_count"] == 0 and out["created_odcrs"] == []
    assert "other availability zones" in proc.stderr


@both
def test_permission_errors_exit_5_with_the_credentials_hint(tmp_path, cloud):
    faults = [{"action": "CreateCapacityReservation", "code": DENIED[cloud], "times": -1, "status": 403}]
    proc = create(tmp_path, cloud, 2, available=10, faults=faults)
    assert proc.returncode == 5, proc.stderr
    assert result(proc)["error"]["code"] == DENIED[cloud] and "permissions" in proc.stderr


def test_an_unknown_cloud_error_exits_6(tmp_path):
    faults = [{"action": "CreateCapacityReservation", "code": "SomethingNew", "times": -1, "status": 400}]
    proc = create(tmp_path, "aws", 2, available=10, faults=faults)
    assert proc.returncode == 6 and result(proc)["error"]["code"] == "SomethingNew"


def test_a_zone_not_in_the_region_exits_2_with_the_zone_hint(tmp_path):
    path = scenario(tmp_path, "aws", available=10)
    proc = cli("create", "--instance-type", "m5.large", "--availability-zone", "us-west-9z", "--count", 2,
               "--sandbox", "--scenario", path, *FAST)
    assert proc.returncode == 2, proc.stderr
    assert "availability zone exists" in proc.stderr and result(proc)["error"]["hint"]


def test_an_unknown_reservation_exits_2_with_the_not_found_hint(tmp_path):
    path = scenario(tmp_path, "aliyun", available=10)
    proc = cli("--cloud", "aliyun", "expand", "--odcr-id", "crp-doesnotexist", "--count", 2, "--sandbox",
               "--scenario", path, *FAST)
    assert proc.returncode == 2, proc.stderr
    assert result(proc)["error"]["hint"] and "reservation id" in proc.stderr


@pytest.mark.parametrize("args", [
    ["create", "--availability-zone", "a", "--count", "1"],  # no type
    ["create", "--instance-type", "t", "--availability-zone", "a", "--count", "0"],
    ["create", "--instance-type", "t", "--availability-zone", ",", "--count", "1", "--sandbox"],
    ["create", "--instance-type", "t", "--availability-zone", "a", "--count", "1", "--cloud", "gcp"],
    ["expand", "--count", "1"],
    ["create", "--instance-type", "t", "--availability-zone", "a", "--count", "1", "--timeout", "-1"],
])
def test_bad_arguments_exit_2(args):
    proc = cli(*args)
    assert proc.returncode == 2 and proc.stdout == ""


@pytest.mark.parametrize("where", ["before", "after"])
def test_shared_options_work_before_and_after_the_subcommand(tmp_path, where):
    path = scenario(tmp_path, "aliyun", available=10)
    shared = ["--cloud", "aliyun", "--region", "cn-hangzhou", "--sandbox", "--scenario", str(path)]
    sub = ["create", "--instance-type", TYPE["aliyun"], "--availability-zone", ZONES["aliyun"][0], "--count", "2"]
    proc = cli(*(shared + sub if where == "before" else sub + shared))
    assert proc.returncode == 0, proc.stderr
    assert result(proc)["region"] == "cn-hangzhou" and result(proc)["cloud"] == "aliyun"


def test_three_zones_spread_the_target(tmp_path):
    extra = [{"type": TYPE["aliyun"], "zone": z, "market": "ondemand", "available": 3} for z in ZONES["aliyun"][1:]]
    path = scenario(tmp_path, "aliyun", available=3, extra=extra)
    proc = cli("--cloud", "aliyun", "create", "--instance-type", TYPE["aliyun"], "--availability-zone",
               ",".join(ZONES["aliyun"]), "--count", 9, "--sandbox", "--scenario", path, *FAST)
    assert proc.returncode == 0, proc.stderr
    out = result(proc)
    assert sorted(o["availability_zone"] for o in out["created_odcrs"]) == sorted(ZONES["aliyun"])


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_cleanly_and_still_prints_the_json(tmp_path, sig, code):
    path = scenario(tmp_path, "aliyun", available=2)
    proc = subprocess.Popen([sys.executable, "-m", "responder.odcr.cli", "--cloud", "aliyun", "create",
                             "--instance-type", TYPE["aliyun"], "--availability-zone", ZONES["aliyun"][0],
                             "--count", "10", "--sandbox", "--scenario", str(path), "--wait-after-halving", "0.05",
                             "--wait-after-success", "30"],  # the signal comes during the long wait
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in proc.stderr:
        if line.strip().startswith("ok:"):
            break
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == code
    res = json.loads(out.splitlines()[-1])
    assert res["actual_count"] == 2 and not res["completed"] and res["reason"] == "stopped"


def _sandbox_access(box, cloud) -> tuple[dict, str]:
    """The sandbox credentials (environment) and --endpoint that reach `box`'s emulator of `cloud`."""
    from responder.sandbox.runtime import SANDBOX_KEY, SANDBOX_SECRET

    if cloud == "aws":
        env = {"AWS_ACCESS_KEY_ID": SANDBOX_KEY, "AWS_SECRET_ACCESS_KEY": SANDBOX_SECRET}
        return env, box.emulators["aws"].endpoint_url
    return ({"ALIBABA_CLOUD_ACCESS_KEY_ID": SANDBOX_KEY, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SANDBOX_SECRET},
            "http://" + box.emulators["aliyun"].endpoint)


# -- against an emulator that outlives the CLI ----------------------------------------------

@pytest.fixture
def live(tmp_path, request):
    """Start the cloud's emulator here; the CLI reaches it with --endpoint and sandbox credentials."""
    cloud, stock = request.param
    path = scenario(tmp_path, cloud, **stock)
    from responder.sandbox.runtime import start_sandbox

    box = start_sandbox(path, only=(cloud,))
    env, endpoint = _sandbox_access(box, cloud)
    args = ["--cloud", cloud, "--region", REGION[cloud], "--endpoint", endpoint, "--ledger", str(tmp_path / "l.db")]
    yield cloud, box, args, env
    box.stop()


@pytest.mark.parametrize("live", [("aws", {"available": 10, "schedule": [(30, 10), (70, 10)]}),
                                  ("aliyun", {"available": 10, "schedule": [(30, 10), (70, 10)]})], indirect=True)
def test_expanding_a_reservation_of_ten_by_twenty_as_capacity_frees_up(live):
    cloud, box, args, env = live
    from responder.model import Offering

    made = box.clouds[cloud].create_reservation(REGION[cloud], Offering(TYPE[cloud], ZONES[cloud][0]), 10, "seed-1")
    proc = cli(*args, "expand", "--odcr-id", made.reservation_id, "--count", 20, *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    out = result(proc)
    assert (out["initial_capacity"], out["target_increase"], out["actual_increase"], out["final_capacity"]) == (10, 20, 20, 30)
    assert out["completed"] and box.clouds[cloud].describe_reservation(REGION[cloud], made.reservation_id).total == 30


@pytest.mark.parametrize("live", [("aws", {"available": 4, "schedule": [(40, 6)], "time_scale": 8}),
                                  ("aliyun", {"available": 4, "schedule": [(40, 6)], "time_scale": 8})], indirect=True)
def test_a_run_killed_with_sigkill_resumes_from_the_ledger_without_buying_twice(live):
    cloud, box, args, env = live
    sub = ["create", "--instance-type", TYPE[cloud], "--availability-zone", ZONES[cloud][0], "--count", "10",
           "--run-id", "resume-me", "--wait-after-halving", "0.05", "--wait-after-shortage", "0.1"]
    proc = subprocess.Popen([sys.executable, "-m", "responder.odcr.cli", *args, *sub, "--wait-after-success", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    for line in proc.stderr:
        if line.strip().startswith("ok:"):
            break
    proc.kill()
    proc.wait(timeout=10)
    again = cli(*args, *sub, "--wait-after-success", "0.3", env=env)
    assert again.returncode == 0, again.stderr
    out = result(again)
    # 10 and 5 were refused, 2 bought before the kill (more when the machine was slow to read the
    # "ok:" line before killing): the resumed run knows what is held and grows that one reservation.
    held = re.search(r"resumed: (\d+) already held in 1 reservation", again.stderr)
    assert out["actual_count"] == 10 and held and 1 <= int(held.group(1)) <= 10, again.stderr
    listed = box.clouds[cloud].list_reservations(REGION[cloud])
    assert sum(r.total for r in listed) == 10 and len(listed) == 1  # bought once, grown once
