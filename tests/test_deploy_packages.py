"""The FC package and the Lambda zip hold the code and its production dependencies only, import
with nothing else on the path, and stay under the platforms' limits.

Parts: each build script run into a temporary directory (wheels for this interpreter's version,
so the import check can load them), the size line it prints, no sandbox inside, the entry points
imported by a bare interpreter (-S: no site-packages) with only the package on sys.path.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMITS = {"fc": 500 * 1024 * 1024, "lambda": 250 * 1000 * 1000}
ENTRY = {"fc": ("python", "import responder.wsgi"), "lambda": ("", "import handlers.lambda_function")}


def build(kind: str, out: Path) -> tuple[Path, int]:
    env = {**os.environ, "PYTHON": sys.executable, "LAMBDA_PYTHON": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    done = subprocess.run([str(ROOT / "deploy" / f"build-{kind}.sh"), str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith(f"{kind} package:"))
    return out, int(line.split(" unpacked ")[1].split(" bytes")[0])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fc", "lambda"])
def test_the_package_is_under_its_limit_and_holds_no_sandbox(kind, tmp_path):
    """Slow: the build script pip-installs the production requirements into an empty directory and
    zips it, as a deploy does (about 40 s of unpacking and compressing each)."""
    out, unpacked = build(kind, tmp_path / kind)
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
