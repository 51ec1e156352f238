"""Sensors as the pipeline sees them: the fields each kind may carry with their physical ranges,
the per-sensor spec built once from the config, and the pure validation that turns decoded raw
values into a `Reading` or into the reasons they were set aside."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from hub.types import QUALITIES, Reading, RejectReason

#: Fields each kind carries, with the range a real instrument of that kind can report.
#: Values outside are a fault (a wrong scale, a broken probe), not a flood.
KIND_FIELDS: dict[str, dict[str, tuple[float, float]]] = {
    "river": {"level_cm": (-200.0, 3000.0), "flow_m3_s": (0.0, 20000.0), "temperature_c": (-5.0, 40.0)},
    "dam": {"level_cm": (0.0, 20000.0), "fill_pct": (0.0, 120.0), "outflow_m3_s": (0.0, 5000.0)},
    "rain": {"mm": (0.0, 500.0), "rate_mm_h": (0.0, 500.0), "total_mm": (0.0, 1.0e7), "tips": (0.0, 1.0e9)},
    "seismic": {"pga_g": (0.0, 5.0), "pgv_cm_s": (0.0, 500.0), "stalta": (0.0, 1.0e5), "intensity": (0.0, 12.0)},
    "camera_water": {"level_cm": (-200.0, 3000.0), "confidence": (0.0, 1.0)},
    "fire": {"fire_score": (0.0, 1.0), "smoke_score": (0.0, 1.0)},
    "traffic": {"vehicles": (0.0, 100000.0), "occupancy_pct": (0.0, 100.0), "speed_kmh": (0.0, 300.0)},
    "parking": {"violations": (0.0, 10000.0), "occupancy_pct": (0.0, 100.0)},
    "pedestrians": {"count": (0.0, 1.0e6), "density_per_m2": (0.0, 10.0)},
    "weather": {
        "temperature_c": (-60.0, 60.0),
        "humidity_pct": (0.0, 100.0),
        "pressure_hpa": (800.0, 1100.0),
        "wind_speed_m_s": (0.0, 120.0),
        "wind_dir_deg": (0.0, 360.0),
    },
    # A camera's own health, published by its worker (adapters/camera); the sensor is the camera.
    "camera": {
        "fps": (0.0, 1000.0),
        "dropped_frames": (0.0, 1.0e9),
        "skipped_frames": (0.0, 1.0e9),
        "last_frame_age_s": (0.0, 1.0e9),
        "inference_ms": (0.0, 1.0e6),
        "motion_pct": (0.0, 100.0),
        "connected": (0.0, 1.0),
    },
}

#: Timestamps before this are a device clock that was never set (or seconds sent as milliseconds).
EARLIEST_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """What the pipeline needs to know of one sensor, computed once at start."""

    id: str
    kind: str
    area: str
    site: str
    ranges: Mapping[str, tuple[float, float]]
    tags: Mapping[str, str]
    interval_s: float


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One raw value that could not be accepted."""

    field: str
    reason: RejectReason
    detail: str


def check_values(
    spec: SensorSpec, raw_values: Mapping[str, object]
) -> tuple[dict[str, float], list[FieldProblem]]:
    """Split raw decoded values into accepted finite floats within the sensor's physical ranges
    and the problems of the others. Booleans are refused: `true` is not a level in cm."""
    accepted: dict[str, float] = {}
    problems: list[FieldProblem] = []
    ranges = spec.ranges
    for name, raw in raw_values.items():
        bounds = ranges.get(name)
        if bounds is None:
            problems.append(FieldProblem(name, RejectReason.UNKNOWN_FIELD, f"{spec.kind} sensor has no field {name!r}"))
            continue
        if type(raw) is float:
            value = raw
        elif type(raw) is int:
            if not -(2**63) <= raw < 2**63:
                problems.append(FieldProblem(name, RejectReason.OUT_OF_RANGE, f"{name} is an integer of {raw.bit_length()} bits"))
                continue
            value = float(raw)
        else:
            problems.append(FieldProblem(name, RejectReason.WRONG_TYPE, f"{name} is {type(raw).__name__}, not a number"))
            continue
        if not math.isfinite(value):
            problems.append(FieldProblem(name, RejectReason.NOT_FINITE, f"{name} is {value}"))
            continue
        low, high = bounds
        if value < low or value > high:
            problems.append(
                FieldProblem(name, RejectReason.OUT_OF_RANGE, f"{name}={value:g} outside [{low:g}, {high:g}]")
            )
            continue
        accepted[name] = value
    return accepted, problems


class TimestampError(ValueError):
    """A timestamp that cannot be used; `reason` says which kind of problem it is."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(detail)
        self.reason = reason


def check_timestamp(ts_ms: int, now_ms: int, max_future_ms: int) -> None:
    """Refuse timestamps from an unset device clock or too far in the future (clock drift beyond
    what NTP-less devices show). Timestamps in the past are fine: devices replay their buffers."""
    if ts_ms < EARLIEST_TS_MS:
        raise TimestampError(RejectReason.BAD_TIMESTAMP, f"timestamp {ts_ms} ms is before 2000 (seconds sent as ms?)")
    if ts_ms > now_ms + max_future_ms:
        ahead_s = (ts_ms - now_ms) / 1000
        raise TimestampError(RejectReason.FUTURE_TIMESTAMP, f"timestamp is {ahead_s:.0f} s in the future")


def make_reading(spec: SensorSpec, ts_ms: int, values: dict[str, float], quality: str) -> Reading:
    """A `Reading` for accepted values; `quality` must already be one of good/suspect/bad."""
    assert quality in QUALITIES
    return Reading(spec.id, spec.kind, spec.area, ts_ms, values, quality)  # type: ignore[arg-type]
