"""A scenario file's mistakes as one line each: which file, which line, which field, what to write.

Parts: parse_text (YAML / JSON text → data, a syntax error as ScenarioError with its line),
check_values (the values every emulator converts — numbers, lists, mappings, required keys — so a
bad one is named at load, not met as a traceback when an emulator starts), locate (the line of
a field path such as `regions[0].instances[2].zone` in the text), in_file (a ScenarioError from
anywhere in loading, given its file and line).

Messages start with the field path (`regions[0]: missing 'zones'`), so the line can be found from
the message alone; scenario.py, oci_world.py and faults.py raise them that way.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from responder.sandbox.image_removals import check_config as check_deleted_images
from responder.sandbox.prices import check_prices
from responder.sandbox.race_model import FIRST_READ, SnapshotTime
from responder.sandbox.rate_limits import check_config as check_rate_limits
from responder.sandbox.spot_advice_check import check_config as check_spot_advice
from responder.sandbox.stock import ScenarioError

_PATH = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*)")
_STEP = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]")
# libyaml's safe loader where PyYAML was built with it: the same documents and marks, a tenth of the
# CPU (about 30 ms of a sandbox's start for the default scenario, in pure Python).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOP_NUMBERS = ("latency_ms", "image_build_seconds", "instance_boot_seconds", "time_scale", "snapshot_speed")


def parse_text(text: str, name: str) -> Any:
    """The file's data; a syntax error names the file and the line where the parser stopped."""
    try:
        return json.loads(text) if name.endswith(".json") else yaml.load(text, Loader=_SAFE_LOADER)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario {name}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ScenarioError(f"scenario {name}{where}: not valid YAML ({problem})") from None


def _number(value: Any, where: str, integer: bool = False, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise ScenarioError(f"{where}: must be {'a whole number' if integer else 'a number'}, not {value!r}")


def _list_of_mappings(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: must be a list, not {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}[{i}]: must be a mapping (key: value), not {item!r}")
    return value


def _required(item: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in item:
            raise ScenarioError(f"{where}: missing '{key}'")


def _stock(stock: Any) -> None:
    if stock is None:
        return
    if not isinstance(stock, dict):
        raise ScenarioError(f"stock: must be a mapping with default and offers, not {stock!r}")
    if "default" in stock:
        _number(stock["default"], "stock.default", integer=True)
    for i, offer in enumerate(_list_of_mappings(stock.get("offers"), "stock.offers")):
        where = f"stock.offers[{i}]"
        if "type" not in offer and "types" not in offer:
            raise ScenarioError(f"{where}: missing 'type' (or 'types')")
        if "zone" not in offer and "zones" not in offer:
            raise ScenarioError(f"{where}: missing 'zone' (or 'zones')")
        if offer.get("market") not in (None, "spot", "ondemand"):
            raise ScenarioError(f"{where}.market: must be spot or ondemand, not {offer['market']!r}")
        if "available" in offer:
            _number(offer["available"], f"{where}.available", integer=True)
        for j, step in enumerate(_list_of_mappings(offer.get("schedule"), f"{where}.schedule")):
            for key in ("at", "available", "add", "take"):
                if key in step:
                    _number(step[key], f"{where}.schedule[{j}].{key}", integer=key != "at")


def _region(region: dict[str, Any], where: str) -> None:
    check_spot_advice(region, where)
    if "zones" in region and not (isinstance(region["zones"], list) and region["zones"]):
        raise ScenarioError(f"{where}.zones: must be a list of zone ids, not {region['zones']!r}")
    for i, subnet in enumerate(_list_of_mappings(region.get("subnets"), f"{where}.subnets")):
        _required(subnet, ("id", "zone"), f"{where}.subnets[{i}]")
    for i, spec in enumerate(_list_of_mappings(region.get("instance_types"), f"{where}.instance_types")):
        _required(spec, ("type",), f"{where}.instance_types[{i}]")
        for key, integer in (("cpu", True), ("memory_gib", False)):
            if key in spec:
                _number(spec[key], f"{where}.instance_types[{i}].{key}", integer=integer)
    for i, inst in enumerate(_list_of_mappings(region.get("instances"), f"{where}.instances")):
        at = f"{where}.instances[{i}]"
        _required(inst, ("id", "type"), at)
        if inst.get("notice_at") != FIRST_READ and "notice_at" in inst:
            _number(inst["notice_at"], f"{at}.notice_at")
        if "release_after" in inst:
            _number(inst["release_after"], f"{at}.release_after", nullable=True)
        if inst.get("interruption_behavior", "terminate") not in ("terminate", "stop", "hibernate"):
            raise ScenarioError(f"{at}.interruption_behavior: must be terminate, stop or hibernate, "
                                f"not {inst['interruption_behavior']!r}")


def check_values(data: dict[str, Any]) -> None:
    """Raise ScenarioError naming the first value an emulator could not use."""
    for key in _TOP_NUMBERS:
        if key in data:
            _number(data[key], key)
    if "seed" in data:
        _number(data["seed"], "seed", integer=True)
    if "release_after_seconds" in data:
        _number(data["release_after_seconds"], "release_after_seconds", nullable=True)
    if data.get("image_timing", "fixed") not in ("fixed", "disks"):
        raise ScenarioError(f"image_timing: must be fixed or disks, not {data['image_timing']!r}")
    _stock(data.get("stock"))
    check_rate_limits(data.get("rate_limits"))
    SnapshotTime.parse(data.get("snapshot_time"))
    check_deleted_images(data.get("deleted_images"))
    check_prices(data.get("prices"))
    if not isinstance(data.get("faults") or [], list):
        raise ScenarioError(f"faults: must be a list of rules, not {data['faults']!r}")
    for i, region in enumerate(_list_of_mappings(data.get("regions"), "regions")):
        _region(region, f"regions[{i}]")
    oci = data.get("oci")
    if isinstance(oci, dict):
        for key, integer in (("boot_seconds", False), ("terminate_seconds", False), ("page_size", True)):
            if key in oci:
                _number(oci[key], f"oci.{key}", integer=integer)


def locate(text: str, message: str) -> int | None:
    """The line (1-based) of the deepest part of the field path the message starts with."""
    found = _PATH.match(message)
    if not found:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for name, index in _STEP.findall(found.group(1)):
        if isinstance(node, yaml.MappingNode) and name:
            node = next((value for key, value in node.value if getattr(key, "value", None) == name), None)
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def in_file(exc: ScenarioError, text: str, name: str) -> ScenarioError:
    """The same error, prefixed with the file and the field's line: `scenario F, line N, field: ...`."""
    message = str(exc)
    if message.startswith("scenario "):  # already placed (a syntax error)
        return exc
    line = locate(text, message)
    return ScenarioError(f"scenario {name}" + (f", line {line}" if line else "") + f", {message}")
