"""Every query of every panel, expanded as Grafana expands it, against the real InfluxDB loaded
with a scenario written by the hub's own encoders: each returns the series it is meant to show.
Also the expansion itself (time filter, interval, multi-value variables) and the PNG renderer."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboards.build import DEFAULT_CONFIG, build_dashboards, gauge_rules
from dashboards.model import Dashboard
from dashboards.query import expand_query, format_duration, interval_ms, regex_value
from dashboards.render import TargetResult, fetch_panel, render_site, resolve_variables
from hub.config import load_config
from hub.influx import InfluxClient, InfluxConfig
from hub.localservices import LocalInfluxd
from tests.dashboards.scenario import HOURS, scenario_lines

pytestmark = pytest.mark.integration

CONFIG = load_config(DEFAULT_CONFIG)
DASHBOARDS = {dashboard.slug: dashboard for dashboard in build_dashboards(CONFIG)}


def test_time_filter_and_interval_expand_as_grafana_does() -> None:
    query = 'SELECT mean("x") FROM "river" WHERE $timeFilter GROUP BY time($__interval)'
    expanded = expand_query(query, {}, 1_000_000, 1_000_000 + 6 * 3_600_000)
    assert expanded == ('SELECT mean("x") FROM "river" WHERE time >= 1000000ms and time <= 22600000ms '
                        'GROUP BY time(30s)')
    assert interval_ms(3_600_000) == 10_000  # never below the data source's 10 s
    assert interval_ms(7 * 86_400_000) == 900_000
    assert format_duration(60_000) == "1m" and format_duration(1_500) == "1500ms"


def test_variables_expand_as_regex_alternations_and_constants_as_is() -> None:
    query = """SELECT x FROM r WHERE "site" = '$site' AND "area" =~ /^$area$/ AND "sensor" =~ /^${sensor}$/"""
    variables = {"site": "kazanlak", "area": ["enina", "kazanlak-centre"], "sensor": ["a.b"]}
    assert expand_query(query, variables, 0, 1) == (
        """SELECT x FROM r WHERE "site" = 'kazanlak' AND "area" =~ /^(enina|kazanlak-centre)$/ """
        """AND "sensor" =~ /^a\\.b$/""")
    assert regex_value(["x/y"]) == "x\\/y"
    with pytest.raises(KeyError):
        expand_query("SELECT x FROM r WHERE a =~ /^$nosuch$/", variables, 0, 1)


@dataclass
class Loaded:
    client: InfluxClient
    database: str
    start_ms: int
    end_ms: int


@pytest.fixture(scope="module")
def loaded(influxd: LocalInfluxd) -> Iterator[Loaded]:
    database = "dashboards_scenario"
    client = InfluxClient(InfluxConfig(url=influxd.url, database=database))
    client.create_database()
    end_ms = (int(time.time() * 1000) // 60_000) * 60_000
    lines = scenario_lines(CONFIG, end_ms)
    outcome, reason = client.write("\n".join(lines).encode())
    assert outcome == "ok", reason
    yield Loaded(client, database, end_ms - HOURS * 3_600_000, end_ms + 60_000)
    client.close()


def _fetch(loaded: Loaded, dashboard: Dashboard) -> dict[int, list[TargetResult]]:
    variables = resolve_variables(loaded.client, loaded.database, dashboard.variables, loaded.start_ms, loaded.end_ms)
    for name, value in variables.items():
        assert value, f"{dashboard.slug}: variable ${name} has no values"
    return {panel.id: fetch_panel(loaded.client, loaded.database, panel, variables, loaded.start_ms, loaded.end_ms)
            for panel in dashboard.panels}


@pytest.mark.parametrize("slug", sorted(DASHBOARDS))
def test_every_query_of_every_panel_returns_data(loaded: Loaded, slug: str) -> None:
    dashboard = DASHBOARDS[slug]
    for panel_id, results in _fetch(loaded, dashboard).items():
        title = next(panel.title for panel in dashboard.panels if panel.id == panel_id)
        for result in results:
            assert not result.empty, f"{slug} / {title} / {result.target.ref_id} returned nothing:\n{result.query}"
    for annotation in dashboard.annotations:
        query = expand_query(annotation.query, {"site": CONFIG.site.id}, loaded.start_ms, loaded.end_ms)
        rows = loaded.client.query(query, database=loaded.database)[0]["series"][0]["values"]
        assert len(rows) >= 10 and all(row[1] for row in rows)


def _panel(slug: str, title: str):  # noqa: ANN202
    return next(panel for panel in DASHBOARDS[slug].panels if panel.title.startswith(title))


def test_gauge_panels_show_exactly_their_rules_sensors(loaded: Loaded) -> None:
    data = _fetch(loaded, DASHBOARDS["hazard"])
    by_rule = {panel.description.split(":")[0].removeprefix("Rule "): panel
               for panel in DASHBOARDS["hazard"].panels if (panel.description or "").startswith("Rule ")}
    for rule, sensors, _ in gauge_rules(CONFIG):
        shown = {series.tags["sensor"] for result in data[by_rule[rule.id].id] for series in result.series}
        assert shown == set(sensors), rule.id


def test_alarm_table_and_map_show_only_alarms_still_active(loaded: Loaded) -> None:
    data = _fetch(loaded, DASHBOARDS["hazard"])
    table = data[_panel("hazard", "Active alarms").id][0].rows
    assert {row["rule"] for row in table} == {
        "eninska-upper-level", "eninska-enina-level", "forest-fire", "gauge-silent", "tundzha-camera-level",
        "eninska-derelika-level"}
    assert {row["level"] for row in table if row["rule"] == "eninska-upper-level"} == {"orange"}
    geomap = data[_panel("hazard", "Sensors on the map").id]
    assert {row["sensor"] for row in geomap[0].rows} == {sensor.id for sensor in CONFIG.sensors}
    assert {row["sensor"] for row in geomap[1].rows} == {
        "eninska-upper", "eninska-enina", "rain-shipka", "tundzha-bridge-camera-level"}


def test_system_panels_show_rejections_by_reason_offline_sensors_and_sms(loaded: Loaded) -> None:
    data = _fetch(loaded, DASHBOARDS["system"])
    reasons = {series.tags["reason"] for series in data[_panel("system", "Rejected readings").id][0].series}
    assert reasons == {"out_of_range", "malformed"}
    offline = data[_panel("system", "Sensors offline").id][0].rows
    assert [row["sensor"] for row in offline] == ["rain-shipka"]
    sms = {row["rule"]: row for row in data[_panel("system", "SMS delivery").id][0].rows}
    assert sms["eninska-enina-level"]["queued"] == 2200 and sms["eninska-enina-level"]["delivered"] == 2112


def test_traffic_is_split_by_junction_and_direction(loaded: Loaded) -> None:
    data = _fetch(loaded, DASHBOARDS["traffic"])
    names = {series.name for series in data[_panel("traffic", "Vehicles per junction").id][0].series}
    assert names == {f"{sensor} {direction}" for sensor in ("traffic-rozova-dolina", "traffic-batenberg")
                     for direction in ("north", "south")}


def test_dashboards_render_to_png(loaded: Loaded, tmp_path: Path) -> None:
    paths = render_site(CONFIG, loaded.client, loaded.database, tmp_path, loaded.start_ms, loaded.end_ms)
    assert [path.name for path in paths] == [f"{slug}.png" for slug in DASHBOARDS]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    keep = Path(__import__("os").environ.get("EWS_KEEP_RENDERS", ""))
    if keep != Path(""):
        keep.mkdir(parents=True, exist_ok=True)
        for path in paths:
            shutil.copy(path, keep / path.name)


def test_ews_dashboards_render_draws_from_the_given_influxdb(loaded: Loaded, tmp_path: Path) -> None:
    from hub.cli import main

    url = loaded.client.config.url
    assert main(["dashboards", "render", "--out", str(tmp_path), "--influx", url, "--database", loaded.database]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{slug}.png" for slug in DASHBOARDS)
