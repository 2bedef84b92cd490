"""Where notifications go: channels configured by URL, sent through apprise (Slack, DingTalk,
Feishu/Lark, WeCom, Telegram, e-mail, json:// webhooks, …) or as a plain JSON POST (https://).

Parts: Channel (name, filter of kinds, minimum level, send), AppriseChannel, PlainPostChannel,
ChannelError, parse_channels (RESPONDER_NOTIFY_URLS → channels), channels_from_settings,
url_secrets.

apprise itself loads with a channel's first message (AppriseChannel), requests with a plain
POST's first. An entry is an apprise URL, optionally prefixed by a filter in braces:
`{kinds=replaced+failed;level=warning}slack://T000/B000/XXXX`. Entries are separated by commas
that start a new entry (a comma followed by `{` or `scheme://`), so an e-mail URL's `to=a,b`
stays whole. Plain `http(s)://` URLs are POSTed the JSON of messages.plain_body; apprise would
not know what to do with them.

A channel's name is its scheme and a hash of its URL: stable across restarts and order changes,
and never the URL itself (chat webhook URLs carry their own token). Every secret-looking part of
each URL is added to the log redactor, since apprise logs URLs and answers at DEBUG.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

from responder.logsafe import active_redactor
from responder.notify.messages import FINISHED_KINDS, KINDS, LEVELS, Notice, plain_body, render
from responder.settings import SettingsError

log = logging.getLogger("responder.notify")
logging.getLogger("apprise").setLevel(logging.WARNING)  # its INFO/DEBUG lines quote request URLs
_ENTRY_START = re.compile(r",\s*(?=\{|[A-Za-z][A-Za-z0-9+.-]*://)")
_FILTER = re.compile(r"^\{([^}]*)\}\s*")


class ChannelError(Exception):
    """A send failed; the message is short and safe to store (no URL, no answer body)."""


class Channel:
    def __init__(self, url: str, kinds: frozenset[str] = frozenset(), level: str = "info", timeout: float = 5.0):
        self.url = url
        self.kinds = kinds
        self.level = level
        self.timeout = timeout
        scheme = urlsplit(url).scheme.lower() or "url"
        self.name = f"{scheme}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def wants(self, notice: Notice) -> bool:
        if self.kinds and notice.kind not in self.kinds:
            return False
        return LEVELS.index(notice.level) >= LEVELS.index(self.level)

    def send(self, notice: Notice) -> None:
        raise NotImplementedError


class PlainPostChannel(Channel):
    def send(self, notice: Notice) -> None:
        # Lazy: requests (with urllib3, about 5 MB and 60 ms of CPU) loads with the first message sent,
        # not in every server's start.
        import requests

        try:
            requests.post(self.url, json=plain_body(notice), timeout=self.timeout).raise_for_status()
        except requests.HTTPError as exc:
            raise ChannelError(f"HTTP {exc.response.status_code}") from None
        except requests.RequestException as exc:
            raise ChannelError(exc.__class__.__name__) from None


class AppriseChannel(Channel):
    """The apprise plugin for the URL is made on the first send: apprise loads every one of its
    plugins (about 190) to read one URL, about 25 MB of RSS and 0.4 s of CPU that a server's start
    would otherwise pay before its first answer. A URL apprise cannot use fails each send with
    the reason (the outbox records it, /healthz shows the channel failing) instead of stopping a
    start that replacements need."""

    def __init__(self, url: str, **kwargs):
        super().__init__(url, **kwargs)
        self._plugin = None
        self._made = threading.Lock()

    def _make_plugin(self):
        # Lazy: apprise and its plugins load with the first message this channel sends (see the class).
        import apprise

        plugin = apprise.Apprise.instantiate(self.url)
        if plugin is None:
            raise ChannelError(f"RESPONDER_NOTIFY_URLS: apprise cannot use a {urlsplit(self.url).scheme}:// URL "
                               "(see https://appriseit.com/services/)")
        plugin.socket_connect_timeout = min(self.timeout, 3.0)
        plugin.socket_read_timeout = self.timeout
        plugin.request_rate_per_sec = 0  # the outbox paces deliveries; apprise's own pause would block
        return plugin

    @property
    def plugin(self):
        with self._made:
            if self._plugin is None:
                self._plugin = self._make_plugin()
            return self._plugin

    def send(self, notice: Notice) -> None:
        plugin = self.plugin
        # Lazy: loaded already by the plugin above; named here for its enums.
        import apprise

        title, body = render(notice)
        ok = plugin.notify(body=body, title=title, notify_type=apprise.NotifyType(notice.level),
                           body_format=apprise.NotifyFormat.MARKDOWN)
        if not ok:
            raise ChannelError(f"{plugin.service_name} refused or unreachable")


def url_secrets(url: str) -> list[str]:
    """The parts of a channel URL that may be a credential: the whole URL, its user and password,
    path segments and query values (Slack's three tokens, a bot token, an access_token=...)."""
    parts = urlsplit(url)
    found = [url, unquote(parts.username or ""), unquote(parts.password or ""), parts.netloc]
    found += [unquote(s) for s in parts.path.split("/")]
    found += [v for _, v in parse_qsl(parts.query)]
    return [s for s in found if len(s) >= 8]


def parse_channels(spec: str, timeout: float = 5.0) -> list[Channel]:
    """RESPONDER_NOTIFY_URLS → channels; raises SettingsError (a ValueError) naming a bad filter,
    kind or level (a scheme apprise cannot use fails at its first send: AppriseChannel)."""
    channels = []
    for entry in (e.strip() for e in _ENTRY_START.split(spec.strip()) if e.strip()):
        kinds, level = frozenset(), "info"
        match = _FILTER.match(entry)
        if match:
            for item in (i.strip() for i in match.group(1).split(";") if i.strip()):
                name, _, value = item.partition("=")
                if name.strip() == "kinds":
                    kinds = frozenset(k.strip() for k in value.split("+") if k.strip())
                    unknown = sorted(kinds - set(KINDS))
                    if unknown:
                        raise SettingsError(f"RESPONDER_NOTIFY_URLS: unknown kind(s) {', '.join(unknown)} "
                                         f"(known: {', '.join(KINDS)})")
                elif name.strip() == "level":
                    level = value.strip()
                    if level not in LEVELS:
                        raise SettingsError(f"RESPONDER_NOTIFY_URLS: level must be one of {', '.join(LEVELS)}, "
                                         f"not {level!r}")
                else:
                    raise SettingsError(f"RESPONDER_NOTIFY_URLS: unknown filter {name.strip()!r} "
                                     "(use kinds=a+b;level=warning)")
            entry = entry[match.end():]
        active_redactor().add(url_secrets(entry))
        kind = PlainPostChannel if urlsplit(entry).scheme.lower() in ("http", "https") else AppriseChannel
        channels.append(kind(entry, kinds=kinds, level=level, timeout=timeout))
    return channels


def channels_from_settings(settings) -> list[Channel]:
    """RESPONDER_NOTIFY_URLS, and RESPONDER_NOTIFY_WEBHOOK_URL as one more plain-POST channel
    that hears of finished tasks only (replaced, failed, cap reached, rejected), as it always did."""
    timeout = getattr(settings, "notify_timeout_seconds", 5.0)
    channels = parse_channels(",".join(getattr(settings, "notify_urls", ())), timeout=timeout)
    if settings.notify_webhook_url:  # as before: one POST per finished task, now retried
        active_redactor().add(url_secrets(settings.notify_webhook_url))
        channels.append(PlainPostChannel(settings.notify_webhook_url, kinds=FINISHED_KINDS, timeout=timeout))
    return channels
