"""On-call staff: every alarm event a person's roles cover (technical `info` alarms too) goes
to them by SMS (through the same outbox and sender as citizens' messages, ahead of them) and
on MQTT (`<root>/notify/staff`, one JSON message per page). A new or worse alarm pages the first
person on the list; while nobody acknowledges it, every `escalate_after_min` the next person is
paged, and after the last one everyone on the list is reminded, until someone acknowledges or
the alarm clears. Escalation is kept in memory: after a restart, open unacknowledged alarms
start again with the first person's grace period, without paging at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from hub.alarms import Alarm, AlarmEvent
from hub.notify.citizens import AreaNames
from hub.notify.config import StaffConfig, StaffMember
from hub.notify.messages import MessageInput, MessageStyle, count_segments, staff_text
from hub.notify.outbox import OutgoingMessage, Outbox
from hub.notify.subscribers import normalise_phone

logger = logging.getLogger(__name__)

PAGE_EVENTS = frozenset(("raised", "reraised", "escalated"))
INFO_EVENTS = frozenset(("deescalated", "cleared", "acknowledged"))
_NEVER_MS = 2**62


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Escalation:
    """Where the paging of one unacknowledged alarm stands: the alarm, the step (index of the
    last person paged; past the list = reminders), when the next step is due, and who was paged."""

    alarm: Alarm
    step: int
    due_ms: int
    paged: tuple[int, ...]


def covers(member: StaffMember, alarm: Alarm) -> bool:
    """True when `member`'s roles include the alarm's hazard."""
    return "*" in member.roles or alarm.hazard in member.roles


class StaffNotifier:
    """The staff notifier (async callable taking an `AlarmEvent`) and its escalation clock."""

    def __init__(self, config: StaffConfig, outbox: Outbox, areas: Mapping[str, AreaNames], style: MessageStyle,
                 publish: Callable[[str, bytes], None], topic_root: str, wake: Callable[[], None],
                 clock_ms: Callable[[], int] = _wall_ms, default_region: str = "BG"):
        self._config = config
        self._members = [(m, normalise_phone(m.phone, default_region)) for m in config.on_call]
        self._outbox = outbox
        self._areas = areas
        self._style = style
        self._publish = publish
        self._topic = f"{topic_root}/notify/staff"
        self._wake = wake
        self._clock_ms = clock_ms
        self._escalations: dict[int, Escalation] = {}
        self.pages = 0

    def resume(self, open_alarms: list[Alarm]) -> None:
        """Take over open, unacknowledged alarms after a restart (first grace period anew)."""
        due = self._clock_ms() + int(self._config.escalate_after_min * 60_000)
        for alarm in open_alarms:
            indexes = self._covering(alarm)
            if alarm.state == "active" and indexes:
                self._escalations[alarm.id] = Escalation(alarm, 0, due, (indexes[0],))

    def escalations(self) -> dict[int, Escalation]:
        """Alarms being escalated, by id."""
        return dict(self._escalations)

    def _covering(self, alarm: Alarm) -> list[int]:
        return [index for index, (member, _) in enumerate(self._members) if covers(member, alarm)]

    async def __call__(self, event: AlarmEvent) -> None:
        # On the loop, like `tick`: the escalation table has one owner. A page is a few rows.
        self.handle(event)

    def handle(self, event: AlarmEvent) -> None:
        """Page, inform or stop escalating, as the event asks."""
        alarm = event.alarm
        indexes = self._covering(alarm)
        if not indexes:
            return
        now_ms = self._clock_ms()
        current = self._escalations.get(alarm.id)
        if event.kind in PAGE_EVENTS and alarm.state == "active":
            first = indexes[0]
            paged = tuple(sorted(set(current.paged if current else ()) | {first}))
            self._escalations[alarm.id] = Escalation(alarm, 0, now_ms + self._delay_ms(), paged)
            # Everyone already paged about this alarm hears that it got worse.
            self._page(event.kind, alarm, paged, event.seq, event.ts_ms, step=0)
        elif event.kind in INFO_EVENTS:
            if event.kind in ("cleared", "acknowledged") or alarm.state != "active":
                self._escalations.pop(alarm.id, None)
            who = current.paged if current else (indexes[0],)
            self._page(event.kind, alarm, who, event.seq, event.ts_ms, step=None)
        elif event.kind == "closed":
            self._escalations.pop(alarm.id, None)

    def tick(self) -> int:
        """Escalate what is due; returns how many people were paged."""
        now_ms = self._clock_ms()
        count = 0
        for alarm_id, escalation in list(self._escalations.items()):
            if now_ms < escalation.due_ms:
                continue
            indexes = self._covering(escalation.alarm)
            step = escalation.step + 1
            if step < len(indexes):
                targets: tuple[int, ...] = (indexes[step],)
            elif self._config.repeat_last:
                targets = tuple(indexes)
            else:
                # Nobody left to call: no more pages, but those paged still hear how it ends.
                self._escalations[alarm_id] = Escalation(escalation.alarm, step, _NEVER_MS, escalation.paged)
                continue
            paged = tuple(sorted(set(escalation.paged) | set(targets)))
            self._escalations[alarm_id] = Escalation(escalation.alarm, step, now_ms + self._delay_ms(), paged)
            self._page("reminder", escalation.alarm, targets, 0, now_ms, step=step)
            count += len(targets)
        return count

    def _delay_ms(self) -> int:
        return int(self._config.escalate_after_min * 60_000)

    def _page(self, kind: str, alarm: Alarm, indexes: tuple[int, ...], event_seq: int, ts_ms: int,
              step: int | None) -> None:
        names = self._areas.get(alarm.area, AreaNames(alarm.area, alarm.area))
        messages = []
        # A reminder has no event of its own: its key names the alarm and the step.
        key_base = f"{event_seq}" if event_seq else f"reminder:{alarm.id}:{step}:{ts_ms}"
        for index in indexes:
            member, phone = self._members[index]
            item = MessageInput(kind="staff", hazard=alarm.hazard, level=alarm.level,
                                area_name=names.in_language(member.language), ts_ms=ts_ms, rule=alarm.rule,
                                alarm_id=alarm.id, event_kind=kind)
            text = staff_text(item, member.language, self._style)
            messages.append(OutgoingMessage(f"staff:{key_base}:{phone}", event_seq, alarm.id, alarm.rule, alarm.area,
                                            "staff", phone, member.language, text, count_segments(text).segments))
            self._publish(self._topic, orjson.dumps({
                "member": member.name, "order": index, "step": step, "event": kind, "alarm_id": alarm.id,
                "rule": alarm.rule, "area": alarm.area, "hazard": alarm.hazard, "level": alarm.level,
                "ts_ms": ts_ms, "text": text,
            }))
        if self._outbox.enqueue(event_seq, ts_ms, alarm.id, alarm.rule, kind, messages, self._clock_ms(),
                                citizen_fan_out=False):
            self._wake()
        self.pages += len(indexes)
        logger.info("alarm %d %s: staff paged: %s", alarm.id, kind,
                    ", ".join(self._members[i][0].name for i in indexes))
