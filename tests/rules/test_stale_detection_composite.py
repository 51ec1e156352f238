"""Pure pieces of stale, flatline, detection and composite rules."""

from __future__ import annotations

from rules.composite import LevelRecord, combine, expires_ms, holds, record_level
from rules.detection import DetectionState, add_reading, age_out, count_at, duration_at, next_change_ms
from rules.stale import FlatlineState, is_stale, stale_after_ms, step_flatline

SECOND = 1000
MINUTE = 60_000


def test_stale_after_intervals_or_fixed_time() -> None:
    assert stale_after_ms(60, 3, None) == 180_000
    assert stale_after_ms(60, 3, 600) == 600_000
    assert not is_stale(0, 179_999, 180_000)
    assert is_stale(0, 180_000, 180_000)


def flat(values: list[float], tolerance: float = 0.0, window_ms: int = 10 * MINUTE, min_readings: int = 5) -> list[bool]:
    state = FlatlineState()
    out = []
    for minute, value in enumerate(values):
        state = step_flatline(state, minute * MINUTE, value, tolerance=tolerance, window_ms=window_ms,
                              min_readings=min_readings)
        out.append(state.stuck)
    return out


def test_flatline_after_the_window_and_clears_on_the_first_move() -> None:
    stuck = flat([120.0] * 15 + [120.5])
    assert stuck.index(True) == 10
    assert stuck[-1] is False


def test_flatline_tolerance_and_minimum_readings() -> None:
    assert not any(flat([120.0, 120.3] * 10))  # moves 0.3 with tolerance 0
    assert flat([120.0, 120.3] * 10, tolerance=0.5).index(True) == 10
    assert not any(flat([120.0] * 15, min_readings=20))


def detections(values: list[tuple[int, float]], window_ms: int = 10 * SECOND, max_gap_ms: int = 60 * SECOND) -> DetectionState:
    state = DetectionState()
    for ts, value in values:
        state = add_reading(state, ts, value, at_least=0.6, window_ms=window_ms, max_gap_ms=max_gap_ms)
    return state


def test_count_within_window() -> None:
    state = detections([(0, 0.9), (2 * SECOND, 0.1), (4 * SECOND, 0.7), (9 * SECOND, 0.6)])
    assert count_at(state, 9 * SECOND, 10 * SECOND) == 3
    assert count_at(state, 10 * SECOND, 10 * SECOND) == 2
    assert next_change_ms(state, "count", 10 * SECOND, 0) == 10 * SECOND
    aged = age_out(state, 14 * SECOND, 10 * SECOND, 60 * SECOND)
    assert aged.times == (9 * SECOND,)


def test_duration_of_a_run_survives_flicker_and_ends_after_the_gap() -> None:
    readings = [(s * 10 * SECOND, 0.8 if s % 3 else 0.2) for s in range(12)]  # every third reading low
    state = detections(readings)
    assert duration_at(state, 110 * SECOND, 60 * SECOND) == 100.0  # from 10 s (0 s was low) to 110 s
    assert duration_at(state, 170 * SECOND, 60 * SECOND) == 100.0
    assert duration_at(state, 170 * SECOND + 1, 60 * SECOND) == 0.0
    assert next_change_ms(state, "duration_s", 10 * SECOND, 60 * SECOND) == 170 * SECOND + 1
    ended = age_out(state, 171 * SECOND, 10 * SECOND, 60 * SECOND)
    assert ended.run_start_ms is None
    restarted = add_reading(ended, 200 * SECOND, 0.9, at_least=0.6, window_ms=10 * SECOND, max_gap_ms=60 * SECOND)
    assert restarted.run_start_ms == 200 * SECOND


def test_level_record_remembers_when_each_level_was_left() -> None:
    record = record_level(LevelRecord(), "orange", 1000)
    assert record.fell_below_ms == (None, None, None, None)
    record = record_level(record, "yellow", 5000)
    assert record.fell_below_ms == (None, None, 5000, None)
    record = record_level(record, None, 9000)
    assert record.fell_below_ms == (9000, 9000, 5000, None)
    assert holds(record, "orange", 5000 + 600, 600)
    assert not holds(record, "orange", 5000 + 601, 600)
    assert expires_ms(record, "orange", 600) == 5601
    assert not holds(record, "red", 9000, 10**9)
    assert holds(record_level(record, "red", 10_000), "yellow", 10_000, 0)
    assert expires_ms(record_level(record, "red", 10_000), "yellow", 0) is None


def test_combine() -> None:
    assert combine("all", [True, True]) and not combine("all", [True, False])
    assert combine("any", [False, True]) and not combine("any", [False, False])
