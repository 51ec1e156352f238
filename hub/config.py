"""The site config: one YAML file per site, validated by pydantic models composed here from the
sub-models each part defines next to its code. `load_config` refuses a bad file with every
problem's path and reason (`sensors[3].area: unknown area 'centre'`), never with a traceback."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from adapters.camera.config import (
    FireSmokeConfig, Mask, MotionConfig, ReportConfig, WaterLevelConfig, Zone, check_camera_analysis,
)
from adapters.modbus.config import ModbusSourceConfig
from adapters.mqtt.config import FIELD_NAME_PATTERN, MqttSourceConfig
from adapters.seismic.config import SeismicSourceConfig
from hub.alarms import AlarmSettings
from hub.broker_config import BrokerConfig
from hub.configbase import ConfigError, ConfigIssue, EnvName, StrictModel, issues_from_validation
from hub.console.config import HttpConfig
from hub.influx import InfluxConfig
from hub.retry import BackoffConfig
from hub.notify.config import NotifyConfig
from hub.sensors import KIND_FIELDS, SensorSpec
from hub.types import SENSOR_KINDS
from rules.config import RuleConfig, check_rules
from rules.seismic.config import SeismicConfig

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_RESERVED_TAGS = frozenset(("sensor", "area", "site", "rule", "level", "state", "reason"))

SensorKind = Literal[
    "river", "dam", "rain", "seismic", "camera_water", "fire", "traffic", "parking", "pedestrians", "weather",
    "camera",
]
assert set(SensorKind.__args__) == set(SENSOR_KINDS)  # type: ignore[attr-defined]


class SiteInfo(StrictModel):
    """Who and where this hub serves."""

    id: str = Field(pattern=ID_PATTERN, description="Short site id; the `site` tag and part of topics.")
    name: str = Field(description="Name shown to people, e.g. 'Kazanlak'.")
    country: str = Field("BG", pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code.")
    timezone: str = Field("Europe/Sofia", description="Time zone of messages people read (IANA name).")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name like Europe/Sofia)") from None
        return name


class HubSettings(StrictModel):
    """Settings of the hub process itself."""

    data_dir: str = Field(
        "var", description="Folder for SQLite state, spool and dead letters; relative to the config file's folder."
    )
    metrics_interval_s: float = Field(10.0, gt=0, description="Period of the `hub` self-metrics, in seconds.")
    log_interval_s: float = Field(60.0, gt=0, description="A repeated problem of one sensor is logged once per this.")
    max_future_s: float = Field(300.0, ge=0, description="Readings stamped further ahead than this are refused.")
    max_payload_bytes: int = Field(65536, ge=64, description="Larger MQTT payloads are refused.")
    dead_letter_max: int = Field(10000, ge=10, description="Newest rejected inputs kept for inspection.")


class Location(StrictModel):
    """A point on the map (WGS 84)."""

    lat: float = Field(ge=-90, le=90, description="Latitude in degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude in degrees.")
    elevation_m: float | None = Field(None, description="Height above sea level, in metres.")


class Area(StrictModel):
    """A part of the territory that warnings address: a neighbourhood, a village, a catchment."""

    id: str = Field(pattern=ID_PATTERN, description="Area id used by sensors, rules and subscribers.")
    name: str = Field(description="Name in the local language (Bulgarian), as citizens know it.")
    name_en: str | None = Field(None, description="Name in English.")
    type: Literal["town", "neighbourhood", "village", "catchment", "zone"] = Field(description="What sort of area.")
    centre: Location | None = Field(None, description="A representative point.")
    population: int | None = Field(None, ge=0, description="Residents, for planning message volumes.")
    polygon: list[tuple[float, float]] | None = Field(
        None, min_length=4, description="Outline as [lat, lon] points (WGS 84), first = last; for CAP messages."
    )

    @field_validator("polygon")
    @classmethod
    def _closed_ring(cls, polygon: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if polygon is None:
            return None
        if polygon[0] != polygon[-1]:
            raise ValueError("the polygon must be closed: its last point repeats the first (CAP 1.2)")
        if any(not (-90 <= lat <= 90 and -180 <= lon <= 180) for lat, lon in polygon):
            raise ValueError("polygon points are [lat, lon] in degrees")
        return polygon


class FieldRange(StrictModel):
    """The physical range of one field; values outside are refused as a fault."""

    min: float = Field(description="Lowest value the instrument can report, in the field's unit.")
    max: float = Field(description="Highest value the instrument can report, in the field's unit.")


class SensorSource(StrictModel):
    """How the hub gets a sensor's data when not as normalised readings over MQTT."""

    mqtt: MqttSourceConfig | None = Field(None, description="Device-native MQTT topic and payload mapping.")
    modbus: ModbusSourceConfig | None = Field(None, description="Modbus device polled by the hub, with its point map.")
    seismic: SeismicSourceConfig | None = Field(
        None, description="Waveform station (MQTT packets or SeedLink); the hub makes its per-second summaries."
    )

    @model_validator(mode="after")
    def _one_source(self) -> SensorSource:
        if sum(source is not None for source in (self.mqtt, self.modbus, self.seismic)) != 1:
            raise ValueError("give exactly one of 'mqtt', 'modbus' and 'seismic'")
        return self


