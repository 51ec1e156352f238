"""The hub pipeline: adapters hand it validated `Reading`s and `Rejection`s; it counts them, passes
readings to its outputs (the InfluxDB writer now, the rule engine later) and sets rejections aside
in the dead-letter store, logging each kind of problem once per sensor per interval."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from hub.deadletter import DeadLetterStore
from hub.lineprotocol import encode_line, series_prefix
from hub.logutil import LogOncePer
from hub.sensors import SensorSpec
from hub.types import Reading, Rejection

logger = logging.getLogger(__name__)

Output = Callable[[Reading], None]


class ReadingSink(Protocol):
    """What an adapter hands its results to."""

    def accept(self, reading: Reading) -> None:
        """Take a validated reading."""

    def reject(self, rejection: Rejection) -> None:
        """Take an input that was set aside."""


class Pipeline:
    """Counts, fans readings out to the outputs, and sets rejections aside."""

    def __init__(
        self,
        outputs: Sequence[Output],
        dead_letters: DeadLetterStore | None,
        log_limiter: LogOncePer,
    ):
        self._outputs = tuple(outputs)
        self._dead_letters = dead_letters
        self._log_limiter = log_limiter
        self._lock = threading.Lock()
        self.readings_in = 0
        self.rejected: Counter[str] = Counter()

    def accept(self, reading: Reading) -> None:
        """Pass one reading to every output. Adapters call this from their own threads (the
        broker link's, the event loop's), so the count is taken under the lock."""
        with self._lock:
            self.readings_in += 1
        for output in self._outputs:
            output(reading)

    def reject(self, rejection: Rejection) -> None:
        """Count a rejection under its reason, store it, and log it if not logged lately."""
        with self._lock:
            self.rejected[str(rejection.reason)] += 1
        if self._dead_letters is not None:
            self._dead_letters.add(rejection)
        subject = rejection.sensor or rejection.topic
        held_back = self._log_limiter.allow((subject, rejection.reason))
        if held_back is not None:
            more = f" (and {held_back} more since last logged)" if held_back else ""
            logger.warning("set aside input from %s: %s: %s%s", subject, rejection.reason, rejection.detail, more)


class InfluxOutput:
    """Encodes readings as line protocol for the writer, with each sensor's series prefix
    (`kind,area=…,sensor=…,site=…` plus the sensor's own tags) computed once."""

    def __init__(self, sensors: Mapping[str, SensorSpec], add_line: Callable[[str], None]):
        self._add_line = add_line
        self._prefixes = {
            spec.id: series_prefix(spec.kind, {**spec.tags, "sensor": spec.id, "area": spec.area, "site": spec.site})
            for spec in sensors.values()
        }

    def __call__(self, reading: Reading) -> None:
        values = reading.values
        if len(values) == 1 and reading.quality == "good":
            # The common case in one f-string; field names are config-checked plain words.
            ((name, value),) = values.items()
            self._add_line(f"{self._prefixes[reading.sensor]} {name}={value!r} {reading.ts_ms}")
            return
        self._add_line(encode_line(self._prefixes[reading.sensor], values, reading.ts_ms, reading.quality))
