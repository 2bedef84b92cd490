"""Every payload shape becomes one model; every bad body gets a 4xx naming the problem."""

from __future__ import annotations

import copy
import json

import pytest

from responder.errors import BadEvent
from responder.model import Cloud, EventKind, Ignored, Interruption, Tick
from responder.parsing import parse_body
from tests.conftest import EVENTS, event_bytes, event_json


def test_cloudmonitor_event_becomes_an_interruption():
    [event] = parse_body(event_bytes("aliyun/cloudmonitor-interruption.json"))
    assert event == Interruption(cloud=Cloud.ALIYUN, region="cn-hangzhou", instance_id="i-bp1ecr7pz2yq4v5go2go",
                                 kind=EventKind.INTERRUPTION, account="1690701234567830",
                                 event_id=event.event_id, event_time=event.event_time, shape="cloudmonitor",
                                 detail=(("action", "delete"),))


def test_eventbridge_cloudevent_becomes_the_same_interruption_key():
    [cm] = parse_body(event_bytes("aliyun/cloudmonitor-interruption.json"))
    [eb] = parse_body(event_bytes("aliyun/eventbridge-interruption.json"))
    assert eb.shape == "eventbridge" and eb.key == cm.key == "aliyun:cn-hangzhou:i-bp1ecr7pz2yq4v5go2go"


def test_a_json_array_of_events_yields_each():
    parsed = parse_body(event_bytes("aliyun/eventbridge-batch.json"))
    assert len(parsed) == 2 and all(isinstance(p, Interruption) for p in parsed)


def test_minimal_cloudmonitor_event_is_enough():
    [event] = parse_body(event_bytes("aliyun/cloudmonitor-minimal.json"))
    assert event.instance_id == "i-bp1ecr7pz2yq4v5go2go" and event.account == ""


@pytest.mark.parametrize("name,kind", [
    ("aws/spot-interruption-warning.json", EventKind.INTERRUPTION),
    ("aws/rebalance-recommendation.json", EventKind.REBALANCE),
    ("aws/state-change-terminated.json", EventKind.STATE_CHANGE),
    ("aws/health-scheduled-change.json", EventKind.HEALTH),
])
def test_aws_eventbridge_events_route_by_source_and_detail_type(name, kind):
    [event] = parse_body(event_bytes(name))
    assert isinstance(event, Interruption) and event.cloud == Cloud.AWS and event.kind == kind


def test_other_events_are_ignored_and_timers_tick():
    assert isinstance(parse_body(event_bytes("aliyun/ignored-other-event.json"))[0], Ignored)
    assert isinstance(parse_body(event_bytes("fc/timer-trigger.json"))[0], Tick)
    assert isinstance(parse_body(event_bytes("aws/scheduled-event.json"))[0], Tick)


@pytest.mark.parametrize("body,status,words", [
    (b"", 400, "empty body"),
    (b"   ", 400, "empty body"),
    (b"name=x&y=z", 400, "not JSON"),
    (b"\xff\xfe\x00", 400, "not JSON"),
    (b"[]", 400, "empty JSON array"),
    (b"[1, 2]", 400, "event [0]: an event must be a JSON object"),
    (b"42", 400, "must be a JSON object"),
    (b'{"hello": "world"}', 400, "unknown payload shape"),
    (b'{"name": "Instance:PreemptibleInstanceInterruption", "regionId": "cn-hangzhou", "content": {}}', 400,
     "missing content.instanceId"),
    (b'{"name": "Instance:PreemptibleInstanceInterruption", "regionId": "cn-hangzhou", "content": {"instanceId": 7}}',
     400, "content.instanceId must be a string"),
    (b'{"name": "Instance:PreemptibleInstanceInterruption", "regionId": "cn-hangzhou", "content": "x"}', 400,
     "content must be an object"),
    (b'{"name": "Instance:PreemptibleInstanceInterruption", "content": {"instanceId": "i-bp1ecr7pz2yq4v5go2go"}}',
     400, "missing regionId"),
    (b'{"name": "Instance:PreemptibleInstanceInterruption", "regionId": "CN HANGZHOU", '
     b'"content": {"instanceId": "i-bp1ecr7pz2yq4v5go2go"}}', 400, "not a valid region id"),
    (b'{"source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning", "region": "us-east-2", '
     b'"detail": {"instance-id": "i-XYZ"}}', 400, "not a valid EC2 instance id"),
    (b'{"source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning", "region": "us-east-2"}', 400,
     "missing detail"),
    (b'{"source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning", "region": "us-east-2", '
     b'"account": "12", "detail": {"instance-id": "i-1234567890abcdef0"}}', 400, "not a valid AWS account id"),
])
def test_bad_bodies_are_refused_with_a_message_naming_the_problem(body, status, words):
    with pytest.raises(BadEvent) as caught:
        parse_body(body)
    assert caught.value.status == status and words in str(caught.value)


