"""What a move back to spot saved, from the records the flows wrote, on the Aliyun sandbox through
the real SDK: the on-demand fallback and the spot instance bought back are priced by DescribePrice
from the scenario (the realistic pack's prices), and saved_by_reverts is (on-demand − spot) × hours
since the retire."""

from __future__ import annotations

import pytest
from revert_fixtures import Back

from responder.replace.costs import kind_of, saved_by_reverts, summarize
from responder.replace.record import Task
from responder.settings import Settings
from tests.test_revert_aliyun import after_revert_delay

H = 3600.0


@pytest.fixture
def back(tmp_path):
    settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                        keep_public_ip=True)
    one = Back("aliyun", settings, tmp_path)
    yield one
    one.stop()


def test_a_move_back_to_spot_is_priced_and_what_it_saved_comes_from_the_records(back):
    fell = back.fall_back()
    after_revert_delay(back, fell)
    move = back.move()
    assert move.status == "done" and move.record.revert.outcome == "moved", move.reason
    fallback_costs, move_costs = Task(back.store.get(fell.id)).record.costs, move.record.costs
    assert (fallback_costs.original.market, fallback_costs.bought.market) == ("spot", "ondemand")
    assert (fallback_costs.bought.instance_type, fallback_costs.bought.hourly) == ("ecs.g7.xlarge", 1.58)
    assert (move_costs.original.market, move_costs.original.hourly) == ("ondemand", 1.58)
    assert (move_costs.bought.market, move_costs.bought.hourly, move_costs.bought.currency) == ("spot", 0.30, "CNY")
    tasks = [Task(back.store.get(fell.id)), move]
    assert [kind_of(t) for t in tasks] == ["fallback", "revert"]
    retired = move.record.revert.retired_at
    assert saved_by_reverts(tasks, retired + 2 * H) == pytest.approx({"CNY": (1.58 - 0.30) * 2})
    day = summarize(tasks, fell.record.launch.launched_at, retired + 2 * H)
    assert day.hourly["fallback"]["CNY"] == 0.0  # retired by the move
    assert day.spent["fallback"]["CNY"] == pytest.approx(1.58 * (retired - fell.record.launch.launched_at) / H)
