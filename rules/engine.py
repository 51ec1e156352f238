"""The rule engine: holds the per-(rule, subject) state of every rule, feeds each `Reading` to the
pure detectors of the rules that select its sensor, and emits a `hub.types.Condition` whenever a
(rule, subject)'s level changes (raise, escalate, de-escalate, clear = level None). The alarm
manager turns those into alarms.

Time. Event time is the reading's `ts_ms`; durations and windows are measured on it. `tick(now_ms)`
is the engine's clock: it runs the checks that fall due with time alone (stale sensors, rain and
detections ageing out of their windows, composite members whose grace ran out), each at the
time it fell due, and never reads a wall clock itself.

Order. Each (rule, sensor) takes readings in time order: a reading not newer than the newest one
that rule has evaluated for that sensor (a duplicate from a QoS 1 redelivery, a buffered reading
arriving after newer ones) is ignored by that rule and counted in `late_readings`; the present is
not rewritten by the past. For an area subject, each member sensor keeps its own latest value and
the area is evaluated at the later of the reading's time and the area's last evaluation.
Readings of quality `bad` feed no value rule, but they do show that the sensor is alive.

Stale sensors. A stale rule raises an `info` condition for a sensor that has not been heard from
for N × its interval; a reading counts as heard at the later of its own time and the engine's
clock, so a device flushing an old buffer is alive. While stale (with `inhibit`), every active
value condition of the sensor is re-emitted once with `inhibited=True` at the same level and then
does not change; its ageing windows stop. An area subject keeps a silent sensor's last value, so
it can still escalate on the other sensors' data but is not cleared for want of the silent one's;
it is held (inhibited) once all its sensors are silent. When data returns, the stale condition
clears, the held conditions are re-emitted with `inhibited=False`, pending durations restart from
the new data, and evaluation goes on.

Durations complete at the first reading at or after them: the engine never assumes a value it has
not seen, so `tick` does not complete a pending "for 10 minutes" on its own.

Composites and corroboration read the levels this engine emitted (see `rules.composite`).
Corroboration keeps the alarm's level and puts `confidence: corroborated | single_source` and
`corroborated_by` in the evidence; a change of confidence re-emits the condition at the same
level. Together with the inhibited flag these are the only same-level re-emissions.

State. `snapshot()` returns JSON-ready state per rule with the rule's version (a hash of its
config); `restore()` takes back the state of every rule whose version still matches and drops the
rest, so a pending duration or an open window survives a restart, and a changed rule starts
afresh (`discarded_conditions()` lists the conditions that were active under the old version)."""

from __future__ import annotations

import dataclasses
import heapq
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.sensors import SensorSpec
from hub.types import Condition, Reading
from rules import accumulation, composite, detection, rate, stale, threshold, trend
from rules.config import (
    AccumulationRule,
    CompositeRule,
    DetectionRule,
    RateRule,
    RuleConfig,
    StaleRule,
    ThresholdRule,
    TimeToThresholdRule,
    composite_order,
    rule_version,
    selected_sensors,
)

logger = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "ews-rules/1"
_VALUE_KINDS = frozenset(("threshold", "rate", "accumulation", "detection", "time_to_threshold"))


@dataclass(slots=True)
class _Rule:
    """A rule compiled against the sensors: who its subjects are, its band, its windows in ms."""

    config: Any
    id: str
    kind: str
    version: str
    sensors: tuple[str, ...]
    subject_of: dict[str, str]
    members: dict[str, tuple[str, ...]]
    area_of: dict[str, str]
    band: threshold.Band | None = None
    window_ms: int = 0
    extra_ms: int = 0
    aggregate: str = "worst"
    by_area: bool = False


def _band_for(config: Any) -> threshold.Band | None:
    if isinstance(config, ThresholdRule):
        return threshold.make_band(config.levels.items(), config.clear, below=config.direction == "below",
                                   for_s=config.for_s, count=config.count, clear_for_s=config.clear_for_s)
    if isinstance(config, RateRule):
        return threshold.make_band(config.levels.items(), config.clear, for_s=config.for_s, count=config.count,
                                   clear_for_s=config.clear_for_s)
    if isinstance(config, AccumulationRule | DetectionRule):
        return threshold.make_band(config.levels.items(), config.clear)
    if isinstance(config, TimeToThresholdRule):
        # The watch's band: the levels only (its hysteresis is in time, see rules.trend).
        items = config.levels.items()
        below = config.direction == "below"
        first = items[0][1]
        return threshold.make_band(items, first + (1.0 if below else -1.0), below=below)
    return None


def _window_text(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _number(value: float) -> float:
    return round(value, 3)


def _show(value: float) -> str:
    return f"{round(value, 1):g}"


def _dump(state: Any) -> dict[str, Any]:
    return {f.name: _listify(getattr(state, f.name)) for f in dataclasses.fields(state)}


def _listify(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_listify(item) for item in value]
    return value


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(item) for item in value)
    return value


def _load(cls: type, data: Mapping[str, Any]) -> Any:
    return cls(**{name: _tuplify(value) for name, value in data.items()})


