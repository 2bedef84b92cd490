"""The churn guard: a pool that reclaimed us RESPONDER_CHURN_RECLAIMS times is ranked last for a
while, the others keep their order, an instance chain reclaimed too often goes on-demand first,
and /metrics and the status page show the reclaims per pool.

The pure rule on made-up histories, then end to end on the Aliyun sandbox: the real aliyun SDK
signs and sends every call to the ECS emulator; the history is the store's own."""

from __future__ import annotations

import copy
import re
import time

import pytest

from responder.replace.churn import ChurnPolicy, Pool, Reclaim, prefers_on_demand, rank, standings, verdict
from responder.replace.planner import Candidate
from responder.replace.runner import TaskRunner
from responder.settings import Settings, SettingsError
from responder.store import Store
from responder.web import create_app
from tests.conftest import event_bytes
from tests.scenarios import scenario

H = 3600.0
POLICY = ChurnPolicy(reclaims=3, window_s=24 * H, demote_s=12 * H, on_demand_after=4)
HOT = Pool("aws", "us-east-2", "us-east-2a", "m5.large", "spot")
CALM = Pool("aws", "us-east-2", "us-east-2b", "m5.large", "spot")


def reclaim(pool: Pool, at: float, n: int, lineage: str = "") -> Reclaim:
    return Reclaim(f"k{n}", pool, f"i-{n}", lineage or f"i-{n}", at)


def candidates() -> list[Candidate]:
    return [Candidate("m5.large", "us-east-2a", "spot", "subnet-a", "same-type-same-zone"),
            Candidate("m5.large", "us-east-2b", "spot", "subnet-b", "same-type-other-zone"),
            Candidate("m5a.large", "us-east-2a", "spot", "subnet-a", "same-vcpu-memory-other-family")]


def test_three_reclaims_within_the_window_demote_a_pool_for_the_demotion_time():
    history = [reclaim(HOT, t * H, n) for n, t in enumerate((0, 5, 10))] + [reclaim(CALM, 9 * H, 9)]
    now = 11 * H
    found = standings(history, POLICY, now)
    assert found[HOT].reclaims == 3 and found[HOT].demoted_until == 22 * H
    assert found[CALM].reclaims == 1 and found[CALM].demoted_until == 0.0
    assert standings(history, POLICY, 22.5 * H)[HOT].demoted_until == 0.0  # the demotion lapsed


def test_reclaims_spread_wider_than_the_window_do_not_demote():
    history = [reclaim(HOT, t * H, n) for n, t in enumerate((0, 20, 40))]
    assert standings(history, POLICY, 41 * H)[HOT].demoted_until == 0.0


def test_a_wave_of_reclaims_is_one_occasion():
    wave = [reclaim(HOT, 60.0 * n, n) for n in range(10)]  # ten instances within ten minutes
    found = standings(wave, POLICY, H)[HOT]
    assert (found.reclaims, found.occasions, found.demoted_until) == (10, 1, 0.0)
    two_more = wave + [reclaim(HOT, 2 * H, 20), reclaim(HOT, 4 * H, 21)]
    assert standings(two_more, POLICY, 5 * H)[HOT].demoted_until == 4 * H + POLICY.demote_s


def test_a_region_wide_occasion_counts_against_no_pool():
    pools = [HOT, CALM, Pool("aws", "us-east-2", "us-east-2c", "m5.large", "spot")]
    history = [reclaim(p, at * H + i, 10 * int(at) + i, ) for at in (0, 1, 2) for i, p in enumerate(pools)]
    found = standings(history, POLICY, 3 * H)
    assert all(found[p].demoted_until == 0.0 and found[p].regional == 3 and found[p].occasions == 0 for p in pools)
    own = history + [reclaim(HOT, 5 * H, 90), reclaim(HOT, 6 * H, 91), reclaim(HOT, 7 * H, 92)]
    assert standings(own, POLICY, 8 * H)[HOT].demoted_until == 7 * H + POLICY.demote_s


def test_a_demoted_pool_is_ranked_last_and_the_others_keep_their_order():
    history = [reclaim(HOT, t * H, n) for n, t in enumerate((0, 1, 2))]
    churn = verdict(history, "i-9", POLICY, 3 * H)
    ranked, reasons = rank(candidates(), churn, "aws", "us-east-2")
    assert [(c.instance_type, c.zone) for c in ranked] == [
        ("m5.large", "us-east-2b"), ("m5a.large", "us-east-2a"), ("m5.large", "us-east-2a")]
    assert len(reasons) == 1 and "reclaimed us on 3 occasion(s)" in reasons[0]
    assert "RESPONDER_CHURN_RECLAIMS" in reasons[0]
    calm, none = rank(candidates(), verdict(history[:2], "i-9", POLICY, 3 * H), "aws", "us-east-2")
    assert calm == candidates() and none == []


