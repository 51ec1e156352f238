"""Simulated MQTT devices for the sensors of a site: each publishes plausible values on its own
topic in its own format (DESIGN.md's normalised reading, a vendor's JSON, SenML, a bare number),
read from the site YAML as plain data. This module knows the hub only through those formats."""

from __future__ import annotations

import json
import math
import random
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

#: A typical value and a swing for the main field of each kind: enough to look alive on a chart.
_KIND_SIGNALS: dict[str, dict[str, tuple[float, float]]] = {
    "river": {"level_cm": (120.0, 30.0)},
    "dam": {"level_cm": (3900.0, 50.0), "fill_pct": (62.0, 3.0)},
    "rain": {"mm": (0.4, 0.4)},
    "seismic": {"pga_g": (0.0005, 0.0004), "stalta": (1.0, 0.3)},
    "camera_water": {"level_cm": (118.0, 28.0), "confidence": (0.8, 0.1)},
    "fire": {"fire_score": (0.05, 0.04), "smoke_score": (0.05, 0.04)},
    "traffic": {"vehicles": (20.0, 15.0), "occupancy_pct": (30.0, 20.0)},
    "parking": {"violations": (1.0, 1.0), "occupancy_pct": (70.0, 20.0)},
    "pedestrians": {"count": (40.0, 30.0)},
    "weather": {"temperature_c": (8.0, 6.0), "humidity_pct": (70.0, 15.0), "pressure_hpa": (1013.0, 5.0)},
}


def iso_ms(ts_ms: int) -> str:
    """Epoch milliseconds → `2026-11-25T13:00:00.000Z`."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SimulatedSensor:
    """One sensor as a device sees it: its topic, its format and its fields."""

    id: str
    kind: str
    topic: str
    format: str  # normalised | json | senml | plain
    fields: dict[str, dict[str, Any]]  # field → mapping from the site YAML (path/name/scale/offset)
    time: dict[str, Any] | None = None

    def payload(self, values: dict[str, float], ts_ms: int) -> bytes:
        """The message this device would send for `values` (in the fields' units) at `ts_ms`."""
        if self.format == "normalised":
            return json.dumps({"ts": iso_ms(ts_ms), "values": values}).encode()
        raw = {name: (values[name] - m.get("offset", 0.0)) / m.get("scale", 1.0) for name, m in self.fields.items()
               if name in values}
        if self.format == "plain":
            ((_, value),) = raw.items()
            return repr(value).encode()
        if self.format == "senml":
            return json.dumps([{"n": self.fields[name]["name"], "v": value, "t": ts_ms / 1000}
                               for name, value in raw.items()]).encode()
        document: dict[str, Any] = {}
        for name, value in raw.items():
            _put(document, self.fields[name]["path"], value)
        if self.time is not None:
            fmt = self.time.get("format", "iso")
            stamp: Any = iso_ms(ts_ms) if fmt == "iso" else (ts_ms / 1000 if fmt == "epoch_s" else ts_ms)
            _put(document, self.time["path"], stamp)
        return json.dumps(document).encode()


def _put(document: dict[str, Any], path: str, value: Any) -> None:
    keys = path.replace("[", ".[").split(".")
    node: Any = document
    for key, following in zip(keys, keys[1:] + [None], strict=True):
        if key.startswith("["):
            index = int(key[1:-1])
            while len(node) <= index:
                node.append({} if following and not following.startswith("[") else [])
            if following is None:
                node[index] = value
            else:
                node = node[index]
        elif following is None:
            node[key] = value
        else:
            node = node.setdefault(key, [] if following.startswith("[") else {})


def sensors_from_site(site: dict[str, Any]) -> list[SimulatedSensor]:
    """The simulated devices for a site YAML document (plain data, as loaded by PyYAML)."""
    root = (site.get("mqtt") or {}).get("topic_root") or f"ews/{site['site']['id']}"
    devices = []
    for sensor in site.get("sensors", []):
        if (sensor.get("source") or {}).get("modbus") is not None:
            continue  # polled by the hub from a Modbus device (firmware_sim.modbus_devices), not published
        if (sensor.get("source") or {}).get("seismic") is not None:
            continue  # a waveform station: firmware_sim.seismic publishes its packets
        source = (sensor.get("source") or {}).get("mqtt")
        if source is None:
            fields = {name: {} for name in _KIND_SIGNALS.get(sensor["kind"], {})}
            devices.append(SimulatedSensor(sensor["id"], sensor["kind"], f"{root}/reading/{sensor['kind']}/{sensor['id']}",
                                           "normalised", fields))
        elif "+" not in source["topic"] and "#" not in source["topic"]:
            devices.append(SimulatedSensor(sensor["id"], sensor["kind"], source["topic"], source["format"],
                                           dict(source["fields"]), source.get("time")))
    return devices


def plausible_values(sensor: SimulatedSensor, ts_ms: int, rng: random.Random) -> dict[str, float]:
    """Values of the sensor's fields at a time: a slow daily wave plus a little noise."""
    signals = _KIND_SIGNALS.get(sensor.kind, {})
    phase = (ts_ms / 86_400_000) * 2 * math.pi + (zlib.crc32(sensor.id.encode()) % 628) / 100
    values = {}
    for name in sensor.fields:
        typical, swing = signals.get(name, (1.0, 0.5))
        value = typical + swing * math.sin(phase) + rng.gauss(0, swing * 0.05)
        values[name] = round(max(0.0, value) if typical >= 0 else value, 3)
    return values


def readings(devices: list[SimulatedSensor], start_ms: int, step_ms: int, rounds: int,
             seed: int = 1) -> Iterator[tuple[str, bytes, SimulatedSensor, int, dict[str, float]]]:
    """`rounds` rounds of one message per device, `step_ms` apart: (topic, payload, device, ts, values)."""
    rng = random.Random(seed)
    for round_number in range(rounds):
        ts_ms = start_ms + round_number * step_ms
        for device in devices:
            values = plausible_values(device, ts_ms, rng)
            yield device.topic, device.payload(values, ts_ms), device, ts_ms, values


def publish_all(host: str, port: int, messages: Iterator[tuple[str, bytes]], qos: int = 1,
                pace_s: float = 0.0, on_sent: Callable[[int], None] | None = None) -> int:
    """Publish messages from one client and wait until the broker has them all; returns the count."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{random.randrange(1 << 30)}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    sent = 0
    last = None
    try:
        for topic, payload in messages:
            last = client.publish(topic, payload, qos=qos)
            sent += 1
            if on_sent is not None:
                on_sent(sent)
            if pace_s:
                time.sleep(pace_s)
        if last is not None:
            last.wait_for_publish(60)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent
