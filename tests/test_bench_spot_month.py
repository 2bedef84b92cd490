"""bench/spot_month.py: the month runs on a tiny fleet, prints one JSON object last in the shape
the issue asks for, and the churn guard and the move back to spot move the figures the right way."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import spot_month  # noqa: E402

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
    spot_month.main(["--fleet", "24", "--json"])
    for cloud, figures in last_json(capsys).items():
        today, revert = figures["variants"]["today"], figures["variants"]["revert"]
        assert today["on_demand_share"] > 0.05, cloud  # the pack's region crunches leave fallbacks
        assert revert["on_demand_share"] < today["on_demand_share"] / 2
        assert revert["cost_vs_on_demand"] < today["cost_vs_on_demand"] and figures["cost_vs_today"] < 1


def test_the_guard_keeps_replacements_out_of_a_pool_that_keeps_reclaiming(capsys, tmp_path):
    """One stressed pool that reclaims an instance every few days, no crunches: today's planner
    puts each replacement back into it (the same type in the same zone comes first), the guard
    sends them elsewhere once it has reclaimed us three times."""
    pack = yaml.safe_load(spot_month.PACK.read_text())
    month = pack["spot_month"]
    month["stressed"].update(reclaims_per_month=8, crunches_per_month=0)
    month["region_crunch"]["per_month"] = 0
    path = tmp_path / "churny.yaml"
    path.write_text(yaml.safe_dump(pack))
    spot_month.main(["--pack", str(path), "--fleet", "12", "--json"])
    for cloud, figures in last_json(capsys).items():
        variants = figures["variants"]
        assert variants["guard"]["interruptions_per_instance"] < variants["today"]["interruptions_per_instance"], cloud
        assert variants["both"]["interruptions_per_instance"] < variants["revert"]["interruptions_per_instance"], cloud