class Sensor(StrictModel):
    """One sensor. Without a `source` it publishes normalised readings on <root>/reading/<kind>/<id>."""

    id: str = Field(pattern=ID_PATTERN, description="Sensor id; the `sensor` tag.")
    kind: SensorKind = Field(description="Kind of sensor; the InfluxDB measurement.")
    area: str = Field(description="Id of the area the sensor belongs to.")
    name: str | None = Field(None, description="Name for people (e.g. 'Tundzha at Kazanlak bridge').")
    location: Location = Field(description="Where it is.")
    interval_s: float = Field(60.0, gt=0, description="How often it reports, in seconds.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags with a few fixed values (e.g. river).")
    fields: dict[str, FieldRange] = Field(
        default_factory=dict, description="Fields beyond the kind's own, or narrower ranges for the kind's fields."
    )
    source: SensorSource | None = Field(None, description="Device-native source; none for normalised readings.")

    @field_validator("tags")
    @classmethod
    def _bounded_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if key in _RESERVED_TAGS:
                raise ValueError(f"tag {key!r} is set by the hub itself")
            if not re.match(r"^[a-z][a-z0-9_]*$", key) or not value or len(value) > 64:
                raise ValueError(f"tag {key}={value!r}: keys are lower case words, values 1-64 characters")
        return tags

    @field_validator("fields")
    @classmethod
    def _field_names(cls, fields: dict[str, FieldRange]) -> dict[str, FieldRange]:
        for name, bounds in fields.items():
            if not re.match(FIELD_NAME_PATTERN, name):
                raise ValueError(f"field name {name!r} must be lower case letters, digits and '_'")
            if bounds.min >= bounds.max:
                raise ValueError(f"field {name}: min must be below max")
        return fields


class Camera(StrictModel):
    """A camera and what its worker (`ews camera`, adapters/camera) looks for: zones, masks, the
    gauge calibration, the motion gate and how often it reports."""

    id: str = Field(pattern=ID_PATTERN, description="Camera id.")
    name: str | None = Field(None, description="Name for people.")
    area: str = Field(description="Id of the area it watches.")
    location: Location = Field(description="Where it is mounted.")
    url_env: EnvName | None = Field(None, description="Environment variable holding the stream URL (with credentials).")
    detectors: list[Literal["water_level", "fire_smoke", "traffic", "parking", "pedestrians"]] = Field(
        description="Detectors to run on its frames.", min_length=1
    )
    analysis_fps: float = Field(2.0, gt=0, le=30, description="Frames analysed per second.")
    analysis_width: int = Field(
        640, ge=64, le=3840, description="Frames are scaled to this width (pixels) before analysis."
    )
    zones: list[Zone] = Field(default_factory=list, description="Named parts of the image detections are reported for.")
    masks: list[Mask] = Field(default_factory=list, description="Parts of the image every detector ignores.")
    water_level: WaterLevelConfig | None = Field(None, description="Staff gauge zone and calibration (water_level detector).")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion gate of the detectors.")
    fire_smoke: FireSmokeConfig = Field(default_factory=FireSmokeConfig, description="Fire and smoke detector thresholds.")
    report: ReportConfig = Field(default_factory=ReportConfig, description="How often detections and health are published.")
    reconnect: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=1.0, max_s=60.0),
        description="Backoff between attempts to open the stream after it failed or dropped.",
    )

    @model_validator(mode="after")
    def _analysis_fits(self) -> Camera:
        problems = check_camera_analysis(list(self.detectors), self.zones, self.water_level)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SiteConfig(StrictModel):
    """One site's whole configuration."""

    site: SiteInfo = Field(description="The site.")
    hub: HubSettings = Field(default_factory=HubSettings, description="The hub process.")
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig, description="The MQTT broker.")
    influx: InfluxConfig = Field(default_factory=InfluxConfig, description="The InfluxDB database.")
    areas: list[Area] = Field(min_length=1, description="Areas that sensors and warnings refer to.")
    sensors: list[Sensor] = Field(default_factory=list, description="Sensors.")
    cameras: list[Camera] = Field(default_factory=list, description="Cameras.")
    rules: list[RuleConfig] = Field(
        default_factory=list, description="Alarm rules: thresholds, rates, rain sums, forecasts, silent sensors, ..."
    )
    alarms: AlarmSettings = Field(default_factory=AlarmSettings, description="Alarm lifecycle: flapping, closing.")
    seismic: SeismicConfig = Field(
        default_factory=SeismicConfig, description="Detectors of waveform stations and the network confirmation."
    )
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig, description="Notification channels (SMS, staff, CAP, sirens)."
    )
    http: HttpConfig | None = Field(
        None, description="The hub's HTTP server: operator console and API, Twilio webhooks, CAP feed; none = no console."
    )

    @property
    def topic_root(self) -> str:
        """Root of the site's MQTT topics."""
        return self.mqtt.topic_root or f"ews/{self.site.id}"

    @property
    def client_id(self) -> str:
        """The hub's MQTT client id."""
        return self.mqtt.client_id or f"ews-hub-{self.site.id}"


