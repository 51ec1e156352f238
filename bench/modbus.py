"""Modbus polling from one process, against simulated devices served by `ews sim modbus` in a
process of its own (one pymodbus server per device on its own port), each device a map of ten
UINT16 holding registers read in one request of 10 registers:

* reads per second with 1 device and with 50 devices polled as fast as they answer, through the
  poller (queue per endpoint, decoding, range checks, the sink) against the limit of bare pymodbus
  clients doing the same reads on the same simulators in the same run;
* the time a full poll of 200 devices takes: once all at once (`poll_once` on every device,
  against 200 bare clients reading at once), and as scheduled by APScheduler at a one-second
  interval for several seconds: from each tick to the last reading of that round, with the
  readings per device per second and the overruns (polls skipped because the previous one had
  not run) that show whether the interval held."""

from __future__ import annotations

import asyncio
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pymodbus.client import AsyncModbusTcpClient

from adapters.modbus.config import ModbusSourceConfig
from adapters.modbus.poller import ModbusPoller
from bench import BenchResult, Row
from hub.sensors import SensorSpec
from hub.types import Reading, Rejection

REPOSITORY = Path(__file__).resolve().parent.parent
REGISTERS = 10


@dataclass(frozen=True)
class ModbusSettings:
    """What to measure and how long."""

    seconds: float = 5.0
    many: int = 50
    fleet: int = 200
    scheduled_rounds: int = 10
    full_poll_repeats: int = 5


class _CountingSink:
    """Counts readings and keeps their arrival per round; the pipeline's work is not measured here."""

    def __init__(self) -> None:
        self.readings = 0
        self.rejections = 0
        self.stamps_ms: list[int] = []
        self.keep_stamps = False

    def accept(self, reading: Reading) -> None:
        self.readings += 1
        if self.keep_stamps:
            self.stamps_ms.append(reading.ts_ms)

    def reject(self, rejection: Rejection) -> None:
        self.rejections += 1


class Simulators:
    """`ews sim modbus` serving `count` copies of one profile, each on its own free port."""

    def __init__(self, workdir: Path, count: int):
        profile = {
            "name": "bench-device",
            "description": "ten UINT16 holding registers",
            "points": [{"name": f"r{index}", "register": "holding", "address": index, "type": "uint16",
                        "signal": {"kind": "ramp", "start": 100 * index, "rate_per_s": 1.0, "maximum": 60000}}
                       for index in range(REGISTERS)],
        }
        path = workdir / "bench_device.yaml"
        path.write_text(yaml.safe_dump(profile))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "sim", "modbus", *[str(path)] * count],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPOSITORY,
        )
        self.ports: list[int] = []
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if match := re.search(r"127\.0\.0\.1:(\d+) unit", line):
                self.ports.append(int(match.group(1)))
            if "serving until Ctrl-C" in line:
                break
        if len(self.ports) != count:
            self.stop()
            raise RuntimeError(f"simulators started {len(self.ports)} of {count} devices")

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _poller(ports: list[int], sink: _CountingSink, interval_s: float = 1.0) -> ModbusPoller:
    ranges = {f"r{index}": (0.0, 1e6) for index in range(REGISTERS)}
    specs, sources = {}, {}
    for number, port in enumerate(ports):
        sensor_id = f"bench-{number}"
        specs[sensor_id] = SensorSpec(sensor_id, "river", "bench", "bench", ranges, {}, interval_s)
        sources[sensor_id] = ModbusSourceConfig.model_validate({
            "host": "127.0.0.1", "port": port, "timeout_s": 5.0, "retries": 0,
            "registers": [{"field": f"r{index}", "address": index} for index in range(REGISTERS)],
        })
    return ModbusPoller(specs, sources, sink)


