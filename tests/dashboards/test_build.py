"""The generated dashboards' structure and their agreement with the site config and with the JSON
kept in the repository: unique panel ids, no overlapping panels, every query on the provisioned
InfluxDB data source, thresholds equal to the rules' levels, and no drift from `ews dashboards build`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboards.build import DEFAULT_CONFIG, JSON_FOLDER, build_dashboards, gauge_rules, generated_files, regex_of
from dashboards.model import DATASOURCE_UID, MANAGED_TAG, UID_PREFIX, GridPos
from hub.cli import main
from hub.config import load_config
from rules.config import AccumulationRule, ThresholdRule

CONFIG = load_config(DEFAULT_CONFIG)
REPO_JSON = {path.name: json.loads(path.read_text()) for path in sorted(JSON_FOLDER.glob("*.json"))}


def test_the_repository_holds_the_four_dashboards() -> None:
    assert set(REPO_JSON) == {"hazard.json", "traffic.json", "security.json", "system.json"}


@pytest.mark.parametrize("name", sorted(REPO_JSON))
def test_panel_ids_are_unique_and_panels_do_not_overlap(name: str) -> None:
    panels = REPO_JSON[name]["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    covered: dict[tuple[int, int], int] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        for cell in GridPos(grid["x"], grid["y"], grid["w"], grid["h"]).cells():
            assert cell not in covered, f"panel {panel['id']} overlaps panel {covered[cell]} at {cell}"
            covered[cell] = panel["id"]


@pytest.mark.parametrize("name", sorted(REPO_JSON))
def test_every_query_uses_the_provisioned_datasource_in_raw_influxql(name: str) -> None:
    provisioned = (Path(__file__).parents[2] / "deploy" / "grafana" / "provisioning" / "datasources"
                   / "influxdb.yaml").read_text()
    assert f"uid: {DATASOURCE_UID}" in provisioned
    dashboard = REPO_JSON[name]
    assert dashboard["uid"].startswith(UID_PREFIX) and MANAGED_TAG in dashboard["tags"]
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}
        assert panel["targets"], f"panel {panel['title']} has no query"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["rawQuery"] is True and "$timeFilter" in target["query"] or "now() - 24h" in target["query"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID
    for annotation in dashboard["annotations"]["list"][1:]:
        assert annotation["datasource"]["uid"] == DATASOURCE_UID


def _steps(levels: dict[str, float]) -> list[dict[str, object]]:
    return [{"color": "green", "value": None}] + [{"color": name, "value": value} for name, value in levels.items()]


def test_gauge_panels_draw_exactly_the_levels_of_their_rules() -> None:
    panels = REPO_JSON["hazard.json"]["panels"]
    found = gauge_rules(CONFIG)
    assert len(found) >= 8  # every river, dam and camera level rule of the Kazanlak example
    for rule, sensors, _ in found:
        matching = [p for p in panels if p.get("description", "").startswith(f"Rule {rule.id}")]
        assert len(matching) == 1, rule.id
        panel = matching[0]
        assert regex_of(sensors) in panel["targets"][0]["query"]
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["thresholds"]["steps"] == _steps(dict(rule.levels.items()))
        assert defaults["custom"]["thresholdsStyle"]["mode"] == "line+area"


def test_rain_and_shaking_panels_use_the_rules_levels() -> None:
    panels = {p["title"]: p for p in REPO_JSON["hazard.json"]["panels"]}
    hourly = next(r for r in CONFIG.rules if isinstance(r, AccumulationRule) and r.window_s == 3600)
    daily = next(r for r in CONFIG.rules if isinstance(r, AccumulationRule) and r.window_s == 86400)
    shaking = next(r for r in CONFIG.rules if isinstance(r, ThresholdRule) and r.field == "pga_g")
    for title, rule in (("Rain per hour", hourly), ("Rain in the last 24 h", daily),
                        ("Peak ground acceleration", shaking)):
        assert panels[title]["fieldConfig"]["defaults"]["thresholds"]["steps"] == _steps(dict(rule.levels.items()))


def test_a_changed_level_in_the_config_changes_the_dashboard() -> None:
    text = DEFAULT_CONFIG.read_text().replace("levels: {yellow: 250, orange: 320, red: 400}\n    clear: 230\n    for_s",
                                              "levels: {yellow: 251, orange: 320, red: 400}\n    clear: 230\n    for_s")
    from hub.config import parse_config

    changed = generated_files(parse_config(text))
    assert changed["json/hazard.json"] != generated_files(CONFIG)["json/hazard.json"]
    assert '"value": 251.0' in changed["json/hazard.json"]


def test_repository_json_equals_what_ews_dashboards_build_writes(tmp_path: Path) -> None:
    assert main(["dashboards", "build", "-c", str(DEFAULT_CONFIG), "--out", str(tmp_path)]) == 0
    for relative in generated_files(CONFIG):
        built = (tmp_path / relative).read_text()
        kept = (JSON_FOLDER.parent / relative).read_text()
        assert built == kept, f"dashboards/{relative} is stale: run `ews dashboards build`"


def test_every_dashboard_has_main_panels_and_time_series_carry_alarm_annotations() -> None:
    for dashboard in build_dashboards(CONFIG):
        assert any(panel.role == "main" for panel in dashboard.panels)
    hazard = REPO_JSON["hazard.json"]
    assert any('FROM "alarm"' in a.get("query", "") for a in hazard["annotations"]["list"])
    geomap = next(p for p in hazard["panels"] if p["type"] == "geomap")
    assert geomap["options"]["layers"][0]["location"]["gazetteer"].endswith(f"{CONFIG.site.id}.json")
