# The responder as a container: the same gunicorn server as the FC custom runtime (s.yaml).
#   docker build -t interruption-responder .            (Python 3.11)
#   docker build --build-arg PYTHON_VERSION=3.12 -t interruption-responder .   (3.10 / 3.12 too)
#   docker run -p 9000:9000 --env-file .env interruption-responder
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FC_SERVER_PORT=9000 \
    RESPONDER_DATABASE_URL=sqlite:////data/responder.db

# A user without a login or a writable code directory; SQLite (the default store) lives in /data.
RUN groupadd --system responder \
 && useradd --system --gid responder --home-dir /app --no-create-home --shell /usr/sbin/nologin responder \
 && mkdir -p /data \
 && chown responder:responder /data

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes. The production
# requirements only: the sandbox clouds (moto, PyYAML) are an extra no image carries.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt \
 && python -c "import importlib.util as u, sys; found = [m for m in ('moto',) if u.find_spec(m)]; sys.exit(f'sandbox packages in a production image: {found}' if found else 0)"

COPY responder/ responder/
COPY handlers/ handlers/
COPY events/ events/
COPY gunicorn.conf.py .

USER responder
VOLUME ["/data"]
EXPOSE 9000

# The slim image has no curl: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FC_SERVER_PORT', '9000'), timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "responder.wsgi:app"]
