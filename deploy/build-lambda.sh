#!/usr/bin/env bash
# Builds the AWS Lambda package (template.yaml CodeUri): build/lambda.zip holding responder/,
# handlers/ and the production dependencies at the top level, no sandbox. Lambda's limit is
# 250 MB unzipped (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
# the script fails above it and prints both sizes.
#
#   deploy/build-lambda.sh [OUT_DIR]   (default build/lambda; the zip is OUT_DIR.zip)
#
# The wheels are chosen for Lambda's platform and Python (template.yaml: python3.11, x86_64), not
# the building machine's: LAMBDA_PYTHON=3.11 by default. The bytecode is compiled by PYTHON, which
# must be that same version (the build stops otherwise): /var/task is read-only, and bytecode of
# another version would be ignored and every cold start would compile again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/lambda}
PYTHON=${PYTHON:-python3}
rm -rf "$OUT" "$OUT.zip" && mkdir -p "$OUT"
cp -r responder handlers "$OUT"/
rm -rf "$OUT/responder/sandbox"
LAMBDA_PYTHON=${LAMBDA_PYTHON:-3.11}
deploy/same-python.sh "$PYTHON" "$LAMBDA_PYTHON" "the Lambda runtime (template.yaml)"
"$PYTHON" -m pip install -q --no-compile --target "$OUT" --platform manylinux2014_x86_64 --implementation cp \
  --python-version "$LAMBDA_PYTHON" --only-binary=:all: -r requirements.txt
rm -rf "$OUT/bin"
deploy/prune-site-packages.sh "$OUT"
find "$OUT" -name __pycache__ -prune -exec rm -rf {} +
# unchecked-hash (PEP 552): Lambda unpacks the zip without promising the files' times, and a
# timestamp-checked .pyc whose source time changed is ignored (deploy/build-fc.sh does the same).
"$PYTHON" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$OUT" >/dev/null || true
"$PYTHON" deploy/check_bytecode.py "$OUT"
"$PYTHON" deploy/zipdir.py "$OUT"
deploy/package-size.sh "$OUT" lambda 262144000
