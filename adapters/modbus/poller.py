"""Polling Modbus devices into readings, and writing coils and holding registers.

Devices (sensors with a `source.modbus`) are grouped by endpoint (`tcp://host:port`,
`serial:///dev/ttyUSB0`): each endpoint has one connection and one worker task that runs the
requests to it one after another, as a Modbus line or gateway needs; different endpoints run
concurrently. APScheduler fires every device at its own interval and only puts a poll in its
endpoint's queue, so a slow or dead device holds up nothing but the devices behind the same
endpoint, and those only for its timeout.

A device that does not answer (after its retries) is reported unavailable once, through the
`on_availability` hook, and then tried again no sooner than its capped backoff allows; the first
answer reports it available again. A Modbus exception for one point (illegal data address) sets
that point aside as a rejection and keeps the others: a joined read refused with an exception is
split into one read per point, for good."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from adapters.modbus.config import BIT_TYPE, ModbusConnection, ModbusSourceConfig, ModbusWriteTarget
from adapters.modbus.decode import DecodeError, NoReading, PointDecoder, encode_value, raw_decoder
from adapters.modbus.plan import ReadRequest, plan_reads, split_request
from hub.pipeline import ReadingSink
from hub.retry import Backoff
from hub.sensors import SensorSpec, check_values, make_reading
from hub.types import RejectReason, Rejection

logger = logging.getLogger(__name__)

#: Names of the exception codes of the Modbus application protocol v1.1b3, §7.
EXCEPTION_NAMES: dict[int, str] = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
#: Exceptions about the request itself: the point is wrong, not the device.
POINT_EXCEPTIONS = frozenset((1, 2, 3))
#: Exceptions that ask to come back later: retried like a timeout.
BUSY_EXCEPTIONS = frozenset((5, 6))
#: A gateway saying the device behind it is gone: the device is unavailable.
ABSENT_EXCEPTIONS = frozenset((10, 11))

_FUNCTIONS = {
    "coil": "read_coils",
    "discrete_input": "read_discrete_inputs",
    "holding": "read_holding_registers",
    "input": "read_input_registers",
}

AvailabilityHook = Callable[[str, bool, str], None]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DeviceNotAnswering(Exception):  # noqa: N818 - a state of the device, reported as such
    """No answer in time, or no connection: transient, tried again after the device's backoff."""


class ModbusExceptionResponse(Exception):  # noqa: N818 - named after the protocol's term
    """The device answered with a Modbus exception code."""

    def __init__(self, code: int):
        self.code = code
        super().__init__(f"Modbus exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})")


class ModbusWriteError(Exception):
    """A write that was not done or not confirmed; `transient` says whether trying later may help."""

    def __init__(self, detail: str, transient: bool):
        super().__init__(detail)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A confirmed write: the value read back after writing and how long it all took."""

    read_back: float
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll of one device gave."""

    sensor: str
    answered: bool
    values: Mapping[str, float] = field(default_factory=dict)
    no_reading: tuple[str, ...] = ()
    point_errors: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""


