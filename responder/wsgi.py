"""WSGI entry for gunicorn (FC custom runtime, Dockerfile): `gunicorn responder.wsgi:app`.

Parts: app, with logging set up first (logformat.configure_server_logging: records to stdout, where
FC ships them to SLS and a container runtime to its log driver; the `FC Invoke Start/End RequestId`
lines bare, as FC's console reads them), then a warning for each RESPONDER_* variable that is no
setting; imported and built with the cyclic collector paused and asyncio / importlib.metadata
loaded at their first use (responder/start_cost.py).

Each worker runs its own background ticker; the store's lease keeps them off the same task.
Without that set-up the root logger stays at WARNING with no handler of ours: no task log
and no FC line would reach the platform.
"""

import logging
import os
import sys

from responder.start_cost import collector_paused, defer_unused_stdlib


def keep_fc_lines_bare(stream=None) -> None:
    """FC finds an invocation's log by the bare `FC Invoke Start RequestId: …` / `FC Invoke End
    RequestId: …` lines on stdout (Function Compute, custom runtime "log format"): with JSON logs
    they are written so as well, and stay JSON records too (with their request id)."""
    from responder.logformat import FC_LOGGER  # lazy: the app's modules load with the collector paused (below)

    fc = logging.getLogger(FC_LOGGER)
    if not any(getattr(h, "_responder_bare", False) for h in fc.handlers):
        bare = logging.StreamHandler(stream or sys.stdout)
        bare.setFormatter(logging.Formatter("%(message)s"))
        bare._responder_bare = True  # type: ignore[attr-defined]
        fc.addHandler(bare)
    fc.setLevel(logging.INFO)


def _serving_app():
    """Logging set up first, each unknown RESPONDER_* name warned about, then the app (and its
    ticker when the settings ask for one)."""
    # Lazy: the app's modules are imported here, with the collector paused (responder/start_cost.py).
    from responder.logfiles import configure_log_file
    from responder.logformat import configure_logging as configure_json_logging
    from responder.logformat import configure_server_logging

    # Lazy: as above.
    from responder.setting_names import unknown_settings
    from responder.settings import Settings
    from responder.web import create_app

    settings = Settings.from_env()
    if settings.log_format == "json":
        configure_json_logging(settings)
        keep_fc_lines_bare()
    else:
        configure_server_logging(settings)
    configure_log_file(settings)  # RESPONDER_LOG_DIR: a file a day; an unwritable one stops the start
    for line in unknown_settings():  # a misspelt setting is named, not silently ignored
        logging.getLogger("responder.settings").warning(line)
    built = create_app(settings)
    # gunicorn.conf.py's threads: once that many requests wait for company, none other can come.
    built.extensions["responder"]["runner"].verify_company = int(os.environ.get("GUNICORN_THREADS", "0") or 0)
    if settings.background_ticker:
        built.start_ticker()
    return built


with collector_paused():  # responder/start_cost.py: the import's objects are never garbage
    defer_unused_stdlib()  # asyncio and importlib.metadata, which SQLAlchemy imports and the store never calls
    app = _serving_app()
