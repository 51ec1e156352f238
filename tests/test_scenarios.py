"""Every shipped scenario as a drill through the full stack (real Mosquitto and InfluxDB, the hub
on event time, citizens' SMS through the outbox provider): each passes its own expectations; a
deliberately broken rule makes the flood drill fail with a report that says what happened; the
same seed gives the same alarm events and the same messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from firmware_sim.scenario import load_scenario, scenario_names
from hub.demo import run_drill
from hub.localservices import LocalInfluxd, LocalMosquitto

pytestmark = pytest.mark.integration

SITE_PATH = Path(__file__).parents[1] / "examples" / "kazanlak" / "site.yaml"


def kazanlak(name: str) -> dict:
    """The Kazanlak site under a topic root of its own (the broker is shared by the session)."""
    site = yaml.safe_load(SITE_PATH.read_text(encoding="utf-8"))
    site["site"]["id"] = name
    return site


@pytest.mark.parametrize("scenario_name", scenario_names())
def test_every_scenario_passes_through_the_full_stack(scenario_name: str, mosquitto: LocalMosquitto,
                                                      influxd: LocalInfluxd, unique_name: str, tmp_path: Path) -> None:
    scenario = load_scenario(scenario_name)
    report = run_drill(kazanlak(unique_name), scenario, tmp_path / "hub", mosquitto.port, influxd.url,
                       f"db_{unique_name}")
    assert report.passed, report.text()
    assert len(report.results) == (len(scenario.expect.alarms) + len(scenario.expect.never)
                                   + len(scenario.expect.messages) + len(scenario.expect.no_messages_to))


def test_a_raised_threshold_fails_the_flood_drill_with_a_readable_report(mosquitto: LocalMosquitto,
                                                                         influxd: LocalInfluxd, unique_name: str,
                                                                         tmp_path: Path) -> None:
    site = kazanlak(unique_name)
    (rule,) = [r for r in site["rules"] if r["id"] == "eninska-derelika-level"]
    rule["levels"]["red"] = 400  # a typo'd threshold: the Derelika gauge crests at 3.5 m
    report = run_drill(site, load_scenario("flood"), tmp_path / "hub", mosquitto.port, influxd.url,
                       f"db_{unique_name}")
    assert not report.passed
    text = report.text()
    assert "FAILED (1 of 20 expectations not met)" in text
    assert ("FAIL eninska-derelika-level on kazanlak-derelika reaches red by +2h20m: highest level orange; "
            "seen: raised yellow at +1h38m, escalated orange at +1h52m") in text
    assert "ok   eninska-derelika-level on kazanlak-derelika reaches orange by +2h00m" in text


def test_the_same_seed_gives_the_same_alarm_events_and_messages(mosquitto: LocalMosquitto, influxd: LocalInfluxd,
                                                                unique_name: str, tmp_path: Path) -> None:
    scenario = load_scenario("flood")
    runs = []
    for run in ("first", "second"):
        report = run_drill(kazanlak(unique_name), scenario, tmp_path / run, mosquitto.port, influxd.url,
                           f"db_{unique_name}_{run}")
        alarms = [(a.ts_ms, a.event, a.rule, a.subject, a.level, a.state) for a in report.alarms]
        messages = [(m.rule, m.area, m.kind, m.phone, m.language, m.body) for m in report.messages]
        runs.append((alarms, messages))
    assert runs[0][0] and runs[0][1]
    assert runs[0] == runs[1]