class _Link:
    """The connection to one endpoint, opened on demand and dropped after a timeout (a late
    answer must never be taken for the answer to the next request)."""

    def __init__(self, settings: ModbusConnection):
        self._settings = settings
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None

    def _new_client(self, timeout_s: float) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        # Our own wait_for bounds every call; pymodbus's timeout is only a backstop, its retries
        # and automatic reconnection are off because Backoff decides when to try again.
        backstop_s = timeout_s * 2 + 1
        settings = self._settings
        if settings.transport == "serial":
            serial = settings.serial
            assert serial is not None
            return AsyncModbusSerialClient(
                serial.device, framer=FramerType.RTU, baudrate=serial.baud_rate, bytesize=serial.data_bits,
                parity=serial.parity, stopbits=serial.stop_bits, timeout=backstop_s, retries=0, reconnect_delay=0,
            )
        assert settings.host is not None
        framer = FramerType.RTU if settings.transport == "rtu_over_tcp" else FramerType.SOCKET
        return AsyncModbusTcpClient(
            settings.host, port=settings.port, framer=framer, timeout=backstop_s, retries=0, reconnect_delay=0
        )

    async def call(self, function: str, timeout_s: float, *args: Any, **kwargs: Any) -> Any:
        """One request; raises DeviceNotAnswering or ModbusExceptionResponse."""
        if self._client is None or not self._client.connected:
            self.close()
            client = self._new_client(timeout_s)
            self._client = client
            try:
                async with asyncio.timeout(timeout_s):
                    connected = await client.connect()
            except (TimeoutError, OSError, ModbusException) as error:
                self.close()
                raise DeviceNotAnswering(f"cannot connect to {self._settings.endpoint}: {error or 'timeout'}") from None
            if not connected:
                self.close()
                raise DeviceNotAnswering(f"cannot connect to {self._settings.endpoint}")
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every request in a task.
            async with asyncio.timeout(timeout_s):
                response = await getattr(self._client, function)(*args, **kwargs)
        except TimeoutError:
            self.close()
            raise DeviceNotAnswering(f"no answer within {timeout_s:g} s") from None
        except (OSError, ModbusException) as error:
            self.close()
            raise DeviceNotAnswering(f"connection lost: {error}") from None
        if response.isError():
            raise ModbusExceptionResponse(int(getattr(response, "exception_code", 0)))
        return response

    def close(self) -> None:
        """Drop the connection (a new one is opened by the next request)."""
        if self._client is not None:
            self._client.close()
            self._client = None


