"""The four dashboards (hazard, traffic, security, system), generated from one site config: a
river or dam panel per threshold rule with that rule's levels drawn as bands, rain and seismic
panels with their rules' levels, the sensors' map from their configured locations, and panels for
the measurements that sources built later will fill (cameras' health, SMS delivery). Every query
is raw InfluxQL on the `ews-influxdb` data source, filtered by the hidden constant `$site` and,
where a person narrows the view, by the `$area` and `$sensor` template variables.

`write_dashboards` writes the JSON that Grafana provisions (dashboards/json) and the gazetteer
that places the sensors on the map (dashboards/gazetteer); `build_dashboards` returns the typed
dashboards for tests and the renderer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.config import Sensor, SiteConfig, sensor_specs
from hub.sensors import KIND_FIELDS
from rules.config import AccumulationRule, DetectionRule, Levels, StaleRule, ThresholdRule, selected_sensors

from dashboards.model import (
    LEVEL_COLOURS,
    Annotation,
    Dashboard,
    GridPos,
    Panel,
    Target,
    Threshold,
    Variable,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "examples" / "kazanlak" / "site.yaml"
JSON_FOLDER = Path(__file__).resolve().parent / "json"
GAZETTEER_FOLDER = Path(__file__).resolve().parent / "gazetteer"
GAZETTEER_URL_PATH = "public/gazetteer/ews"
"""Where docker-compose.yml mounts dashboards/gazetteer inside Grafana's static files."""

LEVEL_FIELDS = ("level_cm",)
GAUGE_KINDS = ("river", "dam", "camera_water")
SITE = "\"site\" = '$site'"
AREA = "\"area\" =~ /^$area$/"
SENSOR = "\"sensor\" =~ /^$sensor$/"
ACTIVE_STATES = ("active", "acknowledged")
#: Seconds since the last frame at which a camera is shown yellow and red (no rule watches it yet).
FRAME_AGE_LEVELS_S = (30.0, 120.0)
#: Traffic occupancy at which a junction is shown congested, in percent.
CONGESTION_LEVELS_PCT = (50.0, 75.0, 90.0)


