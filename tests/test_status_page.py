"""The status page in a real headless browser (Debian's chromium, driven by selenium): it loads
behind the token, shows a replaced and a failed task with their replacement, type, zone, market,
state, gap and timeline on a scale that fits them, logs no console error, refreshes itself in place,
stays readable at 200 tasks and passes axe-core's accessibility rules. Screenshots are written to
RESPONDER_TEST_ARTIFACTS (default: the test's tmp dir) and their paths printed, never into the
repository; docs/status-page.png is the reference a person compares the 200-task one with.

Parts: the page server (the Flask app on a loopback port, over the sandbox clouds), seed_tasks (199
more rows cut from the real replaced and failed tasks' records: other instances, times, states),
the browser fixture (skips outside CI when chromium or chromedriver is missing, fails in CI),
page_screenshot, and the tests.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import threading
import time
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
    # The original's release is drawn when it falls inside the scale, and named at the edge otherwise.
    assert (rows["done"].find_elements(By.CSS_SELECTOR, ".release")
            or rows["done"].find_element(By.CSS_SELECTOR, ".after").text.endswith(" s →"))
    done = runner.store.get(rows["done"].get_attribute("data-task-id"))
    chosen = done.data["launch"]["replacement"]
    assert done.data["launch"]["replacement_ids"][0] in rows["done"].get_attribute("innerHTML")
    for shown in (chosen["instance_type"], chosen["zone"], chosen["market"], "done"):
        assert shown in rows["done"].text
    failures = browser.find_elements(By.CSS_SELECTOR, "#failures tr.failure")
    assert failures and failed.id in failures[0].text
    assert browser.find_element(By.ID, "channels").text.count("json-") == 1
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    shot = _artifacts(tmp_path) / "status-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000
    print(f"status page screenshot: {shot}")


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


def _artifacts(tmp_path: Path) -> Path:
    artifacts = Path(os.environ.get("RESPONDER_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    return artifacts


def _open(browser, url: str) -> None:
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {TOKEN}"}})
    browser.get(url)


def seed_tasks(store, done, failed, count: int, now: float) -> None:
    """`count` more task rows cut from the real replaced and failed tasks' records: other
    instances, receipt times over the day, lengths from half to twice the real one, and a mix of
    states (mostly replaced; some failed, rejected, still launching)."""
    from responder.replace.record import TaskRecord

    rng = random.Random(20)
    for n in range(count):
        status = rng.choices(["done", "failed", "rejected", "launching"], weights=[86, 5, 6, 3])[0]
        model = failed if status == "failed" else done
        record = TaskRecord.from_json(model.data)
        start = record.timings["received"]
        received = now - (rng.uniform(5, 90) if status == "launching" else rng.uniform(120, 20 * 3600))
        # A few replacements came after the original was gone (a gap): far slower than the rest.
        stretch = rng.uniform(120, 250) if status == "done" and rng.random() < 0.05 else rng.uniform(0.5, 2.0)
        record.timings = {k: received + (v - start) * stretch for k, v in record.timings.items()}
        if status in ("rejected", "launching"):
            kept = ("received", "verified") if status == "rejected" else ("received", "verified", "image_requested")
            record.timings = {k: v for k, v in record.timings.items() if k in kept}
            record.launch.replacement, record.launch.replacement_ids = None, []
        elif status == "done":
            record.launch.replacement_ids = [f"i-bp{rng.getrandbits(72):018x}"]
        instance = f"i-bpseed{n:014d}"
        row = store.claim(f"{model.cloud}:{model.region}:{instance}", model.cloud, model.region, instance,
                          model.kind, data=record.to_json()).task
        row.status = status
        row.reason = {"done": "replaced", "failed": model.reason, "rejected": "instance is not being reclaimed",
                      "launching": ""}[status]
        store.save(row)


def page_screenshot(browser, path: Path, height: int | None = None) -> Path:
    """The page from its top, `height` pixels of it or all of it (chromium's captureBeyondViewport)."""
    width, full = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height or full, full), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


