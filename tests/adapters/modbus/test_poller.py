"""The poller against simulated devices over real TCP on free ports: every data type and byte
order end to end, a device dying and coming back, one device timing out while five others keep
their interval, an exception on one point only, 'no reading' values, shared connections, RTU
over TCP, the workarounds, and writes with read-back."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import struct
from typing import Any

import pytest

from adapters.modbus.config import ModbusSourceConfig, ModbusWriteTarget
from adapters.modbus.poller import ModbusPoller, ModbusWriteError
from firmware_sim.modbus_devices import DeviceProfile, ModbusSimulatorServer, SimulatedModbusDevice, load_profile
from firmware_sim.signals import ManualClock
from hub.logutil import AvailabilityLog
from hub.types import RejectReason
from tests.adapters.modbus.support import RecordingSink, eventually, river_spec, run, source

ORDERS = ("ABCD", "DCBA", "BADC", "CDAB")
#: A value per type, chosen so that every byte differs (a swapped pair cannot go unnoticed).
VALUES = {
    "int16": -12345, "uint16": 54321, "int32": -1234567890, "uint32": 3456789012,
    "int64": -1234567890123456, "uint64": 12345678901234567, "float16": -12.5,
    "float32": 1234.5678, "float64": -98765.4321012345,
}
STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q",
          "float16": "e", "float32": "f", "float64": "d"}
WIDE = (-1e20, 1e20)


def every_type_and_order() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, float]]:
    """Profile points, the hub's point map for them, and the value each field must come out as."""
    profile_points: list[dict[str, Any]] = []
    registers: list[dict[str, Any]] = []
    expected: dict[str, float] = {}
    address = 0
    for (type_name, value), order in itertools.product(VALUES.items(), ORDERS):
        name = f"{type_name}_{order.lower()}"
        common = {"register": "holding", "address": address, "type": type_name, "byte_order": order}
        constant = {"kind": "constant", "value": value}
        profile_points.append({**common, "name": name.replace("_", "-"), "signal": constant})
        registers.append({**common, "field": name})
        code = STRUCT[type_name]
        expected[name] = float(struct.unpack(">" + code, struct.pack(">" + code, value))[0])
        address += struct.calcsize(code) // 2
    extra = [
        ("uint8h", "holding", {"type": "uint8h"}, 200.0), ("int8l", "holding", {"type": "int8l"}, -100.0),
        ("bit_5", "holding", {"type": "bit", "bit": 5}, 1.0),
        ("text", "holding", {"type": "string", "length": 4}, 123.25),
        ("coil", "coil", {}, 1.0), ("discrete", "discrete_input", {}, 1.0),
        ("input_int32", "input", {"type": "int32", "byte_order": "CDAB"}, -77777.0),
        ("scaled", "input", {"type": "uint16", "scale": 0.1, "offset": -50}, 1234.5),
    ]
    for name, table, settings, value in extra:
        address += 1 if table == "holding" else 0
        start = address if table == "holding" else (10 if table == "input" and name == "scaled" else 0)
        common = {"register": table, "address": start, **settings}
        constant = {"kind": "constant", "value": value}
        profile_points.append({**common, "name": name.replace("_", "-"), "signal": constant})
        registers.append({**common, "field": name})
        expected[name] = value
        if settings.get("type") == "string":
            address += 4
    return profile_points, registers, expected


def test_every_type_and_byte_order_decoded_right_end_to_end() -> None:
    profile_points, registers, expected = every_type_and_order()

    async def body() -> None:
        device = SimulatedModbusDevice(DeviceProfile(name="all-types", points=profile_points), ManualClock())
        server = ModbusSimulatorServer([device])
        port = await server.start()
        sink = RecordingSink()
        spec = river_spec(**{name: WIDE for name in expected})
        poller = ModbusPoller({"gauge": spec}, {"gauge": source(port, registers)}, sink)
        await poller.start(schedule=False)
        try:
            result = await poller.poll_once("gauge")
        finally:
            await poller.stop()
            await server.stop()
        assert result.answered and not sink.rejections
        assert set(result.values) == set(expected)
        for name, value in expected.items():
            assert result.values[name] == pytest.approx(value, rel=1e-12), name
        (reading,) = sink.readings
        assert (reading.sensor, reading.kind, reading.area) == ("gauge", "river", "centre")
        # Three tables, the holding registers in one read or two: the planner joined them.
        assert poller.counts["reads"] <= 5

    run(body)


