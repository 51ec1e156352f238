"""A hypothesis-driven stream of malformed payloads mixed with good ones, through the real broker
into the running hub and the real InfluxDB: every good reading lands, every bad one is counted
under its reason, and the hub keeps running."""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim.mqtt_devices import publish_all
from hub.app import HubThread
from hub.config import parse_config
from hub.localservices import LocalInfluxd, LocalMosquitto
from tests.adapters.mqtt.test_ingest import SITE, message
from tests.conftest import influx_client, query_points, wait_until

pytestmark = pytest.mark.integration

NOW_MS = time.time_ns() // 1_000_000
_unique_ts = itertools.count(NOW_MS - 10 * 86_400_000)


@pytest.fixture(scope="module")
def running_hub(mosquitto: LocalMosquitto, influxd: LocalInfluxd, tmp_path_factory) -> Iterator[HubThread]:
    text = SITE.replace("site: {id: kz, name: Kazanlak}", f"""site: {{id: kz, name: Kazanlak}}
mqtt: {{port: {mosquitto.port}, client_id: hub-malformed}}
influx: {{url: "{influxd.url}", database: malformed, flush_interval_s: 0.1}}
hub: {{max_payload_bytes: 2048}}""")
    hub = HubThread(parse_config(text), tmp_path_factory.mktemp("hub"))
    hub.start()
    yield hub
    hub.stop()


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)
@given(stream=st.lists(message(now_ms=NOW_MS), min_size=1, max_size=80))
def test_mixed_stream_through_the_broker(running_hub: HubThread, mosquitto: LocalMosquitto,
                                         influxd: LocalInfluxd, stream: list) -> None:
    parts = running_hub.parts
    # Give every good normalised reading its own time, so no two points overwrite each other.
    prepared = []
    for topic, payload, reading, reason in stream:
        if reading is not None and reading.sensor == "tundzha-1":
            body = json.loads(payload)
            body["ts"] = next(_unique_ts)
            payload = json.dumps(body).encode()
            reading = reading.__class__(reading.sensor, reading.kind, reading.area, body["ts"], reading.values,
                                        reading.quality)
        prepared.append((topic, payload, reading, reason))
    received_before = parts.link.messages_received
    rejected_before = Counter(parts.pipeline.rejected)
    client = influx_client(influxd.url, "malformed")
    native_before = _count(client, "eninska-radar")

    publish_all("127.0.0.1", mosquitto.port, ((t, p) for t, p, _, _ in prepared))
    wait_until(lambda: parts.link.messages_received - received_before == len(prepared), what="all messages received")

    assert parts.link.connected.is_set() and parts.link.handler_errors == 0
    expected_reasons = Counter(str(reason) for *_, reason in prepared if reason is not None)
    assert Counter(parts.pipeline.rejected) - rejected_before == expected_reasons
    for _, _, reading, _ in prepared:
        if reading is not None and reading.sensor == "tundzha-1":
            statement = f"SELECT level_cm, quality FROM river WHERE sensor = 'tundzha-1' AND time = {reading.ts_ms}ms"
            wait_until(lambda statement=statement: bool(query_points(client, statement)), what="the reading stored")
            rows = query_points(client, statement)
            assert len(rows) == 1
            assert math.isclose(rows[0]["level_cm"], reading.values["level_cm"], abs_tol=1e-9)
            assert rows[0]["quality"] == (None if reading.quality == "good" else reading.quality)
    natives = sum(1 for _, _, r, _ in prepared if r is not None and r.sensor == "eninska-radar")
    wait_until(lambda: _count(client, "eninska-radar") - native_before == natives, what="native readings stored")


def _count(client, sensor: str) -> int:
    rows = query_points(client, f"SELECT count(level_cm) FROM river WHERE sensor = '{sensor}'")
    return int(rows[0]["count"]) if rows else 0
