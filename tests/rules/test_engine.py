"""The rule engine over readings and its clock: selection, area subjects, escalation in place,
stale sensors holding their value alarms, composites, corroboration, windows ageing with time,
forecasts in local time, late readings, and state that survives a restart."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.types import Condition
from rules.engine import RuleEngine
from tests.rules.helpers import MINUTE, T0, engine, feed, levels, reading, site

LEVEL_RULE = """
- id: lvl
  kind: threshold
  hazard: flood
  audience: public
  select: {sensors: [g1]}
  field: level_cm
  levels: {yellow: 250, orange: 320, red: 400}
  clear: 230
"""

SILENT_RULE = """
- {id: silent, kind: stale, select: {kinds: [river, rain]}, after_intervals: 3}
"""


def river(sensor: str, minute: float, level: float, **extra: float):
    return reading(sensor, T0 + round(minute * MINUTE), level_cm=level, **extra)


# -- selection --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("select", "expected"),
    [
        ("{sensors: [g1, g3]}", {"g1", "g3"}),
        ("{kinds: [river]}", {"g1", "g2", "g3"}),
        ("{areas: [centre]}", {"g1", "g2", "cam1", "s1"}),
        ("{tags: {river: eninska}}", {"g1", "g2"}),
        ("{kinds: [river], areas: [down]}", {"g3"}),
        ("{kinds: [river, camera_water], areas: [centre]}", {"g1", "g2", "cam1"}),
        ("{sensors: [g1, g3], tags: {river: tundzha}}", {"g3"}),
    ],
)
def test_a_sensor_is_selected_when_it_meets_every_criterion(select: str, expected: set[str]) -> None:
    rules = f"- {{id: s, kind: stale, select: {select}}}"
    assert engine(rules).selected_sensors() == expected


def test_readings_of_unselected_sensors_and_fields_do_nothing() -> None:
    e = engine(LEVEL_RULE)
    assert e.on_reading(river("g2", 0, 500)) == []
    assert e.on_reading(reading("g1", T0, temperature_c=12.0)) == []
    assert levels(e.on_reading(river("g1", 1, 500))) == [("g1", "red")]


# -- conditions -----------------------------------------------------------------------------------

def test_condition_carries_rule_version_area_audience_hazard_and_evidence() -> None:
    e = engine(LEVEL_RULE)
    [condition] = e.on_reading(river("g1", 0, 330))
    assert condition == Condition(
        rule="lvl", rule_version=e.rule_versions()["lvl"], subject="g1", area="centre", level="orange",
        audience="public", hazard="flood", ts_ms=T0, evidence=condition.evidence,
    )
    assert len(condition.rule_version) == 12
    evidence = condition.evidence
    assert evidence["value"] == 330 and evidence["thresholds"] == {"yellow": 250, "orange": 320, "red": 400}
    assert evidence["clear"] == 230 and evidence["data_age_s"] == 0.0 and evidence["sensors"] == ["g1"]
    assert evidence["message"] == "level_cm 330: orange reached (320)"
    json.dumps(evidence)


def test_rule_version_changes_with_the_rule_only() -> None:
    a = engine(LEVEL_RULE).rule_versions()["lvl"]
    assert engine(LEVEL_RULE).rule_versions()["lvl"] == a
    assert engine(LEVEL_RULE.replace("clear: 230", "clear: 229")).rule_versions()["lvl"] != a


def test_escalation_and_deescalation_happen_in_place() -> None:
    e = engine(LEVEL_RULE)
    out = feed(e, [river("g1", m, v) for m, v in enumerate([200, 260, 330, 410, 330, 260, 200, 200])])
    assert levels(out) == [("g1", "yellow"), ("g1", "orange"), ("g1", "red"), ("g1", "orange"), ("g1", "yellow"),
                           ("g1", None)]


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["g1", "g2"]), st.floats(0, 600)), max_size=80))
def test_each_subject_alternates_raise_and_clear_and_never_raises_twice(values: list[tuple[str, float]]) -> None:
    e = engine("""
