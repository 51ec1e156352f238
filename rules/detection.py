"""Detections from cameras and seismic stations, measured for the levels of a detection rule.

A reading whose field reaches the rule's `at_least` (a fire_score of 0.6, an STA/LTA ratio of
3.5, a PGA in g) is one detection. Two measures:

* `count`: detections within the last window, e.g. three STA/LTA triggers within 10 s (with an
  area subject and the `sum` aggregate, a network coincidence trigger across the area's stations,
  as ObsPy's `coincidence_trigger` does);
* `duration_s`: how long detections have persisted: the time from the first detection of the
  current run to the latest, where a run ends when no detection comes for `max_gap_s`. Readings
  below `at_least` in between do not end the run: a fire flickering in and out of the camera's
  view is still one fire.

Both measures fall with time alone (detections age out, a run ends), so the engine also
evaluates them on its clock, not only when a reading arrives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DetectionState:
    """Detection times within the count window (oldest first), and the current run."""

    times: tuple[int, ...] = ()
    run_start_ms: int | None = None
    last_detection_ms: int | None = None


def add_reading(
    state: DetectionState, ts_ms: int, value: float, *, at_least: float, window_ms: int, max_gap_ms: int
) -> DetectionState:
    """The state after one reading (in time order)."""
    detected = value >= at_least
    times = _prune(state.times, ts_ms, window_ms)
    run_start = state.run_start_ms
    last = state.last_detection_ms
    if last is not None and ts_ms - last > max_gap_ms:
        run_start = None
    if detected:
        times = times + (ts_ms,)
        if run_start is None:
            run_start = ts_ms
        last = ts_ms
    return DetectionState(times, run_start, last)


def _prune(times: tuple[int, ...], now_ms: int, window_ms: int) -> tuple[int, ...]:
    horizon = now_ms - window_ms
    first = 0
    while first < len(times) and times[first] <= horizon:
        first += 1
    return times[first:] if first else times


def count_at(state: DetectionState, now_ms: int, window_ms: int) -> int:
    """Detections within (now − window, now]."""
    horizon = now_ms - window_ms
    return sum(1 for ts in state.times if horizon < ts <= now_ms)


def duration_at(state: DetectionState, now_ms: int, max_gap_ms: int) -> float:
    """Seconds the current run of detections has lasted (first to latest detection), 0 when no
    run is going on at `now_ms`."""
    if state.run_start_ms is None or state.last_detection_ms is None:
        return 0.0
    if now_ms - state.last_detection_ms > max_gap_ms:
        return 0.0
    return (state.last_detection_ms - state.run_start_ms) / 1000.0


def age_out(state: DetectionState, now_ms: int, window_ms: int, max_gap_ms: int) -> DetectionState:
    """The state at `now_ms` with aged-out detections dropped and an ended run forgotten."""
    times = _prune(state.times, now_ms, window_ms)
    run_start, last = state.run_start_ms, state.last_detection_ms
    if last is not None and now_ms - last > max_gap_ms:
        run_start = None
    if times is state.times and run_start == state.run_start_ms:
        return state
    return DetectionState(times, run_start, last)


def next_change_ms(state: DetectionState, measure: str, window_ms: int, max_gap_ms: int) -> int | None:
    """When the measure next falls with time alone: the oldest detection leaving the window
    (count), or the run ending (duration); None when nothing is pending."""
    if measure == "count":
        return state.times[0] + window_ms if state.times else None
    if state.run_start_ms is not None and state.last_detection_ms is not None:
        return state.last_detection_ms + max_gap_ms + 1
    return None
