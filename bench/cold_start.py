"""Cold start of each artifact as shipped: import seconds and peak RSS in fresh interpreters.

Parts: build_fc / build_lambda (the deploy scripts' own output: the FC package and the unpacked
Lambda zip), without_bytecode (a copy with every compiled file removed: the artifacts as shipped
before they carried bytecode), probe (one fresh interpreter on an artifact: import seconds and
peak RSS), probe_image (the same inside a fresh container of the image), measure, main.

    python bench/cold_start.py                       # FC package and Lambda zip, 5 runs each
    python bench/cold_start.py --image localhost/interruption-responder:ci   # and the image (podman)
    python bench/cold_start.py --workdir /tmp/cold   # keep (and reuse) the built artifacts

Each interpreter starts clean as the platform starts it: the build's Python (the runtime's version:
the build scripts refuse another) with -S (no site-packages of this machine) and only the artifact on
PYTHONPATH (FC: /code/python and /code; Lambda: /var/task), PYTHONDONTWRITEBYTECODE=1 because the
platforms' code folders are read-only (a module without bytecode is compiled again on every start).
The image runs as its own user on its own read-only /opt/responder. Entry points: `responder.wsgi`
(FC and the container: the app built, SQLite store, no ticker, no credentials) and
`handlers.lambda_function`, each with the clouds its deploy file serves (s.yaml: aliyun;
template.yaml: aws; the image: the default, aliyun and aws). Targets: import <= 0.3 s and peak RSS <= 60 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = {"responder.wsgi": "import responder.wsgi", "handlers.lambda_function": "import handlers.lambda_function"}
PROBE = """
import json, resource, time
started = time.perf_counter()
{code}
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
SETTINGS = {"RESPONDER_DATABASE_URL": "sqlite:////tmp/responder-cold.db", "RESPONDER_BACKGROUND_TICKER": "false",
            "RESPONDER_ALLOW_LOCAL_SQLITE": "true"}


def build_fc(where: Path) -> Path:
    if not (where / "responder").exists():
        subprocess.run([str(ROOT / "deploy/build-fc.sh"), str(where)], cwd=ROOT, check=True,
                       env={**os.environ, "PYTHON": sys.executable}, stdout=subprocess.DEVNULL)
    return where


def build_lambda(where: Path) -> Path:
    """The zip unpacked, as Lambda unpacks it into /var/task."""
    unpacked = where.with_name(where.name + "-unpacked")
    if not unpacked.exists():
        subprocess.run([str(ROOT / "deploy/build-lambda.sh"), str(where)], cwd=ROOT, check=True,
                       env={**os.environ, "PYTHON": sys.executable}, stdout=subprocess.DEVNULL)
        with zipfile.ZipFile(f"{where}.zip") as archive:
            archive.extractall(unpacked)
    return unpacked


def without_bytecode(artifact: Path) -> Path:
    copy = artifact.with_name(artifact.name + "-no-bytecode")
    if not copy.exists():
        shutil.copytree(artifact, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def probe(paths: list[Path], code: str, clouds: str) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(map(str, paths)),
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp", "RESPONDER_CLOUDS": clouds, **SETTINGS}
    out = subprocess.run([sys.executable, "-S", "-c", PROBE.format(code=code)], cwd=paths[-1], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def probe_image(image: str, code: str) -> dict:
    settings = [arg for name, value in SETTINGS.items() if name != "RESPONDER_DATABASE_URL"
                for arg in ("-e", f"{name}={value}")]
    out = subprocess.run(["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "run", "--rm",
                          "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--network", "none",
                          *settings, image, "python", "-c", PROBE.format(code=code)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def measure(run, runs: int) -> tuple[float, float]:
    """(median seconds, median peak RSS MB) of `runs` fresh interpreters."""
    samples = [run() for _ in range(runs)]
    return statistics.median(s["seconds"] for s in samples), statistics.median(s["rss_mb"] for s in samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per figure (median)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) the built artifacts here")
    parser.add_argument("--image", default="", help="also the container image (podman), e.g. localhost/...:ci")
    args = parser.parse_args(argv)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="responder-cold-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    fc = build_fc(workdir / "fc")
    lam = build_lambda(workdir / "lambda")
    # Each with the clouds its deploy file serves: s.yaml aliyun, template.yaml aws.
    artifacts = {"FC package": (lambda root: [root / "python", root], fc, "responder.wsgi", "aliyun"),
                 "Lambda zip": (lambda root: [root], lam, "handlers.lambda_function", "aws")}
    print(f"python {sys.version.split()[0]}   runs: {args.runs} (median)   load: {os.getloadavg()[0]:.1f}")
    print("\n| artifact: entry point | without bytecode (before) | as shipped, with bytecode |\n|---|---|---|")
    for label, (paths_of, root, entry, clouds) in artifacts.items():
        cells = []
        for tree in (without_bytecode(root), root):
            paths, code = paths_of(tree), ENTRY_POINTS[entry]
            seconds, rss = measure(lambda paths=paths, code=code, clouds=clouds: probe(paths, code, clouds), args.runs)
            cells.append(f"{seconds:.3f} s, {rss:.1f} MB")
        print(f"| {label}: `{entry}` | {cells[0]} | {cells[1]} |")
    if args.image:
        seconds, rss = measure(lambda: probe_image(args.image, ENTRY_POINTS["responder.wsgi"]), args.runs)
        print(f"| image {args.image}: `responder.wsgi` | — | {seconds:.3f} s, {rss:.1f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