- id: lvl
  kind: threshold
  hazard: flood
  select: {kinds: [river], areas: [centre]}
  field: level_cm
  levels: {yellow: 250, orange: 320, red: 400}
  clear: 230
  for_s: 120
""")
    out = feed(e, [river(sensor, minute, value) for minute, (sensor, value) in enumerate(values)])
    per_subject: dict[str, list[str | None]] = {}
    for condition in out:
        per_subject.setdefault(condition.subject, []).append(condition.level)
    for sequence in per_subject.values():
        previous = None
        for level in sequence:
            assert level != previous, "emitted without a level change"
            previous = level
        raises = [i for i, level in enumerate(sequence) if level is not None and (i == 0 or sequence[i - 1] is None)]
        clears = [i for i, level in enumerate(sequence) if level is None]
        assert len(raises) - len(clears) in (0, 1)
        assert sequence[0] is not None


# -- area subjects ------------------------------------------------------------------------------

AREA_RULE = """
- id: area-lvl
  kind: threshold
  hazard: flood
  select: {kinds: [river], areas: [centre]}
  subject: area
  field: level_cm
  levels: {yellow: 250, orange: 320}
  clear: 230
"""


def test_area_subject_takes_the_worst_of_its_sensors() -> None:
    e = engine(AREA_RULE)
    out = feed(e, [river("g1", 0, 260), river("g2", 1, 200), river("g2", 2, 330), river("g1", 3, 100),
                   river("g2", 4, 240), river("g2", 5, 220)])
    assert levels(out) == [("centre", "yellow"), ("centre", "orange"), ("centre", "yellow"), ("centre", None)]
    assert out[1].evidence["values"] == {"g1": 260, "g2": 330}
    assert out[1].evidence["sensors"] == ["g1", "g2"] and out[1].evidence["aggregate"] == "worst"
    assert out[1].evidence["data_age_s"] == 120.0  # g1's value is two minutes old
    assert {c.area for c in out} == {"centre"}


def test_area_subject_mean() -> None:
    e = engine(AREA_RULE + "  aggregate: mean\n")
    out = feed(e, [river("g1", 0, 300), river("g2", 1, 180)])
    assert levels(out) == [("centre", "yellow")]  # 300, then mean 240 > 230 holds


# -- stale sensors ------------------------------------------------------------------------------------

def test_stale_sensor_holds_its_value_alarms_and_releases_them_when_data_returns() -> None:
    e = engine(LEVEL_RULE + SILENT_RULE)
    out = feed(e, [river("g1", 0, 330), river("g3", 1, 100)])
    assert levels(out) == [("g1", "orange")]
    out = [c for c in e.tick(T0 + 3 * MINUTE) if c.subject == "g1"]  # g2, r1, r2: never heard
    assert [(c.rule, c.subject, c.level, c.inhibited) for c in out] == [
        ("silent", "g1", "info", False), ("lvl", "g1", "orange", True)]
    assert out[0].audience == "staff" and out[0].hazard == "technical" and out[0].ts_ms == T0 + 3 * MINUTE
    assert "no data from g1 for 3 min" in out[0].evidence["message"]
    assert out[1].evidence["inhibited_by"] == "silent"
    assert [c for c in e.tick(T0 + 30 * MINUTE) if c.subject == "g1"] == []  # held: nothing changes
    out = e.on_reading(river("g1", 40, 100))
    assert [(c.rule, c.subject, c.level, c.inhibited) for c in out] == [
        ("silent", "g1", None, False), ("lvl", "g1", "orange", False), ("lvl", "g1", None, False)]


def test_never_heard_sensor_is_stale_from_when_the_engine_started() -> None:
    e = engine(SILENT_RULE)
    assert e.tick(T0) == []
    out = e.tick(T0 + 10 * MINUTE)
    # Three intervals: 3 min for the 60 s sensors, 6 min for g3 (120 s); r2 (300 s) not yet.
    assert {(c.subject, c.ts_ms) for c in out} == {
        ("g1", T0 + 3 * MINUTE), ("g2", T0 + 3 * MINUTE), ("g3", T0 + 6 * MINUTE), ("r1", T0 + 3 * MINUTE)}
    assert out[0].evidence["last_data"] is None


def test_a_bad_reading_keeps_the_sensor_alive_but_feeds_no_value_rule() -> None:
    e = engine(LEVEL_RULE + SILENT_RULE)
    out = feed(e, [reading("g1", T0 + m * MINUTE, quality="bad", level_cm=500) for m in range(10)])
    assert [c for c in out if c.subject == "g1"] == []


def test_area_subject_keeps_a_silent_sensors_last_value_and_is_held_when_all_are_silent() -> None:
    e = engine(AREA_RULE + SILENT_RULE)
    feed(e, [river("g1", 0, 260), river("g2", 0.5, 200)])
    out = [c for c in feed(e, [river("g2", m, 200) for m in range(1, 6)]) if c.subject in ("g1", "g2", "centre")]
    # g1 falls silent: its last 260 cm still counts, so g2's 200 cm does not clear the area...
    assert [(c.rule, c.subject, c.level) for c in out] == [("silent", "g1", "info")]
    # ...but g2 can escalate it.
    [escalated] = e.on_reading(river("g2", 6, 330))
    assert (escalated.level, escalated.inhibited, escalated.evidence["silent"]) == ("orange", False, ["g1"])
    e2 = engine(AREA_RULE + SILENT_RULE)
    feed(e2, [river("g1", 0, 330), river("g2", 0.5, 200)])
    out = e2.tick(T0 + 10 * MINUTE)
    assert [(c.rule, c.subject, c.level, c.inhibited) for c in out if c.rule == "area-lvl"] == [
        ("area-lvl", "centre", "orange", True)]


def test_windows_do_not_age_while_the_sensor_is_silent() -> None:
    e = engine("""
