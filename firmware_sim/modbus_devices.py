"""Simulated Modbus devices: river-level radars, pressure transmitters, tipping-bucket rain gauges,
dam level loggers and siren controllers, each described by a YAML profile (register map, signal
and noise per point, faults) and served over Modbus TCP (or RTU framing over TCP, or a serial
line) by pymodbus's server. The register contents are computed at the moment of each request
from the signals at the simulated time, so a test with a hand-set clock knows every value.

Faults make a device misbehave the way field devices do: no answer (the request times out),
Modbus exception codes, a stuck value, spikes, dropped connections, slow answers, and the
device's own "no reading" value (NaN or a sentinel). They come from the profile (in simulated
time from the start) or are injected while running.

Like the rest of `firmware_sim`, this module knows the hub only through the wire: its own
encoder puts values into registers, independently of the hub's decoder."""

from __future__ import annotations

import asyncio
import math
import re
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim.signals import AcceleratedClock, AnySignal, Clock, Constant, Noise, SignalSpec

PROFILES_FOLDER = Path(__file__).resolve().parent / "profiles"

Table = Literal["coil", "discrete_input", "holding", "input"]
TABLES: tuple[str, ...] = ("coil", "discrete_input", "holding", "input")
BIT_TABLES = frozenset(("coil", "discrete_input"))
_FUNCTION_TABLES = {1: "coil", 5: "coil", 15: "coil", 2: "discrete_input", 3: "holding", 6: "holding",
                     16: "holding", 22: "holding", 23: "holding", 4: "input"}
_STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q",
           "float16": "e", "float32": "f", "float64": "d"}