class _Endpoint:
    """One connection and the queue of requests to it, run one after another by one task."""

    def __init__(self, key: str, settings: ModbusConnection):
        self.key = key
        self.settings = settings
        self.link = _Link(settings)
        self.queue: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"modbus {self.key}")

    async def _run(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await job()
            except Exception:  # noqa: BLE001 - a bug in one job must not stop the endpoint
                logger.exception("modbus job at %s failed", self.key)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        self.link.close()


class _Device:
    """One sensor's device: its plan, decoders and availability state."""

    def __init__(self, spec: SensorSpec, source: ModbusSourceConfig, endpoint: _Endpoint, rng: random.Random):
        self.spec = spec
        self.source = source
        self.endpoint = endpoint
        self.points = source.registers
        self.decoders = [PointDecoder(point) for point in source.registers]
        workarounds = source.workarounds
        self.requests: list[ReadRequest] = plan_reads(
            source.registers,
            gap_fill=source.gap_fill_registers,
            max_registers=workarounds.max_registers_per_read,
            one_per_point=workarounds.one_request_per_point,
        )
        self.interval_s = source.interval_s or spec.interval_s
        self.backoff = Backoff(source.backoff, rng)
        self.available: bool | None = None
        self.down_since_s = 0.0
        self.next_attempt_s = 0.0
        self.pending = False
        self.last_stamp_ms = 0
        self.topic = f"{source.endpoint}/unit/{source.unit_id}"
        self.point_of_field = {point.field: index for index, point in enumerate(source.registers)}


class ModbusPoller:
    """Polls the Modbus sensors of a site into the pipeline and writes coils and registers.

    Runs on the hub's event loop: `await start()` there, `await stop()` before the outputs are
    flushed. `clock_ms` stamps readings; `monotonic` spaces the attempts to devices that are down."""

    def __init__(
        self,
        sensors: Mapping[str, SensorSpec],
        sources: Mapping[str, ModbusSourceConfig],
        sink: ReadingSink,
        *,
        on_availability: AvailabilityHook | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ):
        self._sink = sink
        self._on_availability = on_availability
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._sources = dict(sources)
        self._specs = {sensor_id: sensors[sensor_id] for sensor_id in sources}
        self._endpoints: dict[str, _Endpoint] = {}
        self._devices: dict[str, _Device] = {}
        self._scheduler: AsyncIOScheduler | None = None
        # Callers waiting in poll_once/write: told when the poller stops under them.
        self._waiting: set[asyncio.Future[Any]] = set()
        #: Totals since start: polls, reads, timeouts, exceptions, no_reading, overruns, ...
        self.counts: Counter[str] = Counter()

    @property
    def sensor_ids(self) -> list[str]:
        """The sensors this poller reads."""
        return list(self._sources)

    def availability(self) -> dict[str, bool | None]:
        """Per sensor: True answering, False not answering, None not polled yet."""
        return {sensor_id: device.available for sensor_id, device in self._devices.items()}

    def _endpoint(self, settings: ModbusConnection) -> _Endpoint:
        key = settings.endpoint
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = _Endpoint(key, settings)
            self._endpoints[key] = endpoint
            if self._scheduler is not None:
                endpoint.start()
        return endpoint

    async def start(self, *, schedule: bool = True) -> None:
        """Open the endpoints' queues and, with `schedule`, start polling every device at its
        interval, the first poll at once. Without it, polls happen only through `poll_once`."""
        for sensor_id, source in self._sources.items():
            self._devices[sensor_id] = _Device(self._specs[sensor_id], source, self._endpoint(source), self._rng)
        for endpoint in self._endpoints.values():
            endpoint.start()
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        if schedule:
            now = datetime.now(UTC)
            for sensor_id, device in self._devices.items():
                self._scheduler.add_job(
                    self._due, IntervalTrigger(seconds=device.interval_s, timezone=UTC), args=(sensor_id,),
                    id=sensor_id, next_run_time=now, coalesce=True, max_instances=1, misfire_grace_time=None,
                )
        self._scheduler.start()
        logger.info("modbus: polling %d devices at %d endpoints", len(self._devices), len(self._endpoints))

    async def stop(self) -> None:
        """Stop polling and close every connection; polls in progress are abandoned."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        for endpoint in self._endpoints.values():
            await endpoint.stop()
        for future in self._waiting:
            future.cancel()

    async def _due(self, sensor_id: str) -> None:
        device = self._devices[sensor_id]
        if device.pending:
            # The previous poll has not run yet: its endpoint is behind; do not pile up.
            self.counts["overruns"] += 1
            return
        if self._monotonic() < device.next_attempt_s:
            self.counts["skipped_backoff"] += 1
            return
        device.pending = True
        device.endpoint.queue.put_nowait(lambda: self._poll(device))

    async def poll_once(self, sensor_id: str) -> PollResult:
        """Poll one device now (through its endpoint's queue) and return what it gave."""
        device = self._devices[sensor_id]
        return await self._through_queue(device.endpoint, lambda: self._poll(device))

    async def _through_queue(self, endpoint: _Endpoint, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run `work` in the endpoint's turn and return its result (or raise its error)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def job() -> None:
            try:
                result = await work()
            except Exception as error:  # noqa: BLE001 - handed to the caller, who raises it
                if not future.done():
                    future.set_exception(error)
                return
            if not future.done():
                future.set_result(result)

        self._waiting.add(future)
        endpoint.queue.put_nowait(job)
        try:
            return await future
        finally:
            self._waiting.discard(future)

    async def _read(self, device: _Device, request: ReadRequest) -> Sequence[int]:
        """The registers (or bits) of one read, with the device's retries."""
        source = device.source
        attempts = source.retries + 1
        for attempt in range(attempts):
            try:
                response = await device.endpoint.link.call(
                    _FUNCTIONS[request.table], source.timeout_s, request.address, count=request.count,
                    device_id=source.unit_id,
                )
            except DeviceNotAnswering:
                self.counts["timeouts"] += 1
                if attempt + 1 == attempts:
                    raise
                continue
            except ModbusExceptionResponse as error:
                self.counts["exceptions"] += 1
                if error.code in BUSY_EXCEPTIONS and attempt + 1 < attempts:
                    continue
                if error.code in ABSENT_EXCEPTIONS:
                    raise DeviceNotAnswering(str(error)) from None
                raise
            finally:
                if source.workarounds.pause_between_requests_s:
                    await asyncio.sleep(source.workarounds.pause_between_requests_s)
            self.counts["reads"] += 1
            return response.bits[: request.count] if request.table in ("coil", "discrete_input") else response.registers
        raise AssertionError("unreachable")

    async def _poll(self, device: _Device) -> PollResult:
        device.pending = False
        self.counts["polls"] += 1
        data: dict[int, Sequence[int]] = {}
        point_errors: dict[int, ModbusExceptionResponse] = {}
        try:
            for request in list(device.requests):
                try:
                    block = await self._read(device, request)
                except ModbusExceptionResponse as error:
                    if error.code in POINT_EXCEPTIONS and len(request.points) > 1:
                        await self._split_and_read(device, request, data, point_errors)
                    else:
                        point_errors.update({index: error for index in request.points})
                    continue
                self._take(device, request, block, data)
        except DeviceNotAnswering as error:
            self._went_down(device, str(error))
            return PollResult(device.spec.id, answered=False, detail=str(error))
        finally:
            if device.source.workarounds.close_after_poll:
                device.endpoint.link.close()
        self._came_up(device)
        return self._emit(device, data, point_errors)

    async def _split_and_read(
        self, device: _Device, request: ReadRequest, data: dict[int, Sequence[int]],
        point_errors: dict[int, ModbusExceptionResponse],
    ) -> None:
        parts = split_request(request, device.points)
        position = device.requests.index(request)
        device.requests[position:position + 1] = parts
        logger.info(
            "modbus %s: the device refuses the joined read of %s %d-%d; reading its %d points one by one",
            device.spec.id, request.table, request.address, request.end - 1, len(parts),
        )
        for part in parts:
            try:
                self._take(device, part, await self._read(device, part), data)
            except ModbusExceptionResponse as error:
                point_errors[part.points[0]] = error

    @staticmethod
    def _take(device: _Device, request: ReadRequest, block: Sequence[int], data: dict[int, Sequence[int]]) -> None:
        for index in request.points:
            point = device.points[index]
            offset = point.address - request.address
            data[index] = block[offset:offset + point.register_count]

    def _emit(
        self, device: _Device, data: dict[int, Sequence[int]], point_errors: dict[int, ModbusExceptionResponse]
    ) -> PollResult:
        spec = device.spec
        now_ms = self._clock_ms()
        # Unique per sensor: two polls in one millisecond would be one point in InfluxDB.
        ts_ms = max(now_ms, device.last_stamp_ms + 1)
        device.last_stamp_ms = ts_ms
        raw_values: dict[str, float] = {}
        no_reading: list[str] = []
        for index, words in data.items():
            decoder = device.decoders[index]
            try:
                raw_values[decoder.field] = decoder.value(words)
            except NoReading:
                no_reading.append(decoder.field)
            except DecodeError as error:
                self._reject(device, error.reason, f"{decoder.field}: {error.detail}", index, words, now_ms)
        self.counts["no_reading"] += len(no_reading)
        for index, error in point_errors.items():
            point = device.points[index]
            self._reject(
                device, RejectReason.DEVICE_EXCEPTION,
                f"{point.field}: {point.table} {point.address}: {error}", index, (), now_ms,
            )
        accepted, problems = check_values(spec, raw_values)
        for problem in problems:
            index = device.point_of_field[problem.field]
            self._reject(device, problem.reason, problem.detail, index, data[index], now_ms)
        if accepted:
            self._sink.accept(make_reading(spec, ts_ms, accepted, "good"))
        return PollResult(
            spec.id, True, accepted, tuple(no_reading),
            {device.points[index].field: str(error) for index, error in point_errors.items()},
        )

    def _reject(
        self, device: _Device, reason: RejectReason, detail: str, index: int, words: Sequence[int], now_ms: int
    ) -> None:
        point = device.points[index]
        raw = " ".join(f"{int(word):#06x}" for word in words)
        payload = f"{point.table} {point.address} {point.type} {point.byte_order}: {raw}".encode()
        self._sink.reject(Rejection(reason, detail, device.topic, payload, now_ms, device.spec.id, (point.field,)))

    def _went_down(self, device: _Device, detail: str) -> None:
        now_s = self._monotonic()
        device.next_attempt_s = now_s + device.backoff.next_delay_s()
        if device.available is not False:
            device.available = False
            device.down_since_s = now_s
            self.counts["outages"] += 1
            if self._on_availability is not None:
                self._on_availability(device.spec.id, False, f"{device.topic}: {detail}")

    def _came_up(self, device: _Device) -> None:
        device.backoff.reset()
        device.next_attempt_s = 0.0
        if device.available is False and self._on_availability is not None:
            down_s = self._monotonic() - device.down_since_s
            self._on_availability(device.spec.id, True, f"{device.topic}: answering again after {down_s:.0f} s")
        device.available = True

    async def write(self, target: ModbusWriteTarget, value: float) -> WriteResult:
        """Write one coil (value true/false as 1/0) or holding register value, then read it back.

        Goes through the endpoint's queue like the polls, so it never interleaves with a poll of
        the same line. Raises ModbusWriteError when the device refuses, does not answer within
        its retries, or reads back something else."""
        if self._scheduler is None:
            raise RuntimeError("start the poller before writing")
        endpoint = self._endpoint(target)
        return await self._through_queue(endpoint, lambda: self._write(endpoint, target, value))

    async def _write(self, endpoint: _Endpoint, target: ModbusWriteTarget, value: float) -> WriteResult:
        started_s = self._monotonic()
        coil = target.type == BIT_TYPE
        try:
            words = [] if coil else encode_value(target.type, value, target.byte_order)
        except ValueError as error:
            raise ModbusWriteError(f"{target.endpoint} {target.table} {target.address}: {error}", False) from None
        read_back_decoder = raw_decoder(target.type, target.byte_order)
        unit = target.unit_id
        attempts = target.retries + 1
        where = f"{target.endpoint} unit {unit} {target.table} {target.address}"
        for attempt in range(attempts):
            try:
                if coil:
                    await endpoint.link.call(
                        "write_coil", target.timeout_s, target.address, bool(value), device_id=unit
                    )
                    response = await endpoint.link.call(
                        "read_coils", target.timeout_s, target.address, count=1, device_id=unit
                    )
                    read_back = float(read_back_decoder(response.bits[:1]))
                    expected = 1.0 if value else 0.0
                else:
                    if len(words) == 1:
                        await endpoint.link.call("write_register", target.timeout_s, target.address, words[0],
                                                 device_id=unit)
                    else:
                        await endpoint.link.call("write_registers", target.timeout_s, target.address, words,
                                                 device_id=unit)
                    response = await endpoint.link.call(
                        "read_holding_registers", target.timeout_s, target.address, count=len(words), device_id=unit
                    )
                    read_back = float(read_back_decoder(response.registers))
                    expected = float(read_back_decoder(words))
            except DeviceNotAnswering as error:
                if attempt + 1 < attempts:
                    continue
                raise ModbusWriteError(f"{where}: {error}", True) from None
            except ModbusExceptionResponse as error:
                if error.code in BUSY_EXCEPTIONS and attempt + 1 < attempts:
                    continue
                raise ModbusWriteError(f"{where}: {error}", error.code in BUSY_EXCEPTIONS) from None
            if read_back != expected:
                raise ModbusWriteError(f"{where}: wrote {expected:g}, read back {read_back:g}", True)
            self.counts["writes"] += 1
            return WriteResult(read_back, self._monotonic() - started_s)
        raise AssertionError("unreachable")