- {id: rain1h, kind: accumulation, hazard: rain, select: {sensors: [r1]}, field: mm, window_s: 3600,
   levels: {yellow: 20}, clear: 10}
- {id: silent, kind: stale, select: {sensors: [r1]}}
""")
    out = feed(e, [reading("r1", T0 + m * MINUTE, mm=1.0) for m in range(25)])
    assert levels(out, "rain1h") == [("r1", "yellow")]
    out = e.tick(T0 + 5 * 60 * MINUTE)
    assert [(c.rule, c.level, c.inhibited) for c in out] == [("silent", "info", False), ("rain1h", "yellow", True)]
    out = e.on_reading(reading("r1", T0 + 6 * 60 * MINUTE, mm=0.0))
    assert [(c.rule, c.level, c.inhibited) for c in out] == [
        ("silent", None, False), ("rain1h", "yellow", False), ("rain1h", None, False)]


# -- time alone ------------------------------------------------------------------------------------

def test_rain_ages_out_of_the_window_without_new_readings() -> None:
    e = engine("""
- {id: rain1h, kind: accumulation, hazard: rain, select: {sensors: [r1]}, field: total_mm, window_s: 3600,
   levels: {yellow: 20, orange: 30}, clear: 10}
""")
    total = 50.0
    stream = []
    for minute in range(31):
        stream.append(reading("r1", T0 + minute * MINUTE, total_mm=total))
        total += 1.0
    out = feed(e, stream)
    assert levels(out) == [("r1", "yellow"), ("r1", "orange")]
    # No more readings (an event-driven gauge): the sum falls as the rain leaves the window.
    out = e.tick(T0 + 3 * 60 * MINUTE)
    assert levels(out) == [("r1", "yellow"), ("r1", None)]
    # Orange is held above 20 mm (its threshold less the 10 mm margin): the 10th mm leaves the
    # window at minute 70; yellow is held above the clear level, 10 mm, until minute 80.
    assert [c.ts_ms for c in out] == [T0 + 70 * MINUTE, T0 + 80 * MINUTE]


def test_fire_persistence_raises_and_clears_after_the_gap() -> None:
    e = engine("""
