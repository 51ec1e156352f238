"""The spine end to end with the real services: simulated devices publish to a real Mosquitto in
every format, the hub runs, and exactly the published points are in a real InfluxDB with their
measurement, tags, fields and timestamps; outages of InfluxDB and of the hub lose nothing."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest
import yaml

from firmware_sim.mqtt_devices import publish_all, readings, sensors_from_site
from hub.app import HubThread
from hub.config import parse_config
from hub.deadletter import DeadLetterStore
from hub.localservices import LocalInfluxd, LocalMosquitto
from tests.conftest import influx_client, query_points, site_yaml, wait_until

pytestmark = pytest.mark.integration

TEN_SENSORS = """
  - {id: tundzha-bridge, kind: river, area: centre, location: {lat: 42.60, lon: 25.40}, tags: {river: tundzha}}
  - {id: tundzha-down, kind: river, area: centre, location: {lat: 42.59, lon: 25.45}, tags: {river: tundzha}}
  - {id: rain-centre, kind: rain, area: centre, location: {lat: 42.62, lon: 25.39}}
  - {id: weather-centre, kind: weather, area: centre, location: {lat: 42.62, lon: 25.39}}
  - {id: fire-shipka, kind: fire, area: shipka, location: {lat: 42.71, lon: 25.33}}
  - id: eninska-radar
    kind: river
    area: centre
    tags: {river: eninska}
    location: {lat: 42.65, lon: 25.41}
    source: {mqtt: {topic: vendor/hydro/eninska, format: json, fields: {level_cm: {path: data.level_m, scale: 100}},
                    time: {path: data.time, format: iso}}}
  - id: koprinka-dam
    kind: dam
    area: centre
    location: {lat: 42.59, lon: 25.31}
    source: {mqtt: {topic: scada/koprinka, format: json,
                    fields: {level_cm: {path: "tags[0].value", scale: 100, offset: 30000}, fill_pct: {path: "tags[1].value"}},
                    time: {path: ts, format: epoch_ms}}}
  - id: rain-shipka
    kind: rain
    area: shipka
    location: {lat: 42.72, lon: 25.33}
    source: {mqtt: {topic: lora/rg-shipka/up, format: senml, fields: {mm: {name: "urn:dev:rg-shipka:rain"}}}}
  - id: rain-buzludzha
    kind: rain
    area: shipka
    location: {lat: 42.74, lon: 25.39}
    source: {mqtt: {topic: lora/rg-buzludzha/up, format: senml, fields: {mm: {name: "urn:dev:rg-buzludzha:rain"}}}}
  - id: eninska-plain
    kind: river
    area: centre
    tags: {river: eninska}
    location: {lat: 42.64, lon: 25.40}
    source: {mqtt: {topic: plain/eninska/level_m, format: plain, fields: {level_cm: {scale: 100}}}}
