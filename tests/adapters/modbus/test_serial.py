"""Serial RTU through a pseudo-terminal pair: the simulator's pymodbus serial server on one end,
the poller's serial client (pyserial) on the other, the two ptys joined by a small byte pump,
as a USB RS-485 adapter and its line would join them."""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator

import pytest

from adapters.modbus.poller import ModbusPoller
from firmware_sim.modbus_devices import ModbusSimulatorServer, SimulatedModbusDevice, load_profile
from firmware_sim.signals import ManualClock
from tests.adapters.modbus.support import RecordingSink, river_spec, run, source


class PtyLine:
    """Two pseudo-terminals whose master sides are joined: bytes written to one tty come out of the other."""

    def __init__(self) -> None:
        self._masters: list[int] = []
        self._slaves: list[int] = []
        self.names: list[str] = []
        for _ in range(2):
            master, slave = os.openpty()
            self._masters.append(master)
            self._slaves.append(slave)  # kept open so that the master never sees a hang-up
            self.names.append(os.ttyname(slave))
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="pty-line", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        first, second = self._masters
        while True:
            ready, _, _ = select.select([first, second, self._stop_read], [], [])
            if self._stop_read in ready:
                return
            for source_fd in ready:
                try:
                    data = os.read(source_fd, 4096)
                except OSError:
                    continue
                os.write(second if source_fd == first else first, data)

    def close(self) -> None:
        os.write(self._stop_write, b"x")
        self._thread.join(5)
        for fd in (*self._masters, *self._slaves, self._stop_read, self._stop_write):
            os.close(fd)


@pytest.fixture
def line() -> Iterator[PtyLine]:
    try:
        pair = PtyLine()
    except OSError as error:  # no pseudo-terminals in this sandbox
        pytest.skip(f"no pseudo-terminals: {error}")
    yield pair
    pair.close()


def test_serial_rtu_through_a_pseudo_terminal_pair(line: PtyLine) -> None:
    async def body() -> None:
        device = SimulatedModbusDevice(load_profile("radar_river_gauge"), ManualClock(600))
        device_on_line = SimulatedModbusDevice(
            load_profile("radar_river_gauge").model_copy(update={"unit_id": 7}), ManualClock(600))
        server = ModbusSimulatorServer([device, device_on_line], serial_device=line.names[0], baud_rate=19200,
                                       parity="N")
        await server.start()
        sink = RecordingSink()
        settings = {"transport": "serial", "host": None,
                    "serial": {"device": line.names[1], "baud_rate": 19200, "parity": "N"}, "timeout_s": 1.0}
        registers = [{"field": "level_cm", "address": 0, "scale": 0.1},
                     {"field": "temperature_c", "register": "input", "address": 0, "type": "int16", "scale": 0.1}]
        sources = {"radar": source(502, registers, **settings),
                   "radar-7": source(502, registers, unit_id=7, **settings)}
        poller = ModbusPoller({"radar": river_spec("radar"), "radar-7": river_spec("radar-7")}, sources, sink)
        await poller.start(schedule=False)
        try:
            first = await poller.poll_once("radar")
            second = await poller.poll_once("radar-7")
        finally:
            await poller.stop()
            await server.stop()
        assert first.answered and second.answered, (first.detail, second.detail)
        assert first.values["level_cm"] == pytest.approx(round(device.value("level_mm", 600)) * 0.1)
        assert second.values == first.values
        assert device_on_line.requests == 2  # the second unit on the same line answered its own reads

    run(body)
