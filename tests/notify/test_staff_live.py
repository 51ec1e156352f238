"""Staff paging in the running hub (real broker and database, the recording `outbox` provider):
a public alarm pages the first person on call by SMS and on MQTT and the citizens get their
warning; unacknowledged, the next person is paged; the acknowledgement (as the console makes it)
stops the reminders and is itself told to those paged."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.mqtt_devices import iso_ms
from hub.app import HubThread
from hub.config import parse_config
from hub.localservices import LocalInfluxd, LocalMosquitto
from hub.notify.providers.outbox import RecordingProvider
from tests.conftest import site_yaml, wait_until
from tests.notify.helpers import population

pytestmark = pytest.mark.integration


def test_staff_are_paged_until_someone_acknowledges(mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                    unique_name: str, tmp_path: Path) -> None:
    sensors = ("  - {id: centre-river, kind: river, area: centre, location: {lat: 42.62, lon: 25.39}, "
               "interval_s: 60}")
    extra = """
rules:
  - {id: centre-river-level, kind: threshold, hazard: flood, audience: public, select: {areas: [centre],
      kinds: [river]}, subject: area, field: level_cm, levels: {yellow: 200, orange: 260, red: 320}, clear: 180}
notify:
  sms: {provider: {kind: outbox}, rate_per_s: null, counts_interval_s: 0.1}
  staff:
    escalate_after_min: 0.01
    repeat_last: false
    on_call:
      - {name: Иван, phone: 0888 000 001}
      - {name: Мария, phone: 0888 000 002}
"""
    config = parse_config(site_yaml(unique_name, mosquitto.port, influxd.url, sensors, extra))
    pages: list[dict] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2)
    watcher.on_message = lambda c, u, message: pages.append(json.loads(message.payload))
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe(f"{config.topic_root}/notify/staff", qos=1)
    watcher.loop_start()
    hub = HubThread(config, tmp_path / "hub")
    parts = hub.start()
    assert parts.notify is not None
    parts.notify.subscribers.add_many(population(3))
    try:
        reading = json.dumps({"ts": iso_ms(time.time_ns() // 1_000_000), "values": {"level_cm": 280.0}})
        watcher.publish(f"{config.topic_root}/reading/river/centre-river", reading, qos=1).wait_for_publish(10)
        wait_until(lambda: [p["member"] for p in pages] == ["Иван", "Мария"], what="first page and escalation")
        assert [(p["event"], p["step"]) for p in pages] == [("raised", 0), ("reminder", 1)]
        alarm_id = pages[0]["alarm_id"]
        stage = parts.alarms
        assert stage is not None and hub._loop is not None
        asyncio.run_coroutine_threadsafe(stage.acknowledge(alarm_id, "Мария", "на място"), hub._loop).result(10)
        wait_until(lambda: len(pages) == 4, what="acknowledgement told to both")
        assert {(p["member"], p["event"]) for p in pages[2:]} == {("Иван", "acknowledged"), ("Мария", "acknowledged")}
        wait_until(lambda: parts.notify.outbox.state_counts() == {"sent": 7}, what="3 citizens and 4 staff SMS")
    finally:
        hub.stop()
        watcher.loop_stop()
        watcher.disconnect()
    assert parts.notify.staff is not None and parts.notify.staff.escalations() == {}
    assert len(pages) == 4  # no reminder after the acknowledgement
    recorded = RecordingProvider(tmp_path / "hub" / "sms-recorded.sqlite").recorded()
    staff_texts = [body for to, body in recorded if to in ("+359888000001", "+359888000002")]
    assert len(staff_texts) == 4 and all(text.startswith("[EWS] ОРАНЖЕВ КОД аларма #") for text in staff_texts)
    citizens = sorted(body.split(" - ")[0].split(" – ")[0] for to, body in recorded if not body.startswith("[EWS]"))
    assert citizens == ["ORANGE (be prepared): Flood warning"] + ["ОРАНЖЕВ КОД (опасно): Опасност от наводнение"] * 2
