"""The deployment files agree with the fc3 schema, with each other and with the sample events.

Parts: s.yaml (props against the fc3 component's JSON schema and our strict one, with a table of
typos the strict one refuses; custom runtime, triggers, VPC, dead letters, no credentials), gunicorn.conf.py, Dockerfile, .env.example, and the events/ folder (valid JSON,
listed in its README, ids from the default sandbox scenario). Pure file reads, no network.
"""
import json
import os
import re
import runpy
from pathlib import Path

import jsonschema
import pytest
import yaml

from responder.model import NOTICE_SECONDS
from responder.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SCENARIO = ROOT / "responder" / "sandbox" / "scenarios" / "default.yaml"
# The fc3 component's schema (devsapp/fc3 src/schema.json): $FC3_SCHEMA, a vendored copy, or the
# team's shared reference folder next to the checkout.
FC3_SCHEMA_CANDIDATES = [Path(p) for p in [os.environ.get("FC3_SCHEMA")] if p] + [
    ROOT / "tests" / "data" / "fc3-schema.json",
    ROOT.parent / "shared" / "reference" / "fc3-schema.json",
]

INTERRUPTION_TYPE = "ecs:Instance:PreemptibleInstanceInterruption"
NOT_JSON = {"invalid/not-json.txt", "invalid/empty.json"}
# AccessKey ids: Aliyun (LTAI...), AWS long-term (AKIA...) and temporary (ASIA...).
ACCESS_KEY_LITERAL = re.compile(r"\b(LTAI[0-9A-Za-z]{12,}|A[KS]IA[0-9A-Z]{16})\b")
CREDENTIAL_NAMES = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
)
TEMPLATE = re.compile(r"\$\{([^}]*)\}")


def load_s_yaml():
    return yaml.safe_load((ROOT / "s.yaml").read_text())


