"""Simulated Modbus devices: the shipped profiles load, bad profiles are refused with reasons,
registers hold values encoded as the profile says (checked with `struct`), faults behave as
named, writes and statuses follow, devices are made from a site's point maps, and `ews sim
modbus` serves until interrupted."""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from firmware_sim.modbus_devices import (
    PROFILES_FOLDER,
    DeviceProfile,
    ModbusSimulatorServer,
    ProfileError,
    SimulatedModbusDevice,
    SimulatedModbusError,
    load_profile,
    parse_profile,
    profiles_from_site,
)
from firmware_sim.signals import ManualClock

ROOT = Path(__file__).parents[2]


def test_every_shipped_profile_loads_and_reads() -> None:
    names = sorted(path.stem for path in PROFILES_FOLDER.glob("*.yaml"))
    assert names == ["dam_level_logger", "pressure_transmitter", "radar_river_gauge", "rain_tipping_bucket",
                     "siren_controller"]
    for name in names:
        device = SimulatedModbusDevice(load_profile(name), ManualClock(3600))
        for table in ("coil", "discrete_input", "holding", "input"):
            if device.span(table):
                assert len(device.read(table, 0, device.span(table))) == device.span(table)


def test_bad_profiles_are_refused_with_every_reason() -> None:
    with pytest.raises(ProfileError) as error:
        parse_profile({"name": "x", "points": [
            {"name": "a", "address": 0, "type": "flaot32"},
            {"name": "b", "address": 0, "type": "float32"},
            {"name": "c", "address": 1, "type": "uint16"},
            {"name": "d", "register": "input", "address": 0, "follows": "nothing"},
        ], "faults": [{"kind": "melt"}]}, "bad.yaml")
    text = str(error.value)
    assert text.startswith("bad.yaml:")
    assert "points[0].type: unknown type 'flaot32'" in text
    assert "faults[0].kind" in text
    with pytest.raises(ProfileError, match="c overlaps b at holding 1"):
        parse_profile({"name": "x", "points": [{"name": "b", "address": 0, "type": "float32"},
                                               {"name": "c", "address": 1}]})


def test_registers_hold_the_values_as_the_profile_encodes_them() -> None:
    device = SimulatedModbusDevice(load_profile("dam_level_logger"), ManualClock(3600))
    level = device.value("level_masl")
    registers = device.read("holding", 0, 6)
    assert struct.unpack(">f", struct.pack(">HH", *registers[0:2]))[0] == pytest.approx(level, abs=1e-4)
    assert registers[2] == round(device.value("fill_pct") / 0.1)
    assert struct.unpack(">f", struct.pack(">HH", registers[5], registers[4]))[0] == 45.0  # CDAB
    assert device.read("input", 0, 1) == [round(device.value("logger_temp_c") / 0.1)]


def test_bits_of_a_status_register_combine() -> None:
    profile = DeviceProfile(name="status", points=[
        {"name": "a", "address": 3, "type": "bit", "bit": 0, "signal": {"kind": "constant", "value": 1}},
        {"name": "b", "address": 3, "type": "bit", "bit": 4, "signal": {"kind": "constant", "value": 1}},
        {"name": "c", "address": 3, "type": "bit", "bit": 5}])
    assert SimulatedModbusDevice(profile, ManualClock()).read("holding", 2, 2) == [0, 0b10001]


def test_faults_stuck_spike_no_reading_exception_and_undefined_registers() -> None:
    clock = ManualClock(1000)
    device = SimulatedModbusDevice(load_profile("radar_river_gauge"), clock)
    device.inject({"kind": "stuck", "points": ["level_mm"]})
    frozen = device.value("level_mm")
    clock.set(4000)
    assert device.value("level_mm") == frozen != device.value("distance_mm", 1000)
    device.clear_faults()
    assert device.value("level_mm") != frozen
    device.inject({"kind": "spike", "magnitude": 70000, "points": ["level_mm"], "duration_s": 10})
    assert device.read("holding", 0, 1) == [65535]  # saturates as the device's UINT16 would
    clock.advance(10)
    assert device.read("holding", 0, 1) == [round(device.value("level_mm"))]
    device.inject({"kind": "no_reading", "points": ["level_m"]})
    assert math.isnan(struct.unpack(">f", struct.pack(">HH", *device.read("holding", 2, 2)))[0])
    device.inject({"kind": "exception", "code": 4, "points": ["temperature_c"]})
    with pytest.raises(SimulatedModbusError) as refused:
        device.read("input", 0, 1)
    assert refused.value.code == 4
    assert device.read("holding", 0, 1)  # other tables answer
    strict = SimulatedModbusDevice(load_profile("radar_river_gauge").model_copy(
        update={"undefined_registers": "exception"}), clock)
    with pytest.raises(SimulatedModbusError):
        strict.read("holding", 5, 3)  # 6..9 lie between points
    assert len(strict.read("holding", 2, 4)) == 4  # 2..5 are all points


