"""Rule evaluations per second of the rule engine with 500 sensors and the Kazanlak rule set.

The Kazanlak site's sensors are cloned (same kind, area, tags and interval; ids `<id>~<n>`) until
there are 500, and every rule that names sensors by id names the clones too, so the whole rule
set (thresholds with durations and corroboration, area subjects, rates, rain sums from increments
and from counters, the Eninska forecast, stale and flatline checks, composites, fire and seismic
detections) runs over 500 sensors. Each sensor reports at its own interval (seismic stations
every second, fire cameras every 10 s, gauges every 30 s to 10 min), with
values that cross the levels (flood waves, rain bursts, fire and seismic detections) and a few
sensors falling silent for 20 minutes, for two simulated hours. The stream is made before the clock starts; the engine is driven as `ews
replay` drives it: `tick(ts)` then `on_reading(reading)` per reading.

A rule evaluation is one rule's detector run on one reading (a rule that selects the sensor and
finds its field in the reading). The limit measured in the same run is a bare loop that routes
each reading to the same (rule, field) pairs and does one float comparison per pair: the most a
Python loop can do per evaluation, against which the engine's per-evaluation cost is shown."""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import BenchResult, Row
from hub.config import load_config, sensor_specs
from hub.sensors import SensorSpec
from hub.types import Condition, Reading
from rules.config import RuleConfig, selected_sensors
from rules.engine import RuleEngine

REPOSITORY = Path(__file__).resolve().parent.parent
SITE = REPOSITORY / "examples" / "kazanlak" / "site.yaml"
T0 = 1_778_752_800_000  # 2026-05-14T10:00:00Z
MINUTE = 60_000


@dataclass(frozen=True)
class RulesSettings:
    """What to measure and how much."""

    sensors: int = 500
    #: Simulated minutes; every sensor reports at its own interval (1 s to 10 min).
    minutes: int = 120
    repeats: int = 3
    seed: int = 2016


def clone_site(sensors: int) -> tuple[list[RuleConfig], dict[str, SensorSpec]]:
    """The Kazanlak rules and `sensors` sensor specs: the site's own and clones of them."""
    config = load_config(SITE)
    originals = sensor_specs(config)
    specs: dict[str, SensorSpec] = {}
    clones_of: dict[str, list[str]] = {sensor_id: [] for sensor_id in originals}
    copy = 0
    while len(specs) < sensors:
        for sensor_id, spec in originals.items():
            if len(specs) >= sensors:
                break
            new_id = sensor_id if copy == 0 else f"{sensor_id}~{copy}"
            specs[new_id] = replace(spec, id=new_id)
            if copy:
                clones_of[sensor_id].append(new_id)
        copy += 1
    rules: list[RuleConfig] = []
    for rule in config.rules:
        select = getattr(rule, "select", None)
        if select is not None and select.sensors is not None:
            named = [s for original in select.sensors for s in (original, *clones_of[original])]
            rule = rule.model_copy(update={"select": select.model_copy(update={"sensors": named})})
        rules.append(rule)
    return rules, specs


def _value(spec: SensorSpec, minute: int, index: int, chance: random.Random, totals: dict[str, float]) -> dict[str, float]:
    phase = (index * 37) % 240
    wave = max(0.0, math.sin(math.pi * (minute - phase) / 120)) if minute >= phase else 0.0
    if spec.kind in ("river", "camera_water"):
        low, high = spec.ranges["level_cm"]
        level = 120 + 260 * wave ** 2 + chance.gauss(0, 2)
        return {"level_cm": min(high, max(low, level))}
    if spec.kind == "dam":
        return {"level_cm": 4200 + 200 * wave + chance.gauss(0, 1), "fill_pct": 60 + 20 * wave}
    if spec.kind == "rain":
        mm = max(0.0, 1.5 * wave + chance.gauss(0, 0.1)) if wave > 0.3 else 0.0
        totals[spec.id] = totals.get(spec.id, 100.0) + mm
        return {"mm": round(mm, 1), "total_mm": round(totals[spec.id], 1)}
    if spec.kind == "fire":
        score = 0.9 if wave > 0.8 and chance.random() < 0.8 else chance.random() * 0.3
        return {"fire_score": score, "smoke_score": min(1.0, score + 0.05)}
    if spec.kind == "seismic":
        burst = wave > 0.95
        return {"stalta": 6.0 if burst else 1.0 + chance.random() * 0.5,
                "pga_g": 0.1 if burst else chance.random() * 0.002}
    if spec.kind == "weather":
        return {"temperature_c": 15 + chance.gauss(0, 1)}
    if spec.kind == "traffic":
        return {"vehicles": float(chance.randint(0, 50))}
    if spec.kind == "parking":
        return {"occupancy_pct": chance.random() * 100}
    return {"count": float(chance.randint(0, 100))}


