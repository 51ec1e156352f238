"""`ews demo` end to end: its own Mosquitto and InfluxDB, the hub on the Kazanlak example, every
simulated device's readings in InfluxDB, and no service left running."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from hub.cli import main
from hub.demo import run_demo, run_scenario_demo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[1]


def test_demo_stores_every_reading_and_stops_its_services(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(ROOT / "examples" / "kazanlak" / "site.yaml", tmp_path, rounds=3, keep=False) == 0
    out = capsys.readouterr().out
    assert "demo OK: every reading reached InfluxDB" in out
    assert "river" in out and "latest river levels" in out
    match = re.search(r"Mosquitto on 127\.0\.0\.1:(\d+), InfluxDB on http://127\.0\.0\.1:(\d+)", out)
    assert match is not None
    for port in match.groups():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()


def test_demo_with_a_scenario_runs_the_drill_reports_it_and_draws_the_dashboards(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_scenario_demo(ROOT / "examples" / "kazanlak" / "site.yaml", tmp_path, "faults", None, keep=False) == 0
    out = capsys.readouterr().out
    assert "drill faults — A gauge going silent and a stuck value on a quiet day: PASSED" in out
    assert re.search(r"\+7h30m +\d+ readings \( *\d+/s\)  open alarms: red 0 orange 0 yellow 0 info 1  "
                     r"SMS queued 0, sent 0", out)
    assert "where to look:" in out and (tmp_path / "dashboards" / "hazard.png").exists()
    match = re.search(r"Mosquitto on 127\.0\.0\.1:(\d+), InfluxDB on http://127\.0\.0\.1:(\d+)", out)
    assert match is not None
    for port in match.groups():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()


def test_demo_refuses_an_unknown_scenario_before_starting_anything(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--scenario", "tsunami", "--workdir", str(tmp_path)]) == 2
    assert "tsunami: 1 error(s) in scenario\n  no such scenario; shipped: " in capsys.readouterr().err
    assert not (tmp_path / "mosquitto").exists()
