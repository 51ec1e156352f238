"""What the console shows besides the alarm database: the newest reading of every sensor (a
pipeline output, called from the ingest threads) and the live stream of alarm events (a listener
on the alarm dispatcher, on the hub's loop) that the page receives as server-sent events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.alarms import AlarmEvent
from hub.types import Reading


@dataclass(frozen=True, slots=True)
class LastReading:
    """The newest reading of one sensor and when the hub received it."""

    ts_ms: int
    received_ms: int
    values: Mapping[str, float]
    quality: str


class LatestReadings:
    """Pipeline output keeping each sensor's newest reading (one dict write per reading)."""

    def __init__(self) -> None:
        self.readings: dict[str, LastReading] = {}

    def __call__(self, reading: Reading) -> None:
        previous = self.readings.get(reading.sensor)
        if previous is None or reading.ts_ms >= previous.ts_ms:
            self.readings[reading.sensor] = LastReading(reading.ts_ms, time.time_ns() // 1_000_000,
                                                        dict(reading.values), reading.quality)


class EventFeed:
    """Alarm events fanned out to the connected pages. Each page has a bounded queue; a page
    that does not keep up loses its stream and reconnects (EventSource does), reloading state."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._queue_size = queue_size

    def __call__(self, event: AlarmEvent) -> None:
        self.publish(event.to_json())

    def publish(self, body: dict[str, Any]) -> None:
        """Offer one event to every page (on the loop)."""
        for queue in list(self._queues):
            try:
                queue.put_nowait(body)
            except asyncio.QueueFull:
                self._queues.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)  # tells the stream to end

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        """A new page's queue."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        """A page went away."""
        self._queues.discard(queue)

    def close(self) -> None:
        """End every page's stream (the hub stops; the server must not wait for them)."""
        for queue in list(self._queues):
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)
        self._queues.clear()

    @property
    def listeners(self) -> int:
        """Pages connected now."""
        return len(self._queues)
