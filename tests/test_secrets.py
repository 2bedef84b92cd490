"""Secrets stay home: planted credentials, the auth token, the database password and the original
instance's user data never appear in a log record (at DEBUG, SDK debug on), an HTTP answer or a
notification.

The planted values really travel the paths that could leak them: the Aliyun emulator is started
with the planted AccessKey secret (so the SDK signs with it) and records the STS token the SDK
sends; boto3 signs with the planted AWS secret and sends the planted session token, which the EC2
emulator records; the scenario's instances carry the planted user data, which DescribeUserData /
DescribeInstanceAttribute hand back and the launch sends again.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import logging
import threading
from urllib.parse import quote, quote_plus

import pytest

from responder.logsafe import Redactor, install_log_redaction, public_task_view, redact_url
from responder.settings import Settings
from tests.conftest import event_bytes
from tests.scenarios import scenario

ALIYUN_KEY_ID = "LTAIplantedKeyId4001"
ALIYUN_SECRET = "planted-aliyun-secret-Zq81"
ALIYUN_STS = "CAISplanted+aliyun/sts=Xy9"
AWS_KEY_ID = "ASIAPLANTEDKEY400001"
AWS_SECRET = "planted/aws+secret=Kq2w"
AWS_SESSION = "IQoJplanted+aws/session=Tk7"
DB_PASSWORD = "planted-db-p@ss-55"
AUTH_TOKEN = "planted-auth-token-77c1"
USER_DATA_SECRET = "planted-userdata-secret-9f3"
USER_DATA = base64.b64encode(f"#!/bin/sh\nexport API_KEY={USER_DATA_SECRET}\n".encode()).decode()
PLANTED = [ALIYUN_KEY_ID, ALIYUN_SECRET, ALIYUN_STS, AWS_KEY_ID, AWS_SECRET, AWS_SESSION, DB_PASSWORD, AUTH_TOKEN,
           USER_DATA_SECRET, USER_DATA]
ALIYUN_INSTANCE, AWS_INSTANCE = "i-bp1ecr7pz2yq4v5go2go", "i-1234567890abcdef0"


def leaks(text: str) -> list[str]:
    """Planted values found in `text`, as is or percent-encoded the ways a URL carries them."""
    return [p for p in PLANTED if any(form in text for form in {p, quote(p, safe=""), quote_plus(p)})]


class WebhookReceiver(http.server.ThreadingHTTPServer):
    """A real HTTP receiver on loopback that keeps every notification body."""

    def __init__(self):
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class LogCapture(logging.Handler):
    """Every record the root logger sees, formatted the way an operator's log would show it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.names.append(record.name)


@pytest.fixture
def captured_logs():
    root = logging.getLogger()
    capture, level = LogCapture(), root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture)
    root.setLevel(level)
    install_log_redaction(Settings())  # the SDK loggers back at WARNING for the tests after this one


@pytest.fixture
def receiver():
    hook = WebhookReceiver()
    yield hook
    hook.stop()


@pytest.fixture
def planted_clouds():
    """Both emulators taking the planted credentials, and adapters signing with them; each
    emulator remembers the session tokens that reached it on the wire."""
    from responder.clouds.aliyun import AliyunCloud
    from responder.clouds.aws import AwsCloud
    from responder.sandbox.aliyun_ecs import AliyunEcsEmulator
    from responder.sandbox.aws_ec2 import AwsEc2Emulator
    from responder.sandbox.scenario import load_scenario

    seen = {"aliyun": set(), "aws": set()}

    class RecordingAliyun(AliyunEcsEmulator):
        def _handle(self, request):
            seen["aliyun"].add(request.args.get("SecurityToken", ""))
            return super()._handle(request)

    class RecordingAws(AwsEc2Emulator):
        def _wsgi(self, environ, start_response):
            seen["aws"].add(environ.get("HTTP_X_AMZ_SECURITY_TOKEN", ""))
            return super()._wsgi(environ, start_response)

    world = load_scenario(scenario(offers=[], instances={ALIYUN_INSTANCE: {"user_data": USER_DATA},
                                                         AWS_INSTANCE: {"user_data": USER_DATA}}), time_scale=20)
    aliyun = RecordingAliyun(world, access_key_id=ALIYUN_KEY_ID, access_key_secret=ALIYUN_SECRET).start()
    aws = RecordingAws(world).start()
    clouds = {"aliyun": AliyunCloud(ALIYUN_KEY_ID, ALIYUN_SECRET, security_token=ALIYUN_STS, endpoint=aliyun.endpoint),
              "aws": AwsCloud(endpoint_url=aws.endpoint_url, aws_access_key_id=AWS_KEY_ID,
                              aws_secret_access_key=AWS_SECRET, aws_session_token=AWS_SESSION,
                              region_name="us-east-2")}
    yield clouds, seen, {"aliyun": aliyun, "aws": aws}
    aliyun.stop()
    aws.stop()


