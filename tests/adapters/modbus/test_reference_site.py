"""The Modbus gauges of the Kazanlak example read right from the shipped device profiles, as a
technician would run them (`ews sim modbus dam_level_logger@1502 rain_tipping_bucket@1502
pressure_transmitter@1503 radar_river_gauge@1504`), only on free ports."""

from __future__ import annotations

from pathlib import Path

from adapters.modbus.poller import ModbusPoller
from firmware_sim.modbus_devices import load_profile_argument, servers_for_profiles
from hub.config import load_config, modbus_sources, sensor_specs
from hub.demo import point_at
from hub.localservices import free_port
from tests.adapters.modbus.support import RecordingSink, run

ROOT = Path(__file__).parents[3]
PROFILES = {1502: ["dam_level_logger", "rain_tipping_bucket"], 1503: ["pressure_transmitter"],
            1504: ["radar_river_gauge"]}


def test_the_reference_sites_gauges_read_right_from_the_shipped_profiles() -> None:
    site = load_config(ROOT / "examples" / "kazanlak" / "site.yaml")
    local_ports = {port: free_port() for port in PROFILES}
    profiles = [load_profile_argument(f"{name}@{local_ports[port]}") for port, names in PROFILES.items()
                for name in names]
    # Past the transmitter's warm-up (NaN), at the simulated time the profiles start with.
    profiles = [profile.model_copy(update={"faults": []}) for profile in profiles]
    local = point_at(site, 1883, "http://127.0.0.1:8086",
                     modbus_ports={f"127.0.0.1:{port}": local for port, local in local_ports.items()})
    sources = modbus_sources(local)
    assert sorted(sources) == ["eninska-derelika-radar", "koprinka-dam-logger", "rain-koprinka-dam",
                               "tundzha-buzovgrad-well"]

    async def body() -> dict[str, dict[str, float]]:
        servers = servers_for_profiles(profiles)
        for server in servers:
            await server.start()
        sink = RecordingSink()
        poller = ModbusPoller(sensor_specs(local), sources, sink)
        await poller.start(schedule=False)
        try:
            results = {sensor: await poller.poll_once(sensor) for sensor in sources}
        finally:
            await poller.stop()
            for server in servers:
                await server.stop()
        assert not sink.rejections, [r.detail for r in sink.rejections]
        assert all(result.answered and not result.no_reading for result in results.values())
        return {sensor: dict(result.values) for sensor, result in results.items()}

    values = run(body)
    assert 4100 < values["koprinka-dam-logger"]["level_cm"] < 4200  # 389.4 m a.s.l. over a zero at 348 m
    assert 60 < values["koprinka-dam-logger"]["fill_pct"] < 70
    assert values["rain-koprinka-dam"]["total_mm"] == values["rain-koprinka-dam"]["tips"] * 0.2
    assert 100 < values["tundzha-buzovgrad-well"]["level_cm"] < 320
    assert 100 < values["eninska-derelika-radar"]["level_cm"] < 400
    assert set(values["eninska-derelika-radar"]) == {"level_cm", "temperature_c"}
