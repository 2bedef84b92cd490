"""A scenario for scoring families: four families in three sizes, one family sold out on spot.

Parts: FAMILIES, SIZES, family_scenario (the default scenario with this catalog), scenario_file
(the same written to a YAML file for the CLI's --scenario), run_cli (the responder command, in
process, stdout and stderr apart).
"""

from __future__ import annotations

import yaml
from click.testing import CliRunner

FAMILIES = {"m5": ("m", 8), "m6i": ("m", 8), "c5": ("c", 4), "r5": ("r", 16)}  # family → (category, GiB per 2 vCPU)
SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8}


def family_scenario(scenario_dict: dict, sold_out: str = "c5", configs_per_day: int | None = None) -> dict:
    aws = next(r for r in scenario_dict["regions"] if r["cloud"] == "aws")
    aws["instance_types"] = [
        {"type": f"{family}.{size}", "family": family, "cpu": cpu, "memory_gib": per_two * cpu // 2}
        for family, (_, per_two) in FAMILIES.items() for size, cpu in SIZES.items()]
    offers = [o for o in scenario_dict["stock"]["offers"] if not str(o.get("type", "")).startswith("m5.")]
    if sold_out:
        offers.append({"types": [f"{sold_out}.{s}" for s in SIZES], "zones": aws["zones"], "market": "spot",
                       "available": 0})
    scenario_dict["stock"]["offers"] = offers
    if configs_per_day is not None:
        scenario_dict["placement_score_configs_per_day"] = configs_per_day
    # One region: a score request without RegionNames scores every region the sandbox knows.
    scenario_dict["world"] = False
    return scenario_dict


def scenario_file(tmp_path, data: dict) -> str:
    path = tmp_path / "families.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run_cli(*args: str):
    from responder.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)
