"""Sirens in the running hub, with the real broker and the siren controller simulator on a
Modbus TCP port: a red public alarm for the siren's area sets the alarm pattern and switches the
siren's coil on (confirmed by read-back); the all-clear sets the all-clear tone and switches it
off; alarms of other areas or below red leave it alone. The rule for each event is tested pure."""

from __future__ import annotations

import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.modbus_devices import ModbusSimulatorServer, SimulatedModbusDevice, SimulatorThread, load_profile
from firmware_sim.mqtt_devices import iso_ms
from hub.app import HubThread
from hub.config import parse_config
from hub.localservices import LocalInfluxd, LocalMosquitto
from hub.notify.sirens import SirenConfig, siren_action
from tests.conftest import site_yaml, wait_until
from tests.notify.helpers import event

pytestmark = pytest.mark.integration


def test_which_events_switch_a_siren() -> None:
    siren = SirenConfig.model_validate({"id": "s1", "area": "centre", "switch": {"host": "h", "register": "coil",
                                                                                  "address": 0}})
    assert siren_action(event(1, level="red"), siren) == "on"
    assert siren_action(event(1, kind="escalated", level="red"), siren) == "on"
    assert siren_action(event(1, level="orange"), siren) is None
    assert siren_action(event(1, level="red", area="shipka"), siren) is None
    assert siren_action(event(1, level="red", audience="staff"), siren) is None
    assert siren_action(event(1, kind="acknowledged", level="red"), siren) is None
    assert siren_action(event(1, kind="cleared", level="red", state="cleared"), siren) == "off"
    assert siren_action(event(1, kind="cleared", level="orange", state="cleared"), siren) is None
    lowered = event(1, kind="deescalated", level="orange")
    assert siren_action(type(lowered)(lowered.seq, lowered.kind, lowered.ts_ms, lowered.alarm, "red"), siren) == "off"


def test_red_public_alarm_switches_the_sirens_of_its_area(mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                          unique_name: str, tmp_path: Path) -> None:
    device = SimulatedModbusDevice(load_profile("siren_controller"))
    simulators = SimulatorThread([ModbusSimulatorServer([device])])
    [port] = simulators.start()
    sensors = ("  - {id: centre-river, kind: river, area: centre, location: {lat: 42.62, lon: 25.39}, "
               "interval_s: 60}")
    extra = f"""
rules:
  - {{id: centre-river-level, kind: threshold, hazard: flood, audience: public, select: {{areas: [centre],
      kinds: [river]}}, subject: area, field: level_cm, levels: {{yellow: 200, orange: 260, red: 320}}, clear: 180}}
notify:
  sirens:
    retry: {{initial_s: 0.05, max_s: 0.2}}
    sirens:
      - id: centre-1
        area: centre
        switch: {{host: 127.0.0.1, port: {port}, register: coil, address: 0, timeout_s: 1}}
        pattern: {{host: 127.0.0.1, port: {port}, register: holding, address: 0, timeout_s: 1}}
      - id: shipka-1
        area: shipka
        switch: {{host: 127.0.0.1, port: {port}, register: coil, address: 1, timeout_s: 1}}
"""
    config = parse_config(site_yaml(unique_name, mosquitto.port, influxd.url, sensors, extra))
    hub = HubThread(config, tmp_path / "hub")
    parts = hub.start()
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()

    def level(value: float) -> None:
        reading = json.dumps({"ts": iso_ms(time.time_ns() // 1_000_000), "values": {"level_cm": value}})
        publisher.publish(f"ews/{unique_name}/reading/river/centre-river", reading, qos=1).wait_for_publish(10)

    try:
        sirens = parts.notify.sirens
        assert sirens is not None
        level(280.0)  # orange: no siren
        wait_until(lambda: parts.alarms.events_out >= 1, what="orange alarm")
        level(345.0)
        wait_until(lambda: len(sirens.history) == 1, what="siren switched on")
        assert device.value("siren_1") == 1.0 and device.value("pattern") == 1.0
        assert device.value("siren_2") == 0.0
        level(120.0)
        wait_until(lambda: len(sirens.history) == 2, what="siren switched off")
        assert device.value("siren_1") == 0.0 and device.value("pattern") == 2.0
        assert [(a.siren, a.action, a.confirmed, a.detail) for a in sirens.history] == [
            ("centre-1", "on", True, "read back 1"), ("centre-1", "off", True, "read back 0")]
        assert parts.modbus is not None and parts.modbus.counts["writes"] == 4
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        hub.stop()
        simulators.stop()


def test_unconfirmed_writes_are_retried_and_refusals_given_up() -> None:
    import asyncio

    from adapters.modbus.poller import ModbusWriteError, WriteResult
    from hub.notify.sirens import SirenNotifier, SirensConfig

    config = SirensConfig.model_validate({"max_attempts": 3, "retry": {"initial_s": 0.001, "max_s": 0.002}, "sirens": [
        {"id": "flaky", "area": "centre", "switch": {"host": "a", "register": "coil", "address": 0}},
        {"id": "broken", "area": "centre", "switch": {"host": "b", "register": "coil", "address": 0}}]})
    calls: list[tuple[str, float]] = []

    async def write(target, value):  # type: ignore[no-untyped-def]
        calls.append((target.host, value))
        if target.host == "b":
            raise ModbusWriteError("exception 2 (illegal data address)", False)
        if len([c for c in calls if c[0] == "a"]) < 3:
            raise ModbusWriteError("wrote 1, read back 0", True)
        return WriteResult(value, 0.01)

    async def main() -> list:
        notifier = SirenNotifier(config, write)
        await notifier(event(1, level="red"))
        await notifier.wait_idle()
        return notifier.history

    history = asyncio.run(main())
    assert sorted((a.siren, a.confirmed) for a in history) == [("broken", False), ("flaky", True)]
    assert calls.count(("a", 1.0)) == 3 and calls.count(("b", 1.0)) == 1
