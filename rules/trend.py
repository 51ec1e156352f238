"""Time to threshold: from the recent trend, when the next level will be reached, and the watch
that is raised before it is crossed ("orange expected at 14:20 ± 15 min").

Method: an ordinary least-squares line through the readings of the last window (value against
time). The forecast starts from the line's value at the newest reading (which smooths the gauge's
noise) and runs along its slope: `eta = (threshold − value) / slope`. Its uncertainty comes from
the slope's standard error `se` by first-order propagation for a quotient (Taylor 1997, *An
Introduction to Error Analysis*, §3.8): `± = 1.96 × eta × se / slope`, about a 95 % band while
the rise stays straight. A rise that accelerates (a flood wave arriving) reaches the level sooner
than a straight line says, so the watch errs late, never early; the threshold rule still raises
the level itself.

The watch: a level not yet reached that is expected within `horizon` raises (or escalates) the
watch to that level; the watch holds a level while it is reached or still expected within the
longer `clear_horizon`, so a forecast that wavers around the horizon does not raise and clear in
turn. Levels are normalised as in `rules.threshold` (danger upwards)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rules.threshold import Band

#: Standard errors either side of the forecast (two-sided 95 % of a normal distribution).
ETA_Z = 1.96


@dataclass(frozen=True, slots=True)
class TrendFit:
    """A least-squares line through recent readings, at the newest one (values normalised)."""

    value: float
    slope_per_s: float
    slope_se_per_s: float
    samples: int
    newest_ms: int


def fit_trend(samples: tuple[tuple[int, float], ...]) -> TrendFit | None:
    """Least-squares line through (ts_ms, value) readings; None with fewer than 3 readings or
    all at one time. The slope is per second; its standard error is the usual
    sqrt(SSR / (n − 2) / Sxx)."""
    count = len(samples)
    if count < 3:
        return None
    newest = samples[-1][0]
    times = [(ts - newest) / 1000.0 for ts, _ in samples]
    values = [value for _, value in samples]
    mean_t = sum(times) / count
    mean_v = sum(values) / count
    sxx = sum((t - mean_t) ** 2 for t in times)
    if sxx <= 0:
        return None
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True))
    slope = sxy / sxx
    intercept = mean_v - slope * mean_t
    residual = sum((v - (intercept + slope * t)) ** 2 for t, v in zip(times, values, strict=True))
    se = math.sqrt(residual / (count - 2) / sxx) if count > 2 else math.inf
    return TrendFit(value=intercept, slope_per_s=slope, slope_se_per_s=se, samples=count, newest_ms=newest)


@dataclass(frozen=True, slots=True)
class Forecast:
    """When one level is expected: `eta_ms` (epoch ms) ± `plus_minus_s`."""

    level: int
    eta_ms: int
    plus_minus_s: float


def forecasts(band: Band, fit: TrendFit, min_rate_per_s: float) -> tuple[int, dict[int, Forecast]]:
    """The highest level the fitted value has reached (−1 for none), and a forecast for each
    level above it, if the (normalised) trend rises faster than `min_rate_per_s`."""
    value = band.sign * fit.value
    slope = band.sign * fit.slope_per_s
    reached = -1
    for index, threshold in enumerate(band.thresholds):
        if value >= threshold:
            reached = index
    expected: dict[int, Forecast] = {}
    if slope > 0 and slope > min_rate_per_s:
        for index in range(reached + 1, len(band.thresholds)):
            eta_s = (band.thresholds[index] - value) / slope
            plus_minus_s = ETA_Z * eta_s * fit.slope_se_per_s / slope
            expected[index] = Forecast(index, fit.newest_ms + round(eta_s * 1000), plus_minus_s)
    return reached, expected


@dataclass(frozen=True, slots=True)
class TrendState:
    """The readings of the trend window (oldest first) and the watch's level (−1: none)."""

    samples: tuple[tuple[int, float], ...] = ()
    level: int = -1


def add_sample(state: TrendState, ts_ms: int, value: float, window_ms: int) -> TrendState:
    """The state with one more reading (in time order) and those older than the window dropped."""
    horizon = ts_ms - window_ms
    samples = state.samples
    first = 0
    while first < len(samples) and samples[first][0] < horizon:
        first += 1
    return TrendState(samples[first:] + ((ts_ms, value),), state.level)


def step_watch(
    band: Band,
    state: TrendState,
    *,
    min_samples: int,
    horizon_s: float,
    clear_horizon_s: float,
    min_rate_per_s: float,
) -> tuple[TrendState, TrendFit | None, int, dict[int, Forecast]]:
    """The watch after the newest reading (already added): (state with the watch's level, the
    fit, the level reached, the forecasts). Too few readings keep the watch as it is."""
    if len(state.samples) < min_samples:
        return state, None, -1, {}
    fit = fit_trend(state.samples)
    if fit is None:
        return state, None, -1, {}
    reached, expected = forecasts(band, fit, min_rate_per_s)
    newest = fit.newest_ms
    raise_to = -1
    for index, forecast in expected.items():
        if forecast.eta_ms - newest <= horizon_s * 1000:
            raise_to = max(raise_to, index)
    held = state.level
    while held >= 0 and not (
        reached >= held or (held in expected and expected[held].eta_ms - newest <= clear_horizon_s * 1000)
    ):
        held -= 1
    level = max(raise_to, held)
    return TrendState(state.samples, level), fit, reached, expected
