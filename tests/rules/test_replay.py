"""Replay: recorded CSV and JSONL files read as the live pipeline would read them, with a clear
error naming the line of a bad row; conditions come out in file order with time-driven checks
first; and a golden case (config, input, expected conditions) kept as data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.config import load_config, sensor_specs
from rules.engine import RuleEngine
from rules.replay import ReplayError, load_readings, parse_time_ms, replay_conditions
from tests.rules.helpers import MINUTE, T0, engine, specs

SPECS = specs()
CASES = Path(__file__).resolve().parents[1] / "cases"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def test_parse_time() -> None:
    assert parse_time_ms("2026-05-14T10:00:00Z") == T0
    assert parse_time_ms("2026-05-14T13:00:00+03:00") == T0
    assert parse_time_ms(str(T0)) == T0 and parse_time_ms(T0) == T0 and parse_time_ms(float(T0)) == T0
    for bad, reason in [("2026-05-14T10:00:00", "no time zone"), ("yesterday", "cannot read time"),
                        ("1778752800", "before 2000"), (True, "boolean"), (1.5e12 + 0.5, "whole milliseconds")]:
        with pytest.raises(ValueError, match=reason):
            parse_time_ms(bad)


def test_csv_with_sensor_column_value_and_field_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", f"""
time,sensor,value,temperature_c,quality
2026-05-14T10:00:00Z,g1,231.5,8.5,
{T0 + MINUTE},g1,233,,suspect

2026-05-14T13:02:00+03:00,r1,0.4,,good
""")
    readings = list(load_readings(path, "csv", SPECS))
    assert [(r.sensor, r.kind, r.area, r.ts_ms, dict(r.values), r.quality) for r in readings] == [
        ("g1", "river", "centre", T0, {"level_cm": 231.5, "temperature_c": 8.5}, "good"),
        ("g1", "river", "centre", T0 + MINUTE, {"level_cm": 233.0}, "suspect"),
        ("r1", "rain", "up", T0 + 2 * MINUTE, {"mm": 0.4}, "good"),
    ]


def test_csv_for_one_sensor(tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", f"time,level_cm\n{T0},100\n{T0 + MINUTE},101\n")
    assert [r.values["level_cm"] for r in load_readings(path, "csv", SPECS, sensor="g2")] == [100, 101]
    mixed = write(tmp_path, "mixed.csv", f"time,sensor,level_cm\n{T0},g1,100\n{T0},g2,5\n{T0 + 1},g1,101\n")
    assert [r.values["level_cm"] for r in load_readings(mixed, "csv", SPECS, sensor="g1")] == [100, 101]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"time,sensor,value\n{T0},g1,100\n2026-05-14 10:00,g1,100\n", ":3: time '2026-05-14 10:00' has no time zone"),
        (f"time,sensor,value\n{T0},g1,100\n{T0},g9,100\n", ":3: unknown sensor 'g9'"),
        (f"time,sensor,value\n{T0},g1,99999\n", ":2: level_cm=99999 outside [-200, 3000]"),
        (f"time,sensor,value\n{T0},g1,high\n", ":2: value: 'high' is not a number"),
        (f"time,sensor,value\n{T0},g1\n", ":2: 2 cells, the header has 3"),
        (f"time,sensor,level_m\n{T0},g1,1.2\n", ":2: river sensor has no field 'level_m'"),
        (f"time,sensor,level_cm\n{T0},g1,\n", ":2: no value in the row"),
        (f"time,sensor,value,quality\n{T0},g1,1,great\n", ":2: quality 'great'"),
        ("when,sensor,value\n", ":1: no 'time' column"),
        ("time,value\n", ":1: no 'sensor' column and no sensor given"),
        ("time,sensor\n", ":1: no 'value' column and no field columns"),
    ],
)
def test_bad_csv_row_stops_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(ReplayError) as caught:
        list(load_readings(path, "csv", SPECS))
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


def test_jsonl(tmp_path: Path) -> None:
    lines = [
        {"sensor": "g1", "ts": "2026-05-14T10:00:00Z", "values": {"level_cm": 231.5}, "quality": "good"},
        {"sensor": "r1", "ts": T0 + MINUTE, "values": {"total_mm": 12.2}},
        {"ts": T0 + 2 * MINUTE, "values": {"level_cm": 233}},
    ]
    path = write(tmp_path, "in.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    with pytest.raises(ReplayError, match=r"in.jsonl:3: no sensor named"):
        list(load_readings(path, "jsonl", SPECS))
    readings = list(load_readings(path, "jsonl", SPECS, sensor="g1"))
    assert [(r.sensor, r.ts_ms, dict(r.values)) for r in readings] == [
        ("g1", T0, {"level_cm": 231.5}), ("g1", T0 + 2 * MINUTE, {"level_cm": 233.0})]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"sensor": "g1", "ts": 1, "values": {"level_cm": 1}}', ":1: time 1 is before 2000"),
        (f'{{"sensor": "g1", "ts": {T0}, "values": {{"level_cm": 1}}}}\n\n{{oops', ":3: not JSON"),
        ('[1, 2]', ":1: a reading is a JSON object"),
        (f'{{"sensor": "g1", "ts": {T0}, "values": {{}}}}', ":1: 'values' must be an object"),
        ('{"sensor": "g1", "values": {"level_cm": 1}}', ":1: no 'ts'"),
        (f'{{"sensor": "g1", "ts": {T0}, "values": {{"level_cm": "1"}}}}', ":1: level_cm is str, not a number"),
    ],
)
def test_bad_jsonl_line_stops_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.jsonl", text)
    with pytest.raises(ReplayError) as caught:
        list(load_readings(path, "jsonl", SPECS))
    assert message in str(caught.value)


def test_unknown_sensor_option_and_format(tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "time,value\n")
    with pytest.raises(ReplayError, match="unknown sensor 'g9'"):
        list(load_readings(path, "csv", SPECS, sensor="g9"))
    with pytest.raises(ReplayError, match="unknown format"):
        list(load_readings(path, "xml", SPECS))  # type: ignore[arg-type]


def test_replay_runs_the_clock_before_each_reading(tmp_path: Path) -> None:
    e = engine("""