def cross_check(config: SiteConfig) -> list[ConfigIssue]:
    """Problems that span sections: duplicate ids, unknown areas, mapped fields the kind lacks."""
    issues: list[ConfigIssue] = []
    for section, items in (("areas", config.areas), ("sensors", config.sensors), ("cameras", config.cameras)):
        counts = Counter(item.id for item in items)
        for index, item in enumerate(items):
            if counts[item.id] > 1:
                issues.append(ConfigIssue(f"{section}[{index}].id", f"duplicate id {item.id!r}"))
    area_ids = {area.id for area in config.areas}
    for section, items in (("sensors", config.sensors), ("cameras", config.cameras)):
        for index, item in enumerate(items):
            if item.area not in area_ids:
                issues.append(ConfigIssue(f"{section}[{index}].area", f"unknown area {item.area!r}"))
    for index, sensor in enumerate(config.sensors):
        known = set(KIND_FIELDS[sensor.kind]) | set(sensor.fields)
        if sensor.source and sensor.source.mqtt:
            for name in sensor.source.mqtt.fields:
                if name not in known:
                    issues.append(
                        ConfigIssue(
                            f"sensors[{index}].source.mqtt.fields.{name}",
                            f"a {sensor.kind} sensor has no field {name!r} (known: {', '.join(sorted(known))}; "
                            "declare others under the sensor's 'fields')",
                        )
                    )
        if sensor.source and sensor.source.modbus:
            for point_index, point in enumerate(sensor.source.modbus.registers):
                if point.field not in known:
                    issues.append(
                        ConfigIssue(
                            f"sensors[{index}].source.modbus.registers[{point_index}].field",
                            f"a {sensor.kind} sensor has no field {point.field!r} (known: {', '.join(sorted(known))}; "
                            "declare others under the sensor's 'fields')",
                        )
                    )
    issues += check_camera_sensors(config)
    issues += _shared_modbus_endpoints_agree(config)
    if config.notify.sirens is not None:
        for index, siren in enumerate(config.notify.sirens.sirens):
            if siren.area not in area_ids:
                issues.append(ConfigIssue(f"notify.sirens.sirens[{index}].area", f"unknown area {siren.area!r}"))
    issues += _seismic_consistent(config, area_ids)
    issues += check_rules(config.rules, sensor_specs(config), area_ids)
    return issues


def check_camera_sensors(config: SiteConfig) -> list[ConfigIssue]:
    """Cameras are the sensors of their health readings, so their ids must differ from sensor ids;
    a sensor fed by a camera (tag `camera`, optional tag `zone`) must name a camera and its zone."""
    issues: list[ConfigIssue] = []
    cameras = {camera.id: camera for camera in config.cameras}
    sensor_ids = {sensor.id for sensor in config.sensors}
    for index, camera in enumerate(config.cameras):
        if camera.id in sensor_ids:
            issues.append(ConfigIssue(f"cameras[{index}].id", f"{camera.id!r} is also a sensor id"))
    for index, sensor in enumerate(config.sensors):
        camera_id = sensor.tags.get("camera")
        if camera_id is None:
            continue
        camera = cameras.get(camera_id)
        if camera is None:
            issues.append(ConfigIssue(f"sensors[{index}].tags.camera", f"unknown camera {camera_id!r}"))
        elif "zone" in sensor.tags and sensor.tags["zone"] not in {zone.name for zone in camera.zones}:
            issues.append(ConfigIssue(f"sensors[{index}].tags.zone", f"camera {camera_id!r} has no zone {sensor.tags['zone']!r}"))
    return issues


