"""Per-station ring buffer: packets in (any order, any size, with duplicates and overlaps), and
contiguous blocks of samples out, in time order, each marked whether it continues the previous
block. Pure: no clock, no I/O; time is the packets' own.

Samples are placed on the station's sample grid, counted from the first packet of the stream
(`t0 + i / sr`): a packet whose `t0` falls off the grid by a fraction of a sample (a station's
clock disciplined in steps) is placed on the nearest grid point and counted as misaligned.
Samples already released are dropped (an overlap; a whole packet of them is a duplicate, e.g. a
QoS 1 redelivery). A gap holds back what follows for `max_wait_s` of data time, for a late packet
to fill it; then a short gap (≤ `max_fill_s`) is bridged by linear interpolation and a longer one
is skipped, and the next block starts a new stream (`continuous=False`: the detector restarts
rather than filter across a hole). A change of sampling rate or of components, or a jump beyond
the buffer, starts a new stream too. The ring holds `buffer_s` seconds, so memory is bounded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from adapters.seismic.packets import WavePacket

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Block:
    """Contiguous samples of one station. `continuous` is False for the first block of a stream
    (after a start, a skipped gap, a rate change or a clock jump)."""

    start_ns: int
    sampling_rate_hz: float
    channels: Mapping[str, np.ndarray]
    continuous: bool

    @property
    def samples(self) -> int:
        """Samples per component."""
        return len(self.channels["z"])


class StationBuffer:
    """The ring buffer of one station (see the module docstring). `counts` tallies what was
    done to the stream: `overlap_samples`, `duplicate_packets`, `late_packets`, `filled_gaps`,
    `skipped_gaps`, `misaligned_packets`, `new_streams`, `clock_jumps`."""

    def __init__(self, buffer_s: float = 30.0, max_wait_s: float = 2.0, max_fill_s: float = 0.05):
        if max_wait_s >= buffer_s:
            raise ValueError("max_wait_s must be shorter than buffer_s")
        self._buffer_s = buffer_s
        self._max_wait_s = max_wait_s
        self._max_fill_s = max_fill_s
        self._rate: float | None = None
        self._names: tuple[str, ...] = ()
        self._anchor_ns = 0
        self._capacity = 0
        self._data: dict[str, np.ndarray] = {}
        self._filled = np.zeros(0, dtype=bool)
        self._head = 0
        self._newest = 0
        self._last: dict[str, float] | None = None
        self._continuous = False
        self.counts: Counter[str] = Counter()

    def add(self, packet: WavePacket) -> list[Block]:
        """Take one packet; return the blocks it lets out (none while a gap waits)."""
        names = tuple(sorted(packet.channels))
        if self._rate is None or packet.sampling_rate_hz != self._rate or names != self._names:
            out = self.flush() if self._rate is not None else []
            self._new_stream(packet.t0_ns, packet.sampling_rate_hz, names)
            return out + self._place(packet)
        return self._place(packet)

    def flush(self) -> list[Block]:
        """End of data: release everything held, skipping or bridging the gaps that wait."""
        out: list[Block] = []
        while self._head < self._newest:
            out += self._release()
            if self._head < self._newest:
                out += self._give_up_gap()
        return out

    # -- inside -------------------------------------------------------------------------------------

    def _new_stream(self, t0_ns: int, rate: float, names: tuple[str, ...]) -> None:
        self.counts["new_streams"] += 1
        self._rate = rate
        self._names = names
        self._anchor_ns = t0_ns
        self._capacity = max(4, int(round(self._buffer_s * rate)))
        self._data = {name: np.zeros(self._capacity) for name in names}
        self._filled = np.zeros(self._capacity, dtype=bool)
        self._head = 0
        self._newest = 0
        self._last = None
        self._continuous = False

    def _place(self, packet: WavePacket) -> list[Block]:
        assert self._rate is not None
        rate = self._rate
        position = (packet.t0_ns - self._anchor_ns) * rate / _NS
        first = int(round(position))
        if abs(position - first) > 0.1:
            self.counts["misaligned_packets"] += 1
        count = packet.samples
        if count > self._capacity // 2:
            # Larger than the ring comfortably holds: place it in halves.
            half = self._capacity // 2
            out: list[Block] = []
            for start in range(0, count, half):
                piece = {name: values[start:start + half] for name, values in packet.channels.items()}
                out += self._place(WavePacket(packet.t0_ns + round(start * _NS / rate), rate, piece))
            return out
        end = first + count
        if end <= self._head:
            self.counts["duplicate_packets" if first >= self._head - self._capacity else "late_packets"] += 1
            return []
        if first - self._head > self._capacity or (first > self._newest + self._capacity):
            # Far ahead of everything held: the station's clock jumped or it was away long.
            self.counts["clock_jumps"] += 1
            out = self.flush()
            self._new_stream(packet.t0_ns, rate, self._names)
            return out + self._place(packet)
        out = []
        while end - self._head > self._capacity:
            out += self._release()
            if end - self._head > self._capacity:
                out += self._give_up_gap()
        skip = max(0, self._head - first)
        if skip:
            self.counts["overlap_samples"] += skip
        indices = np.arange(first + skip, end) % self._capacity
        already = int(np.count_nonzero(self._filled[indices]))
        if already:
            self.counts["overlap_samples"] += already
        for name in self._names:
            self._data[name][indices] = packet.channels[name][skip:]
        self._filled[indices] = True
        self._newest = max(self._newest, end)
        out += self._release()
        wait = int(round(self._max_wait_s * rate))
        while self._head < self._newest and self._newest - self._head > wait:
            out += self._give_up_gap()
            out += self._release()
        return out

    def _release(self) -> list[Block]:
        if self._head >= self._newest:
            return []
        span = np.arange(self._head, self._newest) % self._capacity
        holes = np.flatnonzero(~self._filled[span])
        run = int(holes[0]) if len(holes) else len(span)
        if run == 0:
            return []
        slots = span[:run]
        channels = {name: self._data[name][slots].copy() for name in self._names}
        self._filled[slots] = False
        assert self._rate is not None
        block = Block(self._anchor_ns + round(self._head * _NS / self._rate), self._rate, channels, self._continuous)
        self._continuous = True
        self._last = {name: float(values[-1]) for name, values in channels.items()}
        self._head += run
        return [block]

    def _give_up_gap(self) -> list[Block]:
        """The gap at the head waits no longer: bridge it if short, else skip it."""
        assert self._rate is not None
        span = np.arange(self._head, self._newest) % self._capacity
        present = np.flatnonzero(self._filled[span])
        if len(present) == 0:
            self._head = self._newest
            return []
        gap = int(present[0])
        if gap == 0:
            return []
        next_slot = span[gap]
        if self._last is not None and gap <= self._max_fill_s * self._rate:
            fraction = np.arange(1, gap + 1) / (gap + 1)
            slots = span[:gap]
            for name in self._names:
                start, stop = self._last[name], float(self._data[name][next_slot])
                self._data[name][slots] = start + (stop - start) * fraction
            self._filled[slots] = True
            self.counts["filled_gaps"] += 1
            return self._release()
        self.counts["skipped_gaps"] += 1
        self._head += gap
        self._continuous = False
        return []