def planted_settings(tmp_path, webhook_url: str) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/tasks.db", auth_token=AUTH_TOKEN, launch_retry_seconds=0,
                    background_ticker=False, tick_interval=0.05, notify_webhook_url=webhook_url, log_level="DEBUG",
                    aliyun_access_key_id=ALIYUN_KEY_ID, aliyun_access_key_secret=ALIYUN_SECRET,
                    aliyun_security_token=ALIYUN_STS, aws_access_key_id=AWS_KEY_ID,
                    aws_secret_access_key=AWS_SECRET, aws_session_token=AWS_SESSION, sdk_debug=True)


def _answer_text(response) -> str:
    return response.get_data(as_text=True) + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


def test_a_full_flow_leaks_no_planted_secret_into_logs_answers_or_notifications(
        tmp_path, captured_logs, receiver, planted_clouds):
    from responder.replace.runner import TaskRunner
    from responder.store import Store
    from responder.web import create_app

    clouds, seen, _ = planted_clouds
    settings = planted_settings(tmp_path, receiver.url)
    install_log_redaction(settings)
    runner = TaskRunner(Store(settings.database_url), clouds, settings)
    app = create_app(settings, runner=runner)
    client = app.test_client()
    bearer, header = {"Authorization": f"Bearer {AUTH_TOKEN}"}, {"X-Responder-Token": AUTH_TOKEN}
    answers = []

    flows = (("aliyun/cloudmonitor-interruption.json", bearer), ("aws/spot-interruption-warning.json", header))
    for name, headers in flows:
        accepted = client.post("/events", data=event_bytes(name), headers=headers)
        assert accepted.status_code == 202, accepted.get_json()
        answers.append(accepted)
        final = runner.run_to_end(accepted.get_json()["task"]["id"], timeout=60)
        assert final.status == "done", final.reason
        shown = client.get(f"/tasks/{final.id}", headers=bearer)
        answers.append(shown)
        decoded = base64.b64decode(USER_DATA)
        assert shown.get_json()["source"]["user_data"] == {"bytes": len(decoded),
                                                            "sha256": hashlib.sha256(decoded).hexdigest()[:12]}
    answers += [client.get("/tasks", headers=bearer), client.get("/healthz"), client.get("/metrics"),
                client.post("/events", data=event_bytes("aliyun/cloudmonitor-interruption.json"), headers=bearer),
                client.post("/events", data=b"{not json"), client.post("/events", data=b"{}", headers=bearer),
                client.post(f"/events?token={AUTH_TOKEN}", data=b"{}"), client.get("/tasks/t-nope", headers=bearer),
                client.post("/invoke", data=b"[" * 10_000)]
    assert [a.status_code for a in answers[-9:]] == [200, 200, 200, 200, 401, 400, 400, 404, 400]
    app.extensions["responder"]["notifier"].tick()  # the outbox, as every message goes out

    # The secrets really went through the code that could leak them:
    assert ALIYUN_STS in seen["aliyun"] and AWS_SESSION in seen["aws"]
    assert any(n.startswith("aliyunsdkcore") for n in captured_logs.names)
    assert any(n.startswith("botocore") for n in captured_logs.names)
    logs = "\n".join(captured_logs.lines)
    assert "SecurityToken" in logs and "X-Amz-Security-Token" in logs  # the SDKs logged them, masked
    assert len(receiver.bodies) == 2

    assert leaks(logs) == [], [line for line in captured_logs.lines if leaks(line)][:3]
    for answer in answers:
        assert leaks(_answer_text(answer)) == [], (answer.request.path, _answer_text(answer)[:400])
    for body in receiver.bodies:
        assert leaks(body.decode()) == [], body[:400]
        notice = json.loads(body)
        assert notice["task"]["status"] == "done" and "source" not in notice["task"] and notice["text"]


