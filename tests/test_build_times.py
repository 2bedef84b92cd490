"""Learned build times (responder/replace/build_times.py): a finished image and a replacement
Running add observations to the store's table from a real flow on the Aliyun sandbox (the
emulator's figures are never read); the plan uses the p90 of the last observations, not the
mean; with too few it uses the harsh prior; the task record shows what it believed beside what
happened."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from race_fixtures import Race, shape
from responder.replace import build_times
from responder.replace.build_times import BuildTimes, build_times as table
from responder.replace.record import KeptDisk, Task
from responder.settings import Settings
from responder.store import Store, TaskRow

WEB = "i-bp1web000000000000a"  # 40 GiB ESSD system disk, ecs.g7.large


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path}/times.db", clock=lambda: 1000.0)


def essd(size: int) -> KeptDisk:
    return KeptDisk("d-1", "system", "cloud_essd", size, "cn-hangzhou-h")


def test_with_no_observations_the_plan_believes_the_harsh_prior(store):
    times = BuildTimes(store.engine, store.clock)
    belief = times.image_belief("aliyun", "cn-hangzhou", [essd(40), KeptDisk("d-2", "data", "cloud", 500, "z")], False)
    assert belief.source == "prior" and belief.samples == 0 and belief.quantile == 0.0
    assert belief.estimate_s == pytest.approx(60 + 500 * 1024 / 30)  # the 500 GiB disk decides: hours
    assert belief.estimate_s > 4 * 3600
    incremental = times.image_belief("aliyun", "cn-hangzhou", [essd(40)], True)
    assert incremental.estimate_s == pytest.approx(60 + 0.2 * 40 * 1024 / 30)
    boot = times.boot_belief("aws", "us-east-1", "m5.large", 180.0)
    assert (boot.source, boot.estimate_s, boot.key) == ("prior", 180.0, "aws/us-east-1 m5")


def test_the_plan_uses_the_p90_of_the_last_observations_not_the_mean(store):
    times = BuildTimes(store.engine, store.clock)
    seconds = [100, 110, 120, 130, 140, 150, 160, 170, 180, 900]  # one slow image among ten
    for k, s in enumerate(seconds[:4]):
        times.observe_image(f"t{k}", "aliyun", "cn-hangzhou", essd(40), False, s)
    assert times.image_belief("aliyun", "cn-hangzhou", [essd(40)], False).source == "prior"  # 4 < MIN_SAMPLES
    for k, s in enumerate(seconds[4:], start=4):
        times.observe_image(f"t{k}", "aliyun", "cn-hangzhou", essd(40), False, s)
    belief = times.image_belief("aliyun", "cn-hangzhou", [essd(40)], False)
    assert (belief.source, belief.samples, belief.quantile) == ("observed", 10, 0.9)
    assert belief.estimate_s == 180  # nearest-rank p90 of ten; the mean (221) and the max (900) are not it
    # Another size bucket, the incremental kind, another region: nothing learned there.
    assert times.image_belief("aliyun", "cn-hangzhou", [essd(100)], False).source == "prior"
    assert times.image_belief("aliyun", "cn-hangzhou", [essd(40)], True).source == "prior"
    assert times.image_belief("aliyun", "cn-beijing", [essd(40)], False).source == "prior"
    assert build_times.size_bucket(40) == build_times.size_bucket(64) == 64 != build_times.size_bucket(65)


def test_one_observation_per_task_and_kind(store):
    times = BuildTimes(store.engine, store.clock)
    for _ in range(3):  # a replayed answer, a resumed task
        times.observe_image("task-1", "aliyun", "cn-hangzhou", essd(40), False, 100)
    times.observe_boot("task-1", "aliyun", "cn-hangzhou", "ecs.g7.large", 30)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.kind, table.c.category, table.c.size_bucket)).all()
    assert sorted(rows) == [("boot", "ecs.g7", 0), ("image", "cloud_essd", 64)]


@pytest.fixture
def race(tmp_path):
    started = []

    def start(*apps, **settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        one = Race(shape("aliyun", *apps), settings, tmp_path)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


def _rows(r: Race) -> list:
    with r.store.engine.connect() as conn:
        return conn.execute(sa.select(table.c.kind, table.c.category, table.c.size_bucket, table.c.incremental,
                                      table.c.seconds)).all()


def test_a_real_flow_records_what_it_believed_and_what_happened(race):
    r = race("web")
    (task,) = r.run([WEB])
    assert task.status == "done", task.reason
    state = task.record.race
    # Believed: nothing observed yet, so the prior (a 40 GiB first snapshot ~23 min): launch at once.
    assert state.image_belief.source == "prior" and state.image_belief.samples == 0
    assert state.policy == "source-image" and "prior, 0 observed" in state.why
    # Happened: the image and the launch, measured from the flow, in the record and in the table.
    assert state.observed_image_s and state.observed_image_s < state.image_belief.estimate_s
    launched_at = task.record.launch.launched_at
    assert state.observed_boot_s == pytest.approx(task.record.timings["running"] - launched_at, abs=0.1)
    kinds = {row[0]: row for row in _rows(r)}
    assert kinds["image"][1:4] == ("cloud_essd", 64, False)
    assert kinds["image"][4] == pytest.approx(state.observed_image_s, abs=0.1)
    assert kinds["boot"][4] == pytest.approx(state.observed_boot_s, abs=0.1)


def test_once_learned_the_plan_waits_for_a_fresh_image_that_fits(race):
    r = race("web")
    times = BuildTimes(r.store.engine, r.clock)
    replacement_type = "ecs.g7.large"
    for k in range(build_times.MIN_SAMPLES):  # what earlier tasks here saw: fast images, quick boots
        times.observe_image(f"earlier-{k}", "aliyun", r.region, essd(40), False, 60.0 + k)
        times.observe_boot(f"earlier-{k}", "aliyun", r.region, replacement_type, 20.0 + k)
    (task,) = r.run([WEB])
    state = task.record.race
    assert state.image_belief.source == "observed" and state.image_belief.samples == build_times.MIN_SAMPLES
    assert state.image_estimate_s == 64.0  # the p90 of 60..64
    if task.record.launch.replacement and build_times.family_of(task.record.launch.replacement.instance_type) \
            == build_times.family_of(replacement_type):
        assert state.boot_belief.source == "observed"
    assert state.policy == "fresh-image" and "p90 of 5 observed" in state.why, state.why


def test_the_wait_for_a_fresh_image_follows_the_belief_not_a_fixed_figure(store):
    task = Task(TaskRow(id="t", key="aliyun:cn-hangzhou:i-1", cloud="aliyun", region="cn-hangzhou",
                        instance_id="i-1", kind="interruption", status="imaging"))
    build_times.believe(None, task, 180.0)  # nothing known: a 40 GiB ESSD's prior, ~23 min
    assert build_times.image_timeout(task, 3600.0) == 3600.0
    task.record.race.disks = [essd(40), KeptDisk("d-2", "data", "cloud_essd", 500, "z")]
    build_times.believe(None, task, 180.0)  # a 500 GiB first snapshot: hours, past the setting
    assert build_times.image_timeout(task, 3600.0) == pytest.approx(2 * (60 + 500 * 1024 / 30), abs=0.2)
