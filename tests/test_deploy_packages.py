"""The FC package and the Lambda zip hold the code and its production dependencies only, import
with nothing else on the path, and stay under the platforms' limits.

Parts: each build script's package (tests/package_fixtures.py: built once per run; wheels for
this interpreter's version, so the import check can load them), the size line it prints, no
sandbox inside, the entry points imported by a bare interpreter (-S: no site-packages) with only the package on sys.path.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from package_fixtures import deploy_package

ROOT = Path(__file__).resolve().parents[1]
LIMITS = {"fc": 500 * 1024 * 1024, "lambda": 250 * 1000 * 1000}
ENTRY = {"fc": ("python", "import responder.wsgi"), "lambda": ("", "import handlers.lambda_function")}


@pytest.mark.slow
@pytest.mark.timeout(1500)  # may wait for the other worker's build of the same package (minutes when loaded)
@pytest.mark.parametrize("kind", ["fc", "lambda"])
def test_the_package_is_under_its_limit_and_holds_no_sandbox(kind, tmp_path, tmp_path_factory):
    """Slow: the build script pip-installs the production requirements into an empty directory and
    zips it, as a deploy does (about 40 s of unpacking and compressing each; once per run, shared
    with the end-to-end test of the same package)."""
    out, unpacked = deploy_package(tmp_path_factory, kind)
    assert unpacked < LIMITS[kind]
    assert (Path(f"{out}.zip")).stat().st_size < unpacked
    deps = out / ENTRY[kind][0]
    assert not (out / "responder" / "sandbox").exists()
    assert not list(deps.glob("moto*")) and not list(deps.glob("cfn_lint*"))
    assert (deps / "boto3").is_dir() and (deps / "aliyunsdkecs").is_dir()
    env = {"PATH": os.environ.get("PATH", ""), "RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
           "RESPONDER_BACKGROUND_TICKER": "false", "AWS_EC2_METADATA_DISABLED": "true"}
    code = f"import sys; sys.path[:0] = [{str(out)!r}, {str(deps)!r}]; {ENTRY[kind][1]}; print('imported')"
    done = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.stdout.strip().endswith("imported"), done.stderr[-3000:]
