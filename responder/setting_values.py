"""Parsing the values of settings: what each variable may hold, and the one error a bad one raises.

Parts: SettingsError (names the variable), csv, as_bool, selectors (RESPONDER_PROTECT_SELECTORS,
RESPONDER_FLEET_SELECTORS), check_selectors (only the clouds RESPONDER_CLOUDS
lists), api_rates, duration, daily_window (RESPONDER_REVERT_AFTER / _WINDOW), slack_channel,
check_notify (the notification and log-format settings, checked at start), check_churn, check_calm.

settings.py reads the environment and builds Settings from these; they read nothing themselves.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from responder.errors import ConfigurationError


class SettingsError(ConfigurationError):
    """A setting has a value we cannot use; the message names the variable."""


def csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def as_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def selectors(name: str, raw: str) -> tuple[tuple[str, str, str, str], ...]:
    """`name`: comma-separated cloud:region:key=value items (the instances carrying that tag)."""
    found = []
    for item in csv(raw):
        cloud, _, rest = item.partition(":")
        region, _, tag = rest.partition(":")
        key, eq, value = tag.partition("=")
        if cloud.strip() not in ("aliyun", "aws") or not region.strip() or not eq or not key.strip():
            raise SettingsError(f"{name} entries must be cloud:region:key=value with cloud aliyun or aws, "
                                f"not {item!r}")
        found.append((cloud.strip(), region.strip(), key.strip(), value.strip()))
    return tuple(found)


def check_selectors(settings) -> None:
    """A selector of a cloud RESPONDER_CLOUDS leaves out would never be read: said at start."""
    for name, listed in (("RESPONDER_PROTECT_SELECTORS", settings.protect_selectors),
                         ("RESPONDER_FLEET_SELECTORS", settings.fleet_selectors)):
        off = sorted({s[0] for s in listed} - set(settings.clouds))
        if off:
            raise SettingsError(f"{name} names {', '.join(off)}, which RESPONDER_CLOUDS leaves out")


_RATE = re.compile(r"(aliyun|aws|oci):([\w:*.-]+)=(\d+(?:\.\d+)?)(?:\+(\d+(?:\.\d+)?)/s|/(\d+(?:\.\d+)?)s)")


def api_rates(raw: str) -> tuple[tuple[str, str, float, float, bool], ...]:
    """RESPONDER_API_RATES: comma-separated `cloud:name=capacity+refill/s` (a token bucket) or
    `cloud:name=calls/<seconds>s` (calls per window, with ECS's lock-out); name is an API action, a
    class (aws: non_mutating, unfiltered, mutating, resource_intensive; oci: read, write) or `*`."""
    found = []
    for item in csv(raw):
        match = _RATE.fullmatch(item.replace(" ", ""))
        if match is None or float(match.group(3)) <= 0 or float(match.group(4) or match.group(5)) <= 0:
            raise SettingsError("RESPONDER_API_RATES entries must be cloud:name=capacity+refill/s or "
                                "cloud:name=calls/<seconds>s (e.g. aws:CreateImage=50+5/s, aliyun:*=200/60s), "
                                f"not {item!r}")
        cloud, name, a, refill, seconds = match.groups()
        found.append((cloud, name, float(a), float(refill or seconds), seconds is not None))
    return tuple(found)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smh]?)")
_CLOCK = r"([01]\d|2[0-3]):([0-5]\d)"


def duration(name: str, raw: str, default: float) -> float:
    """Seconds, written `1800`, `1800s`, `30m` or `2h`; empty: the default."""
    text = raw.strip().lower()
    if not text:
        return default
    match = _DURATION.fullmatch(text)
    if match is None:
        raise SettingsError(f"{name} must be a duration such as 1800, 30m or 2h, not {raw!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def daily_window(name: str, raw: str) -> tuple[int, ...]:
    """`HH:MM-HH:MM` in UTC as (start, end) minutes of the day; the end is excluded and may be
    earlier than the start (`22:00-06:00` spans midnight). Empty: no window."""
    text = raw.strip()
    if not text:
        return ()
    match = re.fullmatch(_CLOCK + r"\s*-\s*" + _CLOCK, text)
    if match is None or match.group(1, 2) == match.group(3, 4):
        raise SettingsError(f"{name} must be a daily UTC window HH:MM-HH:MM such as 08:00-20:00, not {raw!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return (h1 * 60 + m1, h2 * 60 + m2)


def slack_channel(url: str) -> tuple[str, ...]:
    """SLACK_WEBHOOK_URL (an OCI provisioner's .env) as the apprise channel it is, when
    RESPONDER_NOTIFY_URLS is not set: https://hooks.slack.com/services/T/B/X → slack://T/B/X."""
    url = url.strip()
    if not url:
        return ()
    prefix = "https://hooks.slack.com/services/"
    if not url.startswith(prefix) or url[len(prefix):].count("/") != 2:
        raise SettingsError("SLACK_WEBHOOK_URL must be a Slack incoming webhook "
                            "(https://hooks.slack.com/services/T.../B.../...)")
    return ("slack://" + url[len(prefix):].strip("/"),)


def check_notify(settings) -> None:
    """The notification and log-format settings, checked at start rather than at 07:00."""
    if settings.log_format not in ("text", "json"):
        raise SettingsError(f"RESPONDER_LOG_FORMAT must be text or json, not {settings.log_format!r}")
    if settings.notify_daily_at != "off" and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", settings.notify_daily_at):
        raise SettingsError(f"RESPONDER_NOTIFY_DAILY_AT must be HH:MM (24 h) or off, not {settings.notify_daily_at!r}")
    try:
        ZoneInfo(settings.notify_daily_timezone)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise SettingsError("RESPONDER_NOTIFY_DAILY_TIMEZONE must be an IANA time zone such as Asia/Seoul, "
                            f"not {settings.notify_daily_timezone!r}") from None
    if settings.notify_timeout_seconds <= 0:
        raise SettingsError("RESPONDER_NOTIFY_TIMEOUT_SECONDS must be positive")


def check_churn(settings) -> None:
    """The churn guard's settings (replace/churn.py): counts and hours that cannot be negative."""
    for name, value in (("RECLAIMS", settings.churn_reclaims), ("ON_DEMAND_AFTER", settings.churn_on_demand_after),
                        ("DEMOTE_HOURS", settings.churn_demote_hours)):
        if value < 0:
            raise SettingsError(f"RESPONDER_CHURN_{name} must be >= 0 (0 turns it off), not {value}")
    if settings.churn_window_hours <= 0:
        raise SettingsError(f"RESPONDER_CHURN_WINDOW_HOURS must be positive, not {settings.churn_window_hours}")


def check_calm(settings, bands: tuple[str, ...]) -> None:
    """The planned moves' settings (revert/calm.py): a band above the lowest (every pool is at or
    above the lowest), a positive window."""
    if settings.calm_band not in bands[1:]:
        raise SettingsError(f"RESPONDER_CALM_BAND must be one of {', '.join(bands[1:])}, not {settings.calm_band!r}")
    if settings.calm_window_hours <= 0:
        raise SettingsError(f"RESPONDER_CALM_WINDOW_HOURS must be positive, not {settings.calm_window_hours}")
