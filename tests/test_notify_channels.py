"""Channels at the wire: each apprise service and the plain webhook send their own format to a
real HTTP receiver; filters by kind and level; secrets stay out of every message.

Parts: the receiver fixture, a replaced notice, and the tests.
"""

from __future__ import annotations

import json

import pytest

from notify_receiver import Receiver, point_apprise_at
from responder.notify.channels import ChannelError, parse_channels, url_secrets
from responder.notify.messages import make_notice, render

SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ")


@pytest.fixture
def receiver(monkeypatch):
    hook = Receiver()
    point_apprise_at(monkeypatch, hook)  # Slack, DingTalk, ... post here instead of their public hosts
    yield hook
    hook.stop()


def replaced_notice(**extra):
    return make_notice("replaced", "t-1:replaced", task_id="t-1", cloud="aliyun", region="cn-hangzhou",
                       instance_id="i-bp1old", old_type="ecs.g7.large", old_zone="cn-hangzhou-i", old_market="spot",
                       new_type="ecs.g7.large", new_zone="cn-hangzhou-j", new_market="spot", gap_seconds=42.0,
                       data_kept=True, replacement_ids=["i-bp1new"], **extra)


CHANNELS = {  # URL → (expected path prefix, a check of the channel's own body format)
    "slack://" + "/".join(SLACK_TOKENS): (
        "/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        lambda body: "i-bp1old" in json.dumps(body["attachments"]) and body["attachments"][0]["title"]),
    "dingtalk://a1b2c3d4e5f6a7b8c9d0/": (
        "/robot/send", lambda body: body["msgtype"] == "markdown" and "i-bp1old" in body["markdown"]["text"]),
    "tgram://123456789:abcdefg_hijklmnop/-1001234567": (
        "/bot123456789:abcdefg_hijklmnop/sendMessage",
        lambda body: body["chat_id"] == -1001234567 and "i-bp1old" in body["text"] and body["parse_mode"]),
    "feishu://a1b2c3d4e5f6a7b8c9d0": (
        "/open-apis/bot/v2/hook/a1b2c3d4e5f6a7b8c9d0", lambda body: "i-bp1old" in json.dumps(body)),
    "wecombot://a1b2c3d4e5f6a7b8c9d0": (
        "/cgi-bin/webhook/send", lambda body: body["msgtype"] in ("markdown", "text") and "i-bp1old" in json.dumps(body)),
}


@pytest.mark.parametrize("url", sorted(CHANNELS))
def test_each_apprise_channel_posts_its_own_format_to_its_endpoint(receiver, url):
    path, check = CHANNELS[url]
    (channel,) = parse_channels(url)
    channel.send(replaced_notice())
    (got,) = receiver.requests
    assert got.path.startswith(path)
    assert check(got.json()), got.text


def test_a_json_webhook_gets_apprise_title_body_and_type(receiver):
    (channel,) = parse_channels(f"json://127.0.0.1:{receiver.server_address[1]}/alerts")
    channel.send(replaced_notice())
    (got,) = receiver.requests
    body = got.json()
    assert got.path == "/alerts" and body["type"] == "success"
    assert body["title"] == "[responder] Replaced" and "ecs.g7.large cn-hangzhou-j spot" in body["message"]


def test_a_plain_https_url_gets_one_json_post_with_chat_text_and_the_fields(receiver):
    (channel,) = parse_channels(f"{receiver.base}/plain")
    channel.send(replaced_notice())
    body = receiver.requests[0].json()
    assert body["kind"] == "replaced" and body["fields"]["gap_seconds"] == 42.0
    assert body["text"] == body["content"]["text"] and "gap 42 s, data kept" in body["text"]


def test_filters_pick_kinds_and_a_minimum_level_and_commas_inside_a_url_stay():
    spec = ("{kinds=replaced+failed;level=success}json://h/a, {level=failure}json://h/b,"
            " mailto://user:pw12345678@example.com?to=a@example.com,b@example.com")
    kinds_and_level, failures_only, mail = parse_channels(spec)
    assert kinds_and_level.wants(replaced_notice()) and not kinds_and_level.wants(
        make_notice("interruption", "k"))
    assert not failures_only.wants(replaced_notice()) and failures_only.wants(make_notice("failed", "k"))
    assert mail.url.endswith("to=a@example.com,b@example.com")
    assert len({kinds_and_level.name, failures_only.name, mail.name}) == 3 and "pw" not in mail.name


@pytest.mark.parametrize("spec, named", [("{kinds=replacd}json://h/a", "replacd"), ("{level=loud}json://h/a", "loud"),
                                         ("{colour=red}json://h/a", "colour")])
def test_a_bad_channel_entry_is_refused_naming_the_problem(spec, named):
    with pytest.raises(ValueError) as refused:
        parse_channels(spec)
    assert named in str(refused.value) and "RESPONDER_NOTIFY_URLS" in str(refused.value)


def test_a_scheme_apprise_cannot_use_fails_each_send_naming_it():
    """apprise loads with the first send, not at start: the scheme is judged then."""
    (channel,) = parse_channels("nosuch://x")
    for _ in range(2):
        with pytest.raises(ChannelError) as refused:
            channel.send(replaced_notice())
        assert "nosuch://" in str(refused.value) and "RESPONDER_NOTIFY_URLS" in str(refused.value)


def test_no_user_data_token_or_signed_text_reaches_any_channel(receiver):
    secret_user_data = "IyEvYmluL3NoCmV4cG9ydCBEQl9QQVNTV09SRD1odW50ZXIy"  # base64 of a bootstrap script
    notice = replaced_notice(user_data=secret_user_data, password="hunter2-long-password", api_token="tok-123456789",
                             reason="CreateImage failed: https://ecs.aliyuncs.com/?SecurityToken=STS.sekrit999&"
                                    "Signature=abcdEFGH1234")
    channels = parse_channels(",".join(list(CHANNELS) + [f"{receiver.base}/plain"]))
    for channel in channels:
        channel.send(notice)
    assert len(receiver.requests) == len(channels)
    title, body = render(notice)
    for text in [title, body] + [r.text for r in receiver.requests]:
        for secret in (secret_user_data, "hunter2", "tok-123456789", "STS.sekrit999", "abcdEFGH1234"):
            assert secret not in text


def test_a_channel_urls_token_parts_are_known_to_the_redactor():
    from responder.logsafe import active_redactor

    url = "slack://" + "/".join(SLACK_TOKENS)
    assert set(SLACK_TOKENS) <= set(url_secrets(url))
    parse_channels(url)
    assert SLACK_TOKENS[2] not in active_redactor().redact(f"POST to {SLACK_TOKENS[2]} failed")