@pytest.mark.timeout(300)
def test_the_page_at_200_tasks_is_readable_and_passes_the_accessibility_rules(page_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium_axe_python import Axe

    base, runner, failed = page_server
    done = next(r for r in runner.store.list() if r.status == "done")
    seed_tasks(runner.store, done, failed.row, 198, time.time())
    _open(browser, base + "/?refresh=0")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.task")
    assert len(rows) == 200
    states = {row.get_attribute("data-status") for row in rows}
    assert states == {"done", "failed", "rejected", "launching"}
    # Readable: the typical bar is a bar, not a sliver; nothing is wider than the window; the text
    # is at least 11 px; every replaced row names its replacement, type, zone and market.
    track = rows[0].find_element(By.CSS_SELECTOR, ".track").size["width"]
    widths = sorted(r.find_element(By.CSS_SELECTOR, ".bar").size["width"] for r in rows
                    if r.get_attribute("data-status") == "done")
    assert track >= 220 and widths[len(widths) // 2] >= 0.25 * track, (track, widths[:5], widths[-5:])
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    smallest = browser.execute_script(
        "return Math.min(...[...document.querySelectorAll('main td, main th')].map("
        "e => parseFloat(getComputedStyle(e).fontSize)))")
    assert smallest >= 11
    for row in rows:
        if row.get_attribute("data-status") == "done":
            cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
            assert cells[3].startswith("i-") and all(cells[4:7]) and "-" not in cells[4:7], cells
    # The axis ends at the scale, which covers most bars; the longer ones are marked as cut.
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "thead .axis span")]
    assert labels[0] == "0 s" and len(labels) >= 3
    cut = browser.find_elements(By.CSS_SELECTOR, ".bar.cut")
    assert 0 < len(cut) <= 20
    # axe-core (the rules browsers' audits use): no violation of any rule it runs by default.
    browser.set_script_timeout(180)  # axe walks every one of the 200 rows' cells
    axe = Axe(browser)
    axe.inject()
    results = axe.run()
    assert results["violations"] == [], axe.report(results["violations"])
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    whole = page_screenshot(browser, _artifacts(tmp_path) / "status-page-200-tasks.png")
    top = page_screenshot(browser, _artifacts(tmp_path) / "status-page-200-tasks-top.png", height=1400)
    assert whole.stat().st_size > top.stat().st_size > 20_000
    print(f"status page at 200 tasks: {whole}, its top: {top} (compare with docs/status-page.png)")


@pytest.mark.timeout(120)
def test_the_page_refreshes_itself_in_place(page_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, runner, failed = page_server
    done = next(r for r in runner.store.list() if r.status == "done")
    _open(browser, base + "/?refresh=2")
    browser.execute_script("window.notReloaded = true")
    before = len(browser.find_elements(By.CSS_SELECTOR, "tr.task"))
    seed_tasks(runner.store, done, failed.row, 1, time.time())
    WebDriverWait(browser, 20, 0.2).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "tr.task")) == before + 1)
    assert browser.execute_script("return window.notReloaded === true")  # the rows changed, the page stayed
    toggle = browser.find_element(By.ID, "refresh-toggle")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true" and toggle.text == "Resume refresh"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_the_time_scale_fits_the_tasks_shown():
    from responder.status.page import axis, fit_scale

    assert fit_scale([4.0, 7.5, 9.0]) == 10  # seconds-long replacements are not drawn on ten minutes
    assert fit_scale([40.0, 55.0, 61.0]) == 90
    # One slow task among many fast ones does not shrink them: the 90th percentile sets the scale.
    assert fit_scale([20.0] * 19 + [1800.0]) == 30
    assert fit_scale([]) == 5
    ticks = axis(90)
    assert [t["label"] for t in ticks] == ["0 s", "30 s", "60 s", "1.5 min"] and ticks[-1]["left"] == 100
