"""WSGI entry for gunicorn (FC custom runtime, Dockerfile): `gunicorn responder.wsgi:app`.

Parts: configure_logging (records to stdout, where FC ships them to SLS and a container runtime to
its log driver; the `FC Invoke Start/End RequestId` lines bare, as FC's console reads them), app.

Each worker runs its own background ticker; the store's lease keeps them off the same task.
Without configure_logging the root logger stays at WARNING with no handler of ours: no task log
and no FC line would reach the platform.
"""

import logging
import sys

from responder.logfiles import configure_log_file
from responder.logsafe import install_log_redaction
from responder.settings import Settings
from responder.web import create_app

FC_LOGGER = "responder.fc"
LINE_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def configure_logging(settings: Settings, stream=None) -> None:
    """Idempotent: the root logger gets one stdout handler at RESPONDER_LOG_LEVEL; the FC logger
    writes its lines with no prefix ("FC Invoke Start RequestId: <id>", FC's custom-runtime log
    format) and does not repeat them through the root."""
    install_log_redaction(settings)  # before the first record: every one is masked
    stream = stream or sys.stdout
    level = getattr(logging, settings.log_level, logging.INFO)
    root = logging.getLogger()
    if not any(getattr(h, "_responder", False) for h in root.handlers):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(LINE_FORMAT))
        handler._responder = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    fc = logging.getLogger(FC_LOGGER)
    if not fc.handlers:
        bare = logging.StreamHandler(stream)
        bare.setFormatter(logging.Formatter("%(message)s"))
        bare._responder_bare = True  # type: ignore[attr-defined]
        fc.addHandler(bare)
    fc.setLevel(logging.INFO)
    fc.propagate = False


settings = Settings.from_env()
if settings.log_format == "json":
    from responder.logformat import configure_logging as configure_json_logging

    configure_json_logging(settings)
else:
    configure_logging(settings)
configure_log_file(settings)  # RESPONDER_LOG_DIR: a file a day; an unwritable one stops the start
app = create_app(settings)
if settings.background_ticker:
    app.start_ticker()