- {id: lvl, kind: threshold, hazard: flood, select: {sensors: [g1]}, field: level_cm, levels: {yellow: 250},
   clear: 230}
- {id: silent, kind: stale, select: {sensors: [g1]}}
""")
    path = write(tmp_path, "in.csv", f"time,sensor,value\n{T0},g1,260\n{T0 + 10 * MINUTE},g1,100\n")
    out = list(replay_conditions(e, load_readings(path, "csv", SPECS)))
    assert [(c.rule, c.level, c.inhibited, (c.ts_ms - T0) // MINUTE) for c in out] == [
        ("lvl", "yellow", False, 0),
        ("silent", "info", False, 3), ("lvl", "yellow", True, 3),  # due at 3 min, found by the clock at 10
        ("silent", None, False, 10), ("lvl", "yellow", False, 10), ("lvl", None, False, 10),
    ]


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if (p / "expected.jsonl").exists()))
def test_golden_case(case: str) -> None:
    folder = CASES / case
    config = load_config(folder / "config.yaml")
    specs_of_case = sensor_specs(config)
    e = RuleEngine(config.rules, specs_of_case, timezone=config.site.timezone)
    got = [
        {"ts": c.ts_ms, "rule": c.rule, "subject": c.subject, "level": c.level, "inhibited": c.inhibited,
         "message": c.evidence.get("message")}
        for c in replay_conditions(e, load_readings(folder / "input.csv", "csv", specs_of_case))
    ]
    expected = [json.loads(line) for line in (folder / "expected.jsonl").read_text().splitlines() if line.strip()]
    for item in expected:
        item["ts"] = parse_time_ms(item["ts"])
    assert got == expected
