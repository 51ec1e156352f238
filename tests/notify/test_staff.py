"""On-call staff: the first person whose roles cover an alarm is paged by SMS and on MQTT; while
nobody acknowledges, the next is paged every `escalate_after_min`, then everyone is reminded;
an acknowledgement stops the reminders and tells those paged; technical `info` alarms reach the
staff who cover them and never the public."""

from __future__ import annotations

import json
from pathlib import Path

from hub.alarms import AlarmEvent
from hub.notify.config import StaffConfig
from hub.notify.messages import MessageStyle
from hub.notify.outbox import Outbox
from hub.notify.staff import StaffNotifier
from tests.notify.helpers import AREAS, T0_MS, alarm

MINUTE = 60_000


class Clock:
    def __init__(self) -> None:
        self.now_ms = T0_MS

    def __call__(self) -> int:
        return self.now_ms


def staff(tmp_path: Path) -> tuple[StaffNotifier, Outbox, Clock, list[tuple[str, dict]]]:
    config = StaffConfig.model_validate({"escalate_after_min": 5, "on_call": [
        {"name": "Иван Петров", "phone": "0888 000 001", "roles": ["flood", "dam"]},
        {"name": "Мария Георгиева", "phone": "0888 000 002"},
        {"name": "Petar Ivanov", "phone": "0888 000 003", "roles": ["fire"], "language": "en"},
    ]})
    outbox = Outbox(tmp_path / "n.sqlite")
    clock = Clock()
    published: list[tuple[str, dict]] = []
    notifier = StaffNotifier(config, outbox, AREAS, MessageStyle(), lambda t, p: published.append((t, json.loads(p))),
                             "ews/test", lambda: None, clock)
    return notifier, outbox, clock, published


def paged(outbox: Outbox) -> list[str]:
    return [m.phone[-1] + ":" + m.body.split(":")[0] for m in outbox.messages()]


def test_escalates_until_acknowledged(tmp_path: Path) -> None:
    notifier, outbox, clock, published = staff(tmp_path)
    flood = alarm(level="orange")
    notifier.handle(AlarmEvent(1, "raised", clock(), flood))
    assert paged(outbox) == ["1:[EWS] ОРАНЖЕВ КОД аларма #1 вдигната"]
    assert published[-1][0] == "ews/test/notify/staff"
    assert {k: published[-1][1][k] for k in ("member", "order", "event", "alarm_id", "level")} == {
        "member": "Иван Петров", "order": 0, "event": "raised", "alarm_id": 1, "level": "orange"}

    clock.now_ms += 4 * MINUTE
    assert notifier.tick() == 0
    clock.now_ms += MINUTE
    assert notifier.tick() == 1  # the next person: Мария (Petar covers only fire)
    assert paged(outbox)[-1] == "2:[EWS] ОРАНЖЕВ КОД аларма #1 НЕПОТВЪРДЕНА"
    clock.now_ms += 5 * MINUTE
    assert notifier.tick() == 2  # after the last person, everyone who covers it
    assert sorted(paged(outbox)[-2:]) == ["1:[EWS] ОРАНЖЕВ КОД аларма #1 НЕПОТВЪРДЕНА",
                                          "2:[EWS] ОРАНЖЕВ КОД аларма #1 НЕПОТВЪРДЕНА"]

    from dataclasses import replace
    acknowledged = replace(flood, state="acknowledged", acknowledged_by="Мария Георгиева")
    notifier.handle(AlarmEvent(2, "acknowledged", clock(), acknowledged, actor="Мария Георгиева"))
    assert sorted(paged(outbox)[-2:]) == ["1:[EWS] ОРАНЖЕВ КОД аларма #1 потвърдена",
                                          "2:[EWS] ОРАНЖЕВ КОД аларма #1 потвърдена"]
    count = len(outbox.messages())
    for _ in range(5):
        clock.now_ms += 10 * MINUTE
        assert notifier.tick() == 0
    assert len(outbox.messages()) == count and notifier.escalations() == {}
    assert {m.kind for m in outbox.messages()} == {"staff"}
    assert outbox.event_counts() == []  # staff pages are not counted as citizens' messages
    assert outbox.cursor() is None  # nor do they move the citizens' fan-out cursor


