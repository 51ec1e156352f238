"""`ews demo`: the hub on one machine. Starts Mosquitto and InfluxDB in the demo's own folder (not
the system services), runs the hub on the site config pointed at them, lets simulated devices of
every sensor publish in their own formats, serves simulated Modbus devices for the sensors the hub
polls, and shows the readings arriving in InfluxDB. The scenarios work (flood, earthquake, ...) will grow this into the full drill."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import yaml

from firmware_sim.modbus_devices import (
    ModbusSimulatorServer,
    SimulatedModbusDevice,
    SimulatorThread,
    profiles_from_site,
)
from firmware_sim.mqtt_devices import publish_all, readings, sensors_from_site
from hub.app import HubThread
from hub.config import SiteConfig, load_config
from hub.influx import InfluxClient
from hub.localservices import LocalInfluxd, LocalMosquitto

logger = logging.getLogger(__name__)


def point_at(
    config: SiteConfig,
    mqtt_port: int,
    influx_url: str,
    database: str | None = None,
    modbus_ports: Mapping[str, int] | None = None,
) -> SiteConfig:
    """The same site config with the broker and database replaced by local ones, and the Modbus
    devices at `host:port` keys of `modbus_ports` replaced by local simulators on its ports."""
    influx_update: dict[str, object] = {"url": influx_url, "username": None, "password_env": None, "token_env": None}
    if database is not None:
        influx_update["database"] = database
    sensors = []
    for sensor in config.sensors:
        modbus = sensor.source.modbus if sensor.source else None
        local_port = modbus_ports.get(f"{modbus.host}:{modbus.port}") if modbus and modbus_ports else None
        if modbus is not None and local_port is not None:
            source = sensor.source.model_copy(  # type: ignore[union-attr]
                update={"modbus": modbus.model_copy(update={"host": "127.0.0.1", "port": local_port})}
            )
            sensor = sensor.model_copy(update={"source": source})
        sensors.append(sensor)
    return config.model_copy(
        update={
            "mqtt": config.mqtt.model_copy(
                update={"host": "127.0.0.1", "port": mqtt_port, "username": None, "password_env": None, "tls": False}
            ),
            "influx": config.influx.model_copy(update=influx_update),
            "sensors": sensors,
        }
    )


def count_points(client: InfluxClient, database: str) -> dict[str, int]:
    """Points per measurement in a database (the `hub` self-metrics included)."""
    results = client.query('SELECT count(*) FROM /.*/', database=database)
    counts: dict[str, int] = {}
    for series in results[0].get("series", []):
        row = series["values"][0]
        counts[series["name"]] = max(int(v) for v in row[1:] if v is not None)
    return counts


def count_sensor_points(client: InfluxClient, database: str) -> dict[str, int]:
    """Points per sensor (a sensor's points all carry its fields, so the largest count of one of
    its fields is its number of points)."""
    results = client.query("SELECT count(*) FROM /.*/ GROUP BY sensor", database=database)
    counts: dict[str, int] = {}
    for series in results[0].get("series", []):
        sensor = series.get("tags", {}).get("sensor")
        if sensor:
            counts[sensor] = max(int(v) for v in series["values"][0][1:] if v is not None)
    return counts


def _start_modbus_simulators(site_document: dict) -> tuple[SimulatorThread | None, dict[str, int], list[str]]:
    """Simulators for the site's Modbus sensors on free ports: the thread, the `host:port` →
    local port map for `point_at`, and the ids of the sensors they serve."""
    endpoints = profiles_from_site(site_document)
    if not endpoints:
        return None, {}, []
    servers = [
        ModbusSimulatorServer([SimulatedModbusDevice(profile) for profile in endpoint.devices], framer=endpoint.framer)
        for endpoint in endpoints
    ]
    thread = SimulatorThread(servers)
    ports = thread.start()
    mapping = {f"{endpoint.host}:{endpoint.port}": port for endpoint, port in zip(endpoints, ports, strict=True)}
    sensors = [sensor for endpoint in endpoints for sensor in endpoint.sensors]
    for endpoint, port in zip(endpoints, ports, strict=True):
        print(f"Modbus simulator on 127.0.0.1:{port} for {endpoint.host}:{endpoint.port} "
              f"({', '.join(endpoint.sensors)})")
    return thread, mapping, sensors


def run_demo(config_path: Path, workdir: Path, rounds: int, keep: bool) -> int:
    """Run the demo; returns the exit code (0 when every published reading reached InfluxDB)."""
    config = load_config(config_path)
    workdir.mkdir(parents=True, exist_ok=True)
    broker = LocalMosquitto(workdir / "mosquitto")
    influxd = LocalInfluxd(workdir / "influxdb")
    started = []
    simulators: SimulatorThread | None = None
    try:
        broker.start()
        started.append(broker)
        influxd.start()
        started.append(influxd)
        print(f"Mosquitto on 127.0.0.1:{broker.port}, InfluxDB on {influxd.url} (data in {workdir})")
        site_document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        simulators, modbus_ports, polled = _start_modbus_simulators(site_document)
        local = point_at(config, broker.port, influxd.url, modbus_ports=modbus_ports)
        hub = HubThread(local, workdir / "hub")
        hub.start()
        print(f"hub running for {local.site.name}: {len(local.sensors)} sensors, topics under {local.topic_root}/")

        devices = sensors_from_site(site_document)
        formats: dict[str, int] = {}
        for device in devices:
            formats[device.format] = formats.get(device.format, 0) + 1
        print(f"{len(devices)} simulated devices ({', '.join(f'{n} {f}' for f, n in sorted(formats.items()))}), "
              f"{rounds} rounds of one-minute readings")
        start_ms = (time.time_ns() // 1_000_000) - rounds * 60_000
        messages = ((topic, payload) for topic, payload, *_ in readings(devices, start_ms, 60_000, rounds))
        sent = publish_all("127.0.0.1", broker.port, messages, pace_s=0.002)
        client = InfluxClient(local.influx)
        deadline = time.monotonic() + 60
        per_sensor: dict[str, int] = {}
        while time.monotonic() < deadline:
            per_sensor = count_sensor_points(client, local.influx.database)
            stored = sum(n for sensor, n in per_sensor.items() if sensor not in polled)
            polled_total = sum(per_sensor.get(sensor, 0) for sensor in polled)
            print(f"  published {sent} readings, {stored} points in InfluxDB; "
                  f"{polled_total} polled from {len(polled)} Modbus devices", flush=True)
            if stored >= sent and all(per_sensor.get(sensor) for sensor in polled):
                break
            time.sleep(1)
        hub.stop()
        counts = count_points(client, local.influx.database)
        per_sensor = count_sensor_points(client, local.influx.database)
        print("\npoints per measurement in InfluxDB:")
        for name, number in sorted(counts.items()):
            print(f"  {name:<14} {number}")
        example = client.query(
            "SELECT last(level_cm) FROM river GROUP BY sensor", database=local.influx.database
        )[0].get("series", [])
        if example:
            print("\nlatest river levels:")
            for series in example:
                print(f"  {series['tags']['sensor']:<28} {series['values'][0][1]:8.1f} cm")
        print(f"\nquery it yourself: curl -G {influxd.url}/query --data-urlencode db={local.influx.database} "
              "--data-urlencode 'q=SELECT * FROM river LIMIT 5'")
        if polled:
            print("\nModbus devices polled into InfluxDB:")
            for sensor_id in polled:
                print(f"  {sensor_id:<28} {per_sensor.get(sensor_id, 0)} readings")
        stored = sum(n for sensor, n in per_sensor.items() if sensor not in polled)
        silent = [sensor_id for sensor_id in polled if not per_sensor.get(sensor_id)]
        ok = stored >= sent and not silent
        if ok:
            print("demo OK: every reading reached InfluxDB")
        else:
            print(f"demo FAILED: {stored} of {sent} readings stored"
                  + (f"; no readings polled from {', '.join(silent)}" if silent else ""))
        from dashboards.render import render_site

        pictures = render_site(local, client, local.influx.database, workdir / "dashboards",
                               start_ms, time.time_ns() // 1_000_000)
        print(f"dashboards drawn from the demo's data (what Grafana shows): {pictures[0].parent}")
        if keep:
            started.clear()
            print(f"--keep: Mosquitto (port {broker.port}) and InfluxDB ({influxd.url}) left running")
        return 0 if ok else 1
    finally:
        if simulators is not None:
            simulators.stop()
        for service in reversed(started):
            service.stop()
