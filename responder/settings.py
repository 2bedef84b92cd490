"""Typed settings from the environment (and a .env file via python-dotenv); with setting_names.py
(which looks for misspelt names), the only module that reads os.environ.

Parts: Settings (frozen, validated, secrets and the database password redacted in repr),
SettingsError (from setting_values.py, where each value's form is parsed), MARKET_POLICIES,
REBALANCE_POLICIES, AWS_ACTIONS, ALIYUN_ACTIONS. Misspelt RESPONDER_* names: setting_names.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Mapping
from urllib.parse import urlsplit

from responder.logsafe import redact_url
from responder.setting_values import (SettingsError, api_rates, as_bool, check_calm, check_churn, check_notify,
                                      check_selectors, csv, daily_window, duration, selectors, slack_channel)
from responder.store_url import url_problem

# Where AWS publishes the Spot Instance Advisor's data (a public document, not a signed API).
ADVISOR_URL = "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
# The Advisor's interruption bands, lowest first: the one scale clouds/spot_bands.py reads every cloud onto.
SPOT_BANDS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")

MARKET_POLICIES = ("spot-then-ondemand", "spot-only", "ondemand")
REBALANCE_POLICIES = ("image-only", "replace", "ignore")
AWS_ACTIONS = ("launch", "reserve", "both")
ALIYUN_ACTIONS = ("replace", "reserve", "both")  # `replace` is AWS's `launch`
LAUNCH_FROM = ("auto", "fresh-image", "source-image", "latest-image")
STATE_SWAP = ("swap", "keep")
SECRET_FIELDS = {"auth_token", "aliyun_access_key_secret", "aliyun_security_token", "aws_secret_access_key",
                 "aws_session_token", "oci_key_passphrase"}
KNOWN_CLOUDS = ("aliyun", "aws", "oci")


def load_env_file() -> None:
    """The working directory's .env (where the command runs), not one found from this file's
    location upward, which only works from a source checkout; variables already set win."""
    path = os.path.join(os.getcwd(), ".env")
    if os.path.isfile(path):
        # Lazy: python-dotenv loads only where there is a .env to read; no platform's start has one.
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///responder.db"
    auth_token: str = ""  # when set, callers must send it (Authorization: Bearer / X-Responder-Token; never a query)
    market_policy: str = "spot-then-ondemand"
    # A recommendation is not a notice (many are false alarms): take an image, so the real notice
    # launches from a ready image. `replace` launches at once and retires the original.
    rebalance_policy: str = "image-only"
    rebalance_retire: bool = True  # `replace`: terminate the original once the replacement runs
    rebalance_retire_delay_seconds: float = 60.0  # ...this long after it is Running (drain time)
    aws_action: str = "launch"  # launch a replacement, reserve capacity (ODCR), or both
    aliyun_action: str = "replace"  # launch a replacement, reserve capacity (a private pool), or both
    allowed_accounts: tuple[str, ...] = ()
    allowed_regions: tuple[str, ...] = ()
    tag_selector: tuple[tuple[str, str], ...] = ()  # the instance must carry every key=value
    dry_run: bool = False
    max_body_bytes: int = 256 * 1024
    max_launches_per_hour: int = 100  # a money cap: spends (launches, fallbacks, reservations) per hour
    max_spend_per_event: int = 2  # spends one interruption may make (AWS `both`: a launch and a reservation)
    # Data first: a task whose launch the cap will refuse still takes its image (ends "capped: imaged
    # only, no launch"). False: the launch's cap unit is taken before the image, and a refused task makes none.
    image_when_capped: bool = True
    max_transient_retries: int = 12  # consecutive server faults before a task that holds nothing fails
    # A task that holds nothing yet (no image, no replacement) is retried at most this long after
    # receipt; one that holds something follows its own release time and disk sizes (replace/deadline.py).
    retry_deadline_seconds: float = 1800.0
    api_budget: bool = True  # pace every cloud call through the client-side API budget (capacity/budget.py)
    # Each cloud's documented (or chosen) API limits, overridden: (cloud, name, a, b, window?) from
    # RESPONDER_API_RATES `aws:CreateImage=50+5/s` (capacity + refill per second) or `aliyun:*=200/60s`.
    api_rates: tuple[tuple[str, str, float, float, bool], ...] = ()
    launch_retry_seconds: float = 300.0  # keep trying sold-out candidates this long before failing
    image_timeout_seconds: float = 3600.0
    lease_seconds: float = 60.0
    # Rejected tasks (forged, stale or unverifiable events): kept this long for the status page and
    # the daily report, and never more than this many (the oldest go first), so a flood of forged
    # events leaves a bounded table. At least an hour: the row is also the remembered verdict.
    rejected_keep_hours: float = 24.0
    rejected_keep_rows: int = 2000
    tick_interval: float = 1.0
    tick_workers: int = 8  # due tasks advanced in parallel per tick: a burst's polls and retries overlap
    background_ticker: bool = True
    notify_webhook_url: str = ""
    log_level: str = "INFO"
    port: int = 9000
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = ""
    aliyun_security_token: str = ""
    aliyun_endpoint: str = ""  # host:port override (the sandbox)
    aws_endpoint_url: str = ""  # endpoint override (the sandbox)
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""
    aws_session_token: str = ""
    sdk_debug: bool = False  # let botocore / aliyunsdkcore DEBUG records through (still redacted)
    extra: dict = field(default_factory=dict, compare=False)
    max_odcr_count: int = 100  # largest --count `responder odcr create/expand` accepts
    notify_urls: tuple[str, ...] = ()  # apprise URLs (or https:// plain POSTs), each with an optional {filter}
    notify_timeout_seconds: float = 5.0  # per channel send
    notify_daily_at: str = "07:00"  # local time of the daily report, or "off"
    notify_daily_timezone: str = "Asia/Seoul"
    log_format: str = "text"  # or "json": one JSON object per line
    max_target_count: int = 1000  # largest count a capacity target may ask for
    targets_interval_seconds: float = 300.0  # a target is reconciled at most this often
    follow_interval_seconds: float = 15.0  # a followed table (targets import --follow) is read at most this often
    targets_tick_budget_seconds: float = 20.0  # time one tick may spend on targets
    target_gap_alert_seconds: float = 3600.0  # a gap this old is notified (once per gap)
    hunt_min_interval_seconds: float = 60.0  # an OCI target is never read or launched for more often than this
    oci_relaunch_preempted: bool = True  # a preempted OCI instance no target owns is relaunched by a one-shot target
    log_dir: str = ""  # when set: one log file a day in this directory, beside stderr
    stats_file: str = ""  # when set: the targets' hunt statistics written here on every tick (the OCI tool's stats.json)
    log_keep_days: int = 14  # dated log files kept
    database_secret: str = ""  # [aws:|aliyun:][region:]name of a secret holding the store's credentials
    notify_secret: str = ""  # [aws:|aliyun:][region:]name of a secret holding RESPONDER_NOTIFY_URLS' value
    # The clouds this deployment serves: one without credentials is reported (healthz degraded,
    # start-up log); events of a cloud without credentials, or not listed, answer `unconfigured`.
    clouds: tuple[str, ...] = ("aliyun", "aws")
    # Lambda: a SQLite store is per container (and /var/task is read-only); refused unless intended.
    allow_local_sqlite: bool = False
    # A second port for /invoke (the container: 9001, unpublished); 0 serves it on the main port (FC).
    invoke_port: int = 0
    launch_from: str = "auto"  # fresh-image | source-image | latest-image | auto (replace/race.py)
    # swap: a replacement launched from an older image gets the fresh image's root disk once it is
    # Available (replace/swap.py); keep: it keeps the older root disk, the fresh image is left to the owner
    state_swap: str = "swap"
    protect_on_receipt: bool = True  # keep the disks (DeleteWithInstance=false) right after verification
    keep_public_ip: bool = False  # Aliyun: convert the original's public IP to an EIP and move it
    keep_private_ip: bool = False  # the original's private IP, as a secondary address of the replacement
    # Back to spot (responder/revert/): a replacement on on-demand, or on another type than the
    # original's, is moved back to spot on the original type once stock returns, this long after it
    # ran, never starting inside the daily UTC window (start, end) in minutes (() = no window).
    revert: bool = True
    revert_after_seconds: float = 1800.0
    revert_window: tuple[int, ...] = ()
    # The interruption bands the clouds publish (clouds/spot_bands.py): among spot candidates of one
    # rank, a calmer pool first; the AWS Spot Instance Advisor's document is read from the URL.
    spot_bands: bool = True
    spot_advisor_url: str = ADVISOR_URL
    # Planned moves (revert/calm.py): a spot instance of ours in a pool at or above this published band
    # moves to a calmer pool of its type, at most once per window (docs/churn.md "Planned moves").
    calm_moves: bool = True
    calm_band: str = ">20%"
    calm_window_hours: float = 168.0
    # The fleet's own instances planned moves judge too (revert/fleet.py): (cloud, region, key, value).
    fleet_selectors: tuple[tuple[str, str, str, str], ...] = ()
    launch_running_seconds: float = 180.0  # `auto`: a launch to Running, believed until observed (build_times.py)
    # The churn guard (replace/churn.py): a pool that reclaimed us on N occasions within the window is
    # demoted for a while; an instance's chain reclaimed this often in the window goes on-demand first (0: never).
    churn_reclaims: int = 3
    churn_window_hours: float = 168.0
    churn_demote_hours: float = 48.0
    churn_on_demand_after: int = 4
    invoke_drive_seconds: float = 0.0  # /invoke works tasks this long after answering (0: FC's timeout header)
    # Protect ahead on every tick (responder/protect/tick.py): (cloud, region, key, value) selectors.
    protect_selectors: tuple[tuple[str, str, str, str], ...] = ()
    protect_period_seconds: float = 86400.0  # one image per instance and period
    protect_keep: int = 2  # protect images kept per instance
    protect_tick_budget_seconds: float = 20.0  # time one tick may spend on the protect pass
    # OCI, read under the names an OCI provisioner's .env already uses (OCI_USER_OCID, ...).
    oci_user: str = ""
    oci_fingerprint: str = ""
    oci_tenancy: str = ""
    oci_region: str = ""
    oci_key_file: str = ""  # path of the API signing key (PEM)
    oci_key_passphrase: str = ""
    oci_compartment: str = ""  # "" = the tenancy (the root compartment)
    oci_endpoint: str = ""  # base URL replacing every OCI service endpoint (the sandbox)

    def __post_init__(self):
        problem = url_problem(self.database_url)
        if problem:
            raise SettingsError(f"RESPONDER_DATABASE_URL {problem}")
        if self.market_policy not in MARKET_POLICIES:
            raise SettingsError(f"RESPONDER_MARKET_POLICY must be one of {', '.join(MARKET_POLICIES)}, "
                                f"not {self.market_policy!r}")
        if self.rebalance_policy not in REBALANCE_POLICIES:
            raise SettingsError(f"RESPONDER_REBALANCE_POLICY must be one of {', '.join(REBALANCE_POLICIES)}, "
                                f"not {self.rebalance_policy!r}")
        if self.aws_action not in AWS_ACTIONS:
            raise SettingsError(f"RESPONDER_AWS_ACTION must be one of {', '.join(AWS_ACTIONS)}, not {self.aws_action!r}")
        if self.aliyun_action not in ALIYUN_ACTIONS:
            raise SettingsError(f"RESPONDER_ALIYUN_ACTION must be one of {', '.join(ALIYUN_ACTIONS)}, "
                                f"not {self.aliyun_action!r}")
        if self.max_body_bytes <= 0:
            raise SettingsError("RESPONDER_MAX_BODY_BYTES must be positive")
        if self.max_spend_per_event < 0:
            raise SettingsError(f"RESPONDER_MAX_SPEND_PER_EVENT must be >= 0, not {self.max_spend_per_event}")
        if self.tick_workers < 1:
            raise SettingsError(f"RESPONDER_TICK_WORKERS must be >= 1, not {self.tick_workers}")
        if self.state_swap not in STATE_SWAP:
            raise SettingsError(f"RESPONDER_STATE_SWAP must be one of {', '.join(STATE_SWAP)}, not {self.state_swap!r}")
        if self.launch_from not in LAUNCH_FROM:
            raise SettingsError(f"RESPONDER_LAUNCH_FROM must be one of {', '.join(LAUNCH_FROM)}, not {self.launch_from!r}")
        if self.max_odcr_count < 1:
            raise SettingsError(f"RESPONDER_MAX_ODCR_COUNT must be >= 1, not {self.max_odcr_count}")
        check_notify(self)
        check_churn(self)
        check_calm(self, SPOT_BANDS)
        if self.max_target_count < 1:
            raise SettingsError(f"RESPONDER_MAX_TARGET_COUNT must be >= 1, not {self.max_target_count}")
        if self.hunt_min_interval_seconds < 0:
            raise SettingsError(f"RESPONDER_HUNT_MIN_INTERVAL_SECONDS must be >= 0, not {self.hunt_min_interval_seconds}")
        if self.rejected_keep_hours < 1:
            raise SettingsError(f"RESPONDER_REJECTED_KEEP_HOURS must be >= 1, not {self.rejected_keep_hours}")
        if self.rejected_keep_rows < 1:
            raise SettingsError(f"RESPONDER_REJECTED_KEEP_ROWS must be >= 1, not {self.rejected_keep_rows}")
        if self.log_keep_days < 1:
            raise SettingsError(f"RESPONDER_LOG_KEEP_DAYS must be >= 1, not {self.log_keep_days}")
        unknown = [c for c in self.clouds if c not in KNOWN_CLOUDS]
        if unknown or not self.clouds:
            raise SettingsError(f"RESPONDER_CLOUDS must list some of {', '.join(KNOWN_CLOUDS)}, "
                                f"not {','.join(self.clouds)!r}")
        if not self.oci_compartment and self.oci_tenancy:
            object.__setattr__(self, "oci_compartment", self.oci_tenancy)
        if self.protect_period_seconds < 60:
            raise SettingsError(f"RESPONDER_PROTECT_PERIOD_SECONDS must be >= 60, not {self.protect_period_seconds}")
        if not 1 <= self.protect_keep <= 20:
            raise SettingsError(f"RESPONDER_PROTECT_KEEP must be 1 to 20, not {self.protect_keep}")
        check_selectors(self)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            elif f.name == "database_url":
                value = redact_url(value)
            elif f.name == "notify_webhook_url" and value:  # Slack / DingTalk URLs embed their token
                value = f"{urlsplit(value).scheme}://{urlsplit(value).hostname}/***"
            elif f.name == "notify_urls" and value:  # so do apprise URLs: show only how many
                value = f"{len(value)} URL(s) ***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: bool = True) -> "Settings":
        """Build settings from RESPONDER_* variables; FC's and the SDKs' own credential variables are
        read as they name them (FC injects the function role's STS token as ALIBABA_CLOUD_*)."""
        if environ is None:
            if dotenv:
                load_env_file()
            environ = os.environ
        env = environ

        def get(name: str, default: str = "") -> str:
            return env.get(name, default)

        def either(name: str, alias: str) -> str:
            """Our name, else the name an earlier FC responder's .env gives the same value
            (aliyunRegionID, aliyunAccessKeyID, aliyunAccessKeySecret); ours wins when both are set."""
            return env.get(name) or env.get(alias, "")

        def number(name: str, default, kind=float):
            raw = get(name)
            if raw == "":
                return default
            try:
                return kind(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number, not {raw!r}") from None

        selector = []
        for item in csv(get("RESPONDER_TAG_SELECTOR")):
            if "=" not in item:
                raise SettingsError(f"RESPONDER_TAG_SELECTOR entries must be key=value, not {item!r}")
            key, _, value = item.partition("=")
            selector.append((key.strip(), value.strip()))
        return cls(
            database_url=get("RESPONDER_DATABASE_URL", cls.database_url),
            auth_token=get("RESPONDER_AUTH_TOKEN"),
            market_policy=get("RESPONDER_MARKET_POLICY", cls.market_policy),
            rebalance_policy=get("RESPONDER_REBALANCE_POLICY", cls.rebalance_policy),
            aws_action=get("RESPONDER_AWS_ACTION", cls.aws_action),
            aliyun_action=get("RESPONDER_ALIYUN_ACTION", cls.aliyun_action),
            allowed_accounts=csv(get("RESPONDER_ALLOWED_ACCOUNTS")),
            allowed_regions=csv(either("RESPONDER_ALLOWED_REGIONS", "aliyunRegionID")),
            tag_selector=tuple(selector),
            dry_run=as_bool("RESPONDER_DRY_RUN", get("RESPONDER_DRY_RUN", "false")),
            max_body_bytes=number("RESPONDER_MAX_BODY_BYTES", cls.max_body_bytes, int),
            max_launches_per_hour=number("RESPONDER_MAX_LAUNCHES_PER_HOUR", cls.max_launches_per_hour, int),
            max_spend_per_event=number("RESPONDER_MAX_SPEND_PER_EVENT", cls.max_spend_per_event, int),
            image_when_capped=as_bool("RESPONDER_IMAGE_WHEN_CAPPED", get("RESPONDER_IMAGE_WHEN_CAPPED", "yes")),
            max_transient_retries=number("RESPONDER_MAX_TRANSIENT_RETRIES", cls.max_transient_retries, int),
            retry_deadline_seconds=number("RESPONDER_RETRY_DEADLINE_SECONDS", cls.retry_deadline_seconds),
            api_budget=as_bool("RESPONDER_API_BUDGET", get("RESPONDER_API_BUDGET", "true")),
            api_rates=api_rates(get("RESPONDER_API_RATES")),
            rebalance_retire=as_bool("RESPONDER_REBALANCE_RETIRE", get("RESPONDER_REBALANCE_RETIRE", "true")),
            rebalance_retire_delay_seconds=number("RESPONDER_REBALANCE_RETIRE_DELAY_SECONDS",
                                                  cls.rebalance_retire_delay_seconds),
            launch_retry_seconds=number("RESPONDER_LAUNCH_RETRY_SECONDS", cls.launch_retry_seconds),
            image_timeout_seconds=number("RESPONDER_IMAGE_TIMEOUT_SECONDS", cls.image_timeout_seconds),
            lease_seconds=number("RESPONDER_LEASE_SECONDS", cls.lease_seconds),
            rejected_keep_hours=number("RESPONDER_REJECTED_KEEP_HOURS", cls.rejected_keep_hours),
            rejected_keep_rows=number("RESPONDER_REJECTED_KEEP_ROWS", cls.rejected_keep_rows, int),
            tick_interval=number("RESPONDER_TICK_INTERVAL", cls.tick_interval),
            tick_workers=number("RESPONDER_TICK_WORKERS", cls.tick_workers, int),
            background_ticker=as_bool("RESPONDER_BACKGROUND_TICKER", get("RESPONDER_BACKGROUND_TICKER", "true")),
            notify_webhook_url=get("RESPONDER_NOTIFY_WEBHOOK_URL"),
            log_level=get("RESPONDER_LOG_LEVEL", cls.log_level).upper(),
            port=number("FC_SERVER_PORT", cls.port, int),
            aliyun_access_key_id=either("ALIBABA_CLOUD_ACCESS_KEY_ID", "aliyunAccessKeyID"),
            aliyun_access_key_secret=either("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "aliyunAccessKeySecret"),
            aliyun_security_token=get("ALIBABA_CLOUD_SECURITY_TOKEN"),
            aliyun_endpoint=get("RESPONDER_ALIYUN_ENDPOINT"),
            aws_endpoint_url=get("RESPONDER_AWS_ENDPOINT_URL"),
            aws_access_key_id=get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=get("AWS_SESSION_TOKEN"),
            max_odcr_count=number("RESPONDER_MAX_ODCR_COUNT", cls.max_odcr_count, int),
            sdk_debug=as_bool("RESPONDER_SDK_DEBUG", get("RESPONDER_SDK_DEBUG", "false")),
            # Kept whole: the channels module splits entries (an e-mail URL's to=a,b has commas).
            notify_urls=(get("RESPONDER_NOTIFY_URLS"),) if get("RESPONDER_NOTIFY_URLS").strip()
            else slack_channel(get("SLACK_WEBHOOK_URL")),
            notify_timeout_seconds=number("RESPONDER_NOTIFY_TIMEOUT_SECONDS", cls.notify_timeout_seconds),
            notify_daily_at=get("RESPONDER_NOTIFY_DAILY_AT", cls.notify_daily_at),
            notify_daily_timezone=get("RESPONDER_NOTIFY_DAILY_TIMEZONE", cls.notify_daily_timezone),
            log_format=get("RESPONDER_LOG_FORMAT", cls.log_format).lower(),
            max_target_count=number("RESPONDER_MAX_TARGET_COUNT", cls.max_target_count, int),
            targets_interval_seconds=number("RESPONDER_TARGETS_INTERVAL_SECONDS", cls.targets_interval_seconds),
            follow_interval_seconds=number("RESPONDER_FOLLOW_INTERVAL_SECONDS", cls.follow_interval_seconds),
            targets_tick_budget_seconds=number("RESPONDER_TARGETS_TICK_BUDGET_SECONDS",
                                               cls.targets_tick_budget_seconds),
            target_gap_alert_seconds=number("RESPONDER_TARGET_GAP_ALERT_SECONDS", cls.target_gap_alert_seconds),
            hunt_min_interval_seconds=number("RESPONDER_HUNT_MIN_INTERVAL_SECONDS", cls.hunt_min_interval_seconds),
            oci_relaunch_preempted=as_bool("RESPONDER_OCI_RELAUNCH_PREEMPTED",
                                         get("RESPONDER_OCI_RELAUNCH_PREEMPTED", "true")),
            log_dir=_log_dir(get("RESPONDER_LOG_DIR"), bool(get(OLD_OCI_ENV_MARK))),
            stats_file=get("RESPONDER_STATS_FILE"),
            log_keep_days=number("RESPONDER_LOG_KEEP_DAYS", cls.log_keep_days, int),
            database_secret=get("RESPONDER_DATABASE_SECRET"),
            notify_secret=get("RESPONDER_NOTIFY_SECRET"),
            clouds=_clouds(get("RESPONDER_CLOUDS"), bool(get("OCI_USER_OCID"))),
            invoke_port=number("RESPONDER_INVOKE_PORT", cls.invoke_port, int),
            allow_local_sqlite=as_bool("RESPONDER_ALLOW_LOCAL_SQLITE", get("RESPONDER_ALLOW_LOCAL_SQLITE", "false")),
            launch_from=get("RESPONDER_LAUNCH_FROM", cls.launch_from),
            state_swap=get("RESPONDER_STATE_SWAP", cls.state_swap),
            protect_on_receipt=as_bool("RESPONDER_PROTECT_ON_RECEIPT", get("RESPONDER_PROTECT_ON_RECEIPT", "true")),
            keep_public_ip=as_bool("RESPONDER_KEEP_PUBLIC_IP", get("RESPONDER_KEEP_PUBLIC_IP", "false")),
            keep_private_ip=as_bool("RESPONDER_KEEP_PRIVATE_IP", get("RESPONDER_KEEP_PRIVATE_IP", "false")),
            revert=as_bool("RESPONDER_REVERT", get("RESPONDER_REVERT", "on")),
            revert_after_seconds=duration("RESPONDER_REVERT_AFTER", get("RESPONDER_REVERT_AFTER"),
                                          cls.revert_after_seconds),
            revert_window=daily_window("RESPONDER_REVERT_WINDOW", get("RESPONDER_REVERT_WINDOW")),
            spot_bands=as_bool("RESPONDER_SPOT_BANDS", get("RESPONDER_SPOT_BANDS", "on")),
            spot_advisor_url=get("RESPONDER_SPOT_ADVISOR_URL", ADVISOR_URL),
            calm_moves=as_bool("RESPONDER_CALM_MOVES", get("RESPONDER_CALM_MOVES", "on")),
            calm_band=get("RESPONDER_CALM_BAND", cls.calm_band),
            calm_window_hours=number("RESPONDER_CALM_WINDOW_HOURS", cls.calm_window_hours),
            fleet_selectors=selectors("RESPONDER_FLEET_SELECTORS", get("RESPONDER_FLEET_SELECTORS")),
            launch_running_seconds=number("RESPONDER_LAUNCH_RUNNING_SECONDS", cls.launch_running_seconds),
            churn_reclaims=number("RESPONDER_CHURN_RECLAIMS", cls.churn_reclaims, int),
            churn_window_hours=number("RESPONDER_CHURN_WINDOW_HOURS", cls.churn_window_hours),
            churn_demote_hours=number("RESPONDER_CHURN_DEMOTE_HOURS", cls.churn_demote_hours),
            churn_on_demand_after=number("RESPONDER_CHURN_ON_DEMAND_AFTER", cls.churn_on_demand_after, int),
            invoke_drive_seconds=number("RESPONDER_INVOKE_DRIVE_SECONDS", cls.invoke_drive_seconds),
            protect_selectors=selectors("RESPONDER_PROTECT_SELECTORS", get("RESPONDER_PROTECT_SELECTORS")),
            protect_period_seconds=number("RESPONDER_PROTECT_PERIOD_SECONDS", cls.protect_period_seconds),
            protect_keep=number("RESPONDER_PROTECT_KEEP", cls.protect_keep, int),
            protect_tick_budget_seconds=number("RESPONDER_PROTECT_TICK_BUDGET_SECONDS",
                                               cls.protect_tick_budget_seconds),
            oci_user=get("OCI_USER_OCID"),
            oci_fingerprint=get("OCI_FINGERPRINT"),
            oci_tenancy=get("OCI_TENANCY_OCID"),
            oci_region=get("OCI_REGION"),
            oci_key_file=get("OCI_KEY_FILE"),
            oci_key_passphrase=get("OCI_KEY_PASSPHRASE"),
            oci_compartment=get("OCI_COMPARTMENT_OCID"),
            oci_endpoint=get("RESPONDER_OCI_ENDPOINT"),
        )


def _clouds(listed: str, oci_env: bool) -> tuple[str, ...]:
    """RESPONDER_CLOUDS, or the default: aliyun and aws, plus oci when an OCI provisioner's .env is
    loaded (OCI_USER_OCID set), so that .env works unchanged. oci is not in the plain default: every
    existing Aliyun / AWS deployment would report `degraded` for a cloud it never meant to serve."""
    if listed.strip():
        return csv(listed)
    return Settings.clouds + (("oci",) if oci_env else ())


# A variable only the OCI A1 provisioner's .env has: where it is read, that tool's logs/ is the default.
OLD_OCI_ENV_MARK = "A1_DISPLAY_NAME"


def _log_dir(value: str, old_oci_env: bool) -> str:
    """RESPONDER_LOG_DIR; unset where the OCI A1 provisioner's .env is read (its A1_DISPLAY_NAME: the
    directory its targets were imported from, where the import tells cron to run), `logs` as that
    tool wrote (`logs/YYYY-MM-DD.log`); `off` for none."""
    if value.strip().lower() == "off":
        return ""
    return value or ("logs" if old_oci_env else "")