def test_escalation_of_an_acknowledged_alarm_starts_again(tmp_path: Path) -> None:
    notifier, outbox, clock, _ = staff(tmp_path)
    notifier.handle(AlarmEvent(1, "raised", clock(), alarm(level="yellow")))
    notifier.handle(AlarmEvent(2, "acknowledged", clock(), alarm(level="yellow", state="acknowledged")))
    clock.now_ms += 5 * MINUTE
    notifier.handle(AlarmEvent(3, "escalated", clock(), alarm(level="red"), previous_level="yellow"))
    assert paged(outbox)[-1] == "1:[EWS] ЧЕРВЕН КОД аларма #1 повишена"
    clock.now_ms += 5 * MINUTE
    assert notifier.tick() == 1
    clock.now_ms += 1 * MINUTE
    notifier.handle(AlarmEvent(4, "cleared", clock(), alarm(level="red", state="cleared")))
    assert notifier.escalations() == {}
    assert sorted(paged(outbox)[-2:]) == ["1:[EWS] ЧЕРВЕН КОД аларма #1 отминала",
                                          "2:[EWS] ЧЕРВЕН КОД аларма #1 отминала"]


def test_technical_alarms_reach_the_staff_who_cover_them(tmp_path: Path) -> None:
    notifier, outbox, clock, published = staff(tmp_path)
    notifier.handle(AlarmEvent(1, "raised", clock(), alarm(level="info", hazard="technical", audience="staff")))
    notifier.handle(AlarmEvent(2, "raised", clock(), alarm(alarm_id=2, level="red", hazard="fire", area="shipka")))
    assert paged(outbox) == ["2:[EWS] ИНФО аларма #1 вдигната", "2:[EWS] ЧЕРВЕН КОД аларма #2 вдигната"]
    clock.now_ms += 5 * MINUTE
    assert notifier.tick() == 2
    # Only Мария covers technical alarms: she is reminded; the fire alarm goes on to Petar.
    assert paged(outbox)[-2:] == ["2:[EWS] ИНФО аларма #1 НЕПОТВЪРДЕНА", "3:[EWS] RED alarm #2 NOT ACKNOWLEDGED"]
    assert outbox.messages()[-1].body.endswith("fire), Shipka, 25 Nov 14:10 Acknowledge in the console.")
    assert [p[1]["member"] for p in published] == ["Мария Георгиева"] * 3 + ["Petar Ivanov"]


def test_restart_takes_over_unacknowledged_alarms_without_paging_at_once(tmp_path: Path) -> None:
    notifier, outbox, clock, _ = staff(tmp_path)
    notifier.resume([alarm(level="red"), alarm(alarm_id=2, state="acknowledged")])
    assert outbox.messages() == [] and list(notifier.escalations()) == [1]
    clock.now_ms += 5 * MINUTE
    assert notifier.tick() == 1
    assert paged(outbox) == ["2:[EWS] ЧЕРВЕН КОД аларма #1 НЕПОТВЪРДЕНА"]


def test_without_repeats_the_paged_still_hear_the_acknowledgement(tmp_path: Path) -> None:
    config = StaffConfig.model_validate({"escalate_after_min": 1, "repeat_last": False, "on_call": [
        {"name": "A", "phone": "0888 000 001"}, {"name": "B", "phone": "0888 000 002"}]})
    outbox = Outbox(tmp_path / "n.sqlite")
    clock = Clock()
    notifier = StaffNotifier(config, outbox, AREAS, MessageStyle(), lambda t, p: None, "ews/test", lambda: None, clock)
    notifier.handle(AlarmEvent(1, "raised", clock(), alarm()))
    for _ in range(4):
        clock.now_ms += MINUTE
        notifier.tick()
    assert [m.phone[-1] for m in outbox.messages()] == ["1", "2"]  # A, then B, then no one
    notifier.handle(AlarmEvent(2, "acknowledged", clock(), alarm(state="acknowledged")))
    assert sorted(m.phone[-1] for m in outbox.messages()[2:]) == ["1", "2"]
