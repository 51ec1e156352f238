"""Rule config validation: a table of broken rules, each refused with its path and reason; the
Kazanlak rule set loads, covers every kind, and the compose deployment carries the same rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_config, parse_config, sensor_specs
from hub.configbase import ConfigError
from rules.config import AccumulationRule, CompositeRule, StaleRule, rule_version, selected_sensors
from rules.engine import RuleEngine
from tests.rules.helpers import site, site_text

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
- {id: lvl, kind: threshold, hazard: flood, select: {sensors: [g1]}, field: level_cm,
   levels: {yellow: 250, orange: 320, red: 400}, clear: 230}
- {id: low, kind: threshold, hazard: flood, select: {sensors: [g3]}, field: level_cm, direction: below,
   levels: {yellow: 20, orange: 10}, clear: 25}
- {id: rise, kind: rate, hazard: flood, select: {kinds: [river]}, field: level_cm, window_s: 900,
   levels: {yellow: 10}, clear: 4}
- {id: rain, kind: accumulation, hazard: rain, select: {kinds: [rain]}, field: mm, window_s: 3600,
   levels: {yellow: 20}, clear: 10}
- {id: eta, kind: time_to_threshold, hazard: flood, select: {sensors: [g1]}, field: level_cm,
   levels: {yellow: 250, orange: 320}}
- {id: silent, kind: stale, select: {kinds: [river]}}
- {id: stuck, kind: flatline, select: {kinds: [river]}, field: level_cm, window_s: 21600}
- {id: watch, kind: composite, hazard: flood, members: [{rule: rain, level: yellow}, {rule: rise}], level: orange,
   area: down}
- {id: fire, kind: detection, hazard: fire, select: {kinds: [fire]}, field: fire_score, at_least: 0.6,
   levels: {yellow: 3}}
"""


def broken(old: str, new: str) -> str:
    assert old in GOOD, old
    return site_text(GOOD.replace(old, new, 1))


CASES = [
    ("unknown kind", broken("kind: threshold, hazard: flood, select: {sensors: [g1]}",
                            "kind: treshold, hazard: flood, select: {sensors: [g1]}"),
     "rules[0]", "unknown rule kind 'treshold'"),
    ("no kind", broken("- {id: silent, kind: stale,", "- {id: silent,"), "rules[5]", "a rule needs a kind"),
    ("bad id", broken("id: lvl,", "id: Lvl,"), "rules[0].id", "should match pattern"),
    ("unknown hazard", broken("hazard: flood, select: {sensors: [g1]}", "hazard: flod, select: {sensors: [g1]}"),
     "rules[0].hazard", "unknown value 'flod'"),
    ("unknown key", broken("clear: 230}", "clear: 230, hysteresis: 5}"), "rules[0].hysteresis", "unknown key"),
    ("levels out of order", broken("{yellow: 250, orange: 320, red: 400}", "{yellow: 250, orange: 420, red: 400}"),
     "rules[0].levels", "red (400) must lie above orange (420) for direction 'above'"),
    ("below levels out of order", broken("{yellow: 20, orange: 10}", "{yellow: 10, orange: 20}"),
     "rules[1].levels", "orange (20) must lie below yellow (10) for direction 'below'"),
    ("clear on the wrong side", broken("clear: 230}", "clear: 260}"),
     "rules[0].clear", "clear (260) must lie below the lowest level (yellow 250)"),
    ("clear at the level", broken("clear: 230}", "clear: 250}"), "rules[0].clear", "must lie below the lowest level"),
    ("below clear on the wrong side", broken("clear: 25}", "clear: 15}"),
     "rules[1].clear", "clear (15) must lie above the lowest level (yellow 20)"),
    ("no levels", broken("{yellow: 250, orange: 320, red: 400}", "{}"), "rules[0].levels",
     "give at least one of yellow, orange, red"),
    ("negative rate", broken("levels: {yellow: 10}, clear: 4}", "levels: {yellow: -10}, clear: -14}"),
     "rules[2].levels", "must be positive"),
    ("zero window", broken("window_s: 900", "window_s: 0"), "rules[2].window_s", "greater than 0"),
    ("negative rain clear", broken("levels: {yellow: 20}, clear: 10}", "levels: {yellow: 20}, clear: -1}"),
     "rules[3].clear", "must not be negative"),
    ("empty select", broken("select: {kinds: [river]}}", "select: {}}"), "rules[5].select",
     "select needs at least one of sensors, kinds, areas, tags"),
    ("unknown sensor", broken("select: {sensors: [g1]}, field: level_cm,\n   levels: {yellow: 250, orange: 320, red",
                              "select: {sensors: [g1, g9]}, field: level_cm,\n   levels: {yellow: 250, orange: 320, red"),
     "rules[0].select.sensors[1]", "unknown sensor 'g9'"),
    ("unknown area", broken("select: {kinds: [rain]}", "select: {kinds: [rain], areas: [nowhere]}"),
     "rules[3].select.areas[0]", "unknown area 'nowhere'"),
    ("unknown sensor kind", broken("select: {kinds: [fire]}", "select: {kinds: [fires]}"),
     "rules[8].select.kinds[0]", "unknown value 'fires'"),
    ("selects nothing", broken("select: {kinds: [fire]}", "select: {kinds: [fire], areas: [centre]}"),
     "rules[8].select", "selects no sensor"),
    ("field the sensor lacks", broken("select: {kinds: [rain]}, field: mm", "select: {kinds: [rain, river]}, field: mm"),
     "rules[3].field", "river sensor 'g1' and 2 more has no field 'mm'"),
    ("duplicate id", broken("id: low,", "id: lvl,"), "rules[1].id", "duplicate rule id 'lvl'"),
    ("unknown member", broken("{rule: rise}", "{rule: rize}"), "rules[7].members[1].rule", "unknown rule 'rize'"),
    ("composite in itself", broken("{rule: rise}", "{rule: watch}"), "rules[7].members[1].rule",
     "a composite cannot contain itself"),
    ("composite area", broken("area: down}", "area: nowhere}"), "rules[7].area", "unknown area 'nowhere'"),
    ("no members", broken("members: [{rule: rain, level: yellow}, {rule: rise}]", "members: []"),
     "rules[7].members", "at least 1 item"),
    ("member level", broken("{rule: rain, level: yellow}", "{rule: rain, level: purple}"),
     "rules[7].members[0].level", "unknown value 'purple'"),
    ("public stale", broken("{id: silent, kind: stale,", "{id: silent, kind: stale, audience: public,"),
     "rules[5].audience", "unknown value 'public'"),
    ("area subject of a forecast", broken("{id: eta, kind: time_to_threshold,",
                                          "{id: eta, kind: time_to_threshold, subject: area,"),
     "rules[4].subject", "unknown value 'area'"),
    ("negative duration", broken("clear: 230}", "clear: 230, for_s: -5}"), "rules[0].for_s", "greater than or equal to 0"),
    ("unknown corroborator", broken("clear: 230}", "clear: 230, corroboration: {rules: [cam]}}"),
     "rules[0].corroboration.rules[0]", "unknown rule 'cam'"),
    ("self corroboration", broken("clear: 230}", "clear: 230, corroboration: {rules: [lvl]}}"),
     "rules[0].corroboration.rules[0]", "cannot corroborate itself"),
    ("short clear horizon", broken("levels: {yellow: 250, orange: 320}}", "levels: {yellow: 250, orange: 320}, "
                                   "horizon_s: 3600, clear_horizon_s: 600}"),
     "rules[4]", "clear_horizon_s (600) must not be shorter than horizon_s (3600)"),
    ("not a mapping", broken("- {id: silent, kind: stale, select: {kinds: [river]}}", "- silent"), "rules[5]",
     "a rule is a mapping"),
]


