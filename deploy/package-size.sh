#!/usr/bin/env bash
# Prints a package's unpacked size (bytes of its files, `du --apparent-size`) and, when a zip of
# it exists next to it, the zip's size; fails when the unpacked size is over LIMIT_BYTES.
#   deploy/package-size.sh DIR NAME [LIMIT_BYTES]
set -euo pipefail
DIR=$1 NAME=$2 LIMIT=${3:-0}
UNPACKED=$(du -sb --apparent-size "$DIR" | cut -f1)
LINE="$NAME package: $DIR unpacked $UNPACKED bytes ($((UNPACKED / 1048576)) MiB)"
if [ -f "$DIR.zip" ]; then
  ZIPPED=$(stat -c %s "$DIR.zip")
  LINE="$LINE, zip $ZIPPED bytes ($((ZIPPED / 1048576)) MiB)"
fi
echo "$LINE"
if [ "$LIMIT" -gt 0 ] && [ "$UNPACKED" -gt "$LIMIT" ]; then
  echo "$NAME package is over its limit of $LIMIT bytes unpacked" >&2
  exit 1
fi
