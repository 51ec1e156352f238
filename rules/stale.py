"""Technical checks of a sensor's data: stale (deadman: no data for too long) and flatline (a stuck
value). Both are `info` alarms for staff; a stale sensor also inhibits its own value alarms.

Stale: a sensor is stale once `now − last data ≥ after`, where `after` is N × its reporting
interval (or a fixed time); a sensor never heard from counts from when the engine started. It is
fresh again with its next reading.

Flatline: the value stayed within a band `tolerance` wide (max − min) for at least `window` and
`min_readings` readings. The still stretch restarts at the first reading that leaves the band,
from that reading alone: an approximation of the longest still stretch ending now that needs no
memory of past readings and can only detect a flatline later, never falsely. A field that is
legitimately constant for hours (a dry rain gauge's counter) is no candidate for this check."""

from __future__ import annotations

from dataclasses import dataclass


def stale_after_ms(interval_s: float, after_intervals: float, after_s: float | None) -> int:
    """Silence after which a sensor is stale, in ms."""
    return round((after_s if after_s is not None else interval_s * after_intervals) * 1000)


def is_stale(last_data_ms: int, now_ms: int, after_ms: int) -> bool:
    """True when nothing has come for `after_ms` or longer."""
    return now_ms - last_data_ms >= after_ms


@dataclass(frozen=True, slots=True)
class FlatlineState:
    """The current still stretch: when it began, its readings, the band of values it spans; and
    whether it is reported as stuck."""

    since_ms: int | None = None
    readings: int = 0
    low: float = 0.0
    high: float = 0.0
    stuck: bool = False


def step_flatline(
    state: FlatlineState, ts_ms: int, value: float, *, tolerance: float, window_ms: int, min_readings: int
) -> FlatlineState:
    """The state after one reading (in time order); `new_state.stuck` says whether the value is
    stuck. A reading that leaves the band ends the stretch and clears `stuck` at once."""
    if state.since_ms is None:
        return FlatlineState(ts_ms, 1, value, value, False)
    low = min(state.low, value)
    high = max(state.high, value)
    if high - low > tolerance:
        return FlatlineState(ts_ms, 1, value, value, False)
    readings = state.readings + 1
    stuck = ts_ms - state.since_ms >= window_ms and readings >= min_readings
    return FlatlineState(state.since_ms, readings, low, high, stuck)