@pytest.mark.parametrize("name,words", [
    ("invalid/not-json.txt", "not JSON"),
    ("invalid/empty.json", "empty body"),
    ("invalid/array-of-numbers.json", "must be a JSON object"),
    ("invalid/missing-instance-id.json", "missing content.instanceId"),
    ("invalid/wrong-type-instance-id.json", "must be a string"),
    ("invalid/unknown-shape.json", "unknown payload shape"),
    ("invalid/region-mismatch.json", "names region"),
    ("invalid/bad-instance-id-format.json", "not a valid ECS instance id"),
    ("invalid/too-deeply-nested.json", "over the limit of 32"),
    ("invalid/health-resources-not-a-list.json", "resources must be an array, not str"),
    ("invalid/oci-preemption-not-an-instance.json", "not a valid OCI instance OCID"),
])
def test_every_invalid_sample_is_refused(name, words):
    with pytest.raises(BadEvent) as caught:
        parse_body(event_bytes(name))
    assert words in str(caught.value)


def test_bodies_over_the_limit_are_413():
    with pytest.raises(BadEvent) as caught:
        parse_body(b"[" + b" " * 2000 + b"]", max_bytes=1000)
    assert caught.value.status == 413 and "over the 1000-byte limit" in str(caught.value)


def test_every_valid_sample_parses():
    for path in sorted(EVENTS.rglob("*.json")):
        if "invalid" in path.parts:
            continue
        assert parse_body(path.read_bytes()), path


# --- bounds before parsing, and the type of every field read -------------------------------------

HEALTH = event_json("aws/health-scheduled-change.json")


def test_nesting_deeper_than_the_limit_is_refused_naming_the_limit_before_json_parses_it():
    from responder.parsing.limits import MAX_DEPTH

    for body in (b"[" * 100_000, b'{"a":' * 50_000, b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)):
        with pytest.raises(BadEvent) as caught:
            parse_body(body)
        assert caught.value.status == 400 and f"over the limit of {MAX_DEPTH}" in str(caught.value)


def test_brackets_inside_strings_do_not_count_as_nesting():
    from responder.parsing.limits import nesting_depth

    assert nesting_depth('{"a": "[[[[{{{{\\"[[[", "b": [1, {"c": "]]]]"}]}') == 3
    event = event_json("aliyun/cloudmonitor-interruption.json")
    event["content"]["note"] = "[" * 5000
    [parsed] = parse_body(json.dumps(event).encode())
    assert isinstance(parsed, Interruption)


def test_a_payload_at_the_depth_limit_is_parsed_not_refused_for_depth():
    from responder.parsing.limits import MAX_DEPTH

    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    with pytest.raises(BadEvent) as caught:
        parse_body(body)
    assert "must be a JSON object" in str(caught.value)


@pytest.mark.parametrize("body,words", [
    (b'{"name": ' + b"1" * 5000 + b"}", "over the limit of 40"),
    (b'{"name": NaN}', "NaN is not a JSON value"),
    (b'{"name": -Infinity}', "-Infinity is not a JSON value"),
    ('{"name": "x"}'.encode("utf-16"), "not UTF-8"),
    (b'{"name": "\xc3\x28"}', "not UTF-8"),
])
def test_huge_numbers_non_json_constants_and_non_utf8_bodies_are_400(body, words):
    with pytest.raises(BadEvent) as caught:
        parse_body(body)
    assert caught.value.status == 400 and words in str(caught.value)


