"""Pictures of the dashboards without Grafana: each dashboard's main panels drawn to one PNG from
the very queries Grafana runs (expanded by `dashboards.query`), against any InfluxDB. Time series
with their threshold bands, bar gauges and stats as coloured bars, tables as text with level
colours, the map as the sensors' positions coloured by alarm level. Used by `ews dashboards
render`, `ews demo` and the tests; the fetching half (`fetch_panel`) is what the query tests check.

Drawn with Matplotlib's object API (Figure + Agg canvas): no pyplot, no global state."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.config import SiteConfig
from hub.influx import InfluxClient

from dashboards.build import build_dashboards
from dashboards.model import LEVEL_COLOURS, Dashboard, Panel, Target, Threshold, Variable
from dashboards.query import expand_query, interval_ms

logger = logging.getLogger(__name__)

#: Grafana's named colours as Matplotlib colours.
_COLOURS = {"green": "#56a64b", "yellow": "#f2cc0c", "orange": "#ff9830", "red": "#e02f44", "blue": "#5794f2"}


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a time series panel: its legend name, times (ms) and values."""

    name: str
    tags: Mapping[str, str]
    times_ms: tuple[int, ...]
    values: tuple[float | None, ...]


@dataclass(slots=True)
class TargetResult:
    """What one target returned: series (time series format) or rows (table format)."""

    target: Target
    query: str
    series: list[Series] = field(default_factory=list)
    rows: list[dict[str, object]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the query returned nothing to show."""
        return not self.series and not self.rows


def resolve_variables(client: InfluxClient, database: str, variables: Sequence[Variable],
                      start_ms: int, end_ms: int) -> dict[str, str | list[str]]:
    """Run the template variables' queries in order (a later one may use an earlier one) and
    select All of each, as a dashboard opened fresh does."""
    values: dict[str, str | list[str]] = {}
    for variable in variables:
        if variable.kind == "constant":
            values[variable.name] = variable.query
            continue
        statement = expand_query(variable.query, values, start_ms, end_ms)
        found: list[str] = []
        for series in client.query(statement, database=database)[0].get("series", []):
            found.extend(str(row[1]) for row in series["values"])
        values[variable.name] = sorted(set(found))
    return values


def _alias(target: Target, tags: Mapping[str, str], column: str, measurement: str) -> str:
    if not target.alias:
        return " ".join([measurement, *tags.values(), column]).strip()
    text = target.alias.replace("$col", column).replace("$measurement", measurement)
    for key, value in tags.items():
        text = text.replace(f"$tag_{key}", value)
    return " ".join(part for part in text.split() if not part.startswith("$tag_")) or column


def fetch_panel(client: InfluxClient, database: str, panel: Panel, variables: Mapping[str, str | Sequence[str]],
                start_ms: int, end_ms: int) -> list[TargetResult]:
    """Run every target of a panel as Grafana would."""
    results = []
    for target in panel.targets:
        statement = expand_query(target.query, variables, start_ms, end_ms)
        result = TargetResult(target, statement)
        for series in client.query(statement, database=database)[0].get("series", []):
            tags = series.get("tags", {})
            columns = series["columns"]
            if target.result_format == "table":
                for values in series["values"]:
                    result.rows.append(dict(zip(columns, values, strict=True)) | tags)
                continue
            times = tuple(int(values[0]) for values in series["values"])
            for index, column in enumerate(columns[1:], start=1):
                points = tuple(values[index] for values in series["values"])
                if any(value is not None for value in points):
                    result.series.append(Series(_alias(target, tags, column, series["name"]), tags, times, points))
        results.append(result)
    return results


def _colour_for(value: float, thresholds: Sequence[Threshold]) -> str:
    colour = "green"
    for step in thresholds:
        if step.value is None or value >= step.value:
            colour = step.colour
    return _COLOURS.get(colour, colour)


_UNIT_LABELS = {"short": "", "reqps": "per second", "accG": "g", "percentunit": "score 0-1", "percent": "%",
                "lengthmm": "mm", "suffix: cm": "cm", "velocitykmh": "km/h", "ms": "ms", "s": "s"}


def _draw_bands(axes, panel: Panel, low: float, high: float) -> None:  # noqa: ANN001
    steps = list(panel.thresholds)
    for index, step in enumerate(steps):
        colour = _COLOURS.get(step.colour, step.colour)
        if step.value is not None:
            axes.axhline(step.value, color=colour, linewidth=1.2, linestyle="--")
        if "area" not in panel.threshold_style:
            continue
        start = step.value if step.value is not None else low
        end = steps[index + 1].value if index + 1 < len(steps) else high
        if end is not None and start is not None and end > start:
            axes.axhspan(start, end, color=colour, alpha=0.12, linewidth=0)


def _draw_timeseries(axes, panel: Panel, results: Sequence[TargetResult], zone: ZoneInfo,  # noqa: ANN001
                     start_ms: int, end_ms: int) -> None:
    import matplotlib.dates as mdates

    def when(t_ms: int) -> datetime:
        return datetime.fromtimestamp(max(t_ms, start_ms) / 1000, UTC)

    all_series = [series for result in results for series in result.series]
    lows, highs = [], []
    for number, series in enumerate(all_series):
        points = [(t, v) for t, v in zip(series.times_ms, series.values, strict=True) if v is not None]
        if not points:
            continue
        times, values = zip(*points, strict=True)
        lows.append(min(values))
        highs.append(max(values))
        colour = f"C{number % 10}"
        if panel.draw_style == "bars":
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            step_ms = min(gaps) if gaps else interval_ms(end_ms - start_ms)
            # A lone bar of a short interval would be a hairline over hours: keep it visible.
            width_ms = max(step_ms * 0.8 / len(all_series), (end_ms - start_ms) / 150)
            offsets = [when(t + number * width_ms) for t in times]
            axes.bar(offsets, values, width=width_ms / 86_400_000, label=series.name, color=colour, align="edge")
        else:
            axes.plot([when(t) for t in times], values, label=series.name, linewidth=1.6, color=colour)
    axes.set_xlim(when(start_ms), when(end_ms))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    axes.grid(alpha=0.3)
    if not highs:
        axes.text(0.5, 0.5, "No data", ha="center", va="center", transform=axes.transAxes, color="grey")
        return
    low = min(lows)
    high = max(highs + ([panel.soft_max] if panel.soft_max is not None else []))
    margin = (high - low) * 0.05 or 1.0
    bottom = max(low - margin, 0.0) if low >= 0 else low - margin
    if panel.draw_style == "bars":
        bottom = min(bottom, 0.0)
    if panel.threshold_style != "off":
        _draw_bands(axes, panel, bottom, high + margin)
    axes.set_ylim(bottom, high + margin)
    if panel.unit:
        axes.set_ylabel(_UNIT_LABELS.get(panel.unit, panel.unit))
    axes.legend(fontsize=6, loc="upper left", ncol=2)


def _draw_bars(axes, panel: Panel, results: Sequence[TargetResult]) -> None:  # noqa: ANN001
    items = []
    for result in results:
        for series in result.series:
            last = next((v for v in reversed(series.values) if v is not None), None)
            if last is not None:
                items.append((series.name, float(last)))
    if not items:
        axes.text(0.5, 0.5, "No data", ha="center", va="center", transform=axes.transAxes, color="grey")
        return
    names, values = zip(*items, strict=True)
    axes.barh(names, values, color=[_colour_for(value, panel.thresholds) for value in values])
    for index, value in enumerate(values):
        axes.text(value, index, f" {value:.3g}", va="center", fontsize=7)
    for step in panel.thresholds:
        if step.value is not None and panel.type == "bargauge":
            axes.axvline(step.value, color=_COLOURS.get(step.colour, step.colour), linestyle="--", linewidth=1)
    axes.tick_params(axis="y", labelsize=7)
    axes.invert_yaxis()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _draw_table(axes, panel: Panel, results: Sequence[TargetResult], zone: ZoneInfo) -> None:  # noqa: ANN001
    axes.axis("off")
    rows = [row for result in results for row in result.rows]
    if not rows:
        axes.text(0.5, 0.5, "No rows", ha="center", va="center", transform=axes.transAxes, color="grey")
        return
    columns = [column for column in rows[0] if column not in ("site",)]
    for row in rows:
        columns += [column for column in row if column not in columns and column != "site"]
    rows = rows[-30:]  # the newest; a picture is not a scrolling table
    text = [[datetime.fromtimestamp(int(row["time"]) / 1000, zone).strftime("%d.%m %H:%M")  # type: ignore[arg-type]
             if column == "time" else _cell(row.get(column)) for column in columns] for row in rows]
    table = axes.table(cellText=text, colLabels=columns, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(6)
    table.auto_set_column_width(list(range(len(columns))))
    if "level" in columns:
        column = columns.index("level")
        for number, row in enumerate(rows, start=1):
            colour = _COLOURS.get(LEVEL_COLOURS.get(str(row.get("level")), ""), None)
            if colour:
                table[number, column].set_facecolor(colour)


def _draw_map(axes, config: SiteConfig, results: Sequence[TargetResult]) -> None:  # noqa: ANN001
    where = {sensor.id: (sensor.location.lon, sensor.location.lat) for sensor in config.sensors}
    heard = {str(row.get("sensor")) for row in results[0].rows} if results else set()
    quiet = [sensor for sensor in where if sensor not in heard]
    for sensors, colour, label in ((sorted(heard & set(where)), _COLOURS["green"], "reporting"),
                                   (quiet, "#999999", "not heard")):
        if sensors:
            axes.scatter([where[s][0] for s in sensors], [where[s][1] for s in sensors], s=18, color=colour,
                         label=label, zorder=2)
    worst: dict[str, str] = {}
    order = ["info", "yellow", "orange", "red"]
    for result in results[1:]:
        for row in result.rows:
            sensor, level = str(row.get("sensor")), str(row.get("level"))
            if sensor in where and level in order and order.index(level) >= order.index(worst.get(sensor, "info")):
                worst[sensor] = level
    for sensor, level in worst.items():
        axes.scatter(*where[sensor], s=90, color=_COLOURS[LEVEL_COLOURS[level]], edgecolor="black", zorder=3)
        axes.annotate(sensor, where[sensor], fontsize=6, xytext=(4, 4), textcoords="offset points")
    for area in config.areas:
        if area.centre is not None and area.type in ("town", "village"):
            axes.annotate(area.name_en or area.name, (area.centre.lon, area.centre.lat), fontsize=6, color="#555555")
    axes.set_aspect(1 / math.cos(math.radians(sum(lat for _, lat in where.values()) / max(len(where), 1))))
    axes.legend(fontsize=6, loc="lower left")
    axes.grid(alpha=0.3)


def render_dashboard(dashboard: Dashboard, data: Mapping[int, Sequence[TargetResult]], config: SiteConfig,
                     path: Path, start_ms: int, end_ms: int) -> Path:
    """Draw the dashboard's main panels, two per row, into one PNG at `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    zone = ZoneInfo(config.site.timezone)
    panels = [panel for panel in dashboard.panels if panel.role == "main"]
    columns = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(8 * columns, 3.6 * rows + 0.8), dpi=80)
    FigureCanvasAgg(figure)
    start = datetime.fromtimestamp(start_ms / 1000, zone).strftime("%Y-%m-%d %H:%M")
    end = datetime.fromtimestamp(end_ms / 1000, zone).strftime("%H:%M %Z")
    figure.suptitle(f"{dashboard.title}  ({start} – {end})", fontsize=14, fontweight="bold")
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.set_title(panel.title, fontsize=10, loc="left")
        results = data.get(panel.id, [])
        if panel.type == "timeseries":
            _draw_timeseries(axes, panel, results, zone, start_ms, end_ms)
        elif panel.type in ("stat", "bargauge"):
            _draw_bars(axes, panel, results)
        elif panel.type == "table":
            _draw_table(axes, panel, results, zone)
        elif panel.type == "geomap":
            _draw_map(axes, config, results)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def render_site(config: SiteConfig, client: InfluxClient, database: str, folder: Path,
                start_ms: int, end_ms: int) -> list[Path]:
    """Fetch and draw every dashboard of the site into `folder` (`<slug>.png`); returns the paths."""
    paths = []
    for dashboard in build_dashboards(config):
        variables = resolve_variables(client, database, dashboard.variables, start_ms, end_ms)
        data = {panel.id: fetch_panel(client, database, panel, variables, start_ms, end_ms)
                for panel in dashboard.panels if panel.role == "main"}
        paths.append(render_dashboard(dashboard, data, config, folder / f"{dashboard.slug}.png", start_ms, end_ms))
        logger.info("drew %s", paths[-1])
    return paths
