"""Dated log files: with RESPONDER_LOG_DIR set, every record also goes to one file a day.

Parts: DatedFileHandler (the standard library's TimedRotatingFileHandler, rolling at local
midnight, that writes `responder-YYYY-MM-DD.log` from the start of each day and keeps
RESPONDER_LOG_KEEP_DAYS of them), configure_log_file (installs it on the root logger with the
console's format and context filter, replacing an earlier one), LogDirUnwritable.

Records reach the file already masked: logsafe's redaction is installed on every record as it is
made (before any handler sees it), and the JSON formatter masks its fields once more.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from logging.handlers import TimedRotatingFileHandler

from responder.logformat import TEXT_FORMAT, ContextFilter, JsonFormatter
from responder.settings import Settings, SettingsError

PREFIX = "responder-"


class LogDirUnwritable(SettingsError):
    """RESPONDER_LOG_DIR cannot be created or written: the start stops, naming the variable."""


class DatedFileHandler(TimedRotatingFileHandler):
    """The file of the day is named by its date from its first line (`logs/YYYY-MM-DD.log`, as the
    old cron script wrote), instead of `responder.log` renamed at midnight: the file for a day
    is where one looks for it, even while that day is still running."""

    def __init__(self, directory: str, keep_days: int):
        self.directory = directory
        now = time.time()
        super().__init__(self._path(now), when="midnight", backupCount=keep_days, encoding="utf-8")
        # The file is named for today: it ends at the next midnight (the stdlib would count from the
        # file's mtime, the same day here, but not when a clock is given to tests).
        self.rolloverAt = self.computeRollover(int(now))
        self._prune()  # a command run from cron never lives to midnight: prune at start too

    def _prune(self) -> None:
        for old in self.getFilesToDelete():
            try:
                os.remove(old)
            except OSError:  # another process pruned it first
                pass

    def _path(self, now: float) -> str:
        return os.path.join(self.directory, f"{PREFIX}{time.strftime('%Y-%m-%d', time.localtime(now))}.log")

    def doRollover(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]
        now = time.time()
        self.baseFilename = os.path.abspath(self._path(now))
        self._prune()
        self.rolloverAt = self.computeRollover(int(now))
        self.stream = self._open()

    def getFilesToDelete(self) -> list[str]:
        dated = sorted(glob.glob(os.path.join(self.directory, f"{PREFIX}[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].log")))
        dated = [p for p in dated if os.path.abspath(p) != self.baseFilename]
        keep = max(self.backupCount - 1, 0)  # today's file counts among the days kept
        return dated[:len(dated) - keep] if len(dated) > keep else []


def _formatter(settings: Settings) -> logging.Formatter:

    return JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_log_file(settings: Settings) -> logging.Handler | None:
    """Add (or replace) the dated file handler on the root logger; None without RESPONDER_LOG_DIR.
    Raises LogDirUnwritable naming the variable when the directory cannot be written."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_responder_file", False)]:
        root.removeHandler(old)
        old.close()
    if not settings.log_dir:
        return None
    try:
        os.makedirs(settings.log_dir, exist_ok=True)
        handler = DatedFileHandler(settings.log_dir, settings.log_keep_days)
    except OSError as exc:
        raise LogDirUnwritable(f"RESPONDER_LOG_DIR {settings.log_dir!r} cannot be written: "
                               f"{exc.strerror or exc.__class__.__name__}") from None
    handler.addFilter(ContextFilter())
    handler.setFormatter(_formatter(settings))
    handler._responder_file = True  # type: ignore[attr-defined]
    if not root.handlers:
        # A command that set up no console logging: the file gets RESPONDER_LOG_LEVEL, and stderr
        # keeps what it showed before (logging's last resort, warnings and above, bare).
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        root.addHandler(console)
        root.setLevel(getattr(logging, settings.log_level, logging.INFO))
    root.addHandler(handler)
    return handler
