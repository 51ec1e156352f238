"""The small part of Grafana's dashboard JSON model (schemaVersion 39) that the generated dashboards
use, as frozen dataclasses: InfluxQL targets, panels with their grid position, field config and
thresholds, template variables and annotations. `Dashboard.to_json()` gives the JSON Grafana
provisions and the HTTP API accepts; the tests read the same objects back for their checks.

Plain typed Python rather than a builder library: the panels here are few and of five types, and
owning the JSON keeps the generated files stable and readable in review."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DATASOURCE_UID = "ews-influxdb"
"""Uid of the InfluxDB data source in deploy/grafana/provisioning/datasources."""
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
UID_PREFIX = "ews-"
"""Every generated dashboard's uid starts with this; `push` only ever overwrites its own."""
MANAGED_TAG = "ews-generated"
"""Tag carried by every generated dashboard; `push` refuses to overwrite a dashboard without it."""
SCHEMA_VERSION = 39

#: Grafana's named colours for the European warning levels and the technical `info` level.
LEVEL_COLOURS = {"info": "blue", "yellow": "yellow", "orange": "orange", "red": "red", "ok": "green"}

PanelType = Literal["timeseries", "table", "geomap", "stat", "bargauge"]


@dataclass(frozen=True, slots=True)
class Target:
    """One raw InfluxQL query of a panel. `alias` uses Grafana's `$tag_<key>` patterns."""

    ref_id: str
    query: str
    result_format: Literal["time_series", "table"] = "time_series"
    alias: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The target as Grafana stores it."""
        data: dict[str, Any] = {
            "datasource": dict(DATASOURCE),
            "refId": self.ref_id,
            "rawQuery": True,
            "query": self.query,
            "resultFormat": self.result_format,
        }
        if self.alias:
            data["alias"] = self.alias
        return data


@dataclass(frozen=True, slots=True)
class Threshold:
    """A step of a threshold scale: from `value` upwards (None: from minus infinity) the colour."""

    colour: str
    value: float | None

    def to_json(self) -> dict[str, Any]:
        """The step as Grafana stores it."""
        return {"color": self.colour, "value": self.value}


@dataclass(frozen=True, slots=True)
class GridPos:
    """Place on Grafana's 24-column grid; height in rows of 30 px."""

    x: int
    y: int
    w: int
    h: int

    def cells(self) -> set[tuple[int, int]]:
        """The grid cells the panel covers (for overlap checks)."""
        return {(column, row) for column in range(self.x, self.x + self.w) for row in range(self.y, self.y + self.h)}


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel. `thresholds` become the field config's absolute threshold steps; with
    `threshold_style` set on a time series they are drawn as lines and bands."""

    id: int
    title: str
    type: PanelType
    grid: GridPos
    targets: tuple[Target, ...]
    unit: str | None = None
    description: str | None = None
    thresholds: tuple[Threshold, ...] = ()
    threshold_style: Literal["off", "line", "area", "line+area"] = "off"
    soft_max: float | None = None
    draw_style: Literal["line", "bars"] = "line"
    value_colours: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    role: str = "main"
    """What the panel is for in this project (not Grafana's): the renderer draws `main` panels."""

    def to_json(self) -> dict[str, Any]:
        """The panel as Grafana stores it."""
        defaults: dict[str, Any] = {}
        if self.unit:
            defaults["unit"] = self.unit
        steps = self.thresholds or (Threshold("green", None),)
        defaults["thresholds"] = {"mode": "absolute", "steps": [step.to_json() for step in steps]}
        if self.value_colours:
            defaults["mappings"] = [{
                "type": "value",
                "options": {
                    value: {"color": colour, "index": index, "text": value}
                    for index, (value, colour) in enumerate(self.value_colours.items())
                },
            }]
        if self.type == "timeseries":
            custom: dict[str, Any] = {
                "drawStyle": self.draw_style,
                "lineWidth": 2,
                "fillOpacity": 60 if self.draw_style == "bars" else 10,
                "spanNulls": False,
                "thresholdsStyle": {"mode": self.threshold_style},
            }
            if self.soft_max is not None:
                custom["axisSoftMax"] = self.soft_max
            defaults["custom"] = custom
            defaults["color"] = {"mode": "palette-classic"}
        elif self.type in ("stat", "bargauge"):
            defaults["color"] = {"mode": "thresholds"}
        elif self.type == "table":
            defaults["custom"] = {"cellOptions": {"type": "color-background"} if self.value_colours else {"type": "auto"}}
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "datasource": dict(DATASOURCE),
            "gridPos": {"x": self.grid.x, "y": self.grid.y, "w": self.grid.w, "h": self.grid.h},
            "targets": [target.to_json() for target in self.targets],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": self.options,
        }
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True, slots=True)
class Variable:
    """A template variable: `query` (InfluxQL SHOW TAG VALUES, multi-value with All) or `constant`."""

    name: str
    label: str
    kind: Literal["query", "constant"]
    query: str

    def to_json(self) -> dict[str, Any]:
        """The variable as Grafana stores it."""
        if self.kind == "constant":
            return {"name": self.name, "label": self.label, "type": "constant", "query": self.query, "hide": 2,
                    "current": {"text": self.query, "value": self.query}}
        return {
            "name": self.name,
            "label": self.label,
            "type": "query",
            "datasource": dict(DATASOURCE),
            "query": self.query,
            "definition": self.query,
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "current": {"text": ["All"], "value": ["$__all"]},
            "sort": 1,
        }


@dataclass(frozen=True, slots=True)
class Annotation:
    """Events drawn on every time series of the dashboard, from an InfluxQL query."""

    name: str
    query: str
    text_column: str
    tags_column: str
    colour: str

    def to_json(self) -> dict[str, Any]:
        """The annotation as Grafana stores it."""
        return {
            "name": self.name,
            "datasource": dict(DATASOURCE),
            "enable": True,
            "iconColor": self.colour,
            "query": self.query,
            "textColumn": self.text_column,
            "tagsColumn": self.tags_column,
            "target": {"query": self.query, "rawQuery": True, "textColumn": self.text_column,
                       "tagsColumn": self.tags_column, "refId": "Anno"},
        }


@dataclass(frozen=True, slots=True)
class Dashboard:
    """One generated dashboard. `slug` names its JSON file; `uid` is stable across builds."""

    slug: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...]
    annotations: tuple[Annotation, ...] = ()
    refresh: str = "30s"
    time_from: str = "now-6h"

    @property
    def uid(self) -> str:
        """The dashboard's uid: project prefix and slug."""
        return f"{UID_PREFIX}{self.slug}"

    def to_json(self) -> dict[str, Any]:
        """The dashboard as Grafana stores it (no `id`: Grafana assigns it)."""
        builtin = {
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": [MANAGED_TAG, "early-warning"],
            "timezone": "browser",
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "templating": {"list": [variable.to_json() for variable in self.variables]},
            "annotations": {"list": [builtin] + [annotation.to_json() for annotation in self.annotations]},
            "panels": [panel.to_json() for panel in self.panels],
            "links": [],
        }
