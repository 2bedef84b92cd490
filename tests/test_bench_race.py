"""bench/race.py on a tiny pack (two shapes of the realistic Aliyun pack, one interruption each):
--pack and --spread are honoured and every honest figure is there and coherent — a replacement
launched from the source image runs a stale root (the launch image's, not the original's) unless
the fresh root is swapped in; the service gap (every data disk attached) is never shorter
than the capacity gap."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from race_fixtures import shape

ROOT = Path(__file__).resolve().parent.parent


def bench_race():
    spec = importlib.util.spec_from_file_location("bench_race", ROOT / "bench" / "race.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(300)  # two sandbox races of a few seconds each; a loaded 2-core machine passes 120 s
def test_the_race_bench_reports_the_honest_figures_of_any_pack(tmp_path, capsys):
    pack = shape("aliyun", "web", "db")
    pack["bench"] = {"protected_ahead": 0, "spread_s": 999}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(pack))
    result = bench_race().main(["--pack", str(path), "--events", "2", "--spread", "30",
                                "--policies", "source-image,auto-keep", "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    source, keep = result["aliyun"]["source-image"], result["aliyun"]["auto-keep"]
    for figures in (source, keep):
        assert figures["interruptions"] == 2 and figures["failed_with_replacement"] == 0
        assert sum(figures["root_states"].values()) == 2
        assert figures["service_zero_gap_share"] <= figures["capacity_zero_gap_share"]
        assert figures["zero_gap_share"] == figures["capacity_zero_gap_share"]
    # Launched at once from the source image: capacity before the release (40 s boots, 300 s notice,
    # notices within 30 s); the root is the launch image's until the fresh one is swapped in.
    assert source["capacity_zero_gap_share"] == 1.0
    assert source["root_states"]["swapped"] == 2 and source["root_state_fresh_share"] == 1.0
    # The db clone's data disk is reattached only after the release: service comes later.
    assert source["service_zero_gap_share"] == 0.5
    # Without the swap (an empty store: auto launches from the source image) the root stays stale.
    assert keep["capacity_zero_gap_share"] == 1.0
    assert keep["root_states"]["stale"] == 2 and keep["root_state_fresh_share"] == 0.0
