"""gunicorn settings for the responder's web server (`gunicorn -c gunicorn.conf.py responder.wsgi:app`).

Used the same way by the FC 3.0 custom runtime (s.yaml) and the container (Dockerfile).
FC tells the server which port to listen on through FC_SERVER_PORT (customRuntimeConfig.port).
"""
import os

bind = f"0.0.0.0:{os.environ.get('FC_SERVER_PORT', '9000')}"

# 2 processes x 8 threads = 16 concurrent requests, s.yaml's instanceConcurrency.
# Requests mostly wait on cloud APIs and the database, so threads are cheap concurrency.
workers = 2
threads = 8
worker_class = "gthread"

# A request may drive a replacement until it has to wait for the image; FC's function timeout is
# also 600 s, so gunicorn must not kill the worker first.
timeout = 600
graceful_timeout = 30
keepalive = 75

# Logs go to stdout / stderr: FC ships them to SLS (logConfig), docker to its log driver.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("RESPONDER_LOG_LEVEL", "info").lower()

# No gunicornc control socket: nobody uses it here, and it would be created under $HOME, which the
# container's non-root user cannot write.
control_socket_disable = True


def on_starting(server):
    """Mask secrets in every log record (gunicorn's error and access logs too) before the first
    worker forks; workers inherit the record factory. The SDK loggers stay at WARNING unless
    RESPONDER_SDK_DEBUG=true."""
    from responder.logsafe import install_log_redaction
    from responder.settings import Settings

    install_log_redaction(Settings.from_env())
