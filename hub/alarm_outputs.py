"""Where alarm events go once stored: the InfluxDB `alarm` measurement (Grafana's alarm tables and
annotations), the retained MQTT alarm topic (`<root>/alarm/<id>`, the alarm as JSON; an empty
retained payload once it is closed), and the notifiers (SMS, CAP, sirens), each an async callable
receiving the event. Notifiers get only events that may be notified (no silence, not flapping);
one failing notifier never keeps an event from the others."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson

from hub.alarms import Alarm, AlarmEvent
from hub.lineprotocol import encode_fields, escape_key, format_string_field, series_prefix

logger = logging.getLogger(__name__)

Notifier = Callable[[AlarmEvent], Awaitable[None]]
"""The notifier interface: called once per notifiable event, after it is stored."""


def alarm_line(event: AlarmEvent, site: str, subject_is_sensor: bool) -> str:
    """One point of the `alarm` measurement: tags site, rule, level, state, area, hazard and the
    sensor (when the subject is one); fields the event kind, alarm id, notified flag, the value
    that fired it (when there is one) and a short text for annotations."""
    alarm = event.alarm
    tags = {"site": site, "rule": alarm.rule, "level": alarm.level, "state": alarm.state, "area": alarm.area,
            "hazard": alarm.hazard, "audience": alarm.audience}
    if subject_is_sensor:
        tags["sensor"] = alarm.subject
    values: dict[str, float] = {"alarm_id": float(alarm.id), "notified": 1.0 if event.notify else 0.0}
    condition = alarm.evidence.get("condition", {})
    value = condition.get("value") if isinstance(condition, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        values["value"] = float(value)
    text = f"{alarm.level} {event.kind}: {alarm.rule} {alarm.subject}"
    message = condition.get("message") if isinstance(condition, dict) else None
    if isinstance(message, str):
        text += f" — {message}"
    fields = encode_fields(values) + f",{escape_key('event')}={format_string_field(event.kind)}" \
        + f",text={format_string_field(text)}"
    return f"{series_prefix('alarm', tags)} {fields} {event.ts_ms}"


class AlarmDispatcher:
    """Sends stored events to InfluxDB, MQTT and the notifiers."""

    def __init__(
        self,
        site: str,
        topic_root: str,
        sensor_ids: frozenset[str],
        add_line: Callable[[str], None],
        publish: Callable[[str, bytes, int, bool], None],
        notifiers: Sequence[Notifier] = (),
    ):
        self._site = site
        self._topic_root = topic_root
        self._sensor_ids = sensor_ids
        self._add_line = add_line
        self._publish = publish
        self._notifiers = list(notifiers)
        self.notifier_failures = 0
        self._listeners: list[Callable[[AlarmEvent], None]] = []

    def add_listener(self, listener: Callable[[AlarmEvent], None]) -> None:
        """Be told of every event (notifiable or not) on the loop, after it is published: the
        console's live view."""
        self._listeners.append(listener)

    def add_notifier(self, notifier: Notifier) -> None:
        """Plug in a notifier (the notifications work does this at the wiring point)."""
        self._notifiers.append(notifier)

    def publish_state(self, alarm: Alarm, event_kind: str | None = None) -> None:
        """The alarm's retained MQTT state; an empty retained payload once it is closed."""
        payload = b"" if alarm.state == "closed" else orjson.dumps(alarm.to_json() | {"event": event_kind})
        self._publish(f"{self._topic_root}/alarm/{alarm.id}", payload, 1, True)

    async def dispatch(self, events: Sequence[AlarmEvent]) -> None:
        """Publish events in order; notify the notifiable ones."""
        for event in events:
            alarm = event.alarm
            self._add_line(alarm_line(event, self._site, alarm.subject in self._sensor_ids))
            self.publish_state(alarm, event.kind)
            for listener in self._listeners:
                listener(event)
            if event.notify and self._notifiers:
                results = await asyncio.gather(*(notifier(event) for notifier in self._notifiers),
                                               return_exceptions=True)
                for notifier, result in zip(self._notifiers, results, strict=True):
                    if isinstance(result, BaseException):
                        self.notifier_failures += 1
                        logger.error("notifier %r failed for alarm %d (%s): %s", notifier, alarm.id, event.kind,
                                     result)
