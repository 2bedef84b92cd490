"""The deploy packages, each built once per test run and shared by the tests that check them.

Parts: deploy_package (deploy/build-fc.sh or deploy/build-lambda.sh run once per run, however many
workers, with tests/once_fixtures.py's lock → the package folder, its zip beside it, and the
unpacked size the script printed).

Why shared: each build pip-installs the production requirements, compiles and zips them (tens of
seconds of CPU). The size test and the end-to-end test of each kind asked for the same build with
the same interpreter; neither writes into the package (the FC server runs with no bytecode writes,
as on FC's read-only /code; the Lambda test unpacks a copy of the zip), so one build serves both.
A failed build leaves no mark: each test that asks builds again and fails on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from once_fixtures import built_once

ROOT = Path(__file__).resolve().parents[1]


def deploy_package(tmp_path_factory, kind: str) -> tuple[Path, int]:
    """(the built package folder, its unpacked size in bytes) for kind "fc" or "lambda"."""

    def build(where: Path) -> None:
        env = {**os.environ, "PYTHON": sys.executable,
               "LAMBDA_PYTHON": f"{sys.version_info[0]}.{sys.version_info[1]}"}
        done = subprocess.run([str(ROOT / "deploy" / f"build-{kind}.sh"), str(where / kind)], cwd=ROOT,
                              capture_output=True, text=True, timeout=1200, env=env, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        (where / "build.out").write_text(done.stdout)

    where = built_once(tmp_path_factory, f"deploy-{kind}", build)
    printed = (where / "build.out").read_text().splitlines()
    line = next(line for line in printed if line.startswith(f"{kind} package:"))
    return where / kind, int(line.split(" unpacked ")[1].split(" bytes")[0])
