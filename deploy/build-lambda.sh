#!/usr/bin/env bash
# Builds the AWS Lambda package (template.yaml CodeUri): build/lambda.zip holding responder/,
# handlers/ and the production dependencies at the top level, no sandbox. Lambda's limit is
# 250 MB unzipped (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
# the script fails above it and prints both sizes.
#
#   deploy/build-lambda.sh [OUT_DIR]   (default build/lambda; the zip is OUT_DIR.zip)
#
# Run on Linux x86_64 (template.yaml Architectures: x86_64) with the runtime's Python (3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/lambda}
PYTHON=${PYTHON:-python3}
rm -rf "$OUT" "$OUT.zip" && mkdir -p "$OUT"
cp -r responder handlers "$OUT"/
rm -rf "$OUT/responder/sandbox"
"$PYTHON" -m pip install -q --no-compile --target "$OUT" -r requirements.txt
rm -rf "$OUT/bin"
deploy/prune-site-packages.sh "$OUT"
find "$OUT" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" deploy/zipdir.py "$OUT"
deploy/package-size.sh "$OUT" lambda 262144000