async def _for_seconds(seconds: float, workers: list[Callable[[], Awaitable[Any]]]) -> tuple[int, float]:
    """Run each worker in a loop until `seconds` have passed; (calls done, elapsed seconds)."""
    done = 0
    deadline = time.monotonic() + seconds

    async def loop(worker: Callable[[], Awaitable[Any]]) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await worker()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(loop(worker) for worker in workers))
    return done, time.monotonic() - started


async def _bare_clients(ports: list[int]) -> list[AsyncModbusTcpClient]:
    clients = [AsyncModbusTcpClient("127.0.0.1", port=port, timeout=5, retries=0, reconnect_delay=0) for port in ports]
    for client in clients:
        if not await client.connect():
            raise RuntimeError(f"bare client could not connect to {client}")
    return clients


async def bare_reads_per_s(ports: list[int], seconds: float) -> float:
    """Reads per second of bare pymodbus clients, one per device, each reading as fast as answered."""
    clients = await _bare_clients(ports)
    try:
        workers = [lambda client=client: client.read_holding_registers(0, count=REGISTERS, device_id=1)
                   for client in clients]
        await _for_seconds(0.5, workers)  # connections warm
        done, elapsed = await _for_seconds(seconds, workers)
    finally:
        for client in clients:
            client.close()
    return done / elapsed


async def poller_reads_per_s(ports: list[int], seconds: float) -> tuple[float, int]:
    """Reads per second through the poller; also the rejections (must be 0)."""
    sink = _CountingSink()
    poller = _poller(ports, sink)
    await poller.start(schedule=False)
    try:
        workers = [lambda sensor=sensor: poller.poll_once(sensor) for sensor in poller.sensor_ids]
        await _for_seconds(0.5, workers)
        before = poller.counts["reads"]
        _, elapsed = await _for_seconds(seconds, workers)
        reads = poller.counts["reads"] - before
    finally:
        await poller.stop()
    return reads / elapsed, sink.rejections


async def full_poll_s(ports: list[int], repeats: int) -> tuple[list[float], list[float]]:
    """Seconds for one read of every device at once: through the poller and with bare clients."""
    sink = _CountingSink()
    poller = _poller(ports, sink)
    await poller.start(schedule=False)
    ours = []
    try:
        await asyncio.gather(*(poller.poll_once(sensor) for sensor in poller.sensor_ids))  # connect
        for _ in range(repeats):
            started = time.monotonic()
            results = await asyncio.gather(*(poller.poll_once(sensor) for sensor in poller.sensor_ids))
            ours.append(time.monotonic() - started)
            if not all(result.answered for result in results):
                raise RuntimeError("a device did not answer a full poll")
    finally:
        await poller.stop()
    clients = await _bare_clients(ports)
    bare = []
    try:
        for _ in range(repeats):
            started = time.monotonic()
            await asyncio.gather(*(client.read_holding_registers(0, count=REGISTERS, device_id=1)
                                   for client in clients))
            bare.append(time.monotonic() - started)
    finally:
        for client in clients:
            client.close()
    return ours, bare


