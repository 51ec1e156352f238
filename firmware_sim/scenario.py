"""Scenarios: a YAML timeline for the simulated devices of a site (each sensor's fields as signals
of scenario time, faults such as a gauge going silent or a value sticking), a fixed seed and a start
time so that a run is repeatable, and what must happen (alarms by rule, subject and level by a
given scenario time; citizens' messages to given areas) and what must not. Validated at load, with
every error's path and reason, and checked against the site YAML (read as plain data: this package
knows the hub only through its wire formats and its config file)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from firmware_sim.signals import Counter, SignalSpec

SCENARIO_FOLDER = Path(__file__).parent / "scenarios"

Level = Literal["info", "yellow", "orange", "red"]
LEVEL_RANK: dict[str, int] = {"info": 0, "yellow": 1, "orange": 2, "red": 3}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorScript(_Model):
    """What one sensor reports during the scenario: a signal per field, at its reporting interval."""

    fields: dict[str, SignalSpec] = Field(min_length=1, description="Field (in its unit, e.g. level_cm) → signal.")
    interval_s: float | None = Field(None, gt=0, description="Reporting interval; default: the site's interval_s.")
    decimals: int = Field(1, ge=0, le=6, description="Values are rounded to this many decimals, as a device does.")


class Fault(_Model):
    """A device fault over a span of scenario time: `silent` sends nothing; `stuck` repeats the
    value it had at `from_s`."""

    sensor: str = Field(description="Sensor id.")
    kind: Literal["silent", "stuck"] = Field(description="What goes wrong.")
    from_s: float = Field(ge=0, description="Start of the fault, scenario seconds.")
    to_s: float | None = Field(None, description="End of the fault (exclusive); none = to the end.")

    @model_validator(mode="after")
    def _ordered(self) -> Fault:
        if self.to_s is not None and self.to_s <= self.from_s:
            raise ValueError("to_s must be after from_s")
        return self

    def covers(self, t_s: float) -> bool:
        """True while the fault is in effect at scenario time t_s."""
        return t_s >= self.from_s and (self.to_s is None or t_s < self.to_s)


class SubscriberScript(_Model):
    """A citizen subscribed for the drill (registered in the hub before it starts)."""

    phone: str = Field(description="Mobile number, e.g. +359888100001.")
    areas: list[str] = Field(min_length=1, description="Area ids.")
    language: Literal["bg", "en"] = Field("bg", description="Language of the messages.")


class AlarmExpectation(_Model):
    """An alarm of `rule` on `subject` that must reach `level` (or higher) — or, with
    state `cleared`, must have cleared — by `by_s` of scenario time."""

    rule: str = Field(description="Rule id.")
    subject: str = Field(description="Sensor id or area id, as the rule's alarms are keyed.")
    level: Level | None = Field(None, description="Lowest level that satisfies this; none = any.")
    state: Literal["active", "cleared"] = Field("active", description="`active`: raised or escalated; `cleared`.")
    by_s: float = Field(gt=0, description="Latest scenario time, seconds from the start.")

    @model_validator(mode="after")
    def _level_for_active(self) -> AlarmExpectation:
        if self.state == "active" and self.level is None:
            raise ValueError("an active expectation needs a level")
        return self


class ForbiddenAlarm(_Model):
    """An alarm that must not happen: `rule` (on `subject`, when given) at `level` or higher."""

    rule: str = Field(description="Rule id.")
    subject: str | None = Field(None, description="Sensor or area id; none = any subject.")
    level: Level = Field("info", description="Lowest level that counts as a failure.")


class MessageExpectation(_Model):
    """Citizens' SMS that must have been queued for an area."""

    area: str = Field(description="Area id.")
    kind: Literal["warning", "all_clear"] = Field(description="Warning or all-clear.")
    at_least: int = Field(1, ge=1, description="Fewest messages.")


class Expectations(_Model):
    """What the drill checks at the end."""

    alarms: list[AlarmExpectation] = Field(default_factory=list, description="Alarms that must happen.")
    messages: list[MessageExpectation] = Field(default_factory=list, description="Messages that must be queued.")
    never: list[ForbiddenAlarm] = Field(default_factory=list, description="Alarms that must not happen.")
    no_messages_to: list[str] = Field(default_factory=list, description="Areas that must get no citizen message.")


