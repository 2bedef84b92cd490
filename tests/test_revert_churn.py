"""The churn guard in the move back to spot, on the Aliyun sandbox through the real SDK: with the
original's pool demoted, the move goes to the best-ranked equivalent that is not, or, with none in
stock, waits and says why (the task record and `responder revert --dry-run`); an instance whose
chain the guard sends on-demand first is held where it runs."""

from __future__ import annotations

import pytest
from revert_fixtures import RETURN, Back, fallback_scenario

from responder.replace.churn_store import reclaims
from responder.revert.plan import plan
from responder.settings import Settings

HOT = ("cn-hangzhou-j", "ecs.g7.xlarge")  # the original's own pool


@pytest.fixture
def back(tmp_path):
    started = []

    def start(scenario: dict | None = None):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            keep_public_ip=True)
        one = Back("aliyun", settings, tmp_path, scenario)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


def reclaimed(b: Back, pool: tuple[str, str], times: list[float], lineage: str = "") -> None:
    """Reclaims the store saw, as the interruption tasks note them (one row per claim key)."""
    zone, instance_type = pool
    with b.store.engine.begin() as conn:
        for n, at in enumerate(times):
            instance = f"i-bp1other{int(at):011d}"
            conn.execute(reclaims.insert().values(
                claim_key=f"aliyun:cn-hangzhou:{instance}:{n}", cloud="aliyun", region="cn-hangzhou", zone=zone,
                instance_type=instance_type, market="spot", instance_id=instance, lineage=lineage or instance,
                reclaimed_at=at))


def fell_back_in_a_demoted_pool(b: Back):
    fell = b.fall_back()  # the original's reclaim is the pool's first occasion
    b.clock.advance_to(RETURN + 1)
    reclaimed(b, HOT, [RETURN - 2400.0, RETURN - 1200.0])  # two more occasions: demoted for 48 h
    return fell


def test_with_the_original_pool_demoted_the_move_goes_to_the_best_ranked_equivalent(back):
    scenario = fallback_scenario("aliyun")
    for offer in scenario["stock"]["offers"]:
        if (offer["type"], offer["zone"]) == ("ecs.g7.xlarge", "cn-hangzhou-i"):
            offer["schedule"] = [{"at": RETURN, "available": 5}]
    b = back(scenario)
    fell_back_in_a_demoted_pool(b)
    (line,) = plan(b.runner)
    assert line["move"] is True and line["to"].startswith("ecs.g7.xlarge in cn-hangzhou-i (spot")
    assert "not moved into: ecs.g7.xlarge in cn-hangzhou-j (spot) reclaimed us on 3 occasion(s)" in line["why"]
    move = b.move()
    revert = move.record.revert
    assert move.status == "done" and revert.outcome == "moved", move.reason
    assert (revert.bought_type, revert.bought_zone, revert.bought_market) == ("ecs.g7.xlarge", "cn-hangzhou-i", "spot")
    assert any(r.startswith("not moved into: ecs.g7.xlarge in cn-hangzhou-j") for r in move.record.plan.ranking)
    assert b.purchases() == 2  # the on-demand fallback, then one spot instance: never the demoted pool


def test_with_only_the_demoted_pool_in_stock_the_move_waits_and_says_why(back):
    b = back()
    fell_back_in_a_demoted_pool(b)
    (line,) = plan(b.runner)
    assert line["move"] is False and "outside the demoted pools" in line["why"]
    assert "not moved into: ecs.g7.xlarge in cn-hangzhou-j" in line["why"]
    b.move(until=RETURN + 3600.0)
    (move,) = b.moves()
    assert not move.finished and "outside the demoted pools" in move.record.revert.why
    assert b.writes_since_fall_back() == [] and b.purchases() == 1  # nothing bought in the demoted pool
    b.clock.advance_to(RETURN + 49 * 3600.0)  # the demotion lapses: the original's pool again
    move = b.move(until=RETURN + 60 * 3600.0)
    assert move.record.revert.outcome == "moved" and move.record.revert.bought_zone == "cn-hangzhou-j"


def test_an_instance_the_guard_sends_on_demand_first_is_held_there(back):
    b = back()
    fell = b.fall_back()
    b.clock.advance_to(RETURN + 1)
    original = fell.instance_id  # the chain: the original and the on-demand one that replaced it
    reclaimed(b, ("cn-hangzhou-i", "ecs.g7.large"), [RETURN - 20000.0, RETURN - 12000.0, RETURN - 6000.0],
              lineage=original)
    (line,) = plan(b.runner)
    assert line["move"] is False and "the churn guard holds it: held where it runs" in line["why"]
    assert "RESPONDER_CHURN_ON_DEMAND_AFTER" in line["why"]
    b.move(until=RETURN + 1800.0)
    (move,) = b.moves()
    assert not move.finished and move.record.revert.why.startswith("the churn guard holds it")
    assert b.purchases() == 1 and b.writes_since_fall_back() == []
