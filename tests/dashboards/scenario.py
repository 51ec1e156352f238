"""A six-hour afternoon in Kazanlak for the dashboard tests, written with the hub's own line
protocol encoders: a flood wave on the rivers that takes some gauges past orange, a storm over the
Balkan slopes, the dam filling towards its spillway, a magnitude-4-ish shake, a fire seen from
Shipka, the city's traffic, parking and pedestrians, camera worker health, the hub's self-metrics
with rejections, SMS delivery counts, and the alarm events of it all. Every measurement a panel
reads gets points, so a query that returns nothing is a broken query."""

from __future__ import annotations

import math
from collections.abc import Callable

from hub.alarm_outputs import alarm_line
from hub.alarms import Alarm, AlarmEvent
from hub.config import Sensor, SiteConfig, sensor_specs
from hub.lineprotocol import encode_line, series_prefix
from hub.pipeline import InfluxOutput
from hub.types import Reading
from rules.config import ThresholdRule, selected_sensors

HOURS = 6
STEP_MS = 300_000
HOUR_MS = 3_600_000


def _wave(t_ms: int, peak_ms: int, width_ms: float) -> float:
    return math.exp(-(((t_ms - peak_ms) / width_ms) ** 2))


def scenario_lines(config: SiteConfig, end_ms: int) -> list[str]:
    """Line protocol for the six hours before `end_ms` (milliseconds precision)."""
    lines: list[str] = []
    specs = sensor_specs(config)
    output = InfluxOutput(specs, lines.append)
    site = config.site.id
    start_ms = end_ms - HOURS * HOUR_MS
    steps = [start_ms + index * STEP_MS for index in range(HOURS * HOUR_MS // STEP_MS + 1)]
    levels: dict[str, ThresholdRule] = {}
    for rule in config.rules:
        if isinstance(rule, ThresholdRule) and rule.field == "level_cm":
            for sensor in selected_sensors(rule, specs):
                levels.setdefault(sensor, rule)
    flood_peak_ms = end_ms - 90 * 60_000

    sent = {sensor.id: _sent_fields(sensor) for sensor in config.sensors}

    def reading(sensor: str, t_ms: int, values: dict[str, float]) -> None:
        spec = specs[sensor]
        fields = sent[sensor]
        output(Reading(sensor, spec.kind, spec.area, t_ms,
                       {name: value for name, value in values.items() if fields is None or name in fields}))

    totals: dict[str, float] = {}
    for number, sensor in enumerate(config.sensors):
        rule = levels.get(sensor.id)
        for t_ms in steps:
            phase = number + t_ms / HOUR_MS
            if sensor.kind in ("river", "camera_water", "dam"):
                items = dict(rule.levels.items()) if rule else {"yellow": 200.0, "orange": 260.0, "red": 320.0}
                base = (rule.clear if rule else 150.0) * (0.97 if sensor.kind == "dam" else 0.6)
                # Eninska gauges reach between orange and red, the others stay between yellow and orange.
                peak = (items.get("orange", 0) + items.get("red", items.get("orange", 0))) / 2 \
                    if sensor.tags.get("river") == "eninska" else (items.get("yellow", 0) + items.get("orange", 0)) / 2
                level = base + (peak - base) * _wave(t_ms, flood_peak_ms, 1.2 * HOUR_MS) + 2 * math.sin(phase * 5)
                if sensor.kind == "dam":
                    values = {"level_cm": level, "fill_pct": 60 + level / 200, "outflow_m3_s": 12 + 30 * _wave(
                        t_ms, flood_peak_ms, HOUR_MS)}
                elif sensor.kind == "river":
                    values = {"level_cm": level, "temperature_c": 9.5 + 0.5 * math.sin(phase)}
                else:
                    values = {"level_cm": level, "confidence": 0.9}
            elif sensor.kind == "rain":
                storm = 3.0 * _wave(t_ms, end_ms - 3 * HOUR_MS, 0.6 * HOUR_MS) * (1.5 if "eninska" in sensor.id else 1)
                totals[sensor.id] = totals.get(sensor.id, 0.0) + storm
                values = {"mm": round(storm, 2), "total_mm": round(totals[sensor.id], 2),
                          "tips": round(totals[sensor.id] / 0.2)}
            elif sensor.kind == "seismic":
                values = {"pga_g": 0.002 + 0.001 * abs(math.sin(phase * 7)), "stalta": 1.0 + 0.3 * math.sin(phase)}
            elif sensor.kind == "fire":
                fire = 0.85 * _wave(t_ms, end_ms - 2 * HOUR_MS, 0.3 * HOUR_MS) if "shipka" in sensor.id else 0.0
                values = {"fire_score": round(0.05 + fire, 3), "smoke_score": round(0.1 + fire, 3)}
            elif sensor.kind == "traffic":
                rush = 1 + _wave(t_ms, end_ms - HOUR_MS, HOUR_MS)
                tags = {**sensor.tags, "sensor": sensor.id, "area": sensor.area, "site": site}
                for direction, share in (("north", 0.55), ("south", 0.45)):
                    lines.append(encode_line(series_prefix("traffic", {**tags, "direction": direction}),
                                             {"vehicles": round(40 * rush * share)}, t_ms))
                values = {"occupancy_pct": min(95.0, 35 * rush + 10 * math.sin(phase)), "speed_kmh": 45 / rush}
            elif sensor.kind == "parking":
                values = {"violations": float(int(2 + 2 * math.sin(phase * 3))), "occupancy_pct": 80.0}
            elif sensor.kind == "pedestrians":
                values = {"count": round(30 + 20 * math.sin(phase)), "density_per_m2": 0.2}
            else:  # weather
                values = {"temperature_c": 12 + 3 * math.sin(phase), "humidity_pct": 70.0, "pressure_hpa": 1008.0,
                          "wind_speed_m_s": 4.0, "wind_dir_deg": 270.0}
            reading(sensor.id, t_ms, values)
    _earthquake(config, end_ms, reading)
    lines += _cameras(config, steps)
    lines += _hub_metrics(site, steps)
    lines += _sms(site, end_ms)
    lines += _alarms(config, end_ms)
    return lines


def _sent_fields(sensor: Sensor) -> set[str] | None:
    """The fields a device-native source maps (a tipping bucket sends no `mm`); None: all."""
    if sensor.source is not None and sensor.source.mqtt is not None:
        return set(sensor.source.mqtt.fields)
    if sensor.source is not None and sensor.source.modbus is not None:
        return {point.field for point in sensor.source.modbus.registers}
    return None


def _earthquake(config: SiteConfig, end_ms: int, reading: Callable[[str, int, dict[str, float]], None]) -> None:
    shake_ms = end_ms - HOUR_MS + 17_000
    for sensor in (s for s in config.sensors if s.kind == "seismic"):
        for second in range(20):
            envelope = math.exp(-second / 4)
            reading(sensor.id, shake_ms + second * 1000,
                    {"pga_g": 0.002 + 0.12 * envelope, "stalta": 1.0 + 9.0 * envelope})


def _cameras(config: SiteConfig, steps: list[int]) -> list[str]:
    lines = []
    for number, camera in enumerate(config.cameras):
        prefix = series_prefix("camera", {"site": config.site.id, "camera": camera.id, "area": camera.area})
        for t_ms in steps:
            stalled = number == 0 and t_ms >= steps[-3]
            lines.append(encode_line(prefix, {
                "fps": 0.0 if stalled else camera.analysis_fps * (0.95 + 0.05 * math.sin(t_ms / 1e6)),
                "dropped_frames": float(number),
                "last_frame_age_s": 180.0 if stalled else 1.0 / camera.analysis_fps,
                "inference_ms": 40.0 + 5 * number,
            }, t_ms))
    return lines


def _hub_metrics(site: str, steps: list[int]) -> list[str]:
    lines = []
    prefix = series_prefix("hub", {"site": site})
    readings_in = 0
    for index, t_ms in enumerate(steps):
        readings_in += 1500
        outage = len(steps) // 2 <= index < len(steps) // 2 + 4
        lines.append(encode_line(prefix, {
            "readings_in": float(readings_in), "readings_per_s": 5.0 + math.sin(index / 5), "rejected_total": index * 3.0,
            "points_written": float(readings_in - (3000 if outage else 0)),
            "spool_points": 1500.0 * (index - len(steps) // 2 + 1) if outage else 0.0,
            "spool_batches": float(index - len(steps) // 2 + 1) if outage else 0.0,
            "write_latency_ms_p50": 4.0, "write_latency_ms_max": 30.0 if outage else 12.0,
        }, t_ms))
        for reason, per_step in (("out_of_range", 2), ("malformed", 1)):
            lines.append(encode_line(series_prefix("hub", {"site": site, "reason": reason}),
                                     {"rejected": float(index * per_step)}, t_ms))
    return lines


def _sms(site: str, end_ms: int) -> list[str]:
    """The `sms` contract of dashboards/README.md: counts of messages per (rule, area), as
    increments since the previous point of the series."""
    lines = []
    for rule, area, queued in (("eninska-enina-level", "enina", 2200), ("eninska-derelika-level",
                                                                        "kazanlak-derelika", 900)):
        prefix = series_prefix("sms", {"site": site, "rule": rule, "area": area})
        t0 = end_ms - 80 * 60_000
        lines.append(encode_line(prefix, {"queued": float(queued), "sent": 0.0, "delivered": 0.0, "failed": 0.0}, t0))
        lines.append(encode_line(prefix, {"queued": 0.0, "sent": float(queued), "delivered": 0.0, "failed": 0.0},
                                 t0 + 60_000))
        lines.append(encode_line(prefix, {"queued": 0.0, "sent": 0.0, "delivered": queued * 0.96,
                                          "failed": queued * 0.01}, t0 + 300_000))
    return lines


def _alarms(config: SiteConfig, end_ms: int) -> list[str]:
    sensor_ids = {sensor.id for sensor in config.sensors}
    areas = {sensor.id: sensor.area for sensor in config.sensors}
    rules = {rule.id: rule for rule in config.rules}
    lines = []
    seq = 0

    def event(alarm_id: int, rule: str, subject: str, level: str, state: str, kind: str, t_ms: int,
              value: float | None = None) -> None:
        nonlocal seq
        seq += 1
        area = areas.get(subject, subject)
        alarm = Alarm(alarm_id, rule, "v1", subject, area, rules[rule].hazard, rules[rule].audience,  # type: ignore[arg-type]
                      level, state, t_ms, t_ms,  # type: ignore[arg-type]
                      {"condition": {"value": value, "message": f"{rule} at {value}"}} if value is not None else {})
        lines.append(alarm_line(AlarmEvent(seq, kind, t_ms, alarm), config.site.id, subject in sensor_ids))  # type: ignore[arg-type]

    minute = 60_000
    event(1, "eninska-upper-level", "eninska-upper", "yellow", "active", "raised", end_ms - 150 * minute, 121.0)
    event(1, "eninska-upper-level", "eninska-upper", "orange", "active", "escalated", end_ms - 120 * minute, 171.0)
    event(1, "eninska-upper-level", "eninska-upper", "orange", "acknowledged", "acknowledged", end_ms - 110 * minute)
    event(2, "eninska-enina-level", "eninska-enina", "yellow", "active", "raised", end_ms - 100 * minute, 181.0)
    event(2, "eninska-enina-level", "eninska-enina", "orange", "active", "escalated", end_ms - 85 * minute, 242.0)
    event(3, "tundzha-kazanlak-level", "tundzha-kazanlak", "yellow", "active", "raised", end_ms - 95 * minute, 252.0)
    event(3, "tundzha-kazanlak-level", "tundzha-kazanlak", "yellow", "cleared", "cleared", end_ms - 30 * minute, 229.0)
    event(4, "earthquake-shaking", "seismic-kazanlak", "orange", "active", "raised", end_ms - 60 * minute, 0.122)
    event(4, "earthquake-shaking", "seismic-kazanlak", "orange", "cleared", "cleared", end_ms - 58 * minute, 0.01)
    event(5, "forest-fire", "shipka-buzludzha-forest", "orange", "active", "raised", end_ms - 115 * minute)
    event(6, "gauge-silent", "rain-shipka", "info", "active", "raised", end_ms - 20 * minute)
    event(7, "tundzha-camera-level", "tundzha-bridge-camera-level", "yellow", "active", "raised",
          end_ms - 90 * minute, 255.0)
    event(8, "eninska-derelika-level", "kazanlak-derelika", "red", "active", "raised", end_ms - 80 * minute, 322.0)
    return lines
