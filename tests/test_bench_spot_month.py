"""bench/spot_month.py: the month runs on a tiny fleet, prints one JSON object last in the shape
the issue asks for, and the churn guard and the move back to spot move the figures the right way."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import yaml

from responder.replace import churn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import spot_month  # noqa: E402
import spot_month_calm  # noqa: E402
import spot_month_leave  # noqa: E402

KEYS = {"cost_vs_today", "cost_vs_on_demand", "interruptions_vs_today", "on_demand_share", "data_lost"}


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_json_is_printed_last_with_every_cloud_and_figure(capsys):
    spot_month.main(["--fleet", "12", "--days", "10", "--json"])
    result = last_json(capsys)
    assert set(result) == {"aws", "aliyun"}
    for figures in result.values():
        assert KEYS <= set(figures)
        assert figures["data_lost"] == 0
        assert 0 <= figures["on_demand_share"] <= 1 and figures["cost_vs_on_demand"] > 0
    spot_month.main(["--fleet", "12", "--days", "10", "--json"])
    assert last_json(capsys) == result  # seeded: the same month twice


def test_the_move_back_to_spot_cuts_the_bill_that_on_demand_fallbacks_run_up(capsys):
    # Three region crunches reclaiming a quarter of the fleet leave fallbacks on-demand to move back.
    spot_month.main(["--fleet", "24", "--set", "region_crunch={per_month: 3, share: 0.25, dry_hours: 6}",
                     "--json"])
    for cloud, figures in last_json(capsys).items():
        today, revert = figures["variants"]["today"], figures["variants"]["revert"]
        assert today["on_demand_share"] > 0.05, cloud
        assert revert["on_demand_share"] < today["on_demand_share"] / 2
        assert revert["cost_vs_on_demand"] < today["cost_vs_on_demand"] and figures["cost_vs_today"] < 1


def test_the_pack_states_a_band_for_every_named_pool_and_rates_follow_the_bands():
    month = spot_month.Month.load(spot_month.PACK)
    bands = month.section["bands"]
    assert [f["count"] for f in month.section["fleets"]] == [200, 200]  # the fleet, per cloud
    for pool in month.section["pools"]:
        assert pool["band"] in bands and pool["type"] in {t["type"] for t in month.region(pool["cloud"])
                                                          ["instance_types"]}
    hot = month.monthly_hazard("aws", "m5.large", "us-east-2a")
    calm = month.monthly_hazard("aws", "m5.large", "us-east-2c")
    assert abs(1 - math.exp(-hot) - bands[">20%"]) < 1e-9 and abs(1 - math.exp(-calm) - bands["<5%"]) < 1e-9


def test_the_guard_keeps_replacements_out_of_a_pool_that_keeps_reclaiming(capsys, tmp_path):
    """One pool that reclaims nearly every instance in it within days, with stock left after each
    reclaim, no crunches: today's planner puts each replacement back into it (the same type in the
    same zone comes first), the guard sends them elsewhere once it has reclaimed us three times."""
    pack = yaml.safe_load(spot_month.PACK.read_text())
    month = pack["spot_month"]
    month["bands"][">20%"] = 0.9999
    month["pools"] = [p for p in month["pools"] if p["band"] != "10-15%"]
    month.update(reclaim_dry_hours=0)
    month["region_crunch"]["per_month"] = 0
    path = tmp_path / "churny.yaml"
    path.write_text(yaml.safe_dump(pack))
    spot_month.main(["--pack", str(path), "--fleet", "12", "--json"])
    for cloud, figures in last_json(capsys).items():
        variants = figures["variants"]
        assert variants["guard"]["interruptions_per_instance"] < variants["today"]["interruptions_per_instance"], cloud
        assert variants["both"]["interruptions_per_instance"] < variants["revert"]["interruptions_per_instance"], cloud


def test_a_move_back_never_goes_into_a_demoted_pool():
    """The bench's move back is the product's rule: with the original's pool demoted it goes to
    the best-ranked equivalent that is not, and with the chain sent on-demand first it waits."""
    month = spot_month.Month.load(spot_month.PACK)
    sim = spot_month.Sim(month, "aws", guard=True, revert=True, seed=1, fleet=3)
    pool = churn.Pool("aws", "us-east-2", "us-east-2a", "m5.large", "spot")
    sim.history = [churn.Reclaim(f"k{n}", pool, f"i-{n}", f"i-{n}", 1000.0 + n * 3600) for n in range(3)]
    now = 1000.0 + 4 * 3600
    instance = spot_month.Instance("i-x", "m5.large", "us-east-2a", "ondemand", now - 7200, now - 7200)
    target = spot_month.revert_choice(sim, instance, now)
    assert (target.instance_type, target.zone) != ("m5.large", "us-east-2a") and target.market == "spot"
    sim.guard = False
    assert (spot_month.revert_choice(sim, instance, now).zone) == "us-east-2a"  # unguarded: the pool itself
    sim.guard = True
    elsewhere = churn.Pool("aws", "us-east-2", "us-east-2c", "m5.large", "spot")
    sim.history += [churn.Reclaim(f"x{n}", elsewhere, "i-x", "i-x", now - 3600 * (n + 1)) for n in range(4)]
    assert spot_month.revert_choice(sim, instance, now) is None  # reclaimed 4 times: held on on-demand


def test_leaving_a_demoted_pool_goes_to_the_quietest_pool_not_left_lately():
    """The prototype of the `leave` variant (bench/spot_month_leave.py): out of a demoted pool, into
    a quieter one (the quietest first), never into one we left within the guard's horizon, and one
    move out per instance and window."""
    month = spot_month.Month.load(spot_month.PACK)
    sim = spot_month.Sim(month, "aws", guard=True, revert=True, seed=1, fleet=3, leave=True)
    hot, warm = ("us-east-2a", "us-east-2b")
    pool = {z: churn.Pool("aws", "us-east-2", z, "m5.large", "spot")
            for z in ("us-east-2a", "us-east-2b", "us-east-2c")}
    sim.history = [churn.Reclaim(f"k{n}", pool[hot], f"i-{n}", f"i-{n}", 1000.0 + n * 3600) for n in range(3)]
    sim.history.append(churn.Reclaim("w", pool[warm], "i-w", "i-w", 1000.0))
    now = 1000.0 + 4 * 3600
    instance = spot_month.Instance("i-x", "m5.large", hot, "spot", 0.0)
    target = spot_month_leave.leave_choice(sim, instance, now)
    assert (target.instance_type, target.zone, target.market) == ("m5.large", "us-east-2c", "spot")  # not warm
    calm = spot_month.Instance("i-y", "m5.large", "us-east-2c", "spot", 0.0)
    assert spot_month_leave.leave_choice(sim, calm, now) is None  # its pool is not demoted: it stays
    sim.left[pool["us-east-2c"]] = now - 3600
    assert spot_month_leave.leave_choice(sim, instance, now).zone == warm  # quieter, and not left lately
    instance.left_at = now - 24 * 3600
    assert spot_month_leave.leave_choice(sim, instance, now) is None  # it moved out a day ago


def test_the_leave_variant_is_measured_beside_the_others(capsys):
    spot_month.main(["--fleet", "12", "--days", "10", "--json"])
    for figures in last_json(capsys).values():
        leave = figures["variants"]["leave"]
        assert leave["data_lost"] == 0 and leave["moves"] >= 0
        assert {"leave_interruptions_vs_today", "leave_cost_vs_today", "leave_moves_per_instance"} <= set(figures)


def test_the_bench_ranks_with_the_bands_the_emulators_serve_from_the_pack():
    """The `bands` variant (the product as shipped) reads the pack's pools as the emulators serve
    them: per zone on Aliyun, per type (the zones' mean) on AWS; a replacement out of the top band
    pool goes to a calmer pool of the original type."""
    month = spot_month.Month.load(spot_month.PACK)
    aliyun, aws = spot_month.published_bands(month, "aliyun"), spot_month.published_bands(month, "aws")
    assert aliyun.bands[("ecs.g7.large", "cn-hangzhou-i")] == 4 and aliyun.bands[("ecs.g7.large", "cn-hangzhou-k")] == 0
    assert aws.bands[("m5.large", "")] == 2 and aws.bands[("m6i.large", "")] == 0
    sim = spot_month.Sim(month, "aliyun", guard=True, revert=True, seed=1, fleet=3, bands=True)
    source = sim._source("ecs.g7.large", "cn-hangzhou-i", "i-x")
    planned, _ = sim._plan(source, spot_month.Market.SPOT, 0.0, None)
    assert (planned[0].instance_type, planned[0].zone) == ("ecs.g7.large", "cn-hangzhou-k")
    plain = spot_month.Sim(month, "aliyun", guard=True, revert=True, seed=1, fleet=3)
    assert plain._plan(source, spot_month.Market.SPOT, 0.0, None)[0][0].zone == "cn-hangzhou-i"


def test_the_calm_prototype_moves_once_out_of_a_published_stressed_pool():
    month = spot_month.Month.load(spot_month.PACK)
    sim = spot_month.Sim(month, "aliyun", guard=True, revert=True, seed=1, fleet=3, bands=True, calm="prototype")
    hot = spot_month.Instance("i-h", "ecs.g7.large", "cn-hangzhou-i", "spot", 0.0)
    warm = spot_month.Instance("i-w", "ecs.g7.large", "cn-hangzhou-j", "spot", 0.0)
    target = spot_month_calm.calm_choice(sim, hot, 3600.0)
    assert (target.instance_type, target.zone, target.market) == ("ecs.g7.large", "cn-hangzhou-k", "spot")
    assert spot_month_calm.calm_choice(sim, warm, 3600.0) is None  # 10-15 %: under the threshold
    hot.left_at = 0.0
    assert spot_month_calm.calm_choice(sim, hot, 3600.0) is None  # one planned move per window


def test_the_products_planned_move_is_for_an_instance_it_placed_in_a_stressed_pool_once_a_window():
    """The `bands` variant moves with the product's rule (bench/spot_month_calm.py product_choice):
    only an instance the product placed (a replacement: version > 1), whose pool's band at the
    placement is the top one, RESPONDER_REVERT_AFTER after it took over, into a calmer zone of its
    type, and not again within RESPONDER_CALM_WINDOW_HOURS; the `fleet` variant (the fleet named)
adopts the fleet's first instances by the product's rule (responder/revert/adoption.py) and moves
them RESPONDER_REVERT_AFTER after the adoption."""
    month = spot_month.Month.load(spot_month.PACK)
    sim = spot_month.Sim(month, "aliyun", guard=True, revert=True, seed=1, fleet=3, bands=True, calm="product")
    first = spot_month.Instance("i-f", "ecs.g7.large", "cn-hangzhou-i", "spot", 0.0, band=4)
    assert spot_month_calm.product_choice(sim, first, 3600.0) is None  # the fleet's own: no task of ours saw it
    replaced = spot_month.Instance("i-r", "ecs.g7.large", "cn-hangzhou-i", "spot", 0.0, version=2, band=4)
    assert spot_month_calm.product_choice(sim, replaced, 600.0) is None  # RESPONDER_REVERT_AFTER not over
    target = spot_month_calm.product_choice(sim, replaced, 3600.0)
    assert (target.instance_type, target.zone, target.market) == ("ecs.g7.large", "cn-hangzhou-k", "spot")
    replaced.left_at = 0.0
    assert spot_month_calm.product_choice(sim, replaced, 3600.0) is None  # one planned move per window
    sim.calm, sim.instances = "fleet", [first]  # the fleet named: its first instance adopted by the product's rule
    first.version = 1
    spot_month_calm.adopt_due(sim, 600.0)
    assert first.adopted_at == 600.0
    assert spot_month_calm.product_choice(sim, first, 1200.0) is None  # RESPONDER_REVERT_AFTER from the adoption
    assert spot_month_calm.product_choice(sim, first, 600.0 + 1801.0).zone == "cn-hangzhou-k"
