"""RESPONDER_* variables that are no setting: a misspelt one is named with the closest setting.

Parts: NOT_SETTINGS (RESPONDER_* names read by something other than Settings), unknown_settings.
"""

from __future__ import annotations

import difflib
import os
from typing import Mapping

from responder.settings import Settings, load_env_file

# RESPONDER_* names read by something other than Settings: s.yaml's deploy shell variables and
# the test suite's own knobs. Everything else with the prefix that Settings does not read is a typo.
NOT_SETTINGS = frozenset({"RESPONDER_VPC_ID", "RESPONDER_VSWITCH_IDS", "RESPONDER_SECURITY_GROUP_ID",
                          "RESPONDER_TEST_ARTIFACTS", "RESPONDER_FUZZ_EXAMPLES"})


class _NamesAsked(dict):
    """An empty environment that remembers every name Settings.from_env asks it for."""

    def __init__(self):
        super().__init__()
        self.asked: set[str] = set()

    def get(self, name, default=None):
        self.asked.add(name)
        return default


def unknown_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per RESPONDER_* variable that is no setting (a misspelt one is otherwise ignored
    without a word), naming the closest setting. Warnings, not errors: a deploy shell or a setting
    a later release dropped must not stop a start."""
    if environ is None:  # the variables a .env in the working directory adds count too
        load_env_file()
    names = _NamesAsked()
    Settings.from_env(names, dotenv=False)
    known = sorted(n for n in names.asked if n.startswith("RESPONDER_"))
    lines = []
    for name in sorted(n for n in (os.environ if environ is None else environ) if n.startswith("RESPONDER_")):
        if name in names.asked or name in NOT_SETTINGS:
            continue
        # Compared without the shared prefix, which would make every name look alike.
        close = difflib.get_close_matches(name[len("RESPONDER_"):], [k[len("RESPONDER_"):] for k in known], n=1)
        fix = f"did you mean RESPONDER_{close[0]}?" if close else "see the settings table in README.md"
        lines.append(f"{name} is not a setting and is ignored; {fix}")
    return lines
