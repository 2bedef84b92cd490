"""Cold start of the production install: import time, RSS and install size.

Parts: make_venv (a venv with the runtime requirements only, or with the sandbox extra too),
site_packages_bytes (the install's size, all of it and without pip / setuptools, which a Lambda
package or image would not need), cold_import (one fresh interpreter: import seconds and peak
RSS), measure (the median of --runs fresh processes per entry point), main.

    python bench/cold_start.py                  # this tree; venvs in a temp dir
    python bench/cold_start.py --workdir /tmp/cold --source /tmp/other-tree   # another checkout

The entry points measured are what a runtime imports before the first request: gunicorn's
`responder.wsgi` (the app built, sandbox-free settings, a SQLite store, no ticker) and Lambda's
`handlers.lambda_function`, then Lambda's first event (an ignored one: no cloud call).
Targets: import <= 0.3 s and RSS <= 60 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_DEPLOYED = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "wheel")  # install tools only
IGNORED_EVENT = json.loads((ROOT / "events/aliyun/ignored-other-event.json").read_text())
ENTRY_POINTS = {
    "gunicorn: import responder.wsgi": "import responder.wsgi",
    "Lambda: import handlers.lambda_function": "import handlers.lambda_function",
    "Lambda: import + first (ignored) event": ("import handlers.lambda_function as h\n"
                                               f"h.lambda_handler({IGNORED_EVENT!r}, None)"),
}
PROBE = """
import json, resource, time
started = time.perf_counter()
{code}
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def make_venv(where: Path, source: Path, with_sandbox: bool) -> Path:
    """A venv at `where` with source installed (not editable); reused when it already exists."""
    python = where / "bin" / "python"
    if python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    if with_sandbox:
        args = ["-r", str(source / "requirements-sandbox.txt"), f"{source}[sandbox]"]
    else:
        args = ["-r", str(source / "requirements.txt"), str(source)]
    subprocess.run([str(python), "-m", "pip", "install", "-q", *args], check=True, stderr=subprocess.DEVNULL)
    return python


def site_packages_bytes(python: Path) -> tuple[int, int]:
    """(everything in site-packages, without the install tools) in bytes."""
    where = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                         text=True).strip())
    total = deployed = 0
    for path in where.rglob("*"):
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            total += size
            top = path.relative_to(where).parts[0].split("-")[0]
            if top not in NOT_DEPLOYED:
                deployed += size
    return total, deployed


def cold_import(python: Path, code: str, workdir: Path) -> dict:
    """One fresh interpreter, bytecode already compiled (a warm disk, as after an image build)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPONDER_", "PROMETHEUS_", "ALIBABA_CLOUD_"))}
    # A SQLite store keeps the probe self-contained; the Lambda handler refuses one unless told.
    env.update(RESPONDER_DATABASE_URL=f"sqlite:///{workdir}/cold.db", RESPONDER_BACKGROUND_TICKER="false",
               RESPONDER_ALLOW_LOCAL_SQLITE="true", PYTHONPATH="")
    out = subprocess.run([str(python), "-c", PROBE.format(code=code)], cwd=workdir, env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def measure(python: Path, workdir: Path, runs: int) -> dict[str, tuple[float, float]]:
    """Entry point → (median import seconds, median peak RSS in MB) over `runs` fresh processes."""
    figures = {}
    for label, code in ENTRY_POINTS.items():
        cold_import(python, code, workdir)  # compiles the bytecode once, as an image build would
        samples = [cold_import(python, code, workdir) for _ in range(runs)]
        figures[label] = (statistics.median(s["seconds"] for s in samples),
                          statistics.median(s["rss_mb"] for s in samples))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per entry point (median)")
    parser.add_argument("--source", type=Path, default=ROOT, help="project tree to install (default: this one)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) the venvs here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="responder-cold-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = args.source.resolve()

    production = make_venv(workdir / "production", source, with_sandbox=False)
    installs = {"production (requirements.txt .)": production}
    if (source / "requirements-sandbox.txt").exists():
        installs["with the sandbox extra"] = make_venv(workdir / "sandbox", source, with_sandbox=True)

    print(f"source: {source}   python: {sys.version.split()[0]}   runs: {args.runs} (median)")
    print("\n| entry point (production install) | import s | peak RSS MB |\n|---|---|---|")
    for label, (seconds, rss) in measure(production, workdir, args.runs).items():
        print(f"| {label} | {seconds:.3f} | {rss:.1f} |")
    print("\n| install | site-packages MB | without pip/setuptools MB | has moto |\n|---|---|---|---|")
    for label, python in installs.items():
        total, deployed = site_packages_bytes(python)
        has_moto = subprocess.run([str(python), "-c", "import moto"], capture_output=True).returncode == 0
        print(f"| {label} | {total / 1e6:.0f} | {deployed / 1e6:.0f} | {'yes' if has_moto else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
