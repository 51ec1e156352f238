"""Levels with hysteresis: the pure state machine that turns a stream of (time, value) into a level
`None < yellow < orange < red`, shared by the threshold, rate, accumulation and detection rules.

A level is *raised* (or escalated to) when the value has been at or past its threshold for at
least `for_ms` (first to latest reading of the unbroken run) and `count` consecutive readings. A
level is *held* while the value stays past its hold bound: the lowest level's hold bound is the
clear level; a higher level's is its threshold minus the same margin (lowest threshold − clear),
but never below the threshold of the level under it. When the level the value supports drops
below the current one, it must stay lower for `clear_for_ms` before the alarm de-escalates or
clears. This is the deadband-plus-delay of alarm management practice (ISA-18.2 / EEMUA 191: alarm
deadband, on-delay, off-delay).

Values are normalised so that danger always lies upwards: a `below` rule multiplies values and
thresholds by −1. Durations are measured on the readings' own timestamps; nothing is assumed
about a value between readings, so a duration completes at the first reading at or after it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Band:
    """The compiled levels of one rule, normalised so that danger lies upwards."""

    names: tuple[str, ...]
    thresholds: tuple[float, ...]
    clear: float
    sign: float = 1.0
    for_ms: int = 0
    count: int = 1
    clear_for_ms: int = 0
    #: Per level, the normalised value at or under which the level is no longer held.
    hold_bounds: tuple[float, ...] = ()


def _hold_bounds(thresholds: tuple[float, ...], clear: float) -> tuple[float, ...]:
    margin = thresholds[0] - clear
    bounds = [clear]
    for index in range(1, len(thresholds)):
        bounds.append(max(thresholds[index] - margin, thresholds[index - 1]))
    return tuple(bounds)


def make_band(
    levels: Sequence[tuple[str, float]],
    clear: float,
    *,
    below: bool = False,
    for_s: float = 0.0,
    count: int = 1,
    clear_for_s: float = 0.0,
) -> Band:
    """A `Band` from (level, threshold) pairs in the field's unit, yellow first; `below` for
    rules where danger lies below the levels. Raises ValueError on levels out of order or a clear
    level that is not on the safe side (the config validates both first, with its own messages)."""
    sign = -1.0 if below else 1.0
    thresholds = tuple(sign * value for _, value in levels)
    if not thresholds or any(b <= a for a, b in zip(thresholds, thresholds[1:], strict=False)):
        raise ValueError("levels must get worse from yellow to red")
    if sign * clear >= thresholds[0]:
        raise ValueError("clear must lie on the safe side of the lowest level")
    return Band(
        names=tuple(name for name, _ in levels),
        thresholds=thresholds,
        clear=sign * clear,
        sign=sign,
        for_ms=round(for_s * 1000),
        count=count,
        clear_for_ms=round(clear_for_s * 1000),
        hold_bounds=_hold_bounds(thresholds, sign * clear),
    )


@dataclass(frozen=True, slots=True)
class BandState:
    """Where one (rule, subject) stands. `level` indexes `Band.names` (−1: no level). Per level,
    `run_since_ms` is the time of the first reading of the unbroken run at or past its threshold
    (None: not in a run) and `run_count` the readings in that run. `release_since_ms` is when
    the value first supported a lower level than the current one (None: it does not)."""

    level: int = -1
    run_since_ms: tuple[int | None, ...] = ()
    run_count: tuple[int, ...] = ()
    release_since_ms: int | None = None
    last_ts_ms: int | None = None


def reset_runs(state: BandState) -> BandState:
    """The state with pending raises and releases forgotten (after an outage: durations count
    again from the first reading after it), the level kept."""
    return BandState(level=state.level, last_ts_ms=state.last_ts_ms)


def raw_level(band: Band, value: float) -> int:
    """The highest level whose threshold the (unnormalised) value reaches, −1 for none; no
    hysteresis, no durations."""
    normalised = band.sign * value
    level = -1
    for index, threshold in enumerate(band.thresholds):
        if normalised >= threshold:
            level = index
    return level


def step_band(band: Band, state: BandState, ts_ms: int, value: float) -> BandState:
    """The state after one value (in the field's unit) at `ts_ms`. Callers feed values in time
    order; the level is `new_state.level` (an index into `band.names`, −1 for none)."""
    normalised = band.sign * value
    thresholds = band.thresholds
    levels = len(thresholds)
    old_since = state.run_since_ms or (None,) * levels
    old_count = state.run_count or (0,) * levels
    since: list[int | None] = [None] * levels
    counts = [0] * levels
    confirmed = -1
    for index in range(levels):
        if normalised >= thresholds[index]:
            start = old_since[index]
            start = ts_ms if start is None else start
            since[index] = start
            counts[index] = old_count[index] + 1
            if ts_ms - start >= band.for_ms and counts[index] >= band.count:
                confirmed = index
        else:
            break  # thresholds rise: none above is reached either
    current = state.level
    release_since = state.release_since_ms
    if confirmed > current:
        new_level = confirmed
        release_since = None
    else:
        held = current
        bounds = band.hold_bounds
        while held >= 0 and normalised <= bounds[held]:
            held -= 1
        target = max(held, confirmed)
        if target < current:
            release_since = ts_ms if release_since is None else release_since
            if ts_ms - release_since >= band.clear_for_ms:
                new_level = target
                release_since = None
            else:
                new_level = current
        else:
            new_level = current
            release_since = None
    return BandState(
        level=new_level,
        run_since_ms=tuple(since),
        run_count=tuple(counts),
        release_since_ms=release_since,
        last_ts_ms=ts_ms,
    )


def level_name(band: Band, index: int) -> str | None:
    """The level's name, None for −1."""
    return band.names[index] if index >= 0 else None


def band_levels(band: Band) -> dict[str, float]:
    """The thresholds by level name, in the field's unit (for evidence)."""
    return {name: band.sign * threshold for name, threshold in zip(band.names, band.thresholds, strict=True)}


def band_clear(band: Band) -> float:
    """The clear level in the field's unit (for evidence)."""
    return band.sign * band.clear
