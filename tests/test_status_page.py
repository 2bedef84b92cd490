"""The status page in a real headless browser (Debian's chromium, driven by selenium): it loads
behind the token, shows a replaced and a failed task with their timelines, and logs no console
error. A screenshot is written to RESPONDER_TEST_ARTIFACTS (default: the test's tmp dir), never
into the repository.

Parts: the page server (the Flask app on a loopback port, over the sandbox clouds), the browser
fixture (skips outside CI when chromium or chromedriver is missing, fails in CI), and the tests.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import event_bytes
from tests.scenarios import scenario

TOKEN = "status-page-token-0123456789"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"the status page test must run in CI: {reason} (apt-get install chromium chromium-driver)")
    pytest.skip(reason)


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (requirements-dev.txt)")
    binary = next((b for b in CHROMIUM if Path(b).exists()), shutil.which("chromium"))
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        _missing("Debian's chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900", "--no-proxy-server"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def page_server(responder_factory):
    """Serve an app holding one replaced and one failed task; yields (base URL, runner)."""
    client, runner, box = responder_factory(scenario(offers=[], cloud="aliyun"),
                                            settings={"auth_token": TOKEN,
                                                      "notify_urls": ("json://127.0.0.1:9/unreachable",)})
    headers = {"X-Responder-Token": TOKEN}
    done = client.post("/events", data=event_bytes("aliyun/cloudmonitor-interruption.json"), headers=headers)
    assert runner.run_to_end(done.get_json()["task"]["id"], timeout=60).status == "done"
    # An AWS world with no stock anywhere, over the same store file: its task fails.
    failing_client, failing_runner, _ = responder_factory(scenario(offers=[], default_stock=0, cloud="aws"),
                                                          settings={"auth_token": TOKEN})
    failed = failing_client.post("/events", data=event_bytes("aws/spot-interruption-warning.json"), headers=headers)
    final = failing_runner.run_to_end(failed.get_json()["task"]["id"], timeout=60)
    assert final.status == "failed", final.status
    server = make_server("127.0.0.1", 0, client.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", runner, final
    server.shutdown()


def test_the_page_asks_for_the_token_and_refuses_a_wrong_one(page_server):
    import requests

    base, _, _ = page_server
    assert requests.get(base + "/", timeout=10).status_code == 401
    assert requests.get(base + "/", timeout=10).headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(base + "/", auth=("ops", "wrong"), timeout=10).status_code == 401
    shown = requests.get(base + "/", auth=("ops", TOKEN), timeout=10)
    assert shown.status_code == 200 and TOKEN not in shown.text


def test_the_page_shows_a_replaced_and_a_failed_task_and_logs_no_console_error(page_server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base, runner, failed = page_server
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {TOKEN}"}})
    browser.get(base + "/")
    assert browser.title == "Interruption Responder status"
    rows = {row.get_attribute("data-status"): row for row in browser.find_elements(By.CSS_SELECTOR, "tr.task")}
    assert set(rows) >= {"done", "failed"}, browser.page_source[:2000]
    marks = rows["done"].find_elements(By.CSS_SELECTOR, ".mark")
    assert [m.get_attribute("title") for m in marks] == ["image", "launch", "Running"]
    assert rows["done"].find_elements(By.CSS_SELECTOR, ".release")
    failures = browser.find_elements(By.CSS_SELECTOR, "#failures tr.failure")
    assert failures and failed.id in failures[0].text
    assert browser.find_element(By.ID, "channels").text.count("json-") == 1
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    artifacts = Path(os.environ.get("RESPONDER_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "status-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000


def test_targets_from_the_targets_flow_show_on_the_page_and_in_the_metrics(tmp_path):
    from responder.settings import Settings
    from responder.web import create_app

    pools = [{"name": "pool-a", "desired": 8, "held": 5}]
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db", background_ticker=False), clouds={},
                     targets=lambda: pools)
    page = app.test_client().get("/").get_data(as_text=True)
    assert "<td>pool-a</td><td>8</td><td>5</td>" in page
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'responder_target_desired_capacity{target="pool-a"} 8.0' in metrics
    assert 'responder_target_held_capacity{target="pool-a"} 5.0' in metrics
