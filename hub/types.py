"""Typed records that cross the boundaries between adapters, the pipeline and the writers:
`Reading` (a validated measurement of one sensor at one time) and `Rejection` (an input that was
set aside, with the reason and the raw payload kept for the dead-letter store)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Quality = Literal["good", "suspect", "bad"]
QUALITIES: frozenset[str] = frozenset(("good", "suspect", "bad"))

SENSOR_KINDS: tuple[str, ...] = (
    "river",
    "dam",
    "rain",
    "seismic",
    "camera_water",
    "fire",
    "traffic",
    "parking",
    "pedestrians",
    "weather",
    "camera",
)


class RejectReason(enum.StrEnum):
    """Why an input was set aside. A bounded set: it is a tag in the `hub` measurement."""

    UNKNOWN_SENSOR = "unknown_sensor"
    KIND_MISMATCH = "kind_mismatch"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    WRONG_TYPE = "wrong_type"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_QUALITY = "bad_quality"
    INFLUX_REJECTED = "influx_rejected"
    DEVICE_EXCEPTION = "device_exception"


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated measurement of one sensor.

    `ts_ms` is the measurement time in integer milliseconds since the Unix epoch (UTC): exact,
    cheap to compare, and the precision the wire format carries. `values` maps field names that
    carry their unit (`level_cm`, `rate_mm_h`) to finite floats."""

    sensor: str
    kind: str
    area: str
    ts_ms: int
    values: Mapping[str, float]
    quality: Quality = "good"

    @property
    def time(self) -> datetime:
        """The measurement time as a timezone-aware UTC datetime."""
        return datetime.fromtimestamp(self.ts_ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input set aside: why, where it came from, and its raw bytes (truncated by the store)."""

    reason: RejectReason
    detail: str
    topic: str
    payload: bytes
    received_ms: int
    sensor: str | None = None
    fields: tuple[str, ...] = field(default=())


Level = Literal["info", "yellow", "orange", "red"]
#: Order of severity; `info` is for technical alarms (staff only).
LEVEL_RANK: dict[str, int] = {"info": 0, "yellow": 1, "orange": 2, "red": 3}
Audience = Literal["staff", "public"]


@dataclass(frozen=True, slots=True)
class Condition:
    """What the rule engine concluded about one (rule, subject) at one time: the level it is at
    now, or None when the condition is gone (past hysteresis). The engine emits one only when
    that changes; the alarm manager turns it into alarm lifecycle events.

    `subject` is a sensor id or an area id; `area` is the area people there must be warned in.
    `evidence` carries what fired it: values, thresholds, data age, a forecast, a message."""

    rule: str
    rule_version: str
    subject: str
    area: str
    level: Level | None
    audience: Audience
    hazard: str
    ts_ms: int
    evidence: Mapping[str, object] = field(default_factory=dict)
    #: True while the subject's data cannot be trusted (sensor offline): its value alarms are held
    #: as they are, neither cleared nor escalated, until data returns.
    inhibited: bool = False