_WORDS = {"int8l": 1, "int8h": 1, "uint8l": 1, "uint8h": 1, "bit": 1, "bool": 1,
          **{name: struct.calcsize(code) // 2 for name, code in _STRUCT.items()}}
_INTEGER_RANGES = {
    "int8l": (-128, 127), "int8h": (-128, 127), "uint8l": (0, 255), "uint8h": (0, 255),
    "int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1), "int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1),
}
DATA_TYPES = (*_STRUCT, "int8l", "int8h", "uint8l", "uint8h", "string", "bit", "bool")
EXCEPTION_CODES = tuple(int(code) for code in ExcCodes)
_NAME = r"^[a-z][a-z0-9_-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PointProfile(_Model):
    """One value in the device's registers: engineering value = raw × scale + offset, the same
    convention as the hub's point map, so a profile's points can be copied into a site config."""

    name: str = Field(pattern=_NAME, description="Name of the point (e.g. level, siren_1).")
    table: Table = Field("holding", alias="register", description="Register table.")
    address: int = Field(ge=0, le=65535, description="Zero-based protocol address.")
    type: str = Field(
        "uint16", description="Data type (as in the hub's point map); bool for coils and discrete inputs."
    )
    length: int | None = Field(None, ge=1, le=125, description="Type string: registers (2 characters each).")
    bit: int | None = Field(None, ge=0, le=15, description="Type bit: which bit of the register.")
    byte_order: Literal["ABCD", "DCBA", "BADC", "CDAB"] = Field("ABCD", description="Byte and word order.")
    scale: float = Field(1.0, description="Engineering value = raw × scale + offset.")
    offset: float = Field(0.0, description="Engineering value = raw × scale + offset.")
    signal: AnySignal = Field(default_factory=Constant, description="Engineering value over simulated time.")
    noise: Noise | None = Field(None, description="Noise added to the signal.")
    writable: bool = Field(False, description="A client may write it (coils and holding registers).")
    follows: str | None = Field(None, description="Name of a written point whose value this one shows (a status).")
    follow_delay_s: float = Field(0.0, ge=0, description="Simulated seconds until a status follows a write.")
    sentinel: float | None = Field(
        None,
        description="Raw value sent while a no_reading fault is on; default NaN for floats, all bits set otherwise.",
    )

    @model_validator(mode="before")
    @classmethod
    def _bits_are_bool(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("register") in BIT_TABLES and "type" not in data:
            return {**data, "type": "bool"}
        return data

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, name: Any) -> Any:
        if isinstance(name, str) and name.lower() in DATA_TYPES:
            return name.lower()
        raise ValueError(f"unknown type {name!r} (expected one of {', '.join(DATA_TYPES)})")

    @model_validator(mode="after")
    def _consistent(self) -> PointProfile:
        if (self.table in BIT_TABLES) != (self.type == "bool"):
            raise ValueError("coils and discrete inputs are bool, registers are not")
        if (self.type == "string") != (self.length is not None):
            raise ValueError("`length` goes with type string, and only with it")
        if (self.type == "bit") != (self.bit is not None):
            raise ValueError("`bit` goes with type bit, and only with it")
        if self.writable and self.table not in ("coil", "holding"):
            raise ValueError("only coils and holding registers can be written")
        if self.address + self.word_count > 65536:
            raise ValueError("the value runs past address 65535")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self

    @property
    def word_count(self) -> int:
        """Registers (or bits) the point takes."""
        return self.length if self.type == "string" else _WORDS[self.type]  # type: ignore[return-value]

    @property
    def spec(self) -> SignalSpec:
        """Signal and noise together."""
        return SignalSpec(signal=self.signal, noise=self.noise)


FaultKind = Literal["no_answer", "exception", "stuck", "spike", "drop", "slow", "no_reading"]


class FaultProfile(_Model):
    """A misbehaviour during a span of simulated time (from start_s, for duration_s or for ever)."""

    kind: FaultKind = Field(
        description="no_answer (requests time out), exception (answers with `code`), stuck (values freeze), "
        "spike (adds `magnitude`), drop (closes connections), slow (answers after `delay_s`), "
        "no_reading (sends NaN or the sentinel)."
    )
    start_s: float = Field(0.0, ge=0, description="Simulated seconds after the start (or after injection).")
    duration_s: float | None = Field(None, gt=0, description="How long; none means until cleared.")
    points: list[str] = Field(
        default_factory=list, description="Points it affects (exception, stuck, spike, no_reading); none means all."
    )
    code: int = Field(2, description="Modbus exception code (2 = illegal data address).")
    magnitude: float = Field(0.0, description="Spike: added to the engineering value.")
    delay_s: float = Field(0.0, ge=0, description="Slow: wall-clock seconds before answering.")

    @field_validator("code")
    @classmethod
    def _valid_code(cls, code: int) -> int:
        if code not in EXCEPTION_CODES:
            raise ValueError(f"exception code {code} is not one of {EXCEPTION_CODES}")
        return code


class DeviceProfile(_Model):
    """A simulated device: its unit id, framing, register map with signals, and faults."""

    name: str = Field(pattern=_NAME, description="Short name, printed with the bound port.")
    description: str = Field("", description="What device this is.")
    unit_id: int = Field(1, ge=0, le=247, description="Modbus unit id it answers to.")
    framer: Literal["socket", "rtu"] = Field("socket", description="Modbus TCP (socket) or RTU frames over TCP (rtu).")
    port: int = Field(0, ge=0, le=65535, description="TCP port on 127.0.0.1; 0 for a free one.")
    time_acceleration: float = Field(1.0, gt=0, description="Simulated seconds per wall-clock second.")
    undefined_registers: Literal["zero", "exception"] = Field(
        "zero", description="Reads of addresses between points give 0, or exception 2 (illegal data address)."
    )
    points: list[PointProfile] = Field(min_length=1, description="The register map.")
    faults: list[FaultProfile] = Field(default_factory=list, description="Faults on a schedule.")

    @model_validator(mode="after")
    def _map_is_consistent(self) -> DeviceProfile:
        names = [point.name for point in self.points]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"point names used twice: {', '.join(duplicates)}")
        for table in TABLES:
            taken: dict[int, str] = {}
            for point in self.points:
                if point.table != table:
                    continue
                for address in range(point.address, point.address + point.word_count):
                    other = taken.get(address)
                    # Several `bit` points may share a status register; nothing else may overlap.
                    if other is not None and not (point.type == "bit" and other.startswith("bit:")):
                        raise ValueError(f"{point.name} overlaps {other.removeprefix('bit:')} at {table} {address}")
                    taken[address] = ("bit:" if point.type == "bit" else "") + point.name
        by_name = {point.name: point for point in self.points}
        for point in self.points:
            if point.follows is not None and point.follows not in by_name:
                raise ValueError(f"{point.name} follows {point.follows!r}, which is not a point")
            if point.follows is not None and not by_name[point.follows].writable:
                raise ValueError(f"{point.name} follows {point.follows!r}, which is not writable")
        for fault in self.faults:
            unknown = [name for name in fault.points if name not in by_name]
            if unknown:
                raise ValueError(f"fault {fault.kind} names unknown points: {', '.join(unknown)}")
        return self


