"""gunicorn settings for the responder's web server (`gunicorn -c gunicorn.conf.py responder.wsgi:app`).

Used the same way by the FC 3.0 custom runtime (s.yaml) and the container (Dockerfile).
FC tells the server which port to listen on through FC_SERVER_PORT (customRuntimeConfig.port).
Logging (stdout, the FC Invoke Start/End lines) is configured by responder.wsgi in each worker.

Metrics: every worker is its own process, so /metrics runs prometheus_client in multiprocess mode
(https://prometheus.github.io/client_python/multiprocess/): PROMETHEUS_MULTIPROC_DIR is the
operator's, or a fresh temp dir per start; on_starting empties it (the library requires a clean
directory per run), child_exit marks a dead worker, on_exit removes a temp dir made here.
"""
import glob
import os
import shutil
import tempfile

bind = [f"0.0.0.0:{os.environ.get('FC_SERVER_PORT', '9000')}"]
# RESPONDER_INVOKE_PORT (the container sets 9001): /invoke, which takes no token, on a port of its
# own that is not published; the app refuses /invoke on the main port (responder/web.py).
if os.environ.get("RESPONDER_INVOKE_PORT", "0") not in ("", "0", os.environ.get("FC_SERVER_PORT", "9000")):
    bind.append(f"0.0.0.0:{os.environ['RESPONDER_INVOKE_PORT']}")

# 2 processes x 8 threads = 16 concurrent requests, s.yaml's instanceConcurrency.
# Requests mostly wait on cloud APIs and the database, so threads are cheap concurrency.
workers = 2
threads = 8
worker_class = "gthread"
# A worker's requests in a wave wait together for their verification read (replace/group_reads.py)
# no longer once all its threads are waiting: no other request could reach it (responder/wsgi.py).
os.environ.setdefault("GUNICORN_THREADS", str(threads))

# /invoke drives a race task to the end inside the invocation; FC's function timeout (s.yaml) is
# 1800 s, so gunicorn must not kill the worker first.
timeout = 1800
graceful_timeout = 30
keepalive = 75

# Logs go to stdout / stderr: FC ships them to SLS (logConfig), docker to its log driver.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("RESPONDER_LOG_LEVEL", "info").lower()

# No gunicornc control socket: nobody uses it here, and it would be created under $HOME, which the
# container's non-root user cannot write.
control_socket_disable = True



# The metrics directory is chosen in on_starting, in the master, before any worker is forked and
# imports prometheus_client (which picks multiprocess mode at import, from the environment);
# forked workers inherit os.environ. Not at module level: reading this file must not change the
# reader's environment. preload_app stays off, or the app would import the library first.
_metrics = {"dir": "", "own": False}


def on_starting(server):
    """Mask secrets in every log record (gunicorn's error and access logs too) before the first
    worker forks; workers inherit the record factory (the SDK loggers stay at WARNING unless
    RESPONDER_SDK_DEBUG=true). Then choose the metrics directory and start it from zero: files of
    a previous run would be added to this run's totals."""
    from responder.logsafe import install_log_redaction
    from responder.settings import Settings

    install_log_redaction(Settings.from_env())
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not chosen:
        chosen = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="responder-metrics-")
        _metrics["own"] = True
    _metrics["dir"] = chosen
    os.makedirs(chosen, exist_ok=True)
    for kind in ("counter", "gauge", "histogram", "summary"):  # only what prometheus_client writes
        for path in glob.glob(os.path.join(chosen, f"{kind}_*.db")):
            os.remove(path)


def child_exit(server, worker):
    """A dead worker's counters still count; its live gauges must not."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics["dir"] or None)


def on_exit(server):
    if _metrics["own"]:
        shutil.rmtree(_metrics["dir"], ignore_errors=True)
