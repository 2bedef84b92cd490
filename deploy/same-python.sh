#!/usr/bin/env bash
# Stops a package build whose interpreter is not the runtime's Python version: the bytecode it
# compiles would carry another magic number, and the runtime would ignore it.
#   deploy/same-python.sh PYTHON RUNTIME_VERSION WHERE
set -euo pipefail
HAVE=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$HAVE" != "$2" ]; then
  echo "$1 is Python $HAVE; $3 runs Python $2: build with that version (PYTHON=python$2)" >&2
  exit 1
fi