def test_a_device_dying_and_coming_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hub.availability")
    events: list[tuple[str, bool, str]] = []

    async def body() -> None:
        clock = ManualClock(600.0)
        device = SimulatedModbusDevice(load_profile("radar_river_gauge"), clock)
        server = ModbusSimulatorServer([device])
        port = await server.start()
        sink = RecordingSink()
        log = AvailabilityLog()

        def on_availability(sensor: str, available: bool, detail: str) -> None:
            events.append((sensor, available, detail))
            log(sensor, available, detail)

        poller = ModbusPoller(
            {"radar": river_spec("radar", interval_s=0.1)},
            {"radar": source(port, [{"field": "level_cm", "address": 0, "scale": 0.1}])},
            sink, on_availability=on_availability,
        )
        await poller.start()
        try:
            await eventually(lambda: len(sink.readings) >= 2, what="first readings")
            await server.stop()
            await eventually(lambda: poller.counts["polls"] >= len(sink.readings) + 5, what="failed polls")
            assert poller.availability() == {"radar": False}
            readings_while_down = len(sink.readings)
            await server.start()
            await eventually(lambda: len(sink.readings) >= readings_while_down + 2, what="readings after restart")
        finally:
            await poller.stop()
            await server.stop()
        assert poller.availability() == {"radar": True}
        assert [(sensor, available) for sensor, available, _ in events] == [("radar", False), ("radar", True)]
        assert "cannot connect" in events[0][2] or "connection lost" in events[0][2] or "no answer" in events[0][2]
        # Tried again and again while down, reported once: no log line per retry.
        assert poller.counts["timeouts"] >= 3
        assert [r.levelname for r in caplog.records if r.name == "hub.availability"] == ["ERROR", "INFO"]
        assert (log.outages, log.recoveries, log.down) == (1, 1, set())
        assert sink.readings[-1].values["level_cm"] == pytest.approx(device.value("level_mm") * 0.1, abs=0.2)

    run(body)


def test_one_device_timing_out_while_five_others_keep_their_interval() -> None:
    interval_s = 0.2

    async def body() -> None:
        servers = [ModbusSimulatorServer([SimulatedModbusDevice(load_profile("radar_river_gauge"), ManualClock(60))])
                   for _ in range(6)]
        ports = [await server.start() for server in servers]
        # The first device answers after 3 s, far past its 0.5 s timeout, with a retry too.
        servers[0].devices[1].inject({"kind": "slow", "delay_s": 3.0})
        sink = RecordingSink()
        names = [f"gauge-{number}" for number in range(6)]
        specs = {name: river_spec(name, interval_s=interval_s) for name in names}
        sources = {name: source(port, [{"field": "level_cm", "address": 0, "scale": 0.1}], retries=1,
                                backoff={"initial_s": 0.05, "max_s": 0.1})
                   for name, port in zip(names, ports, strict=True)}
        poller = ModbusPoller(specs, sources, sink)
        await poller.start()
        try:
            await eventually(lambda: all(len(sink.of(name)) >= 12 for name in names[1:]), what="12 polls each")
        finally:
            await poller.stop()
            for server in servers:
                await server.stop()
        assert sink.of("gauge-0") == []
        assert poller.availability()["gauge-0"] is False
        for name in names[1:]:
            stamps = [reading.ts_ms for reading in sink.of(name)]
            gaps_s = [(later - earlier) / 1000 for earlier, later in zip(stamps, stamps[1:], strict=False)]
            # Every healthy device kept its interval; a gap of a second or more would mean it
            # waited for the dead one.
            assert max(gaps_s) < 3 * interval_s, (name, gaps_s)
            assert sum(gaps_s) / len(gaps_s) == pytest.approx(interval_s, rel=0.5)

    run(body)