class ProfileError(ValueError):
    """A profile that cannot be used, with every problem as `path: reason`."""


def parse_profile(document: Any, source: str = "<profile>") -> DeviceProfile:
    """Validate a profile given as plain data; raises ProfileError listing every problem."""
    try:
        return DeviceProfile.model_validate(document)
    except ValidationError as error:
        lines = []
        for item in error.errors(include_url=False):
            path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"]
                           if not (isinstance(part, str) and ("[" in part or part.startswith("function"))))
            lines.append(f"  {path.lstrip('.') or '(top)'}: {item['msg'].removeprefix('Value error, ')}")
        raise ProfileError(f"{source}: {len(lines)} error(s) in profile\n" + "\n".join(lines)) from None


def load_profile(path: str | Path) -> DeviceProfile:
    """Read and validate a YAML profile; a bare name means a profile shipped in firmware_sim/profiles."""
    path = Path(path)
    if not path.exists() and path.parent == Path(".") and (PROFILES_FOLDER / f"{path.stem}.yaml").exists():
        path = PROFILES_FOLDER / f"{path.stem}.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ProfileError(f"{path}: cannot read the profile: {error}") from None
    return parse_profile(document, str(path))


# --- registers: the device's own encoding, independent of the hub's decoder -------------------

def _arrange(data: bytes, byte_order: str) -> list[int]:
    """Big-endian value bytes → registers in the device's byte and word order."""
    if byte_order in ("BADC", "DCBA"):
        data = b"".join(data[index:index + 2][::-1] for index in range(0, len(data), 2))
    words = [int.from_bytes(data[index:index + 2], "big") for index in range(0, len(data), 2)]
    return words[::-1] if byte_order in ("CDAB", "DCBA") else words


def _unarrange(words: Sequence[int], byte_order: str) -> bytes:
    ordered = list(words)[::-1] if byte_order in ("CDAB", "DCBA") else list(words)
    pairs = [word.to_bytes(2, "big") for word in ordered]
    if byte_order in ("BADC", "DCBA"):
        pairs = [pair[::-1] for pair in pairs]
    return b"".join(pairs)


def encode_raw(point: PointProfile, raw: float) -> list[int]:
    """The registers (or the one bit, as 0/1) holding `raw` for `point`. Integers are rounded and
    saturate at their type's limits, as a device's analogue input does."""
    kind = point.type
    if kind == "bool":
        return [1 if raw else 0]
    if kind == "bit":
        assert point.bit is not None
        return [(1 << point.bit) if raw else 0]
    if kind == "string":
        assert point.length is not None
        text = ("nan" if math.isnan(raw) else f"{raw:.6g}").encode("ascii")[: point.length * 2]
        data = text.ljust(point.length * 2, b"\x00")
        if point.byte_order in ("BADC", "DCBA"):
            data = b"".join(data[index:index + 2][::-1] for index in range(0, len(data), 2))
        return [int.from_bytes(data[index:index + 2], "big") for index in range(0, len(data), 2)]
    if kind in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[kind]
        number = int(min(high, max(low, round(raw)))) if math.isfinite(raw) else high
        if kind.startswith(("int8", "uint8")):
            byte = number & 0xFF
            return [byte if kind.endswith("l") else byte << 8]
        return _arrange(struct.pack(">" + _STRUCT[kind], number), point.byte_order)
    try:
        data = struct.pack(">" + _STRUCT[kind], raw)
    except OverflowError:  # float16 beyond ±65504
        data = struct.pack(">" + _STRUCT[kind], math.copysign(math.inf, raw))
    return _arrange(data, point.byte_order)


