"""Backtesting: read recorded readings from a file and feed them through the rule engine, to see
what the configured rules would have raised (`ews replay`).

Formats:

* CSV with a header. `time` is ISO 8601 with a time zone (`2026-05-14T13:00:00+03:00`,
  `...Z`) or epoch milliseconds. Values come from a `value` column (the sensor kind's main field,
  see `MAIN_FIELD`) or from columns named after fields (`level_cm`, `total_mm`, ...); an empty
  cell leaves that field out of the row. A `sensor` column names the sensor unless one is given
  to the loader; an optional `quality` column holds good/suspect/bad.
* JSONL: one normalised reading per line, `{"sensor": "...", "ts": <ISO or epoch ms>,
  "values": {...}, "quality": "good"}` (the MQTT wire format plus the sensor); blank lines skip.

With a sensor given, rows without a sensor belong to it and rows of other sensors are skipped.
A row that cannot be read, or that the live pipeline would refuse (an unknown sensor or field, a
value out of the sensor's range, a time without a zone), stops the replay with a `ReplayError`
naming the file and line: a backtest over silently thinned data would mislead."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

from hub.sensors import EARLIEST_TS_MS, SensorSpec, check_values, make_reading
from hub.types import QUALITIES, Condition, Reading
from rules.engine import RuleEngine

#: The field a CSV `value` column stands for, by sensor kind.
MAIN_FIELD: dict[str, str] = {
    "river": "level_cm",
    "dam": "level_cm",
    "rain": "mm",
    "seismic": "pga_g",
    "camera_water": "level_cm",
    "fire": "fire_score",
    "traffic": "vehicles",
    "parking": "occupancy_pct",
    "pedestrians": "count",
    "weather": "temperature_c",
}
_EPOCH_MS = re.compile(r"^-?\d+$")
_RESERVED_COLUMNS = frozenset(("time", "sensor", "quality", "value"))


class ReplayError(ValueError):
    """A recorded file that cannot be replayed; the message names the file and line."""


def parse_time_ms(text: object) -> int:
    """Epoch milliseconds from ISO 8601 with a time zone or from an integer of epoch ms.
    Raises ValueError on anything else, including ISO times without a zone."""
    if isinstance(text, bool):
        raise ValueError("time is a boolean")
    if isinstance(text, int):
        ts_ms = text
    elif isinstance(text, float):
        if not text.is_integer():
            raise ValueError(f"epoch time {text} is not whole milliseconds")
        ts_ms = int(text)
    elif isinstance(text, str):
        stripped = text.strip()
        if _EPOCH_MS.match(stripped):
            ts_ms = int(stripped)
        else:
            try:
                moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"cannot read time {text!r} (ISO 8601 with a zone, or epoch ms)") from None
            if moment.tzinfo is None:
                raise ValueError(f"time {text!r} has no time zone (add Z or +03:00)")
            ts_ms = round(moment.timestamp() * 1000)
    else:
        raise ValueError(f"time is {type(text).__name__}, not text or a number")
    if ts_ms < EARLIEST_TS_MS:
        raise ValueError(f"time {text!r} is before 2000 (seconds given as milliseconds?)")
    return ts_ms


def load_readings(
    path: str | Path, fmt: Literal["csv", "jsonl"], sensors: Mapping[str, SensorSpec], sensor: str | None = None
) -> Iterator[Reading]:
    """The readings of a recorded file, in file order, validated as the live pipeline does.
    Raises ReplayError (with the line number) on the first row that cannot be used."""
    path = Path(path)
    if sensor is not None and sensor not in sensors:
        raise ReplayError(f"{path}: unknown sensor {sensor!r}")
    if fmt == "csv":
        yield from _csv_readings(path, sensors, sensor)
    elif fmt == "jsonl":
        yield from _jsonl_readings(path, sensors, sensor)
    else:
        raise ReplayError(f"{path}: unknown format {fmt!r} (csv or jsonl)")


def _csv_readings(path: Path, sensors: Mapping[str, SensorSpec], only: str | None) -> Iterator[Reading]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            return
        if "time" not in header:
            raise ReplayError(f"{path}:1: no 'time' column (columns: {', '.join(header)})")
        if "sensor" not in header and only is None:
            raise ReplayError(f"{path}:1: no 'sensor' column and no sensor given")
        value_columns = [name for name in header if name not in _RESERVED_COLUMNS]
        if "value" not in header and not value_columns:
            raise ReplayError(f"{path}:1: no 'value' column and no field columns")
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ReplayError(f"{path}:{line}: {len(row)} cells, the header has {len(header)}")
            cells = dict(zip(header, (cell.strip() for cell in row), strict=True))
            sensor_id = cells.get("sensor") or only
            if only is not None and sensor_id != only:
                continue
            raw: dict[str, object] = {}
            try:
                spec = _spec(sensors, sensor_id)
                ts_ms = parse_time_ms(cells["time"])
                if cells.get("value"):
                    raw[MAIN_FIELD[spec.kind]] = _number(cells["value"], "value")
                for name in value_columns:
                    if cells[name]:
                        raw[name] = _number(cells[name], name)
                quality = cells.get("quality") or "good"
                yield _reading(spec, ts_ms, raw, quality)
            except ValueError as error:
                raise ReplayError(f"{path}:{line}: {error}") from None


def _jsonl_readings(path: Path, sensors: Mapping[str, SensorSpec], only: str | None) -> Iterator[Reading]:
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                document = json.loads(text)
            except json.JSONDecodeError as error:
                raise ReplayError(f"{path}:{line}: not JSON ({error.msg})") from None
            if not isinstance(document, dict):
                raise ReplayError(f"{path}:{line}: a reading is a JSON object with sensor, ts and values")
            sensor_id = document.get("sensor", only)
            if only is not None and sensor_id != only:
                continue
            try:
                spec = _spec(sensors, sensor_id)
                if "ts" not in document:
                    raise ValueError("no 'ts'")
                ts_ms = parse_time_ms(document["ts"])
                values = document.get("values")
                if not isinstance(values, dict) or not values:
                    raise ValueError("'values' must be an object with at least one field")
                yield _reading(spec, ts_ms, values, document.get("quality", "good"))
            except ValueError as error:
                raise ReplayError(f"{path}:{line}: {error}") from None


def _spec(sensors: Mapping[str, SensorSpec], sensor_id: object) -> SensorSpec:
    if not isinstance(sensor_id, str) or not sensor_id:
        raise ValueError("no sensor named")
    spec = sensors.get(sensor_id)
    if spec is None:
        raise ValueError(f"unknown sensor {sensor_id!r}")
    return spec


def _number(text: str, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{column}: {text!r} is not a number") from None


def _reading(spec: SensorSpec, ts_ms: int, raw: Mapping[str, object], quality: object) -> Reading:
    if quality not in QUALITIES:
        raise ValueError(f"quality {quality!r} is not one of good, suspect, bad")
    if not raw:
        raise ValueError("no value in the row")
    accepted, problems = check_values(spec, raw)
    if problems:
        raise ValueError("; ".join(problem.detail for problem in problems))
    return make_reading(spec, ts_ms, accepted, str(quality))


def replay_conditions(engine: RuleEngine, readings: Iterable[Reading]) -> Iterator[Condition]:
    """The conditions the engine emits for `readings` in file order: for each reading, first what
    falls due by its time (`tick`), then what the reading itself causes (`on_reading`)."""
    for reading in readings:
        yield from engine.tick(reading.ts_ms)
        yield from engine.on_reading(reading)
