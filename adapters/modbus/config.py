"""Config of a sensor's Modbus source: how to reach the device (Modbus TCP, RTU over TCP, serial
RTU), its unit id, timing and workarounds, and the point map that says where each field is in
the device's registers and how to decode it, as complete as Telegraf's inputs.modbus: register
table, address, data type, byte/word order, scale and offset, and the raw values that mean
"no reading". `ModbusWriteTarget` describes one coil or holding register to be written (a siren,
a warning light) for the notifiers."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hub.configbase import StrictModel
from hub.retry import BackoffConfig

FIELD_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

Table = Literal["coil", "discrete_input", "holding", "input"]
ByteOrder = Literal["ABCD", "DCBA", "BADC", "CDAB"]
Transport = Literal["tcp", "rtu_over_tcp", "serial"]

#: Register tables that hold single bits; the others hold 16-bit words.
BIT_TABLES: frozenset[str] = frozenset(("coil", "discrete_input"))

#: Data types of words in register tables and the number of 16-bit registers each takes
#: (`string` takes `length` registers). Names follow Telegraf's inputs.modbus, in lower case.
REGISTER_TYPES: dict[str, int] = {
    "int8l": 1,
    "int8h": 1,
    "uint8l": 1,
    "uint8h": 1,
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float16": 1,
    "float32": 2,
    "float64": 4,
    "string": 0,
    "bit": 1,
}
#: The type of coils and discrete inputs.
BIT_TYPE = "bool"
DATA_TYPES: tuple[str, ...] = (*REGISTER_TYPES, BIT_TYPE)

#: The most registers one read may ask for (Modbus application protocol v1.1b3, §6.3: 125).
MAX_REGISTERS_PER_READ = 125
#: The most coils or discrete inputs one read may ask for (§6.1: 2000).
MAX_BITS_PER_READ = 2000


class ModbusPoint(StrictModel):
    """One value in the device's registers and the field it becomes:
    field value = raw value × scale + offset."""

    field: str = Field(description="Field it becomes, with its unit in the name (e.g. level_cm); one of the kind's.")
    table: Table = Field(
        "holding", alias="register",
        description="Register table: coil, discrete_input, holding or input (holding registers by default).",
    )
    address: int = Field(
        ge=0, le=65535,
        description="Zero-based protocol address of the first register (holding register 40001 is address 0).",
    )
    type: str = Field(
        "uint16",
        description="Data type: int8l/int8h/uint8l/uint8h (low/high byte), int16, uint16, int32, uint32, int64, "
        "uint64, float16, float32, float64, string (ASCII text of a number, with `length`), bit (of a register, "
        "with `bit`); coils and discrete inputs are bool.",
    )
    length: int | None = Field(
        None, ge=1, le=MAX_REGISTERS_PER_READ,
        description="For type string: its length in registers (2 characters each).",
    )
    bit: int | None = Field(
        None, ge=0, le=15, description="For type bit: the bit of the register, 0 the least significant."
    )
    byte_order: ByteOrder = Field(
        "ABCD",
        description="Byte and word order of multi-byte values: ABCD big-endian, DCBA little-endian, BADC bytes "
        "swapped in each word, CDAB words swapped (low word first).",
    )
    scale: float = Field(1.0, description="Multiplier applied to the raw value (e.g. 0.1 for tenths of a cm).")
    offset: float = Field(0.0, description="Added after scaling, in the field's unit (e.g. gauge zero).")
    no_reading: list[float] = Field(
        default_factory=list,
        description="Raw values (before scale and offset) the device sends when it has no reading, e.g. 65535 or "
        "-9999; a float NaN always means no reading.",
    )

    @model_validator(mode="before")
    @classmethod
    def _bit_tables_are_bool(cls, data: Any) -> Any:
        # Coils and discrete inputs can only be bool; saying so in every entry would be noise.
        if isinstance(data, dict) and data.get("register") in BIT_TABLES and "type" not in data:
            return {**data, "type": BIT_TYPE}
        return data

    @field_validator("field")
    @classmethod
    def _field_name(cls, name: str) -> str:
        if not re.match(FIELD_NAME_PATTERN, name):
            raise ValueError(f"field name {name!r} must be lower case letters, digits and '_' (e.g. level_cm)")
        return name

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, name: Any) -> Any:
        if isinstance(name, str) and name.lower() in DATA_TYPES:
            return name.lower()
        raise ValueError(f"unknown type {name!r} (expected one of {', '.join(DATA_TYPES)})")

    @model_validator(mode="after")
    def _type_fits_register(self) -> ModbusPoint:
        if self.table in BIT_TABLES and self.type != BIT_TYPE:
            raise ValueError(f"a {self.table} holds one bit: its type is bool, not {self.type!r}")
        if self.table not in BIT_TABLES and self.type == BIT_TYPE:
            raise ValueError(f"type bool is for coils and discrete inputs; for one bit of a {self.table} "
                             "register use type bit with `bit`")
        if (self.type == "string") != (self.length is not None):
            raise ValueError("`length` (in registers) is needed by type string and only by it")
        if (self.type == "bit") != (self.bit is not None):
            raise ValueError("`bit` (0-15) is needed by type bit and only by it")
        if self.address + self.register_count > 65536:
            raise ValueError(f"the value runs past the last address 65535 ({self.register_count} registers)")
        return self

    @property
    def register_count(self) -> int:
        """Registers (or bits, in a bit table) the value takes."""
        if self.type == BIT_TYPE:
            return 1
        if self.type == "string":
            assert self.length is not None
            return self.length
        return REGISTER_TYPES[self.type]

    @property
    def end(self) -> int:
        """The address just past the value."""
        return self.address + self.register_count


class SerialSettings(StrictModel):
    """A serial line (RS-485/RS-232) for Modbus RTU."""

    device: str = Field(description="Serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...")
    baud_rate: int = Field(9600, gt=0, description="Bits per second.")
    parity: Literal["N", "E", "O"] = Field("E", description="Parity: N none, E even (the Modbus default), O odd.")
    data_bits: Literal[7, 8] = Field(8, description="Data bits per character.")
    stop_bits: Literal[1, 2] = Field(1, description="Stop bits per character.")


class ModbusConnection(StrictModel):
    """How to reach one Modbus device (a unit at an endpoint), and how patiently."""

    transport: Transport = Field(
        "tcp", description="tcp (Modbus TCP), rtu_over_tcp (RTU frames through a TCP gateway) or serial (RTU)."
    )
    host: str | None = Field(None, description="Host name or IP address of the device or gateway (tcp, rtu_over_tcp).")
    port: int = Field(502, ge=1, le=65535, description="TCP port (tcp, rtu_over_tcp).")
    serial: SerialSettings | None = Field(None, description="The serial line (transport serial).")
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (slave) id of the device at the endpoint.")
    timeout_s: float = Field(1.0, gt=0, le=60, description="How long to wait for one answer, in seconds.")
    retries: int = Field(
        1, ge=0, le=10, description="Requests sent again after a timeout before the device counts as not answering."
    )
    backoff: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=1.0, max_s=60.0),
        description="Spacing of attempts to a device that does not answer (capped exponential with jitter).",
    )

    @model_validator(mode="after")
    def _endpoint_complete(self) -> ModbusConnection:
        if self.transport == "serial":
            if self.serial is None:
                raise ValueError("transport serial needs `serial` (device, baud_rate, parity, ...)")
            if self.host is not None:
                raise ValueError("transport serial takes `serial`, not `host`")
        else:
            if not self.host:
                raise ValueError(f"transport {self.transport} needs `host`")
            if self.serial is not None:
                raise ValueError(f"transport {self.transport} takes `host` and `port`, not `serial`")
        return self

    @property
    def endpoint(self) -> str:
        """Where the device is reached: `tcp://host:port` (Modbus TCP or RTU over TCP) or
        `serial:///dev/ttyUSB0`. Devices at one endpoint share one connection."""
        if self.transport == "serial":
            assert self.serial is not None
            return f"serial://{self.serial.device}"
        return f"tcp://{self.host}:{self.port}"

    def link_settings(self) -> tuple[object, ...]:
        """What must agree between devices that share an endpoint (transport and line settings)."""
        return (self.transport, self.serial.model_dump() if self.serial else None)


class ModbusWorkarounds(StrictModel):
    """Help for devices that do not follow the protocol to the letter."""

    one_request_per_point: bool = Field(
        False, description="Read every point with a request of its own (devices that refuse reads across points)."
    )
    pause_between_requests_s: float = Field(
        0.0, ge=0, le=10, description="Pause after each request, in seconds (slow devices, busy RS-485 gateways)."
    )
    close_after_poll: bool = Field(
        False, description="Close the connection after every poll (devices that allow one connection at a time)."
    )
    max_registers_per_read: int = Field(
        MAX_REGISTERS_PER_READ, ge=1, le=MAX_REGISTERS_PER_READ,
        description="Fewer registers per read for devices that cannot answer 125.",
    )


class ModbusSourceConfig(ModbusConnection):
    """A sensor read by polling a Modbus device."""

    interval_s: float | None = Field(
        None, gt=0, description="Poll period in seconds; by default the sensor's interval_s."
    )
    gap_fill_registers: int = Field(
        10, ge=0, le=MAX_REGISTERS_PER_READ,
        description="Unused registers a read may span to join two points into one request.",
    )
    workarounds: ModbusWorkarounds = Field(default_factory=ModbusWorkarounds, description="Device quirks.")
    registers: list[ModbusPoint] = Field(min_length=1, description="The point map: one entry per field.")

    @model_validator(mode="after")
    def _points_are_readable(self) -> ModbusSourceConfig:
        seen: set[str] = set()
        for index, point in enumerate(self.registers):
            if point.field in seen:
                raise ValueError(f"registers[{index}]: field {point.field!r} is mapped twice")
            seen.add(point.field)
            if point.table not in BIT_TABLES and point.register_count > self.workarounds.max_registers_per_read:
                raise ValueError(
                    f"registers[{index}]: {point.register_count} registers do not fit in one read of at most "
                    f"{self.workarounds.max_registers_per_read}"
                )
        return self


class ModbusWriteTarget(ModbusConnection):
    """One coil or holding register(s) that the hub writes, e.g. a siren's on/off coil."""

    table: Literal["coil", "holding"] = Field(alias="register", description="Register table: coil or holding.")
    address: int = Field(ge=0, le=65535, description="Zero-based protocol address.")
    type: str = Field(
        "uint16", description="Data type of a holding register value (as in the point map); coils are bool."
    )
    byte_order: ByteOrder = Field("ABCD", description="Byte and word order of multi-register values.")

    @model_validator(mode="before")
    @classmethod
    def _coils_are_bool(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("register") == "coil" and "type" not in data:
            return {**data, "type": BIT_TYPE}
        return data

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, name: Any) -> Any:
        writable = [t for t in DATA_TYPES if t not in ("string", "bit")]
        if isinstance(name, str) and name.lower() in writable:
            return name.lower()
        raise ValueError(f"unknown type {name!r} (expected one of {', '.join(writable)})")

    @model_validator(mode="after")
    def _type_fits_register(self) -> ModbusWriteTarget:
        if (self.table == "coil") != (self.type == BIT_TYPE):
            raise ValueError("coils are written as bool, holding registers as a numeric type")
        if self.table == "holding" and self.address + REGISTER_TYPES[self.type] > 65536:
            raise ValueError("the value runs past the last address 65535")
        return self

    def as_point(self) -> ModbusPoint:
        """The target as a point, for reading it back."""
        return ModbusPoint(
            field="value", register=self.table, address=self.address, type=self.type, byte_order=self.byte_order
        )