def test_an_exception_for_one_point_marks_that_point_only() -> None:
    async def body() -> None:
        device = SimulatedModbusDevice(load_profile("dam_level_logger"), ManualClock(100))
        device.inject({"kind": "exception", "code": 2, "points": ["outflow_m3_s"]})
        server = ModbusSimulatorServer([device])
        port = await server.start()
        sink = RecordingSink()
        spec = river_spec("dam")
        spec = type(spec)("dam", "dam", "koprinka", "test",
                          {"level_cm": (0, 20000), "fill_pct": (0, 120), "outflow_m3_s": (0, 5000)}, {}, 60)
        registers = [
            {"field": "level_cm", "address": 0, "type": "float32", "scale": 100, "offset": -34800},
            {"field": "fill_pct", "address": 2, "type": "uint16", "scale": 0.1},
            {"field": "outflow_m3_s", "address": 4, "type": "float32", "byte_order": "CDAB"},
        ]
        availability: list[bool] = []
        poller = ModbusPoller({"dam": spec}, {"dam": source(port, registers)}, sink,
                              on_availability=lambda _s, up, _d: availability.append(up))
        await poller.start(schedule=False)
        try:
            first = await poller.poll_once("dam")
            reads_before = poller.counts["reads"]
            second = await poller.poll_once("dam")
            reads_second = poller.counts["reads"] - reads_before
            device.clear_faults()
            third = await poller.poll_once("dam")
        finally:
            await poller.stop()
            await server.stop()
        for result in (first, second):
            assert set(result.values) == {"level_cm", "fill_pct"}
            assert result.point_errors == {"outflow_m3_s": "Modbus exception 2 (illegal data address)"}
        assert first.values["level_cm"] == pytest.approx(device.value("level_masl", 100) * 100 - 34800, abs=0.01)
        assert availability == []  # the device answered all along
        exceptions = [r for r in sink.rejections if r.reason is RejectReason.DEVICE_EXCEPTION]
        assert len(exceptions) == 2 and all(r.fields == ("outflow_m3_s",) for r in exceptions)
        assert reads_second == 2  # the joined read was split for good: two good points read alone
        assert set(third.values) == {"level_cm", "fill_pct", "outflow_m3_s"}

    run(body)


def test_no_reading_values_are_counted_and_range_faults_rejected() -> None:
    async def body() -> None:
        clock = ManualClock(0.0)
        device = SimulatedModbusDevice(load_profile("pressure_transmitter"), clock)  # NaN while warming up
        server = ModbusSimulatorServer([device])
        port = await server.start()
        sink = RecordingSink()
        registers = [{"field": "level_cm", "register": "input", "address": 0, "type": "float32",
                      "byte_order": "CDAB", "scale": 100},
                     {"field": "temperature_c", "register": "input", "address": 2, "type": "float32",
                      "byte_order": "CDAB"}]
        poller = ModbusPoller({"well": river_spec("well")}, {"well": source(port, registers)}, sink)
        await poller.start(schedule=False)
        try:
            warming = await poller.poll_once("well")
            clock.set(3600)
            device.inject({"kind": "spike", "magnitude": 100.0, "points": ["temperature_c"]})
            spiked = await poller.poll_once("well")
        finally:
            await poller.stop()
            await server.stop()
        assert warming.answered and warming.values == {} and set(warming.no_reading) == {"level_cm", "temperature_c"}
        assert poller.counts["no_reading"] == 2
        assert spiked.values["level_cm"] == pytest.approx(device.value("level_m", 3600) * 100, rel=1e-6)
        (rejection,) = sink.rejections
        assert rejection.reason is RejectReason.OUT_OF_RANGE and rejection.fields == ("temperature_c",)
        assert rejection.topic == f"tcp://127.0.0.1:{port}/unit/1"
        assert rejection.payload.startswith(b"input 2 float32 CDAB: 0x")

    run(body)