def test_faults_from_the_profile_follow_simulated_time() -> None:
    clock = ManualClock(0)
    device = SimulatedModbusDevice(load_profile("pressure_transmitter"), clock)
    assert device.active_faults() and device.answer_plan() == (0.0, False, False)
    clock.set(5)
    assert device.active_faults() == []


def test_writes_and_the_status_that_follows_them() -> None:
    clock = ManualClock(0)
    siren = SimulatedModbusDevice(load_profile("siren_controller"), clock)
    siren.write("coil", 0, [1])
    assert siren.read("coil", 0, 2) == [1, 0]
    assert siren.read("discrete_input", 0, 1) == [0]
    clock.advance(1.0)
    assert siren.read("discrete_input", 0, 2) == [1, 0]
    with pytest.raises(SimulatedModbusError):
        siren.write("input", 0, [1])
    with pytest.raises(SimulatedModbusError):
        siren.write("holding", 1, [1])  # nothing writable there


def test_a_server_answers_over_tcp_and_drops_connections_on_request() -> None:
    async def body() -> None:
        device = SimulatedModbusDevice(load_profile("rain_tipping_bucket"), ManualClock(0))
        server = ModbusSimulatorServer([device])
        port = await server.start()
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0, reconnect_delay=0)
        await client.connect()
        try:
            answer = await client.read_input_registers(0, count=2, device_id=2)
            assert struct.unpack(">I", struct.pack(">HH", *answer.registers))[0] == 6023
            refused = await client.read_input_registers(100, count=1, device_id=2)
            assert refused.isError() and refused.exception_code == 2  # past the end of the map
            assert server.connections == 1
            server.drop_connections()
            await asyncio.sleep(0)  # let the transport report the close
        finally:
            client.close()
            await server.stop()
        assert not server.running

    asyncio.run(asyncio.wait_for(body(), 30))


def test_devices_for_the_modbus_sensors_of_the_reference_site() -> None:
    import yaml

    site = yaml.safe_load((ROOT / "examples" / "kazanlak" / "site.yaml").read_text())
    endpoints = {(e.host, e.port): e for e in profiles_from_site(site)}
    assert set(endpoints) == {("127.0.0.1", 1502), ("127.0.0.1", 1503), ("127.0.0.1", 1504)}
    gateway = endpoints[("127.0.0.1", 1502)]
    assert gateway.sensors == ("koprinka-dam-logger", "rain-koprinka-dam")
    assert [profile.unit_id for profile in gateway.devices] == [1, 2]
    rain = SimulatedModbusDevice(gateway.devices[1], ManualClock(3600))
    assert len(gateway.devices[1].points) == 1  # tips and total_mm read one register
    assert struct.unpack(">I", struct.pack(">HH", *rain.read("input", 0, 2)))[0] == 10


def test_ews_sim_modbus_serves_until_interrupted(tmp_path: Path) -> None:
    profile = tmp_path / "gauge.yaml"
    profile.write_text((PROFILES_FOLDER / "radar_river_gauge.yaml").read_text())
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "sim", "modbus", str(profile), "rain_tipping_bucket"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        ports = [int(m.group(1)) for line in lines if (m := re.search(r"127\.0\.0\.1:(\d+) unit", line))]
        assert len(ports) == 2 and "serving until Ctrl-C" in lines[2], lines

        async def read() -> list[int]:
            client = AsyncModbusTcpClient("127.0.0.1", port=ports[1], timeout=2, retries=0, reconnect_delay=0)
            await client.connect()
            try:
                return (await client.read_input_registers(0, count=2, device_id=2)).registers
            finally:
                client.close()

        assert len(asyncio.run(read())) == 2
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ews_sim_modbus_refuses_a_bad_profile(tmp_path: Path) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text("name: x\npoints: [{name: a, address: 0, type: flaot32}]\n")
    done = subprocess.run([sys.executable, "-m", "hub.cli", "sim", "modbus", str(profile)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "points[0].type: unknown type 'flaot32'" in done.stderr