- id: fire
  kind: detection
  hazard: fire
  select: {kinds: [fire]}
  subject: area
  field: fire_score
  at_least: 0.6
  measure: duration_s
  max_gap_s: 60
  levels: {yellow: 30, orange: 120}
""")
    stream = [reading("f1" if s % 2 else "f2", T0 + s * 10_000, fire_score=0.8) for s in range(14)]
    out = feed(e, stream)
    assert levels(out) == [("forest", "yellow"), ("forest", "orange")]
    out = e.tick(T0 + 10 * MINUTE)
    assert levels(out) == [("forest", None)]
    assert out[0].ts_ms == T0 + 130_000 + 60_000 + 1


def test_seismic_trigger_count_within_the_window() -> None:
    e = engine("""
- {id: quake, kind: detection, hazard: earthquake, select: {kinds: [seismic]}, field: stalta, at_least: 4,
   measure: count, window_s: 10, levels: {yellow: 3}}
""")
    values = [1, 5, 1, 5, 1, 5, 1, 1]
    out = feed(e, [reading("s1", T0 + i * 1000, stalta=v) for i, v in enumerate(values)])
    assert levels(out) == [("s1", "yellow")]
    assert out[0].evidence["value"] == 3 and out[0].ts_ms == T0 + 5000
    assert levels(e.tick(T0 + 20_000)) == [("s1", None)]


# -- composites and corroboration ---------------------------------------------------------------------

COMPOSITE_RULES = """
- {id: rain3h, kind: accumulation, hazard: rain, select: {kinds: [rain]}, field: mm, window_s: 10800,
   levels: {yellow: 30, orange: 40}, clear: 20}
- {id: rise, kind: rate, hazard: flood, select: {kinds: [river], tags: {river: eninska}}, field: level_cm,
   window_s: 3600, levels: {yellow: 10}, clear: 4}
- id: watch
  kind: composite
  hazard: flood
  audience: public
  members:
    - {rule: rain3h, level: orange, areas: [up]}
    - {rule: rise, level: yellow}
  within_s: 3600
  level: orange
  area: down
"""


def test_composite_needs_every_member_within_the_window_and_expires() -> None:
    e = engine(COMPOSITE_RULES)
    stream = [reading("r1", T0 + m * MINUTE, mm=1.0) for m in range(45)]  # 40 mm at minute 39
    out = feed(e, stream)
    assert [(c.rule, c.level) for c in out] == [("rain3h", "yellow"), ("rain3h", "orange")]
    # The river rises 15 cm in the hour after the rain.
    river_stream = [river("g1", 45 + m, 100 + 0.25 * m) for m in range(61)]
    out = feed(e, river_stream)
    watch = [c for c in out if c.rule == "watch"]
    assert [(c.subject, c.area, c.level, c.audience) for c in watch] == [("down", "down", "orange", "public")]
    members = watch[0].evidence["members"]
    assert {m["rule"] for m in members} == {"rain3h", "rise"}
    assert watch[0].evidence["sensors"] == ["g1", "r1"]
    # Rain stops; the 3 h sum stays past orange until minute 180+; the river levels off.
    out = feed(e, [river("g1", 106 + m, 115) for m in range(120)])
    [rise_cleared] = [c for c in out if c.rule == "rise"]
    assert rise_cleared.level is None
    # The watch holds for within_s after its last member fell below its level, then clears.
    [watch_cleared] = [c for c in out if c.rule == "watch"]
    assert watch_cleared.level is None and watch_cleared.ts_ms == rise_cleared.ts_ms + 3600 * 1000 + 1


def test_composite_member_filter_by_area() -> None:
    e = engine(COMPOSITE_RULES.replace("areas: [up]", "areas: [centre]"))
    out = feed(e, [reading("r1", T0 + m * MINUTE, mm=1.0) for m in range(45)]
               + [river("g1", 45 + m, 100 + 0.25 * m) for m in range(61)])
    assert [c for c in out if c.rule == "watch"] == []


CORROBORATION_RULES = LEVEL_RULE.replace("select: {sensors: [g1]}", "select: {sensors: [g1]}\n  corroboration: {rules: [cam], within_s: 600}") + """
- {id: cam, kind: threshold, hazard: flood, select: {sensors: [cam1]}, field: level_cm,
   levels: {yellow: 250, orange: 320, red: 400}, clear: 230}
