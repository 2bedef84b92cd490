"""Cloud SDK clients under the web server's threads and gunicorn's forked workers.

Parts: WatchedSession (a real boto3 Session that records how many threads are inside client() at
once), the AWS tests (one session used under a lock, a client per thread, a forked child makes
its own), the Aliyun test (one AcsClient per region shared by threads, every call answered).
Everything goes over the wire to the emulators; only the window a race needs is widened.
"""

from __future__ import annotations

import os
import threading
import time

import boto3
import pytest

from aliyun_fixtures import DOOMED, REGION as ALIYUN_REGION, aliyun_emulator, no_proxy_env, small_scenario  # noqa: F401
from aws_fixtures import *  # noqa: F401,F403
from aws_fixtures import REGION, SPOT_ID
from responder.clouds.aliyun import AliyunCloud
from responder.clouds.aws import AwsCloud

THREADS = 8  # gunicorn.conf.py's threads per worker


class WatchedSession(boto3.session.Session):
    """boto3 sessions are not thread-safe: count the threads inside client() at the same time."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inside = self.most_inside = self.clients_made = 0
        self._count = threading.Lock()

    def client(self, *args, **kwargs):
        with self._count:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            time.sleep(0.02)  # holds the door open for a second thread, if anything lets one in
            return super().client(*args, **kwargs)
        finally:
            with self._count:
                self.inside -= 1
                self.clients_made += 1


def run_at_once(work, count: int = THREADS) -> list:
    """Run work() on `count` threads released together; the results in thread order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def one(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work()
        except Exception as exc:  # kept, so the assertion shows it
            results[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_threads_calling_the_aws_adapter_at_once_never_share_the_session_and_all_get_answers(emulator):
    session = WatchedSession(region_name=REGION)
    cloud = AwsCloud(endpoint_url=emulator.endpoint_url, session=session)

    answers = run_at_once(lambda: (cloud.describe_instance(REGION, SPOT_ID).instance_type, id(cloud._ec2(REGION))))

    assert all(not isinstance(a, Exception) for a in answers), answers
    assert {kind for kind, _ in answers} == {cloud.describe_instance(REGION, SPOT_ID).instance_type}
    assert session.most_inside == 1  # client creation went through the lock, one thread at a time
    assert len({client for _, client in answers}) == THREADS  # a client per thread ...
    assert session.clients_made == THREADS + 1  # ... made once each (the main thread's is the +1)


def test_a_thread_keeps_its_client_and_each_region_gets_its_own(emulator):
    cloud = AwsCloud(endpoint_url=emulator.endpoint_url, region_name=REGION)
    first = cloud._ec2(REGION)
    assert cloud._ec2(REGION) is first
    other = cloud._ec2("us-west-2")
    assert other is not first and other.meta.region_name == "us-west-2"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_worker_makes_its_own_session_and_client_and_still_gets_answers(emulator):
    cloud = AwsCloud(endpoint_url=emulator.endpoint_url, region_name=REGION)
    parent_client = cloud._ec2(REGION)
    parent_session = cloud._session_of_pid[1]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        try:
            kind = cloud.describe_instance(REGION, SPOT_ID).instance_type
            fresh = cloud._ec2(REGION) is not parent_client and cloud._session_of_pid[1] is not parent_session
            os.write(write_end, f"{kind} {fresh}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + 60
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:  # a child stuck on a lock copied by fork: fail, do not hang
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish its call within 60 s")
        time.sleep(0.05)
    report = os.read(read_end, 200).decode()
    os.close(read_end)
    assert report == f"{cloud.describe_instance(REGION, SPOT_ID).instance_type} True"
    assert cloud._ec2(REGION) is parent_client  # the parent's own client is untouched


def test_threads_share_one_aliyun_client_per_region_and_every_call_is_answered(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(small_scenario)
    cloud = AliyunCloud("sandbox-key", "sandbox-secret", endpoint=emu.endpoint, timeout=5)

    answers = run_at_once(lambda: cloud.describe_instance(ALIYUN_REGION, DOOMED), count=2 * THREADS)

    assert all(not isinstance(a, Exception) for a in answers), answers
    assert {(a.instance_id, a.reclaiming) for a in answers} == {(DOOMED, True)}
    assert [c["action"] for c in emu.calls] == ["DescribeInstances"] * 2 * THREADS  # each signed, none retried
    assert len(cloud._clients) == 1
