"""A small site for rule tests: areas, a handful of sensors of several kinds, and helpers to build
an engine from a rules section and to make readings on an explicit clock."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from hub.config import SiteConfig, parse_config, sensor_specs
from hub.sensors import SensorSpec
from hub.types import Condition, Reading
from rules.engine import RuleEngine

#: 2026-05-14T10:00:00Z, 13:00 in Kazanlak (EEST, UTC+3).
T0 = 1_778_752_800_000
MINUTE = 60_000

SENSORS = """
  - {id: g1, kind: river, area: centre, location: {lat: 42.62, lon: 25.39}, interval_s: 60, tags: {river: eninska}}
  - {id: g2, kind: river, area: centre, location: {lat: 42.62, lon: 25.39}, interval_s: 60, tags: {river: eninska}}
  - {id: g3, kind: river, area: down, location: {lat: 42.60, lon: 25.42}, interval_s: 120, tags: {river: tundzha}}
  - {id: cam1, kind: camera_water, area: centre, location: {lat: 42.62, lon: 25.39}, interval_s: 30}
  - {id: r1, kind: rain, area: up, location: {lat: 42.70, lon: 25.42}, interval_s: 60}
  - {id: r2, kind: rain, area: up, location: {lat: 42.71, lon: 25.43}, interval_s: 300}
  - {id: f1, kind: fire, area: forest, location: {lat: 42.73, lon: 25.36}, interval_s: 10}
  - {id: f2, kind: fire, area: forest, location: {lat: 42.73, lon: 25.37}, interval_s: 10}
  - {id: s1, kind: seismic, area: centre, location: {lat: 42.62, lon: 25.39}, interval_s: 1}
"""


def site_text(rules_yaml: str, sensors_yaml: str = SENSORS) -> str:
    """A whole site config around a `rules:` section (given without the key, indented or not)."""
    rules = textwrap.indent(textwrap.dedent(rules_yaml).strip("\n"), "  ")
    return f"""
site: {{id: test, name: Test}}
areas:
  - {{id: centre, name: Център, type: neighbourhood}}
  - {{id: down, name: Долу, type: village}}
  - {{id: up, name: Горе, type: catchment}}
  - {{id: forest, name: Гора, type: zone}}
sensors:
{sensors_yaml}
rules:
{rules}
"""


def site(rules_yaml: str) -> SiteConfig:
    return parse_config(site_text(rules_yaml))


def engine(rules_yaml: str) -> RuleEngine:
    config = site(rules_yaml)
    return RuleEngine(config.rules, sensor_specs(config))


def specs() -> dict[str, SensorSpec]:
    return sensor_specs(site("[]"))


_SPECS = specs()


def reading(sensor: str, ts_ms: int, quality: str = "good", **values: float) -> Reading:
    spec = _SPECS[sensor]
    return Reading(sensor, spec.kind, spec.area, ts_ms, values, quality)  # type: ignore[arg-type]


def feed(engine: RuleEngine, readings: Iterable[Reading]) -> list[Condition]:
    """What the engine emits for `readings` with its clock at each reading (as replay does)."""
    out: list[Condition] = []
    for item in readings:
        out += engine.tick(item.ts_ms)
        out += engine.on_reading(item)
    return out


def levels(conditions: Iterable[Condition], rule: str | None = None) -> list[tuple[str, str | None]]:
    return [(c.subject, c.level) for c in conditions if rule is None or c.rule == rule]
