"""Production installs carry no sandbox: what the app, the Lambda handler and the FC entry import,
and a fresh venv with only the runtime requirements.

Parts: imported_in_fresh_process (import a module in a new interpreter, sandbox-free settings,
return its sys.modules), the import tests (no moto, no emulator, no cloud SDK until a client is
made), the `--sandbox` without the extra tests, the lock / extra / image consistency tests, and
the production venv tests (python -m venv, pip install -r requirements.txt ., then the entry
points and the CLI from that venv; they fail rather than skip when CI is set).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import EVENTS, ROOT
from once_fixtures import built_once

SANDBOX_ONLY = ("moto", "yaml", "responder.sandbox")
LAZY_SDKS = ("boto3", "aliyunsdkcore.client")  # imported when an adapter makes its first client


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without responder settings or proxies, a SQLite store in tmp."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RESPONDER_", "PROMETHEUS_", "ALIBABA_CLOUD_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(RESPONDER_DATABASE_URL=f"sqlite:///{tmp_path}/tasks.db", RESPONDER_BACKGROUND_TICKER="false",
               RESPONDER_ALLOW_LOCAL_SQLITE="true", **extra)  # the Lambda handler refuses SQLite otherwise
    return env


def imported_in_fresh_process(tmp_path: Path, code: str) -> set[str]:
    """Run `code` in a new interpreter on this tree; the names in its sys.modules afterwards."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=production_env(tmp_path, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize("code", [
    "import responder.wsgi",
    "from responder.web import create_app; create_app()",
    "import handlers.lambda_function",
    "import handlers.fc_http",
], ids=["wsgi", "create_app", "lambda", "fc"])
def test_the_production_entry_points_import_nothing_of_the_sandbox(tmp_path, code):
    modules = imported_in_fresh_process(tmp_path, code)
    assert "responder.web" in modules or "handlers.lambda_function" in modules
    assert [name for name in SANDBOX_ONLY if loaded(modules, name)] == []


def test_the_app_imports_the_cloud_sdks_only_when_a_client_is_first_made(tmp_path):
    cold = imported_in_fresh_process(tmp_path, "import responder.wsgi")
    assert [name for name in LAZY_SDKS if loaded(cold, name)] == []
    warm = imported_in_fresh_process(tmp_path, "import responder.wsgi\n"
                                               "responder.wsgi.app.extensions['responder']['runner'].clouds['aws']._ec2('us-east-1')")
    assert loaded(warm, "boto3")


