"""Every `responder` command, given each class of bad setting a person can make, answers with one
line on stderr that names the problem and the fix, and with the documented exit code (`responder
--help`): never a traceback.

Parts: COMMANDS (every command, with arguments that would otherwise run it), the setting classes
(a value a setting cannot take, a store URL this install has no driver for, a log folder that
cannot be written: exit 2 from every command), the store classes (a database that does not exist,
a server that cannot be reached: exit 1 from every command that opens the store, each with its own
words), the scenario classes (bad YAML, a bad value: exit 2 naming the file, the line and the
field, from every command that takes --scenario), the misspelt variable (one warning line with
"did you mean", the command still runs), the last guard (an unforeseen error is one line, exit 1,
its secrets masked), and real processes for what a terminal shows.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from tests.databases import SERVERS

ROOT = Path(__file__).resolve().parents[1]
EVENT = str(ROOT / "events" / "aliyun" / "cloudmonitor-interruption.json")
ODCR = ["--instance-type", "m5.large", "--availability-zone", "us-east-2a", "--count", "1", "--region", "us-east-2"]
TARGET = ["--name", "web", "--cloud", "aws", "--region", "us-east-2", "--instance-types", "m5.large", "--count", "1"]
# (command line, opens the task store)
COMMANDS = [
    (["serve", "--port", "0"], True),
    (["replay", EVENT], True),
    (["tick"], True),
    (["sandbox", "--port", "0"], False),
    (["odcr", "create", *ODCR], False),
    (["odcr", "expand", "--odcr-id", "cr-0123456789abcdef0", "--count", "1", "--region", "us-east-2"], False),
    (["spot-scores", "--region", "us-east-2", "--families", "m5"], False),
    (["nodepools", "--region", "us-east-2", "--families", "m5"], False),
    (["targets", "add", *TARGET, "--no-cloud-check"], True),
    (["targets", "list"], True),
    (["targets", "show", "web"], True),
    (["targets", "remove", "web"], True),
    (["db", "upgrade"], True),
    (["db", "current"], True),
    (["protect", "--cloud", "aws", "--region", "us-east-2", "--tag", "protect=daily"], True),
    (["orphans"], True),
    (["revert", "--dry-run"], True),
]
SANDBOXED = [["serve", "--sandbox", "--port", "0"], ["replay", EVENT, "--sandbox"], ["sandbox", "--port", "0"],
             ["odcr", "create", *ODCR, "--sandbox"], ["spot-scores", "--families", "m5", "--sandbox"],
             ["nodepools", "--families", "m5", "--sandbox"]]


def _ids(commands) -> list[str]:
    return [" ".join(c[:2] if c[0] in ("odcr", "targets", "db") else c[:1]) for c in commands]


def invoke(args: list[str], tmp_path: Path, **env: str):
    """The command in this process, with only `env` among the RESPONDER_* variables, from tmp_path."""
    from responder.cli import cli

    logging.getLogger().handlers.clear()  # a handler of an earlier command would hold its closed stream
    clean = {name: None for name in os.environ if name.startswith("RESPONDER_")}
    cwd = os.getcwd()
    os.chdir(tmp_path)  # no .env of the repository's, no responder.db left in it
    # A failing command's first stage is named on stderr once it has lasted FIRST_LINE_AFTER; on a
    # starved machine a refused connection can take that long, and the line under test would get
    # company. What is asserted here is the error line, so that clock is moved out of the way.
    try:
        with mock.patch("responder.cli_progress.FIRST_LINE_AFTER", 600.0):
            return CliRunner().invoke(cli, args, env={**clean, **env})
    finally:
        os.chdir(cwd)


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and (result.exception is None or isinstance(result.exception, SystemExit)), \
        (result.stderr, result.exception)
    assert "Traceback" not in result.output
    return lines[0]


SETTING_CLASSES = {
    "a value the setting cannot take": ({"RESPONDER_MARKET_POLICY": "cheapest"},
                                         ["RESPONDER_MARKET_POLICY", "spot-then-ondemand", "'cheapest'"]),
    "a store URL with no driver here": ({"RESPONDER_DATABASE_URL": "mysql://responder:hunter2@db/responder"},
                                        ["RESPONDER_DATABASE_URL", "mysql+pymysql://", "responder:***@db"]),
    "a postgres:// store URL": ({"RESPONDER_DATABASE_URL": "postgres://responder@db/responder"},
                                ["postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE"]),
    "a log folder that cannot be written": ({"RESPONDER_LOG_DIR": "/proc/no-such-folder"}, ["RESPONDER_LOG_DIR"]),
    "a daily window it cannot read": ({"RESPONDER_REVERT_WINDOW": "8-20"},
                                      ["RESPONDER_REVERT_WINDOW", "HH:MM-HH:MM", "'8-20'"]),
}


@pytest.mark.parametrize("kind", SETTING_CLASSES)
@pytest.mark.parametrize("args", [c for c, _ in COMMANDS], ids=_ids([c for c, _ in COMMANDS]))
def test_a_bad_setting_stops_every_command_with_one_line_and_exit_2(args, kind, tmp_path):
    env, named = SETTING_CLASSES[kind]
    result = invoke(args, tmp_path, **env)
    line = one_line(result)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert line.startswith("Error: ") and all(n in line for n in named), line
    assert "hunter2" not in result.output


def _missing_database(backend: str) -> str:
    import sqlalchemy as sa

    name = f"responder_missing_{uuid.uuid4().hex[:12]}"  # never created: nothing to drop
    url = sa.engine.make_url(SERVERS[backend]).set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(SERVERS[backend], connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError:
        pytest.skip(f"{backend} is not reachable; CI starts it")
    finally:
        admin.dispose()
    return url


STORE_COMMANDS = [c for c, store in COMMANDS if store]


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
@pytest.mark.parametrize("args", STORE_COMMANDS, ids=_ids(STORE_COMMANDS))
def test_a_database_that_does_not_exist_is_named_as_such_in_one_line_exit_1(args, backend, tmp_path):
    url = _missing_database(backend)
    name = url.rsplit("/", 1)[1]
    result = invoke(args, tmp_path, RESPONDER_DATABASE_URL=url)
    line = one_line(result)
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert f"database '{name}' does not exist" in line and f"CREATE DATABASE {name}" in line, line


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=_ids(STORE_COMMANDS))
def test_a_server_that_cannot_be_reached_is_not_called_a_missing_database(args, tmp_path):
    result = invoke(args, tmp_path, RESPONDER_DATABASE_URL="postgresql+psycopg://responder:hunter2@127.0.0.1:1/tasks")
    line = one_line(result)
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert "cannot be reached" in line and "host and port" in line and "does not exist" not in line, line
    assert "hunter2" not in result.output and "responder:***@127.0.0.1:1/tasks" in line


BAD_SCENARIOS = {
    "bad YAML": ("name: x\nregions:\n  - cloud: aliyun\n   region: cn-hangzhou\n", ", line 4: not valid YAML"),
    "a bad value": ("name: x\nregions:\n  - cloud: aws\n    region: us-east-2\n    zones: [us-east-2a]\n"
                    "    instances:\n      - {id: i-1, type: m5.large, notice_at: soon}\n",
                    ", line 7, regions[0].instances[0].notice_at: must be a number, not 'soon'"),
    "a value of the wrong kind": ("time_scale: fast\nregions: []\n", ", line 1, time_scale: must be a number"),
}


@pytest.mark.parametrize("kind", BAD_SCENARIOS)
@pytest.mark.parametrize("args", SANDBOXED, ids=_ids(SANDBOXED))
def test_a_scenario_mistake_names_the_file_line_and_field_with_exit_2(args, kind, tmp_path):
    text, expected = BAD_SCENARIOS[kind]
    scenario = tmp_path / "mine.yaml"
    scenario.write_text(text)
    result = invoke([*args, "--scenario", str(scenario)], tmp_path)
    line = one_line(result)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert line == f"Error: scenario {scenario}{expected}" or line.startswith(f"Error: scenario {scenario}{expected}"), line


@pytest.mark.parametrize("args", [c for c, _ in COMMANDS], ids=_ids([c for c, _ in COMMANDS]))
def test_a_misspelt_setting_is_named_with_the_setting_it_resembles(args, tmp_path):
    result = invoke([*args, "--help"], tmp_path, RESPONDER_LAUNCH_FORM="source-image")
    assert result.exit_code == 0 and "Usage:" in result.stdout
    assert result.stderr.strip().splitlines() == [
        "warning: RESPONDER_LAUNCH_FORM is not a setting and is ignored; did you mean RESPONDER_LAUNCH_FROM?"]


def test_the_help_of_a_command_shows_even_when_a_setting_is_bad(tmp_path):
    result = invoke(["tick", "--help"], tmp_path, RESPONDER_MARKET_POLICY="cheapest")
    assert result.exit_code == 0 and "Advance every due task" in result.stdout


def test_an_unforeseen_error_is_one_line_exit_1_with_its_secrets_masked(tmp_path, monkeypatch):
    from responder import cli as cli_module

    def broken(*_args, **_kwargs):
        raise RuntimeError("lost the thread at mysql+pymysql://responder:hunter2@db/tasks Signature=abc123")

    monkeypatch.setattr(cli_module, "build_runtime", broken)
    result = invoke(["tick"], tmp_path)
    line = one_line(result)
    assert result.exit_code == 1
    assert line.startswith("Error: unexpected RuntimeError: lost the thread") and "RESPONDER_LOG_LEVEL=DEBUG" in line
    assert "hunter2" not in line and "abc123" not in line


def test_the_exit_codes_every_command_shares_are_in_the_top_level_help(tmp_path):
    shown = invoke(["--help"], tmp_path).stdout
    assert "Exit codes (every command):" in shown
    for code, words in (("1", "store cannot be reached"), ("2", "a setting (RESPONDER_*), a store URL or a scenario")):
        assert any(line.strip().startswith(f"{code}  ") and words in line for line in shown.splitlines()), shown


@pytest.mark.parametrize("args,env,code,words", [
    (["replay", EVENT], {"RESPONDER_DATABASE_URL": "postgres://u:hunter2@db/x"}, 2, "write postgresql+psycopg://"),
    (["tick"], {"RESPONDER_DATABASE_URL": "postgresql+psycopg://u:hunter2@127.0.0.1:1/x"}, 1, "cannot be reached"),
    (["sandbox", "--port", "0", "--scenario", "MINE"], {}, 2, ", line 1, time_scale: must be a number"),
])
def test_a_real_process_prints_the_same_one_line(args, env, code, words, tmp_path):
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("time_scale: fast\nregions: []\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_") and "proxy" not in k.lower()}
    done = subprocess.run([sys.executable, "-m", "responder", *[str(scenario) if a == "MINE" else a for a in args]],
                          env={**clean, **env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == code, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr


def test_the_help_texts_say_what_the_commands_serve(tmp_path):
    sandbox = " ".join(invoke(["sandbox", "--help"], tmp_path).stdout.split())
    assert "three sandbox clouds (Aliyun ECS, AWS EC2, OCI under /oci)" in sandbox and "both" not in sandbox
    serve = " ".join(invoke(["serve", "--help"], tmp_path).stdout.split())
    for route in ("/invoke", "/events", "/tasks", "/targets", "/healthz", "/metrics", "status page at /"):
        assert route in serve, serve


def test_a_misspelt_setting_in_the_working_directorys_env_file_is_named_too(tmp_path):
    (tmp_path / ".env").write_text("RESPONDER_MARKET_POLCY=ondemand\n")
    try:
        result = invoke(["db", "current"], tmp_path)
    finally:
        os.environ.pop("RESPONDER_MARKET_POLCY", None)  # load_dotenv wrote it into this process
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines() == [
        "warning: RESPONDER_MARKET_POLCY is not a setting and is ignored; did you mean RESPONDER_MARKET_POLICY?"]