def test_devices_behind_one_gateway_share_one_connection_and_rtu_framing_works() -> None:
    async def body() -> None:
        for framer, transport in (("socket", "tcp"), ("rtu", "rtu_over_tcp")):
            dam = SimulatedModbusDevice(load_profile("dam_level_logger"), ManualClock(10))
            rain = SimulatedModbusDevice(load_profile("rain_tipping_bucket"), ManualClock(10))
            server = ModbusSimulatorServer([dam, rain], framer=framer)  # type: ignore[arg-type]
            port = await server.start()
            sink = RecordingSink()
            dam_spec = type(river_spec())("dam", "dam", "koprinka", "test", {"fill_pct": (0, 120)}, {}, 60)
            rain_spec = type(river_spec())("rain", "rain", "koprinka", "test", {"tips": (0, 1e9), "total_mm": (0, 1e7)},
                                           {}, 60)
            sources = {
                "dam": source(port, [{"field": "fill_pct", "address": 2, "scale": 0.1}], transport=transport),
                "rain": source(port, [{"field": "tips", "register": "input", "address": 0, "type": "uint32"},
                                      {"field": "total_mm", "register": "input", "address": 0, "type": "uint32",
                                       "scale": 0.2}], transport=transport, unit_id=2),
            }
            poller = ModbusPoller({"dam": dam_spec, "rain": rain_spec}, sources, sink)
            await poller.start(schedule=False)
            try:
                dam_result = await poller.poll_once("dam")
                rain_result = await poller.poll_once("rain")
                connections = server.connections
            finally:
                await poller.stop()
                await server.stop()
            assert connections == 1, framer
            assert dam_result.values["fill_pct"] == pytest.approx(63.1, abs=0.05)
            assert rain_result.values["tips"] == 6023  # 1204.6 mm / 0.2 mm per tip
            assert rain_result.values["total_mm"] == pytest.approx(1204.6)

    run(body)


def test_workarounds_one_request_per_point_and_close_after_poll() -> None:
    async def body() -> None:
        device = SimulatedModbusDevice(load_profile("radar_river_gauge"), ManualClock(10))
        server = ModbusSimulatorServer([device])
        port = await server.start()
        sink = RecordingSink()
        registers = [{"field": "level_cm", "address": 0, "scale": 0.1},
                     {"field": "flow_m3_s", "address": 1},
                     {"field": "temperature_c", "register": "input", "address": 0, "type": "int16", "scale": 0.1}]
        settings = {"workarounds": {"one_request_per_point": True, "close_after_poll": True,
                                    "pause_between_requests_s": 0.01}}
        poller = ModbusPoller({"radar": river_spec("radar")}, {"radar": source(port, registers, **settings)}, sink)
        await poller.start(schedule=False)
        try:
            result = await poller.poll_once("radar")
            await eventually(lambda: server.connections == 0, what="the connection closed after the poll")
        finally:
            await poller.stop()
            await server.stop()
        assert len(result.values) == 3 and poller.counts["reads"] == 3 and device.requests == 3

    run(body)


def test_dropped_connections_and_no_answer_make_the_device_unavailable_until_it_answers() -> None:
    async def body() -> None:
        device = SimulatedModbusDevice(load_profile("radar_river_gauge"), ManualClock(10))
        server = ModbusSimulatorServer([device])
        port = await server.start()
        sink = RecordingSink()
        events: list[bool] = []
        poller = ModbusPoller({"radar": river_spec("radar")},
                              {"radar": source(port, [{"field": "level_cm", "address": 0, "scale": 0.1}])},
                              sink, on_availability=lambda _s, up, _d: events.append(up))
        await poller.start(schedule=False)
        try:
            outcomes = []
            for fault in ({"kind": "drop"}, {"kind": "no_answer"}):
                device.inject(fault)
                outcomes.append(await poller.poll_once("radar"))
                device.clear_faults()
                outcomes.append(await poller.poll_once("radar"))
        finally:
            await poller.stop()
            await server.stop()
        assert [outcome.answered for outcome in outcomes] == [False, True, False, True]
        assert events == [False, True, False, True]

    run(body)


