"""`ews demo`: the hub on one machine. Starts Mosquitto and InfluxDB in the demo's own folder (not
the system services), runs the hub on the site config pointed at them, lets simulated devices of
every sensor publish in their own formats, and shows the readings arriving in InfluxDB. The
scenarios work (flood, earthquake, ...) will grow this into the full drill."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import yaml

from firmware_sim.mqtt_devices import publish_all, readings, sensors_from_site
from hub.app import HubThread
from hub.config import SiteConfig, load_config
from hub.influx import InfluxClient
from hub.localservices import LocalInfluxd, LocalMosquitto

logger = logging.getLogger(__name__)


def point_at(config: SiteConfig, mqtt_port: int, influx_url: str, database: str | None = None) -> SiteConfig:
    """The same site config with the broker and database replaced by local ones."""
    influx_update: dict[str, object] = {"url": influx_url, "username": None, "password_env": None, "token_env": None}
    if database is not None:
        influx_update["database"] = database
    return config.model_copy(
        update={
            "mqtt": config.mqtt.model_copy(
                update={"host": "127.0.0.1", "port": mqtt_port, "username": None, "password_env": None, "tls": False}
            ),
            "influx": config.influx.model_copy(update=influx_update),
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


def run_demo(config_path: Path, workdir: Path, rounds: int, keep: bool) -> int:
    """Run the demo; returns the exit code (0 when every published reading reached InfluxDB)."""
    config = load_config(config_path)
    workdir.mkdir(parents=True, exist_ok=True)
    broker = LocalMosquitto(workdir / "mosquitto")
    influxd = LocalInfluxd(workdir / "influxdb")
    started = []
    try:
        broker.start()
        started.append(broker)
        influxd.start()
        started.append(influxd)
        print(f"Mosquitto on 127.0.0.1:{broker.port}, InfluxDB on {influxd.url} (data in {workdir})")
        local = point_at(config, broker.port, influxd.url)
        hub = HubThread(local, workdir / "hub")
        hub.start()
        print(f"hub running for {local.site.name}: {len(local.sensors)} sensors, topics under {local.topic_root}/")

        site_document = yaml.safe_load(config_path.read_text(encoding="utf-8"))
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
        counts: dict[str, int] = {}
        while time.monotonic() < deadline:
            counts = count_points(client, local.influx.database)
            stored = sum(n for name, n in counts.items() if name != "hub")
            print(f"  published {sent} readings, {stored} points in InfluxDB", flush=True)
            if stored >= sent:
                break
            time.sleep(1)
        hub.stop()
        counts = count_points(client, local.influx.database)
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
        stored = sum(n for name, n in counts.items() if name != "hub")
        ok = stored >= sent
        print("demo OK: every reading reached InfluxDB" if ok else f"demo FAILED: {stored} of {sent} readings stored")
        if keep:
            started.clear()
            print(f"--keep: Mosquitto (port {broker.port}) and InfluxDB ({influxd.url}) left running")
        return 0 if ok else 1
    finally:
        for service in reversed(started):
            service.stop()
