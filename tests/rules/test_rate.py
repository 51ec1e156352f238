"""Rate of rise over a window from median-of-three ends: exact on clean data, unmoved by one
spike anywhere, undefined on too little data; the fast median against the plain reference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.rate import RateState, add_sample, change_per_window, change_per_window_reference

MINUTE = 60_000
HOUR = 60 * MINUTE


def line(count: int, slope_per_min: float, step_ms: int = MINUTE, start: float = 100.0) -> tuple[tuple[int, float], ...]:
    return tuple((i * step_ms, start + slope_per_min * i * step_ms / MINUTE) for i in range(count))


def test_a_straight_rise_gives_its_rate_per_window() -> None:
    samples = line(61, 0.5)  # 0.5 cm/min for an hour
    assert change_per_window(samples, HOUR) == pytest.approx(30.0)
    assert change_per_window(line(16, 1.0), 15 * MINUTE) == pytest.approx(15.0)


def test_a_fall_is_negative() -> None:
    assert change_per_window(line(61, -0.2), HOUR) == pytest.approx(-12.0)


@pytest.mark.parametrize("where", [0, 1, 2, 30, 58, 59, 60])
@pytest.mark.parametrize("spike", [+500.0, -300.0])
def test_one_spike_anywhere_does_not_move_the_rate(where: int, spike: float) -> None:
    clean = line(61, 0.5)
    spiked = tuple((ts, v + spike if i == where else v) for i, (ts, v) in enumerate(clean))
    # A spike at an end replaces that end by a neighbour: at most one reading's worth of change.
    assert change_per_window(spiked, HOUR) == pytest.approx(30.0, abs=0.5 * 60 / 58 + 1e-9)


def test_a_real_jump_shows_after_its_second_reading() -> None:
    samples = list(line(60, 0.0))
    samples.append((60 * MINUTE, 150.0))
    assert change_per_window(tuple(samples), HOUR) == pytest.approx(0.0)
    samples.append((61 * MINUTE, 150.0))
    assert change_per_window(tuple(samples[1:]), HOUR) > 40


def test_too_few_readings_or_too_short_a_span_give_no_rate() -> None:
    assert change_per_window(line(3, 1.0), HOUR) is None
    assert change_per_window(line(10, 1.0), HOUR) is None  # 7 minutes between the ends of an hour
    assert change_per_window(line(33, 1.0), HOUR) is not None  # 31 minutes: more than half
    assert change_per_window(line(40, 1.0), HOUR, min_samples=50) is None
    same_time = tuple((0, float(v)) for v in range(5))
    assert change_per_window(same_time, HOUR) is None


def test_add_sample_keeps_exactly_the_window() -> None:
    state = RateState()
    for minute in range(100):
        state = add_sample(state, minute * MINUTE, float(minute), 15 * MINUTE)
    assert [ts // MINUTE for ts, _ in state.samples] == list(range(84, 100))


samples_strategy = st.lists(
    st.tuples(st.integers(1, 600_000), st.floats(-1000, 1000, allow_nan=False)), min_size=0, max_size=40
).map(lambda pairs: tuple((sum(gap for gap, _ in pairs[: i + 1]), value) for i, (_, value) in enumerate(pairs)))


@given(samples_strategy, st.sampled_from([15 * MINUTE, HOUR]))
def test_fast_median_matches_the_reference(samples: tuple[tuple[int, float], ...], window_ms: int) -> None:
    assert change_per_window(samples, window_ms) == change_per_window_reference(samples, window_ms)


@given(
    st.floats(-5, 5), st.integers(8, 60), st.integers(0, 59), st.floats(-1000, 1000).filter(lambda x: abs(x) > 1)
)
def test_a_single_spike_moves_the_rate_by_at_most_one_step(slope: float, count: int, where: int, spike: float) -> None:
    clean = line(count, slope)
    where = where % count
    spiked = tuple((ts, v + spike if i == where else v) for i, (ts, v) in enumerate(clean))
    window = count * MINUTE
    base = change_per_window(clean, window)
    moved = change_per_window(spiked, window)
    assert base is not None and moved is not None
    span_min = count - 3
    assert abs(moved - base) <= abs(slope) * window / MINUTE / span_min + 1e-6
