"""WSGI entry for gunicorn (FC custom runtime, Dockerfile): `gunicorn responder.wsgi:app`.

Each worker runs its own background ticker; the store's lease keeps them off the same task.
"""

from responder.settings import Settings
from responder.web import create_app

settings = Settings.from_env()
if settings.log_format == "json":
    from responder.logformat import configure_logging

    configure_logging(settings)
app = create_app(settings)
if settings.background_ticker:
    app.start_ticker()
