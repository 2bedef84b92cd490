#!/usr/bin/env bash
# Builds, where no registry can be reached, a local stand-in for the Dockerfile's FROM image and
# tags it with that name, so the Dockerfile users build stays unchanged. The real python:3.11-slim
# is Debian 13 "trixie" with CPython 3.11 built from source in /usr/local (docker-library/python,
# 3.11/slim-trixie; bookworm until August 2025). Trixie's own python3 is 3.13, so the stand-in is
# Debian 12 "bookworm", whose python3 is 3.11, in place of the image's /usr/local build: `python`
# and `python3` on PATH, venv and pip available. Its size is close to the real one's, not the same
# (BENCHMARKS.md, "Cold start of the artifacts as shipped").
#
#   deploy/container-base.sh [TAG]        (default: the Dockerfile's FROM, python:${PYTHON_VERSION}-slim)
#
# Needs root, debootstrap and podman (Debian packages). Skips the work when the tag exists or a
# registry gives it.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-docker.io/library/python:$(sed -n 's/^ARG PYTHON_VERSION=//p' Dockerfile)-slim}
if podman image exists "$TAG" || podman pull -q "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG exists"; exit 0
fi
ROOTFS=$(mktemp -d /tmp/responder-base.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOTFS" \
  http://deb.debian.org/debian >/dev/null
# The official image's layout: python and python3 in /usr/local/bin; pip may install system-wide.
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python3"
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
rm -f "$ROOTFS"/usr/lib/python3.*/EXTERNALLY-MANAGED
# This machine's trust store and pip's use of it: where TLS to PyPI passes an inspecting proxy,
# pip inside the build must trust what pip on the host trusts (the official image would be built
# behind the same proxy with the same setting).
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$ROOTFS/etc/pip.conf"
# What the slim image leaves out: apt lists, docs, man pages, locales.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/usr/share/doc/* \
       "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
tar -C "$ROOTFS" -c . | podman import --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' - "$TAG" >/dev/null
echo "base image $TAG built: $(podman image inspect "$TAG" --format '{{.Size}}') bytes"