def test_refusals_answer_the_status_that_tells_the_caller_what_is_wrong(tmp_path, receiver, planted_clouds):
    from responder.replace.runner import TaskRunner
    from responder.store import Store
    from responder.web import create_app

    clouds, _, emulators = planted_clouds
    settings = planted_settings(tmp_path, receiver.url)
    client = create_app(settings, runner=TaskRunner(Store(settings.database_url), clouds, settings)).test_client()
    event = event_bytes("aliyun/cloudmonitor-interruption.json")
    no_token = client.post("/events", data=event)
    in_query = client.post(f"/events?token={AUTH_TOKEN}", data=event)
    tasks_in_query = client.get(f"/tasks?token={AUTH_TOKEN}")
    others_in_query = [client.post(f"/invoke?token={AUTH_TOKEN}", data=event), client.get("/healthz?token=x"),
                       client.get("/metrics?token=x")]
    assert no_token.status_code == 401 and "Authorization: Bearer" in no_token.get_json()["error"]
    assert in_query.status_code == 400 and "query string" in in_query.get_json()["error"]
    assert tasks_in_query.status_code == 400 and "Authorization: Bearer" in tasks_in_query.get_json()["error"]
    assert [r.status_code for r in others_in_query] == [400, 400, 400]  # every route, not just the guarded ones
    assert emulators["aliyun"].calls == []  # refused before any cloud call


def test_a_task_failed_by_a_credentials_error_leaks_nothing_in_its_reason_answer_webhook_or_log(
        tmp_path, captured_logs, receiver, planted_clouds):
    """A wrong secret: the ECS API refuses the signature, the SDK logs the refusal and the
    request parameters (with the STS token), and the task fails with the SDK's error as reason."""
    from responder.clouds.aliyun import AliyunCloud
    from responder.replace.runner import TaskRunner
    from responder.store import Store
    from responder.web import create_app

    clouds, seen, emulators = planted_clouds
    settings = planted_settings(tmp_path, receiver.url)
    install_log_redaction(settings)
    wrong = {"aliyun": AliyunCloud(ALIYUN_KEY_ID, "not-the-secret", security_token=ALIYUN_STS,
                                   endpoint=emulators["aliyun"].endpoint)}
    runner = TaskRunner(Store(settings.database_url), wrong, settings)
    app = create_app(settings, runner=runner)
    client = app.test_client()
    answer = client.post("/events", data=event_bytes("aliyun/cloudmonitor-interruption.json"),
                         headers={"X-Responder-Token": AUTH_TOKEN})
    task = runner.store.get_by_key(f"aliyun:cn-hangzhou:{ALIYUN_INSTANCE}")
    assert ALIYUN_STS in seen["aliyun"] and task is not None
    assert task.status == "failed" and "AccessKeySecret" in task.reason
    assert any(line.startswith("ERROR aliyunsdkcore") and "InvalidAccessKeySecret" in line
               for line in captured_logs.lines)
    app.extensions["responder"]["notifier"].tick()
    assert [json.loads(b)["task"]["status"] for b in receiver.bodies] == ["failed"]
    shown = client.get(f"/tasks/{task.id}", headers={"X-Responder-Token": AUTH_TOKEN})
    for text in (_answer_text(answer), _answer_text(shown), *[b.decode() for b in receiver.bodies],
                 *captured_logs.lines):
        assert leaks(text) == [], text[:400]


def test_settings_repr_hides_the_database_password_and_every_secret():
    settings = Settings(database_url=f"mysql+pymysql://responder:{quote(DB_PASSWORD, safe='')}@127.0.0.1:3306/r",
                        auth_token=AUTH_TOKEN, aliyun_access_key_secret=ALIYUN_SECRET, aliyun_security_token=ALIYUN_STS,
                        aws_secret_access_key=AWS_SECRET, aws_session_token=AWS_SESSION)
    assert leaks(repr(settings)) == [] and "mysql+pymysql://responder:***@127.0.0.1:3306/r" in repr(settings)
    hook = Settings(notify_webhook_url=f"https://oapi.dingtalk.com/robot/send?access_token={AUTH_TOKEN}")
    assert leaks(repr(hook)) == [] and "https://oapi.dingtalk.com/***" in repr(hook)
    assert redact_url("postgresql+psycopg://u:pw@h/d") == "postgresql+psycopg://u:***@h/d"


def test_a_log_line_quoting_the_database_url_or_a_driver_error_shows_no_password(captured_logs):
    url = f"mysql+pymysql://responder:{quote(DB_PASSWORD, safe='')}@127.0.0.1:3306/r"
    install_log_redaction(Settings(database_url=url))
    logging.getLogger("responder.test").warning("cannot reach %s", url)
    logging.getLogger("responder.test").error("driver said: password %s refused", DB_PASSWORD)
    assert captured_logs.lines and leaks("\n".join(captured_logs.lines)) == [], captured_logs.lines