def decode_raw(point: PointProfile, words: Sequence[int]) -> float:
    """The raw value in a point's registers (for values written by a client)."""
    kind = point.type
    if kind == "bool":
        return 1.0 if words[0] else 0.0
    if kind in ("int8l", "uint8l"):
        byte = words[0] & 0xFF
    elif kind in ("int8h", "uint8h"):
        byte = words[0] >> 8
    else:
        return float(struct.unpack(">" + _STRUCT[kind], _unarrange(words, point.byte_order))[0])
    return float(byte - 256 if kind.startswith("int") and byte > 127 else byte)


def no_reading_words(point: PointProfile) -> list[int]:
    """What the device sends when it has no reading: NaN for floats, else the sentinel or all bits set."""
    if point.sentinel is not None:
        return encode_raw(point, point.sentinel)
    if point.type.startswith("float"):
        return encode_raw(point, math.nan)
    return [0xFFFF] * point.word_count if point.type not in ("bool", "bit") else encode_raw(point, 1)


class SimulatedModbusError(Exception):
    """The device answers a request with Modbus exception `code`."""

    def __init__(self, code: int):
        super().__init__(f"exception {code}")
        self.code = code


@dataclass
class _Fault:
    profile: FaultProfile
    origin_s: float
    frozen: dict[str, float] = field(default_factory=dict)

    def active(self, now_s: float) -> bool:
        start = self.origin_s + self.profile.start_s
        duration = self.profile.duration_s
        return start <= now_s and (duration is None or now_s < start + duration)

    def affects(self, name: str) -> bool:
        return not self.profile.points or name in self.profile.points


