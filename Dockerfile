# The responder as a container: the same gunicorn server as the FC custom runtime (s.yaml).
#   docker build -t interruption-responder .            (Python 3.11)
#   docker build --build-arg PYTHON_VERSION=3.12 -t interruption-responder .   (3.10 / 3.12 too)
#   docker run -p 9000:9000 --env-file .env interruption-responder
#   docker build --build-arg WITH_OCI=1 -t interruption-responder:oci .   (with the OCI SDK, see below)
# /events, /tasks, /healthz and /metrics are on 9000; /invoke (no token: Function Compute's
# contract) is on 9001, which is not published unless you add -p 9001:9001 on purpose.
ARG PYTHON_VERSION=3.11
# 1: carry the oci SDK (the `oci` extra), pruned to the service packages the OCI adapter uses. Off by
# default: even pruned (about 19 MB, plus pytz, pyOpenSSL, python-pkcs11 and aiohttp it requires)
# it takes the image past the 180 MB that deploy/container-check.sh holds the default image to.
ARG WITH_OCI=0

# --- build: the image's whole file system, trimmed, then copied as one layer into the run stage ---
FROM python:${PYTHON_VERSION}-slim AS build
ARG WITH_OCI
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Dependencies first: this layer is rebuilt only when requirements.txt changes. The production
# requirements only: the sandbox clouds (moto) are an extra no image carries. --no-compile: the
# bytecode is made once, after the pruning, of what ships (deploy/prune-image.sh).
COPY requirements.txt requirements-oci.txt ./
RUN python -m venv /opt/responder \
 && /opt/responder/bin/pip install --no-compile -r requirements.txt \
 && if [ "$WITH_OCI" = 1 ]; then /opt/responder/bin/pip install --no-compile -r requirements-oci.txt; fi
COPY pyproject.toml README.md ./
COPY responder/ responder/
COPY handlers/ handlers/
COPY deploy/prune-site-packages.sh deploy/prune-image.sh deploy/check_bytecode.py /tmp/
# The package itself (the `responder` command) without its sandbox (emulators no deployment runs),
# then what a running server never uses: pip, setuptools, botocore's models of other services, the
# packages' tests (prune-site-packages.sh); then the base image's extras and the bytecode of all that
# ships (prune-image.sh, which checks it).
RUN /opt/responder/bin/pip install --no-compile --no-deps -r requirements.txt . \
 && /opt/responder/bin/python -c "import importlib.util as u, sys; found = [m for m in ('moto', 'cfn_lint', 'hypothesis', 'pytest', 'selenium') if u.find_spec(m)]; sys.exit(f'sandbox or test packages in a production image: {found}' if found else 0)" \
 && /opt/responder/bin/pip uninstall -y -q pip setuptools \
 && SITE="$(/opt/responder/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf "$SITE/responder/sandbox" \
 && PYTHON=/opt/responder/bin/python sh /tmp/prune-site-packages.sh "$SITE" \
 && sh /tmp/prune-image.sh /opt/responder \
 && groupadd --system responder \
 && useradd --system --gid responder --home-dir /app --no-create-home --shell /usr/sbin/nologin responder \
 && mkdir -p /data /app \
 && chown responder:responder /data

# --- run: the trimmed file system as one layer (a deletion in a later layer would not shrink it) --
FROM scratch
COPY --from=build / /
# FROM scratch keeps none of the base image's settings: its PATH and locale are set again here.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 \
    PATH=/opt/responder/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    FC_SERVER_PORT=9000 \
    RESPONDER_INVOKE_PORT=9001 \
    RESPONDER_DATABASE_URL=sqlite:////data/responder.db

# A user without a login or a writable code directory (made in the build stage); SQLite (the
# default store) lives in /data.
WORKDIR /app
COPY events/ events/
COPY gunicorn.conf.py .

USER responder
VOLUME ["/data"]
EXPOSE 9000

# The slim image has no curl: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FC_SERVER_PORT', '9000'), timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "responder.wsgi:app"]