"""


def test_corroboration_raises_confidence_on_the_same_level() -> None:
    e = engine(CORROBORATION_RULES)
    [first] = e.on_reading(river("g1", 0, 330))
    assert first.evidence["confidence"] == "single_source"
    out = e.on_reading(reading("cam1", T0 + MINUTE, level_cm=335))
    assert [(c.rule, c.level, c.evidence.get("confidence")) for c in out] == [
        ("cam", "orange", None), ("lvl", "orange", "corroborated")]
    assert out[1].evidence["corroborated_by"] == [
        {"rule": "cam", "subject": "cam1", "level": "orange", "ts_ms": T0 + MINUTE}]
    # The camera drops to yellow: it no longer agrees with orange once its grace has passed.
    assert [(c.rule, c.level) for c in e.on_reading(reading("cam1", T0 + 2 * MINUTE, level_cm=260))] == [
        ("cam", "yellow")]
    out = e.tick(T0 + 13 * MINUTE)
    assert [(c.rule, c.level, c.evidence["confidence"], c.ts_ms) for c in out] == [
        ("lvl", "orange", "single_source", T0 + 12 * MINUTE + 1)]


# -- forecasts ---------------------------------------------------------------------------------------

def test_time_to_threshold_message_in_local_time() -> None:
    e = engine("""
- {id: eta, kind: time_to_threshold, hazard: flood, select: {sensors: [g1]}, field: level_cm,
   levels: {yellow: 200, orange: 260, red: 320}, window_s: 1800, horizon_s: 3600, min_samples: 5}
""")
    out = feed(e, [river("g1", m, 150 + 2.0 * m) for m in range(5)])
    # 158 cm at 13:04 local (10:04Z), +2 cm/min: orange (260) at 13:55, red (320) beyond the hour.
    assert levels(out) == [("g1", "orange")]
    evidence = out[0].evidence
    assert evidence["message"] == "orange expected at 13:55 ± 1 min"
    assert evidence["eta"] == "2026-05-14T10:55:00Z"
    assert evidence["eta_local"] == "2026-05-14T13:55+03:00"
    assert evidence["forecast_level"] == "orange" and evidence["trend_per_h"] == 120.0


def test_flatline_is_an_info_alarm_for_staff() -> None:
    e = engine("""
- {id: stuck, kind: flatline, select: {kinds: [river]}, field: level_cm, window_s: 1800, min_readings: 5}
""")
    out = feed(e, [river("g3", 2 * m, 120) for m in range(20)] + [river("g3", 41, 121)])
    assert [(c.subject, c.level, c.audience, c.hazard) for c in out] == [
        ("g3", "info", "staff", "technical"), ("g3", None, "staff", "technical")]
    assert out[0].ts_ms == T0 + 30 * MINUTE


# -- order --------------------------------------------------------------------------------------------

def test_late_and_duplicate_readings_are_ignored_and_counted() -> None:
    e = engine(LEVEL_RULE)
    assert levels(e.on_reading(river("g1", 5, 330))) == [("g1", "orange")]
    assert e.on_reading(river("g1", 5, 100)) == []
    assert e.on_reading(river("g1", 4, 100)) == []
    assert e.late_readings == 2
    assert levels(e.on_reading(river("g1", 6, 100))) == [("g1", None)]


# -- state across a restart -------------------------------------------------------------------------

RESTART_RULES = """
- {id: lvl, kind: threshold, hazard: flood, select: {kinds: [river]}, field: level_cm,
   levels: {yellow: 250, orange: 320, red: 400}, clear: 230, for_s: 600, clear_for_s: 120}