class SimulatedModbusDevice:
    """One device's registers, computed from its profile at the clock's time, with its faults."""

    def __init__(self, profile: DeviceProfile, clock: Clock | None = None):
        self.profile = profile
        self.clock = clock or AcceleratedClock(profile.time_acceleration)
        self._by_table: dict[str, list[PointProfile]] = {table: [] for table in TABLES}
        for point in profile.points:
            self._by_table[point.table].append(point)
        self._by_name = {point.name: point for point in profile.points}
        self._specs = {point.name: point.spec for point in profile.points}
        self._faults = [_Fault(fault, 0.0) for fault in profile.faults]
        self._writes: dict[str, list[tuple[float, float]]] = {}
        #: Requests answered, refused with an exception, and left unanswered.
        self.requests = 0
        self.exceptions = 0
        self.unanswered = 0

    @property
    def unit_id(self) -> int:
        """The unit id it answers to."""
        return self.profile.unit_id

    def span(self, table: str) -> int:
        """Registers (bits) from address 0 to just past the last point of `table`."""
        return max((point.address + point.word_count for point in self._by_table[table]), default=0)

    # --- faults ---

    def inject(self, fault: FaultProfile | dict[str, Any]) -> FaultProfile:
        """Start a fault now (its start_s counts from now)."""
        fault = fault if isinstance(fault, FaultProfile) else FaultProfile.model_validate(fault)
        unknown = [name for name in fault.points if name not in self._by_name]
        if unknown:
            raise ValueError(f"unknown points: {', '.join(unknown)}")
        self._faults.append(_Fault(fault, self.clock.now_s()))
        return fault

    def clear_faults(self) -> None:
        """End every fault, scheduled or injected."""
        self._faults.clear()

    def active_faults(self, now_s: float | None = None) -> list[FaultProfile]:
        """The faults in force now."""
        now_s = self.clock.now_s() if now_s is None else now_s
        return [fault.profile for fault in self._faults if fault.active(now_s)]

    def answer_plan(self) -> tuple[float, bool, bool]:
        """How the next request is met: (wall seconds to wait, drop the connection, stay silent)."""
        now_s = self.clock.now_s()
        active = [fault.profile for fault in self._faults if fault.active(now_s)]
        delay = max((fault.delay_s for fault in active if fault.kind == "slow"), default=0.0)
        drop = any(fault.kind == "drop" for fault in active)
        silent = drop or any(fault.kind == "no_answer" for fault in active)
        if silent:
            self.unanswered += 1
        return delay, drop, silent

    # --- values ---

    def value(self, name: str, now_s: float | None = None) -> float:
        """The engineering value of a point now, faults included (not no_reading)."""
        now_s = self.clock.now_s() if now_s is None else now_s
        point = self._by_name[name]
        value = self._plain_value(point, now_s)
        for fault in self._faults:
            if not fault.active(now_s) or not fault.affects(name):
                continue
            if fault.profile.kind == "stuck":
                value = fault.frozen.setdefault(name, value)
            elif fault.profile.kind == "spike":
                value += fault.profile.magnitude
        return value

    def _plain_value(self, point: PointProfile, now_s: float) -> float:
        if point.follows is not None:
            target = self._by_name[point.follows]
            history = self._writes.get(target.name, [])
            shown = [value for written_s, value in history if written_s + point.follow_delay_s <= now_s]
            return shown[-1] if shown else self._specs[target.name].at(now_s)
        history = self._writes.get(point.name)
        if history:
            return history[-1][1]
        return self._specs[point.name].at(now_s)

    def _words(self, point: PointProfile, now_s: float) -> list[int]:
        for fault in self._faults:
            if fault.profile.kind == "no_reading" and fault.active(now_s) and fault.affects(point.name):
                return no_reading_words(point)
        raw = (self.value(point.name, now_s) - point.offset) / point.scale
        return encode_raw(point, raw)

    # --- requests ---

    def read(self, table: str, address: int, count: int) -> list[int]:
        """Registers (or bits as 0/1) `address`..`address+count-1` of `table` now; raises
        SimulatedModbusError for exception faults and, if so configured, undefined addresses."""
        now_s = self.clock.now_s()
        end = address + count
        touched = [p for p in self._by_table[table] if p.address < end and address < p.address + p.word_count]
        for fault in self._faults:
            refuses = not fault.profile.points or any(fault.affects(point.name) for point in touched)
            if fault.profile.kind == "exception" and fault.active(now_s) and refuses:
                self.exceptions += 1
                raise SimulatedModbusError(fault.profile.code)
        values = [0] * count
        covered = [False] * count
        for point in touched:
            for index, word in enumerate(self._words(point, now_s)):
                position = point.address + index - address
                if 0 <= position < count:
                    values[position] |= word
                    covered[position] = True
        if self.profile.undefined_registers == "exception" and not all(covered):
            self.exceptions += 1
            raise SimulatedModbusError(2)
        self.requests += 1
        return values

    def write(self, table: str, address: int, values: Sequence[int]) -> None:
        """A client writes `values` from `address`; only whole writable points may be written."""
        if table not in ("coil", "holding"):
            raise SimulatedModbusError(1)
        now_s = self.clock.now_s()
        end = address + len(values)
        touched = [p for p in self._by_table[table] if p.address < end and address < p.address + p.word_count]
        if not touched or any(
            not point.writable or point.address < address or point.address + point.word_count > end for point in touched
        ):
            self.exceptions += 1
            raise SimulatedModbusError(2)
        for point in touched:
            words = [int(word) for word in values[point.address - address:point.address - address + point.word_count]]
            value = decode_raw(point, words) * point.scale + point.offset
            history = self._writes.setdefault(point.name, [])
            history.append((now_s, value))
            del history[:-16]
        self.requests += 1


# --- serving over Modbus TCP with pymodbus's server -------------------------------------------