def test_a_chain_reclaimed_too_often_prefers_on_demand_only_when_the_policy_has_it():
    chain = [reclaim(p, t * H, n, lineage="i-root") for n, (p, t) in enumerate(((HOT, 0), (CALM, 1), (HOT, 2)))]
    assert not prefers_on_demand(chain, "i-root", POLICY, 3 * H)
    chain.append(reclaim(CALM, 3 * H, 7, lineage="i-root"))
    assert prefers_on_demand(chain, "i-root", POLICY, 3 * H)
    assert verdict(chain, "i-root", POLICY, 3 * H).prefer_on_demand
    spot_only = verdict(chain, "i-root", POLICY, 3 * H, on_demand_allowed=False)
    assert not spot_only.prefer_on_demand and "no on-demand" in spot_only.reasons[-1]
    assert not prefers_on_demand(chain, "i-root", ChurnPolicy(on_demand_after=0), 3 * H)


def test_the_settings_have_documented_defaults_and_refuse_negative_counts():
    settings = Settings.from_env({}, dotenv=False)
    policy = ChurnPolicy.from_settings(settings)
    assert (policy.reclaims, policy.window_s, policy.demote_s, policy.on_demand_after) == (3, 168 * H, 48 * H, 4)
    with pytest.raises(SettingsError, match="RESPONDER_CHURN_RECLAIMS"):
        Settings.from_env({"RESPONDER_CHURN_RECLAIMS": "-1"}, dotenv=False)


# -- end to end on the Aliyun sandbox -----------------------------------------------------------
SAMPLE = "i-bp1ecr7pz2yq4v5go2go"
HOT_IDS = ["i-bp1churnhot00000001", "i-bp1churnhot00000002", "i-bp1churnhot00000003"]
CALM_ID = "i-bp1churncalm0000001"


def churn_scenario() -> dict:
    """The default Aliyun region with four more reclaimed spot instances: three in the sample's
    pool (ecs.g7.large in cn-hangzhou-i), one in cn-hangzhou-j; every pool has stock."""
    data = scenario(offers=[], cloud="aliyun")
    region = data["regions"][0]
    sample = next(i for i in region["instances"] if i["id"] == SAMPLE)
    for instance_id in HOT_IDS + [CALM_ID]:
        twin = copy.deepcopy(sample)
        twin.update(id=instance_id, name=instance_id, hostname=instance_id)
        twin.pop("public_ip")
        if instance_id == CALM_ID:
            twin["zone"] = "cn-hangzhou-j"
            twin["subnet"] = next(s["id"] for s in region["subnets"] if s["zone"] == "cn-hangzhou-j")
        region["instances"].append(twin)
    return data


