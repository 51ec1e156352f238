"""The hub (`ews run`, a real process with the real broker and database) is killed with SIGKILL
in the middle of a 1,000-recipient fan-out through the real `twilio` SDK, and started again: every
subscriber ends up with exactly one message, none twice, none missing. Messages that were in
flight when it died are looked up at Twilio (the Messages list) instead of being sent again. The
`sms` measurement in InfluxDB ends with queued = sent = 1000 for the event's area and rule."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.mqtt_devices import iso_ms
from hub.localservices import LocalInfluxd, LocalMosquitto
from hub.notify.outbox import Outbox
from hub.notify.subscribers import SubscriberStore
from tests.conftest import influx_client, query_points, site_yaml, wait_until
from tests.notify.helpers import TOKEN_ENV, free_port, population
from tests.notify.twilio_server import ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID, Behaviour, FakeTwilio

pytestmark = pytest.mark.integration


def config_text(mosquitto: LocalMosquitto, influxd: LocalInfluxd, name: str, data: Path, api_url: str,
                port: int) -> str:
    sensors = ("  - {id: centre-river, kind: river, area: centre, location: {lat: 42.62, lon: 25.39}, "
               "interval_s: 60}")
    extra = f"""
rules:
  - id: centre-river-level
    kind: threshold
    hazard: flood
    audience: public
    select: {{areas: [centre], kinds: [river]}}
    subject: area
    field: level_cm
    levels: {{yellow: 200, orange: 260, red: 320}}
    clear: 180
notify:
  sms:
    provider: {{kind: twilio, account_sid: {ACCOUNT_SID}, auth_token_env: {TOKEN_ENV},
               messaging_service_sid: {SERVICE_SID}, api_url: "{api_url}"}}
    rate_per_s: 250
    concurrency: 4
    counts_interval_s: 0.2
  webhooks: {{listen_port: {port}, public_url: "http://127.0.0.1:{port}", auth_token_env: {TOKEN_ENV}}}
"""
    text = site_yaml(name, mosquitto.port, influxd.url, sensors, extra)
    return text.replace("hub: {metrics_interval_s: 0.5", f"hub: {{data_dir: \"{data}\", metrics_interval_s: 0.5")


def start_hub(config_path: Path) -> subprocess.Popen:
    env = os.environ | {TOKEN_ENV: AUTH_TOKEN}
    log = (config_path.parent / "hub.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "run", "-c", str(config_path)], env=env,
                            stdout=log, stderr=log)


def wait_online(port: int, root: str) -> None:
    seen: list[bytes] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, message: seen.append(message.payload)
    client.connect("127.0.0.1", port)
    client.subscribe(f"{root}/status/hub", qos=1)
    client.loop_start()
    try:
        wait_until(lambda: b"online" in seen, timeout_s=30, what="hub online")
    finally:
        client.loop_stop()
        client.disconnect()


def test_kill_in_the_middle_of_a_fan_out_sends_the_rest_and_nothing_twice(
        mosquitto: LocalMosquitto, influxd: LocalInfluxd, unique_name: str, tmp_path: Path) -> None:
    port = free_port()
    fake = FakeTwilio(Behaviour(expect_status_callback=f"http://127.0.0.1:{port}/twilio/status")).start()
    data = tmp_path / "hubdata"
    config_path = tmp_path / "site.yaml"
    config_path.write_text(config_text(mosquitto, influxd, unique_name, data, fake.base_url, port))
    citizens = population(1000)
    SubscriberStore(data / "notify.sqlite").add_many(citizens)
    root = f"ews/{unique_name}"
    hub = start_hub(config_path)
    try:
        wait_online(mosquitto.port, root)
        reading = json.dumps({"ts": iso_ms(time.time_ns() // 1_000_000), "values": {"level_cm": 345.0}})
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
        publisher.connect("127.0.0.1", mosquitto.port)
        publisher.publish(f"{root}/reading/river/centre-river", reading, qos=1).wait_for_publish(10)
        publisher.disconnect()
        wait_until(lambda: len(fake.accepted) >= 300, timeout_s=30, what="300 messages sent")
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        at_kill = len(fake.accepted)
        assert at_kill < 1000, "the fan-out finished before the kill; the test proves nothing"

        hub = start_hub(config_path)
        wait_until(lambda: len(fake.accepted) >= 1000, timeout_s=30, what="the rest sent after the restart")
        outbox = Outbox(data / "notify.sqlite")
        wait_until(lambda: set(outbox.state_counts()) <= {"sent", "delivered"}, what="nothing left to send")
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(30) == 0, (tmp_path / "hub.log").read_text()[-3000:]
    finally:
        if hub.poll() is None:
            hub.kill()
        fake.stop()

    assert fake.to_numbers() == {s.phone: 1 for s in citizens}
    assert fake.problems == []
    messages = outbox.messages()
    assert len(messages) == 1000 and len({m.key for m in messages}) == 1000
    rows = query_points(influx_client(influxd.url, f"db_{unique_name}"), "SELECT * FROM sms")
    assert rows, "no sms points"
    last = rows[-1]
    assert (last["site"], last["area"], last["rule"]) == (unique_name, "centre", "centre-river-level")
    assert last["queued"] == 1000 and last["sent"] == 1000 and last["failed"] == 0
    assert 0 < last["delivered"] <= 1000