- {id: area-lvl, kind: threshold, hazard: flood, select: {kinds: [river], areas: [centre]}, subject: area,
   field: level_cm, levels: {yellow: 250}, clear: 230, count: 2}
- {id: rise, kind: rate, hazard: flood, select: {kinds: [river]}, field: level_cm, window_s: 900,
   levels: {yellow: 10, orange: 20}, clear: 4}
- {id: rain1h, kind: accumulation, hazard: rain, select: {kinds: [rain]}, field: total_mm, window_s: 3600,
   levels: {yellow: 10}, clear: 5}
- {id: eta, kind: time_to_threshold, hazard: flood, select: {sensors: [g1]}, field: level_cm,
   levels: {yellow: 250, orange: 320}, min_samples: 5}
- {id: stuck, kind: flatline, select: {sensors: [g2]}, field: level_cm, window_s: 600, min_readings: 3}
- {id: silent, kind: stale, select: {kinds: [river, rain]}, after_intervals: 3}
- {id: fire, kind: detection, hazard: fire, select: {kinds: [fire]}, subject: area, field: fire_score,
   at_least: 0.6, measure: duration_s, max_gap_s: 30, levels: {yellow: 20}}
- {id: watch, kind: composite, hazard: flood, members: [{rule: rain1h}, {rule: rise}], within_s: 1200,
   level: orange, area: down}
"""


def scenario(seed: int) -> list:
    """Two hours of a flood at g1 with rain, a stuck g2, gaps in g1 and g3, fire detections."""
    import random

    chance = random.Random(seed)
    stream = []
    total = 10.0
    for minute in range(120):
        ts = T0 + minute * MINUTE
        level = 150 + max(0, minute - 20) * 3.0 - max(0, minute - 80) * 6.0 + chance.gauss(0, 2)
        if not 70 <= minute < 76:  # silent while its alarm is up: held, then released
            stream.append(reading("g1", ts, level_cm=max(0.0, min(2999.0, level))))
        stream.append(reading("g2", ts + 1000, level_cm=80.0))
        if not 40 <= minute < 60:
            stream.append(reading("g3", ts + 2000, level_cm=100 + chance.random() * 5))
        if minute < 60:
            total += chance.random() * 0.8
        stream.append(reading("r1", ts + 3000, total_mm=total))
        if 30 <= minute < 34:
            stream.extend(reading("f1", ts + s * 10_000, fire_score=0.9) for s in range(6))
    return stream


@settings(max_examples=25)
@given(st.integers(0, 10_000), st.floats(0.05, 0.95))
def test_restore_in_the_middle_gives_the_same_conditions_as_an_uninterrupted_run(seed: int, split: float) -> None:
    config = site(RESTART_RULES)
    from hub.config import sensor_specs

    specs = sensor_specs(config)
    stream = scenario(seed)
    cut = int(len(stream) * split)
    whole = RuleEngine(config.rules, specs)
    expected = feed(whole, stream)
    first = RuleEngine(config.rules, specs)
    before = feed(first, stream[:cut])
    saved = json.loads(json.dumps(first.snapshot()))
    second = RuleEngine(config.rules, specs)
    second.restore(saved)
    after = feed(second, stream[cut:])
    assert before + after == expected
    assert second.snapshot() == whole.snapshot()


def test_restore_keeps_a_pending_duration() -> None:
    rules = LEVEL_RULE.replace("clear: 230", "clear: 230\n  for_s: 600")
    e = engine(rules)
    assert feed(e, [river("g1", m, 260) for m in range(6)]) == []
    restarted = engine(rules)
    restarted.restore(json.loads(json.dumps(e.snapshot())))
    out = feed(restarted, [river("g1", m, 260) for m in range(6, 11)])
    assert [(c.level, c.ts_ms) for c in out] == [("yellow", T0 + 10 * MINUTE)]


def test_a_changed_rule_discards_its_state() -> None:
    e = engine(LEVEL_RULE + SILENT_RULE)
    feed(e, [river("g1", 0, 330)])
    changed = engine(LEVEL_RULE.replace("clear: 230", "clear: 220") + SILENT_RULE)
    changed.restore(e.snapshot())
    assert changed.active_conditions() == []
    [discarded] = changed.discarded_conditions()
    assert (discarded.rule, discarded.subject, discarded.level) == ("lvl", "g1", None)
    assert discarded.rule_version == e.rule_versions()["lvl"]
    # The new rule starts afresh: the same value raises again under the new version.
    [again] = changed.on_reading(river("g1", 1, 330))
    assert again.level == "orange" and again.rule_version == changed.rule_versions()["lvl"]


def test_restore_refuses_a_foreign_snapshot() -> None:
    with pytest.raises(ValueError, match="not a rule engine snapshot"):
        engine(LEVEL_RULE).restore({"format": "something-else"})


def test_detections_of_an_area_add_up_to_a_coincidence() -> None:
    e = engine("""
