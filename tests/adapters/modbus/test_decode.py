"""The pure decoder against values encoded independently with `struct`: every data type in every
byte order, text, bits, scale and offset, 'no reading' values, and the encoder for writes."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.modbus.config import ModbusPoint
from adapters.modbus.decode import DecodeError, NoReading, PointDecoder, encode_value, raw_decoder
from hub.types import RejectReason

ORDERS = ("ABCD", "DCBA", "BADC", "CDAB")
#: Where each byte of the big-endian value (A most significant) travels on the wire, per order and size.
LAYOUTS = {
    2: {"ABCD": "AB", "CDAB": "AB", "BADC": "BA", "DCBA": "BA"},
    4: {"ABCD": "ABCD", "CDAB": "CDAB", "BADC": "BADC", "DCBA": "DCBA"},
    8: {"ABCD": "ABCDEFGH", "CDAB": "GHEFCDAB", "BADC": "BADCFEHG", "DCBA": "HGFEDCBA"},
}
INTEGERS = {"int16": ("h", 16, True), "uint16": ("H", 16, False), "int32": ("i", 32, True),
            "uint32": ("I", 32, False), "int64": ("q", 64, True), "uint64": ("Q", 64, False)}
FLOATS = {"float16": "e", "float32": "f", "float64": "d"}


def wire(big_endian: bytes, order: str) -> list[int]:
    """Registers as a device in `order` sends the value whose big-endian bytes are given."""
    layout = LAYOUTS[len(big_endian)][order]
    data = bytes(big_endian["ABCDEFGH".index(letter)] for letter in layout)
    return [int.from_bytes(data[index:index + 2], "big") for index in range(0, len(data), 2)]


def point(**fields: object) -> ModbusPoint:
    return ModbusPoint.model_validate({"field": "level_cm", "address": 0, **fields})


def test_layouts_of_the_documented_example() -> None:
    # 0x11223344 as the four orders name it.
    value = bytes.fromhex("11223344")
    assert wire(value, "ABCD") == [0x1122, 0x3344]
    assert wire(value, "CDAB") == [0x3344, 0x1122]
    assert wire(value, "BADC") == [0x2211, 0x4433]
    assert wire(value, "DCBA") == [0x4433, 0x2211]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("type_name", sorted(INTEGERS))
def test_every_integer_type_in_every_order(type_name: str, order: str) -> None:
    code, bits, signed = INTEGERS[type_name]
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)

    @given(st.integers(low, high))
    def check(number: int) -> None:
        registers = wire(struct.pack(">" + code, number), order)
        assert raw_decoder(type_name, order)(registers) == number
        assert PointDecoder(point(type=type_name, byte_order=order)).value(registers) == float(number)
        assert encode_value(type_name, number, order) == registers

    check()


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("type_name", sorted(FLOATS))
def test_every_float_type_in_every_order(type_name: str, order: str) -> None:
    code = FLOATS[type_name]
    width = struct.calcsize(code) * 8

    @given(st.floats(allow_nan=False, width=width))
    def check(number: float) -> None:
        registers = wire(struct.pack(">" + code, number), order)
        assert raw_decoder(type_name, order)(registers) == number
        decoded = PointDecoder(point(type=type_name, byte_order=order)).value(registers)
        assert decoded == number or (math.isinf(number) and decoded == number)
        assert encode_value(type_name, number, order) == registers

    check()


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("type_name", sorted(FLOATS))
def test_a_float_nan_means_no_reading(type_name: str, order: str) -> None:
    registers = wire(struct.pack(">" + FLOATS[type_name], math.nan), order)
    with pytest.raises(NoReading):
        PointDecoder(point(type=type_name, byte_order=order)).value(registers)


@pytest.mark.parametrize("order", ORDERS)
@given(word=st.integers(0, 0xFFFF))
def test_eight_bit_types_take_a_byte_of_the_register_in_any_order(order: str, word: int) -> None:
    high, low = word.to_bytes(2, "big")
    assert raw_decoder("uint8l", order)([word]) == low
    assert raw_decoder("uint8h", order)([word]) == high
    assert raw_decoder("int8l", order)([word]) == struct.unpack("b", bytes([low]))[0]
    assert raw_decoder("int8h", order)([word]) == struct.unpack("b", bytes([high]))[0]


@given(word=st.integers(0, 0xFFFF), bit=st.integers(0, 15))
def test_a_bit_of_a_register(word: int, bit: int) -> None:
    decoder = PointDecoder(point(type="bit", bit=bit))
    assert decoder.value([word]) == float(bool(word & (1 << bit)))


@pytest.mark.parametrize(("bits", "expected"), [([True], 1.0), ([False], 0.0)])
def test_coils_are_one_or_zero(bits: list[bool], expected: float) -> None:
    assert PointDecoder(point(register="coil")).value(bits) == expected


@pytest.mark.parametrize("order", ORDERS)
@given(number=st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 2)))
def test_text_holding_a_number(order: str, number: float) -> None:
    text = f"{number:.2f}".encode().ljust(12, b"\x00")
    pairs = [text[index:index + 2] for index in range(0, 12, 2)]
    if order in ("BADC", "DCBA"):
        pairs = [pair[::-1] for pair in pairs]
    registers = [int.from_bytes(pair, "big") for pair in pairs]
    assert PointDecoder(point(type="string", length=6, byte_order=order)).value(registers) == number


def test_text_that_is_no_number_is_set_aside_as_wrong_type() -> None:
    registers = [int.from_bytes(b"OK", "big"), 0]
    with pytest.raises(DecodeError) as error:
        PointDecoder(point(type="string", length=2)).value(registers)
    assert error.value.reason is RejectReason.WRONG_TYPE


@given(raw=st.integers(0, 0xFFFF), scale=st.floats(-100, 100, allow_nan=False), offset=st.floats(-1e4, 1e4))
def test_scale_then_offset(raw: int, scale: float, offset: float) -> None:
    assert PointDecoder(point(scale=scale, offset=offset)).value([raw]) == raw * scale + offset


def test_a_configured_sentinel_means_no_reading_before_scaling() -> None:
    decoder = PointDecoder(point(type="int16", scale=0.1, no_reading=[-32768, 32767]))
    with pytest.raises(NoReading):
        decoder.value([0x8000])
    with pytest.raises(NoReading):
        decoder.value([0x7FFF])
    assert decoder.value([0x7FFE]) == pytest.approx(3276.6)


@pytest.mark.parametrize(("type_name", "value"), [("uint16", -1), ("uint16", 65536), ("int16", 1.5), ("int8l", 200)])
def test_values_that_do_not_fit_are_not_written(type_name: str, value: float) -> None:
    with pytest.raises(ValueError):
        encode_value(type_name, value)


def test_eight_bit_values_are_written_into_their_byte() -> None:
    assert encode_value("uint8h", 0x12) == [0x1200]
    assert encode_value("int8l", -1) == [0x00FF]
