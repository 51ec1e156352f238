"""Rolling rain sums: increments and running totals, counter resets, gaps longer than the window,
the half-open window, ageing out with time alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.accumulation import (
    AccumulationState,
    add_reading,
    age_out,
    counter_increment,
    next_change_ms,
    window_sum,
)

MINUTE = 60_000
HOUR = 60 * MINUTE


def feed(values: list[tuple[int, float]], counter: bool, window_ms: int = HOUR, scale: float = 1.0) -> AccumulationState:
    state = AccumulationState()
    for ts, value in values:
        state = add_reading(state, ts, value, counter=counter, scale=scale, window_ms=window_ms)
    return state


def test_increments_sum_over_the_window() -> None:
    state = feed([(m * MINUTE, 0.5) for m in range(90)], counter=False)
    assert window_sum(state, 89 * MINUTE, HOUR) == pytest.approx(30.0)  # minutes 30..89


def test_counter_differences_and_first_value_as_baseline() -> None:
    state = feed([(0, 1000.0), (MINUTE, 1000.4), (2 * MINUTE, 1001.0), (3 * MINUTE, 1001.0)], counter=True)
    assert window_sum(state, 3 * MINUTE, HOUR) == pytest.approx(1.0)


def test_counter_reset_counts_the_new_value() -> None:
    assert counter_increment(None, 55.0) == 0.0
    assert counter_increment(50.0, 52.5) == 2.5
    assert counter_increment(52.5, 1.5) == 1.5  # reset: the new total is the rain since
    state = feed([(0, 50.0), (MINUTE, 52.0), (2 * MINUTE, 0.6), (3 * MINUTE, 1.0)], counter=True)
    assert window_sum(state, 3 * MINUTE, HOUR) == pytest.approx(2.0 + 0.6 + 0.4)


def test_tips_are_scaled_to_mm() -> None:
    state = feed([(0, 10.0), (MINUTE, 15.0)], counter=True, scale=0.2)
    assert window_sum(state, MINUTE, HOUR) == pytest.approx(1.0)


def test_a_gap_longer_than_the_window_does_not_invent_rain() -> None:
    state = feed([(0, 100.0), (3 * HOUR, 130.0), (3 * HOUR + MINUTE, 130.4)], counter=True)
    assert window_sum(state, 3 * HOUR + MINUTE, HOUR) == pytest.approx(0.4)
    assert state.unplaced_mm == pytest.approx(30.0)
    # The same gap inside a 24 h window is placed.
    day = feed([(0, 100.0), (3 * HOUR, 130.0)], counter=True, window_ms=24 * HOUR)
    assert window_sum(day, 3 * HOUR, 24 * HOUR) == pytest.approx(30.0)
    increments = feed([(0, 1.0), (2 * HOUR, 25.0)], counter=False)
    assert window_sum(increments, 2 * HOUR, HOUR) == 0.0 and increments.unplaced_mm == 25.0


def test_window_is_half_open_and_ages_out() -> None:
    state = feed([(0, 5.0), (30 * MINUTE, 3.0)], counter=False)
    assert window_sum(state, HOUR - 1, HOUR) == 8.0
    assert window_sum(state, HOUR, HOUR) == 3.0  # rain at exactly now − 1 h is outside
    assert next_change_ms(state, HOUR) == HOUR
    aged = age_out(state, HOUR, HOUR)
    assert aged.increments == ((30 * MINUTE, 3.0),)
    assert next_change_ms(aged, HOUR) == 90 * MINUTE
    assert age_out(aged, HOUR, HOUR) is aged


def test_dry_readings_cost_no_memory() -> None:
    state = feed([(m * MINUTE, 0.0) for m in range(500)], counter=False)
    assert state.increments == ()


@given(st.lists(st.tuples(st.integers(1, 30 * MINUTE), st.floats(0, 5)), max_size=80))
def test_counter_and_increment_readings_of_the_same_rain_agree(pairs: list[tuple[int, float]]) -> None:
    ts, total = 0, 100.0
    increments, totals = [(0, 0.0)], [(0, total)]
    for gap, rain in pairs:
        ts += gap
        total += rain
        increments.append((ts, rain))
        totals.append((ts, total))
    a = feed(increments, counter=False)
    b = feed(totals, counter=True)
    assert window_sum(a, ts, HOUR) == pytest.approx(window_sum(b, ts, HOUR), abs=1e-6)
    assert 0.0 <= window_sum(a, ts, HOUR) <= sum(r for _, r in pairs) + 1e-9
