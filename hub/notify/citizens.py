"""The citizen notifier: turns a public alarm event into one message per subscriber of the
alarm's area and hazard, in each person's language, stored in the outbox under the idempotency
key `<event seq>:<phone>`. A warning goes out when an alarm is raised, raised again or made worse;
the all-clear when it clears, and only to the people who were warned. Events stored by the alarm
manager but not yet fanned out when the hub stopped are fanned out at the next start."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from hub.alarms import Alarm, AlarmEvent
from hub.notify.messages import Language, MessageInput, MessageKind, MessageStyle, compose, count_segments
from hub.notify.outbox import OutgoingMessage, Outbox
from hub.notify.subscribers import SubscriberStore

logger = logging.getLogger(__name__)

WARNING_EVENTS = frozenset(("raised", "reraised", "escalated"))


@dataclass(frozen=True, slots=True)
class AreaNames:
    """An area's names as citizens read them."""

    bg: str
    en: str

    def in_language(self, language: str) -> str:
        """The name in `language`."""
        return self.en if language == "en" else self.bg


def citizen_message_kind(event: AlarmEvent) -> MessageKind | None:
    """What citizens are told about this event: a warning, the all-clear, or nothing."""
    alarm = event.alarm
    if alarm.audience != "public" or alarm.level == "info" or not event.notify:
        return None
    if event.kind in WARNING_EVENTS and not alarm.inhibited:
        return "warning"
    if event.kind == "cleared":
        return "all_clear"
    return None


def event_from_json(data: Mapping) -> AlarmEvent:
    """An `AlarmEvent` back from its stored JSON (`AlarmStore.events`)."""
    alarm = Alarm(**data["alarm"])
    return AlarmEvent(seq=data["seq"], kind=data["kind"], ts_ms=data["ts_ms"], alarm=alarm,
                      previous_level=data.get("previous_level"), actor=data.get("actor"),
                      comment=data.get("comment"), suppressed_by=tuple(data.get("suppressed_by", ())))


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class CitizenNotifier:
    """The notifier (an async callable taking an `AlarmEvent`) for citizens' SMS."""

    def __init__(self, outbox: Outbox, subscribers: SubscriberStore, areas: Mapping[str, AreaNames],
                 style: MessageStyle, wake: Callable[[], None], clock_ms: Callable[[], int] = _wall_ms):
        self._outbox = outbox
        self._subscribers = subscribers
        self._areas = areas
        self._style = style
        self._wake = wake
        self._clock_ms = clock_ms

    async def __call__(self, event: AlarmEvent) -> None:
        # Thousands of rows: off the event loop.
        added = await asyncio.to_thread(self.fan_out, event)
        if added:
            self._wake()

    def fan_out(self, event: AlarmEvent) -> int:
        """Store this event's messages; returns how many are new (0 when already fanned out)."""
        kind = citizen_message_kind(event)
        if kind is None:
            return 0
        alarm = event.alarm
        if kind == "warning":
            recipients: Iterable[tuple[str, str]] = [(s.phone, s.language)
                                                     for s in self._subscribers.recipients(alarm.area, alarm.hazard)]
        else:
            # Those warned, in their language of now, unless they have opted out since.
            recipients = []
            for phone, _ in self._outbox.warned_phones(alarm.id):
                subscriber = self._subscribers.get(phone)
                if subscriber is not None and subscriber.opted_in:
                    recipients.append((phone, subscriber.language))
        texts: dict[str, tuple[str, int]] = {}
        messages = []
        for phone, language in recipients:
            if language not in texts:
                text = self.text(event, kind, language)  # type: ignore[arg-type]
                texts[language] = (text, count_segments(text).segments)
            body, segments = texts[language]
            messages.append(OutgoingMessage(f"{event.seq}:{phone}", event.seq, alarm.id, alarm.rule, alarm.area, kind,
                                            phone, language, body, segments))
        added = self._outbox.enqueue(event.seq, event.ts_ms, alarm.id, alarm.rule, event.kind, messages,
                                     self._clock_ms())
        if added:
            logger.info("alarm %d %s: %d %s message(s) queued for area %s", alarm.id, event.kind, added, kind,
                        alarm.area)
        return added

    def text(self, event: AlarmEvent, kind: MessageKind, language: Language) -> str:
        """The message citizens get for `event` in `language`."""
        alarm = event.alarm
        names = self._areas.get(alarm.area, AreaNames(alarm.area, alarm.area))
        escalated = event.previous_level if event.kind == "escalated" else None
        item = MessageInput(kind=kind, hazard=alarm.hazard, level=alarm.level, area_name=names.in_language(language),
                            ts_ms=event.ts_ms, escalated_from=escalated, rule=alarm.rule, alarm_id=alarm.id,
                            event_kind=event.kind)
        return compose(item, language, self._style)

    def catch_up(self, stored_events: Iterable[Mapping], max_age_s: float) -> int:
        """Fan out stored events after the outbox's cursor that never were (the hub stopped
        between storing an event and fanning it out); events older than `max_age_s` are let go.
        Returns how many messages were queued."""
        cursor = self._outbox.cursor() or 0
        now_ms = self._clock_ms()
        added = 0
        last = cursor
        for data in stored_events:
            if data["seq"] <= cursor:
                continue
            event = event_from_json(data)
            if event.notify and now_ms - event.ts_ms <= max_age_s * 1000:
                added += self.fan_out(event)  # advances the cursor itself when it stores a fan-out
            last = event.seq
        # Once, at the end: a crash in between only repeats fan-outs, which are idempotent.
        self._outbox.set_cursor(last)
        return added
