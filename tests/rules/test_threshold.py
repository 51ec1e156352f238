"""The level state machine shared by threshold, rate, accumulation and detection rules: raise,
escalate and de-escalate in place, clear past hysteresis, durations and counts on the readings'
own timestamps; and its properties (no chatter inside the band, above/below mirror symmetry,
raises and clears alternate, durations measured exactly)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.threshold import Band, BandState, make_band, raw_level, reset_runs, step_band

LEVELS = (("yellow", 250.0), ("orange", 320.0), ("red", 400.0))
MINUTE = 60_000


def run(band: Band, values: list[float], step_ms: int = MINUTE, state: BandState | None = None) -> list[int]:
    """The level after each value, one reading per `step_ms`."""
    state = state or BandState()
    out = []
    for index, value in enumerate(values):
        state = step_band(band, state, index * step_ms, value)
        out.append(state.level)
    return out


def changes(levels: list[int]) -> list[int]:
    """The levels at which the sequence changed (what the engine would emit)."""
    out, before = [], -1
    for level in levels:
        if level != before:
            out.append(level)
            before = level
    return out


def test_raise_escalate_deescalate_clear_in_place() -> None:
    band = make_band(LEVELS, 230)
    # Hold bounds: red above 380, orange above 300, yellow above 230 (the clear level).
    levels = run(band, [100, 260, 330, 410, 381, 380, 301, 300, 240, 231, 230, 100])
    assert levels == [-1, 0, 1, 2, 2, 1, 1, 0, 0, 0, -1, -1]


def test_hold_bounds_use_the_clear_margin_but_never_drop_below_the_level_under() -> None:
    band = make_band(LEVELS, 230)
    assert band.hold_bounds == (230, 300, 380)
    narrow = make_band((("yellow", 250.0), ("orange", 260.0)), 200)  # margin 50 > gap 10
    assert narrow.hold_bounds == (200, 250)


def test_below_direction_mirrors_above() -> None:
    band = make_band((("yellow", 50.0), ("orange", 30.0)), 60, below=True)
    assert run(band, [80, 45, 25, 35, 55, 59, 60, 70]) == [-1, 0, 1, 1, 0, 0, -1, -1]
    assert raw_level(band, 29) == 1 and raw_level(band, 51) == -1


def test_duration_counts_from_the_first_reading_of_the_run() -> None:
    band = make_band(LEVELS, 230, for_s=600)  # "above 250 cm for 10 minutes"
    levels = run(band, [260] * 12)
    assert levels.index(0) == 10  # at 10 min after the first reading above


def test_a_dip_below_the_level_restarts_the_duration() -> None:
    band = make_band(LEVELS, 230, for_s=300)
    levels = run(band, [260, 260, 260, 240, 260, 260, 260, 260, 260, 260])
    assert levels.index(0) == 9


def test_duration_of_a_higher_level_is_its_own() -> None:
    band = make_band(LEVELS, 230, for_s=120)
    levels = run(band, [260, 260, 260, 330, 330, 330, 330])
    assert levels == [-1, -1, 0, 0, 0, 1, 1]


def test_consecutive_count() -> None:
    band = make_band(LEVELS, 230, count=3)
    assert run(band, [260, 260, 200, 260, 260, 260]) == [-1, -1, -1, -1, -1, 0]


def test_duration_and_count_both_needed() -> None:
    band = make_band(LEVELS, 230, for_s=60, count=3)
    # Readings 30 s apart: after 60 s there are 3 readings.
    assert run(band, [260] * 4, step_ms=30_000) == [-1, -1, 0, 0]
    # Readings 5 min apart: 3 readings take 10 min.
    assert run(band, [260] * 4, step_ms=300_000) == [-1, -1, 0, 0]


def test_clear_delay_holds_until_the_lower_level_lasted() -> None:
    band = make_band(LEVELS, 230, clear_for_s=180)
    levels = run(band, [260, 200, 200, 200, 200, 200])
    assert levels == [0, 0, 0, 0, -1, -1]
    # A return above the clear level in between restarts the delay.
    levels = run(band, [260, 200, 200, 240, 200, 200, 200, 200])
    assert levels == [0, 0, 0, 0, 0, 0, 0, -1]


def test_reset_runs_forgets_pending_durations_but_keeps_the_level() -> None:
    band = make_band(LEVELS, 230, for_s=600)
    state = BandState()
    for minute in range(11):
        state = step_band(band, state, minute * MINUTE, 260)
    assert state.level == 0
    state = step_band(band, state, 11 * MINUTE, 330)
    reset = reset_runs(state)
    assert reset.level == 0 and reset.run_since_ms == ()
    state = step_band(band, reset, 20 * MINUTE, 330)
    assert state.run_since_ms[1] == 20 * MINUTE and state.level == 0


def test_make_band_refuses_disorder() -> None:
    with pytest.raises(ValueError):
        make_band((("yellow", 300.0), ("orange", 250.0)), 200)
    with pytest.raises(ValueError):
        make_band(LEVELS, 250)
    with pytest.raises(ValueError):
        make_band((("yellow", 50.0),), 40, below=True)


# -- properties ---------------------------------------------------------------------------------

finite = st.floats(min_value=-1000, max_value=1000, allow_nan=False)


@st.composite
def bands(draw: st.DrawFn) -> Band:
    count = draw(st.integers(1, 3))
    steps = draw(st.lists(st.floats(0.5, 100), min_size=count, max_size=count))
    lowest = draw(st.floats(-500, 500))
    thresholds, value = [], lowest
    for step in steps:
        thresholds.append(value)
        value += step
    margin = draw(st.floats(0.5, 50))
    names = ("yellow", "orange", "red")[:count]
    below = draw(st.booleans())
    sign = -1 if below else 1
    return make_band(
        tuple(zip(names, (sign * t for t in thresholds), strict=True)),
        sign * (lowest - margin),
        below=below,
        for_s=draw(st.sampled_from([0, 60, 300])),
        count=draw(st.integers(1, 3)),
        clear_for_s=draw(st.sampled_from([0, 0, 120])),
    )


@given(bands(), st.data())
def test_a_signal_inside_the_hysteresis_band_never_chatters(band: Band, data: st.DataObject) -> None:
    # Whatever the state (raised or not), values strictly between the clear level and the lowest
    # threshold change nothing: no raise from clear, no clear from raised.
    low, high = band.clear, band.thresholds[0]
    inside = st.floats(min_value=low, max_value=high, exclude_min=True, exclude_max=True)
    values = [band.sign * v for v in data.draw(st.lists(inside, min_size=1, max_size=60))]
    raised = BandState()
    for minute in range(20):  # well past any duration and count
        raised = step_band(band, raised, minute * MINUTE, band.sign * high)
    assert raised.level == 0
    for start in (BandState(), raised):
        state = start
        for index, value in enumerate(values):
            state = step_band(band, state, (100 + index) * MINUTE, value)
            assert state.level == start.level


@given(bands(), st.lists(finite, max_size=80))
def test_above_on_x_is_below_on_minus_x(band: Band, values: list[float]) -> None:
    names = band.names
    thresholds = tuple(band.sign * t for t in band.thresholds)
    mirrored = make_band(
        tuple(zip(names, (-t for t in thresholds), strict=True)),
        -band.sign * band.clear,
        below=band.sign > 0,
        for_s=band.for_ms / 1000,
        count=band.count,
        clear_for_s=band.clear_for_ms / 1000,
    )
    assert run(band, values) == run(mirrored, [-v for v in values])


@given(bands(), st.lists(finite, max_size=120))
def test_raises_and_clears_alternate_and_every_clear_is_past_the_clear_level(band: Band, values: list[float]) -> None:
    state = BandState()
    active = False
    for index, value in enumerate(values):
        before = state.level
        state = step_band(band, state, index * MINUTE, value)
        if before < 0 <= state.level:
            assert not active, "a second raise without a clear in between"
            active = True
            assert band.sign * value >= band.thresholds[0]
        elif state.level < 0 <= before:
            assert active
            active = False
            assert band.sign * value <= band.clear
        if state.level > before >= 0:
            assert band.sign * value >= band.thresholds[state.level]


@given(
    st.integers(0, 3600),
    st.lists(st.integers(1, 900), min_size=1, max_size=40),
)
def test_duration_is_measured_on_the_readings_clock(for_s: int, gaps_s: list[int]) -> None:
    # Above the level at every reading, at irregular times: the level is raised at the first
    # reading at least for_s after the first one, never earlier, never later.
    band = make_band(LEVELS, 230, for_s=for_s)
    times = [0]
    for gap in gaps_s:
        times.append(times[-1] + gap * 1000)
    state = BandState()
    raised_at = None
    for ts in times:
        state = step_band(band, state, ts, 260)
        if state.level == 0 and raised_at is None:
            raised_at = ts
    expected = next((ts for ts in times if ts >= for_s * 1000), None)
    assert raised_at == expected
