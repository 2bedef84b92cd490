#!/usr/bin/env bash
# Builds the Function Compute 3.0 package in ./build (and build.zip, for its size) (s.yaml `code: ./build`): responder/,
# handlers/, gunicorn.conf.py, and the production dependencies in build/python (PYTHONPATH in
# s.yaml), no sandbox. Prints the unpacked size and the size of the zip FC would receive.
#
#   deploy/build-fc.sh [OUT_DIR]     (default ./build; PYTHON=python3.11 to choose the interpreter)
#
# Run on Linux x86_64 with the runtime's Python (custom.debian12: 3.11), so binary wheels match and
# the bytecode compiled here is the one the runtime loads (FC_PYTHON: the runtime's version; the
# build stops when PYTHON is another one, whose bytecode /code, read-only, would make useless).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build}
PYTHON=${PYTHON:-python3}
FC_PYTHON=${FC_PYTHON:-3.11}
deploy/same-python.sh "$PYTHON" "$FC_PYTHON" "FC's custom.debian12 runtime (s.yaml)"
rm -rf "$OUT" && mkdir -p "$OUT"
cp -r responder handlers gunicorn.conf.py "$OUT"/
# The sandbox (emulators and scenarios) is the `sandbox` extra; no deployment runs it.
rm -rf "$OUT/responder/sandbox"
"$PYTHON" -m pip install -q --no-compile --target "$OUT/python" -r requirements.txt
# `responder` for the function's console / one-off commands (python3 -m responder works too).
rm -rf "$OUT/python/bin"
deploy/prune-site-packages.sh "$OUT/python"
find "$OUT" -name __pycache__ -prune -exec rm -rf {} +
# Bytecode of everything that ships, by the runtime's Python version, checked (deploy/check_bytecode.py).
# unchecked-hash (PEP 552): the platform unpacks the zip without promising the files' times, and a
# timestamp-checked .pyc whose source time changed is ignored, so each start would compile again.
"$PYTHON" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$OUT" >/dev/null || true
"$PYTHON" deploy/check_bytecode.py "$OUT"
# FC zips ./build itself on `s deploy`; the same zip here gives the size it uploads.
"$PYTHON" deploy/zipdir.py "$OUT"
# FC 3.0 takes code packages up to 500 MB; whether zipped or unpacked is not said the same way in
# every doc, so the harsher reading: checked against the unpacked size.
deploy/package-size.sh "$OUT" fc 524288000