- {id: smoke, kind: detection, hazard: fire, select: {kinds: [fire]}, subject: area, field: smoke_score,
   at_least: 0.7, measure: count, window_s: 60, levels: {yellow: 3}}
""")
    out = feed(e, [reading("f1", T0, smoke_score=0.8), reading("f2", T0 + 10_000, smoke_score=0.9),
                   reading("f1", T0 + 20_000, smoke_score=0.1), reading("f2", T0 + 30_000, smoke_score=0.75)])
    assert levels(out) == [("forest", "yellow")]
    assert out[0].evidence["values"] == {"f1": 1, "f2": 2} and out[0].evidence["aggregate"] == "sum"
    assert out[0].evidence["window_s"] == 60


def test_an_area_alarm_is_corroborated_by_a_camera_in_the_same_area() -> None:
    e = engine(AREA_RULE + "  corroboration: {rules: [cam]}\n" + """
- {id: cam, kind: threshold, hazard: flood, select: {sensors: [cam1]}, field: level_cm, levels: {yellow: 250},
   clear: 230}
- {id: far-cam, kind: threshold, hazard: flood, select: {sensors: [g3]}, field: level_cm, levels: {yellow: 250},
   clear: 230}
""")
    feed(e, [river("g3", 0, 300)])  # another area: does not count
    [raised] = feed(e, [river("g1", 1, 300)])
    assert raised.evidence["confidence"] == "single_source"
    out = feed(e, [reading("cam1", T0 + 2 * MINUTE, level_cm=280)])
    assert [(c.rule, c.subject, c.evidence.get("confidence")) for c in out] == [
        ("cam", "cam1", None), ("area-lvl", "centre", "corroborated")]


def test_rate_and_rain_evidence_name_their_window() -> None:
    e = engine("""
- {id: rise, kind: rate, hazard: flood, select: {sensors: [g1]}, field: level_cm, window_s: 900,
   levels: {yellow: 10}, clear: 4}
- {id: rain, kind: accumulation, hazard: rain, select: {sensors: [r1]}, field: mm, window_s: 3600,
   levels: {yellow: 5}, clear: 2}
""")
    out = feed(e, [river("g1", m, 100 + m) for m in range(16)] + [reading("r1", T0 + 20 * MINUTE, mm=6.0)])
    assert [(c.rule, c.evidence["window_s"]) for c in out] == [("rise", 900), ("rain", 3600)]
    assert out[0].evidence["message"] == "level_cm rise over 15 min 15: yellow reached (10)"  # 1 cm/min
    assert out[1].evidence["unplaced_mm"] == 0.0
