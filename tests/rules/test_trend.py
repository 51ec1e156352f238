"""Time to threshold: the least-squares line, the ETA and its uncertainty, and the watch that is
raised before a level is crossed, holds while it is reached and clears with time hysteresis."""

from __future__ import annotations

import random

import pytest

from rules.threshold import make_band
from rules.trend import TrendState, add_sample, fit_trend, forecasts, step_watch

MINUTE = 60_000
BAND = make_band((("yellow", 200.0), ("orange", 260.0), ("red", 320.0)), 199)


def watch(values: list[float], state: TrendState | None = None, horizon_s: float = 3600,
          clear_horizon_s: float = 5400) -> list[int]:
    state = state or TrendState()
    out = []
    for minute, value in enumerate(values):
        state = add_sample(state, minute * MINUTE, value, 30 * MINUTE)
        state, *_ = step_watch(BAND, state, min_samples=5, horizon_s=horizon_s, clear_horizon_s=clear_horizon_s,
                               min_rate_per_s=0.0)
        out.append(state.level)
    return out


def test_fit_of_a_line_is_exact() -> None:
    samples = tuple((m * MINUTE, 100 + 2.0 * m) for m in range(10))
    fit = fit_trend(samples)
    assert fit is not None
    assert fit.value == pytest.approx(118.0)
    assert fit.slope_per_s * 60 == pytest.approx(2.0)
    assert fit.slope_se_per_s == pytest.approx(0.0, abs=1e-12)
    assert fit_trend(samples[:2]) is None
    assert fit_trend(tuple((0, float(v)) for v in range(4))) is None


def test_eta_of_each_level_above_the_value() -> None:
    samples = tuple((m * MINUTE, 150 + 1.0 * m) for m in range(11))  # 160 cm now, +1 cm/min
    fit = fit_trend(samples)
    assert fit is not None
    reached, expected = forecasts(BAND, fit, 0.0)
    assert reached == -1
    assert (expected[0].eta_ms - fit.newest_ms) / MINUTE == pytest.approx(40)
    assert (expected[1].eta_ms - fit.newest_ms) / MINUTE == pytest.approx(100)
    assert (expected[2].eta_ms - fit.newest_ms) / MINUTE == pytest.approx(160)


def test_uncertainty_grows_with_noise_and_a_falling_trend_forecasts_nothing() -> None:
    noise = random.Random(7)
    noisy = tuple((m * MINUTE, 150 + 1.0 * m + noise.gauss(0, 3)) for m in range(20))
    fit = fit_trend(noisy)
    assert fit is not None
    _, expected = forecasts(BAND, fit, 0.0)
    assert expected[0].plus_minus_s > 60
    falling = fit_trend(tuple((m * MINUTE, 190 - 1.0 * m) for m in range(10)))
    assert falling is not None
    assert forecasts(BAND, falling, 0.0) == (-1, {})
    slow = fit_trend(tuple((m * MINUTE, 150 + 0.01 * m) for m in range(10)))
    assert slow is not None
    assert forecasts(BAND, slow, min_rate_per_s=1 / 3600)[1] == {}  # 0.6 cm/h < 1 cm/h


def test_watch_is_raised_before_the_level_is_crossed() -> None:
    values = [100 + 2.0 * m for m in range(60)]  # +2 cm/min: yellow at minute 50
    levels = watch(values)
    first = levels.index(0) if 0 in levels else None
    # Yellow is expected within the hour from the start; orange (minute 80) from minute 20 on.
    assert levels[4] == 0 and levels[0:4] == [-1] * 4
    assert levels[20] == 1 and first == 4
    assert max(i for i, v in enumerate(values) if v < 200) >= 49


def test_watch_holds_while_the_level_is_reached_then_clears() -> None:
    rise = [150 + 2.0 * m for m in range(40)]  # up to 228: yellow reached at minute 25
    plateau = [228.0] * 30
    fall = [228 - 3.0 * m for m in range(1, 40)]
    levels = watch(rise + plateau + fall)
    assert levels[39] >= 0
    assert all(level >= 0 for level in levels[39:70])  # reached: held on the plateau
    assert levels[-1] == -1


def test_a_forecast_between_the_horizons_neither_raises_nor_clears() -> None:
    # +0.8 cm/min from 140 cm: yellow (200) is 75 − m minutes away at minute m, between the
    # horizon (60 min) and the clear horizon (90 min) for the first ten minutes.
    values = [140 + 0.8 * m for m in range(10)]
    assert watch(values, state=TrendState(level=0)) == [0] * 10
    assert watch(values) == [-1] * 10