def make_stream(specs: dict[str, SensorSpec], minutes: int, seed: int) -> list[Reading]:
    """Every sensor at its own reporting interval (each with its own offset), in time order; one
    sensor in fifty falls silent from minute 50 to 70 (stale checks, held alarms, their release)."""
    chance = random.Random(seed)
    totals: dict[str, float] = {}
    timed: list[tuple[int, int, SensorSpec]] = []
    for index, spec in enumerate(specs.values()):
        interval_ms = round(spec.interval_s * 1000)
        ts = T0 + chance.randrange(interval_ms)
        silent = index % 50 == 7
        while ts < T0 + minutes * MINUTE:
            if not (silent and 50 * MINUTE <= ts - T0 < 70 * MINUTE):
                timed.append((ts, index, spec))
            ts += interval_ms
    timed.sort(key=lambda item: (item[0], item[1]))
    return [
        Reading(spec.id, spec.kind, spec.area, ts, _value(spec, (ts - T0) // MINUTE, index, chance, totals))
        for ts, index, spec in timed
    ]


def evaluations_per_reading(rules: list[RuleConfig], specs: dict[str, SensorSpec]) -> dict[str, list[tuple[str, str]]]:
    """For each sensor, the (rule, field) pairs whose detector a reading of it feeds."""
    routes: dict[str, list[tuple[str, str]]] = {sensor_id: [] for sensor_id in specs}
    for rule in rules:
        field = getattr(rule, "field", None)
        if field is None:
            continue
        for sensor_id in selected_sensors(rule, specs):
            routes[sensor_id].append((rule.id, field))
    return routes


def _engine_run(rules: list[RuleConfig], specs: dict[str, SensorSpec], stream: list[Reading]) -> tuple[float, list[Condition]]:
    engine = RuleEngine(rules, specs)
    out: list[Condition] = []
    started = time.perf_counter()
    for reading in stream:
        out += engine.tick(reading.ts_ms)
        out += engine.on_reading(reading)
    return time.perf_counter() - started, out


def _bare_run(routes: dict[str, list[tuple[str, str]]], stream: list[Reading]) -> tuple[float, int]:
    over = 0
    started = time.perf_counter()
    for reading in stream:
        values = reading.values
        for _, field in routes[reading.sensor]:
            value = values.get(field)
            if value is not None and value >= 250.0:
                over += 1
    return time.perf_counter() - started, over


def run(settings: RulesSettings) -> BenchResult:
    """Build the site and the stream, measure the engine and the bare loop, build the rows."""
    rules, specs = clone_site(settings.sensors)
    stream = make_stream(specs, settings.minutes, settings.seed)
    routes = evaluations_per_reading(rules, specs)
    evaluations = sum(1 for reading in stream for _, field in routes[reading.sensor] if field in reading.values)
    failures: list[str] = []
    engine_s: list[float] = []
    bare_s: list[float] = []
    conditions: list[Condition] = []
    for repeat in range(settings.repeats):
        elapsed, conditions = _engine_run(rules, specs, stream)
        engine_s.append(elapsed)
        bare_s.append(_bare_run(routes, stream)[0])
        print(f"  rules: run {repeat + 1}: {evaluations / elapsed:,.0f} evaluations/s", file=sys.stderr, flush=True)
    engine_time = statistics.median(engine_s)
    bare_time = statistics.median(bare_s)
    by_kind: dict[str, int] = {}
    kinds = {rule.id: rule.kind for rule in rules}
    for condition in conditions:
        by_kind[kinds[condition.rule]] = by_kind.get(kinds[condition.rule], 0) + 1
    if not conditions:
        failures.append("the engine emitted no condition: the stream does not exercise the rules")
    rows = [
        Row(f"rule evaluations/s, {len(specs)} sensors, Kazanlak rules", "eval/s",
            evaluations / engine_time, evaluations / bare_time),
        Row(f"readings/s through the rule engine ({evaluations / len(stream):.1f} rules a reading)", "readings/s",
            len(stream) / engine_time),
    ]
    details: dict[str, Any] = {
        "settings": settings.__dict__,
        "sensors": len(specs),
        "rules": len(rules),
        "readings": len(stream),
        "evaluations": evaluations,
        "engine_s": engine_s,
        "bare_loop_s": bare_s,
        "conditions": len(conditions),
        "conditions_by_kind": by_kind,
        "python": sys.version.split()[0],
    }
    notes = [
        f"rules: {len(rules)} rules over {len(specs)} sensors, {len(stream):,} readings in {settings.minutes} "
        f"simulated minutes, {len(conditions):,} conditions ({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items()))}); "
        "the 'limit' is a bare loop doing one comparison per (rule, reading)"
    ]
    return BenchResult("rules", rows, details, failures, notes)
