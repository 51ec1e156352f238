"""`ews replay`: recorded readings through the configured rules, one JSON line per alarm event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli import main

CASE = Path(__file__).parents[1] / "cases" / "eninska-flash-flood"


def test_replay_prints_alarm_events_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "-c", str(CASE / "config.yaml"), "--input", str(CASE / "input.csv")]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert lines and set(lines[0]) >= {"time", "rule", "subject", "level", "state", "value", "event"}
    raised = [line for line in lines if line["event"] == "raised"]
    assert raised[0]["rule"] == "rain-3h" and raised[0]["time"] == "2016-05-14T13:00:40.000Z"
    # The river level alarm of Derelika: one alarm, up to orange and down again, then the all-clear.
    level_events = [line for line in lines if line["rule"] == "eninska-derelika-level"]
    assert [(line["event"], line["level"]) for line in level_events] == [
        ("raised", "yellow"), ("escalated", "orange"), ("deescalated", "yellow"), ("cleared", "yellow")]
    assert len({line["alarm"] for line in level_events}) == 1
    assert f"{len(lines)} alarm events" in captured.err


def test_replay_of_a_file_with_a_bad_row_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,sensor,value\n2016-05-14T12:00:00Z,eninska-kazanlak,110\nyesterday,eninska-kazanlak,1\n")
    code = main(["replay", "-c", str(CASE / "config.yaml"), "--input", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "bad.csv:3: cannot read time" in err


def test_replay_with_unknown_sensor_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", "-c", str(CASE / "config.yaml"), "--input", str(CASE / "input.csv"), "--sensor", "nope"])
    assert code == 2 and "'nope' is not in" in capsys.readouterr().err


def test_silence_and_alarm_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "site.yaml"
    config.write_text((CASE / "config.yaml").read_text())
    base = ["-c", str(config), "--data-dir", str(tmp_path / "data")]
    assert main(["silence", "add", *base, "--sensor", "eninska-kazanlak", "--hours", "2", "--by", "Георги",
                 "--comment", "gauge calibration"]) == 0
    assert "silence #1: sensor eninska-kazanlak until" in capsys.readouterr().out
    assert main(["silence", "list", *base]) == 0
    assert "by Георги: gauge calibration" in capsys.readouterr().out
    assert main(["silence", "add", *base, "--area", "x", "--hours", "1000", "--by", "Г", "--comment", "c"]) == 2
    assert "at most" in capsys.readouterr().err
    assert main(["silence", "remove", *base, "1", "--by", "Георги"]) == 0
    assert main(["silence", "list", *base]) == 0
    assert "#1" not in capsys.readouterr().out.split("removed")[-1]
    assert main(["alarms", *base]) == 0
    assert "0 open alarm(s)" in capsys.readouterr().out