def test_writes_are_read_back_and_refusals_are_typed_errors() -> None:
    async def body() -> None:
        clock = ManualClock(0.0)
        siren = SimulatedModbusDevice(load_profile("siren_controller"), clock)
        server = ModbusSimulatorServer([siren])
        port = await server.start()
        poller = ModbusPoller({}, {}, RecordingSink())
        await poller.start()

        def target(**settings: Any) -> ModbusWriteTarget:
            return ModbusWriteTarget.model_validate({"host": "127.0.0.1", "port": port, "timeout_s": 0.5,
                                                     "retries": 0, **settings})

        try:
            on = await poller.write(target(register="coil", address=1), 1)
            pattern = await poller.write(target(register="holding", address=0), 2)
            with pytest.raises(ModbusWriteError) as refused:
                await poller.write(target(register="holding", address=5), 1)
            with pytest.raises(ModbusWriteError) as too_big:
                await poller.write(target(register="holding", address=0), 70000)
            siren.inject({"kind": "no_answer"})
            with pytest.raises(ModbusWriteError) as silent:
                await poller.write(target(register="coil", address=0), 1)
        finally:
            await poller.stop()
            await server.stop()
        assert on.read_back == 1.0 and pattern.read_back == 2.0
        assert siren.value("siren_2") == 1.0 and siren.value("pattern") == 2.0
        assert siren.value("siren_2_running", 0.5) == 0.0 and siren.value("siren_2_running", 1.0) == 1.0
        assert not refused.value.transient and "exception 2" in str(refused.value)
        assert not too_big.value.transient
        assert silent.value.transient
        assert poller.counts["writes"] == 2

    run(body)


def test_float_writes_in_word_swapped_order_round_trip() -> None:
    async def body() -> None:
        profile = DeviceProfile(name="setpoint", points=[
            {"name": "limit", "register": "holding", "address": 10, "type": "float32", "byte_order": "CDAB",
             "writable": True}])
        device = SimulatedModbusDevice(profile, ManualClock())
        server = ModbusSimulatorServer([device])
        port = await server.start()
        poller = ModbusPoller({}, {}, RecordingSink())
        await poller.start()
        try:
            result = await poller.write(ModbusWriteTarget.model_validate(
                {"host": "127.0.0.1", "port": port, "register": "holding", "address": 10, "type": "float32",
                 "byte_order": "CDAB"}), 312.5)
        finally:
            await poller.stop()
            await server.stop()
        assert result.read_back == 312.5 and device.value("limit") == 312.5
        assert not math.isnan(result.elapsed_s)

    run(body)


def test_source_interval_defaults_to_the_sensors() -> None:
    config = ModbusSourceConfig.model_validate({"host": "x", "registers": [{"field": "level_cm", "address": 0}]})
    assert config.interval_s is None  # the poller then uses the sensor's interval_s


def test_stopping_the_poller_releases_callers_waiting_for_a_slow_device() -> None:
    async def body() -> None:
        device = SimulatedModbusDevice(load_profile("radar_river_gauge"), ManualClock(10))
        device.inject({"kind": "slow", "delay_s": 5.0})
        server = ModbusSimulatorServer([device])
        port = await server.start()
        poller = ModbusPoller({"radar": river_spec("radar")},
                              {"radar": source(port, [{"field": "level_cm", "address": 0}], timeout_s=10)},
                              RecordingSink())
        await poller.start(schedule=False)
        waiting = [asyncio.ensure_future(poller.poll_once("radar")) for _ in range(2)]
        await eventually(lambda: device.unanswered == 0 and server.connections == 1, what="the request sent")
        await poller.stop()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        await server.stop()
        assert all(isinstance(result, asyncio.CancelledError) for result in results)

    run(body, timeout_s=4)
