"""The ring buffer gives back the stream as it was sampled, whatever the packets' sizes, order
(within the wait), duplicates and overlaps; bridges short gaps, restarts after long ones and on a
change of rate; and the packet decoder refuses what it cannot use with the reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.seismic.packets import PacketError, WavePacket, decode_packet, encode_packet, parse_time_ns
from adapters.seismic.ringbuffer import StationBuffer
from hub.types import RejectReason

T0 = 1_780_000_000_000_000_000
RATE = 100.0


def _packets(values: np.ndarray, sizes: list[int], start: int = 0) -> list[WavePacket]:
    out, position, index = [], start, 0
    while position < start + len(values):
        size = sizes[index % len(sizes)]
        index += 1
        piece = values[position - start:position - start + size]
        out.append(WavePacket(T0 + round(position * 1e9 / RATE), RATE, {"z": piece, "n": -piece}))
        position += size
    return out


def _released(buffer: StationBuffer, packets: list[WavePacket]):
    blocks = []
    for packet in packets:
        blocks += buffer.add(packet)
    return blocks + buffer.flush()


@given(sizes=st.lists(st.integers(1, 250), min_size=1, max_size=8), swaps=st.lists(st.integers(0, 200), max_size=10),
       duplicates=st.lists(st.integers(0, 200), max_size=5))
def test_any_packets_in_any_nearby_order_with_duplicates_give_back_the_stream(sizes, swaps, duplicates) -> None:
    values = np.arange(2000, dtype=float)
    packets = _packets(values, sizes)
    pairs = (len(packets) - 1) // 2
    for swap in set(swaps) if pairs else ():  # disjoint neighbours exchanged: each late by ≤ one packet
        i = 2 * (swap % pairs) + 1
        packets[i], packets[i + 1] = packets[i + 1], packets[i]
    for duplicate in duplicates:
        packets.insert(duplicate % len(packets) + 1, packets[duplicate % len(packets)])
    buffer = StationBuffer(buffer_s=30, max_wait_s=5, max_fill_s=0.0)
    blocks = _released(buffer, packets)
    assert all(block.continuous for block in blocks[1:]) and not blocks[0].continuous
    np.testing.assert_array_equal(np.concatenate([b.channels["z"] for b in blocks]), values)
    np.testing.assert_array_equal(np.concatenate([b.channels["n"] for b in blocks]), -values)
    for block in blocks:
        index = round((block.start_ns - T0) * RATE / 1e9)
        assert block.channels["z"][0] == values[index]


def test_overlapping_packets_release_each_sample_once() -> None:
    values = np.arange(300, dtype=float)
    packets = [WavePacket(T0, RATE, {"z": values[:150]}), WavePacket(T0 + 10**9, RATE, {"z": values[100:300]})]
    buffer = StationBuffer()
    blocks = _released(buffer, packets)
    np.testing.assert_array_equal(np.concatenate([b.channels["z"] for b in blocks]), values)
    assert buffer.counts["overlap_samples"] == 50


def test_a_short_gap_is_bridged_and_a_long_one_restarts_the_stream() -> None:
    values = np.arange(1000, dtype=float)
    short = [WavePacket(T0, RATE, {"z": values[:100]}), WavePacket(T0 + round(103 * 1e7), RATE, {"z": values[103:600]})]
    buffer = StationBuffer(max_wait_s=1.0, max_fill_s=0.05)
    blocks = _released(buffer, short)
    joined = np.concatenate([b.channels["z"] for b in blocks])
    np.testing.assert_allclose(joined, values[:600])  # a straight line is bridged exactly
    assert all(b.continuous for b in blocks[1:]) and buffer.counts["filled_gaps"] == 1
    long = [WavePacket(T0, RATE, {"z": values[:100]}), WavePacket(T0 + 5 * 10**9, RATE, {"z": values[:400]})]
    buffer = StationBuffer(max_wait_s=1.0, max_fill_s=0.05)
    blocks = _released(buffer, long)
    assert [b.continuous for b in blocks] == [False, False]
    assert blocks[1].start_ns == T0 + 5 * 10**9 and buffer.counts["skipped_gaps"] == 1


def test_a_late_packet_within_the_wait_fills_its_gap() -> None:
    values = np.arange(400, dtype=float)
    first, second, third = (WavePacket(T0 + i * 10**9, RATE, {"z": values[i * 100:(i + 1) * 100]}) for i in range(3))
    buffer = StationBuffer(max_wait_s=2.0)
    assert len(buffer.add(first)) == 1
    assert buffer.add(third) == []  # held back: the second may still come
    blocks = buffer.add(second)
    np.testing.assert_array_equal(np.concatenate([b.channels["z"] for b in blocks]), values[100:300])
    assert all(b.continuous for b in blocks)


def test_rate_change_and_clock_jump_start_new_streams_and_misalignment_snaps_to_the_grid() -> None:
    buffer = StationBuffer(buffer_s=10, max_wait_s=1)
    buffer.add(WavePacket(T0, RATE, {"z": np.zeros(100)}))
    blocks = buffer.add(WavePacket(T0 + 10**9, 200.0, {"z": np.ones(200)}))
    assert blocks[-1].sampling_rate_hz == 200.0 and not blocks[-1].continuous
    blocks = buffer.add(WavePacket(T0 + 3600 * 10**9, 200.0, {"z": np.ones(200)}))
    assert not blocks[-1].continuous and buffer.counts["clock_jumps"] == 1
    jittered = WavePacket(T0 + 3601 * 10**9 + 2_000_000, 200.0, {"z": np.ones(200)})  # 0.4 sample late
    blocks = buffer.add(jittered)
    assert blocks[-1].continuous and buffer.counts["misaligned_packets"] == 1


def test_decode_packet_reads_the_wire_format_and_converts_units() -> None:
    packet = decode_packet(encode_packet("2026-11-25T13:00:00.125Z", 100.0, {"z": [0.0, 1.0], "n": [2, 3]}, unit="g"))
    assert packet.t0_ns == parse_time_ns("2026-11-25T13:00:00.125Z") == 1_795_611_600_125_000_000
    assert packet.channels["z"][1] == pytest.approx(9.80665) and packet.samples == 2


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{", RejectReason.MALFORMED),
    (b'{"sr": 100, "z": [1]}', RejectReason.MISSING_FIELD),
    (b'{"t0": "2026-11-25T13:00:00", "sr": 100, "z": [1]}', RejectReason.BAD_TIMESTAMP),
    (b'{"t0": "2026-11-25T13:00:00Z", "sr": 0, "z": [1]}', RejectReason.OUT_OF_RANGE),
    (b'{"t0": "2026-11-25T13:00:00Z", "sr": 100, "z": [1, "x"]}', RejectReason.WRONG_TYPE),
    (b'{"t0": "2026-11-25T13:00:00Z", "sr": 100, "z": [1, 2], "n": [1]}', RejectReason.MALFORMED),
    (b'{"t0": "2026-11-25T13:00:00Z", "sr": 100, "unit": "furlong", "z": [1]}', RejectReason.WRONG_TYPE),
    (b'{"t0": "2026-11-25T13:00:00Z", "sr": 100, "z": [1], "x": [1]}', RejectReason.UNKNOWN_FIELD),
])
def test_decode_packet_refuses_with_the_reason(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(PacketError) as caught:
        decode_packet(payload)
    assert caught.value.reason == reason


@given(st.binary(max_size=200))
def test_decode_packet_never_fails_other_than_with_a_packet_error(payload: bytes) -> None:
    try:
        decode_packet(payload)
    except PacketError:
        pass
