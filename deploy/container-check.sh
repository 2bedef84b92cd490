#!/usr/bin/env bash
# CI: builds the image from the Dockerfile as users do, reports its size, runs it against a
# `responder sandbox` on the host and posts the sample events to it (deploy/container_check.py
# checks every answer). Exit 0 only when all of it holds.
#
#   deploy/container-check.sh            (PYTHON: a python with the sandbox extra, default .venv's)
#
# Needs podman (and runc, debootstrap for the local base; .ci/run installs them from Debian).
# Where the FROM image cannot be pulled (no registry), deploy/container-base.sh builds the same
# Debian release with the same Python and tags it with the FROM name. Build and run flags are the
# ones that work in an unprivileged CI container: chroot isolation, the host network, runc with
# cgroupfs, and rlimits the container is allowed to set.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
IMAGE=${IMAGE:-localhost/interruption-responder:ci}
MAX_BYTES=${MAX_BYTES:-180000000}   # 180 MB (issue 19: the image as users pull it)
# Seconds each wait may take (the sandbox writing its settings, the container answering /healthz):
# a deadline polled, not a fixed pause, so a loaded machine only waits longer.
READY_SECONDS=${READY_SECONDS:-180}
# The base the Dockerfile names (FROM python:${PYTHON_VERSION}-slim with its default version), so the
# margin printed is against the image the build really starts from.
PYTHON_VERSION=$(sed -n 's/^ARG PYTHON_VERSION=//p' Dockerfile)
BASE=docker.io/library/python:${PYTHON_VERSION}-slim
PODMAN_RUN=(podman --runtime runc --cgroup-manager cgroupfs run --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
WORK=$(mktemp -d /tmp/responder-container.XXXXXX)
CONTAINER=responder-check-$$
SANDBOX_PID=

cleanup() {
  podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
  if [ -n "$SANDBOX_PID" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

deploy/container-base.sh "$BASE"  # pulled, or made locally where no registry answers
podman build -q --format docker --isolation chroot --network host -t "$IMAGE" . >/dev/null
SIZE=$(podman image inspect "$IMAGE" --format '{{.Size}}')
BASE_SIZE=$(podman image inspect "$BASE" --format '{{.Size}}')
echo "image $IMAGE: $SIZE bytes ($((SIZE / 1000000)) MB; base $BASE $BASE_SIZE bytes; limit $MAX_BYTES, margin $((MAX_BYTES - SIZE)) bytes)"
if [ "$SIZE" -gt "$MAX_BYTES" ]; then echo "image is over $MAX_BYTES bytes" >&2; exit 1; fi

# The sandbox on the host; its export lines, minus `export `, are the container's environment.
"$PYTHON" -m responder sandbox --port 0 --env-file "$WORK/sandbox.env" >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
SANDBOX_PID=$!
DEADLINE=$((SECONDS + READY_SECONDS))
until [ -s "$WORK/sandbox.env" ]; do
  if ! kill -0 "$SANDBOX_PID" 2>/dev/null; then echo "the sandbox exited:" >&2; cat "$WORK/sandbox.err" >&2; exit 1; fi
  if [ "$SECONDS" -ge "$DEADLINE" ]; then echo "no sandbox settings after ${READY_SECONDS}s" >&2; cat "$WORK/sandbox.err" >&2; exit 1; fi
  sleep 0.2
done
# Not the OCI lines: this image has no OCI SDK (WITH_OCI=0) and their key file is a host path.
sed -e '/^export OCI_/d' -e '/^export RESPONDER_OCI_ENDPOINT=/d' -e 's/^export //' "$WORK/sandbox.env" > "$WORK/container.env"
read -r PORT INVOKE_PORT < <("$PYTHON" -c "
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(('127.0.0.1', 0))
print(*(s.getsockname()[1] for s in socks))")

"${PODMAN_RUN[@]}" -d --name "$CONTAINER" --network host --env-file "$WORK/container.env" \
  -e FC_SERVER_PORT="$PORT" -e RESPONDER_INVOKE_PORT="$INVOKE_PORT" "$IMAGE" >/dev/null
"$PYTHON" deploy/container_check.py --port "$PORT" --invoke-port "$INVOKE_PORT" --container "$CONTAINER" \
  --ready-seconds "$READY_SECONDS"
echo "container check passed"