def test_sandbox_commands_without_the_extra_exit_2_and_say_what_to_install(monkeypatch):
    from responder import extras
    from responder.cli import cli

    monkeypatch.setattr(extras, "SANDBOX_MODULES", ("moto", "a_module_no_install_has"))
    runner = CliRunner()
    for args in (["serve", "--sandbox"], ["replay", str(EVENTS / "aliyun/cloudmonitor-interruption.json"), "--sandbox"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert ".[sandbox]" in result.output and "a_module_no_install_has" in result.output


def test_with_the_extra_installed_nothing_is_missing():
    from responder.extras import require_sandbox

    require_sandbox()  # this (dev) environment installs requirements-dev.txt, which includes the extra


# --- the locks, the extra and the image --------------------------------------------------------

def requirement_names(path: Path) -> set[str]:
    """Distribution names a requirements file pins itself (not those of files it includes with -r)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_runtime_lock_pins_exactly_the_declared_dependencies_and_nothing_of_the_sandbox():
    project = pyproject()["project"]
    declared = {re.split(r"[\[=<>~! ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in project["dependencies"]}
    assert requirement_names(ROOT / "requirements.txt") == declared
    assert not declared & {"moto", "cfn-lint", "pytest"}


def test_the_sandbox_lock_pins_the_sandbox_extra_on_top_of_the_runtime():
    extras = pyproject()["project"]["optional-dependencies"]
    extra = {re.split(r"[\[=<>~! ]", d, maxsplit=1)[0].lower() for d in extras["sandbox"]}
    oci = {re.split(r"[\[=<>~! ]", d, maxsplit=1)[0].lower() for d in extras["oci"]}
    assert oci == {"oci"} == requirement_names(ROOT / "requirements-oci.txt")
    assert extra == {"moto", "oci"} == requirement_names(ROOT / "requirements-sandbox.txt") | oci
    assert "-r requirements.txt" in (ROOT / "requirements-sandbox.txt").read_text().splitlines()
    assert "-r requirements-oci.txt" in (ROOT / "requirements-sandbox.txt").read_text().splitlines()
    assert "-r requirements-sandbox.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()


def test_the_image_installs_the_production_requirements_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install [^\n]*", dockerfile)
    # The OCI SDK only behind --build-arg WITH_OCI=1 (the `oci` extra, pruned to core and identity).
    assert installs and all("-r requirements.txt" in line or "-r requirements-oci.txt" in line for line in installs)
    assert 'ARG WITH_OCI=0' in dockerfile
    assert "requirements-sandbox" not in dockerfile and "requirements-dev" not in dockerfile
    assert "[sandbox]" not in dockerfile


# --- a production venv ------------------------------------------------------------------------

def _must_run() -> bool:
    return bool(os.environ.get("CI"))


def _skip_or_fail(reason: str):
    if _must_run():
        pytest.fail(f"the production venv test must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def production_venv(tmp_path_factory):
    """A venv with requirements.txt and this project, without the sandbox extra (~15 s with a wheel
    cache), built once for the run: with two workers, the second venv test reuses the first's."""
    return built_once(tmp_path_factory, "production-venv", _build_production_venv) / "venv" / "bin" / "python"


def _build_production_venv(where: Path) -> None:
    try:
        venv.EnvBuilder(with_pip=True).create(where / "venv")
    except Exception as exc:  # no ensurepip on this interpreter
        _skip_or_fail(f"python -m venv cannot make a venv with pip here: {exc}")
    python = where / "venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements.txt"), str(ROOT)],
                          cwd=where, capture_output=True, text=True, timeout=540, env=env)
    if done.returncode != 0:
        _skip_or_fail(f"pip could not install the runtime requirements (no index reachable?): {done.stderr[-800:]}")


def run_in(python: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=production_env(tmp_path))


@pytest.mark.slow
@pytest.mark.venv
@pytest.mark.timeout(600)
def test_a_production_install_serves_without_the_sandbox_extra(production_venv, tmp_path):
    """Slow: the first of the two venv tests builds the run's production venv (about 40 s of pip)."""
    python = production_venv
    absent = run_in(python, tmp_path, "-c", "import importlib.util as u; "
                                            "print([m for m in ('moto',) if u.find_spec(m)])")
    assert absent.stdout.strip() == "[]", "the runtime requirements pulled in the sandbox extra"

    where = run_in(python, tmp_path, "-c", "import responder.wsgi, handlers.fc_http, responder; print(responder.__file__)")
    assert where.returncode == 0, where.stderr[-2000:]
    assert str(ROOT) not in where.stdout  # the installed package, not this tree

    ignored = json.dumps(json.loads((EVENTS / "aliyun/ignored-other-event.json").read_text()))
    lambda_call = run_in(python, tmp_path, "-c", "import json, handlers.lambda_function as h; "
                                                 f"print(json.dumps(h.lambda_handler(json.loads({ignored!r}), None)))")
    assert lambda_call.returncode == 0, lambda_call.stderr[-2000:]
    answer = json.loads(lambda_call.stdout.splitlines()[-1])
    assert (answer["statusCode"], answer["outcome"]) == (200, "ignored")


@pytest.mark.slow
@pytest.mark.venv
@pytest.mark.timeout(600)
def test_the_production_cli_helps_and_refuses_sandbox_with_the_install_command(production_venv, tmp_path):
    """Slow: the first of the two venv tests builds the run's production venv (about 40 s of pip)."""
    responder = production_venv.parent / "responder"
    helped = subprocess.run([str(responder), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env=production_env(tmp_path))
    assert helped.returncode == 0 and "serve" in helped.stdout and "replay" in helped.stdout
    refused = subprocess.run([str(responder), "serve", "--sandbox"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, env=production_env(tmp_path))
    assert refused.returncode == 2
    assert "pip install -e '.[sandbox]'" in refused.stderr and "Traceback" not in refused.stderr
