"""The only code in the replacement flow that calls a cloud: one method per Call verb.

Parts: Executor (run_round(pairs) → one CallOutcome per call: the round's calls in priority order
(priority.py), batchable reads of many tasks as one call each (batching.py), the rest one by one on
a bounded pool; run(task, call) → the answer of one; takes the money caps before every spend). A
`probe` call runs through probing.py, which keeps the slow-changing facts that rank it cached.

Steps (steps.py) decide which calls to make and fold the answers into the record; the runner
(runner.py) saves and retries. Nothing else in replace/ talks to a cloud but what the executor
runs (probing.py, batching.py, launch.py, reserve.py). The adapters ask the API
budget before each call (clouds/gate.py CallGate); a call it holds back comes back as a
CallOutcome whose error is errors.Deferred, and the runner brings its task back then. Each job of
a round asks as its task (capacity/budget.py `asking`: the task's priority, so a deferred task
keeps its place in line), and the jobs' first calls are admitted in priority order even when they
run side by side (budget.Turns).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from responder.capacity.budget import Turns, asking
from responder.clouds.base import CloudPort, DiskInfo, RootSwap
from responder.errors import CloudError, NotFound, Transient
from responder.model import Market
from responder.replace import batching, capped
from responder.replace.calls import CallOutcome
from responder.replace.caps import MoneyCaps, Spend
from responder.replace.launch import LaunchContext, launch_replacement
from responder.replace.priority import priority
from responder.replace.probing import ProbeResult, Probes
from responder.replace.record import Task
from responder.replace.reserve import reserve_capacity
from responder.replace.steps import Call, CapReached, acts_as_rebalance, markets
from responder.replace.wave_reads import SINCE_ASKED_S, WaveReads
from responder.settings import Settings
from responder.store import LeaseLost

# Writes that check before they act, and what they look at: the round reads those looks for all of
# its steps at once, with the wave's (wave_reads.py), and each write acts on its own.
LOOKS = {"swap_root": "instance_id", "attach_disk": "disk_id"}


def _in_turn(turns: Turns, index: int, job: Callable[[], list[CallOutcome]]) -> list[CallOutcome]:
    with turns.turn(index):
        return job()


class Executor:
    def __init__(self, clouds: dict[str, CloudPort], settings: Settings, caps: MoneyCaps,
                 save: Callable[[Task], None], clock: Callable[[], float], sleep: Callable[[float], None],
                 rand: Callable[[], float]):
        self.clouds, self.settings, self.caps = clouds, settings, caps
        self.save, self.clock, self.sleep, self.rand = save, clock, sleep, rand
        self.probes = Probes(clock, settings.spot_bands)  # stock probes and what ranks them, cached
        self.wave = WaveReads(clock)  # image builds and instance states the wave watches, read together
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # -- a round -----------------------------------------------------------------------------
    def run_round(self, pairs: list[tuple[Task, Call]]) -> list[CallOutcome]:
        """Make one call for each (task, call) and return their outcomes in the same order. The
        calls go in priority order (earliest release first, data before capacity before reads);
        batchable reads of one (cloud, region, verb) go as one call; the others run side by side
        on `tick_workers` threads (each waits on the cloud), one at a time when that is 1."""
        keys = [priority(*pair) for pair in pairs]
        order = sorted(range(len(pairs)), key=keys.__getitem__)
        ordered = [pairs[i] for i in order]
        self._look_ahead(ordered, [keys[i] for i in order])
        groups, singles = batching.group(ordered)
        jobs = [(chunk, self._batched_job(ordered, chunk)) for chunk in groups]
        jobs += [([i], self._single_job(ordered[i])) for i in singles]
        jobs.sort(key=lambda job: job[0][0])  # the head of each job decides when it goes
        # Each job asks the budget as its head task, with that task's priority.
        jobs = [(indices, self._asking(keys[order[indices[0]]], ordered[indices[0]][0].id, job))
                for indices, job in jobs]
        results: list[CallOutcome | None] = [None] * len(ordered)
        for indices, answers in self._map(jobs):
            for i, outcome in zip(indices, answers):
                results[i] = outcome
        back: list[CallOutcome] = [CallOutcome()] * len(pairs)
        for position, i in enumerate(order):
            back[i] = results[position]
        return back

    def _look_ahead(self, ordered: list[tuple[Task, Call]], keys: list[tuple]) -> None:
        """The looks the round's swap steps act on, one read per (cloud, region) before the steps
        run side by side (each would read its own, and the wave's with it, at the same moment). A
        look that fails here is read again by its own step, which then sees the error."""
        wanted: dict[tuple[str, str, str], tuple[tuple, str, list[str]]] = {}
        for (task, call), key in zip(ordered, keys):
            if call.verb in LOOKS:
                ids = wanted.setdefault((call.verb, task.cloud, task.region), (key, task.id, []))[2]
                ids.append(call.args[LOOKS[call.verb]])
        for (verb, cloud_name, region), (key, claim, ids) in wanted.items():
            read = self._root_looks if verb == "swap_root" else self._disk_looks
            try:
                with asking(key, claim):
                    read(self.clouds[cloud_name], cloud_name, region, ids)
            except CloudError:
                continue

    # A swap's and an attach's looks take an answer the wave read since this id's last look (its
    # own poll would have read no older): only this task moves the instance or the disk, forgetting
    # the look after each write, and the cloud's own moves (a stop ending, the original's release
    # freeing a disk) only go forward — an older answer makes a step wait one poll, never act twice.
    def _root_looks(self, cloud: CloudPort, cloud_name: str, region: str, ids: list[str]) -> dict:
        return self.wave.read("roots", cloud_name, region, ids, lambda page: cloud.root_looks(region, page),
                              lambda look: look.swaps_ended, since_asked_s=SINCE_ASKED_S,
                              page=cloud.capabilities.root_look_page)

    def _disk_looks(self, cloud: CloudPort, cloud_name: str, region: str, ids: list[str]) -> dict:
        return self.wave.read("disks", cloud_name, region, ids,
                              lambda page: {d.disk_id: d for d in cloud.describe_disks(region, disk_ids=page)},
                              lambda disk: False, since_asked_s=SINCE_ASKED_S)

    def _single_job(self, pair: tuple[Task, Call]) -> Callable[[], list[CallOutcome]]:
        def job() -> list[CallOutcome]:
            try:
                return [CallOutcome(answer=self.run(*pair))]
            except (CloudError, CapReached, LeaseLost) as exc:  # LeaseLost: a launch's intent was not saved
                return [CallOutcome(error=exc)]
        return job

    def _batched_job(self, ordered: list[tuple[Task, Call]], chunk: list[int]) -> Callable[[], list[CallOutcome]]:
        pairs = [ordered[i] for i in chunk]
        task, call = pairs[0]
        spec = batching.BATCHED[call.verb]

        def job() -> list[CallOutcome]:
            try:
                answers = spec.read(self.clouds[task.cloud], task.region, pairs, self.wave)
            except CloudError as exc:  # the one call failed: every task of the group sees why
                return [CallOutcome(error=exc) for _ in pairs]
            return [CallOutcome(error=a) if isinstance(a, CloudError) else CallOutcome(answer=a) for a in answers]
        return job

    @staticmethod
    def _asking(key: tuple, claim: str, job: Callable[[], list[CallOutcome]]) -> Callable[[], list[CallOutcome]]:
        def asked() -> list[CallOutcome]:
            with asking(key, claim):
                return job()
        return asked

    def _map(self, jobs: list[tuple[list[int], Callable[[], list[CallOutcome]]]]):
        """(indices, outcomes) per job; side by side on the pool, in submission order, each job's
        first budget decision after the one before it (Turns): admission follows priority."""
        if len(jobs) <= 1 or self.settings.tick_workers <= 1:
            return [(indices, job()) for indices, job in jobs]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.settings.tick_workers, thread_name_prefix="responder-call")
        turns = Turns(len(jobs))
        futures = [(indices, self._pool.submit(_in_turn, turns, n, job)) for n, (indices, job) in enumerate(jobs)]
        return [(indices, future.result()) for indices, future in futures]

    def run(self, task: Task, call: Call) -> Any:
        return getattr(self, "_" + call.verb)(task, self.clouds[task.cloud], call)

    # -- money -----------------------------------------------------------------------------
    def _refuse_if_capped(self, task: Task) -> None:
        """Before the image: RESPONDER_IMAGE_WHEN_CAPPED decides whether the cap is asked now (capped.py)."""
        if self.settings.image_when_capped:
            return  # data first: the image is taken whatever the cap; the launch asks it
        if not acts_as_rebalance(task):  # the launch's own unit, taken now: exact in a burst
            self.take_spend(task, *capped.spend_before_image(task, self.settings))
            return
        used = self.caps.used_since(self.clock() - 3600)
        if used >= self.settings.max_launches_per_hour:
            raise CapReached(f"launch cap reached: {used} spends in the last hour "
                             f"(RESPONDER_MAX_LAUNCHES_PER_HOUR={self.settings.max_launches_per_hour})")

    def take_spend(self, task: Task, token: str, kind: str) -> None:
        verdict = self.caps.take(Spend(token=token, claim_key=task.key, kind=kind))
        if not verdict.ok:
            raise CapReached(verdict.reason)

    def _launch_context(self, cloud: CloudPort) -> LaunchContext:
        return LaunchContext(cloud=cloud, clock=self.clock, sleep=self.sleep, rand=self.rand, save=self.save,
                             take_spend=self.take_spend, give_back=self.caps.give_back)

    def find_launched(self, task: Task, tokens: list[str]) -> tuple[str, ...]:
        """The instances the first of these launch tokens made, if any did (lost answers)."""
        cloud = self.clouds[task.cloud]
        return next((ids for ids in (cloud.find_launched(task.region, t) for t in tokens) if ids), ())

    # -- one method per verb ---------------------------------------------------------------
    def _describe_instance(self, task: Task, cloud: CloudPort, call: Call):
        return cloud.describe_instance(task.region, task.instance_id)

    def _create_image(self, task: Task, cloud: CloudPort, call: Call) -> str:
        self._refuse_if_capped(task)
        batching.expect_ahead(cloud, self.wave, task)  # its next reads go with the wave's while it waits
        image_id = cloud.create_image(task.region, task.instance_id, call.args["name"], client_token=call.token,
                                      tags=tuple(tuple(t) for t in call.args["tags"]))
        self.wave.expect("images", task.cloud, task.region, [image_id])  # its first poll takes the wave's next read
        return image_id

    def _clone_details(self, task: Task, cloud: CloudPort, call: Call):
        return cloud.clone_details(task.region, task.record.source, parts=(call.args["part"],))

    def _describe_image(self, task: Task, cloud: CloudPort, call: Call):
        return cloud.describe_image(task.region, call.args["image_id"])

    def _probe(self, task: Task, cloud: CloudPort, call: Call) -> ProbeResult:
        return self.probes.probe(task, cloud, Market(call.args["market"]))

    def _acquire_replacement(self, task: Task, cloud: CloudPort, call: Call):
        outcome = launch_replacement(self._launch_context(cloud), task, markets(self.settings)[0])
        # Its polls until Running take the answer of any read of the wave's states made since.
        self.wave.expect("states", task.cloud, task.region, list(outcome.instance_ids))
        return outcome

    def _instance_states(self, task: Task, cloud: CloudPort, call: Call) -> dict[str, str]:
        return cloud.instance_states(task.region, call.args["instance_ids"])

    def _associate_address(self, task: Task, cloud: CloudPort, call: Call):
        if not cloud.capabilities.elastic_ips:
            return None
        return cloud.associate_address(task.region, call.args["allocation_id"], call.args["instance_id"])

    def _reserve(self, task: Task, cloud: CloudPort, call: Call):
        return reserve_capacity(self._launch_context(cloud), task)

    def _take_charge(self, task: Task, cloud: CloudPort, call: Call) -> None:
        cloud.take_charge(task.region, tuple(call.args["resource_ids"]))

    def _terminate_instance(self, task: Task, cloud: CloudPort, call: Call) -> None:
        """Check before act: a retire whose answer was lost left the instance gone, and a repeat
        is refused (ECS's RAM condition on the instance's tag cannot match an instance that no
        longer exists)."""
        instance_id = call.args["instance_id"]
        state = cloud.instance_states(task.region, [instance_id]).get(instance_id, "").lower()
        if state in ("", "terminated", "shutting-down", "deleted"):
            return
        cloud.terminate_instance(task.region, instance_id)

    # -- the race against the release (race_steps.py) ----------------------------------------
    def _describe_disks(self, task: Task, cloud: CloudPort, call: Call):
        return cloud.describe_disks(task.region, instance_id=call.args["instance_id"])

    def _keep_disks(self, task: Task, cloud: CloudPort, call: Call) -> None:
        """The disks as the race read them (describe_disks of this instance, after its notice was
        confirmed): where EC2 needs each one's device, no second read, one per task."""
        ids = tuple(call.args["disk_ids"])
        known = tuple(DiskInfo(d.disk_id, d.kind, d.category, d.size_gib, d.zone, True, instance_id=task.instance_id,
                               device=d.device) for d in task.record.race.disks if d.disk_id in ids and d.device)
        cloud.set_delete_with_instance(task.region, ids, delete=False, known=known)

    def _follow_instance(self, task: Task, cloud: CloudPort, call: Call) -> list[str]:
        cloud.set_delete_with_instance(task.region, tuple(call.args["disk_ids"]), delete=True)
        return list(call.args["disk_ids"])

    def _convert_public_ip(self, task: Task, cloud: CloudPort, call: Call) -> str:
        return cloud.convert_public_ip(task.region, call.args["instance_id"])

    def _latest_image(self, task: Task, cloud: CloudPort, call: Call) -> str:
        return cloud.latest_image(task.region, call.args["instance_id"])

    def _check_image(self, task: Task, cloud: CloudPort, call: Call):
        return cloud.describe_image(task.region, call.args["image_id"])

    def _check_launch_image(self, task: Task, cloud: CloudPort, call: Call):
        """The older image a launch would use; None when it no longer exists (deleted, deregistered)."""
        try:
            return cloud.describe_image(task.region, call.args["image_id"])
        except NotFound:
            return None

    def _stand_in_image(self, task: Task, cloud: CloudPort, call: Call) -> str:
        return cloud.stand_in_image(task.region, task.record.source)

    def _replacement_state(self, task: Task, cloud: CloudPort, call: Call) -> dict[str, str]:
        return cloud.instance_states(task.region, call.args["instance_ids"])

    def _swap_root(self, task: Task, cloud: CloudPort, call: Call) -> RootSwap:
        """One step of the swap (swap.py). A refusal that waiting cannot change — the cloud rules the
        swap out for this instance, or the policy lacks the permission — is an answer, not an error:
        the replacement keeps its older root disk and the task goes on with its other steps."""
        instance_id = call.args["instance_id"]
        try:
            # The look that decides the step is one of the wave's shared reads: one call reads every
            # instance whose swap the wave is watching (wave_reads.py); the write stays this task's.
            looks = self._root_looks(cloud, task.cloud, task.region, [instance_id])
            if instance_id not in looks:
                raise NotFound("InvalidInstanceId.NotFound", f"{instance_id} not found in {task.region}", "root look")
            step = cloud.swap_root(task.region, instance_id, call.args["image_id"], call.token,
                                   look=looks[instance_id])
        except Transient:
            # A write whose answer was lost may have moved the instance: look again before the next step.
            self.wave.forget("roots", task.cloud, task.region, [instance_id])
            raise
        except CloudError as exc:
            self.wave.forget("roots", task.cloud, task.region, [instance_id])
            return RootSwap("refused", f"{exc.code}: {exc}")
        if step.acted:  # the instance moved: a look from before must not decide its next step
            self.wave.forget("roots", task.cloud, task.region, [instance_id])
        return step

    def _original_state(self, task: Task, cloud: CloudPort, call: Call) -> dict[str, str]:
        return cloud.instance_states(task.region, call.args["instance_ids"])

    def _bind_eip(self, task: Task, cloud: CloudPort, call: Call) -> str:
        return cloud.associate_address(task.region, call.args["allocation_id"], call.args["instance_id"])

    def _move_private_ip(self, task: Task, cloud: CloudPort, call: Call) -> None:
        cloud.assign_private_ip(task.region, call.args["instance_id"], call.args["ip"], client_token=call.token)

    def _attach_disk(self, task: Task, cloud: CloudPort, call: Call) -> list[str] | None:
        """Check before act: an attach whose answer was lost left the disk on the replacement.
        [] when not yet (still creating, or detaching from the stopped original: EC2 keeps a stopped
        instance's volumes attached); None when the disk is gone or on someone else's instance."""
        disk_id = call.args["disk_id"]
        try:
            return self._attach_seen(task, cloud, call, self._disk_looks(cloud, task.cloud, task.region, [disk_id]))
        except CloudError:
            self.wave.forget("disks", task.cloud, task.region, [disk_id])  # a lost answer may have moved it
            raise

    def _attach_seen(self, task: Task, cloud: CloudPort, call: Call, looks: dict) -> list[str] | None:
        """_attach_disk's step from the wave's look at the disk; a write forgets the look (the next
        step reads the disk again)."""
        disk_id, target = call.args["disk_id"], call.args["instance_id"]
        goes_with = bool(call.args.get("delete_with_instance"))
        disk = looks.get(disk_id)
        if disk is None:
            return None

        def forget() -> None:
            self.wave.forget("disks", task.cloud, task.region, [disk_id])
        if disk.instance_id == target:
            if goes_with and not disk.delete_with_instance:
                # EC2's AttachVolume takes no DeleteOnTermination: set it once the volume is on the
                # replacement, or it would outlive that replacement and bill unseen.
                # The disk as just read: a second read could be held back by the API budget after
                # this one spent a token, and every retry would spend it again.
                cloud.set_delete_with_instance(task.region, (disk_id,), True, known=(disk,))
                forget()
            return [disk_id]
        if disk.instance_id == task.instance_id:
            if disk.status != "detaching":
                cloud.detach_disk(task.region, disk_id, task.instance_id)
                forget()
            return []
        if disk.instance_id:
            return None
        if disk.status not in ("available", ""):
            return []
        cloud.attach_disk(task.region, disk_id, target, call.args.get("device", ""), delete_with_instance=goes_with)
        forget()
        return [] if goes_with else [disk_id]  # look again: the flag is checked once it is attached

    def _image_snapshots(self, task: Task, cloud: CloudPort, call: Call) -> dict[str, str]:
        return cloud.image_snapshots(task.region, call.args["image_id"])

    def _restore_disk(self, task: Task, cloud: CloudPort, call: Call) -> str:
        """"" while the snapshot cannot make a disk yet; the token makes a repeat return the same disk."""
        if not cloud.snapshot_usable(task.region, call.args["snapshot_id"]):
            return ""
        return cloud.restore_disk(task.region, call.args["snapshot_id"], call.args["zone"], call.args["category"],
                                  call.token)

    def _delete_disk(self, task: Task, cloud: CloudPort, call: Call) -> list[str]:
        try:
            cloud.delete_disk(task.region, call.args["disk_id"])
        except NotFound:
            pass  # already gone: a delete whose answer was lost, or the owner's own cleanup
        return [call.args["disk_id"]]

    def _disk_states(self, task: Task, cloud: CloudPort, call: Call) -> dict:
        found = {d.disk_id: d for d in cloud.describe_disks(task.region, disk_ids=tuple(call.args["disk_ids"]))}
        return {disk_id: found.get(disk_id) for disk_id in call.args["disk_ids"]}
