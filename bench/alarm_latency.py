"""Latency of alarms under load: the hub with 500 river gauges under threshold and silence rules,
a background load of 5,000 readings/s that raises nothing, and one probe gauge that crosses its
yellow level and falls back every 50 ms. Each probe reading causes one alarm event; the figure is
the time from the reading entering the pipeline to its event being stored and dispatched (InfluxDB
line queued, retained MQTT state published, notifiers called), p50 and p99."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench import BenchResult, Row
from hub.app import HubThread
from hub.config import parse_config
from hub.localservices import LocalInfluxd, LocalMosquitto


@dataclass(frozen=True)
class LatencySettings:
    """What the latency entry runs."""

    sensors: int = 500
    background_per_s: int = 5000
    probe_period_s: float = 0.05
    seconds: float = 20.0


def site_yaml(settings: LatencySettings, mqtt_port: int, influx_url: str) -> str:
    sensors = "\n".join(
        f"  - {{id: g{index:03d}, kind: river, area: centre, location: {{lat: 42.6, lon: 25.4}}, interval_s: 60}}"
        for index in range(settings.sensors)
    )
    return f"""
site: {{id: latency, name: Latency}}
mqtt: {{port: {mqtt_port}, client_id: hub-latency}}
influx: {{url: "{influx_url}", database: latency}}
alarms: {{flapping: {{high: 1000000, low: 0}}}}
areas: [{{id: centre, name: Център, type: neighbourhood}}]
sensors:
{sensors}
  - {{id: probe, kind: river, area: centre, location: {{lat: 42.6, lon: 25.4}}, interval_s: 60}}
rules:
  - id: river-level
    kind: threshold
    hazard: flood
    audience: public
    select: {{kinds: [river]}}
    field: level_cm
    levels: {{yellow: 250, orange: 320, red: 400}}
    clear: 230
  - id: gauge-silent
    kind: stale
    hazard: technical
    select: {{kinds: [river]}}
    after_intervals: 5
"""


def _background(port: int, sensors: int, per_s: int, seconds: float, started: multiprocessing.Event) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-background")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    started.set()
    begin = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - begin) < seconds:
        due = int(elapsed * per_s)
        now_ms = time.time_ns() // 1_000_000
        while sent < due:
            sensor = f"g{sent % sensors:03d}"
            payload = orjson.dumps({"ts": now_ms, "values": {"level_cm": 100.0 + sent % 50}})
            client.publish(f"ews/latency/reading/river/{sensor}", payload, qos=1)
            sent += 1
        time.sleep(0.005)
    client.disconnect()
    client.loop_stop()


def run(settings: LatencySettings, workdir: Path) -> BenchResult:
    broker = LocalMosquitto(workdir / "latency-mosquitto")
    influxd = LocalInfluxd(workdir / "latency-influxd")
    broker.start()
    influxd.start()
    failures: list[str] = []
    try:
        hub = HubThread(parse_config(site_yaml(settings, broker.port, influxd.url)), workdir / "latency-hub")
        parts = hub.start()
        stage = parts.alarms
        assert stage is not None
        probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-probe")
        probe.connect("127.0.0.1", broker.port)
        probe.loop_start()
        started = multiprocessing.Event()
        background = multiprocessing.Process(
            target=_background, args=(broker.port, settings.sensors, settings.background_per_s, settings.seconds,
                                       started), daemon=True)
        background.start()
        started.wait(10)
        readings_before = parts.pipeline.readings_in
        begin = time.monotonic()
        probes = 0
        last_ts = 0
        while time.monotonic() - begin < settings.seconds:
            ts_ms = max(time.time_ns() // 1_000_000, last_ts + 1)
            last_ts = ts_ms
            level = 300.0 if probes % 2 == 0 else 200.0
            probe.publish("ews/latency/reading/river/probe",
                          orjson.dumps({"ts": ts_ms, "values": {"level_cm": level}}), qos=1)
            probes += 1
            time.sleep(settings.probe_period_s)
        elapsed = time.monotonic() - begin
        background.join(30)
        deadline = time.monotonic() + 30
        while stage.events_out < probes and time.monotonic() < deadline:
            time.sleep(0.05)
        load_per_s = (parts.pipeline.readings_in - readings_before - probes) / elapsed
        latencies_ms = sorted(ns / 1e6 for ns in stage.latencies_ns)
        probe.loop_stop()
        probe.disconnect()
        hub.stop()
    finally:
        broker.stop()
        influxd.stop()
    if stage.events_out < probes:
        failures.append(f"{probes} probe readings but {stage.events_out} alarm events")
    if not latencies_ms:
        failures.append("no latency samples")
        latencies_ms = [float("nan")]
    p50 = statistics.median(latencies_ms)
    p99 = latencies_ms[min(len(latencies_ms) - 1, int(len(latencies_ms) * 0.99))]
    rows = [
        Row("alarm latency, reading in → event dispatched, p50", "ms", round(p50, 2)),
        Row("alarm latency, reading in → event dispatched, p99", "ms", round(p99, 2)),
        Row("background load during the latency run / asked", "readings/s", round(load_per_s),
            settings.background_per_s, 0.95),
    ]
    details = {
        "settings": settings.__dict__, "probes": probes, "events": stage.events_out, "samples": len(latencies_ms),
        "p50_ms": p50, "p99_ms": p99, "max_ms": latencies_ms[-1], "background_readings_per_s": load_per_s,
        "readings_evaluated": stage.readings_evaluated,
    }
    return BenchResult("alarm_latency", rows, details, failures)