class Scenario(_Model):
    """One drill."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Short name (`ews demo --scenario NAME`).")
    title: str = Field(description="One line for people.")
    description: str = Field("", description="What happens, physically.")
    seed: int = Field(description="Seed of every noise in the run: same seed, same readings.")
    start: datetime = Field(description="Scenario time zero (UTC): readings carry timestamps from here.")
    duration_s: float = Field(gt=0, description="Length in scenario seconds.")
    subscribers: list[SubscriberScript] = Field(default_factory=list, description="Citizens registered for the drill.")
    sensors: dict[str, SensorScript] = Field(min_length=1, description="Sensor id → what it reports; "
                                             "the drill's site holds only these sensors.")
    faults: list[Fault] = Field(default_factory=list, description="Device faults.")
    expect: Expectations = Field(default_factory=Expectations, description="What must and must not happen.")

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start needs a time zone (e.g. 2026-05-14T15:00:00Z)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _faults_on_cast(self) -> Scenario:
        for fault in self.faults:
            if fault.sensor not in self.sensors:
                raise ValueError(f"fault on sensor {fault.sensor!r}, which the scenario does not script")
        return self

    @property
    def start_ms(self) -> int:
        """Scenario time zero in epoch milliseconds."""
        return round(self.start.timestamp() * 1000)

    def seeded(self) -> Scenario:
        """The scenario with every noise's seed mixed with the scenario seed and its sensor and
        field, so that one `seed` changes all of them and no two fields share their noise."""
        sensors = {}
        for sensor_id, script in self.sensors.items():
            fields = {}
            for name, spec in script.fields.items():
                fields[name] = _reseed(spec, f"{self.seed}:{sensor_id}:{name}")
            sensors[sensor_id] = script.model_copy(update={"fields": fields})
        return self.model_copy(update={"sensors": sensors})


def _reseed(spec: SignalSpec, key: str) -> SignalSpec:
    def mix(seed: int) -> int:
        return zlib.crc32(f"{key}:{seed}".encode())

    update: dict[str, Any] = {}
    if spec.noise is not None:
        update["noise"] = spec.noise.model_copy(update={"seed": mix(spec.noise.seed)})
    signal = spec.signal
    if isinstance(signal, Counter) and getattr(signal.rate_per_h, "kind", None) == "noise":
        update["signal"] = signal.model_copy(update={"rate_per_h": signal.rate_per_h.model_copy(
            update={"seed": mix(signal.rate_per_h.seed)})})
    # A fresh copy: a counter keeps how far it has integrated, and each run starts from zero.
    return SignalSpec.model_validate(spec.model_copy(update=update).model_dump())


_SIGNAL_TAGS = frozenset({"constant", "ramp", "step", "sine", "hydrograph", "noise", "counter"})


class ScenarioError(Exception):
    """A scenario that cannot be run: every problem with its path and reason."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} error(s) in scenario\n" + "\n".join(f"  {p}" for p in problems))


def _path(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as YAML text; raises ScenarioError listing every problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(source, [f"not valid YAML: {error}".replace("\n", " ")]) from None
    if not isinstance(document, dict):
        raise ScenarioError(source, ["the file must hold a YAML mapping (name:, seed:, sensors:, expect:, ...)"])
    try:
        return Scenario.model_validate(document)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            # Discriminated unions add the tag to the path; people know the field, not the tag.
            location = tuple(p for p in item["loc"] if p not in _SIGNAL_TAGS)
            problems.append(f"{_path(location) or '<top>'}: {item['msg']}")
        raise ScenarioError(source, problems) from None


def scenario_names() -> list[str]:
    """The scenarios shipped in firmware_sim/scenarios/."""
    return sorted(path.stem for path in SCENARIO_FOLDER.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (`flood`) or a scenario file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_FOLDER / f"{name_or_path}.yaml"
        if not path.exists():
            raise ScenarioError(str(name_or_path), [f"no such scenario; shipped: {', '.join(scenario_names())}"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(str(path), [f"cannot read the file: {error}"]) from None
    return parse_scenario(text, str(path))


def check_against_site(scenario: Scenario, site: dict[str, Any], source: str = "<scenario>") -> None:
    """Refuse a scenario that names sensors, fields, rules or areas the site does not have, or
    sensors the runner cannot play: Modbus and waveform sources (outside the runner so far) and
    devices whose messages carry no time (the hub would stamp them with the wall clock)."""
    sensors = {s["id"]: s for s in site.get("sensors", [])}
    areas = {a["id"] for a in site.get("areas", [])}
    rules = {r["id"] for r in site.get("rules", [])}
    problems = []
    for sensor_id, script in scenario.sensors.items():
        sensor = sensors.get(sensor_id)
        if sensor is None:
            problems.append(f"sensors.{sensor_id}: unknown sensor")
            continue
        source_config = sensor.get("source") or {}
        if source_config.get("modbus") is not None or source_config.get("seismic") is not None:
            problems.append(f"sensors.{sensor_id}: a Modbus or waveform source; "
                            "the runner publishes MQTT readings only")
            continue
        mqtt_source = source_config.get("mqtt") or {}
        untimed = mqtt_source.get("format") == "plain" or (mqtt_source.get("format") == "json"
                                                            and not mqtt_source.get("time"))
        if untimed:
            # The hub stamps such a reading with its arrival time: scenario time would be lost.
            problems.append(f"sensors.{sensor_id}: its messages carry no timestamp ({mqtt_source['format']} format "
                            "without a time field), so the drill cannot give them scenario time")
            continue
        mqtt_fields = mqtt_source.get("fields")
        for name in script.fields:
            if mqtt_fields is not None and name not in mqtt_fields:
                problems.append(f"sensors.{sensor_id}.fields.{name}: the device's mapping has no such field "
                                f"(has {', '.join(mqtt_fields)})")
    for index, subscriber in enumerate(scenario.subscribers):
        for area in subscriber.areas:
            if area not in areas:
                problems.append(f"subscribers[{index}].areas: unknown area {area!r}")
    for index, alarm in enumerate(scenario.expect.alarms):
        if alarm.rule not in rules:
            problems.append(f"expect.alarms[{index}].rule: unknown rule {alarm.rule!r}")
        if alarm.subject not in sensors and alarm.subject not in areas:
            problems.append(f"expect.alarms[{index}].subject: neither a sensor nor an area: {alarm.subject!r}")
    for index, forbidden in enumerate(scenario.expect.never):
        if forbidden.rule not in rules:
            problems.append(f"expect.never[{index}].rule: unknown rule {forbidden.rule!r}")
    for index, message in enumerate(scenario.expect.messages):
        if message.area not in areas:
            problems.append(f"expect.messages[{index}].area: unknown area {message.area!r}")
    for area in scenario.expect.no_messages_to:
        if area not in areas:
            problems.append(f"expect.no_messages_to: unknown area {area!r}")
    if problems:
        raise ScenarioError(source, problems)
