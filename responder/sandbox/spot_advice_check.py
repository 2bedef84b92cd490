"""A scenario region's `spot_advice:` checked when the scenario loads, and the band labels it uses.

Parts: BANDS (the Advisor's band labels, lowest first), STATED_RATES (label → the rate a scenario's
band stands for), check_config. Apart from spot_advice.py (which serves the bands) so that the
scenario loader can check a region without importing what serves it.
"""

from __future__ import annotations

from typing import Any

from responder.sandbox.stock import ScenarioError

BANDS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")
# What a band stands for when a scenario names only the band: the middle of a closed band, and
# 25 % for the open top one (its floor plus half a band's width), as the month pack states.
STATED_RATES = {"<5%": 2.5, "5-10%": 7.5, "10-15%": 12.5, "15-20%": 17.5, ">20%": 25.0}


def check_config(region: dict[str, Any], where: str) -> None:
    """A region's `spot_advice:`: bands by their labels, rates as numbers in 0-100."""
    advice = region.get("spot_advice")
    if advice is None:
        return
    if not isinstance(advice, dict):
        raise ScenarioError(f"{where}.spot_advice: must be a mapping with `default` and `pools`, not {advice!r}")
    if advice.get("default") is not None and advice["default"] not in STATED_RATES:
        raise ScenarioError(f"{where}.spot_advice.default: must be one of {', '.join(BANDS)}, "
                            f"not {advice['default']!r}")
    for i, pool in enumerate(advice.get("pools") or []):
        at = f"{where}.spot_advice.pools[{i}]"
        if not isinstance(pool, dict) or "type" not in pool:
            raise ScenarioError(f"{at}: must be a mapping with `type` and `band` (or `rate`), not {pool!r}")
        if "rate" in pool:
            if isinstance(pool["rate"], bool) or not isinstance(pool["rate"], (int, float)) \
                    or not 0 <= pool["rate"] <= 100:
                raise ScenarioError(f"{at}.rate: must be a percentage 0-100, not {pool['rate']!r}")
        elif pool.get("band") not in STATED_RATES:
            raise ScenarioError(f"{at}.band: must be one of {', '.join(BANDS)}, not {pool.get('band')!r}")