def _pack_bits(bits: Sequence[int], registers: list[int], first_bit: int) -> None:
    """Put bits into pymodbus's packed bit registers (bit 0 of a register is the first)."""
    for index, bit in enumerate(bits):
        position = first_bit + index
        mask = 1 << (position % 16)
        if bit:
            registers[position // 16] |= mask
        else:
            registers[position // 16] &= ~mask


class ModbusSimulatorServer:
    """A Modbus TCP server on 127.0.0.1 (or a serial line) serving one or more simulated devices,
    each at its unit id, like a gateway with several devices behind it."""

    def __init__(
        self,
        devices: Sequence[SimulatedModbusDevice],
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        framer: Literal["socket", "rtu"] = "socket",
        serial_device: str | None = None,
        baud_rate: int = 19200,
        parity: str = "N",
    ):
        if not devices:
            raise ValueError("a server needs at least one device")
        units = [device.unit_id for device in devices]
        if len(set(units)) != len(units):
            raise ValueError(f"unit ids used twice: {units}")
        self.devices = {device.unit_id: device for device in devices}
        self.host = host
        self._requested_port = port
        self.port = port
        self._framer = FramerType.RTU if framer == "rtu" or serial_device else FramerType.SOCKET
        self._serial_device = serial_device
        self._baud_rate = baud_rate
        self._parity = parity
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    def _sim_device(self, device: SimulatedModbusDevice) -> SimDevice:
        blocks: list[list[SimData]] = []
        for table in TABLES:
            # One block from address 0 to one past the last point; reads beyond it get
            # exception 2 from pymodbus itself, as from a real device's end of map.
            span = max(device.span(table), 1)
            if table in BIT_TABLES:
                blocks.append([SimData(0, count=span, values=False, datatype=DataType.BITS)])
            else:
                blocks.append([SimData(0, count=span, values=0, datatype=DataType.REGISTERS)])

        async def action(
            function_code: int, start_address: int, address: int, count: int,
            registers: list[int], set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            delay_s, drop, silent = device.answer_plan()
            if delay_s:
                await asyncio.sleep(delay_s)
            if drop:
                self.drop_connections()
            if silent:
                # pymodbus leaves a request for an absent device unanswered (ignore_missing_devices).
                raise NoSuchIdException(f"unit {device.unit_id} is silent (fault)")
            table = _FUNCTION_TABLES.get(function_code)
            if table is None:
                return ExcCodes.ILLEGAL_FUNCTION
            try:
                if set_values is not None:
                    device.write(table, address, [int(value) for value in set_values])
                    return None
                values = device.read(table, address, count)
            except SimulatedModbusError as error:
                return ExcCodes(error.code)
            if table in BIT_TABLES:
                _pack_bits(values, registers, address - start_address * 16)
            else:
                registers[address - start_address:address - start_address + count] = values
            return None

        return SimDevice(device.unit_id, simdata=tuple(blocks), action=action)  # type: ignore[arg-type]

    async def start(self) -> int:
        """Bind and serve in the running event loop; returns the TCP port (0 for serial)."""
        sim_devices = [self._sim_device(device) for device in self.devices.values()]
        if self._serial_device is not None:
            self._server = ModbusSerialServer(
                sim_devices, framer=FramerType.RTU, port=self._serial_device, baudrate=self._baud_rate,
                parity=self._parity, ignore_missing_devices=True,
            )
        else:
            self._server = ModbusTcpServer(
                sim_devices, framer=self._framer, address=(self.host, self._requested_port),
                ignore_missing_devices=True,
            )
        await self._server.serve_forever(background=True)
        if self._serial_device is None:
            sockets = getattr(self._server.transport, "sockets", None)
            if not sockets:
                raise OSError(f"could not listen on {self.host}:{self._requested_port}")
            self.port = int(sockets[0].getsockname()[1])
            # A restart after stop() comes back on the same port, as a rebooted device does.
            self._requested_port = self.port
        return self.port

    def drop_connections(self) -> None:
        """Close every client connection (the clients see the connection dropped)."""
        if self._server is not None:
            for connection in list(self._server.active_connections.values()):
                connection.close()

    async def stop(self) -> None:
        """Stop listening and close every connection (a device switched off)."""
        if self._server is not None:
            self.drop_connections()
            await self._server.shutdown()
            self._server = None

    @property
    def running(self) -> bool:
        """True while serving."""
        return self._server is not None

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self._server.active_connections) if self._server is not None else 0


class SimulatorThread:
    """Simulator servers running in a thread of their own with their own event loop, for
    synchronous callers (the demo, the CLI, benchmarks, tests of the whole hub)."""

    def __init__(self, servers: Iterable[ModbusSimulatorServer]):
        self.servers = list(servers)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="modbus-sim", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                for server in self.servers:
                    await server.start()
            finally:
                self._ready.set()
            await self._stop.wait()
            for server in self.servers:
                await server.stop()

        try:
            asyncio.run(main())
        except BaseException as error:  # noqa: BLE001 - handed to the thread that waits in start()
            self._error = error
            self._ready.set()

    def start(self, timeout_s: float = 10.0) -> list[int]:
        """Start every server; returns their ports."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("simulators did not start")
        if self._error is not None:
            raise self._error
        return [server.port for server in self.servers]

    def call(self, function: Any, timeout_s: float = 10.0) -> Any:
        """Run `function()` (a coroutine function) in the simulators' loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(function(), self._loop).result(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every server and the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)


# --- devices for the Modbus sensors of a site config ------------------------------------------

#: A typical engineering value and a swing per field: enough to look alive on a chart.
_FIELD_SIGNALS: dict[str, tuple[float, float]] = {
    "level_cm": (150.0, 30.0),
    "flow_m3_s": (12.0, 3.0),
    "temperature_c": (9.0, 3.0),
    "fill_pct": (62.0, 3.0),
    "outflow_m3_s": (12.0, 2.0),
    "mm": (0.2, 0.2),
    "rate_mm_h": (1.0, 1.0),
}
#: Dam levels count from a gauge zero at the foot of the wall: tens of metres.
_DAM_LEVEL_CM = (3950.0, 40.0)
#: Fields that are running totals of a counter register.
_COUNTER_FIELDS = frozenset(("tips", "total_mm"))


@dataclass(frozen=True)
class SiteModbusEndpoint:
    """One endpoint of a site's Modbus sensors (host, port) and the devices behind it."""

    host: str
    port: int
    framer: Literal["socket", "rtu"]
    devices: tuple[DeviceProfile, ...]
    sensors: tuple[str, ...]


def profiles_from_site(site: dict[str, Any]) -> list[SiteModbusEndpoint]:
    """Simulated devices for the Modbus sensors of a site YAML document (plain data, as loaded by
    PyYAML), grouped by endpoint: each sensor's point map becomes a device at its unit id whose
    values swing slowly around a typical value of the field; a counter register (`tips`,
    `total_mm`) counts up ten counts an hour. Where two fields read the same register, the first
    defines it. Serial sensors are left out (there is no line to serve)."""
    grouped: dict[tuple[str, int], list[tuple[str, DeviceProfile]]] = {}
    for sensor in site.get("sensors", []):
        source = (sensor.get("source") or {}).get("modbus")
        if source is None or source.get("transport", "tcp") == "serial":
            continue
        points: list[PointProfile] = []
        taken: set[tuple[str, int]] = set()
        for number, entry in enumerate(source["registers"]):
            point = _point_for_field(sensor["kind"], sensor["id"], number, entry)
            addresses = {(point.table, point.address + index) for index in range(point.word_count)}
            if addresses & taken and point.type != "bit":
                continue
            taken |= addresses
            points.append(point)
        profile = DeviceProfile(
            name=re.sub(r"[^a-z0-9_-]", "-", sensor["id"].lower())[:63],
            description=f"simulated device of sensor {sensor['id']}",
            unit_id=int(source.get("unit_id", 1)),
            framer="rtu" if source.get("transport") == "rtu_over_tcp" else "socket",
            points=points,
        )
        grouped.setdefault((str(source["host"]), int(source.get("port", 502))), []).append((sensor["id"], profile))
    return [
        SiteModbusEndpoint(host, port, entries[0][1].framer, tuple(p for _, p in entries), tuple(s for s, _ in entries))
        for (host, port), entries in grouped.items()
    ]


def _point_for_field(kind: str, sensor_id: str, number: int, entry: dict[str, Any]) -> PointProfile:
    name = entry["field"]
    data = {key: entry[key] for key in ("register", "address", "type", "length", "bit", "byte_order", "scale", "offset")
            if key in entry}
    data["name"] = f"p{number}-{name.replace('_', '-')}"[:63]
    if entry.get("register") in BIT_TABLES or entry.get("type") == "bit":
        return PointProfile.model_validate(data)
    if name in _COUNTER_FIELDS:
        per_count = float(entry.get("scale", 1.0))
        data["signal"] = {"kind": "counter", "rate_per_h": {"kind": "constant", "value": 10 * per_count},
                          "per_count": per_count, "step_s": 60}
        return PointProfile.model_validate(data)
    typical, swing = _DAM_LEVEL_CM if (kind, name) == ("dam", "level_cm") else _FIELD_SIGNALS.get(name, (1.0, 0.5))
    seed = sum(sensor_id.encode()) + number
    data["signal"] = {"kind": "sine", "mean": typical, "amplitude": swing, "phase_s": seed * 1000.0}
    data["noise"] = {"kind": "noise", "sigma": swing * 0.02, "seed": seed}
    return PointProfile.model_validate(data)


# --- `ews sim modbus` ------------------------------------------------------------------------

def servers_for_profiles(
    profiles: Sequence[DeviceProfile], first_port: int | None = None, acceleration: float | None = None
) -> list[ModbusSimulatorServer]:
    """Servers for profiles: with `first_port`, one per profile on consecutive ports; without,
    profiles that name the same port share one server (a gateway with several unit ids) and
    port 0 gets a free port."""
    groups: dict[tuple[int, str], list[DeviceProfile]] = {}
    for number, profile in enumerate(profiles):
        port = first_port + number if first_port is not None else profile.port
        key = (port, profile.framer) if port else (-number - 1, profile.framer)
        groups.setdefault(key, []).append(profile)
    servers = []
    for (port, framer), members in groups.items():
        devices = [
            SimulatedModbusDevice(profile, AcceleratedClock(acceleration or profile.time_acceleration))
            for profile in members
        ]
        servers.append(ModbusSimulatorServer(devices, port=max(port, 0), framer=framer))  # type: ignore[arg-type]
    return servers


def load_profile_argument(argument: str) -> DeviceProfile:
    """A profile named on the command line: a file or a shipped profile's name, with `@PORT` to
    put it on that port (`dam_level_logger@1502`)."""
    name, separator, port = argument.rpartition("@")
    if not separator or not port.isdigit():
        return load_profile(argument)
    profile = load_profile(name)
    if not 0 < int(port) < 65536:
        raise ProfileError(f"{argument}: port {port} is not between 1 and 65535")
    return profile.model_copy(update={"port": int(port)})


def run_simulators(paths: Sequence[str], first_port: int | None = None, acceleration: float | None = None) -> int:
    """Serve the profiles at `paths` until interrupted, printing where each device listens."""
    profiles = [load_profile_argument(path) for path in paths]
    servers = servers_for_profiles(profiles, first_port, acceleration)

    async def main() -> None:
        try:
            for server in servers:
                await server.start()
                for device in server.devices.values():
                    framing = "RTU over TCP" if device.profile.framer == "rtu" else "Modbus TCP"
                    print(f"{device.profile.name}: {framing} on {server.host}:{server.port} unit {device.unit_id}"
                          f" ({device.profile.description or 'simulated device'})", flush=True)
            print("serving until Ctrl-C", flush=True)
            await asyncio.Event().wait()
        finally:
            for server in servers:
                await server.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("stopped")
    return 0
