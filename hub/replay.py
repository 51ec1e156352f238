"""Replay: recorded readings through the configured rules and the alarm manager, with the
recorded timestamps as the clock. Technicians tune thresholds on past events with it, and it gives
the same alarm events as the live hub for the same readings, because both run the same engine and
manager and the events carry the readings' time. Nothing is published or notified; the alarm
state lives in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from hub.alarms import AlarmEvent, AlarmManager, AlarmStore
from hub.config import SiteConfig, sensor_specs
from hub.types import Reading
from rules.engine import RuleEngine


def replay_events(config: SiteConfig, readings: Iterable[Reading]) -> Iterator[AlarmEvent]:
    """The alarm events `readings` cause, in order: for each reading first what falls due by its
    time (time-driven rules, alarm timeouts), then what the reading itself causes."""
    engine = RuleEngine(config.rules, sensor_specs(config), timezone=config.site.timezone)
    manager = AlarmManager(AlarmStore(":memory:"), config.alarms)
    for reading in readings:
        for condition in engine.tick(reading.ts_ms):
            yield from manager.apply(condition)
        yield from manager.tick(reading.ts_ms)
        for condition in engine.on_reading(reading):
            yield from manager.apply(condition)


def event_line(event: AlarmEvent) -> dict[str, Any]:
    """The JSON line `ews replay` prints for one event."""
    alarm = event.alarm
    condition = alarm.evidence.get("condition", {})
    value = condition.get("value") if isinstance(condition, dict) else None
    return {
        "time": datetime.fromtimestamp(event.ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "event": event.kind,
        "alarm": alarm.id,
        "rule": alarm.rule,
        "subject": alarm.subject,
        "area": alarm.area,
        "level": alarm.level,
        "state": alarm.state,
        "value": value,
        "message": condition.get("message") if isinstance(condition, dict) else None,
    }