def resolve(value, variables):
    """Renders Serverless Devs templates the way `s` would, enough for schema validation:
    ${vars.x} from the vars section, any other ${...} (env, config) as a placeholder string."""
    if isinstance(value, dict):
        return {k: resolve(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    def render(match):
        expr = match.group(1).strip()
        if expr.startswith("vars."):
            return str(resolve(variables[expr[len("vars."):]], variables))
        return "placeholder"
    return TEMPLATE.sub(render, value)


def resources():
    doc = load_s_yaml()
    variables = doc.get("vars", {})
    return {name: resolve(res["props"], variables) for name, res in doc["resources"].items()}


def responder_props():
    return resources()["responder"]


def triggers_by_type(props):
    return {t["triggerType"]: t for t in props["triggers"]}


def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def event_files():
    return sorted(p.relative_to(EVENTS).as_posix() for p in EVENTS.rglob("*")
                  if p.is_file() and p.name != "README.md")


# --- s.yaml ----------------------------------------------------------------------------------

STRICT_SCHEMA = ROOT / "deploy" / "fc3-strict-schema.json"


def strict_errors(props) -> list[str]:
    schema = json.loads(STRICT_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return sorted(f"{list(e.absolute_path)}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(props))


def test_the_function_props_pass_our_strict_schema():
    assert strict_errors(responder_props()) == []


def _trigger(props, kind):
    return next(t for t in props["triggers"] if t["triggerType"] == kind)


TYPOS = {
    "instanceConcurency": lambda p: p.update(instanceConcurency=p.pop("instanceConcurrency")),
    "cronExpresion": lambda p: _trigger(p, "timer")["triggerConfig"].update(
        cronExpresion=_trigger(p, "timer")["triggerConfig"].pop("cronExpression")),
    "eventbridge triggerConfig {foo: 1}": lambda p: _trigger(p, "eventbridge").update(triggerConfig={"foo": 1}),
    "maxAsyncRetryAttempt": lambda p: p["asyncInvokeConfig"].update(
        maxAsyncRetryAttempt=p["asyncInvokeConfig"].pop("maxAsyncRetryAttempts")),
    "vpcConfig.vswitchIds": lambda p: p["vpcConfig"].update(vswitchIds=p["vpcConfig"].pop("vSwitchIds")),
    "healthCheckConfig.httpGetURL": lambda p: p["customRuntimeConfig"]["healthCheckConfig"].update(
        httpGetURL=p["customRuntimeConfig"]["healthCheckConfig"].pop("httpGetUrl")),
    "destinationConfig.onFail": lambda p: p["asyncInvokeConfig"]["destinationConfig"].update(
        onFail=p["asyncInvokeConfig"]["destinationConfig"].pop("onFailure")),
    "an environment value that is not a string": lambda p: p["environmentVariables"].update(RESPONDER_DRY_RUN=False),
    "an FC_ environment name": lambda p: p["environmentVariables"].update(FC_SERVER_PORT="9000"),
    "eventSinkConfig.deliveryOption.mode typo": lambda p: _trigger(p, "eventbridge")["triggerConfig"][
        "eventSinkConfig"]["deliveryOption"].update(mode="event-driver"),
    "runOptions.retryStrategy typo": lambda p: _trigger(p, "eventbridge")["triggerConfig"]["runOptions"].update(
        retryStrategy={"PushRetryStrateg": "BACKOFF_RETRY"}),
    "a trigger type we do not use": lambda p: _trigger(p, "timer").update(triggerType="http"),
    "a cron expression that is not one": lambda p: _trigger(p, "timer")["triggerConfig"].update(cronExpression="every minute"),
}


@pytest.mark.parametrize("typo", sorted(TYPOS))
def test_a_typo_in_the_props_is_refused_by_the_strict_schema(typo):
    props = responder_props()
    TYPOS[typo](props)
    assert strict_errors(props), f"{typo} passed the strict schema"


def test_the_vendored_fc3_schema_alone_lets_the_classic_typos_through():
    """Why the strict schema exists: these validate against fc3's own schema."""
    path = next((p for p in FC3_SCHEMA_CANDIDATES if p.is_file()), None)
    if path is None:
        pytest.skip("fc3 schema not found; set FC3_SCHEMA")
    validator = jsonschema.Draft7Validator(json.loads(path.read_text()))
    for typo in ("instanceConcurency", "cronExpresion", "eventbridge triggerConfig {foo: 1}"):
        props = responder_props()
        TYPOS[typo](props)
        assert not list(validator.iter_errors(props)), typo


def test_the_function_joins_the_vpc_of_its_private_store_and_reaches_the_ecs_api():
    props = responder_props()
    assert set(props["vpcConfig"]) == {"vpcId", "vSwitchIds", "securityGroupId"}
    assert props["internetAccess"] is True


def test_failed_async_invocations_go_to_a_dead_letter_queue():
    destination = responder_props()["asyncInvokeConfig"]["destinationConfig"]["onFailure"]["destination"]
    assert destination.startswith("acs:mns:") and destination.endswith("/messages")


def test_the_eventbridge_trigger_invokes_asynchronously_under_the_current_fc3_reading():
    config = triggers_by_type(responder_props())["eventbridge"]["triggerConfig"]
    assert config["asyncInvocationType"] is False  # FC 3.0 API reference: false = asynchronous
    assert config["runOptions"]["retryStrategy"]["PushRetryStrategy"] == "BACKOFF_RETRY"


def test_the_function_serves_only_aliyun_and_the_timer_ticks_instead_of_a_thread():
    env = responder_props()["environmentVariables"]
    assert env["RESPONDER_CLOUDS"] == "aliyun" and env["RESPONDER_BACKGROUND_TICKER"] == "false"


def test_s_yaml_is_an_fc3_project_of_edition_3():
    doc = load_s_yaml()
    assert doc["edition"] == "3.0.0"
    assert doc["vars"]["region"] == "cn-hangzhou"
    assert {res["component"] for res in doc["resources"].values()} == {"fc3"}


@pytest.mark.parametrize("name", sorted(load_s_yaml()["resources"]))
def test_every_resource_props_validate_against_the_fc3_schema(name):
    path = next((p for p in FC3_SCHEMA_CANDIDATES if p.is_file()), None)
    if path is None:
        pytest.skip("fc3 schema not found; set FC3_SCHEMA")
    schema = json.loads(path.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(resources()[name]), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_function_is_a_custom_runtime_web_server_on_port_9000():
    props = responder_props()
    assert props["runtime"].startswith("custom")
    config = props["customRuntimeConfig"]
    assert config["port"] == 9000
    command = config["command"] + config["args"]
    assert "gunicorn" in command
    assert "gunicorn.conf.py" in command and "responder.wsgi:app" in command
    assert config["healthCheckConfig"]["httpGetUrl"] == "/healthz"


def test_the_eventbridge_trigger_passes_only_ecs_preemptible_interruptions():
    trigger = triggers_by_type(responder_props())["eventbridge"]
    config = trigger["triggerConfig"]
    assert config["triggerEnable"] is True
    pattern = json.loads(config["eventRuleFilterPattern"])
    assert pattern["source"] == ["acs.ecs"]
    assert pattern["type"] == [INTERRUPTION_TYPE]


def test_the_timer_trigger_ticks_every_minute_with_the_sample_payload():
    trigger = triggers_by_type(responder_props())["timer"]
    config = trigger["triggerConfig"]
    assert config["enable"] is True
    assert config["cronExpression"] == "@every 1m"
    assert json.loads(config["payload"]) == {"kind": "tick"}
    sample = json.loads((EVENTS / "fc" / "timer-trigger.json").read_text())
    assert sample["triggerName"] == trigger["triggerName"]
    assert json.loads(sample["payload"]) == json.loads(config["payload"])


def test_failed_async_invocations_are_retried_twice():
    assert responder_props()["asyncInvokeConfig"]["maxAsyncRetryAttempts"] == 2


def test_s_yaml_holds_no_credentials():
    text = (ROOT / "s.yaml").read_text()
    assert not ACCESS_KEY_LITERAL.search(text)
    env = responder_props()["environmentVariables"]
    assert not set(env) & set(CREDENTIAL_NAMES), "FC injects the role's STS token itself"
    assert not [name for name in env if name.startswith("FC_")], "FC_* names are reserved by FC"
    assert responder_props()["role"].startswith("acs:ram::")


# --- gunicorn.conf.py ------------------------------------------------------------------------

def test_gunicorn_binds_the_port_function_compute_names(monkeypatch):
    monkeypatch.delenv("FC_SERVER_PORT", raising=False)
    monkeypatch.delenv("RESPONDER_INVOKE_PORT", raising=False)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == ["0.0.0.0:9000"]
    monkeypatch.setenv("FC_SERVER_PORT", "9123")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == ["0.0.0.0:9123"]


def test_gunicorn_adds_the_invoke_port_when_one_is_set(monkeypatch):
    monkeypatch.setenv("FC_SERVER_PORT", "9000")
    monkeypatch.setenv("RESPONDER_INVOKE_PORT", "9001")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == ["0.0.0.0:9000", "0.0.0.0:9001"]
    monkeypatch.setenv("RESPONDER_INVOKE_PORT", "9000")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == ["0.0.0.0:9000"]


def test_the_function_timeout_covers_the_race_for_capacity_within_fc_maximum():
    """/invoke works its race task inside the invocation: the 300 s notice, a launch to Running at
    the responder's prior (RESPONDER_LAUNCH_RUNNING_SECONDS) and /invoke's 15 s margin must fit the
    function timeout, itself within FC 3.0's 86,400 s. No image time (of any pack) is in it: an
    image that outlasts the invocation is followed by the timer trigger."""
    need = NOTICE_SECONDS["aliyun"] + Settings().launch_running_seconds + 15
    assert need <= responder_props()["timeout"] == 1800 <= 86400


def test_gunicorn_serves_the_concurrency_and_timeout_fc_is_configured_for():
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    props = responder_props()
    assert conf["workers"] * conf["threads"] >= props["instanceConcurrency"]
    assert conf["timeout"] >= props["timeout"]
    assert conf["accesslog"] == "-"


# --- Dockerfile, .env.example ----------------------------------------------------------------

def test_the_dockerfile_exposes_9000_and_runs_gunicorn_as_a_non_root_user():
    pairs = dockerfile_instructions()
    assert pairs[0] == ("ARG", "PYTHON_VERSION=3.11")
    froms = [arg for keyword, arg in pairs if keyword == "FROM"]
    # The build stage trims the base's whole file system; the run stage is that, as one layer.
    assert froms == ["python:${PYTHON_VERSION}-slim AS build", "scratch"]
    assert ("EXPOSE", "9000") in pairs and ("EXPOSE", "9001") not in pairs, "/invoke's port is not published"
    assert ("COPY", "--from=build / /") in pairs
    users = [arg for keyword, arg in pairs if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    cmd = json.loads(next(arg for keyword, arg in pairs if keyword == "CMD"))
    assert cmd == ["gunicorn", "-c", "gunicorn.conf.py", "responder.wsgi:app"]
    healthcheck = next(arg for keyword, arg in pairs if keyword == "HEALTHCHECK")
    assert "/healthz" in healthcheck and "curl" not in healthcheck


def test_the_container_and_the_function_start_the_same_app():
    config = responder_props()["customRuntimeConfig"]
    cmd = json.loads(next(arg for keyword, arg in dockerfile_instructions() if keyword == "CMD"))
    assert config["args"][-1] == cmd[-1]


def test_the_env_example_documents_settings_without_secrets():
    text = (ROOT / ".env.example").read_text()
    assert not ACCESS_KEY_LITERAL.search(text)
    values = dict(line.split("=", 1) for line in text.splitlines()
                  if line and not line.startswith("#"))
    for name in ("RESPONDER_DATABASE_URL", "RESPONDER_AUTH_TOKEN", "RESPONDER_MARKET_POLICY",
                 "FC_SERVER_PORT"):
        assert name in values
    for name in CREDENTIAL_NAMES:
        assert values.get(name, "") == "", f"{name} must stay empty in the example"
    assert values["RESPONDER_AUTH_TOKEN"] == ""


# --- events/ ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", event_files())
def test_every_sample_event_is_valid_json_unless_it_is_meant_not_to_be(name):
    text = (EVENTS / name).read_text()
    if name in NOT_JSON:
        with pytest.raises(ValueError):
            json.loads(text)
    else:
        json.loads(text)


def test_the_empty_sample_is_an_empty_body():
    assert (EVENTS / "invalid" / "empty.json").read_bytes() == b""


def test_the_events_readme_lists_every_sample():
    readme = (EVENTS / "README.md").read_text()
    missing = [name for name in event_files() if f"`{name}`" not in readme]
    assert not missing


def test_the_samples_name_instances_of_the_default_scenario():
    scenario = yaml.safe_load(SCENARIO.read_text())
    known = {inst["id"] for region in scenario["regions"] for inst in region.get("instances", [])}
    text = "\n".join((EVENTS / name).read_text() for name in event_files()
                     if name.startswith(("aliyun/", "aws/")) and name != "aliyun/forged-not-found.json")
    named = set(re.findall(r"\bi-[0-9a-z]{17,20}\b", text))
    assert named and named <= known, named - known
    assert "i-bp1doesnotexist00000" not in known


def test_the_batch_sample_is_one_event_delivered_twice():
    batch = json.loads((EVENTS / "aliyun" / "eventbridge-batch.json").read_text())
    assert len(batch) == 2 and batch[0]["id"] == batch[1]["id"]
    assert {event["type"] for event in batch} == {INTERRUPTION_TYPE}
