"""The money arithmetic over task records (replace/costs.py), on records built here: what a
replacement, a fallback and a revert cost over a window, when a later task ends a purchase, and
what reverts saved = (the fallback's price − the spot one's) × hours since the revert."""

from __future__ import annotations

import dataclasses

import pytest

from responder.notify.daily import cost_fields
from responder.replace.costs import Costs, PriceRead, kind_of, saved_by_reverts, summarize
from responder.replace.record import RevertFacts, Task, TaskRecord
from responder.store import TaskRow

H = 3600.0
T0 = 1_000_000.0


def task(instance_id: str, original: tuple, bought: tuple, since: float, bought_ids: list[str], kind: str = "interruption",
         created: float | None = None, released: float | None = None, currency: str = "CNY") -> Task:
    record = TaskRecord()
    record.race.released_at = released
    o_type, o_market, o_price = original
    b_type, b_market, b_price = bought
    record.costs = Costs(original=PriceRead(o_type, "z", o_market, o_price, currency, "DescribePrice", since),
                         bought=PriceRead(b_type, "z", b_market, b_price, currency, "DescribePrice", since),
                         count=len(bought_ids) or 1, since=since, instance_ids=bought_ids)
    row = TaskRow(id=instance_id, key=f"aliyun:r:{instance_id}", cloud="aliyun", region="r", instance_id=instance_id,
                  kind=kind, status="done", created_at=since if created is None else created)
    return Task(row, record)


def fallback(since=T0):  # a spot original replaced on-demand: instance i-od
    return task("i-orig", ("ecs.g7.large", "spot", 0.12), ("ecs.g7.large", "ondemand", 0.79), since, ["i-od"])


def revert(since=T0 + 2 * H):  # the on-demand i-od moved back to spot: instance i-spot
    return task("i-od", ("ecs.g7.large", "ondemand", 0.79), ("ecs.g7.large", "spot", 0.14), since, ["i-spot"],
                kind="revert")


def test_kinds_replacement_fallback_and_revert():
    assert kind_of(fallback()) == "fallback"
    assert kind_of(revert()) == "revert"
    same = task("i-a", ("ecs.g7.large", "spot", 0.12), ("ecs.g7.large", "spot", 0.14), T0, ["i-b"])
    assert kind_of(same) == "replacement"  # the same type in another zone is a replacement, even a little dearer
    pricier = task("i-a", ("ecs.g7.large", "spot", 0.12), ("ecs.g7.xlarge", "spot", 0.30), T0, ["i-b"])
    cheaper = task("i-a", ("ecs.g7.large", "spot", 0.12), ("ecs.g6.large", "spot", 0.11), T0, ["i-b"])
    assert (kind_of(pricier), kind_of(cheaper)) == ("fallback", "replacement")


def test_saved_by_reverts_is_the_price_difference_times_hours_since_the_revert():
    tasks = [fallback(), revert()]
    assert saved_by_reverts(tasks, T0 + 5 * H) == pytest.approx({"CNY": (0.79 - 0.14) * 3})
    assert saved_by_reverts(tasks, T0 + H) == {}  # before the revert nothing is saved yet


def test_saved_by_reverts_stops_when_the_spot_instance_bought_back_ended():
    # the spot one is itself interrupted 4 h after the revert: a task on i-spot, released then
    reclaimed = task("i-spot", ("ecs.g7.large", "spot", 0.14), ("ecs.g7.large", "spot", 0.14), T0 + 6 * H, ["i-next"],
                     released=T0 + 6 * H)
    assert saved_by_reverts([fallback(), revert(), reclaimed], T0 + 10 * H) == pytest.approx({"CNY": 0.65 * 4})


def test_a_record_with_a_revert_section_counts_as_a_revert():
    flagged = revert()
    flagged.row = dataclasses.replace(flagged.row, kind="interruption")
    assert kind_of(flagged) == "replacement"  # on-demand to spot, without the revert's mark
    flagged.record.revert = RevertFacts(retired_instance_id="i-od", bought_instance_id="i-spot")  # the move's section
    assert kind_of(flagged) == "revert"


def test_summary_of_a_window_ends_the_fallback_at_the_revert_and_counts_what_still_runs():
    summary = summarize([fallback(), revert()], T0, T0 + 5 * H)
    # the fallback ran 2 h at 0.79 until the revert retired it; the spot one 3 h at 0.14 and still runs
    assert summary.spent["fallback"]["CNY"] == pytest.approx(1.58)
    assert summary.spent["replacement"]["CNY"] == pytest.approx(1.58)  # fallbacks are replacements too
    assert summary.spent["revert"]["CNY"] == pytest.approx(0.42)
    assert summary.hourly["fallback"]["CNY"] == 0.0 and summary.hourly["revert"]["CNY"] == pytest.approx(0.14)
    assert summary.saved["CNY"] == pytest.approx(1.95)
    assert summary.counts == {"replacement": 1, "fallback": 1, "revert": 1}


def test_a_window_counts_only_its_own_hours_and_skips_what_ended_before_it():
    later = summarize([fallback(), revert()], T0 + 4 * H, T0 + 6 * H)
    assert "fallback" not in later.counts  # retired at T0+2h, before this window
    assert later.spent["revert"]["CNY"] == pytest.approx(0.28) and later.saved["CNY"] == pytest.approx(1.3)


def test_unknown_prices_are_counted_never_guessed_and_currencies_stay_apart():
    unknown = fallback()
    unknown.record.costs.bought = PriceRead("ecs.g7.large", "z", "ondemand", unknown="Throttling")
    usd = task("i-aws", ("m5.large", "spot", 0.036), ("m5.large", "ondemand", 0.096), T0, ["i-x"], currency="USD")
    summary = summarize([unknown, usd], T0, T0 + 2 * H)
    assert summary.unknown == 1
    assert summary.spent["fallback"] == pytest.approx({"USD": 0.192})
    fields = cost_fields(summary)
    assert fields["fallback_cost"] == "1 priced: 0.19 USD in 24 h; 0.10 USD per hour still running"
    assert fields["prices_unknown"] == 1 and "saved_by_reverts" not in fields


def test_a_revert_section_saves_from_the_retire_and_a_move_given_up_saves_nothing():
    moved = revert(since=T0 + 2 * H)  # the spot one bought at T0+2h...
    moved.record.revert = RevertFacts(retired_instance_id="i-od", bought_instance_id="i-spot", outcome="moved",
                                      retired_at=T0 + 2.5 * H)  # ...and the on-demand one retired half an hour later
    summary = summarize([fallback(), moved], T0, T0 + 5 * H)
    assert summary.spent["fallback"]["CNY"] == pytest.approx(0.79 * 2.5)  # it billed until the retire
    assert summary.saved["CNY"] == pytest.approx(0.65 * 2.5)  # saving from the retire on
    given_up = revert(since=T0 + 2 * H)
    given_up.record.revert = RevertFacts(retired_instance_id="i-od", bought_instance_id="i-spot", outcome="given-up")
    both = summarize([fallback(), given_up], T0, T0 + 5 * H)
    assert "CNY" not in both.saved and both.hourly["fallback"]["CNY"] == pytest.approx(0.79)  # both still run
    assert both.hourly["revert"]["CNY"] == pytest.approx(0.14)
