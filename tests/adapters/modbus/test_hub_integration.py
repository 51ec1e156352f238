"""The whole hub with Modbus gauges: polled on the hub's event loop into real InfluxDB with the
sensor's tags, a gauge that stops answering counted in the `hub` measurement, and the poller
stopped before the writer's final flush."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.modbus_devices import ModbusSimulatorServer, SimulatedModbusDevice, SimulatorThread, load_profile
from hub.app import HubThread
from hub.config import SiteConfig
from tests.conftest import influx_client, query_points, wait_until

pytestmark = pytest.mark.integration


def test_modbus_gauges_are_polled_into_influxdb(make_site: Callable[..., SiteConfig], data_folder: Path) -> None:
    # Without the transmitter's warm-up (NaN for its first 5 s), which the poller tests cover.
    transmitter = load_profile("pressure_transmitter").model_copy(update={"faults": []})
    servers = [ModbusSimulatorServer([SimulatedModbusDevice(transmitter)]),
               ModbusSimulatorServer([SimulatedModbusDevice(load_profile("rain_tipping_bucket"))])]
    simulators = SimulatorThread(servers)
    well_port, rain_port = simulators.start()
    try:
        config = make_site(f"""
  - id: tundzha-well
    kind: river
    area: centre
    location: {{lat: 42.59, lon: 25.44}}
    interval_s: 0.2
    tags: {{river: tundzha}}
    source:
      modbus:
        host: 127.0.0.1
        port: {well_port}
        timeout_s: 0.5
        registers:
          - {{field: level_cm, register: input, address: 0, type: float32, byte_order: CDAB, scale: 100}}
  - id: rain-gauge
    kind: rain
    area: shipka
    location: {{lat: 42.71, lon: 25.33}}
    interval_s: 0.2
    source:
      modbus:
        host: 127.0.0.1
        port: {rain_port}
        unit_id: 2
        timeout_s: 0.3
        retries: 0
        backoff: {{initial_s: 0.1, max_s: 0.2}}
        registers:
          - {{field: total_mm, register: input, address: 0, type: uint32, scale: 0.2}}
""")
        client = influx_client(config.influx.url, config.influx.database)
        hub = HubThread(config, data_folder)
        parts = hub.start()
        try:
            assert parts.modbus is not None and sorted(parts.modbus.sensor_ids) == ["rain-gauge", "tundzha-well"]

            def points(sensor: str) -> list[dict]:
                return query_points(client, f"SELECT * FROM /river|rain/ WHERE sensor = '{sensor}'")

            wait_until(lambda: len(points("tundzha-well")) >= 2 and len(points("rain-gauge")) >= 2,
                       what="polled readings in InfluxDB")
            simulators.call(servers[1].stop)
            wait_until(lambda: parts.availability is not None and parts.availability.outages == 1,
                       what="the rain gauge reported down")
            wait_until(lambda: query_points(client, "SELECT last(sensor_outages) FROM hub")
                       and query_points(client, "SELECT last(sensor_outages) FROM hub")[0]["last"] == 1,
                       what="the outage counted in the hub measurement")
        finally:
            hub.stop()
        well = points("tundzha-well")
        assert {row["measurement"] for row in well} == {"river"}
        assert {(row["area"], row["site"], row["river"]) for row in well} == {("centre", config.site.id, "tundzha")}
        assert all(100 < row["level_cm"] < 400 for row in well)
        rain = points("rain-gauge")
        assert rain[0]["total_mm"] == pytest.approx(1204.6, abs=1.0)
        assert query_points(client, "SELECT last(modbus_polls) FROM hub")[0]["last"] >= 4
        assert parts.availability is not None and parts.availability.down == {"rain-gauge"}
    finally:
        simulators.stop()
