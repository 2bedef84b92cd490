"""The test suite's own time: README command 2's pytest run, timed, with the CPU it used, the
machine's load around it, and where the time went per test file.

Run: python bench/suite.py [--workers 4] [--top 25] [--log FILE] [--json] [-- PYTEST_ARGS ...]
`--workers 0` runs in one process, `--workers 2` as README command 2 ran before it took four. Wall
time is the figure the issue asks for; CPU time (the run and every process it waited for) says how
much of that was work, so a run on a busy machine can still be compared with one on a quiet one.
Per file: the sum of its tests' setup, call and teardown (pytest --durations=0), which overlap
across workers, and the CPU its tests used (tests/conftest.py records each test's CPU, threads and
waited-for processes included, where SUITE_CPU_FILE says); the CPU left over is pytest's own
(workers starting, collecting).
Figures: BENCHMARKS.md, "The test suite".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = re.compile(r"^(\d+\.\d+)s (?:setup|call|teardown)\s+(\S+?)::")
SUMMARY = re.compile(r"^=*\s*(\d.*?(?:passed|failed).*?) in [\d.]+s")


def run(workers: int, extra: list[str], log: str | None = None) -> dict:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--durations=0", *extra]
    if workers:
        command[3:3] = ["-n", str(workers)]
    load_before = os.getloadavg()
    with tempfile.NamedTemporaryFile("r", suffix=".cpu") as cpu_file:
        env = {**os.environ, "SUITE_CPU_FILE": cpu_file.name}
        started, cpu_before = time.monotonic(), _children_cpu()
        done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, env=env)
        wall, cpu = time.monotonic() - started, _children_cpu() - cpu_before
        per_test = [line.split("\t", 1) for line in cpu_file.read().splitlines() if "\t" in line]
    if log:
        Path(log).write_text(done.stdout + done.stderr)
    per_file: Counter = Counter()
    cpu_file_s: Counter = Counter()
    cpu_test_s = {node: float(seconds) for seconds, node in per_test}
    for node, seconds in cpu_test_s.items():
        cpu_file_s[node.split("::")[0]] += seconds
    summary = ""
    for line in done.stdout.splitlines():
        if found := DURATION.match(line):
            per_file[found.group(2)] += float(found.group(1))
        elif found := SUMMARY.match(line):
            summary = found.group(1)
    return {"workers": workers, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "exit_code": done.returncode,
            "summary": summary, "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(),
            "per_file_s": {name: round(s, 1) for name, s in per_file.most_common()},
            "cpu_in_tests_s": round(sum(cpu_test_s.values()), 1),
            "cpu_per_file_s": {name: round(s, 1) for name, s in cpu_file_s.most_common()},
            "cpu_per_test_s": {name: round(s, 1) for name, s in Counter(cpu_test_s).most_common(40)}}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="pytest-xdist workers (README command 2: 4); 0 runs in one process")
    parser.add_argument("--top", type=int, default=25, help="files listed, slowest first")
    parser.add_argument("--log", default=None, help="write pytest's whole output here (failures, durations)")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest (e.g. -m 'not slow')")
    args = parser.parse_args()
    result = run(args.workers, args.pytest_args, args.log)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['summary'] or 'no summary line'} (exit {result['exit_code']})")
    print(f"workers {args.workers}: wall {result['wall_s']:.0f} s, CPU {result['cpu_s']:.0f} s on {result['cores']} cores; "
          f"load average before {result['load_before'][0]:.1f}, after {result['load_after'][0]:.1f}")
    print(f"CPU in tests {result['cpu_in_tests_s']:.0f} s; the rest is pytest's own (workers starting, collecting)")
    print("per file, slowest first: seconds of its tests (overlapping across workers), CPU seconds")
    cpu_of = result["cpu_per_file_s"]
    for name, seconds in list(result["per_file_s"].items())[:args.top]:
        print(f"{seconds:8.1f} s  {cpu_of.get(name, 0.0):7.1f} s CPU  {name}")
    print("costliest files by CPU")
    for name, seconds in list(cpu_of.items())[:args.top]:
        print(f"{seconds:8.1f} s CPU  {name}")


if __name__ == "__main__":
    main()