_EMPTY_BAND = threshold.BandState()
_EMPTY_RECORD = composite.LevelRecord()
_SIGNAL_STATES: dict[str, type] = {
    "rate": rate.RateState,
    "accumulation": accumulation.AccumulationState,
    "detection": detection.DetectionState,
    "time_to_threshold": trend.TrendState,
    "flatline": stale.FlatlineState,
}


class RuleEngine:
    """Evaluates rules over readings; see the module docstring for time, order, staleness and
    state. Not thread-safe: the hub calls it from one thread (its event loop)."""

    def __init__(self, rules: Sequence[RuleConfig], sensors: Mapping[str, SensorSpec], *,
                 timezone: str = "Europe/Sofia"):
        self._specs = dict(sensors)
        self._zone = ZoneInfo(timezone)
        self._rules: dict[str, _Rule] = {}
        self._routes: dict[str, list[_Rule]] = {}
        self._stale_of: dict[str, list[_Rule]] = {}
        for config in rules:
            self._rules[config.id] = self._compile(config)
        for compiled in self._rules.values():
            for sensor in compiled.sensors:
                if compiled.kind == "stale":
                    self._stale_of.setdefault(sensor, []).append(compiled)
                else:
                    self._routes.setdefault(sensor, []).append(compiled)
        self._composites = [self._rules[rule_id] for rule_id in composite_order(list(rules))]
        self._stale_after: dict[tuple[str, str], int] = {}
        self._corroborated = [r for r in self._rules.values() if getattr(r.config, "corroboration", None)]
        # Value rules (and their subjects) each sensor's staleness holds.
        self._held_by: dict[str, list[tuple[_Rule, str]]] = {}
        for compiled in self._rules.values():
            if compiled.kind in _VALUE_KINDS:
                for sensor in compiled.sensors:
                    self._held_by.setdefault(sensor, []).append((compiled, compiled.subject_of[sensor]))
        self._reset_state()

    # -- construction -------------------------------------------------------------------------------

    def _compile(self, config: Any) -> _Rule:
        sensors = tuple(selected_sensors(config, self._specs))
        by_area = getattr(config, "subject", "sensor") == "area"
        subject_of: dict[str, str] = {}
        members: dict[str, list[str]] = {}
        area_of: dict[str, str] = {}
        for sensor in sensors:
            area = self._specs[sensor].area
            subject = area if by_area else sensor
            subject_of[sensor] = subject
            members.setdefault(subject, []).append(sensor)
            area_of[subject] = area
        if isinstance(config, CompositeRule):
            area_of[config.area] = config.area
        window_ms = round(getattr(config, "window_s", 0.0) * 1000)
        extra_ms = 0
        if isinstance(config, DetectionRule):
            extra_ms = round(config.max_gap_s * 1000)
        elif isinstance(config, CompositeRule):
            extra_ms = round(config.within_s * 1000)
        elif getattr(config, "corroboration", None) is not None:
            extra_ms = round(config.corroboration.within_s * 1000)
        return _Rule(
            config=config, id=config.id, kind=config.kind, version=rule_version(config), sensors=sensors,
            subject_of=subject_of, members={k: tuple(v) for k, v in members.items()}, area_of=area_of,
            band=_band_for(config), window_ms=window_ms, extra_ms=extra_ms,
            aggregate=getattr(config, "effective_aggregate", None) or getattr(config, "aggregate", None) or "worst",
            by_area=by_area,
        )

    def _reset_state(self) -> None:
        self._clock_ms: int | None = None
        self._armed_ms: int | None = None
        self._heard: dict[str, int] = {}
        self._data_ts: dict[str, int] = {}
        self._last_ts: dict[tuple[str, str], int] = {}
        self._signals: dict[tuple[str, str], Any] = {}
        self._member_values: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}
        self._bands: dict[tuple[str, str], threshold.BandState] = {}
        self._records: dict[str, dict[str, composite.LevelRecord]] = {rule_id: {} for rule_id in self._rules}
        self._active: dict[tuple[str, str], Condition] = {}
        self._stale_sensors: dict[str, set[str]] = {}
        self._inhibited: set[tuple[str, str]] = set()
        self._heap: list[tuple[int, tuple[str, ...]]] = []
        self._scheduled: dict[tuple[str, ...], int] = {}
        self._discarded: list[Condition] = []
        self.late_readings = 0

    # -- public interface ---------------------------------------------------------------------------

    def selected_sensors(self) -> frozenset[str]:
        """Ids of every sensor some rule watches."""
        return frozenset(self._routes) | frozenset(self._stale_of)

    def rule_versions(self) -> dict[str, str]:
        """Each rule's version (a short hash of its config)."""
        return {rule_id: compiled.version for rule_id, compiled in self._rules.items()}

    def active_conditions(self) -> list[Condition]:
        """The last condition of every (rule, subject) that is at a level now."""
        return list(self._active.values())

    def on_reading(self, reading: Reading) -> list[Condition]:
        """The conditions one reading causes, in the order they happened: stale conditions cleared
        and held conditions released (data came back), then level changes of the rules that
        read the sensor, then composites and corroboration that follow from them."""
        sensor = reading.sensor
        values_routes = self._routes.get(sensor)
        stale_routes = self._stale_of.get(sensor)
        if values_routes is None and stale_routes is None:
            return []
        out: list[Condition] = []
        ts = reading.ts_ms
        self._arm(ts)
        heard = ts if self._clock_ms is None else max(ts, self._clock_ms)
        self._heard[sensor] = max(self._heard.get(sensor, heard), heard)
        self._data_ts[sensor] = max(self._data_ts.get(sensor, ts), ts)
        self._clock_ms = heard if self._clock_ms is None else max(self._clock_ms, heard)
        changed: set[str] = set()
        if stale_routes:
            self._data_returned(sensor, stale_routes, heard, out, changed)
            for rule in stale_routes:
                self._schedule(self._heard[sensor] + self._stale_after_ms(rule, sensor), ("stale", rule.id, sensor))
        if values_routes and reading.quality != "bad":
            values = reading.values
            for rule in values_routes:
                field_name = rule.config.field
                value = values.get(field_name)
                if value is None:
                    continue
                key = (rule.id, sensor)
                last = self._last_ts.get(key)
                if last is not None and ts <= last:
                    self.late_readings += 1
                    continue
                self._last_ts[key] = ts
                self._evaluate_reading(rule, sensor, ts, value, out, changed)
        if changed:
            self._propagate(changed, ts, out)
        return out

    def tick(self, now_ms: int) -> list[Condition]:
        """The conditions that fall due by `now_ms` with time alone, each evaluated at the time it
        fell due: stale sensors (and the value conditions they hold), rain and detections ageing
        out of their windows, composite members and corroborations whose grace ran out."""
        self._arm(now_ms)
        self._clock_ms = now_ms if self._clock_ms is None else max(self._clock_ms, now_ms)
        out: list[Condition] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            due, key = heapq.heappop(heap)
            if self._scheduled.get(key) != due:
                continue
            del self._scheduled[key]
            changed: set[str] = set()
            kind = key[0]
            if kind == "recheck":
                self._propagate(changed, due, out, force=key[1])
                continue
            if kind == "stale":
                self._check_stale(self._rules[key[1]], key[2], due, out, changed)
            else:
                self._decay(self._rules[key[1]], key[2], due, out, changed)
            if changed:
                self._propagate(changed, due, out)
        return out

    # -- readings -----------------------------------------------------------------------------------

    def _evaluate_reading(self, rule: _Rule, sensor: str, ts: int, value: float, out: list[Condition],
                          changed: set[str]) -> None:
        kind = rule.kind
        config = rule.config
        subject = rule.subject_of[sensor]
        key = (rule.id, sensor)
        if kind == "threshold":
            self._feed_band(rule, sensor, subject, ts, value, out, changed)
        elif kind == "rate":
            state = rate.add_sample(self._signals.get(key) or rate.RateState(), ts, value, rule.window_ms)
            self._signals[key] = state
            change = rate.change_per_window(state.samples, rule.window_ms, config.min_samples)
            if change is not None:
                signal = change if config.direction == "rise" else -change
                self._feed_band(rule, sensor, subject, ts, signal, out, changed)
        elif kind == "accumulation":
            state = accumulation.add_reading(
                self._signals.get(key) or accumulation.AccumulationState(), ts, value,
                counter=config.is_counter, scale=config.scale, window_ms=rule.window_ms,
            )
            self._signals[key] = state
            self._schedule_decay(rule, sensor, state)
            total = accumulation.window_sum(state, ts, rule.window_ms)
            self._feed_band(rule, sensor, subject, ts, total, out, changed)
        elif kind == "detection":
            state = detection.add_reading(
                self._signals.get(key) or detection.DetectionState(), ts, value,
                at_least=config.at_least, window_ms=rule.window_ms, max_gap_ms=rule.extra_ms,
            )
            self._signals[key] = state
            self._schedule_decay(rule, sensor, state)
            measured = self._detection_measure(rule, state, ts)
            self._feed_band(rule, sensor, subject, ts, measured, out, changed)
        elif kind == "time_to_threshold":
            self._watch(rule, sensor, ts, value, out, changed)
        elif kind == "flatline":
            before = self._signals.get(key) or stale.FlatlineState()
            after = stale.step_flatline(before, ts, value, tolerance=config.tolerance, window_ms=rule.window_ms,
                                        min_readings=config.min_readings)
            self._signals[key] = after
            if after.stuck != before.stuck:
                still_s = (ts - before.since_ms) / 1000 if before.since_ms is not None else 0.0
                if after.stuck:
                    message = (f"{sensor}: {config.field} stuck at {after.low:g}–{after.high:g} for "
                               f"{(ts - (after.since_ms or ts)) / 1000:g} s ({after.readings} readings)")
                else:
                    message = f"{sensor}: {config.field} moves again ({value:g} after {still_s:g} s still)"
                evidence = {"field": config.field, "value": _number(value), "low": _number(after.low),
                            "high": _number(after.high), "tolerance": config.tolerance, "window_s": config.window_s,
                            "readings": after.readings, "data_age_s": 0.0, "sensors": [sensor], "message": message}
                self._emit(rule, sensor, "info" if after.stuck else None, ts, evidence, out, changed)

    def _detection_measure(self, rule: _Rule, state: detection.DetectionState, now: int) -> float:
        if rule.config.measure == "count":
            return float(detection.count_at(state, now, rule.window_ms))
        return detection.duration_at(state, now, rule.extra_ms)

    def _schedule_decay(self, rule: _Rule, sensor: str, state: Any) -> None:
        if rule.kind == "accumulation":
            due = accumulation.next_change_ms(state, rule.window_ms)
        else:
            due = detection.next_change_ms(state, rule.config.measure, rule.window_ms, rule.extra_ms)
        if due is not None:
            self._schedule(due, ("decay", rule.id, sensor))

    def _feed_band(self, rule: _Rule, sensor: str, subject: str, ts: int, signal: float, out: list[Condition],
                   changed: set[str]) -> None:
        """One sensor's new signal (its value, rate, sum or detection measure) into its subject's
        band: directly for a sensor subject, through the area's aggregate for an area subject."""
        if not rule.by_area:
            if (rule.id, subject) not in self._inhibited:
                self._step_band(rule, subject, ts, signal, out, changed)
            return
        members = self._member_values.get((rule.id, subject))
        if members is None:
            members = self._member_values[(rule.id, subject)] = {}
        members[sensor] = (self._data_ts.get(sensor, ts), signal)
        self._evaluate_area(rule, subject, ts, out, changed)

    def _aggregate(self, rule: _Rule, members: Mapping[str, tuple[int, float]]) -> float:
        aggregate = rule.aggregate
        if aggregate == "mean":
            return sum(signal for _, signal in members.values()) / len(members)
        if aggregate == "sum":
            return sum(signal for _, signal in members.values())
        assert rule.band is not None
        if rule.band.sign > 0:
            return max(signal for _, signal in members.values())
        return min(signal for _, signal in members.values())

    def _evaluate_area(self, rule: _Rule, area: str, ts: int, out: list[Condition], changed: set[str]) -> None:
        if (rule.id, area) in self._inhibited:
            return
        # A silent member keeps its last value: the area may escalate on the others' data but is
        # not cleared for want of the silent one's.
        members = self._member_values.get((rule.id, area))
        if not members:
            return
        self._step_band(rule, area, ts, self._aggregate(rule, members), out, changed)

    def _step_band(self, rule: _Rule, subject: str, ts: int, value: float, out: list[Condition],
                   changed: set[str]) -> None:
        band = rule.band
        assert band is not None
        key = (rule.id, subject)
        before = self._bands.get(key, _EMPTY_BAND)
        if before.last_ts_ms is not None and ts < before.last_ts_ms:
            ts = before.last_ts_ms  # a tick ran ahead of a reading's own time
        after = threshold.step_band(band, before, ts, value)
        self._bands[key] = after
        if after.level == before.level:
            return
        level = threshold.level_name(band, after.level)
        evidence = self._value_evidence(rule, subject, ts, value)
        evidence.update(self._band_evidence(rule, band, before.level, after.level, value))
        self._emit(rule, subject, level, ts, evidence, out, changed)

    def _value_evidence(self, rule: _Rule, subject: str, ts: int, value: float) -> dict[str, Any]:
        """What a level change of a banded rule rests on: the value, the sensors' values and
        their age; built only when the level changes."""
        evidence: dict[str, Any] = {"value": _number(value)}
        if rule.by_area:
            members = self._member_values.get((rule.id, subject), {})
            age_s = max(((ts - data_ts) / 1000 for data_ts, _ in members.values()), default=0.0)
            evidence.update({
                "aggregate": rule.aggregate,
                "values": {s: _number(signal) for s, (_, signal) in sorted(members.items())},
                "data_age_s": round(max(0.0, age_s), 3), "sensors": sorted(members),
            })
            silent = sorted(s for s in members if s in self._stale_sensors)
            if silent:
                evidence["silent"] = silent
        else:
            data_ts = self._data_ts.get(subject, ts)
            evidence.update({"data_age_s": round(max(0.0, (ts - data_ts) / 1000), 3), "sensors": [subject]})
            if rule.kind == "accumulation":
                state = self._signals.get((rule.id, subject))
                if state is not None:
                    evidence["unplaced_mm"] = _number(state.unplaced_mm)
        window_s = getattr(rule.config, "window_s", None)
        if window_s is not None and rule.kind in ("rate", "accumulation") or (
                rule.kind == "detection" and rule.config.measure == "count"):
            evidence["window_s"] = window_s
        return evidence

    def _band_evidence(self, rule: _Rule, band: threshold.Band, before: int, after: int,
                       value: float) -> dict[str, Any]:
        config = rule.config
        thresholds = threshold.band_levels(band)
        clear = threshold.band_clear(band)
        if rule.kind == "threshold":
            label = config.field
        elif rule.kind == "rate":
            label = f"{config.field} {config.direction} over {_window_text(config.window_s)}"
        elif rule.kind == "accumulation":
            label = f"rain over {_window_text(config.window_s)} (mm)"
        elif config.measure == "count":
            label = f"{config.field} ≥ {config.at_least:g} detections within {_window_text(config.window_s)}"
        else:
            label = f"{config.field} ≥ {config.at_least:g} persisting (s)"
        if after < 0:
            message = f"{label} {_show(value)}: back at clear ({clear:g})"
        elif after > before:
            name = band.names[after]
            message = f"{label} {_show(value)}: {name} reached ({thresholds[name]:g})"
        else:
            name = band.names[after]
            message = f"{label} {_show(value)}: down to {name} ({thresholds[name]:g})"
        evidence: dict[str, Any] = {"thresholds": thresholds, "clear": clear, "message": message}
        if rule.kind != "detection":
            evidence["field"] = config.field
        else:
            evidence.update({"field": config.field, "at_least": config.at_least, "measure": config.measure})
        if rule.kind == "threshold":
            evidence["direction"] = config.direction
            if config.for_s or config.count > 1:
                evidence.update({"for_s": config.for_s, "count": config.count})
        return evidence

    def _watch(self, rule: _Rule, sensor: str, ts: int, value: float, out: list[Condition], changed: set[str]) -> None:
        config: TimeToThresholdRule = rule.config
        key = (rule.id, sensor)
        if key in self._inhibited:
            return
        band = rule.band
        assert band is not None
        before = self._signals.get(key) or trend.TrendState()
        state = trend.add_sample(before, ts, value, rule.window_ms)
        state, fit, reached, expected = trend.step_watch(
            band, state, min_samples=config.min_samples, horizon_s=config.horizon_s,
            clear_horizon_s=config.effective_clear_horizon_s, min_rate_per_s=config.min_rate_per_h / 3600,
        )
        self._signals[key] = state
        old_name = self._watch_name(config, band, before.level)
        new_name = self._watch_name(config, band, state.level)
        if old_name == new_name:
            return
        evidence: dict[str, Any] = {"field": config.field, "value": _number(value), "data_age_s": 0.0,
                                    "sensors": [sensor], "thresholds": threshold.band_levels(band),
                                    "horizon_s": config.horizon_s}
        if fit is not None:
            evidence.update({"trend_per_h": _number(fit.slope_per_s * 3600), "fitted_value": _number(fit.value),
                             "samples": fit.samples})
        if state.level >= 0:
            target = band.names[state.level]
            evidence["forecast_level"] = target
            forecast = expected.get(state.level)
            if forecast is not None:
                minutes = max(1, round(forecast.plus_minus_s / 60))
                local = datetime.fromtimestamp(forecast.eta_ms / 1000, tz=self._zone)
                today = datetime.fromtimestamp(ts / 1000, tz=self._zone).date()
                when = local.strftime("%H:%M") if local.date() == today else local.strftime("%d.%m. %H:%M")
                evidence.update({
                    "eta": _iso(forecast.eta_ms), "eta_local": local.isoformat(timespec="minutes"),
                    "plus_minus_min": minutes,
                    "message": f"{target} expected at {when} ± {minutes} min",
                })
            else:
                evidence["message"] = f"{target} reached ({config.field} {_show(value)})"
        else:
            evidence["message"] = f"no level expected within {_window_text(config.effective_clear_horizon_s)}"
        self._emit(rule, sensor, new_name, ts, evidence, out, changed)

    @staticmethod
    def _watch_name(config: TimeToThresholdRule, band: threshold.Band, level: int) -> str | None:
        if level < 0:
            return None
        return config.watch_level or band.names[level]

    # -- time ---------------------------------------------------------------------------------------

    def _arm(self, now_ms: int) -> None:
        if self._armed_ms is not None:
            return
        self._armed_ms = now_ms
        for sensor, stale_rules in self._stale_of.items():
            for rule in stale_rules:
                start = self._heard.get(sensor, now_ms)
                self._schedule(start + self._stale_after_ms(rule, sensor), ("stale", rule.id, sensor))

    def _stale_after_ms(self, rule: _Rule, sensor: str) -> int:
        after = self._stale_after.get((rule.id, sensor))
        if after is None:
            config: StaleRule = rule.config
            after = stale.stale_after_ms(self._specs[sensor].interval_s, config.after_intervals, config.after_s)
            self._stale_after[(rule.id, sensor)] = after
        return after

    def _schedule(self, due_ms: int, key: tuple[str, ...]) -> None:
        pending = self._scheduled.get(key)
        if pending is not None and pending <= due_ms:
            return  # an earlier check is pending; it reschedules itself when it finds nothing due
        self._scheduled[key] = due_ms
        heapq.heappush(self._heap, (due_ms, key))

    def _check_stale(self, rule: _Rule, sensor: str, due: int, out: list[Condition], changed: set[str]) -> None:
        after_ms = self._stale_after_ms(rule, sensor)
        heard = self._heard.get(sensor, self._armed_ms if self._armed_ms is not None else due)
        if not stale.is_stale(heard, due, after_ms):
            self._schedule(heard + after_ms, ("stale", rule.id, sensor))
            return
        record = self._records[rule.id].get(sensor)
        if record is not None and record.level is not None:
            return
        config: StaleRule = rule.config
        spec = self._specs[sensor]
        data_ts = self._data_ts.get(sensor)
        silent_s = (due - heard) / 1000
        evidence = {
            "last_data": _iso(data_ts) if data_ts is not None else None,
            "silent_s": silent_s, "after_s": after_ms / 1000, "interval_s": spec.interval_s,
            "data_age_s": (due - data_ts) / 1000 if data_ts is not None else None, "sensors": [sensor],
            "message": (f"no data from {sensor} for {_window_text(silent_s)} (expected every "
                        f"{_window_text(spec.interval_s)})" if data_ts is not None
                        else f"no data from {sensor} since the hub started {_window_text(silent_s)} ago"),
        }
        self._emit(rule, sensor, "info", due, evidence, out, changed)
        if config.inhibit:
            self._hold(sensor, rule.id, due, out, changed)

    def _hold(self, sensor: str, stale_rule: str, ts: int, out: list[Condition], changed: set[str]) -> None:
        holders = self._stale_sensors.setdefault(sensor, set())
        newly = not holders
        holders.add(stale_rule)
        if not newly:
            return
        for rule, subject in self._held_by.get(sensor, ()):
            key = (rule.id, subject)
            if key in self._inhibited:
                continue
            if rule.by_area and any(m not in self._stale_sensors for m in rule.members[subject]):
                continue
            self._inhibited.add(key)
            active = self._active.get(key)
            if active is not None:
                evidence = {**active.evidence, "inhibited_by": stale_rule, "held": f"{sensor} is silent"}
                self._emit(rule, subject, active.level, max(ts, active.ts_ms), evidence, out, changed,
                           inhibited=True)

    def _data_returned(self, sensor: str, stale_rules: list[_Rule], ts: int, out: list[Condition],
                       changed: set[str]) -> None:
        for rule in stale_rules:
            record = self._records[rule.id].get(sensor)
            if record is not None and record.level is not None:
                at = max(ts, record.changed_ms or ts)
                self._emit(rule, sensor, None, at, {"sensors": [sensor], "data_age_s": 0.0,
                                                    "message": f"data from {sensor} again"}, out, changed)
        if self._stale_sensors.pop(sensor, None) is None:
            return
        for rule, subject in self._held_by.get(sensor, ()):
            key = (rule.id, subject)
            if key not in self._inhibited:
                continue
            self._inhibited.discard(key)
            band_state = self._bands.get(key)
            if band_state is not None:
                self._bands[key] = threshold.reset_runs(band_state)
            active = self._active.get(key)
            if active is not None:
                evidence = {k: v for k, v in active.evidence.items() if k not in ("inhibited_by", "held")}
                self._emit(rule, subject, active.level, max(ts, active.ts_ms), evidence, out, changed)

    def _decay(self, rule: _Rule, sensor: str, due: int, out: list[Condition], changed: set[str]) -> None:
        key = (rule.id, sensor)
        state = self._signals.get(key)
        if state is None:
            return
        subject = rule.subject_of[sensor]
        if (rule.id, subject) in self._inhibited or sensor in self._stale_sensors:
            # Windows stop while the sensor is silent; they go on when data returns.
            return
        if rule.kind == "accumulation":
            state = accumulation.age_out(state, due, rule.window_ms)
            signal = accumulation.window_sum(state, due, rule.window_ms)
        else:
            state = detection.age_out(state, due, rule.window_ms, rule.extra_ms)
            signal = self._detection_measure(rule, state, due)
        self._signals[key] = state
        self._schedule_decay(rule, sensor, state)
        if rule.by_area:
            self._member_values.setdefault((rule.id, subject), {})[sensor] = (self._data_ts.get(sensor, due), signal)
            self._evaluate_area(rule, subject, due, out, changed)
        else:
            self._step_band(rule, subject, due, signal, out, changed)

    # -- composites and corroboration -----------------------------------------------------------------

    def _propagate(self, changed: set[str], ts: int, out: list[Condition], force: str | None = None) -> None:
        for rule in self._composites:
            config: CompositeRule = rule.config
            if rule.id == force or any(member.rule in changed for member in config.members):
                self._evaluate_composite(rule, ts, out, changed)
        for rule in self._corroborated:
            if rule.id == force or rule.id in changed or any(r in changed for r in rule.config.corroboration.rules):
                self._recheck_confidence(rule, ts, out, changed)

    def _evaluate_composite(self, rule: _Rule, ts: int, out: list[Condition], changed: set[str]) -> None:
        config: CompositeRule = rule.config
        within_ms = rule.extra_ms
        member_evidence: list[dict[str, Any]] = []
        results: list[bool] = []
        next_expiry: int | None = None
        for member in config.members:
            member_holds = False
            for subject, record in self._records.get(member.rule, {}).items():
                if member.subjects is not None and subject not in member.subjects:
                    continue
                member_rule = self._rules[member.rule]
                if member.areas is not None and member_rule.area_of.get(subject) not in member.areas:
                    continue
                if composite.holds(record, member.level, ts, within_ms):
                    member_holds = True
                    active = self._active.get((member.rule, subject))
                    member_evidence.append({
                        "rule": member.rule, "subject": subject, "area": member_rule.area_of.get(subject),
                        "level": record.level, "ts_ms": record.changed_ms,
                        "message": active.evidence.get("message") if active is not None else "within grace",
                    })
                    expiry = composite.expires_ms(record, member.level, within_ms)
                    if expiry is not None:
                        next_expiry = expiry if next_expiry is None else min(next_expiry, expiry)
            results.append(member_holds)
        member_evidence.sort(key=lambda m: (m["rule"], m["subject"]))
        level = config.level if composite.combine(config.mode, results) else None
        if next_expiry is not None:
            self._schedule(next_expiry, ("recheck", rule.id))
        record = self._records[rule.id].get(config.area, _EMPTY_RECORD)
        if record.level == level:
            return
        sensors = sorted({s for m in member_evidence for s in self._sensors_of(m["rule"], m["subject"])})
        holding = sum(results)
        evidence = {
            "mode": config.mode, "members": member_evidence, "members_holding": holding,
            "members_total": len(results), "within_s": config.within_s, "sensors": sensors, "data_age_s": 0.0,
            "message": (f"{rule.id}: {holding} of {len(results)} conditions hold ({config.mode} needed)"),
        }
        self._emit(rule, config.area, level, ts, evidence, out, changed)

    def _sensors_of(self, rule_id: str, subject: str) -> tuple[str, ...]:
        rule = self._rules.get(rule_id)
        if rule is None:
            return ()
        if rule.kind == "composite":
            active = self._active.get((rule_id, subject))
            return tuple(active.evidence.get("sensors", ())) if active is not None else ()
        return rule.members.get(subject, ())

    def _confidence(self, rule: _Rule, subject: str, level: str, ts: int) -> tuple[str, list[dict[str, Any]]]:
        config = rule.config.corroboration
        area = rule.area_of.get(subject)
        agreeing: list[dict[str, Any]] = []
        next_expiry: int | None = None
        for other_id in config.rules:
            other = self._rules.get(other_id)
            if other is None:
                continue
            for other_subject, record in self._records.get(other_id, {}).items():
                if config.same_area and other.area_of.get(other_subject) != area:
                    continue
                if other_subject == subject and other_id == rule.id:
                    continue
                needed = config.level or level
                if composite.holds(record, needed, ts, rule.extra_ms):
                    agreeing.append({"rule": other_id, "subject": other_subject, "level": record.level,
                                     "ts_ms": record.changed_ms})
                    expiry = composite.expires_ms(record, needed, rule.extra_ms)
                    if expiry is not None:
                        next_expiry = expiry if next_expiry is None else min(next_expiry, expiry)
        if next_expiry is not None:
            self._schedule(next_expiry, ("recheck", rule.id))
        agreeing.sort(key=lambda a: (a["rule"], a["subject"]))
        return ("corroborated" if agreeing else "single_source"), agreeing

    def _recheck_confidence(self, rule: _Rule, ts: int, out: list[Condition], changed: set[str]) -> None:
        for (rule_id, subject), active in sorted(self._active.items()):
            if rule_id != rule.id:
                continue
            confidence, agreeing = self._confidence(rule, subject, active.level, ts)
            if confidence == active.evidence.get("confidence"):
                continue
            evidence = {**active.evidence, "confidence": confidence, "corroborated_by": agreeing}
            self._emit(rule, subject, active.level, max(ts, active.ts_ms), evidence, out, changed,
                       inhibited=active.inhibited, confidence_known=True)

    # -- emission -----------------------------------------------------------------------------------

    def _emit(self, rule: _Rule, subject: str, level: str | None, ts: int, evidence: dict[str, Any],
              out: list[Condition], changed: set[str], *, inhibited: bool = False,
              confidence_known: bool = False) -> None:
        config = rule.config
        key = (rule.id, subject)
        if level is not None and getattr(config, "corroboration", None) is not None and not confidence_known:
            confidence, agreeing = self._confidence(rule, subject, level, ts)
            evidence["confidence"] = confidence
            evidence["corroborated_by"] = agreeing
        records = self._records[rule.id]
        record = records.get(subject, _EMPTY_RECORD)
        if record.level != level:
            records[subject] = composite.record_level(record, level, ts)
            changed.add(rule.id)
        condition = Condition(
            rule=rule.id, rule_version=rule.version, subject=subject, area=rule.area_of.get(subject, subject),
            level=level, audience=config.audience, hazard=config.hazard, ts_ms=ts, evidence=evidence,
            inhibited=inhibited,
        )
        if level is None:
            self._active.pop(key, None)
        else:
            self._active[key] = condition
        out.append(condition)

    # -- state --------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The engine's state as JSON-ready data: per rule its version, per (rule, sensor) the
        newest reading time and the detector's state (windows, pending runs), per subject the
        level state and the last condition; the clock and when each sensor was last heard."""
        rules: dict[str, Any] = {}
        for rule_id, rule in self._rules.items():
            sensors: dict[str, Any] = {}
            for sensor in rule.sensors:
                entry: dict[str, Any] = {}
                if (rule_id, sensor) in self._last_ts:
                    entry["last_ts"] = self._last_ts[(rule_id, sensor)]
                if (rule_id, sensor) in self._signals:
                    entry["signal"] = _dump(self._signals[(rule_id, sensor)])
                if entry:
                    sensors[sensor] = entry
            subjects: dict[str, Any] = {}
            for subject in {*rule.members, *self._records[rule_id]}:
                key = (rule_id, subject)
                entry = {}
                if key in self._bands:
                    entry["band"] = _dump(self._bands[key])
                if subject in self._records[rule_id]:
                    entry["record"] = _dump(self._records[rule_id][subject])
                if key in self._active:
                    entry["condition"] = _condition_json(self._active[key])
                if key in self._member_values:
                    entry["members"] = {s: list(v) for s, v in self._member_values[key].items()}
                if key in self._inhibited:
                    entry["inhibited"] = True
                if entry:
                    subjects[subject] = entry
            rules[rule_id] = {"version": rule.version, "sensors": sensors, "subjects": dict(sorted(subjects.items()))}
        return {
            "format": SNAPSHOT_FORMAT,
            "clock_ms": self._clock_ms,
            "armed_ms": self._armed_ms,
            "heard_ms": dict(self._heard),
            "data_ms": dict(self._data_ts),
            "stale_sensors": {sensor: sorted(holders) for sensor, holders in self._stale_sensors.items()},
            "rules": rules,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back the state of a `snapshot()`. Rules whose version changed (or that are gone)
        start afresh; their conditions that were active are listed by `discarded_conditions()`.
        Raises ValueError on a snapshot of another format."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not a rule engine snapshot of format {SNAPSHOT_FORMAT}: {snapshot.get('format')!r}")
        self._reset_state()
        self._clock_ms = snapshot.get("clock_ms")
        self._armed_ms = snapshot.get("armed_ms")
        self._heard = {s: t for s, t in snapshot.get("heard_ms", {}).items() if s in self._specs}
        self._data_ts = {s: t for s, t in snapshot.get("data_ms", {}).items() if s in self._specs}
        kept: set[str] = set()
        for rule_id, saved in snapshot.get("rules", {}).items():
            rule = self._rules.get(rule_id)
            if rule is None or saved.get("version") != rule.version:
                for subject, entry in saved.get("subjects", {}).items():
                    if "condition" in entry:
                        old = _condition_from_json(entry["condition"])
                        self._discarded.append(dataclasses.replace(
                            old, level=None, inhibited=False, ts_ms=self._clock_ms or old.ts_ms,
                            evidence={"message": f"rule {rule_id} changed or removed: its state was discarded",
                                      "sensors": list(old.evidence.get("sensors", []))},
                        ))
                logger.info("rule %s changed or was removed: its saved state is discarded", rule_id)
                continue
            kept.add(rule_id)
            self._restore_rule(rule, saved)
        for sensor, holders in snapshot.get("stale_sensors", {}).items():
            live = {h for h in holders if h in kept}
            if live and sensor in self._specs:
                self._stale_sensors[sensor] = live
        self._reschedule()

    def _restore_rule(self, rule: _Rule, saved: Mapping[str, Any]) -> None:
        signal_type = _SIGNAL_STATES.get(rule.kind)
        for sensor, entry in saved.get("sensors", {}).items():
            if sensor not in rule.subject_of:
                continue
            if "last_ts" in entry:
                self._last_ts[(rule.id, sensor)] = entry["last_ts"]
            if "signal" in entry and signal_type is not None:
                self._signals[(rule.id, sensor)] = _load(signal_type, entry["signal"])
        valid_subjects = set(rule.members) | ({rule.config.area} if rule.kind == "composite" else set())
        for subject, entry in saved.get("subjects", {}).items():
            if subject not in valid_subjects:
                continue
            key = (rule.id, subject)
            if "band" in entry:
                self._bands[key] = _load(threshold.BandState, entry["band"])
            if "record" in entry:
                self._records[rule.id][subject] = _load(composite.LevelRecord, entry["record"])
            if "condition" in entry:
                self._active[key] = _condition_from_json(entry["condition"])
            if "members" in entry:
                self._member_values[key] = {
                    s: (int(v[0]), float(v[1])) for s, v in entry["members"].items() if s in rule.subject_of
                }
            if entry.get("inhibited"):
                self._inhibited.add(key)

    def _reschedule(self) -> None:
        if self._armed_ms is not None:
            armed, self._armed_ms = self._armed_ms, None
            self._arm(armed)
            self._armed_ms = armed
        for (rule_id, sensor), state in self._signals.items():
            rule = self._rules[rule_id]
            if rule.kind in ("accumulation", "detection"):
                self._schedule_decay(rule, sensor, state)
        at = self._clock_ms if self._clock_ms is not None else 0
        for rule in [*self._composites, *self._corroborated]:
            self._schedule(at, ("recheck", rule.id))

    def discarded_conditions(self) -> list[Condition]:
        """Clearing conditions (level None) for the (rule, subject)s that were active in the last
        restored snapshot under a rule version that no longer exists: the alarm manager may close
        their alarms, since no state carries them on."""
        return list(self._discarded)


def _condition_json(condition: Condition) -> dict[str, Any]:
    return {
        "rule": condition.rule, "rule_version": condition.rule_version, "subject": condition.subject,
        "area": condition.area, "level": condition.level, "audience": condition.audience,
        "hazard": condition.hazard, "ts_ms": condition.ts_ms, "evidence": dict(condition.evidence),
        "inhibited": condition.inhibited,
    }


def _condition_from_json(data: Mapping[str, Any]) -> Condition:
    return Condition(**data)


def conditions_by_subject(conditions: Iterable[Condition]) -> dict[tuple[str, str], list[Condition]]:
    """Conditions grouped by (rule, subject), in their order (for reports and tests)."""
    grouped: dict[tuple[str, str], list[Condition]] = {}
    for condition in conditions:
        grouped.setdefault((condition.rule, condition.subject), []).append(condition)
    return grouped
