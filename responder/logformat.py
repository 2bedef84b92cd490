"""How log lines look: plain text (the default) or one JSON object per line
(RESPONDER_LOG_FORMAT=json), each carrying the task id, instance id and request id in scope.

Parts: log_context (binds task_id / instance_id / request_id for the code inside it, per thread
and per request), ContextFilter (copies them onto each record), JsonFormatter, configure_logging
(installs logsafe's redaction first, then one stderr handler), TEXT_FORMAT, configure_server_logging
(the WSGI entry's text set-up: stdout, the FC Invoke lines bare).

Redaction happens before formatting: install_log_redaction masks every record as it is made, and
JsonFormatter masks the rendered fields once more with the active redactor, so a value bound in
the context (a request id is caller-chosen) cannot carry a secret either.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Iterator

from responder.logsafe import active_redactor, install_log_redaction

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LINE_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"  # the server's stdout lines
FC_LOGGER = "responder.fc"  # the FC Invoke Start/End lines
CONTEXT_FIELDS = ("task_id", "instance_id", "request_id")
_context: dict[str, contextvars.ContextVar] = {name: contextvars.ContextVar(name, default=None)
                                               for name in CONTEXT_FIELDS}


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Bind context fields (only CONTEXT_FIELDS) for the log records made inside the block."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in fields.items() if name in _context]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**fields: str | None):
    """Bind context fields until the returned function is called (a request's before / teardown
    hooks: a worker thread serves many requests, and one's id must not stay on the next's lines)."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in fields.items() if name in _context]

    def unbind() -> None:
        for var, token in reversed(tokens):
            var.reset(token)

    return unbind


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        redact = active_redactor().redact
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            line[name] = redact(str(value)) if value is not None else None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = redact(record.exc_text)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(settings, level: str | None = None, stream=None) -> logging.Handler:
    """Redaction first (every record is masked from then on), then one handler on the root
    logger in the format settings.log_format names; replaces handlers an earlier call added."""
    install_log_redaction(settings)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler._responder = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_responder", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, (level or settings.log_level).upper(), logging.INFO))
    # The FC Invoke lines are ordinary records here (in JSON they carry their request id): undo
    # the bare stdout handler configure_server_logging gives them, if it ran before.
    fc = logging.getLogger(FC_LOGGER)
    for old in [h for h in fc.handlers if getattr(h, "_responder_bare", False)]:
        fc.removeHandler(old)
    fc.propagate = True
    return handler



def configure_server_logging(settings, stream=None) -> None:
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
