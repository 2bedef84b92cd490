"""Progress on stderr for the commands that can take more than a few seconds.

Parts: progress (a context manager that yields `say(text, done=False)`: on a terminal a rich
spinner showing the latest stage and the seconds spent; elsewhere one plain line per new stage, the
first only once it has lasted a second; with quiet=True only the done=True lines), QUIET (the `--quiet` option the long commands take).

stdout stays the command's answer (JSON, YAML, export lines); progress never goes there. A line
said with done=True stays on the screen: it tells why a command found nothing to do.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import click
from rich.console import Console

QUIET = click.option("--quiet", "-q", is_flag=True,
                     help="No progress on stderr (errors, and why nothing was done, still are).")
Say = Callable[..., None]
FIRST_LINE_AFTER = 1.0  # seconds (not on a terminal, where the spinner shows at once and then vanishes)


@contextmanager
def progress(first: str, quiet: bool = False) -> Iterator[Say]:
    """Show `first`, then whatever `say` is given, until the block ends."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if quiet:  # no progress; a line said with done=True (why nothing was done) still shows
        yield lambda text, done=False: console.print(text, markup=False) if done else None
        return
    started = time.monotonic()
    if not console.is_terminal:  # a log or a pipe: one line per stage, no animation
        # The first stage is told only once it has lasted a second: a command that fails at once
        # (a bad setting, a store that refuses) leaves its one error line alone.
        shown = [""]
        lock = threading.Lock()

        def say_plain(text: str, done: bool = False) -> None:
            with lock:
                if text != shown[0]:
                    shown[0] = text
                    console.print(text, markup=False)

        late = threading.Timer(FIRST_LINE_AFTER, lambda: shown[0] or say_plain(first))
        late.daemon = True
        late.start()
        try:
            yield say_plain
        finally:
            late.cancel()
        return
    real_stderr = sys.stderr
    with console.status(first) as status:
        def say(text: str, done: bool = False) -> None:
            if done:
                console.print(text, markup=False)
            else:
                status.update(f"{text} ({time.monotonic() - started:.0f} s)")

        # While the spinner runs, sys.stderr is rich's proxy that prints above it; the log's
        # console handler holds the real stream, so it is pointed at the proxy meanwhile.
        moved = [(h, h.setStream(sys.stderr)) for h in logging.getLogger().handlers
                 if type(h) is logging.StreamHandler and h.stream is real_stderr]
        try:
            yield say
        finally:
            for handler, stream in moved:
                handler.setStream(stream)
