"""The running hub with the real broker and database: simulated stations publish waveform packets
over MQTT; the hub stores per-second summaries in the `seismic` measurement (not the samples),
and the network confirmation raises and clears the public earthquake alarm through the alarm
stage (stored and published like any alarm), while a lone station's door slam stays staff-only."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from firmware_sim.mqtt_devices import publish_all
from firmware_sim.seismic import Earthquake, Scenario, Transient, kazanlak_stations, packets, synthesize
from hub.alarms import AlarmStore
from hub.app import HubThread
from hub.localservices import LocalInfluxd
from tests.conftest import influx_client, query_points, wait_until

pytestmark = pytest.mark.integration

SENSORS = "\n".join(f"""  - {{id: {s.id}, kind: seismic, area: centre, location: {{lat: {s.lat}, lon: {s.lon}}}, interval_s: 1,
      source: {{seismic: {{transport: mqtt}}}}}}""" for s in kazanlak_stations())
SEISMIC = """
seismic:
  detector: {lta_s: 10}
  confirmation: {area: centre, min_stations: 3, window_s: 10, end_quiet_s: 5}
"""


def test_waveform_packets_become_summaries_and_a_confirmed_public_alarm(make_site, data_folder: Path,
                                                                          influxd: LocalInfluxd) -> None:
    config = make_site(SENSORS, SEISMIC)
    start_ns = (time.time_ns() // 10**9 - 60) * 10**9
    scenario = Scenario(kazanlak_stations(), 55.0, start_ns=start_ns, seed=2,
                        earthquake=Earthquake(25.0, 42.62, 25.38, 8.0, 5.0),
                        transients=[Transient("seismic-shipka", "door", 12.0, 0.3)])
    messages = [(p.topic, p.payload) for p in packets(scenario, synthesize(scenario), config.topic_root)]
    hub = HubThread(config, data_folder)
    parts = hub.start()
    try:
        publish_all("127.0.0.1", config.mqtt.port, iter(messages))
        assert parts.seismic is not None
        assert parts.seismic.ingest.wait_processed(len(messages), 30.0)
        store = AlarmStore(data_folder / "alarms.sqlite")
        wait_until(lambda: any(e["alarm"]["rule"] == "earthquake" and e["kind"] == "cleared" for e in store.events()),
                   what="the public earthquake alarm raised and cleared")
    finally:
        hub.stop()
    events = AlarmStore(data_folder / "alarms.sqlite").events()
    public = [e for e in events if e["alarm"]["audience"] == "public"]
    assert [e["kind"] for e in public][0] == "raised" and public[-1]["kind"] == "cleared"
    assert {e["alarm"]["rule"] for e in public} == {"earthquake"}
    door = [e for e in events if e["alarm"]["rule"] == "earthquake-station" and e["alarm"]["subject"] == "seismic-shipka"
            and e["ts_ms"] < (start_ns + 20 * 10**9) // 10**6]
    assert door and all(e["alarm"]["audience"] == "staff" for e in door)
    assert parts.pipeline.rejected.total() == 0
    client = influx_client(influxd.url, config.influx.database)
    wait_until(lambda: len(query_points(client, "SELECT * FROM seismic")) >= 4 * 54, what="per-second summaries")
    rows = query_points(client, "SELECT * FROM seismic")
    assert len(rows) <= 4 * 56  # summaries per second, not 100 samples per second
    assert {"pga_g", "stalta", "intensity", "sensor"} <= set(rows[0])
    assert max(r["pga_g"] for r in rows) > 0.05
