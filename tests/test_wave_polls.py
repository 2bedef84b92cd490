"""A wave's polls in one round are one call per kind, through the real Aliyun SDK on the ECS
emulator (replace/batching.py, wave_reads.py): a round's describe_image and check_image polls
(tasks before and after their launch) go as one DescribeImages, and a later poll takes the answer
read since its own last look instead of calling."""

from __future__ import annotations

import pytest

from responder.replace.calls import Call
from responder.replace.record import Task
from responder.replace.runner import TaskRunner
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock
from responder.sandbox.wave_drive import wave_scenario
from responder.settings import Settings
from responder.store import Store, TaskRow

N = 30


@pytest.fixture
def imaging(tmp_path):
    """(executor, emulator, clock, tasks): N originals of one zone, each with its image being created."""
    scenario, clones = wave_scenario("aliyun", N, rate_limits="off")
    clock = ManualClock(20.0)
    box = start_sandbox(scenario, only=("aliyun",), clock=clock)
    cloud, region = box.clouds["aliyun"], scenario["regions"][0]["region"]
    settings = Settings(database_url=f"sqlite:///{tmp_path}/polls.db", background_ticker=False)
    runner = TaskRunner(Store(settings.database_url, clock=clock), {"aliyun": cloud}, settings,
                        clock=clock, sleep=clock.advance)
    tasks = []
    for n, (instance_id, _) in enumerate(clones):
        task = Task(TaskRow(id=f"t{n}", key=f"aliyun:{region}:{instance_id}", cloud="aliyun", region=region,
                            instance_id=instance_id, kind="interruption", status="imaging"))
        task.record.source = cloud.describe_instance(region, instance_id)
        task.record.image.image_id = cloud.create_image(region, instance_id, f"img-{n}", client_token=f"tok-{n}")
        if n % 2:  # half the wave already holds its replacement: its image polls are check_image
            task.record.launch.replacement_ids = [f"i-repl{n}"]
        tasks.append(task)
    yield runner.executor, box.emulators["aliyun"], clock, tasks
    box.stop()


def _poll(task: Task) -> Call:
    verb = "check_image" if task.record.launch.replacement_ids else "describe_image"
    return Call(verb, {"image_id": task.record.image.image_id})


def test_a_rounds_image_polls_of_both_verbs_are_one_describe_images(imaging):
    executor, emulator, _, tasks = imaging
    start = len(emulator.calls)
    outcomes = executor.run_round([(task, _poll(task)) for task in tasks])
    assert all(o.error is None and o.answer.image_id == t.record.image.image_id for o, t in zip(outcomes, tasks))
    made = [c for c in emulator.calls[start:] if c["action"].startswith("Describe")]
    assert [c["action"] for c in made] == ["DescribeImages"]
    assert len(made[0]["params"]["ImageId"].split(",")) == N


def test_polls_due_later_take_the_answer_read_since_their_own_last_look(imaging):
    """Each task polls on its own beat (a few every second); a poll whose image was read since its
    own last look takes that answer: the wave's polls cost a call per page a beat, not one per task."""
    executor, emulator, clock, tasks = imaging
    executor.run_round([(task, _poll(task)) for task in tasks])  # every image looked at once
    start = len(emulator.calls)
    for second in range(10):  # then three tasks poll each second
        clock.advance(1.0)
        due = tasks[3 * second:3 * second + 3]
        outcomes = executor.run_round([(task, _poll(task)) for task in due])
        assert all(o.error is None for o in outcomes)
    made = [c for c in emulator.calls[start:] if c["action"] == "DescribeImages"]
    # All read at 20 s: the 3 due at 21 s take it (fresh), the 3 due at 22 s call (it is their own
    # last look) and read all 30; every later poll takes that answer, read since its own last look.
    assert len(made) == 1, [c["t"] for c in made]


def test_a_settled_image_far_from_done_is_polled_less_often_and_closely_near_the_end():
    """Once the replacement runs the image gates only the swap: at 10 % after 120 s (about 1,080 s
    left) the next look is SETTLED_MAX_POLL_S away; at 98 % the wave's slow beat, SETTLED_POLL_S."""
    from responder.replace.image_polls import SETTLED_MAX_POLL_S, SETTLED_POLL_S, Facts, settled_poll_delay
    task = Task(TaskRow(id="t", key="aliyun:r:i", cloud="aliyun", region="r", instance_id="i",
                        kind="interruption", status="launching"))
    assert settled_poll_delay(Facts(), task, 120.0, 10.0) == SETTLED_MAX_POLL_S
    assert settled_poll_delay(Facts(), task, 980.0, 98.0) == SETTLED_POLL_S
    assert settled_poll_delay(Facts(), task, 600.0, 90.0) == pytest.approx(600.0 / 9 / 2)  # 67 s left: half


