"""Rules and alarms in the running hub with the real broker and database: a recorded flash flood
published over MQTT gives exactly the alarm events `ews replay` prints for the same file; the
events are stored, written to the `alarm` measurement and published retained; a restart in the
middle of a pending duration and of an active alarm loses nothing and doubles nothing."""

from __future__ import annotations

import json
import queue
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.mqtt_devices import iso_ms, publish_all
from hub.alarms import AlarmStore
from hub.app import HubThread
from hub.config import parse_config, sensor_specs
from hub.localservices import LocalInfluxd, LocalMosquitto
from hub.replay import replay_events
from rules.replay import load_readings
from tests.conftest import influx_client, query_points, wait_until

pytestmark = pytest.mark.integration

CASE = Path(__file__).parent / "cases" / "eninska-flash-flood"


def case_config(mosquitto: LocalMosquitto, influxd: LocalInfluxd, name: str):
    text = (CASE / "config.yaml").read_text()
    text = text.replace("site: {id: kazanlak, name: Kazanlak}", f"""site: {{id: {name}, name: Kazanlak}}
mqtt: {{port: {mosquitto.port}, client_id: hub-{name}}}
influx: {{url: "{influxd.url}", database: db_{name}, flush_interval_s: 0.1}}""")
    return parse_config(text)


def comparable(event: dict) -> tuple:
    alarm = event["alarm"]
    return (event["ts_ms"], event["kind"], alarm["rule"], alarm["subject"], alarm["level"], alarm["state"],
            alarm["inhibited"])


def messages_for(config, readings) -> list[tuple[str, bytes]]:
    return [(f"{config.topic_root}/reading/{r.kind}/{r.sensor}",
             json.dumps({"ts": iso_ms(r.ts_ms), "values": dict(r.values)}).encode()) for r in readings]


def test_live_hub_gives_the_same_alarm_events_as_replay(mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                         unique_name: str, tmp_path: Path) -> None:
    config = case_config(mosquitto, influxd, unique_name)
    readings = list(load_readings(CASE / "input.csv", "csv", sensor_specs(config), None))
    replayed = [event.to_json() for event in replay_events(config, readings)]
    assert {e["kind"] for e in replayed} >= {"raised", "escalated", "cleared"}

    retained: queue.Queue = queue.Queue()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2)
    watcher.on_message = lambda client, userdata, message: retained.put((message.topic, message.payload))
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe(f"{config.topic_root}/alarm/+", qos=1)
    watcher.loop_start()

    hub = HubThread(config, tmp_path / "hub", event_time=True)
    parts = hub.start()
    publish_all("127.0.0.1", mosquitto.port, iter(messages_for(config, readings)))
    wait_until(lambda: parts.alarms.readings_evaluated == len(readings), what="all readings evaluated")
    wait_until(lambda: parts.alarms.events_out == len(replayed), what="as many events as the replay")
    hub.stop()
    watcher.loop_stop()

    live = AlarmStore(tmp_path / "hub" / "alarms.sqlite").events()
    assert [comparable(e) for e in live] == [comparable(e) for e in replayed]

    client = influx_client(influxd.url, f"db_{unique_name}")
    rows = query_points(client, "SELECT * FROM alarm")
    stored = sorted((r["time"], r["event"], r["rule"], r["level"], r["state"]) for r in rows)
    assert stored == sorted((e["ts_ms"], e["kind"], e["alarm"]["rule"], e["alarm"]["level"], e["alarm"]["state"])
                            for e in live)
    assert len(rows) == len(live)

    last_payload: dict[str, bytes] = {}
    while not retained.empty():
        topic, payload = retained.get()
        last_payload[topic] = payload
    open_ids = {e["alarm"]["id"] for e in live if e["alarm"]["state"] != "closed"} - \
        {e["alarm"]["id"] for e in live if e["alarm"]["state"] == "closed"}
    for alarm_id in open_ids:
        body = json.loads(last_payload[f"{config.topic_root}/alarm/{alarm_id}"])
        final = [e for e in live if e["alarm"]["id"] == alarm_id][-1]
        assert body["state"] == final["alarm"]["state"] and body["level"] == final["alarm"]["level"]


def test_restart_mid_duration_and_mid_alarm_loses_and_doubles_nothing(mosquitto: LocalMosquitto,
                                                                      influxd: LocalInfluxd, unique_name: str,
                                                                      tmp_path: Path) -> None:
    config = case_config(mosquitto, influxd, unique_name)
    readings = list(load_readings(CASE / "input.csv", "csv", sensor_specs(config), None))
    replayed = [comparable(event.to_json()) for event in replay_events(config, readings)]
    # Cut where an alarm is active and another condition is pending its duration.
    cut = len(readings) * 11 // 20
    for part in (readings[:cut], readings[cut:]):
        hub = HubThread(config, tmp_path / "hub", event_time=True)
        parts = hub.start()
        before = AlarmStore(tmp_path / "hub" / "alarms.sqlite").events()
        publish_all("127.0.0.1", mosquitto.port, iter(messages_for(config, part)))
        wait_until(lambda part=part: parts.alarms.readings_evaluated == len(part), what="readings evaluated")
        hub.stop()
        if part is readings[:cut]:
            assert any(e["alarm"]["state"] == "active" for e in AlarmStore(tmp_path / "hub" / "alarms.sqlite").events())
    live = [comparable(e) for e in AlarmStore(tmp_path / "hub" / "alarms.sqlite").events()]
    assert live == replayed
    assert before  # the second run started with the first run's alarms
