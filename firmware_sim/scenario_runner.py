"""Playing a scenario: every scripted sensor's messages in scenario-time order on its own topic
in its own format (normalised or the device's native JSON, SenML or bare number), timestamps from
the scenario's start so that a hub on event time sees the same history however fast it is played,
published from one client (one client's messages keep their order at the broker); and an observer
of the hub's retained alarm topics that records every alarm transition as it is published."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.mqtt_devices import SimulatedSensor, sensors_from_site
from firmware_sim.scenario import Scenario
from firmware_sim.signals import AcceleratedClock, SignalSpec


@dataclass(frozen=True, slots=True)
class Publication:
    """One message of the scenario: when (scenario seconds), which sensor, where and what."""

    t_s: float
    sensor: str
    topic: str
    payload: bytes
    values: dict[str, float]


def site_interval_s(site: dict[str, Any], sensor_id: str) -> float:
    """The sensor's reporting interval in the site YAML (60 s when none is given)."""
    for sensor in site.get("sensors", []):
        if sensor["id"] == sensor_id:
            return float(sensor.get("interval_s", 60))
    raise KeyError(sensor_id)


def publications(scenario: Scenario, site: dict[str, Any]) -> Iterator[Publication]:
    """The scenario's messages in time order (ties in the scenario's sensor order). Pure: the same
    scenario and site give the same messages, byte for byte."""
    scenario = scenario.seeded()
    devices: dict[str, SimulatedSensor] = {d.id: d for d in sensors_from_site(site)}
    plans = []
    for order, (sensor_id, script) in enumerate(scenario.sensors.items()):
        device = devices[sensor_id]
        interval_s = script.interval_s or site_interval_s(site, sensor_id)
        faults = [f for f in scenario.faults if f.sensor == sensor_id]
        # What a stuck device repeats, from fresh copies (a counter asked about an earlier time
        # would integrate again from zero on every read).
        stuck = {id(f): {name: round(SignalSpec.model_validate(spec.model_dump()).at(f.from_s), script.decimals)
                         for name, spec in script.fields.items()} for f in faults if f.kind == "stuck"}
        plans.append((order, sensor_id, script, device, interval_s, faults, stuck))
    steps = []
    for order, _, script, _, interval_s, _, _ in plans:
        count = int(scenario.duration_s // interval_s) + 1
        steps.extend((round(index * interval_s, 6), order) for index in range(count))
    steps.sort()
    by_order = {plan[0]: plan for plan in plans}
    for t_s, order in steps:
        _, sensor_id, script, device, _, faults, stuck = by_order[order]
        # Every counter integrates in time order, even through a silence, as a real one counts on.
        values = {name: round(spec.at(t_s), script.decimals) for name, spec in script.fields.items()}
        if any(f.kind == "silent" and f.covers(t_s) for f in faults):
            continue
        for fault in faults:
            if fault.kind == "stuck" and fault.covers(t_s):
                values = dict(stuck[id(fault)])
        ts_ms = scenario.start_ms + round(t_s * 1000)
        yield Publication(t_s, sensor_id, device.topic, device.payload(values, ts_ms), values)


class ScenarioPlayer:
    """Publishes a scenario's messages to a broker, `speed` scenario seconds per wall second
    (None: as fast as the broker takes them). `published` and `scenario_s` show progress."""

    def __init__(self, scenario: Scenario, site: dict[str, Any], host: str, port: int, speed: float | None = None):
        self.scenario = scenario
        self._site = site
        self._host = host
        self._port = port
        self._speed = speed
        self._stop = threading.Event()
        self.published = 0
        self.published_by_sensor: dict[str, int] = {}
        self.scenario_s = 0.0

    def stop(self) -> None:
        """Stop publishing after the current message."""
        self._stop.set()

    def run(self, on_published: Callable[[Publication], None] | None = None) -> int:
        """Publish everything (or until stopped); returns how many messages the broker has."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"scenario-{random.randrange(1 << 30)}")
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect(self._host, self._port)
        client.loop_start()
        clock = AcceleratedClock(self._speed) if self._speed else None
        last = None
        try:
            for publication in publications(self.scenario, self._site):
                if clock is not None:
                    ahead_s = (publication.t_s - clock.now_s()) / self._speed  # type: ignore[operator]
                    if ahead_s > 0 and self._stop.wait(ahead_s):
                        break
                if self._stop.is_set():
                    break
                last = client.publish(publication.topic, publication.payload, qos=1)
                self.published += 1
                self.published_by_sensor[publication.sensor] = self.published_by_sensor.get(publication.sensor, 0) + 1
                self.scenario_s = publication.t_s
                if on_published is not None:
                    on_published(publication)
            if last is not None:
                last.wait_for_publish(60)
        finally:
            client.disconnect()
            client.loop_stop()
        return self.published


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One alarm transition as published on `<root>/alarm/<id>`."""

    ts_ms: int
    event: str
    alarm_id: int
    rule: str
    subject: str
    area: str
    audience: str
    level: str
    state: str


class AlarmObserver:
    """Subscribes to `<root>/alarm/+` and records every alarm transition published from now on,
    in arrival order (the hub publishes them in order, one client, QoS 1)."""

    def __init__(self, host: str, port: int, topic_root: str):
        self.records: list[AlarmRecord] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"drill-observer-{random.randrange(1 << 30)}")
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_connect = lambda client, *args: client.subscribe(f"{topic_root}/alarm/+", qos=1)
        self._client.connect(host, port)

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and wait until subscribed."""
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise TimeoutError("the drill observer could not subscribe to the alarm topics")

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if not message.payload or message.retain:
            # A closed alarm's topic being emptied; or the retained state of an earlier run,
            # delivered on subscribing (live messages reach a subscriber with the flag unset).
            return
        body = json.loads(message.payload)
        record = AlarmRecord(body["updated_ms"], body.get("event") or "", body["id"], body["rule"], body["subject"],
                             body["area"], body["audience"], body["level"], body["state"])
        self.records.append(record)