def test_credential_shaped_parameters_and_headers_are_masked_even_when_their_value_is_unknown():
    redactor = Redactor()
    lines = {
        "GET /?Action=DescribeInstances&SecurityToken=abc%2Bd&Signature=xyz%3D&SignatureMethod=HMAC-SHA1":
            "GET /?Action=DescribeInstances&SecurityToken=***&Signature=***&SignatureMethod=HMAC-SHA1",
        "headers={'X-Amz-Security-Token': b'IQoJb3', 'Authorization': b'AWS4-HMAC-SHA256 Credential=AK/x, "
        "SignedHeaders=host, Signature=beef'}":
            "headers={'X-Amz-Security-Token': b'***', 'Authorization': b'*** Credential=AK/x, "
            "SignedHeaders=host, Signature=***'}",
        "Signature:\n0a1b2c": "Signature:\n***",
        "Authorization: Bearer opaque": "Authorization: Bearer ***",
        "POST /events?token=opaque HTTP/1.1": "POST /events?token=*** HTTP/1.1",
        "{'UserData': 'IyEv', 'NextToken': 'page2', 'ClientToken': 't-1'}":
            "{'UserData': '***', 'NextToken': 'page2', 'ClientToken': 't-1'}",
    }
    for line, masked in lines.items():
        assert redactor.redact(line) == masked


def test_user_data_anywhere_in_a_task_view_becomes_its_size_and_hash():
    view = public_task_view({"source": {"user_data": USER_DATA}, "ledger": [{"request": {"UserData": USER_DATA}}],
                             "empty": {"user_data": ""}})
    assert leaks(json.dumps(view)) == [] and view["empty"] == {"user_data": ""}
    assert view["source"]["user_data"]["bytes"] == len(base64.b64decode(USER_DATA))
    assert view["ledger"][0]["request"]["UserData"] == view["source"]["user_data"]


def test_the_sdk_loggers_stay_at_warning_unless_sdk_debug_is_set():
    install_log_redaction(Settings())
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("aliyunsdkcore").getEffectiveLevel() == logging.WARNING
    assert Settings.from_env({"RESPONDER_SDK_DEBUG": "true"}, dotenv=False).sdk_debug
    install_log_redaction(Settings(sdk_debug=True))
    assert logging.getLogger("botocore").level == logging.NOTSET
    install_log_redaction(Settings())
    assert logging.getLogger("botocore").level == logging.WARNING


def test_gunicorn_installs_the_redaction_before_it_forks_workers(monkeypatch, captured_logs):
    import runpy
    from pathlib import Path

    monkeypatch.setenv("RESPONDER_AUTH_TOKEN", AUTH_TOKEN)
    conf = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    conf["on_starting"](None)
    logging.getLogger("gunicorn.access").info('"POST /events HTTP/1.1" 401 - X-Responder-Token: %s', AUTH_TOKEN)
    assert captured_logs.lines and leaks("\n".join(captured_logs.lines)) == []


def test_the_redacting_filter_masks_records_for_a_logging_config_that_wants_it_on_a_handler():
    from responder.logsafe import RedactingFilter

    record = logging.LogRecord("botocore.endpoint", logging.DEBUG, __file__, 1, "headers=%s",
                               ({"X-Amz-Security-Token": AWS_SESSION},), None)
    assert RedactingFilter(Redactor([AWS_SESSION])).filter(record) and leaks(record.getMessage()) == []


def test_a_store_refusing_the_planted_database_password_answers_503_without_it(tmp_path, captured_logs,
                                                                               planted_clouds):
    """The store's URL carries the planted password; the driver's refusal (access denied, or no
    server) reaches the 503 answer, /healthz and the log without it."""
    from responder.replace.runner import TaskRunner
    from responder.store import Store, make_engine
    from responder.web import create_app

    clouds, _, _ = planted_clouds
    url = f"mysql+pymysql://planted_user:{quote(DB_PASSWORD, safe='')}@127.0.0.1:3306/responder_absent"
    settings = planted_settings(tmp_path, "").with_(database_url=url, auth_token="")
    install_log_redaction(settings)
    runner = TaskRunner(Store(f"sqlite:///{tmp_path}/first.db"), clouds, settings)
    runner.store.engine.dispose()
    runner.store.engine = make_engine(url)
    client = create_app(settings, runner=runner).test_client()
    down = client.post("/events", data=event_bytes("aliyun/cloudmonitor-interruption.json"))
    health = client.get("/healthz")
    assert down.status_code == 503 and health.status_code == 503
    assert any("unavailable" in line for line in captured_logs.lines)
    for text in (_answer_text(down), _answer_text(health), *captured_logs.lines):
        assert leaks(text) == [], text[:400]