"""


def start_hub(config_text: str, folder: Path) -> HubThread:
    hub = HubThread(parse_config(config_text), folder)
    hub.start()
    return hub


def test_ten_sensors_times_hundred_readings_in_all_formats_land_exactly(
    mosquitto: LocalMosquitto, influxd: LocalInfluxd, unique_name: str, tmp_path: Path
) -> None:
    text = site_yaml(unique_name, mosquitto.port, influxd.url, TEN_SENSORS)
    devices = sensors_from_site(yaml.safe_load(text))
    assert sorted(d.format for d in devices) == ["json", "json", "normalised", "normalised", "normalised",
                                                 "normalised", "normalised", "plain", "senml", "senml"]
    start_ms = (time.time_ns() // 1_000_000) - 100 * 60_000
    published = list(readings(devices, start_ms, 60_000, 100))
    hub = start_hub(text, tmp_path)
    publish_all("127.0.0.1", mosquitto.port, ((topic, payload) for topic, payload, *_ in published))
    client = influx_client(influxd.url, f"db_{unique_name}")
    wait_until(lambda: hub.parts.pipeline.readings_in == 1000, what="1000 readings in")
    hub.stop()
    assert hub.parts.writer.stats.points_written >= 1000
    assert not hub.parts.pipeline.rejected

    rows = query_points(client, "SELECT * FROM /^(river|dam|rain|weather|fire)$/ GROUP BY sensor")
    by_sensor: dict[str, list[dict]] = {}
    for row in rows:
        by_sensor.setdefault(row["sensor"], []).append(row)
    assert {name: len(points) for name, points in by_sensor.items()} == {d.id: 100 for d in devices}
    for device in devices:
        expected = [(ts, values) for _, _, d, ts, values in published if d is device]
        stored = sorted(by_sensor[device.id], key=lambda r: r["time"])
        kinds = {row["measurement"] for row in stored}
        assert kinds == {device.kind}
        for row, (ts, values) in zip(stored, expected, strict=True):
            if device.format != "plain":  # a bare number carries no time: receive time is used
                assert row["time"] == ts, device.id
            for name, value in values.items():
                assert math.isclose(row[name], value, rel_tol=1e-9, abs_tol=1e-9), (device.id, name)
            assert row["site"] == unique_name
            assert row["area"] == ("shipka" if device.id in ("fire-shipka", "rain-shipka", "rain-buzludzha") else "centre")
    tagged = query_points(client, "SELECT count(level_cm) FROM river GROUP BY river")
    assert {row["river"]: row["count"] for row in tagged} == {"tundzha": 200, "eninska": 200}
    hub_metrics = query_points(client, "SELECT last(readings_in) AS n FROM hub")
    assert hub_metrics[0]["n"] == 1000


def test_influxdb_stopped_mid_stream_every_point_lands_exactly_once(
    mosquitto: LocalMosquitto, unique_name: str, tmp_path: Path
) -> None:
    own = LocalInfluxd(tmp_path / "influxd")
    own.start()
    try:
        text = site_yaml(unique_name, mosquitto.port, own.url, TEN_SENSORS)
        devices = [d for d in sensors_from_site(yaml.safe_load(text)) if d.format != "plain"]
        start_ms = (time.time_ns() // 1_000_000) - 300 * 60_000
        published = [(t, p) for t, p, *_ in readings(devices, start_ms, 60_000, 300)]
        hub = start_hub(text, tmp_path / "hub")
        publisher = threading.Thread(
            target=publish_all, args=("127.0.0.1", mosquitto.port, iter(published)), kwargs={"pace_s": 0.001}
        )
        publisher.start()
        wait_until(lambda: hub.parts.pipeline.readings_in >= 500, what="first readings")
        own.stop()
        wait_until(lambda: hub.parts.writer.spool.points > 0, what="spooling while InfluxDB is down")
        wait_until(lambda: hub.parts.pipeline.readings_in >= 1500, what="more readings during the outage")
        own.start()
        publisher.join(120)
        wait_until(lambda: hub.parts.pipeline.readings_in == len(published), timeout_s=60, what="all readings in")
        wait_until(lambda: hub.parts.writer.spool.batches == 0 and hub.parts.writer.pending() == 0, timeout_s=60,
                   what="spool replayed")
        hub.stop()
        assert hub.parts.writer.stats.points_spooled > 0
        client = influx_client(own.url, f"db_{unique_name}")
        rows = query_points(client, "SELECT * FROM /^(river|dam|rain|weather|fire)$/")
        keys = [(row["measurement"], row["sensor"], row["time"]) for row in rows]
        assert len(keys) == len(set(keys)) == len(published)
    finally:
        own.stop()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_readings_sent_while_the_hub_is_down_arrive_when_it_returns(
    mosquitto: LocalMosquitto, influxd: LocalInfluxd, unique_name: str, tmp_path: Path, protocol: str
) -> None:
    # Both protocols keep the hub's session at the broker: 3.1.1 with clean_session=False,
    # MQTT 5 with a session expiry interval.
    text = site_yaml(unique_name, mosquitto.port, influxd.url, TEN_SENSORS).replace(
        "mqtt: {", f'mqtt: {{protocol: "{protocol}", ', 1)
    devices = sensors_from_site(yaml.safe_load(text))[:3]
    hub = start_hub(text, tmp_path)
    hub.stop()  # its persistent session stays at the broker
    start_ms = (time.time_ns() // 1_000_000) - 2000 * 1000
    published = [(t, p) for t, p, *_ in readings(devices, start_ms, 1000, 2000)]  # 6,000 > Mosquitto's default 1,000
    publish_all("127.0.0.1", mosquitto.port, iter(published))
    hub = start_hub(text, tmp_path)
    wait_until(lambda: hub.parts.pipeline.readings_in == len(published), timeout_s=60, what="queued readings")
    hub.stop()
    client = influx_client(influxd.url, f"db_{unique_name}")
    rows = query_points(client, "SELECT count(level_cm) FROM river")
    assert rows[0]["count"] == 4000
    rows = query_points(client, "SELECT count(mm) FROM rain")
    assert rows[0]["count"] == 2000


def test_dead_letters_keep_the_raw_payload_and_reason(
    mosquitto: LocalMosquitto, influxd: LocalInfluxd, unique_name: str, tmp_path: Path
) -> None:
    text = site_yaml(unique_name, mosquitto.port, influxd.url, TEN_SENSORS)
    hub = start_hub(text, tmp_path)
    root = f"ews/{unique_name}/reading"
    publish_all("127.0.0.1", mosquitto.port, iter([
        (f"{root}/river/tundzha-bridge", b'{"values": {"level_cm": 9999}}'),
        (f"{root}/river/ghost", b'{"values": {"level_cm": 1}}'),
        ("plain/eninska/level_m", b"n/a"),
        (f"{root}/river/tundzha-bridge", b'{"values": {"level_cm": 250}}'),
    ]))
    wait_until(lambda: hub.parts.pipeline.readings_in == 1 and sum(hub.parts.pipeline.rejected.values()) == 3,
               what="one reading and three rejections")
    hub.stop()
    assert dict(hub.parts.pipeline.rejected) == {"out_of_range": 1, "unknown_sensor": 1, "malformed": 1}
    store = DeadLetterStore(tmp_path / "deadletter.sqlite")
    letters = {letter.reason: letter for letter in store.recent()}
    assert letters["out_of_range"].payload == b'{"values": {"level_cm": 9999}}'
    assert letters["out_of_range"].sensor == "tundzha-bridge"
    assert letters["unknown_sensor"].topic == f"{root}/river/ghost"
    assert letters["malformed"].payload == b"n/a"
    client = influx_client(influxd.url, f"db_{unique_name}")
    wait_until(lambda: bool(query_points(client, "SELECT last(rejected) FROM hub GROUP BY reason")), what="metrics")
    by_reason = {row["reason"]: row["last"] for row in query_points(client, "SELECT last(rejected) FROM hub GROUP BY reason")}
    assert by_reason == {"malformed": 1, "out_of_range": 1, "unknown_sensor": 1}