def test_more_events_in_one_array_than_the_limit_is_refused():
    from responder.parsing import MAX_EVENTS_PER_BODY

    body = json.dumps([event_json("fc/timer-trigger.json")] * (MAX_EVENTS_PER_BODY + 1)).encode()
    with pytest.raises(BadEvent) as caught:
        parse_body(body)
    assert f"over the limit of {MAX_EVENTS_PER_BODY}" in str(caught.value)


def _health(**changes):
    event = copy.deepcopy(HEALTH)
    for path, value in changes.items():
        container, *keys = path.split("__")
        target = event if container == "top" else event["detail"]
        target[keys[0]] = value
    return json.dumps(event).encode()


@pytest.mark.parametrize("body,words", [
    (_health(top__resources="i-1234567890abcdef0"), "resources must be an array, not str"),
    (_health(top__resources={"a": 1}), "resources must be an array, not dict"),
    (_health(top__resources=[7]), "resources[0] must be a string, not int"),
    (_health(detail__affectedEntities=5), "detail.affectedEntities must be an array, not int"),
    (_health(detail__affectedEntities=["i-1234567890abcdef0"]), "detail.affectedEntities[0] must be an object"),
    (_health(detail__affectedEntities=[{"entityValue": ["x"]}]), "entityValue must be a string, not list"),
    (_health(detail__eventTypeCode=3), "detail.eventTypeCode must be a string"),
])
def test_aws_health_fields_of_another_type_are_400_naming_the_path(body, words):
    with pytest.raises(BadEvent) as caught:
        parse_body(body)
    assert caught.value.status == 400 and words in str(caught.value)


def test_aws_health_with_null_lists_names_no_instance_and_is_ignored():
    [parsed] = parse_body(_health(top__resources=None, detail__affectedEntities=None))
    assert isinstance(parsed, Ignored)


@pytest.mark.parametrize("name,path,value,words", [
    ("aws/spot-interruption-warning.json", ("detail", "instance-action"), {"x": 1}, "detail.instance-action must be"),
    ("aws/state-change-terminated.json", ("detail", "state"), 1, "detail.state must be a string"),
    ("aliyun/cloudmonitor-interruption.json", ("content", "action"), ["delete"], "content.action must be a string"),
    ("aliyun/eventbridge-interruption.json", ("data", "action"), 0.5, "data.action must be a string"),
    ("fc/timer-trigger.json", ("triggerName",), {"n": 1}, "triggerName must be a string"),
])
def test_detail_fields_of_another_type_are_400_naming_the_path(name, path, value, words):
    event = event_json(name)
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(BadEvent) as caught:
        parse_body(json.dumps(event).encode())
    assert caught.value.status == 400 and words in str(caught.value)


def test_a_bad_value_is_quoted_trimmed_in_the_message_not_whole():
    event = event_json("aws/spot-interruption-warning.json")
    event["detail"]["instance-id"] = "i-" + "Z" * 1000
    with pytest.raises(BadEvent) as caught:
        parse_body(json.dumps(event).encode())
    assert "not a valid EC2 instance id" in str(caught.value) and len(str(caught.value)) < 300


def test_a_kept_text_field_longer_than_the_limit_is_refused_before_it_reaches_the_store():
    from responder.parsing.fields import MAX_TEXT_CHARS

    event = event_json("aliyun/cloudmonitor-interruption.json")
    event["id"] = "e" * (MAX_TEXT_CHARS + 1)
    with pytest.raises(BadEvent) as caught:
        parse_body(json.dumps(event).encode())
    assert f"id is {MAX_TEXT_CHARS + 1} characters, over the limit of {MAX_TEXT_CHARS}" in str(caught.value)
    health = event_json("aws/health-scheduled-change.json")
    health["resources"] = ["r" * (MAX_TEXT_CHARS + 1)]
    with pytest.raises(BadEvent, match=r"resources\[0\] is"):
        parse_body(json.dumps(health).encode())
