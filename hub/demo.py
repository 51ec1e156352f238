"""`ews demo`: the hub on one machine. Starts Mosquitto and InfluxDB in the demo's own folder (not
the system services), runs the hub on the site config pointed at them, lets simulated devices of
every sensor publish in their own formats, serves simulated Modbus devices for the sensors the hub
polls, and shows the readings arriving in InfluxDB. With a scenario (`--scenario flood`), a drill
instead: the hub on scenario time with the site cut down to the scenario's sensors, the scenario
played at `--speed`, live progress, and the drill report against the scenario's expectations."""

from __future__ import annotations

import copy
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from firmware_sim.modbus_devices import (
    ModbusSimulatorServer,
    SimulatedModbusDevice,
    SimulatorThread,
    profiles_from_site,
)
from firmware_sim.mqtt_devices import publish_all, readings, sensors_from_site
from firmware_sim.scenario import Scenario, check_against_site, load_scenario
from firmware_sim.scenario_check import DrillReport, check_drill, read_outbox, scenario_clock
from firmware_sim.scenario_runner import AlarmObserver, AlarmRecord, ScenarioPlayer
from hub.app import HubThread
from hub.config import SiteConfig, load_config, parse_config
from hub.influx import InfluxClient
from hub.localservices import LocalInfluxd, LocalMosquitto
from hub.notify.service import DATABASE_NAME as NOTIFY_DATABASE
from hub.notify.subscribers import Subscriber, SubscriberStore

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


# -- scenario drills ---------------------------------------------------------------------------


def drill_site_document(site: dict[str, Any], sensor_ids: Iterable[str]) -> dict[str, Any]:
    """The site YAML (plain data) cut down to the drill's sensors: sensors the scenario does not
    play would fall silent and raise technical alarms that are no part of the drill. Rules keep
    what they select of those sensors and go when nothing is left; composites and corroborations
    lose the rules that went; the seismic network goes without its waveform stations."""
    kept = set(sensor_ids)
    document = copy.deepcopy(site)
    sensors = [s for s in document.get("sensors", []) if s["id"] in kept]
    document["sensors"] = sensors

    def selects_any(select: dict[str, Any]) -> bool:
        chosen = [s for s in sensors if ("sensors" not in select or s["id"] in select["sensors"])
                  and ("kinds" not in select or s["kind"] in select["kinds"])
                  and ("areas" not in select or s["area"] in select["areas"])
                  and all((s.get("tags") or {}).get(k) == v for k, v in (select.get("tags") or {}).items())]
        return bool(chosen)

    rules = []
    for rule in document.get("rules", []):
        select = rule.get("select")
        if select is not None:
            if "sensors" in select:
                select["sensors"] = [s for s in select["sensors"] if s in kept]
                if not select["sensors"]:
                    continue
            if not selects_any(select):
                continue
        rules.append(rule)
    while True:
        ids = {rule["id"] for rule in rules}
        remaining = []
        for rule in rules:
            members = rule.get("members")
            if members is not None:
                alive = [m for m in members if m["rule"] in ids]
                if not alive or (rule.get("mode", "all") == "all" and len(alive) < len(members)):
                    continue
                rule["members"] = alive
            corroboration = rule.get("corroboration")
            if corroboration is not None:
                corroboration["rules"] = [r for r in corroboration["rules"] if r in ids]
                if not corroboration["rules"]:
                    del rule["corroboration"]
            remaining.append(rule)
        if len(remaining) == len(rules):
            break
        rules = remaining
    document["rules"] = rules
    if not any((s.get("source") or {}).get("seismic") for s in sensors):
        document.pop("seismic", None)
    return document


@dataclass(frozen=True, slots=True)
class DrillProgress:
    """Where a running drill is: scenario clock, readings per second, open alarms by level, SMS."""

    scenario_s: float
    published: int
    readings_per_s: float
    open_by_level: dict[str, int]
    sms_queued: int
    sms_sent: int

    def line(self) -> str:
        """One progress line."""
        levels = " ".join(f"{level} {self.open_by_level.get(level, 0)}"
                          for level in ("red", "orange", "yellow", "info"))
        return (f"  {scenario_clock(self.scenario_s)}  {self.published:6d} readings ({self.readings_per_s:6.0f}/s)  "
                f"open alarms: {levels}  SMS queued {self.sms_queued}, sent {self.sms_sent}")


def _open_by_level(records: Sequence[AlarmRecord]) -> dict[str, int]:
    latest: dict[int, AlarmRecord] = {}
    for record in records:
        latest[record.alarm_id] = record
    counts: dict[str, int] = {}
    for record in latest.values():
        if record.state in ("active", "acknowledged"):
            counts[record.level] = counts.get(record.level, 0) + 1
    return counts


def drill_config(site: dict[str, Any], scenario: Scenario, mqtt_port: int, influx_url: str,
                 database: str | None = None) -> SiteConfig:
    """The hub's config for a drill: the site cut down to the scenario's sensors, pointed at the
    given broker and database. Raises ScenarioError or ConfigError with every problem."""
    check_against_site(scenario, site, scenario.name)
    document = drill_site_document(site, scenario.sensors)
    return point_at(parse_config(yaml.safe_dump(document, allow_unicode=True), f"drill {scenario.name}"),
                    mqtt_port, influx_url, database)


