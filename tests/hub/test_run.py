"""`ews run` as a process: liveness on the status topic (online, offline on a clean stop, offline as
the last will when killed), a clean flush on SIGTERM, and reconnection after a broker restart."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.mqtt_devices import publish_all
from hub.app import HubThread
from hub.config import parse_config
from hub.localservices import LocalInfluxd, LocalMosquitto
from tests.conftest import count_series_points, influx_client, site_yaml, wait_until

pytestmark = pytest.mark.integration

SENSORS = "  - {id: g1, kind: river, area: centre, location: {lat: 42.6, lon: 25.4}}\n"


class Watcher:
    """A subscriber that records what arrives on one topic."""

    def __init__(self, port: int, topic: str):
        self.messages: queue.Queue[bytes] = queue.Queue()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self._client.on_message = lambda client, userdata, message: self.messages.put(message.payload)
        self._client.connect("127.0.0.1", port)
        self._client.subscribe(topic, qos=1)
        self._client.loop_start()

    def next(self, timeout_s: float = 20.0) -> bytes:
        return self.messages.get(timeout=timeout_s)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def start_run(config_path: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "-v", "run", "-c", str(config_path), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def test_sigterm_exits_cleanly_says_offline_and_loses_nothing(mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                              unique_name: str, tmp_path: Path) -> None:
    config_path = tmp_path / "site.yaml"
    config_path.write_text(site_yaml(unique_name, mosquitto.port, influxd.url, SENSORS))
    watcher = Watcher(mosquitto.port, f"ews/{unique_name}/status/hub")
    now_ms = time.time_ns() // 1_000_000
    messages = [(f"ews/{unique_name}/reading/river/g1", json.dumps({"ts": now_ms - i, "values": {"level_cm": 2.0}}).encode())
                for i in range(200)]
    outputs = []
    for run in range(2):
        process = start_run(config_path, tmp_path / "data")
        try:
            first = watcher.next()
            assert first == b"online", (run, first, outputs)
            if run == 0:
                # SIGTERM in the middle of the stream: what the hub took is flushed, the rest
                # waits in its session at the broker for the next run.
                publish_all("127.0.0.1", mosquitto.port, iter(messages))
            else:
                client = influx_client(influxd.url, f"db_{unique_name}")
                wait_until(lambda: count_series_points(client, "river", "level_cm") == 200, what="all 200 readings")
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
            outputs.append(output.decode())
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, outputs
        assert watcher.next() == b"offline"
    watcher.close()
    assert not any("Traceback" in output for output in outputs)


def test_stop_flushes_readings_still_in_the_buffer(mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                   unique_name: str, tmp_path: Path) -> None:
    # A long flush interval: only the flush on stop can bring the readings to InfluxDB.
    text = site_yaml(unique_name, mosquitto.port, influxd.url, SENSORS).replace("flush_interval_s: 0.2",
                                                                                  "flush_interval_s: 60")
    hub = HubThread(parse_config(text), tmp_path / "hub")
    parts = hub.start()
    now_ms = time.time_ns() // 1_000_000
    publish_all("127.0.0.1", mosquitto.port, iter([
        (f"ews/{unique_name}/reading/river/g1", json.dumps({"ts": now_ms - i, "values": {"level_cm": 2.0}}).encode())
        for i in range(10)
    ]))
    wait_until(lambda: parts.pipeline.readings_in == 10, what="10 readings in")
    client = influx_client(influxd.url, f"db_{unique_name}")
    assert count_series_points(client, "river", "level_cm") == 0
    hub.stop()
    assert count_series_points(client, "river", "level_cm") == 10


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_killed_hub_is_reported_offline_by_its_last_will(mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                         unique_name: str, tmp_path: Path, protocol: str) -> None:
    config_path = tmp_path / "site.yaml"
    config_path.write_text(site_yaml(unique_name, mosquitto.port, influxd.url, SENSORS).replace(
        "mqtt: {", f'mqtt: {{protocol: "{protocol}", ', 1))
    watcher = Watcher(mosquitto.port, f"ews/{unique_name}/status/hub")
    process = start_run(config_path, tmp_path / "data")
    try:
        assert watcher.next() == b"online"
        process.kill()
        process.wait(10)
        assert watcher.next() == b"offline"
    finally:
        watcher.close()
        if process.poll() is None:
            process.kill()


def test_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    config_path = tmp_path / "site.yaml"
    config_path.write_text("site: {id: x, name: X}\nareas: []\n")
    result = subprocess.run([sys.executable, "-m", "hub.cli", "run", "-c", str(config_path)],
                            capture_output=True, timeout=30)
    assert result.returncode == 2
    assert b"areas: List should have at least 1 item" in result.stderr
    assert b"Traceback" not in result.stderr


def test_missing_secret_exits_2_naming_the_variable(tmp_path: Path) -> None:
    config_path = tmp_path / "site.yaml"
    config_path.write_text(
        "site: {id: x, name: X}\nareas: [{id: a, name: A, type: town}]\n"
        "mqtt: {username: hub, password_env: EWS_TEST_UNSET_PASSWORD}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EWS_TEST_UNSET_PASSWORD"}
    result = subprocess.run([sys.executable, "-m", "hub.cli", "run", "-c", str(config_path), "--data-dir",
                             str(tmp_path / "d")], capture_output=True, timeout=30, env=env)
    assert result.returncode == 2
    assert b"EWS_TEST_UNSET_PASSWORD is not set" in result.stderr
    assert b"Traceback" not in result.stderr


def test_broker_restart_reconnects_resubscribes_and_keeps_the_queue(influxd: LocalInfluxd, unique_name: str,
                                                                   tmp_path: Path) -> None:
    broker = LocalMosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        hub = HubThread(parse_config(site_yaml(unique_name, broker.port, influxd.url, SENSORS)), tmp_path / "hub")
        parts = hub.start()
        topic = f"ews/{unique_name}/reading/river/g1"
        now_ms = time.time_ns() // 1_000_000
        publish_all("127.0.0.1", broker.port, iter([(topic, json.dumps({"ts": now_ms - 1000, "values": {"level_cm": 1.0}}).encode())]))
        wait_until(lambda: parts.pipeline.readings_in == 1, what="first reading")
        broker.stop()
        wait_until(lambda: not parts.link.connected.is_set(), what="link notices the broker is gone")
        broker.start()
        wait_until(lambda: parts.link.connected.is_set(), timeout_s=30, what="reconnect")
        publish_all("127.0.0.1", broker.port, iter([(topic, json.dumps({"ts": now_ms, "values": {"level_cm": 2.0}}).encode())]))
        wait_until(lambda: parts.pipeline.readings_in == 2, what="reading after the restart")
        hub.stop()
        client = influx_client(influxd.url, f"db_{unique_name}")
        assert count_series_points(client, "river", "level_cm") == 2
    finally:
        broker.stop()
