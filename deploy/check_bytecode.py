"""Fails unless every Python module under the given folders has bytecode this interpreter made.

The shipped artifacts run from read-only code folders (FC's /code, Lambda's /var/task, the image's
/opt/responder as the `responder` user): a module without bytecode, or with bytecode of another
Python version (another magic number, so ignored), is compiled again on every cold start. The
build compiles with the runtime's own Python version, then runs this with that same interpreter.

    python deploy/check_bytecode.py FOLDER...

A .pyc counts when this interpreter loads it without compiling: its magic number, and unchecked
hash-based (PEP 552) or stamped with the source's time and size. A module no Python 3 can compile (a Python 2 example some packages carry) cannot be imported
either and is not counted. A sourceless module (bytecode where the .py was) is its own bytecode.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _loads_without_compiling(source: Path, header: bytes) -> bool:
    """This interpreter's magic number, and either a hash-based .pyc that is never checked against
    its source (PEP 552, the packages' choice) or a timestamp one matching the source's time and size."""
    if header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & 0b1:  # hash-based
        return not flags & 0b10  # unchecked: used as it is
    stat = source.stat()
    return (int.from_bytes(header[8:12], "little"), int.from_bytes(header[12:16], "little")) == (
        int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF)


def missing_bytecode(roots: list[str]) -> list[str]:
    missing = []
    for root in roots:
        for source in Path(root).rglob("*.py"):
            cached = Path(importlib.util.cache_from_source(str(source)))
            if cached.exists() and _loads_without_compiling(source, cached.read_bytes()[:16]):
                continue
            try:
                compile(source.read_bytes(), str(source), "exec")
            except (SyntaxError, ValueError):
                continue
            missing.append(str(source))
    return missing


def main(roots: list[str]) -> int:
    missing = missing_bytecode(roots)
    if missing:
        print(f"{len(missing)} modules without Python {sys.version_info[0]}.{sys.version_info[1]} bytecode, "
              f"e.g. {missing[:5]}", file=sys.stderr)
        return 1
    print(f"bytecode: every module under {' '.join(roots)} compiled by Python "
          f"{sys.version_info[0]}.{sys.version_info[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