def _seismic_consistent(config: SiteConfig, area_ids: set[str]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    stations = seismic_sources(config)
    for index, sensor in enumerate(config.sensors):
        if sensor.id in stations and sensor.kind != "seismic":
            issues.append(ConfigIssue(f"sensors[{index}].source.seismic", "only seismic sensors have waveforms"))
    for sensor_id in config.seismic.stations:
        if sensor_id not in stations:
            issues.append(ConfigIssue(f"seismic.stations.{sensor_id}", f"{sensor_id!r} is not a waveform station"))
    confirmation = config.seismic.confirmation
    if confirmation is not None:
        if confirmation.area not in area_ids:
            issues.append(ConfigIssue("seismic.confirmation.area", f"unknown area {confirmation.area!r}"))
        rule_ids = {rule.id for rule in config.rules}
        for own in (confirmation.id, f"{confirmation.id}-station", f"{confirmation.id}-network"):
            if own in rule_ids:
                issues.append(ConfigIssue("seismic.confirmation.id", f"alarm rule id {own!r} is also a rule's id"))
        if len(stations) < confirmation.min_stations:
            issues.append(ConfigIssue("seismic.confirmation.min_stations",
                                      f"needs {confirmation.min_stations} waveform stations; {len(stations)} configured"))
    return issues


def _shared_modbus_endpoints_agree(config: SiteConfig) -> list[ConfigIssue]:
    # Sensors at one endpoint share one connection: they must agree on how to talk over it.
    issues: list[ConfigIssue] = []
    first: dict[str, tuple[int, tuple[object, ...]]] = {}
    for index, sensor in enumerate(config.sensors):
        source = sensor.source.modbus if sensor.source else None
        if source is None:
            continue
        seen = first.setdefault(source.endpoint, (index, source.link_settings()))
        if seen[1] != source.link_settings():
            issues.append(ConfigIssue(
                f"sensors[{index}].source.modbus",
                f"shares {source.endpoint} with sensors[{seen[0]}] but not its transport or serial settings",
            ))
    return issues


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a config with a key twice is a mistake to report."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def parse_config(text: str, source: str = "<config>") -> SiteConfig:
    """Validate a config given as YAML text; raises ConfigError listing every problem."""
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ConfigError(source, [ConfigIssue("", f"not valid YAML: {error}".replace("\n", " "))]) from None
    if not isinstance(document, dict):
        raise ConfigError(source, [ConfigIssue("", "the file must hold a YAML mapping (site:, areas:, sensors:, ...)")])
    try:
        config = SiteConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(source, issues_from_validation(error)) from None
    issues = cross_check(config)
    if issues:
        raise ConfigError(source, issues)
    return config


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config file; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), [ConfigIssue("", f"cannot read the file: {error}")]) from None
    return parse_config(text, str(path))


def data_dir(config: SiteConfig, config_path: str | Path) -> Path:
    """The hub's data folder, resolved against the config file's folder."""
    folder = Path(config.hub.data_dir)
    return folder if folder.is_absolute() else Path(config_path).resolve().parent / folder


def sensor_specs(config: SiteConfig) -> dict[str, SensorSpec]:
    """The runtime view of every sensor, keyed by id."""
    specs = {}
    for sensor in config.sensors:
        ranges = dict(KIND_FIELDS[sensor.kind])
        ranges.update({name: (bounds.min, bounds.max) for name, bounds in sensor.fields.items()})
        specs[sensor.id] = SensorSpec(
            id=sensor.id,
            kind=sensor.kind,
            area=sensor.area,
            site=config.site.id,
            ranges=ranges,
            tags=dict(sensor.tags),
            interval_s=sensor.interval_s,
        )
    for camera in config.cameras:
        # A camera is the sensor of its own health readings (measurement `camera`, tag `camera`).
        specs[camera.id] = SensorSpec(
            id=camera.id,
            kind="camera",
            area=camera.area,
            site=config.site.id,
            ranges=dict(KIND_FIELDS["camera"]),
            tags={"camera": camera.id},
            interval_s=camera.report.health_interval_s,
        )
    return specs


def mqtt_sources(config: SiteConfig) -> dict[str, MqttSourceConfig]:
    """Device-native MQTT sources by sensor id."""
    return {s.id: s.source.mqtt for s in config.sensors if s.source is not None and s.source.mqtt is not None}


def seismic_sources(config: SiteConfig) -> dict[str, SeismicSourceConfig]:
    """Waveform stations by sensor id."""
    return {s.id: s.source.seismic for s in config.sensors if s.source is not None and s.source.seismic is not None}


def modbus_sources(config: SiteConfig) -> dict[str, ModbusSourceConfig]:
    """Modbus sources by sensor id."""
    return {s.id: s.source.modbus for s in config.sensors if s.source is not None and s.source.modbus is not None}
