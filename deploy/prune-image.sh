#!/bin/sh
# Trims the container's root file system in the Dockerfile's build stage, which the run stage then
# copies whole (FROM scratch): a file deleted in a later layer would still count in the image, so
# the trimming happens before the one copy. Removes what a running responder never loads from the
# base image's Python (its pip, setuptools and wheel; IDLE, tkinter, turtledemo, lib2to3, ensurepip's
# bundled wheels, test suites) and what the slim image still carries for people (docs, man pages, apt
# lists), then compiles the whole Python the image runs — the base's standard library (the official
# image ships it without bytecode) and the responder's virtualenv — because the code directories
# are read-only to the `responder` user and every start would compile its imports again.
#   deploy/prune-image.sh VENV_DIR          (run as root inside the build stage)
set -eu
VENV=$1
cd /  # the build's working directory (/src) is among what goes
PY="$VENV/bin/python"
# Shared libraries without their symbol tables (about 12 MB: cryptography's Rust core alone is 15 MB
# with them); a crash's backtrace loses names, nothing else changes. binutils is removed again
# before the clean-up below, so none of it ships.
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends binutils >/dev/null
find "$VENV" -name '*.so*' -type f -exec strip --strip-unneeded {} +
apt-get purge -y -qq --auto-remove binutils >/dev/null
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
STDLIB=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
BASE_SITE=$("$PY" -c 'import sys, sysconfig; print(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])')
for gone in idlelib tkinter turtledemo turtle.py lib2to3 ensurepip pydoc_data test unittest/test \
            distutils ctypes/test sqlite3/test; do
  rm -rf "${STDLIB:?}/$gone"
done
rm -rf "$STDLIB"/lib-dynload/_tkinter*.so "$STDLIB"/lib-dynload/_test*.so "$STDLIB"/lib-dynload/xx*.so \
       "$STDLIB"/lib-dynload/_ctypes_test*.so
# glibc's iconv converters (8 MB): Python decodes with its own codecs and the locale is C.UTF-8,
# whose charset glibc carries built in; nothing in the image calls iconv.
rm -rf /usr/lib/*-linux-gnu/gconv
# The tzdata package is the time zones' fallback where the system has none (zoneinfo looks at
# /usr/share/zoneinfo first): not needed where the base image has them.
if [ -f /usr/share/zoneinfo/UTC ]; then rm -rf "$SITE/tzdata" "$SITE"/tzdata-*.dist-info; fi
# The base Python's own installers: the venv has none either (the build uninstalled them), so the
# image cannot install packages at run time.
for gone in pip setuptools wheel _distutils_hack distutils-precedence.pth; do
  rm -rf "${BASE_SITE:?}/$gone" "$BASE_SITE"/"$gone"-*.dist-info
done
rm -f /usr/local/bin/pip /usr/local/bin/pip3* /usr/local/bin/idle* /usr/local/bin/pydoc* /usr/local/bin/2to3*
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/* /usr/share/doc/* \
       /usr/share/man/* /usr/share/info/* /root/.cache /src
find / -xdev -name __pycache__ -prune -exec rm -rf {} +
# Bytecode made by the interpreter that runs it (same version, same magic number), without the
# column tables of each instruction (PYTHONNODEBUGRANGES): a traceback keeps its file and line and
# loses only the ^^^ marks under the expression, and the bytecode is about a tenth smaller.
# The dependencies as bytecode only (.pyc where the .py was, which Python imports without a
# source): their source is 33 MB that no running server reads. A traceback through them keeps
# file and line, not the line's text. Kept as source: the responder itself (its tracebacks are the
# ones read), alembic's templates (files it copies) and apprise's plugins (it finds them by listing
# *.py files, apprise/manager.py).
PYTHONNODEBUGRANGES=1 "$PY" -m compileall -q -b -j 0 \
  -x 'site-packages/(responder/|handlers/|alembic/templates/|apprise/plugins/)' "$SITE" >/dev/null || true
find "$SITE" -name '*.py' ! -path "$SITE/responder/*" ! -path "$SITE/handlers/*" ! -path "$SITE/alembic/templates/*" \
  ! -path "$SITE/apprise/plugins/*" -exec sh -c 'for f; do if [ -f "${f}c" ]; then rm "$f"; fi; done' sh {} +
PYTHONNODEBUGRANGES=1 "$PY" -m compileall -q -j 0 "$STDLIB" "$VENV" >/dev/null || true
"$PY" /tmp/check_bytecode.py "$STDLIB" "$VENV"
rm -rf /usr/share/python-wheels /tmp/*
