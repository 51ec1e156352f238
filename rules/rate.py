"""Rate of rise (or fall) of a value over a window, robust to a single spike.

Method: keep the readings of the last `window_ms`. Each end of the window is the median of its
three outermost readings (Tukey's running median of three, Tukey 1977, *Exploratory Data
Analysis*), placed at the time of the middle one of those three. The change between the two ends
is scaled to the window: `rate = (end − start) × window / (t_end − t_start)`. One wrong reading
(a spike, a dropout to 0) cannot move the median of three readings beyond its two honest
neighbours, so it neither fakes nor hides a rise; a real jump shows after its second reading.
The rate is undefined (None) until the window holds `min_samples` (≥ 4) readings whose two end
times lie at least half the window apart: extrapolating a few minutes of data to an hour
multiplies the noise of the gauge by the same factor."""

from __future__ import annotations

from dataclasses import dataclass

#: The two ends of the window must lie at least this share of the window apart.
MIN_SPAN_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class RateState:
    """The (ts_ms, value) readings of the last window, oldest first."""

    samples: tuple[tuple[int, float], ...] = ()


def add_sample(state: RateState, ts_ms: int, value: float, window_ms: int) -> RateState:
    """The state with one more reading (in time order) and those older than the window dropped.
    A reading exactly `window_ms` old is kept: it is the start of the window."""
    horizon = ts_ms - window_ms
    samples = state.samples
    first = 0
    while first < len(samples) and samples[first][0] < horizon:
        first += 1
    return RateState(samples[first:] + ((ts_ms, value),))


def _median3(a: float, b: float, c: float) -> float:
    if a > b:
        a, b = b, a
    return b if b <= c else (c if a <= c else a)


def change_per_window(samples: tuple[tuple[int, float], ...], window_ms: int, min_samples: int = 4) -> float | None:
    """The change of the value over `window_ms` (in the value's unit, positive for a rise), from
    the median-of-three ends of `samples` (time-ordered readings within the window), or None
    when there are too few readings or they span too little of the window."""
    count = len(samples)
    if count < max(4, min_samples):
        return None
    start_value = _median3(samples[0][1], samples[1][1], samples[2][1])
    end_value = _median3(samples[-3][1], samples[-2][1], samples[-1][1])
    start_ms = samples[1][0]
    end_ms = samples[-2][0]
    span_ms = end_ms - start_ms
    if span_ms <= 0 or span_ms < MIN_SPAN_FRACTION * window_ms:
        return None
    return (end_value - start_value) * window_ms / span_ms


def change_per_window_reference(
    samples: tuple[tuple[int, float], ...], window_ms: int, min_samples: int = 4
) -> float | None:
    """Plain reference of `change_per_window` (sorting instead of the hand-written median), for
    tests of the fast version."""
    if len(samples) < max(4, min_samples):
        return None
    start = sorted(value for _, value in samples[:3])[1]
    end = sorted(value for _, value in samples[-3:])[1]
    span_ms = samples[-2][0] - samples[1][0]
    if span_ms <= 0 or span_ms < MIN_SPAN_FRACTION * window_ms:
        return None
    return (end - start) * window_ms / span_ms
