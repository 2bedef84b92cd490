"""Property-based fuzzing of /invoke and /events: no body ever gets a 5xx, every 4xx names its
problem in `error`, and a body the parser refused makes no call to either sandbox cloud.

The app is wired to both sandbox clouds on loopback (real SDKs on the wire), so a fuzzed body
that happens to be a valid forged interruption really asks the cloud (DescribeInstances) and is
rejected; that is the product working, not a leak.

Payloads: every valid sample in events/ (Aliyun CloudMonitor and EventBridge, AWS spot warning,
rebalance, state change, Health, schedule, FC timer) and generated events of each shape, then
mutations at every path (a value of another type, a missing field, a huge string, deep nesting),
arrays of them, and raw bytes (non-UTF-8, truncated JSON, not JSON at all).

The profile is derandomized (a fixed seed per test), so CI runs the same few thousand examples on
every run; RESPONDER_FUZZ_EXAMPLES scales it for a longer local hunt.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import EVENTS

FUZZ_SCALE = float(os.environ.get("RESPONDER_FUZZ_EXAMPLES", "1"))
settings.register_profile(
    "responder-fuzz", derandomize=True, database=None, deadline=None, print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
FUZZ = settings.get_profile("responder-fuzz")
# A failing example is shrunk before it is shown; the warning about a long repr on the way is noise.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")

SAMPLES = [json.loads(p.read_bytes()) for p in sorted(EVENTS.rglob("*.json")) if "invalid" not in p.parts]
DEEP = "\u0000deep\u0000"  # replaced by real nesting after json.dumps (which would itself recurse)
ENDPOINTS = st.sampled_from(["/invoke", "/events"])
WRONG_TYPES = (None, 0, -1.5, True, "", "i-1234567890abcdef0", [], [7], ["x", {}], {}, {"a": [1]})
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """(client, sandbox) for the whole module: hypothesis runs every example on one app."""
    from responder.replace.runner import TaskRunner
    from responder.sandbox.runtime import start_sandbox
    from responder.settings import Settings
    from responder.store import Store
    from responder.web import create_app

    box = start_sandbox(None, time_scale=20)
    chosen = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/tasks.db", launch_retry_seconds=0,
                      background_ticker=False, tick_interval=0.05)
    app = create_app(chosen, runner=TaskRunner(Store(chosen.database_url), box.clouds, chosen))
    yield app.test_client(), box
    box.stop()


# --- payload strategies ---------------------------------------------------------------------------

ALIYUN_IDS = st.from_regex(r"i-[a-z0-9]{8,30}", fullmatch=True)
AWS_IDS = st.from_regex(r"i-[0-9a-f]{8,17}", fullmatch=True)
ALIYUN_REGIONS = st.sampled_from(["cn-hangzhou", "cn-shanghai"])  # cn-shanghai: not in the scenario
AWS_REGIONS = st.sampled_from(["us-east-2", "us-west-2", "eu-central-1"])


@st.composite
def generated_events(draw):
    """A well-formed event of one shape with a drawn instance and region."""
    shape = draw(st.sampled_from(["cloudmonitor", "eventbridge", "spot", "rebalance", "state", "health"]))
    region = draw(ALIYUN_REGIONS if shape in ("cloudmonitor", "eventbridge") else AWS_REGIONS)
    if shape == "cloudmonitor":
        return {"name": "Instance:PreemptibleInstanceInterruption", "regionId": region,
                "content": {"instanceId": draw(ALIYUN_IDS), "action": "delete"}}
    if shape == "eventbridge":
        return {"specversion": "1.0", "type": "ecs:Instance:PreemptibleInstanceInterruption",
                "aliyunregionid": region, "data": {"instanceId": draw(ALIYUN_IDS), "action": "delete"}}
    detail_type = {"spot": "EC2 Spot Instance Interruption Warning",
                   "rebalance": "EC2 Instance Rebalance Recommendation",
                   "state": "EC2 Instance State-change Notification", "health": "AWS Health Event"}[shape]
    instance = draw(AWS_IDS)
    if shape == "health":
        return {"source": "aws.health", "detail-type": detail_type, "region": region, "resources": [instance],
                "detail": {"eventTypeCategory": "scheduledChange", "affectedEntities": [{"entityValue": instance}]}}
    return {"source": "aws.ec2", "detail-type": detail_type, "region": region, "account": "123456789012",
            "detail": {"instance-id": instance, "instance-action": "terminate", "state": "terminated"}}


BASES = st.sampled_from(SAMPLES) | generated_events()


def _paths(value, prefix=()):
    """Every path into a JSON value: ("detail", "affectedEntities", 0, "entityValue"), ..."""
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, prefix + (key,))


def _replace(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if not rest and new is _MISSING:
        del copy[head]
        return copy
    copy[head] = _replace(value[head], rest, new)
    return copy


_MISSING = object()


@st.composite
def mutated_events(draw):
    """A base event with one path given another type, removed, a huge string or deep nesting."""
    base = draw(BASES)
    path = draw(st.sampled_from(list(_paths(base))))
    how = draw(st.sampled_from(["retype", "missing", "huge", "deep", "retype"]))
    if how == "missing" and path:
        return _replace(base, path, _MISSING)
    if how == "huge":
        return _replace(base, path, draw(st.sampled_from(["x", "[", "\u00e9", "\\"])) *
                        draw(st.sampled_from([300, 20_000, 300_000])))
    if how == "deep":
        return _replace(base, path, DEEP)
    return _replace(base, path, draw(st.sampled_from(WRONG_TYPES) | JSON_VALUES))


def _encode(payload, depth: int) -> bytes:
    text = json.dumps(payload)
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth).encode("utf-8")


DEPTHS = st.sampled_from([3, 31, 33, 200, 5_000, 60_000])
BATCHES = st.lists(BASES | mutated_events(), min_size=1, max_size=3) | st.builds(
    lambda event, count: [event] * count, BASES, st.sampled_from([2, 99, 100, 101, 500]))


@st.composite
def raw_bodies(draw):
    """Bytes that are not (valid, UTF-8) JSON of an event: cut, mis-encoded or not JSON at all."""
    text = json.dumps(draw(BASES))
    how = draw(st.sampled_from(["cut", "latin1", "utf16", "binary", "text", "garbage-in-json"]))
    if how == "cut":
        return text[:draw(st.integers(0, max(0, len(text) - 1)))].encode()
    if how == "latin1":
        return text.replace('"', '"\u00ff', 1).encode("latin-1", "replace")
    if how == "utf16":
        return text.encode(draw(st.sampled_from(["utf-16", "utf-32"])))
    if how == "binary":
        return draw(st.binary(max_size=300))
    if how == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    return text.replace(":", draw(st.sampled_from([": NaN,", ":Infinity", ": 1" + "0" * 5000, ":\x00"])), 1).encode()


# --- the properties ------------------------------------------------------------------------------


def _write_calls(box, before: dict[str, int]) -> list[str]:
    return [action for cloud, count in before.items() for action in box.calls(cloud)[count:]
            if not action.startswith("Describe")]


def _post_and_check(fuzz_app, endpoint: str, body: bytes):
    client, box = fuzz_app
    before = {cloud: len(box.calls(cloud)) for cloud in box.emulators}
    response = client.post(endpoint, data=body)
    assert response.status_code < 500, (response.status_code, response.get_data()[:300], body[:200])
    answer = response.get_json(silent=True)
    assert isinstance(answer, dict), response.get_data()[:300]
    if response.status_code >= 400:
        assert isinstance(answer.get("error"), str) and answer["error"], answer
        # Refused at the edge: not one cloud call, not even a read.
        assert {c: len(box.calls(c)) for c in box.emulators} == before, _write_calls(box, before)
    else:
        assert "results" in answer or "outcome" in answer, answer
    return response, _write_calls(box, before)


@pytest.mark.slow
@pytest.mark.timeout(600)  # the hang guard grows with the work: 1,500 requests on a loaded machine pass 120 s
@settings(FUZZ, max_examples=int(1500 * FUZZ_SCALE))
@given(endpoint=ENDPOINTS, payload=mutated_events(), depth=DEPTHS)
def test_mutated_events_never_get_a_5xx_and_refused_ones_make_no_cloud_call(fuzz_app, endpoint, payload, depth):
    """Slow: 1,500 bodies through the app, a forged one verified with the sandbox cloud (about 50 s)."""
    _post_and_check(fuzz_app, endpoint, _encode(payload, depth))


@pytest.mark.slow
@pytest.mark.timeout(600)  # the hang guard grows with the work: 250 arrays on a loaded machine pass 120 s
@settings(FUZZ, max_examples=int(250 * FUZZ_SCALE))
@given(endpoint=ENDPOINTS, batch=BATCHES, depth=DEPTHS)
def test_arrays_of_events_never_get_a_5xx_and_over_long_ones_are_refused(fuzz_app, endpoint, batch, depth):
    """Slow: 250 arrays of up to a hundred events each, every event parsed and answered (about 30 s)."""
    response, _ = _post_and_check(fuzz_app, endpoint, _encode(batch, depth))
    if len(batch) > 100:  # refused for the count, or first for the size or depth it brought
        error = response.get_json()["error"]
        assert response.status_code in (400, 413), error
        assert any(words in error for words in ("over the limit of 100", "size limit", "over the limit of 32")), error


@settings(FUZZ, max_examples=int(600 * FUZZ_SCALE))
@given(endpoint=ENDPOINTS, body=raw_bodies())
def test_bytes_that_are_not_json_events_get_a_4xx_naming_the_problem(fuzz_app, endpoint, body):
    response, writes = _post_and_check(fuzz_app, endpoint, body)
    assert writes == [] or response.status_code < 400


@settings(FUZZ, max_examples=int(300 * FUZZ_SCALE))
@given(endpoint=ENDPOINTS, payload=generated_events())
def test_well_formed_events_for_unknown_instances_are_answered_2xx_and_buy_nothing(fuzz_app, endpoint, payload):
    response, writes = _post_and_check(fuzz_app, endpoint, json.dumps(payload).encode())
    assert response.status_code in (200, 202) and writes == [], (response.get_json(), writes)


@pytest.mark.slow
def test_a_value_of_every_other_type_at_every_path_of_every_sample_never_gets_a_5xx(fuzz_app):
    """The exhaustive companion of the random mutations: each sample, each path, each JSON type.
    Slow: over a thousand bodies through the app (about 10 s)."""
    checked = 0
    for sample in SAMPLES:
        for path in _paths(sample):
            for wrong in WRONG_TYPES + ((_MISSING,) if path else ()):
                body = json.dumps(_replace(sample, path, wrong)).encode()
                _post_and_check(fuzz_app, "/invoke" if checked % 2 else "/events", body)
                checked += 1
    assert checked > 1000


@pytest.fixture(scope="module")
def token_client(fuzz_app):
    """The same runner behind an app that requires a token."""
    from responder.web import create_app

    client, _ = fuzz_app
    runner = client.application.extensions["responder"]["runner"]
    return create_app(runner.settings.with_(auth_token="fuzz-token"), runner=runner).test_client()


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)


QUERY_VALUES = st.text(max_size=12) | st.sampled_from(["\u00b2", "\u0661\u0662", "-1", "9" * 30, "1e3", " 5", "0"])


@settings(FUZZ, max_examples=int(300 * FUZZ_SCALE))
@given(query=st.dictionaries(st.sampled_from(["status", "limit", "token", "x"]), QUERY_VALUES, max_size=3),
       token=st.one_of(st.just("fuzz-token"), st.just("fuzz-token"), st.none(), HEADER_TEXT), bearer=st.booleans(),
       path=st.sampled_from(["/tasks", "/tasks", "/tasks/t-nope", "/healthz", "/metrics"]))
def test_query_strings_and_token_headers_never_get_a_5xx(token_client, query, token, bearer, path):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"} if bearer else {"X-Responder-Token": token}
    response = token_client.get(path, query_string=query, headers=headers)
    assert response.status_code < 500, response.get_data()[:300]
    if response.status_code >= 400:
        assert response.get_json()["error"]
    if "token" in query and path.startswith("/tasks"):
        assert response.status_code == 400 and "query string" in response.get_json()["error"]


def test_a_limit_written_in_other_unicode_digits_is_ignored_not_a_500(token_client):
    # "²".isdigit() is true but int("²") raises: the limit must be checked with isdecimal.
    response = token_client.get("/tasks", query_string={"limit": "\u00b2"}, headers={"X-Responder-Token": "fuzz-token"})
    assert response.status_code == 200 and "tasks" in response.get_json()


def test_the_fuzz_reaches_the_depth_and_size_limits_with_the_status_they_promise(fuzz_app):
    client, _ = fuzz_app
    deep = client.post("/events", data=_encode({"name": DEEP}, 5_000))
    huge = client.post("/invoke", data=b'{"name": "' + b"x" * 300_000 + b'"}')
    assert deep.status_code == 400 and "over the limit of 32" in deep.get_json()["error"]
    assert huge.status_code == 413 and "size limit" in huge.get_json()["error"]


def test_the_samples_cover_every_payload_shape_the_parser_knows():
    from responder.parsing.aws import PARSERS

    events = [e for s in SAMPLES for e in (s if isinstance(s, list) else [s])]
    routed = {(e.get("source"), e.get("detail-type")) for e in events}
    assert set(PARSERS) <= routed, set(PARSERS) - routed
    assert any("specversion" in e for e in events) and any("content" in e for e in events)
    assert any("triggerTime" in e for e in events) and any(isinstance(s, list) for s in SAMPLES)
