"""The console in real headless Chromium (Debian's package, driven by Playwright) against a real
hub on the real broker: log in, see an alarm appear live when a published reading crosses a
threshold, acknowledge it, and find the acknowledgement in the alarms database. Screenshots are
kept in the test's temporary folder (`screenshots/`)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_sim.mqtt_devices import iso_ms, publish_all
from hub.alarms import AlarmStore
from hub.app import HubThread
from hub.config import parse_config
from hub.console.users import UserStore
from hub.localservices import LocalInfluxd, LocalMosquitto
from tests.conftest import site_yaml, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
SENSORS = """
  - {id: tundzha-1, kind: river, area: centre, location: {lat: 42.615, lon: 25.39}}
  - {id: rain-shipka, kind: rain, area: shipka, location: {lat: 42.716, lon: 25.33}}
"""
EXTRA = """
rules:
  - id: tundzha-level
    kind: threshold
    hazard: flood
    audience: public
    select: {sensors: [tundzha-1]}
    field: level_cm
    levels: {yellow: 200, orange: 260, red: 320}
    clear: 180
http: {listen_port: 0}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--no-first-run", "--disable-sync", "--disable-extensions"])
        yield browser
        browser.close()


def test_log_in_see_a_live_alarm_acknowledge_it(browser, mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                unique_name: str, tmp_path: Path) -> None:
    # Areas with outlines for the offline map (the conftest areas have none).
    text = site_yaml(unique_name, mosquitto.port, influxd.url, SENSORS, EXTRA).replace(
        "  - {id: centre, name: Център, type: neighbourhood}",
        "  - {id: centre, name: Център, name_en: Centre, type: neighbourhood, centre: {lat: 42.619, lon: 25.393},\n"
        "     polygon: [[42.63, 25.38], [42.63, 25.41], [42.61, 25.41], [42.61, 25.38], [42.63, 25.38]]}")
    assert "polygon" in text
    config = parse_config(text)
    data = tmp_path / "hub"
    users = UserStore(data / "console.sqlite")
    users.add("ivan", "operator", PASSWORD)
    users.close()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    hub = HubThread(config, data)
    parts = hub.start()
    try:
        wait_until(lambda: parts.http.port is not None, what="HTTP server listening")
        url = f"http://127.0.0.1:{parts.http.port}"
        context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="bg-BG")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # Refused requests (the session check before login, the wrong password) log as console
        # errors by design; script errors are what must not happen.
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" and "Failed to load resource" not in message.text else None)

        page.goto(f"{url}/console/")
        page.fill("#login-name", "ivan")
        page.fill("#login-password", "wrong password")
        page.click("#login-submit")
        page.wait_for_selector("#login-error:has-text('Грешно')")
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#live.on")
        assert page.is_hidden("#login-view") and page.is_visible("#alarms")
        page.wait_for_selector("#sensors tr[data-sensor='tundzha-1']")
        assert page.locator("#alarms tbody tr").count() == 0
        page.screenshot(path=str(shots / "1-logged-in.png"), full_page=True)

        ts = time.time_ns() // 1_000_000
        publish_all("127.0.0.1", mosquitto.port, iter([(
            f"{config.topic_root}/reading/river/tundzha-1",
            json.dumps({"ts": iso_ms(ts), "values": {"level_cm": 351.5}}).encode())]))
        row = page.wait_for_selector("#alarms tr[data-state='active']", timeout=15_000)
        assert "ЧЕРВЕН" in row.inner_text() and "tundzha-level" in row.inner_text()
        page.wait_for_selector("#map circle[data-sensor='tundzha-1'][fill='#e0242b']")
        page.wait_for_selector("#sensors tr[data-sensor='tundzha-1']:has-text('351.5')")
        page.screenshot(path=str(shots / "2-alarm-live.png"), full_page=True)

        alarm_id = int(row.get_attribute("data-id"))
        page.fill(f"#alarms tr[data-id='{alarm_id}'] .ack-comment", "екип на място")
        page.click(f"#alarms tr[data-id='{alarm_id}'] button.ack")
        page.wait_for_selector(f"#alarms tr[data-id='{alarm_id}'][data-state='acknowledged']")
        assert "ivan: екип на място" in page.inner_text(f"#alarms tr[data-id='{alarm_id}']")
        page.click("#lang")
        page.wait_for_selector("#alarms tr[data-state='acknowledged']:has-text('RED')")

        page.select_option("#silence-matcher", "sensor")
        page.fill("#silence-value", "rain-shipka")
        page.fill("#silence-minutes", "45")
        page.fill("#silence-comment", "gauge maintenance")
        page.click("#silence-form button[type=submit]")
        silence_row = page.wait_for_selector("#silences tr[data-silence]:has-text('rain-shipka')")
        silence_id = int(silence_row.get_attribute("data-silence"))
        page.screenshot(path=str(shots / "3-acknowledged-en.png"), full_page=True)
        assert [(s.value, s.created_by) for s in parts.alarms.store.silences()] == [("rain-shipka", "ivan")]
        page.click(f"#silences tr[data-silence='{silence_id}'] button.expire")
        page.wait_for_selector("#silences tr[data-silence]", state="detached")
        assert parts.alarms.store.silences() == []
        context.close()
        assert not errors, errors
    finally:
        hub.stop()
    stored = AlarmStore(data / "alarms.sqlite")
    alarm = stored.alarm(alarm_id)
    assert alarm.state == "acknowledged" and alarm.acknowledged_by == "ivan"
    assert alarm.acknowledge_comment == "екип на място"
    assert [e["kind"] for e in stored.alarm_events(alarm_id)] == ["raised", "acknowledged"]
    assert {p.name for p in shots.iterdir()} == {"1-logged-in.png", "2-alarm-live.png", "3-acknowledged-en.png"}