def test_settled_polls_a_minute_apart_stay_watched_so_the_first_of_a_cluster_reads_them_all(imaging):
    """Settled polls come about a minute apart and the wave's cluster within seconds: the first
    call of the cluster reads every image polled the minute before, and the rest take its answer."""
    executor, emulator, clock, tasks = imaging
    settled = [t for t in tasks if t.record.launch.replacement_ids]
    executor.run_round([(task, _poll(task)) for task in settled])
    clock.advance(60.0)
    start = len(emulator.calls)
    for second in range(5):  # three polls each second, a minute after the last
        due = settled[3 * second:3 * second + 3]
        assert all(o.error is None for o in executor.run_round([(task, _poll(task)) for task in due]))
        clock.advance(1.0)
    made = [c for c in emulator.calls[start:] if c["action"] == "DescribeImages"]
    assert len(made) == 1 and len(made[0]["params"]["ImageId"].split(",")) == len(settled)


def test_a_settled_image_with_no_progress_figure_is_polled_by_its_estimate():
    """EC2 gives no progress: half the time the estimate leaves, between the two beats."""
    from responder.replace.image_polls import SETTLED_MAX_POLL_S, SETTLED_POLL_S, Facts, settled_poll_delay
    task = Task(TaskRow(id="t", key="aws:r:i", cloud="aws", region="r", instance_id="i",
                        kind="interruption", status="launching"))
    facts = Facts(build_estimates={("aws", "r"): (1200.0, False)})
    assert settled_poll_delay(facts, task, 100.0, 0.0) >= SETTLED_MAX_POLL_S  # far off: aimed at the estimate
    assert settled_poll_delay(facts, task, 1150.0, 0.0) == pytest.approx(25.0)
    assert settled_poll_delay(facts, task, 1190.0, 0.0) >= SETTLED_POLL_S


def test_a_settled_image_known_only_by_the_prior_is_looked_at_a_beat_away_then_wider():
    """A prior (333 s for a small first EBS snapshot) is a harsh guess, not a measure: aimed at, it
    held the swap of an image built in seconds back a full minute. Without an observed figure the
    looks back off from the time already waited; an observed figure is aimed at as before."""
    from responder.replace.image_polls import SETTLED_MAX_POLL_S, SETTLED_POLL_S, Facts, settled_poll_delay
    from responder.replace.record import Belief, KeptDisk
    task = Task(TaskRow(id="t", key="aws:r:i", cloud="aws", region="r", instance_id="i",
                        kind="interruption", status="launching"))
    race = task.record.race
    race.disks = [KeptDisk(disk_id="vol-1", kind="system", size_gib=8, category="gp2", zone="r-a")]
    race.image_belief, race.image_estimate_s = Belief(333.1, 0.0, 0, "prior", "aws/r gp2 <=16 GiB first"), 333.1
    assert settled_poll_delay(Facts(), task, 1.5, 0.0) == SETTLED_POLL_S
    assert settled_poll_delay(Facts(), task, 60.0, 0.0) == pytest.approx(30.0)
    assert settled_poll_delay(Facts(), task, 200.0, 0.0) == SETTLED_MAX_POLL_S
    race.image_belief = Belief(333.1, 0.9, 5, "observed", "aws/r gp2 <=16 GiB first")
    assert settled_poll_delay(Facts(), task, 1.5, 0.0) == SETTLED_MAX_POLL_S  # 331 s left: aimed at


def test_settled_polls_fall_on_the_wave_s_slow_beat():
    """Settled polls end on multiples of SETTLED_POLL_S: the wave sees its images become Available
    together, and their swaps start (and share their looks) together."""
    from responder.replace.image_polls import SETTLED_POLL_S, settled_poll_at
    assert settled_poll_at(101.0, 20.0) == 9 * SETTLED_POLL_S  # 121 s: up to the next beat, 135 s
    assert settled_poll_at(100.0, 20.0) == 8 * SETTLED_POLL_S  # on a beat already: 120 s
