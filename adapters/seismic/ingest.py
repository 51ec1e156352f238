"""Seismic waveform ingestion: packets from MQTT (`<root>/wave/seismic/<sensor>`), SeedLink or
files go into each station's ring buffer, and the contiguous blocks that come out are handed to
the block handler the wiring point gives (the rules' seismic network, which makes summaries and
triggers of them).

Threads. The broker link's thread calls `handle`: it only decodes the JSON into NumPy arrays,
checks the clock and hands the packet to a bounded queue, so a burst of waveforms never holds up
the link (a normalised reading behind it, an alarm published through it). One worker thread
owns the ring buffers and runs the signal processing. A thread rather than the event loop: the
filters spend their time in NumPy/SciPy C code that releases the GIL, and a second of 100 Hz
data of a station takes tens of microseconds, but a backlog after a reconnect can be minutes of
data of every station, which on the loop would delay alarm dispatch for its whole duration; a
thread also keeps one station's packets strictly in order without locks, which a pool would not.
When the queue is full (the processing cannot keep up), packets are refused and counted, never
blocking the link."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

from adapters.seismic.config import SeismicSourceConfig
from adapters.seismic.packets import PacketError, WavePacket, decode_packet
from adapters.seismic.ringbuffer import Block, StationBuffer
from hub.logutil import LogOncePer
from hub.pipeline import ReadingSink
from hub.sensors import SensorSpec, TimestampError, check_timestamp
from hub.types import RejectReason, Rejection

logger = logging.getLogger(__name__)

#: Gets every contiguous block: (sensor id, block). Called on the worker thread only.
BlockHandler = Callable[[str, Block], None]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SeismicIngest:
    """Waveform packets of the configured stations into ring buffers and on to `on_block`."""

    def __init__(
        self,
        topic_root: str,
        sensors: Mapping[str, SensorSpec],
        sources: Mapping[str, SeismicSourceConfig],
        sink: ReadingSink,
        on_block: BlockHandler,
        *,
        max_payload_bytes: int = 262144,
        queue_packets: int = 10000,
        clock_ms: Callable[[], int] = _now_ms,
    ):
        self._prefix = f"{topic_root}/wave/seismic/"
        self._sensors = sensors
        self._sources = dict(sources)
        self._sink = sink
        self._on_block = on_block
        self._max_payload_bytes = max_payload_bytes
        self._clock_ms = clock_ms
        self._buffers = {
            sensor: StationBuffer(source.buffer_s, source.max_wait_s, source.max_fill_s)
            for sensor, source in self._sources.items()
        }
        # Per-station copies of the buffers' counts, replaced (not mutated) by the worker, so
        # that the metrics task can sum them from its own thread.
        self._station_counts: dict[str, dict[str, int]] = {sensor: {} for sensor in self._buffers}
        self._queue: queue.Queue[tuple[str, WavePacket] | None] = queue.Queue(queue_packets)
        self._thread: threading.Thread | None = None
        self._log = LogOncePer(60.0)
        self._lock = threading.Lock()
        self.packets_in = 0
        self.packets_processed = 0
        self.packets_dropped = 0
        self.handler_errors = 0
        self.idle = threading.Condition(self._lock)

    @property
    def prefix(self) -> str:
        """Topic prefix of waveform packets."""
        return self._prefix

    def subscriptions(self) -> list[str]:
        """The waveform topic filter, when any station sends packets over MQTT."""
        if any(source.transport == "mqtt" for source in self._sources.values()):
            return [f"{self._prefix}+"]
        return []

    def counts(self) -> Counter[str]:
        """What the ring buffers did, summed over stations (gaps, overlaps, duplicates, ...)."""
        total: Counter[str] = Counter()
        for counts in list(self._station_counts.values()):
            total.update(counts)
        return total

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._work, name="seismic-dsp", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Process what is queued, then end the worker thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout_s)
            self._thread = None

    def wait_processed(self, packets: int, timeout_s: float) -> bool:
        """Block until `packets` packets (in total) have been processed; False on timeout."""
        with self.idle:
            return self.idle.wait_for(lambda: self.packets_processed + self.packets_dropped >= packets, timeout_s)

    def handle(self, topic: str, payload: bytes) -> None:
        """Broker link thread: decode, check and queue one packet (cheap; the DSP is elsewhere)."""
        now_ms = self._clock_ms()
        sensor = topic[len(self._prefix):] if topic.startswith(self._prefix) else ""
        source = self._sources.get(sensor)
        if source is None or source.transport != "mqtt":
            self._reject(RejectReason.UNKNOWN_SENSOR, "no waveform station is configured for this topic",
                         topic, payload, now_ms)
            return
        if len(payload) > self._max_payload_bytes:
            self._reject(RejectReason.TOO_LARGE, f"payload of {len(payload)} bytes", topic, payload, now_ms, sensor)
            return
        try:
            packet = decode_packet(payload)
        except PacketError as error:
            self._reject(error.reason, error.detail, topic, payload, now_ms, sensor)
            return
        self.submit(sensor, packet, topic=topic, payload=payload, now_ms=now_ms)

    def submit(self, sensor: str, packet: WavePacket, *, topic: str = "", payload: bytes = b"",
               now_ms: int | None = None) -> bool:
        """Queue a decoded packet of a station (MQTT, SeedLink); False when refused."""
        now_ms = self._clock_ms() if now_ms is None else now_ms
        source = self._sources[sensor]
        try:
            check_timestamp(packet.end_ns // 1_000_000, now_ms, int(source.max_future_s * 1000))
        except TimestampError as error:
            self._reject(error.reason, f"clock check: {error}", topic or f"seismic:{sensor}", payload, now_ms, sensor)
            return False
        with self._lock:
            self.packets_in += 1
        try:
            self._queue.put_nowait((sensor, packet))
        except queue.Full:
            with self.idle:
                self.packets_dropped += 1
                self.idle.notify_all()
            if self._log.allow("queue-full") is not None:
                logger.error("seismic processing cannot keep up: waveform packets are being dropped (counted)")
            return False
        return True

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            sensor, packet = item
            buffer = self._buffers[sensor]
            try:
                for block in buffer.add(packet):
                    self._on_block(sensor, block)
            except Exception:  # noqa: BLE001 - one station's bad block must not stop the others; counted
                self.handler_errors += 1
                if self._log.allow(("block", sensor)) is not None:
                    logger.exception("error while processing waveform of %s (counted; stream continues)", sensor)
            self._station_counts[sensor] = dict(buffer.counts)
            with self.idle:
                self.packets_processed += 1
                self.idle.notify_all()

    def _reject(self, reason: RejectReason, detail: str, topic: str, payload: bytes, now_ms: int,
                sensor: str | None = None) -> None:
        self._sink.reject(Rejection(reason, detail, topic, payload, now_ms, sensor))
