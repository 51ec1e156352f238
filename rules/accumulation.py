"""Rolling sums of rain over a window (1, 3, 6, 24 h), from increments or from a tipping bucket's
running total.

* Increments (`mm` since the previous reading) are summed as they come.
* A running total (`total_mm`, `tips`) is read by differences: the increment is the new total
  minus the previous one; a decrease is a counter reset (power loss, a logger swap, a wrap), and
  then the new total itself is the increment (the rain since the reset). The first total seen
  only sets the baseline: the rain before it is unknown.
* An increment is placed at the time of the reading that reports it: the rain fell somewhere in
  (previous reading, this reading], which lies inside every window ending now. When the gap since
  the previous reading is longer than the window, the rain cannot be placed in the window at all,
  so it is not counted (no invented cloudburst after a silent night); it is reported as
  `unplaced_mm` instead.
* The sum covers (now − window, now]: a window ending at a tick, without a new reading, lets old
  rain age out.

Only increments above zero are kept, so a dry day costs no memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AccumulationState:
    """Increments (ts_ms, mm) still inside the window, oldest first; the previous reading's time
    and counter value; the rain that could not be placed since the start."""

    increments: tuple[tuple[int, float], ...] = ()
    last_ts_ms: int | None = None
    last_counter: float | None = None
    unplaced_mm: float = 0.0


def counter_increment(previous: float | None, current: float) -> float:
    """The increment a running total reports: the difference, or the new total after a reset
    (a decrease); 0 for the first total seen."""
    if previous is None:
        return 0.0
    if current < previous:
        return current
    return current - previous


def add_reading(
    state: AccumulationState, ts_ms: int, raw: float, *, counter: bool, scale: float, window_ms: int
) -> AccumulationState:
    """The state after one reading (in time order) of an increment (`counter=False`) or of a
    running total (`counter=True`); `scale` turns the field's unit into mm."""
    if counter:
        increment = counter_increment(state.last_counter, raw) * scale
        last_counter: float | None = raw
    else:
        increment = raw * scale
        last_counter = None
    unplaced = state.unplaced_mm
    increments = state.increments
    if increment > 0:
        if state.last_ts_ms is not None and ts_ms - state.last_ts_ms > window_ms:
            unplaced += increment
        else:
            increments = increments + ((ts_ms, increment),)
    return AccumulationState(
        increments=_prune(increments, ts_ms, window_ms),
        last_ts_ms=ts_ms,
        last_counter=last_counter,
        unplaced_mm=unplaced,
    )


def _prune(increments: tuple[tuple[int, float], ...], now_ms: int, window_ms: int) -> tuple[tuple[int, float], ...]:
    horizon = now_ms - window_ms
    first = 0
    while first < len(increments) and increments[first][0] <= horizon:
        first += 1
    return increments[first:] if first else increments


def age_out(state: AccumulationState, now_ms: int, window_ms: int) -> AccumulationState:
    """The state with the increments that have left the window ending at `now_ms` dropped."""
    pruned = _prune(state.increments, now_ms, window_ms)
    if pruned is state.increments:
        return state
    return AccumulationState(pruned, state.last_ts_ms, state.last_counter, state.unplaced_mm)


def window_sum(state: AccumulationState, now_ms: int, window_ms: int) -> float:
    """Rain in mm over (now − window, now]."""
    horizon = now_ms - window_ms
    return sum(mm for ts, mm in state.increments if horizon < ts <= now_ms)


def next_change_ms(state: AccumulationState, window_ms: int) -> int | None:
    """When the oldest increment leaves the window (the sum can only fall then), or None."""
    return state.increments[0][0] + window_ms if state.increments else None
