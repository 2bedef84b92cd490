"""Standing capacity speaks through the notification outbox: a target that is acquired sends one
`target_acquired` notice to the configured channel, and the status page lists it desired vs held."""

from __future__ import annotations

from notify_receiver import receiver  # noqa: F401 - the fixture
from responder.replace.runner import TaskRunner
from responder.settings import Settings
from responder.store import Store
from responder.targets import events
from responder.web import create_app
from tests.scenarios import scenario
from tests.targets_fixtures import Rig, make_target


def test_an_acquired_target_is_notified_once_and_shown_on_the_status_page(sandbox_factory, tmp_path, receiver):
    box = sandbox_factory(scenario(cloud="aws"))
    url = f"sqlite:///{tmp_path}/tasks.db"
    rig = Rig(box, url)
    rig.tstore.add(make_target("aws", count=2))
    settings = Settings(database_url=url, background_ticker=False, notify_urls=(f"{receiver.base}/hook",))
    app = create_app(settings, runner=TaskRunner(Store(url), box.clouds, settings))
    notifier = app.extensions["responder"]["notifier"]
    try:
        rig.tick()
        rig.tick()  # a second tick finds the target met: nothing more to say
        notifier.tick()
        acquired = [r.json() for r in receiver.requests if r.json()["kind"] == "target_acquired"]
        assert len(acquired) == 1 and acquired[0]["fields"]["target"] == "web"
        page = app.test_client().get("/").get_data(as_text=True)
        assert "web" in page and "2" in page
    finally:
        events.set_sink(None)
