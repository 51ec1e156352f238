"""Scenario files: validation at load with paths and reasons, the cross-check against the site,
the messages a scenario plays (repeatable, seeded, faults applied; paced and in order on a real
broker), and the drill verdict."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.scenario import ScenarioError, check_against_site, load_scenario, parse_scenario, scenario_names
from firmware_sim.scenario_check import QueuedMessage, check_drill, scenario_clock
from firmware_sim.scenario_runner import AlarmRecord, ScenarioPlayer, publications
from hub.localservices import LocalMosquitto

SITE = yaml.safe_load((Path(__file__).parents[2] / "examples" / "kazanlak" / "site.yaml").read_text(encoding="utf-8"))

SMALL = """
name: small
title: Two gauges
seed: 1
start: 2026-05-14T15:00:00Z
duration_s: 600
sensors:
  eninska-kazanlak:
    fields:
      level_cm: {signal: {kind: ramp, start: 100, rate_per_s: 0.1}, noise: {sigma: 2}}
  tundzha-kazanlak:
    fields:
      level_cm: {signal: {kind: ramp, start: 140, rate_per_s: 0.1}}
faults:
  - {sensor: eninska-kazanlak, kind: silent, from_s: 120, to_s: 300}
  - {sensor: tundzha-kazanlak, kind: stuck, from_s: 0}
expect:
  alarms:
    - {rule: eninska-derelika-level, subject: kazanlak-derelika, level: orange, by_s: 300}
    - {rule: eninska-derelika-level, subject: kazanlak-derelika, state: cleared, by_s: 600}
  never:
    - {rule: gauge-silent, level: info}
  messages:
    - {area: kazanlak-derelika, kind: warning, at_least: 2}
  no_messages_to: [buzovgrad]
