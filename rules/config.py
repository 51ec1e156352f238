"""Config of alarm rules: one pydantic model per rule kind (threshold, rate, accumulation,
time_to_threshold, stale, flatline, composite, detection), the discriminated union `RuleConfig`
that `hub.config.SiteConfig.rules` holds, the sensor selector, and `check_rules`, the checks that
span the rules and the sensors (unknown sensors and areas, fields a sensor lacks, references to
rules that do not exist, composites that refer to themselves through others).

Value rules compare a number to levels `yellow < orange < red` (the European colour code of
Meteoalarm and Bulgaria's NIMH); the order of the numbers follows the rule's direction, and the
clear level lies on the safe side of the lowest level, so that a signal hovering at a level does
not raise and clear the alarm on every reading. Technical rules (stale, flatline) are level
`info` for staff only."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from hub.configbase import ConfigIssue, StrictModel
from hub.sensors import SensorSpec
from hub.types import SENSOR_KINDS

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
VALUE_LEVELS: tuple[str, ...] = ("yellow", "orange", "red")

ValueLevel = Literal["yellow", "orange", "red"]
AnyLevel = Literal["info", "yellow", "orange", "red"]
Hazard = Literal[
    "flood", "dam", "rain", "earthquake", "fire", "traffic", "parking", "crowd", "weather", "landslide", "technical"
]
RuleKind = Literal[
    "threshold", "rate", "accumulation", "time_to_threshold", "stale", "flatline", "composite", "detection"
]
SensorKindName = Literal[
    "river", "dam", "rain", "seismic", "camera_water", "fire", "traffic", "parking", "pedestrians", "weather",
    "camera",
]
assert set(SensorKindName.__args__) == set(SENSOR_KINDS)  # type: ignore[attr-defined]

#: Fields that carry a running total (a tipping bucket's counter) rather than an increment.
COUNTER_FIELDS = frozenset(("total_mm", "tips"))


class Selector(StrictModel):
    """Which sensors a rule watches. A sensor matches when it matches every criterion given:
    `{kinds: [river], tags: {river: eninska}}` is every Eninska river gauge."""

    sensors: list[str] | None = Field(None, min_length=1, description="Sensor ids.")
    kinds: list[SensorKindName] | None = Field(None, min_length=1, description="Sensor kinds (river, rain, ...).")
    areas: list[str] | None = Field(None, min_length=1, description="Area ids the sensor must belong to.")
    tags: dict[str, str] | None = Field(None, min_length=1, description="Tags the sensor must carry, all of them.")

    @model_validator(mode="after")
    def _some_criterion(self) -> Selector:
        if self.sensors is None and self.kinds is None and self.areas is None and self.tags is None:
            raise ValueError("select needs at least one of sensors, kinds, areas, tags")
        return self

    def matches(self, spec: SensorSpec) -> bool:
        """True when `spec` meets every criterion given."""
        if self.sensors is not None and spec.id not in self.sensors:
            return False
        if self.kinds is not None and spec.kind not in self.kinds:
            return False
        if self.areas is not None and spec.area not in self.areas:
            return False
        if self.tags is not None and any(spec.tags.get(key) != value for key, value in self.tags.items()):
            return False
        return True


class Levels(StrictModel):
    """The value at which each colour is reached, in the unit of the rule's measure. At least one;
    a level left out is skipped (e.g. only `orange` and `red`)."""

    yellow: float | None = Field(None, description="Value at which the yellow level is reached.")
    orange: float | None = Field(None, description="Value at which the orange level is reached.")
    red: float | None = Field(None, description="Value at which the red level is reached.")

    @model_validator(mode="after")
    def _at_least_one(self) -> Levels:
        if self.yellow is None and self.orange is None and self.red is None:
            raise ValueError("give at least one of yellow, orange, red")
        return self

    def items(self) -> tuple[tuple[str, float], ...]:
        """(level, value) of the levels given, from yellow to red."""
        return tuple((name, value) for name in VALUE_LEVELS if (value := getattr(self, name)) is not None)


def _check_order(levels: Levels, rising: bool, what: str) -> Levels:
    items = levels.items()
    for (low_name, low), (high_name, high) in zip(items, items[1:], strict=False):
        if (high <= low) if rising else (high >= low):
            relation = "above" if rising else "below"
            raise ValueError(
                f"{high_name} ({high:g}) must lie {relation} {low_name} ({low:g}) for {what}: "
                f"levels get worse from yellow to red"
            )
    return levels


def _check_clear(clear: float, levels: Levels | None, rising: bool, what: str) -> float:
    if levels is None:  # the levels had their own error
        return clear
    name, lowest = levels.items()[0]
    if (clear >= lowest) if rising else (clear <= lowest):
        side = "below" if rising else "above"
        raise ValueError(
            f"clear ({clear:g}) must lie {side} the lowest level ({name} {lowest:g}) for {what}, "
            "so that a value hovering at the level does not raise and clear on every reading"
        )
    return clear


class Corroboration(StrictModel):
    """Raise the confidence of a level alarm when an independent source agrees. The alarm keeps
    its level; its evidence says `confidence: corroborated` (or `single_source`) and names the
    agreeing conditions, and the engine re-emits the condition when the confidence changes."""

    rules: list[str] = Field(min_length=1, description="Ids of rules over independent sources (e.g. a camera's level).")
    within_s: float = Field(900.0, ge=0, description="An agreeing condition counts for this long after it ended, in s.")
    same_area: bool = Field(True, description="Only agreeing conditions whose area is the alarm's own count.")
    level: ValueLevel | None = Field(
        None, description="Level the agreeing condition must reach; none = at least the alarm's own level."
    )


class _RuleBase(StrictModel):
    id: str = Field(pattern=RULE_ID_PATTERN, max_length=63, description="Rule id: alarms and audit name it.")
    hazard: Hazard = Field(description="What the rule warns of (flood, rain, fire, earthquake, technical, ...).")
    audience: Literal["staff", "public"] = Field(
        "staff", description="Who is warned: staff only, or also the public of the affected area (SMS, CAP)."
    )
    description: str | None = Field(None, description="What the rule is for, for people reading the config.")


class _SelectingRule(_RuleBase):
    select: Selector = Field(description="The sensors the rule watches.")
    subject: Literal["sensor", "area"] = Field(
        "sensor", description="One alarm per sensor, or one per area over its selected sensors."
    )


class ThresholdRule(_SelectingRule):
    """A value above (or below) levels, with a separate clear level, and optionally a minimum
    duration and a count of consecutive readings before a level is raised ("above 320 cm for
    10 minutes"). Escalates and de-escalates the same alarm in place."""

    kind: Literal["threshold"] = Field(description="Rule kind.")
    field: str = Field(description="Field compared, e.g. level_cm.")
    direction: Literal["above", "below"] = Field("above", description="Danger lies above or below the levels.")
    levels: Levels = Field(description="Value of each level, in the field's unit.")
    clear: float = Field(description="The alarm clears when the value is back at this (safe side of the lowest level).")
    for_s: float = Field(0.0, ge=0, description="A level must hold this long (first to latest reading) to be raised, s.")
    count: int = Field(1, ge=1, description="A level must hold for this many consecutive readings to be raised.")
    clear_for_s: float = Field(0.0, ge=0, description="A lower level must hold this long before de-escalating, s.")
    aggregate: Literal["worst", "mean"] = Field(
        "worst", description="Area subject: the worst (max above, min below) or the mean of the sensors' values."
    )
    corroboration: Corroboration | None = Field(None, description="Independent sources that raise the confidence.")

    @field_validator("levels")
    @classmethod
    def _ordered(cls, levels: Levels, info: ValidationInfo) -> Levels:
        direction = info.data.get("direction", "above")
        return _check_order(levels, direction == "above", f"direction {direction!r}")

    @field_validator("clear")
    @classmethod
    def _safe_side(cls, clear: float, info: ValidationInfo) -> float:
        direction = info.data.get("direction", "above")
        return _check_clear(clear, info.data.get("levels"), direction == "above", f"direction {direction!r}")


class RateRule(_SelectingRule):
    """A rise (or fall) of a value over a window (cm per 15 min, cm per hour), robust to a single
    spike: each end of the window is the median of three readings (see `rules.rate`)."""

    kind: Literal["rate"] = Field(description="Rule kind.")
    field: str = Field(description="Field whose change is measured, e.g. level_cm.")
    direction: Literal["rise", "fall"] = Field("rise", description="Warn of a rise or of a fall.")
    window_s: float = Field(gt=0, description="Window the change is measured over, in seconds (900, 3600).")
    levels: Levels = Field(description="Change over the window (a positive amount, in the field's unit) per level.")
    clear: float = Field(description="The alarm clears when the change over the window is back at this.")
    min_samples: int = Field(4, ge=4, description="Readings the window must hold before a rate is computed.")
    for_s: float = Field(0.0, ge=0, description="A level must hold this long to be raised, s.")
    count: int = Field(1, ge=1, description="A level must hold for this many consecutive readings to be raised.")
    clear_for_s: float = Field(0.0, ge=0, description="A lower level must hold this long before de-escalating, s.")
    aggregate: Literal["worst", "mean"] = Field("worst", description="Area subject: the fastest or the mean change.")
    corroboration: Corroboration | None = Field(None, description="Independent sources that raise the confidence.")

    @field_validator("levels")
    @classmethod
    def _ordered(cls, levels: Levels) -> Levels:
        if any(value <= 0 for _, value in levels.items()):
            raise ValueError("rate levels are amounts of change and must be positive (direction says rise or fall)")
        return _check_order(levels, True, "a rate")

    @field_validator("clear")
    @classmethod
    def _safe_side(cls, clear: float, info: ValidationInfo) -> float:
        return _check_clear(clear, info.data.get("levels"), True, "a rate")


class AccumulationRule(_SelectingRule):
    """Rain summed over a rolling window (1, 3, 6, 24 h) against levels in mm. Reads increments
    (`mm` since the last reading) or a tipping bucket's running total (`total_mm`, `tips`), whose
    decrease is a counter reset."""

    kind: Literal["accumulation"] = Field(description="Rule kind.")
    field: str = Field(description="Field summed: mm (increments) or total_mm / tips (a running counter).")
    input: Literal["increment", "counter"] | None = Field(
        None, description="How the field reads; none = counter for total_mm and tips, increment otherwise."
    )
    scale: float = Field(1.0, gt=0, description="mm per unit of the field (e.g. 0.2 for tips of a 0.2 mm bucket).")
    window_s: float = Field(gt=0, description="Length of the rolling window, in seconds (3600, 10800, 86400).")
    levels: Levels = Field(description="Sum over the window per level, in mm.")
    clear: float = Field(description="The alarm clears when the sum over the window is back at this, in mm.")
    aggregate: Literal["worst", "mean"] = Field("worst", description="Area subject: the largest or the mean sum.")
    corroboration: Corroboration | None = Field(None, description="Independent sources that raise the confidence.")

    @field_validator("levels")
    @classmethod
    def _ordered(cls, levels: Levels) -> Levels:
        if any(value <= 0 for _, value in levels.items()):
            raise ValueError("accumulation levels are amounts of rain and must be positive")
        return _check_order(levels, True, "an accumulation")

    @field_validator("clear")
    @classmethod
    def _safe_side(cls, clear: float, info: ValidationInfo) -> float:
        if clear < 0:
            raise ValueError("clear must not be negative: a sum of rain is never below 0")
        return _check_clear(clear, info.data.get("levels"), True, "an accumulation")

    @property
    def is_counter(self) -> bool:
        """True when the field is a running total read by differences."""
        return self.input == "counter" if self.input is not None else self.field in COUNTER_FIELDS


class TimeToThresholdRule(_SelectingRule):
    """A watch raised before a level is crossed: a straight line through the recent readings says
    when the next level will be reached ("orange expected at 14:20 ± 15 min"). The watch is at the
    level forecast within the horizon (or at `watch_level`), holds while that level is reached, and
    clears when no level is expected within `clear_horizon_s`."""

    kind: Literal["time_to_threshold"] = Field(description="Rule kind.")
    subject: Literal["sensor"] = Field("sensor", description="Forecasts are per sensor.")
    field: str = Field(description="Field forecast, e.g. level_cm.")
    direction: Literal["above", "below"] = Field("above", description="Danger lies above or below the levels.")
    levels: Levels = Field(description="Value of each level, in the field's unit (usually the threshold rule's).")
    window_s: float = Field(1800.0, gt=0, description="Readings of this recent span make the trend, in seconds.")
    horizon_s: float = Field(3600.0, gt=0, description="A watch is raised when a level is expected within this, s.")
    clear_horizon_s: float | None = Field(
        None, gt=0, description="The watch clears when nothing is expected within this (default 1.5 × horizon), s."
    )
    min_samples: int = Field(5, ge=3, description="Readings the trend needs.")
    min_rate_per_h: float = Field(0.0, ge=0, description="Slower trends forecast nothing, in field unit per hour.")
    watch_level: ValueLevel | None = Field(
        None, description="Level of the watch; none = the level that is forecast (an orange forecast, an orange watch)."
    )

    @field_validator("levels")
    @classmethod
    def _ordered(cls, levels: Levels, info: ValidationInfo) -> Levels:
        direction = info.data.get("direction", "above")
        return _check_order(levels, direction == "above", f"direction {direction!r}")

    @model_validator(mode="after")
    def _horizons(self) -> TimeToThresholdRule:
        if self.clear_horizon_s is not None and self.clear_horizon_s < self.horizon_s:
            raise ValueError(
                f"clear_horizon_s ({self.clear_horizon_s:g}) must not be shorter than horizon_s ({self.horizon_s:g})"
            )
        return self

    @property
    def effective_clear_horizon_s(self) -> float:
        """The clear horizon with its default applied."""
        return self.clear_horizon_s if self.clear_horizon_s is not None else 1.5 * self.horizon_s


class StaleRule(_SelectingRule):
    """A sensor that sends nothing for `after_intervals` × its reporting interval (or `after_s`):
    a technical `info` alarm for staff. While it lasts, the sensor's active value alarms are held
    as they are (re-emitted as inhibited) instead of being left hanging or cleared."""

    kind: Literal["stale"] = Field(description="Rule kind.")
    hazard: Hazard = Field("technical", description="What the rule warns of.")
    audience: Literal["staff"] = Field("staff", description="Technical alarms are for staff only.")
    subject: Literal["sensor"] = Field("sensor", description="Staleness is per sensor.")
    after_intervals: float = Field(3.0, ge=1, description="Silence of this many reporting intervals is stale.")
    after_s: float | None = Field(None, gt=0, description="Silence of this many seconds is stale (overrides intervals).")
    inhibit: bool = Field(True, description="Hold the sensor's value alarms while it is stale.")


class FlatlineRule(_SelectingRule):
    """A stuck sensor: its value stays within `tolerance` for `window_s` and at least
    `min_readings` readings. A technical `info` alarm for staff; it does not inhibit (the sensor
    still talks, and a stuck gauge during a flood is for people to judge)."""

    kind: Literal["flatline"] = Field(description="Rule kind.")
    hazard: Hazard = Field("technical", description="What the rule warns of.")
    audience: Literal["staff"] = Field("staff", description="Technical alarms are for staff only.")
    subject: Literal["sensor"] = Field("sensor", description="Flatlines are per sensor.")
    field: str = Field(description="Field watched, e.g. level_cm.")
    window_s: float = Field(gt=0, description="The value must not move for this long, in seconds.")
    tolerance: float = Field(0.0, ge=0, description="Largest spread (max - min) still counted as not moving.")
    min_readings: int = Field(5, ge=2, description="Readings the still stretch must hold.")


class CompositeMember(StrictModel):
    """One condition a composite rule waits for: another rule at a level, on some of its subjects."""

    rule: str = Field(description="Id of the rule.")
    level: AnyLevel = Field("yellow", description="Lowest level of that rule that counts.")
    subjects: list[str] | None = Field(None, min_length=1, description="Only these subjects (sensor or area ids).")
    areas: list[str] | None = Field(None, min_length=1, description="Only subjects in these areas.")


class CompositeRule(_RuleBase):
    """All (or any) of other rules' conditions, across sensors and kinds, within a time window:
    "3 h rain above 40 mm in the catchment and the river rising 10 cm/h → orange flood watch for
    the downstream area". Reads the levels the engine itself emitted. One subject: `area`."""

    kind: Literal["composite"] = Field(description="Rule kind.")
    mode: Literal["all", "any"] = Field("all", description="Every member must hold, or any one.")
    members: list[CompositeMember] = Field(min_length=1, description="The conditions combined.")
    within_s: float = Field(
        0.0, ge=0, description="A member counts while at its level and this long after, in seconds."
    )
    level: ValueLevel = Field(description="Level raised while the combination holds.")
    area: str = Field(description="Area warned: the composite's subject (e.g. the downstream quarter).")


class DetectionRule(_SelectingRule):
    """Detections from cameras (fire_score) and seismic stations (stalta, pga_g): a reading whose
    field reaches `at_least` is a detection; levels apply to their count within `window_s`, or to
    how long they have persisted (a run of detections with no gap longer than `max_gap_s`)."""

    kind: Literal["detection"] = Field(description="Rule kind.")
    field: str = Field(description="Field of the detection, e.g. fire_score or stalta.")
    at_least: float = Field(description="A reading whose field reaches this is a detection.")
    measure: Literal["count", "duration_s"] = Field("count", description="Count within the window, or persistence.")
    window_s: float = Field(60.0, gt=0, description="Count: detections within this many seconds are counted.")
    max_gap_s: float = Field(60.0, gt=0, description="Persistence: a gap this long between detections ends the run.")
    levels: Levels = Field(description="Count (or seconds of persistence) per level.")
    clear: float = Field(0.0, ge=0, description="Clears when the count (or persistence) is back at this.")
    aggregate: Literal["sum", "worst"] | None = Field(
        None, description="Area subject: sum of counts (coincidence) or the worst; default sum for count, worst else."
    )
    corroboration: Corroboration | None = Field(None, description="Independent sources that raise the confidence.")

    @field_validator("levels")
    @classmethod
    def _ordered(cls, levels: Levels) -> Levels:
        if any(value <= 0 for _, value in levels.items()):
            raise ValueError("detection levels are counts or durations and must be positive")
        return _check_order(levels, True, "a detection")

    @field_validator("clear")
    @classmethod
    def _safe_side(cls, clear: float, info: ValidationInfo) -> float:
        return _check_clear(clear, info.data.get("levels"), True, "a detection")

    @property
    def effective_aggregate(self) -> str:
        """The area aggregate with its default applied."""
        return self.aggregate or ("sum" if self.measure == "count" else "worst")


_MODELS: dict[str, type[StrictModel]] = {
    "threshold": ThresholdRule,
    "rate": RateRule,
    "accumulation": AccumulationRule,
    "time_to_threshold": TimeToThresholdRule,
    "stale": StaleRule,
    "flatline": FlatlineRule,
    "composite": CompositeRule,
    "detection": DetectionRule,
}
TECHNICAL_KINDS = frozenset(("stale", "flatline"))


def _tag(kind: str) -> str:
    # The union member's tag is part of pydantic's error locations; hub.configbase drops location
    # parts with '[' in them, so errors read `rules[2].levels`, not `rules[2].threshold.levels`.
    return f"rule[{kind}]"


def _discriminate(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return _tag(kind) if kind in _MODELS else None


def _known_kind(value: Any) -> Any:
    if not isinstance(value, dict) and not isinstance(value, tuple(_MODELS.values())):
        raise ValueError("a rule is a mapping with id, kind, hazard, ...")
    if isinstance(value, dict) and value.get("kind") not in _MODELS:
        expected = ", ".join(_MODELS)
        if "kind" not in value:
            raise ValueError(f"a rule needs a kind (one of {expected})")
        raise ValueError(f"unknown rule kind {value['kind']!r} (expected one of {expected})")
    return value


RuleConfig = Annotated[
    Annotated[ThresholdRule, Tag(_tag("threshold"))]
    | Annotated[RateRule, Tag(_tag("rate"))]
    | Annotated[AccumulationRule, Tag(_tag("accumulation"))]
    | Annotated[TimeToThresholdRule, Tag(_tag("time_to_threshold"))]
    | Annotated[StaleRule, Tag(_tag("stale"))]
    | Annotated[FlatlineRule, Tag(_tag("flatline"))]
    | Annotated[CompositeRule, Tag(_tag("composite"))]
    | Annotated[DetectionRule, Tag(_tag("detection"))],
    Discriminator(_discriminate),
    BeforeValidator(_known_kind),
]
"""One rule of any kind, told apart by its `kind`."""

SelectingRule = ThresholdRule | RateRule | AccumulationRule | TimeToThresholdRule | StaleRule | FlatlineRule | DetectionRule


def rule_version(rule: StrictModel) -> str:
    """A short stable hash of the rule's whole config (defaults included): state saved under one
    version is discarded when the rule changes. 12 hex digits of SHA-256 over canonical JSON."""
    text = json.dumps(rule.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def selected_sensors(rule: StrictModel, sensors: Mapping[str, SensorSpec]) -> list[str]:
    """Ids of the sensors a rule selects, in the order of `sensors`; none for a composite."""
    select = getattr(rule, "select", None)
    if select is None:
        return []
    return [sensor_id for sensor_id, spec in sensors.items() if select.matches(spec)]


def check_rules(
    rules: Sequence[StrictModel], sensors: Mapping[str, SensorSpec], area_ids: Collection[str], prefix: str = "rules"
) -> list[ConfigIssue]:
    """Problems that span rules and sensors, as `ConfigIssue`s with paths like
    `rules[2].select.sensors[0]`: duplicate rule ids; selected sensors and areas that do not exist;
    a rule that selects no sensor; a field a selected sensor does not carry; composite members and
    corroborating rules that name no rule (or the rule itself); composites that depend on themselves."""
    issues: list[ConfigIssue] = []
    counts = Counter(rule.id for rule in rules)  # type: ignore[attr-defined]
    by_id = {rule.id: rule for rule in rules}  # type: ignore[attr-defined]
    areas = set(area_ids)
    for index, rule in enumerate(rules):
        where = f"{prefix}[{index}]"
        if counts[rule.id] > 1:  # type: ignore[attr-defined]
            issues.append(ConfigIssue(f"{where}.id", f"duplicate rule id {rule.id!r}"))  # type: ignore[attr-defined]
        select: Selector | None = getattr(rule, "select", None)
        if select is not None:
            issues.extend(_check_select(select, sensors, areas, f"{where}.select"))
            chosen = selected_sensors(rule, sensors)
            if not chosen:
                issues.append(ConfigIssue(f"{where}.select", "selects no sensor (check ids, kinds, areas and tags)"))
            field = getattr(rule, "field", None)
            if field is not None:
                lacking = [sensor_id for sensor_id in chosen if field not in sensors[sensor_id].ranges]
                if lacking:
                    spec = sensors[lacking[0]]
                    others = f" and {len(lacking) - 1} more" if len(lacking) > 1 else ""
                    issues.append(ConfigIssue(
                        f"{where}.field",
                        f"{spec.kind} sensor {spec.id!r}{others} has no field {field!r} "
                        f"(its fields: {', '.join(sorted(spec.ranges))}); narrow the selection or fix the field",
                    ))
        if isinstance(rule, CompositeRule):
            if rule.area not in areas:
                issues.append(ConfigIssue(f"{where}.area", f"unknown area {rule.area!r}"))
            for number, member in enumerate(rule.members):
                if member.rule == rule.id:
                    issues.append(ConfigIssue(f"{where}.members[{number}].rule", "a composite cannot contain itself"))
                elif member.rule not in by_id:
                    issues.append(ConfigIssue(f"{where}.members[{number}].rule", f"unknown rule {member.rule!r}"))
                for position, area in enumerate(member.areas or ()):
                    if area not in areas:
                        issues.append(ConfigIssue(f"{where}.members[{number}].areas[{position}]", f"unknown area {area!r}"))
        corroboration: Corroboration | None = getattr(rule, "corroboration", None)
        if corroboration is not None:
            for number, other in enumerate(corroboration.rules):
                if other == rule.id:  # type: ignore[attr-defined]
                    issues.append(ConfigIssue(f"{where}.corroboration.rules[{number}]",
                                              "a rule cannot corroborate itself: name an independent source"))
                elif other not in by_id:
                    issues.append(ConfigIssue(f"{where}.corroboration.rules[{number}]", f"unknown rule {other!r}"))
    for index, rule in enumerate(rules):
        if isinstance(rule, CompositeRule) and _reaches_itself(rule.id, by_id):
            issues.append(ConfigIssue(f"{prefix}[{index}].members", f"composite {rule.id!r} depends on itself"))
    return issues


def _check_select(select: Selector, sensors: Mapping[str, SensorSpec], areas: set[str], where: str) -> list[ConfigIssue]:
    issues = []
    for number, sensor_id in enumerate(select.sensors or ()):
        if sensor_id not in sensors:
            issues.append(ConfigIssue(f"{where}.sensors[{number}]", f"unknown sensor {sensor_id!r}"))
    for number, area in enumerate(select.areas or ()):
        if area not in areas:
            issues.append(ConfigIssue(f"{where}.areas[{number}]", f"unknown area {area!r}"))
    return issues


def _reaches_itself(start: str, by_id: Mapping[str, Any]) -> bool:
    seen: set[str] = set()
    stack = [member.rule for member in by_id[start].members if member.rule != start]
    while stack:
        current = stack.pop()
        if current == start:
            return True
        if current in seen or not isinstance(by_id.get(current), CompositeRule):
            continue
        seen.add(current)
        stack.extend(member.rule for member in by_id[current].members)
    return False


def composite_order(rules: Sequence[StrictModel]) -> list[str]:
    """Ids of the composite rules, each after the composites it reads (the config has no cycles)."""
    composites = {rule.id: rule for rule in rules if isinstance(rule, CompositeRule)}
    order: list[str] = []
    done: set[str] = set()

    def visit(rule_id: str) -> None:
        if rule_id in done:
            return
        done.add(rule_id)
        for member in composites[rule_id].members:
            if member.rule in composites:
                visit(member.rule)
        order.append(rule_id)

    for rule_id in composites:
        visit(rule_id)
    return order