def regex_of(values: Iterable[str]) -> str:
    """`/^(a|b)$/`, the InfluxQL regex matching exactly these values (Grafana's escaping)."""
    escaped = [re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\1", value) for value in values]
    return f"/^({'|'.join(escaped)})$/"


def level_steps(levels: Levels, direction: str = "above") -> tuple[Threshold, ...]:
    """Grafana threshold steps for a rule's levels: green on the safe side, then each colour from
    its value on. Below-rules (danger under the levels) get the scale mirrored."""
    items = levels.items()
    if direction in ("above", "rise"):
        return (Threshold("green", None),) + tuple(Threshold(LEVEL_COLOURS[name], value) for name, value in items)
    ordered = list(reversed(items))  # worst (lowest) first
    steps = [Threshold(LEVEL_COLOURS[ordered[0][0]], None)]
    for index, (_, value) in enumerate(ordered):
        better = LEVEL_COLOURS[ordered[index + 1][0]] if index + 1 < len(ordered) else "green"
        steps.append(Threshold(better, value))
    return tuple(steps)


class _Grid:
    """Places panels left to right on the 24-column grid, wrapping to a new row: no overlaps."""

    def __init__(self) -> None:
        self._x = 0
        self._y = 0
        self._row_height = 0

    def place(self, width: int, height: int) -> GridPos:
        if self._x + width > 24:
            self._x, self._y, self._row_height = 0, self._y + self._row_height, 0
        position = GridPos(self._x, self._y, width, height)
        self._x += width
        self._row_height = max(self._row_height, height)
        return position


@dataclass
class _Builder:
    """Collects the panels of one dashboard with ids in order."""

    grid: _Grid
    panels: list[Panel]

    @classmethod
    def new(cls) -> _Builder:
        return cls(_Grid(), [])

    def add(self, width: int, height: int, **fields: object) -> None:
        self.panels.append(Panel(id=len(self.panels) + 1, grid=self.grid.place(width, height), **fields))  # type: ignore[arg-type]


def _ids(config: SiteConfig, *kinds: str) -> list[str]:
    return [sensor.id for sensor in config.sensors if sensor.kind in kinds]


def _quoted(names: Iterable[str]) -> str:
    return ",".join(f'"{name}"' for name in names)


def _variables(config: SiteConfig, kinds: Sequence[str]) -> tuple[Variable, ...]:
    measurements = _quoted(kinds)
    return (
        Variable("site", "Site", "constant", config.site.id),
        Variable("area", "Area", "query", f'SHOW TAG VALUES FROM {measurements} WITH KEY = "area" WHERE {SITE}'),
        Variable("sensor", "Sensor", "query",
                 f'SHOW TAG VALUES FROM {measurements} WITH KEY = "sensor" WHERE {SITE} AND {AREA}'),
    )


def _alarm_annotation() -> Annotation:
    return Annotation(
        name="Alarms",
        query=f'SELECT "text", "level", "rule" FROM "alarm" WHERE {SITE} AND $timeFilter',
        text_column="text",
        tags_column="level,rule",
        colour="red",
    )


def active_alarms_query(columns: str, group_by: str, condition: str = "") -> str:
    """Each alarm's latest event in the time range (an alarm is one rule and subject), kept when
    that event left it active or acknowledged: the filter runs after `last()`, in an outer query."""
    return (f'SELECT {columns} FROM (SELECT last("alarm_id") AS "alarm_id", "level", "state", "event", "text" '
            f'FROM "alarm" WHERE {SITE} AND $timeFilter{condition} GROUP BY "rule", "sensor", "area", "hazard") '
            f'WHERE $timeFilter AND "state" =~ {regex_of(ACTIVE_STATES)} GROUP BY {group_by}')


def _level_colours() -> dict[str, str]:
    return {level: colour for level, colour in LEVEL_COLOURS.items() if level != "ok"}


def _gauge_title(config: SiteConfig, rule: ThresholdRule, sensors: list[str]) -> str:
    names = {sensor.id: sensor.name or sensor.id for sensor in config.sensors}
    if len(sensors) == 1:
        return names[sensors[0]]
    areas = {area.id: area.name_en or area.name for area in config.areas}
    covered = sorted({sensor.area for sensor in config.sensors if sensor.id in sensors})
    return f"{', '.join(areas[area] for area in covered)}: {len(sensors)} gauges"


def gauge_rules(config: SiteConfig) -> list[tuple[ThresholdRule, list[str], list[str]]]:
    """Threshold rules on the level of river, dam and camera gauges, each with the sensors it
    selects and their kinds (the measurements to read), in config order."""
    specs = sensor_specs(config)
    found = []
    for rule in config.rules:
        if isinstance(rule, ThresholdRule) and rule.field in LEVEL_FIELDS:
            sensors = selected_sensors(rule, specs)
            kinds = sorted({specs[sensor].kind for sensor in sensors})
            if sensors and set(kinds) <= set(GAUGE_KINDS):
                found.append((rule, sensors, kinds))
    return found


def _accumulation(config: SiteConfig, window_s: float) -> AccumulationRule | None:
    return next((rule for rule in config.rules if isinstance(rule, AccumulationRule)
                 and rule.window_s == window_s and not rule.is_counter), None)


def _counter_rain_sensors(config: SiteConfig) -> list[tuple[str, str]]:
    """(sensor, field) of rain gauges read as a running total by some accumulation rule."""
    specs = sensor_specs(config)
    pairs: dict[str, str] = {}
    for rule in config.rules:
        if isinstance(rule, AccumulationRule) and rule.is_counter:
            for sensor in selected_sensors(rule, specs):
                pairs.setdefault(sensor, rule.field)
    return sorted(pairs.items())


def _geomap_options(config: SiteConfig) -> dict[str, object]:
    latitudes = [sensor.location.lat for sensor in config.sensors] or [0.0]
    longitudes = [sensor.location.lon for sensor in config.sensors] or [0.0]
    location = {"mode": "lookup", "lookup": "sensor", "gazetteer": f"{GAZETTEER_URL_PATH}/{config.site.id}.json"}
    return {
        "view": {"id": "coords", "lat": round(sum(latitudes) / len(latitudes), 4),
                 "lon": round(sum(longitudes) / len(longitudes), 4), "zoom": 11},
        "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
        "basemap": {"type": "default", "name": "Basemap"},
        "layers": [
            {"type": "markers", "name": "Sensors reporting", "location": location, "tooltip": True,
             "filterData": {"id": "byRefId", "options": "A"},
             "config": {"showLegend": False, "style": {"color": {"fixed": "green"}, "size": {"fixed": 6},
                                                        "opacity": 0.8}}},
            {"type": "markers", "name": "Sensors in alarm", "location": location, "tooltip": True,
             "filterData": {"id": "byRefId", "options": "B"},
             "config": {"showLegend": True, "style": {"color": {"field": "level", "fixed": "red"},
                                                       "size": {"fixed": 12}, "opacity": 0.9}}},
        ],
        "tooltip": {"mode": "details"},
    }


def last_heard_query(config: SiteConfig) -> str:
    """One InfluxQL query whose rows are the sensors heard in the time range, each with the time
    of its last reading: a subquery per (kind, field the sensor is known to send)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for sensor in config.sensors:
        groups.setdefault((sensor.kind, _first_field(sensor)), []).append(sensor.id)
    subqueries = ", ".join(
        f'(SELECT last("{field}") AS "value" FROM "{kind}" WHERE {SITE} AND $timeFilter '
        f'AND "sensor" =~ {regex_of(sensors)} GROUP BY "sensor", "area")'
        for (kind, field), sensors in sorted(groups.items())
    )
    return f'SELECT last("value") AS "value" FROM {subqueries} GROUP BY "sensor", "area"'


def _first_field(sensor: Sensor) -> str:
    """A field the sensor is sure to send: the first its device-native source maps, else the
    first of its kind (what normalised readings and the seismic adapter carry)."""
    source = sensor.source
    if source is not None and source.mqtt is not None:
        return next(iter(source.mqtt.fields))
    if source is not None and source.modbus is not None:
        return source.modbus.registers[0].field
    return next(iter(KIND_FIELDS[sensor.kind]))


def hazard_dashboard(config: SiteConfig) -> Dashboard:
    """Rivers and the dam against their levels, rain, earthquakes, active alarms and the map."""
    panels = _Builder.new()
    panels.add(12, 9, title="Active alarms", type="table", targets=(Target(
        "A", active_alarms_query('"alarm_id", "level", "state", "event", "text"', '"rule", "sensor", "area", "hazard"',
                                 f" AND {AREA}"), "table"),),
        value_colours=_level_colours(),
        description="Each alarm's latest event in the time range, if it left the alarm active or acknowledged.")
    panels.add(12, 9, title="Sensors on the map", type="geomap", targets=(
        Target("A", last_heard_query(config), "table"),
        Target("B", active_alarms_query('"alarm_id", "level", "state"', '"sensor", "rule"', " AND \"sensor\" <> ''"),
               "table"),
    ), options=_geomap_options(config), value_colours=_level_colours(),
        description="Green: sensors heard in the time range; coloured: sensors with an active alarm, by level.")
    for rule, sensors, kinds in gauge_rules(config):
        highest = max(value for _, value in rule.levels.items())
        panels.add(8, 8, title=_gauge_title(config, rule, sensors), type="timeseries", unit="suffix: cm",
                   targets=(Target(
                       "A", f'SELECT mean("{rule.field}") FROM {_quoted(kinds)} WHERE {SITE} AND $timeFilter '
                            f'AND "sensor" =~ {regex_of(sensors)} GROUP BY time($__interval), "sensor" fill(none)',
                       alias="$tag_sensor"),),
                   thresholds=level_steps(rule.levels, rule.direction), threshold_style="line+area",
                   soft_max=highest * 1.05 if rule.direction == "above" else None,
                   description=f"Rule {rule.id}" + (f": {rule.description}" if rule.description else ""),
                   options={"legend": {"displayMode": "list", "placement": "bottom"}})
    if _ids(config, "river"):
        panels.add(12, 8, title="River levels (area and sensor chosen above)", type="timeseries", unit="cm",
                   targets=(Target("A", f'SELECT mean("level_cm") FROM "river" WHERE {SITE} AND $timeFilter '
                                        f'AND {AREA} AND {SENSOR} GROUP BY time($__interval), "sensor" fill(none)',
                                   alias="$tag_sensor"),), role="detail")
    if _ids(config, "dam"):
        panels.add(12, 8, title="Dam: fill and outflow", type="timeseries", unit="percent", targets=(
            Target("A", f'SELECT mean("fill_pct") AS "fill_pct", mean("outflow_m3_s") AS "outflow_m3_s" FROM "dam" '
                        f'WHERE {SITE} AND $timeFilter GROUP BY time($__interval), "sensor" fill(none)',
                   alias="$tag_sensor $col"),), role="detail")
    if _ids(config, "rain"):
        hourly = _accumulation(config, 3600)
        daily = _accumulation(config, 86400)
        rain_targets = [Target("A", f'SELECT sum("mm") FROM "rain" WHERE {SITE} AND $timeFilter AND {AREA} '
                                    f'GROUP BY time(1h), "sensor" fill(none)', alias="$tag_sensor")]
        daily_targets = [Target("A", f'SELECT sum("mm") FROM "rain" WHERE {SITE} AND time > now() - 24h '
                                     f'AND {AREA} GROUP BY "sensor"', alias="$tag_sensor")]
        for number, (sensor, field) in enumerate(_counter_rain_sensors(config)):
            scale = next((rule.scale for rule in config.rules if isinstance(rule, AccumulationRule)
                          and rule.field == field and rule.is_counter), 1.0)
            ref = chr(ord("B") + number)
            rain_targets.append(Target(
                ref, f'SELECT non_negative_difference(last("{field}")) * {scale!r} FROM "rain" WHERE {SITE} '
                     f'AND $timeFilter AND "sensor" = \'{sensor}\' GROUP BY time(1h), "sensor" fill(none)',
                alias="$tag_sensor"))
            daily_targets.append(Target(
                ref, f'SELECT spread("{field}") * {scale!r} FROM "rain" WHERE {SITE} AND time > now() - 24h '
                     f'AND "sensor" = \'{sensor}\' GROUP BY "sensor"', alias="$tag_sensor"))
        panels.add(12, 8, title="Rain per hour", type="timeseries", unit="lengthmm", draw_style="bars",
                   targets=tuple(rain_targets),
                   thresholds=level_steps(hourly.levels) if hourly else (), threshold_style="line" if hourly else "off",
                   description=f"Levels of rule {hourly.id}" if hourly else None)
        panels.add(12, 8, title="Rain in the last 24 h", type="bargauge", unit="lengthmm",
                   targets=tuple(daily_targets), thresholds=level_steps(daily.levels) if daily else (),
                   options={"orientation": "horizontal", "displayMode": "lcd",
                            "reduceOptions": {"calcs": ["lastNotNull"], "values": False}},
                   description=f"Levels of rule {daily.id}" if daily else None)
    if _ids(config, "seismic"):
        shaking = next((rule for rule in config.rules if isinstance(rule, ThresholdRule) and rule.field == "pga_g"),
                       None)
        trigger = next((rule for rule in config.rules if isinstance(rule, DetectionRule) and rule.field == "stalta"),
                       None)
        panels.add(12, 8, title="Peak ground acceleration", type="timeseries", unit="accG", targets=(
            Target("A", f'SELECT max("pga_g") FROM "seismic" WHERE {SITE} AND $timeFilter '
                        f'GROUP BY time($__interval), "sensor" fill(none)', alias="$tag_sensor"),),
            thresholds=level_steps(shaking.levels) if shaking else (),
            threshold_style="line+area" if shaking else "off",
            soft_max=max(v for _, v in shaking.levels.items()) * 1.05 if shaking else None)
        at_least = trigger.at_least if trigger else 4.0
        panels.add(12, 8, title=f"Seismic triggers (STA/LTA ≥ {at_least:g})", type="timeseries", unit="short",
                   draw_style="bars", targets=(
                       Target("A", f'SELECT count("stalta") FROM "seismic" WHERE {SITE} AND $timeFilter '
                                   f'AND "stalta" >= {at_least!r} GROUP BY time($__interval), "sensor" fill(none)',
                              alias="$tag_sensor"),))
    return Dashboard("hazard", f"{config.site.name}: hazards",
                     "River and dam levels against their warning levels, rain, earthquakes, active alarms.",
                     tuple(panels.panels), _variables(config, ("river", "dam", "rain", "seismic", "camera_water")),
                     (_alarm_annotation(),))


def traffic_dashboard(config: SiteConfig) -> Dashboard:
    """Vehicles per junction and direction, occupancy and congestion, parking, pedestrians."""
    panels = _Builder.new()
    scope = f"{SITE} AND $timeFilter AND {AREA} AND {SENSOR}"
    panels.add(12, 8, title="Vehicles per junction and direction", type="timeseries", unit="short", targets=(
        Target("A", f'SELECT sum("vehicles") FROM "traffic" WHERE {scope} '
                    f'GROUP BY time($__interval), "sensor", "direction" fill(none)',
               alias="$tag_sensor $tag_direction"),))
    panels.add(12, 8, title="Occupancy", type="timeseries", unit="percent", targets=(
        Target("A", f'SELECT mean("occupancy_pct") FROM "traffic" WHERE {scope} '
                    f'GROUP BY time($__interval), "sensor" fill(none)', alias="$tag_sensor"),),
        thresholds=(Threshold("green", None),) + tuple(
            Threshold(colour, value) for colour, value in zip(("yellow", "orange", "red"), CONGESTION_LEVELS_PCT,
                                                              strict=True)),
        threshold_style="line")
    panels.add(12, 6, title="Congestion now (occupancy)", type="stat", unit="percent", targets=(
        Target("A", f'SELECT last("occupancy_pct") FROM "traffic" WHERE {scope} GROUP BY "sensor"',
               alias="$tag_sensor"),),
        thresholds=(Threshold("green", None),) + tuple(
            Threshold(colour, value) for colour, value in zip(("yellow", "orange", "red"), CONGESTION_LEVELS_PCT,
                                                              strict=True)),
        options={"reduceOptions": {"calcs": ["lastNotNull"], "values": False}, "colorMode": "background"})
    panels.add(12, 6, title="Average speed", type="timeseries", unit="velocitykmh", targets=(
        Target("A", f'SELECT mean("speed_kmh") FROM "traffic" WHERE {scope} '
                    f'GROUP BY time($__interval), "sensor" fill(none)', alias="$tag_sensor"),), role="detail")
    panels.add(8, 7, title="Illegal parking: active now", type="stat", unit="short", targets=(
        Target("A", f'SELECT last("violations") FROM "parking" WHERE {scope} GROUP BY "sensor"',
               alias="$tag_sensor"),),
        thresholds=(Threshold("green", None), Threshold("orange", 1.0)),
        options={"reduceOptions": {"calcs": ["lastNotNull"], "values": False}, "colorMode": "background"})
    panels.add(8, 7, title="Illegal parking: new violations per day", type="timeseries", unit="short",
               draw_style="bars", targets=(
                   Target("A", f'SELECT sum("new") FROM (SELECT non_negative_difference("violations") AS "new" '
                               f'FROM "parking" WHERE {scope} GROUP BY "sensor") WHERE $timeFilter '
                               f'GROUP BY time(1d), "sensor" fill(none)', alias="$tag_sensor"),))
    panels.add(8, 7, title="Pedestrians per zone", type="timeseries", unit="short", targets=(
        Target("A", f'SELECT mean("count") FROM "pedestrians" WHERE {scope} '
                    f'GROUP BY time($__interval), "sensor" fill(none)', alias="$tag_sensor"),))
    return Dashboard("traffic", f"{config.site.name}: traffic",
                     "Junctions, parking and pedestrian zones seen by the city's cameras.",
                     tuple(panels.panels), _variables(config, ("traffic", "parking", "pedestrians")),
                     (_alarm_annotation(),), refresh="1m", time_from="now-24h")


def security_dashboard(config: SiteConfig) -> Dashboard:
    """Fire and smoke scores, camera detections and alarms, camera health."""
    panels = _Builder.new()
    scope = f"{SITE} AND $timeFilter AND {AREA} AND {SENSOR}"
    detections = [rule for rule in config.rules if isinstance(rule, DetectionRule)]
    for field, title in (("fire_score", "Fire score"), ("smoke_score", "Smoke score")):
        rule = next((rule for rule in detections if rule.field == field), None)
        panels.add(12, 8, title=title, type="timeseries", unit="percentunit", targets=(
            Target("A", f'SELECT max("{field}") FROM "fire" WHERE {scope} '
                        f'GROUP BY time($__interval), "sensor" fill(none)', alias="$tag_sensor"),),
            thresholds=(Threshold("green", None), Threshold("red", rule.at_least)) if rule else (),
            threshold_style="line+area" if rule else "off", soft_max=1.0,
            description=f"A reading from {rule.at_least:g} on is a detection for rule {rule.id}" if rule else None)
    camera_sensors = sorted(sensor.id for sensor in config.sensors if "camera" in sensor.tags)
    panels.add(12, 8, title="Camera detections", type="timeseries", unit="short", draw_style="bars", targets=tuple(
        Target(chr(ord("A") + number), f'SELECT count("{rule.field}") FROM "fire" WHERE {scope} '
                                       f'AND "{rule.field}" >= {rule.at_least!r} GROUP BY time($__interval), "sensor" '
                                       f'fill(none)', alias=f"$tag_sensor {rule.field}")
        for number, rule in enumerate(r for r in detections if r.field in ("fire_score", "smoke_score"))
    ) or (Target("A", f'SELECT count("fire_score") FROM "fire" WHERE {scope} GROUP BY time($__interval), "sensor"'),))
    panels.add(12, 8, title="Camera events (alarms)", type="table", targets=(
        Target("A", f'SELECT "level", "state", "event", "rule", "sensor", "text" FROM "alarm" WHERE {SITE} '
                    f'AND $timeFilter AND ("sensor" =~ {regex_of(camera_sensors or ["-"])} OR "hazard" = \'fire\')',
               "table"),), value_colours=_level_colours(),
        description="Alarm events of camera-derived sensors and of fire rules, newest last.")
    panels.add(12, 8, title="Camera frames analysed per second", type="timeseries", unit="short", targets=(
        Target("A", f'SELECT mean("fps") FROM "camera" WHERE {SITE} AND $timeFilter '
                    f'GROUP BY time($__interval), "camera" fill(none)', alias="$tag_camera"),))
    panels.add(12, 8, title="Camera: age of the last frame", type="bargauge", unit="s", targets=(
        Target("A", f'SELECT last("last_frame_age_s") FROM "camera" WHERE {SITE} AND $timeFilter GROUP BY "camera"',
               alias="$tag_camera"),),
        thresholds=(Threshold("green", None), Threshold("yellow", FRAME_AGE_LEVELS_S[0]),
                    Threshold("red", FRAME_AGE_LEVELS_S[1])),
        options={"orientation": "horizontal", "displayMode": "lcd",
                 "reduceOptions": {"calcs": ["lastNotNull"], "values": False}})
    return Dashboard("security", f"{config.site.name}: fire and cameras",
                     "Wildfire watch and the health of the camera workers.",
                     tuple(panels.panels), _variables(config, ("fire", "camera_water")), (_alarm_annotation(),))


def system_dashboard(config: SiteConfig) -> Dashboard:
    """Sensors last heard and offline, ingest, rejections by reason, spool, SMS delivery."""
    panels = _Builder.new()
    stale = [rule for rule in config.rules if isinstance(rule, StaleRule)]
    panels.add(12, 10, title="Sensors: last heard", type="table", targets=(Target("A", last_heard_query(config),
                                                                                   "table"),),
               description="The time column is when each sensor was last heard within the time range.")
    offline_rules = regex_of([rule.id for rule in stale] or ["stale"])
    panels.add(12, 10, title="Sensors offline", type="table", targets=(
        Target("A", active_alarms_query('"alarm_id", "level", "state", "text"', '"sensor", "rule"',
                                        f' AND "rule" =~ {offline_rules}'), "table"),),
        value_colours=_level_colours(),
        description="Sensors whose silent-sensor alarm is active (rules " + ", ".join(r.id for r in stale) + ").")
    hub_only = f"{SITE} AND \"reason\" = '' AND $timeFilter"
    panels.add(12, 8, title="Ingest rate", type="timeseries", unit="reqps", targets=(
        Target("A", f'SELECT mean("readings_per_s") FROM "hub" WHERE {hub_only} GROUP BY time($__interval) fill(none)',
               alias="readings per second"),))
    panels.add(12, 8, title="Rejected readings by reason", type="timeseries", unit="short", draw_style="bars", targets=(
        Target("A", f'SELECT non_negative_difference(last("rejected")) FROM "hub" WHERE {SITE} AND "reason" <> \'\' '
                    f'AND $timeFilter GROUP BY time($__interval), "reason" fill(none)', alias="$tag_reason"),))
    panels.add(12, 8, title="Spool depth", type="timeseries", unit="short", targets=(
        Target("A", f'SELECT last("spool_points") AS "points", last("spool_batches") AS "batches" FROM "hub" '
                    f'WHERE {hub_only} GROUP BY time($__interval) fill(none)', alias="spool $col"),),
        thresholds=(Threshold("green", None), Threshold("orange", 1.0)), threshold_style="line")
    panels.add(12, 8, title="InfluxDB write latency", type="timeseries", unit="ms", targets=(
        Target("A", f'SELECT max("write_latency_ms_p50") AS "p50", max("write_latency_ms_max") AS "max" FROM "hub" '
                    f'WHERE {hub_only} GROUP BY time($__interval) fill(none)', alias="$col"),), role="detail")
    panels.add(24, 8, title="SMS delivery per alarm (rule and area)", type="table", targets=(
        Target("A", f'SELECT sum("queued") AS "queued", sum("sent") AS "sent", sum("delivered") AS "delivered", '
                    f'sum("failed") AS "failed" FROM "sms" WHERE {SITE} AND $timeFilter GROUP BY "rule", "area"',
               "table"),),
        description="Messages per rule and area in the time range (the `sms` measurement, dashboards/README.md).")
    return Dashboard("system", f"{config.site.name}: system health",
                     "Is every sensor heard, is the hub keeping up, are messages getting out.",
                     tuple(panels.panels), _variables(config, tuple(sorted({s.kind for s in config.sensors}))),
                     refresh="1m")


def build_dashboards(config: SiteConfig) -> list[Dashboard]:
    """The site's four dashboards."""
    return [hazard_dashboard(config), traffic_dashboard(config), security_dashboard(config),
            system_dashboard(config)]


def gazetteer(config: SiteConfig) -> list[dict[str, object]]:
    """Sensor positions in Grafana's gazetteer format (key, latitude, longitude, name)."""
    return [{"key": sensor.id, "latitude": sensor.location.lat, "longitude": sensor.location.lon,
             "name": sensor.name or sensor.id} for sensor in config.sensors]


def render_json(data: object) -> str:
    """Stable JSON text: sorted keys, two-space indent, final newline (reviewable diffs)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_files(config: SiteConfig) -> dict[str, str]:
    """Relative path (under dashboards/) → text of every generated file."""
    files = {f"json/{dashboard.slug}.json": render_json(dashboard.to_json()) for dashboard in build_dashboards(config)}
    files[f"gazetteer/{config.site.id}.json"] = render_json(gazetteer(config))
    return files


def write_dashboards(config: SiteConfig, folder: Path = JSON_FOLDER.parent) -> list[Path]:
    """Write the dashboards' JSON and the gazetteer under `folder`; returns the paths written."""
    written = []
    for relative, text in generated_files(config).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