"""


def test_every_shipped_scenario_loads_and_fits_the_kazanlak_site() -> None:
    assert {"flood", "faults", "dam", "wildfire", "earthquake"} <= set(scenario_names())
    for name in scenario_names():
        scenario = load_scenario(name)
        check_against_site(scenario, SITE, name)
        assert scenario.expect.alarms or scenario.expect.never


def test_a_bad_scenario_is_refused_with_every_path_and_reason() -> None:
    text = SMALL.replace("kind: ramp", "kind: rampp", 1).replace("level: orange", "level: purple") \
        .replace("sensor: tundzha-kazanlak, kind: stuck", "sensor: tundzha-kazanlak, kind: stuck, to_s: -1")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "small.yaml")
    message = str(caught.value)
    assert "small.yaml: 3 error(s)" in message
    assert "sensors.eninska-kazanlak.fields.level_cm.signal: Input tag 'rampp'" in message
    assert "expect.alarms[0].level: Input should be 'info', 'yellow', 'orange' or 'red'" in message
    assert "faults[1]" in message and "to_s must be after from_s" in message


def test_faults_must_name_a_scripted_sensor_and_start_needs_a_zone() -> None:
    with pytest.raises(ScenarioError, match="fault on sensor 'eninska-upper', which the scenario does not script"):
        parse_scenario(SMALL.replace("sensor: eninska-kazanlak, kind: silent", "sensor: eninska-upper, kind: silent"))
    with pytest.raises(ScenarioError, match="start: Value error, start needs a time zone"):
        parse_scenario(SMALL.replace("2026-05-14T15:00:00Z", "2026-05-14T15:00:00"))


def test_an_unknown_name_lists_the_shipped_scenarios() -> None:
    with pytest.raises(ScenarioError, match="no such scenario; shipped: .*flood"):
        load_scenario("tsunami")


def test_the_site_check_names_what_the_site_lacks_or_the_runner_cannot_play() -> None:
    text = SMALL.replace("eninska-kazanlak:\n", "eninska-enina:\n").replace(
        "sensor: eninska-kazanlak", "sensor: eninska-enina").replace(
        "tundzha-kazanlak:\n    fields:\n      level_cm", "tundzha-kazanlak:\n    fields:\n      stage_m").replace(
        "rule: eninska-derelika-level, subject: kazanlak-derelika, level",
        "rule: no-such-rule, subject: nowhere, level")
    text = text.replace("no_messages_to: [buzovgrad]", "no_messages_to: [atlantis]")
    text += "subscribers: [{phone: '+359888100001', areas: [derelika]}]\n"
    scenario = parse_scenario(text)
    with pytest.raises(ScenarioError) as caught:
        check_against_site(scenario, SITE, "small")
    problems = caught.value.problems
    assert "sensors.eninska-enina: its messages carry no timestamp (plain format without a time field), " \
           "so the drill cannot give them scenario time" in problems
    assert "sensors.tundzha-kazanlak.fields.stage_m: the device's mapping has no such field " \
           "(has level_cm, temperature_c)" in problems
    assert "expect.alarms[0].rule: unknown rule 'no-such-rule'" in problems
    assert "expect.alarms[0].subject: neither a sensor nor an area: 'nowhere'" in problems
    assert "subscribers[0].areas: unknown area 'derelika'" in problems
    assert "expect.no_messages_to: unknown area 'atlantis'" in problems
    modbus = parse_scenario(SMALL.replace("tundzha-kazanlak:\n", "eninska-derelika-radar:\n")
                            .replace("sensor: tundzha-kazanlak", "sensor: eninska-derelika-radar"))
    with pytest.raises(ScenarioError, match="a Modbus or waveform source"):
        check_against_site(modbus, SITE)


def test_publications_are_in_time_order_in_the_devices_formats_with_faults_applied() -> None:
    scenario = parse_scenario(SMALL)
    played = list(publications(scenario, SITE))
    times = [p.t_s for p in played]
    assert times == sorted(times)
    eninska = [p for p in played if p.sensor == "eninska-kazanlak"]
    # Every 60 s (its interval in the site), none while silent (120 s up to 300 s).
    assert [p.t_s for p in eninska] == [0, 60, 300, 360, 420, 480, 540, 600]
    body = json.loads(eninska[0].payload)
    assert eninska[0].topic == "ews/kazanlak/reading/river/eninska-kazanlak"
    assert body["ts"] == "2026-05-14T15:00:00.000Z" and set(body["values"]) == {"level_cm"}
    assert json.loads(eninska[2].payload)["ts"] == "2026-05-14T15:05:00.000Z"
    # The vendor's JSON with its own time field; stuck at the value of its first reading.
    tundzha = [p for p in played if p.sensor == "tundzha-kazanlak"]
    assert tundzha[0].topic == "vendor/hydromet/KZL-T01/obs"
    assert {json.loads(p.payload)["obs"]["stage_m"] for p in tundzha} == {1.4}
    flowing = parse_scenario(SMALL.replace("  - {sensor: tundzha-kazanlak, kind: stuck, from_s: 0}\n", ""))
    assert len({p.payload for p in publications(flowing, SITE) if p.sensor == "tundzha-kazanlak"}) == len(tundzha)
    assert json.loads(tundzha[-1].payload)["time"] == "2026-05-14T15:10:00.000Z"


def test_the_same_seed_gives_the_same_messages_and_another_seed_other_noise() -> None:
    scenario = parse_scenario(SMALL)
    first = [p.payload for p in publications(scenario, SITE)]
    assert first == [p.payload for p in publications(scenario, SITE)]
    other = [p.payload for p in publications(scenario.model_copy(update={"seed": 2}), SITE)]
    assert other != first and len(other) == len(first)


def test_a_counter_restarts_with_every_run() -> None:
    text = SMALL.replace("level_cm: {signal: {kind: ramp, start: 140, rate_per_s: 0.1}}",
                         "level_cm: {signal: {kind: counter, rate_per_h: {kind: constant, value: 60}, per_count: 1}}")
    text = text.replace("  - {sensor: tundzha-kazanlak, kind: stuck, from_s: 0}\n", "")
    scenario = parse_scenario(text)
    runs = [[p.values["level_cm"] for p in publications(scenario, SITE) if p.sensor == "tundzha-kazanlak"]
            for _ in range(2)]
    assert runs[0] == runs[1] == [0, 2, 4, 6, 8, 10]


def record(t_s: float, rule: str, subject: str, level: str, state: str, event: str = "raised") -> AlarmRecord:
    start_ms = 1778770800000
    return AlarmRecord(start_ms + round(t_s * 1000), event, 1, rule, subject, "kazanlak-derelika", "public", level,
                       state)


def message(area: str, kind: str) -> QueuedMessage:
    return QueuedMessage(1, "eninska-derelika-level", area, kind, "+359888100001", "bg", "text", "sent")


def test_the_verdict_passes_when_everything_happened_in_time() -> None:
    scenario = parse_scenario(SMALL)
    alarms = [record(100, "eninska-derelika-level", "kazanlak-derelika", "yellow", "active"),
              record(250, "eninska-derelika-level", "kazanlak-derelika", "orange", "active", "escalated"),
              record(500, "eninska-derelika-level", "kazanlak-derelika", "orange", "cleared", "cleared")]
    report = check_drill(scenario, alarms, [message("kazanlak-derelika", "warning")] * 2)
    assert report.passed
    assert "drill small — Two gauges: PASSED" in report.text()
    assert "ok   eninska-derelika-level on kazanlak-derelika reaches orange by +0h05m: orange active at +0h04m10s" \
        in report.text()


def test_the_verdict_says_what_happened_instead() -> None:
    scenario = parse_scenario(SMALL)
    alarms = [record(100, "eninska-derelika-level", "kazanlak-derelika", "yellow", "active"),
              record(400, "gauge-silent", "eninska-kazanlak", "info", "active")]
    report = check_drill(scenario, alarms, [message("kazanlak-derelika", "warning"), message("buzovgrad", "warning")])
    assert not report.passed
    text = report.text()
    assert "FAILED (5 of 5 expectations not met)" in text
    assert ("FAIL eninska-derelika-level on kazanlak-derelika reaches orange by +0h05m: highest level yellow; "
            "seen: raised yellow at +0h01m40s") in text
    assert "FAIL eninska-derelika-level on kazanlak-derelika clears by +0h10m: highest level yellow" in text
    assert "FAIL no gauge-silent: info on eninska-kazanlak at +0h06m40s" in text
    assert "FAIL at least 2 warning SMS to kazanlak-derelika: 1 queued" in text
    assert "FAIL no citizen SMS to buzovgrad: 1 queued" in text
    late = check_drill(scenario, [record(420, "eninska-derelika-level", "kazanlak-derelika", "red", "active")], [])
    assert "reaches orange by +0h05m: too late: only at +0h07m" in late.text()
    nothing = check_drill(scenario, [], [])
    assert "no alarm of this rule on this subject at all" in nothing.text()


def test_the_scenario_clock_shows_seconds_only_off_the_minute() -> None:
    assert [scenario_clock(s) for s in (0, 60, 3600 + 120, 312, 7200 + 59.6)] == \
        ["+0h00m", "+0h01m", "+1h02m", "+0h05m12s", "+2h01m"]


@pytest.mark.integration
def test_the_player_paces_scenario_time_and_keeps_the_order_on_the_wire(mosquitto: LocalMosquitto) -> None:
    scenario = parse_scenario(SMALL)
    expected = list(publications(scenario, SITE))
    arrived: queue.Queue = queue.Queue()
    subscribed: queue.Queue = queue.Queue()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2)
    listener.on_message = lambda client, userdata, message: arrived.put((message.topic, message.payload))
    listener.on_subscribe = lambda *args: subscribed.put(True)
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe([("ews/kazanlak/reading/#", 1), ("vendor/hydromet/KZL-T01/obs", 1)])
    listener.loop_start()
    subscribed.get(timeout=10)
    try:
        player = ScenarioPlayer(scenario, SITE, "127.0.0.1", mosquitto.port, speed=1200)
        began = time.monotonic()
        assert player.run() == len(expected)
        # 600 scenario seconds at 1200× take half a second, not less.
        assert time.monotonic() - began >= 0.45
        received = [arrived.get(timeout=10) for _ in expected]
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert received == [(p.topic, p.payload) for p in expected]
    assert player.scenario_s == 600 and player.published_by_sensor == {"eninska-kazanlak": 8, "tundzha-kazanlak": 6}