async def scheduled_rounds(ports: list[int], rounds: int) -> dict[str, Any]:
    """Poll every device at a one-second interval for `rounds` seconds as the hub does."""
    sink = _CountingSink()
    sink.keep_stamps = True
    poller = _poller(ports, sink, interval_s=1.0)
    # The first tick is at start(); the ticks follow every second from it.
    origin_ms = time.time_ns() / 1e6
    await poller.start()
    # The ticks are at the instant start() read the clock, somewhere in this span: at most this
    # much of every round's figure is setting up the 200 devices, not polling them.
    start_span_ms = time.time_ns() / 1e6 - origin_ms
    await asyncio.sleep(rounds + 0.5)  # a benchmark runs for a fixed time; tests never sleep
    await poller.stop()
    by_round: dict[int, list[float]] = {}
    for stamp in sink.stamps_ms:
        number = int((stamp - origin_ms) // 1000)
        by_round.setdefault(number, []).append(stamp)
    complete = {number: stamps for number, stamps in by_round.items() if len(stamps) == len(ports)}
    durations = [(max(stamps) - (origin_ms + number * 1000)) / 1000 for number, stamps in sorted(complete.items())]
    return {
        "rounds": rounds,
        "start_span_ms": start_span_ms,
        "complete_rounds": len(complete),
        "round_s": durations,
        # Ticks at 0, 1, ..., rounds seconds fall within the run of rounds + 0.5 s.
        "share_read_per_round": sink.readings / len(ports) / (rounds + 1),
        "overruns": poller.counts["overruns"],
        "timeouts": poller.counts["timeouts"],
        "rejections": sink.rejections,
    }


def run(settings: ModbusSettings, workdir: Path) -> BenchResult:
    """Start the simulators, take every measurement, and build the rows."""
    failures: list[str] = []
    details: dict[str, Any] = {"settings": settings.__dict__, "registers_per_read": REGISTERS}
    simulators = Simulators(workdir, settings.fleet)
    try:
        ports = simulators.ports

        async def measure() -> None:
            for label, count in (("1 device", 1), (f"{settings.many} devices", settings.many)):
                print(f"  modbus: reads/s with {label}", file=sys.stderr, flush=True)
                bare = await bare_reads_per_s(ports[:count], settings.seconds)
                ours, rejections = await poller_reads_per_s(ports[:count], settings.seconds)
                details[f"reads_per_s_{count}"] = {"poller": ours, "bare": bare, "rejections": rejections}
                if rejections:
                    failures.append(f"{rejections} readings rejected with {label}")
            print(f"  modbus: full poll of {settings.fleet} devices", file=sys.stderr, flush=True)
            ours_s, bare_s = await full_poll_s(ports, settings.full_poll_repeats)
            details["full_poll_s"] = {"poller": ours_s, "bare": bare_s}
            print(f"  modbus: {settings.fleet} devices at a one-second interval for {settings.scheduled_rounds} s",
                  file=sys.stderr, flush=True)
            details["scheduled"] = await scheduled_rounds(ports, settings.scheduled_rounds)

        asyncio.run(measure())
    finally:
        simulators.stop()
    scheduled = details["scheduled"]
    if scheduled["complete_rounds"] < settings.scheduled_rounds - 1:
        failures.append(f"only {scheduled['complete_rounds']} of {settings.scheduled_rounds} rounds read every device")
    one, many = details["reads_per_s_1"], details[f"reads_per_s_{settings.many}"]
    full = details["full_poll_s"]
    rows = [
        Row("modbus reads/s, 1 device (10 registers a read)", "reads/s", one["poller"], one["bare"]),
        Row(f"modbus reads/s, {settings.many} devices", "reads/s", many["poller"], many["bare"]),
        Row(f"modbus full poll of {settings.fleet} devices at once", "ms",
            statistics.median(full["poller"]) * 1000, statistics.median(full["bare"]) * 1000),
        Row(f"modbus round of {settings.fleet} devices at 1 s, median (tick to last reading)", "ms",
            statistics.median(scheduled["round_s"]) * 1000 if scheduled["round_s"] else float("nan")),
        Row(f"modbus round of {settings.fleet} devices at 1 s, worst", "ms",
            max(scheduled["round_s"]) * 1000 if scheduled["round_s"] else float("nan")),
        Row(f"modbus share of the {settings.fleet} devices read in each round at 1 s", "share",
            scheduled["share_read_per_round"]),
    ]
    notes = [
        f"modbus: simulators in one separate process (pid {simulators.pid}), {settings.fleet} servers; "
        f"the 'limit' is bare pymodbus clients on the same simulators; scheduled run: "
        f"{scheduled['overruns']} overruns, {scheduled['timeouts']} timeouts; the round figures may include up to "
        f"{scheduled['start_span_ms']:.0f} ms of setting up the poller (the exact tick is not visible from outside)"
    ]
    return BenchResult("modbus", rows, details, failures, notes)