@pytest.mark.parametrize(("case", "text", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_broken_rule_is_refused_with_path_and_reason(case: str, text: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    issues = caught.value.issues
    assert any(issue.path == path and message in issue.message for issue in issues), [str(i) for i in issues]


def test_composites_that_depend_on_each_other_are_refused() -> None:
    text = site_text(GOOD + """
- {id: a, kind: composite, hazard: flood, members: [{rule: b}], level: orange, area: down}
- {id: b, kind: composite, hazard: flood, members: [{rule: a}], level: orange, area: down}
""")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert {str(i) for i in caught.value.issues} >= {
        "rules[9].members: composite 'a' depends on itself", "rules[10].members: composite 'b' depends on itself"}


def test_good_rules_load_with_defaults() -> None:
    config = site(GOOD)
    silent = config.rules[5]
    assert isinstance(silent, StaleRule)
    assert (silent.audience, silent.hazard, silent.after_intervals, silent.inhibit) == ("staff", "technical", 3.0, True)
    rain = config.rules[3]
    assert isinstance(rain, AccumulationRule) and not rain.is_counter
    assert rain.model_copy(update={"field": "total_mm"}).is_counter
    assert config.rules[0].audience == "staff"
    specs = sensor_specs(config)
    assert selected_sensors(config.rules[2], specs) == ["g1", "g2", "g3"]
    assert selected_sensors(config.rules[7], specs) == []


def test_rule_version_is_stable_and_short() -> None:
    a, b = site(GOOD), site(GOOD)
    assert [rule_version(r) for r in a.rules] == [rule_version(r) for r in b.rules]
    assert len({rule_version(r) for r in a.rules}) == len(a.rules)
    assert all(len(rule_version(r)) == 12 for r in a.rules)


def test_kazanlak_rule_set_loads_and_covers_every_kind() -> None:
    config = load_config(ROOT / "examples" / "kazanlak" / "site.yaml")
    kinds = {rule.kind for rule in config.rules}
    assert kinds == {"threshold", "rate", "accumulation", "time_to_threshold", "stale", "flatline", "composite",
                     "detection"}
    specs = sensor_specs(config)
    engine = RuleEngine(config.rules, specs)
    # Every gauge (river, dam, rain) is watched for silence; every river and dam gauge for a stuck value.
    gauges = {s for s, spec in specs.items() if spec.kind in ("river", "dam", "rain")}
    stale_selected = {s for r in config.rules if r.kind == "stale" for s in selected_sensors(r, specs)}
    flat_selected = {s for r in config.rules if r.kind == "flatline" for s in selected_sensors(r, specs)}
    assert gauges <= stale_selected
    assert {s for s in gauges if specs[s].kind != "rain"} <= flat_selected
    assert {"tundzha-kazanlak", "eninska-kazanlak", "koprinka-dam", "rain-shipka"} <= engine.selected_sensors()
    by_id = {rule.id: rule for rule in config.rules}
    watch = by_id["eninska-flood-watch"]
    assert isinstance(watch, CompositeRule) and watch.level == "orange" and watch.audience == "public"
    assert any(r.kind == "threshold" and r.audience == "public" and r.hazard == "flood" for r in config.rules)


def test_compose_deployment_carries_the_same_rules() -> None:
    example = load_config(ROOT / "examples" / "kazanlak" / "site.yaml")
    compose = load_config(ROOT / "deploy" / "site.compose.yaml")
    assert [rule_version(r) for r in compose.rules] == [rule_version(r) for r in example.rules]
