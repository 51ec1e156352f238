"""Logging that does not flood: `LogOncePer` lets one message per key through per interval and
says how many were held back, so a device sending garbage every second shows up once a minute."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class LogOncePer:
    """Decides whether a message for `key` may be logged now (at most once per `interval_s`)."""

    def __init__(self, interval_s: float, monotonic: Callable[[], float] = time.monotonic, max_keys: int = 10000):
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._last: dict[object, float] = {}
        self._held: dict[object, int] = {}
        self._max_keys = max_keys

    def allow(self, key: object) -> int | None:
        """None when the message must be held back; otherwise the number held back since the
        last one that was logged for this key (0 for the first)."""
        now = self._monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if len(self._last) >= self._max_keys and key not in self._last:
            # Keys come from devices (topics); forget them all rather than grow without bound.
            self._last.clear()
            self._held.clear()
        self._last[key] = now
        return self._held.pop(key, 0)


class AvailabilityLog:
    """The hook sources call when a device stops or starts answering (`on_availability`): one
    ERROR line when it goes down and one INFO line when it is back, and the counts for the `hub`
    measurement. The rule engine will raise the technical `info` alarm from the same hook."""

    def __init__(self, logger: logging.Logger | None = None):
        self._logger = logger or logging.getLogger("hub.availability")
        self.outages = 0
        self.recoveries = 0
        self.down: set[str] = set()

    def __call__(self, sensor_id: str, available: bool, detail: str) -> None:
        if available:
            self.recoveries += 1
            self.down.discard(sensor_id)
            self._logger.info("sensor %s is answering again: %s", sensor_id, detail)
        else:
            self.outages += 1
            self.down.add(sensor_id)
            self._logger.error("sensor %s is not answering: %s", sensor_id, detail)