def run_drill(site: dict[str, Any], scenario: Scenario, folder: Path, mqtt_port: int, influx_url: str,
              database: str | None = None, speed: float | None = None,
              on_progress: Callable[[DrillProgress], None] | None = None,
              progress_interval_s: float = 1.0) -> DrillReport:
    """Run one scenario through a hub of its own (data in `folder`) on event time, against the
    given broker and InfluxDB, and check its expectations. `speed`: scenario seconds per wall
    second (None: as fast as the hub takes them; the outcome is the same)."""
    config = drill_config(site, scenario, mqtt_port, influx_url, database)
    document = drill_site_document(site, scenario.sensors)
    folder.mkdir(parents=True, exist_ok=True)
    outbox_path = folder / NOTIFY_DATABASE
    subscribers = SubscriberStore(outbox_path)
    try:
        for person in scenario.subscribers:
            subscribers.add(Subscriber(person.phone, tuple(person.areas), language=person.language))
    finally:
        subscribers.close()
    observer = AlarmObserver("127.0.0.1", mqtt_port, config.topic_root)
    observer.start()
    hub = HubThread(config, folder, event_time=True)
    try:
        parts = hub.start()
        player = ScenarioPlayer(scenario, document, "127.0.0.1", mqtt_port, speed)
        done = threading.Event()
        failure: list[BaseException] = []

        def play() -> None:
            try:
                player.run()
            except BaseException as error:  # handed to the caller's thread below
                failure.append(error)
            finally:
                done.set()

        threading.Thread(target=play, name=f"scenario-{scenario.name}", daemon=True).start()
        last_count, last_time = 0, time.monotonic()

        def report_progress() -> None:
            nonlocal last_count, last_time
            now = time.monotonic()
            evaluated = parts.alarms.readings_evaluated
            rate = (evaluated - last_count) / max(now - last_time, 1e-6)
            last_count, last_time = evaluated, now
            messages = read_outbox(outbox_path)
            if on_progress is not None:
                on_progress(DrillProgress(player.scenario_s, player.published, rate, _open_by_level(observer.records),
                                          len(messages), sum(m.state in ("sent", "delivered") for m in messages)))

        while not done.wait(progress_interval_s):
            report_progress()
        if failure:
            raise failure[0]
        selected = parts.alarms.engine.selected_sensors()
        expected = sum(n for sensor, n in player.published_by_sensor.items() if sensor in selected)
        _wait_for(lambda: parts.alarms.readings_evaluated >= expected, 120,
                  lambda: f"the rules to evaluate every reading ({parts.alarms.readings_evaluated} of {expected}; "
                          f"inputs set aside by the hub: {dict(parts.pipeline.rejected) or 'none'})")
        _wait_for(lambda: len(observer.records) >= parts.alarms.events_out, 30, "every alarm event on MQTT")
        _wait_for(lambda: all(m.state not in ("queued", "sending") for m in read_outbox(outbox_path)), 60,
                  "the outbox to drain")
        report_progress()
    finally:
        hub.stop()
        observer.stop()
    return check_drill(scenario, list(observer.records), read_outbox(outbox_path))


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str | Callable[[], str]) -> None:
    ready = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what() if callable(what) else what}")
        ready.wait(0.05)


def run_scenario_demo(config_path: Path, workdir: Path, scenario_name: str, speed: float | None, keep: bool) -> int:
    """`ews demo --scenario NAME`: the drill on local Mosquitto and InfluxDB of its own, with a
    progress line a second, the drill report, where to look, and the dashboards drawn from the
    drill's data. Returns 0 when the drill passed."""
    scenario = load_scenario(scenario_name)
    site = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    check_against_site(scenario, site, scenario.name)  # refuse before starting anything
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
        local = drill_config(site, scenario, broker.port, influxd.url)
        pace = f"{speed:g}× real time" if speed else "as fast as the hub takes it"
        print(f"drill {scenario.name}: {scenario.title}\n  {len(scenario.sensors)} sensors, "
              f"{scenario_clock(scenario.duration_s)} of scenario time from {scenario.start:%Y-%m-%d %H:%M} UTC, "
              f"{pace}; hub on scenario time, topics under {local.topic_root}/")
        hub_folder = workdir / "hub"
        if hub_folder.exists():
            shutil.rmtree(hub_folder)  # a drill starts from no alarms, no messages
        report = run_drill(site, scenario, hub_folder, broker.port, influxd.url, speed=speed,
                           on_progress=lambda progress: print(progress.line(), flush=True))
        print()
        print(report.text())
        client = InfluxClient(local.influx)
        end_ms = scenario.start_ms + round(scenario.duration_s * 1000)
        from dashboards.render import render_site

        pictures = render_site(local, client, local.influx.database, workdir / "dashboards", scenario.start_ms, end_ms)
        print("\nwhere to look:")
        print(f"  alarms and their events   {hub_folder / 'alarms.sqlite'}   (ews alarms; retained on "
              f"{local.topic_root}/alarm/#)")
        print(f"  SMS that would be sent    {hub_folder / NOTIFY_DATABASE} (table message)")
        print(f"  CAP alerts and feed       {hub_folder / 'cap'}")
        print(f"  dashboards (PNG)          {pictures[0].parent if pictures else workdir / 'dashboards'}")
        print(f"  readings                  curl -G {influxd.url}/query --data-urlencode db={local.influx.database} "
              "--data-urlencode 'q=SELECT * FROM river LIMIT 5'")
        if keep:
            started.clear()
            print(f"--keep: Mosquitto (port {broker.port}) and InfluxDB ({influxd.url}) left running")
        return 0 if report.passed else 1
    finally:
        for service in reversed(started):
            service.stop()
