"""Pure, table-driven decoding of Modbus registers into field values, and the inverse encoding
for writes. A value of several registers is first put into its natural big-endian byte order
according to the point's byte order, then unpacked with `struct`:

| order | registers on the wire (value bytes A B C D, A most significant) | what the device is |
|---|---|---|
| ABCD | `AB CD`  | big-endian (the Modbus convention) |
| CDAB | `CD AB`  | big-endian words, low word first (many PLCs, "word swap") |
| BADC | `BA DC`  | bytes swapped inside each word |
| DCBA | `DC BA`  | little-endian |

64-bit values extend the same rule to four words (ABCD = `AB CD EF GH`, CDAB = `GH EF CD AB`, ...);
a 16-bit value takes the byte order of its one word (AB or BA). Text (type `string`) is read
register by register, high byte first (ABCD, CDAB) or low byte first (BADC, DCBA). The 8-bit
types take the low or high byte of the register as it arrives, and `bit` one bit of it, whatever
the byte order. Range checks come after, in `hub.sensors.check_values`."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence

from adapters.modbus.config import BIT_TYPE, REGISTER_TYPES, ModbusPoint
from hub.types import RejectReason

#: struct format character of each fixed-size type.
STRUCT_FORMATS: dict[str, str] = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float16": "e",
    "float32": "f",
    "float64": "d",
}
_WORD_REVERSED = frozenset(("CDAB", "DCBA"))
_BYTES_SWAPPED = frozenset(("BADC", "DCBA"))

Raw = int | float | str


class DecodeError(ValueError):
    """Registers that do not hold a usable value; `reason` is its bounded category."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class NoReading(Exception):  # noqa: N818 - not an error: the device says it has nothing to report
    """The device reports that it has no reading for this point (a NaN or a configured sentinel)."""


def _swap_bytes(data: bytes) -> bytes:
    swapped = bytearray(len(data))
    swapped[0::2] = data[1::2]
    swapped[1::2] = data[0::2]
    return bytes(swapped)


def registers_to_bytes(words: Sequence[int], byte_order: str) -> bytes:
    """The registers of one value as its bytes in big-endian order (most significant first)."""
    ordered = reversed(words) if byte_order in _WORD_REVERSED else words
    data = b"".join(word.to_bytes(2, "big") for word in ordered)
    return _swap_bytes(data) if byte_order in _BYTES_SWAPPED else data


def bytes_to_registers(data: bytes, byte_order: str) -> list[int]:
    """The inverse of `registers_to_bytes`: big-endian value bytes → registers as the device sends them."""
    if byte_order in _BYTES_SWAPPED:
        data = _swap_bytes(data)
    words = [int.from_bytes(data[index:index + 2], "big") for index in range(0, len(data), 2)]
    return words[::-1] if byte_order in _WORD_REVERSED else words


def _fixed(type_name: str, byte_order: str) -> Callable[[Sequence[int]], Raw]:
    unpack = struct.Struct(">" + STRUCT_FORMATS[type_name]).unpack
    count = REGISTER_TYPES[type_name]
    if count == 1:
        swap = byte_order in _BYTES_SWAPPED

        def one_word(words: Sequence[int]) -> Raw:
            word = words[0]
            if swap:
                word = ((word & 0xFF) << 8) | (word >> 8)
            return unpack(word.to_bytes(2, "big"))[0]

        return one_word
    return lambda words: unpack(registers_to_bytes(words, byte_order))[0]


def _string(byte_order: str) -> Callable[[Sequence[int]], Raw]:
    swap = byte_order in _BYTES_SWAPPED

    def text(words: Sequence[int]) -> Raw:
        data = b"".join(word.to_bytes(2, "big") for word in words)
        if swap:
            data = _swap_bytes(data)
        return data.rstrip(b"\x00 ").lstrip(b" ").decode("ascii", errors="replace")

    return text


def raw_decoder(type_name: str, byte_order: str = "ABCD", bit: int | None = None) -> Callable[[Sequence[int]], Raw]:
    """A function from the registers (or bits) of one value to its raw value: an int, a float,
    or for type `string` its text."""
    if type_name in STRUCT_FORMATS:
        return _fixed(type_name, byte_order)
    if type_name == "string":
        return _string(byte_order)
    if type_name == BIT_TYPE:
        return lambda bits: 1 if bits[0] else 0
    if type_name == "bit":
        assert bit is not None
        return lambda words: (words[0] >> bit) & 1
    table: dict[str, Callable[[Sequence[int]], Raw]] = {
        "int8l": lambda words: ((words[0] & 0xFF) ^ 0x80) - 0x80,
        "int8h": lambda words: ((words[0] >> 8) ^ 0x80) - 0x80,
        "uint8l": lambda words: words[0] & 0xFF,
        "uint8h": lambda words: words[0] >> 8,
    }
    return table[type_name]


def _number_from_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DecodeError(RejectReason.WRONG_TYPE, f"text {text[:40]!r} is not a number") from None


class PointDecoder:
    """Decodes one point of the map: raw value, 'no reading' check, then raw × scale + offset."""

    __slots__ = ("point", "field", "_raw", "_no_reading", "_scale", "_offset", "_identity")

    def __init__(self, point: ModbusPoint):
        self.point = point
        self.field = point.field
        self._raw = raw_decoder(point.type, point.byte_order, point.bit)
        self._no_reading = frozenset(point.no_reading)
        self._scale = point.scale
        self._offset = point.offset
        self._identity = point.scale == 1.0 and point.offset == 0.0

    def value(self, words: Sequence[int]) -> float:
        """The field value of the point's registers (exactly `register_count` of them).

        Raises `NoReading` for a NaN or a configured sentinel, `DecodeError` for text that is
        not a number."""
        raw = self._raw(words)
        if type(raw) is str:
            raw = _number_from_text(raw)
        if raw in self._no_reading or (type(raw) is float and math.isnan(raw)):
            raise NoReading(self.field)
        if self._identity:
            return float(raw)
        return raw * self._scale + self._offset


def encode_value(type_name: str, value: float, byte_order: str = "ABCD") -> list[int]:
    """Registers that hold `value` as `type_name` in `byte_order` (for writes). Integer types
    take whole numbers within their range only; raises ValueError otherwise."""
    if type_name not in STRUCT_FORMATS and type_name not in ("int8l", "int8h", "uint8l", "uint8h"):
        raise ValueError(f"type {type_name!r} cannot be written as a register value")
    if type_name.startswith(("int8", "uint8")):
        number = _whole(value, type_name)
        signed = type_name.startswith("int")
        low, high = (-128, 127) if signed else (0, 255)
        if not low <= number <= high:
            raise ValueError(f"{value!r} does not fit in {type_name}")
        byte = number & 0xFF
        return [byte if type_name.endswith("l") else byte << 8]
    format_char = STRUCT_FORMATS[type_name]
    if format_char in "efd":
        packed = struct.pack(">" + format_char, value)
    else:
        try:
            packed = struct.pack(">" + format_char, _whole(value, type_name))
        except struct.error:
            raise ValueError(f"{value!r} does not fit in {type_name}") from None
    return bytes_to_registers(packed, byte_order)


def _whole(value: float, type_name: str) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is not a whole number, as {type_name} needs")
    return int(value)