class Hours:
    """The task clock, an hour later after every interruption: a pool's reclaims on separate
    occasions, as the guard counts them (churn.EPISODE_S), without waiting hours."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def guarded(sandbox_factory, test_settings):
    def build(settings=None):
        box = sandbox_factory(churn_scenario())
        chosen = test_settings.with_(**(settings or {}))
        clock = Hours()
        runner = TaskRunner(Store(chosen.database_url), box.clouds, chosen, clock=clock)
        return create_app(chosen, runner=runner).test_client(), runner, clock, box
    return build


def interrupt(client, runner, instance_id: str, clock: Hours | None = None):
    body = event_bytes("aliyun/cloudmonitor-interruption.json").replace(SAMPLE.encode(), instance_id.encode())
    response = client.post("/events", data=body, content_type="application/octet-stream")
    assert response.status_code in (200, 202), response.get_json()
    task = runner.run_to_end(response.get_json()["task"]["id"], timeout=60)
    assert task.status == "done", task.reason
    if clock is not None:
        clock.offset += 3600.0
    return task


def order(task) -> list[tuple[str, str]]:
    return [(c.instance_type, c.zone) for c in task.record.plan.candidates]


def test_a_pool_that_reclaimed_us_three_times_is_ranked_last_and_the_pages_show_it(guarded):
    client, runner, clock, _ = guarded()
    hot = ("ecs.g7.large", "cn-hangzhou-i")
    first, second = interrupt(client, runner, HOT_IDS[0], clock), interrupt(client, runner, HOT_IDS[1], clock)
    for task in (first, second):  # one and two reclaims: the order is the planner's own
        assert order(task)[0] == hot and task.record.plan.ranking == []
        assert (task.record.launch.replacement.instance_type, task.record.launch.replacement.zone) == hot
    third = interrupt(client, runner, HOT_IDS[2], clock)
    assert order(third)[-1] == hot  # the third reclaim: ranked last, and the record says why
    assert order(third)[:-1] == [c for c in order(second) if c != hot]
    assert (third.record.launch.replacement.instance_type, third.record.launch.replacement.zone) != hot
    assert any("ranked last" in r and "cn-hangzhou-i" in r and "3 occasion(s)" in r for r in third.record.plan.ranking)
    assert third.to_json()["plan"]["churn"]["demoted"][0]["pool"].endswith("cn-hangzhou-i/ecs.g7.large/spot")
    # A pool that reclaimed us once keeps its place: its own zone first, the hot pool last.
    calm = interrupt(client, runner, CALM_ID, clock)
    assert order(calm)[0] == ("ecs.g7.large", "cn-hangzhou-j") and order(calm)[-1] == hot
    assert calm.record.launch.replacement.zone == "cn-hangzhou-j"
    # A redelivered event is the same task: it does not count again.
    interrupt(client, runner, HOT_IDS[2], clock)
    metrics = client.get("/metrics").get_data(as_text=True)
    hot_line = re.search(r'responder_pool_reclaims\{[^}]*zone="cn-hangzhou-i"[^}]*\} (\S+)', metrics)
    calm_line = re.search(r'responder_pool_reclaims\{[^}]*zone="cn-hangzhou-j"[^}]*\} (\S+)', metrics)
    assert hot_line and float(hot_line.group(1)) == 3.0
    assert calm_line and float(calm_line.group(1)) == 1.0
    assert re.search(r'responder_pool_demoted\{[^}]*zone="cn-hangzhou-i"[^}]*\} 1\.0', metrics)
    page = client.get("/").get_data(as_text=True)
    rows = re.findall(r'<tr class="pool">(.*?)</tr>', page)
    assert len(rows) == 2
    assert "cn-hangzhou-i" in rows[0] and rows[0].count('<td class="num">3</td>') == 2  # reclaims, occasions
    assert "ranked last until" in rows[0]
    assert "cn-hangzhou-j" in rows[1] and rows[1].count('<td class="num">1</td>') == 2 and "ranked last" not in rows[1]


def test_an_instance_chain_reclaimed_too_often_is_replaced_on_demand_first(guarded):
    """The chain follows the replacement's responder:replaces tag: the replacement's own reclaim
    counts for the original, and the second one of the chain (RESPONDER_CHURN_ON_DEMAND_AFTER=2)
    buys on-demand first."""
    client, runner, clock, box = guarded(settings={"churn_on_demand_after": 2})
    first = interrupt(client, runner, HOT_IDS[0], clock)
    assert not first.record.plan.churn.prefer_on_demand and first.record.launch.replacement.market == "spot"
    replacement = first.record.launch.replacement_ids[0]
    # ECS reclaims the replacement in turn: its Recycling lock, its notice from the first read.
    box.emulators["aliyun"].world.instances[replacement].update(locks=["Recycling"], notice_at="first_read")
    second = interrupt(client, runner, replacement, clock)
    churn = second.record.plan.churn
    assert (churn.lineage, churn.lineage_reclaims, churn.prefer_on_demand) == (HOT_IDS[0], 2, True)
    assert second.record.plan.probed_markets[0] == "ondemand"
    assert second.record.launch.replacement.market == "ondemand"
    assert "RESPONDER_CHURN_ON_DEMAND_AFTER=2" in churn.reasons[-1]


def test_the_history_counts_a_task_once_follows_the_tag_and_a_dry_run_writes_nothing(tmp_path):
    from responder.clouds.base import InstanceInfo
    from responder.replace.churn_store import ChurnHistory

    store = Store(f"sqlite:///{tmp_path}/history.db")
    now = [1_000_000.0]
    history = ChurnHistory(store.engine, POLICY, clock=lambda: now[0])

    def source(instance_id: str, replaces: str = "") -> InstanceInfo:
        tags = (("responder:replaces", replaces),) if replaces else ()
        return InstanceInfo(instance_id, "us-east-2", "us-east-2a", "m5.large", "running", True, True, tags=tags)

    first = history.judge("aws:us-east-2:i-1", "aws", source("i-1"), True, now[0], True)
    again = history.judge("aws:us-east-2:i-1", "aws", source("i-1"), True, now[0], True)  # a redelivery
    assert (first.lineage, first.lineage_reclaims, again.lineage_reclaims) == ("i-1", 1, 1)
    now[0] += H
    chained = history.judge("aws:us-east-2:i-2", "aws", source("i-2", replaces="i-1"), True, now[0], True)
    assert (chained.lineage, chained.lineage_reclaims) == ("i-1", 2)
    now[0] += H
    dry = history.judge("aws:us-east-2:i-3", "aws", source("i-3"), True, now[0], True, record=False)
    assert dry.lineage_reclaims == 0
    [pool] = ChurnHistory(store.engine, POLICY, clock=lambda: now[0]).pools()  # a fresh reader: the store's rows
    assert (pool["zone"], pool["reclaims"], pool["occasions"], pool["demoted"]) == ("us-east-2a", 2, 2, False)
