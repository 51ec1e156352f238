"""The alarm manager: lifecycle, escalation in place, acknowledgement, silences, flapping,
persistence across a restart, and what goes to InfluxDB, MQTT and the notifiers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.alarm_outputs import AlarmDispatcher, alarm_line
from hub.alarms import AlarmError, AlarmManager, AlarmSettings, AlarmStore
from hub.types import Condition

T0 = 1_795_611_600_000
MIN = 60_000


def cond(level: str | None, ts: int, subject: str = "tundzha-1", rule: str = "river-level", value: float = 300.0,
         inhibited: bool = False, area: str = "centre") -> Condition:
    return Condition(rule, "v1", subject, area, level, "public", "flood", ts,
                     {"value": value, "message": f"level {value} cm"}, inhibited)


@pytest.fixture
def manager(tmp_path: Path) -> AlarmManager:
    return AlarmManager(AlarmStore(tmp_path / "alarms.sqlite"))


def kinds(events) -> list[str]:
    return [event.kind for event in events]


def test_raise_escalate_deescalate_clear_is_one_alarm(manager: AlarmManager) -> None:
    events = manager.apply(cond("yellow", T0))
    events += manager.apply(cond("orange", T0 + MIN))
    events += manager.apply(cond("red", T0 + 2 * MIN))
    events += manager.apply(cond("orange", T0 + 3 * MIN))
    events += manager.apply(cond(None, T0 + 4 * MIN))
    assert kinds(events) == ["raised", "escalated", "escalated", "deescalated", "cleared"]
    assert len({event.alarm.id for event in events}) == 1
    assert [e.previous_level for e in events] == [None, "yellow", "orange", "red", "orange"]
    assert events[-1].alarm.state == "cleared"
    assert [a.id for a in manager.open_alarms()] == [events[0].alarm.id]


def test_acknowledge_needs_name_and_comment_and_escalation_needs_it_again(manager: AlarmManager) -> None:
    (raised,) = manager.apply(cond("orange", T0))
    with pytest.raises(AlarmError, match="name and a comment"):
        manager.acknowledge(raised.alarm.id, "Иван Петров", " ", T0 + MIN)
    (ack,) = manager.acknowledge(raised.alarm.id, "Иван Петров", "crew sent to the bridge", T0 + MIN)
    assert ack.alarm.state == "acknowledged" and ack.actor == "Иван Петров"
    with pytest.raises(AlarmError, match="already acknowledged"):
        manager.acknowledge(raised.alarm.id, "Мария", "again", T0 + MIN)
    (escalated,) = manager.apply(cond("red", T0 + 2 * MIN))
    assert escalated.alarm.state == "active" and escalated.alarm.acknowledged_by is None


def test_deescalation_keeps_the_acknowledgement(manager: AlarmManager) -> None:
    (raised,) = manager.apply(cond("red", T0))
    manager.acknowledge(raised.alarm.id, "Иван", "watching", T0 + MIN)
    (down,) = manager.apply(cond("orange", T0 + 2 * MIN))
    assert down.kind == "deescalated" and down.alarm.state == "acknowledged"


def test_clear_of_acknowledged_alarm_closes_it_and_a_new_raise_is_a_new_alarm(manager: AlarmManager) -> None:
    (raised,) = manager.apply(cond("yellow", T0))
    manager.acknowledge(raised.alarm.id, "Иван", "ok", T0 + MIN)
    events = manager.apply(cond(None, T0 + 2 * MIN))
    assert kinds(events) == ["cleared", "closed"]
    assert manager.open_alarms() == []
    (again,) = manager.apply(cond("yellow", T0 + 3 * MIN))
    assert again.kind == "raised" and again.alarm.id != raised.alarm.id


def test_cleared_unacknowledged_alarm_waits_for_a_person_or_the_timeout(tmp_path: Path) -> None:
    manager = AlarmManager(AlarmStore(tmp_path / "a.sqlite"), AlarmSettings(close_cleared_after_s=3600))
    (raised,) = manager.apply(cond("yellow", T0))
    manager.apply(cond(None, T0 + MIN))
    (reraised,) = manager.apply(cond("orange", T0 + 2 * MIN))
    assert reraised.kind == "reraised" and reraised.alarm.id == raised.alarm.id
    manager.apply(cond(None, T0 + 3 * MIN))
    assert manager.tick(T0 + 3 * MIN + 3_599_000) == []
    (closed,) = manager.tick(T0 + 3 * MIN + 3_600_000)
    assert closed.kind == "closed" and closed.actor == "system"
    other = manager.apply(cond("yellow", T0 + 10 * MIN, subject="eninska-1"))
    manager.apply(cond(None, T0 + 11 * MIN, subject="eninska-1"))
    events = manager.acknowledge(other[0].alarm.id, "Мария", "seen after the fact", T0 + 12 * MIN)
    assert kinds(events) == ["acknowledged", "closed"]


def test_same_level_repeated_changes_nothing(manager: AlarmManager) -> None:
    manager.apply(cond("orange", T0))
    assert manager.apply(cond("orange", T0 + MIN)) == []
    assert manager.apply(cond(None, T0 + 2 * MIN, subject="nobody")) == []


def test_inhibition_is_an_event_and_holds_the_level(manager: AlarmManager) -> None:
    manager.apply(cond("orange", T0))
    (held,) = manager.apply(cond("orange", T0 + MIN, inhibited=True))
    assert held.kind == "inhibited" and held.alarm.inhibited and held.alarm.level == "orange"
    (released,) = manager.apply(cond("orange", T0 + 2 * MIN))
    assert released.kind == "released" and not released.alarm.inhibited


def test_silence_suppresses_notification_but_records(manager: AlarmManager) -> None:
    silence = manager.add_silence("sensor", "tundzha-1", T0, T0 + 60 * MIN, "Георги (техник)", "gauge calibration")
    (raised,) = manager.apply(cond("red", T0 + MIN))
    assert raised.suppressed_by == (f"silence:{silence.id}",) and not raised.notify
    assert raised.alarm.evidence["suppressions"] == [f"silence:{silence.id}"]
    (other,) = manager.apply(cond("red", T0 + MIN, subject="eninska-1"))
    assert other.notify
    manager.remove_silence(silence.id, "Георги (техник)", T0 + 2 * MIN)
    (cleared,) = manager.apply(cond(None, T0 + 3 * MIN))
    assert cleared.notify


@pytest.mark.parametrize(("matcher", "value", "suppressed"), [
    ("area", "centre", True), ("area", "shipka", False), ("rule", "river-level", True), ("rule", "rain-1h", False),
])
def test_silence_by_area_or_rule(manager: AlarmManager, matcher: str, value: str, suppressed: bool) -> None:
    manager.add_silence(matcher, value, T0, T0 + MIN, "Г", "drill")  # type: ignore[arg-type]
    (raised,) = manager.apply(cond("yellow", T0 + 1))
    assert (not raised.notify) == suppressed


def test_silence_must_be_bounded(manager: AlarmManager) -> None:
    with pytest.raises(AlarmError, match="at most"):
        manager.add_silence("sensor", "x", T0, T0 + 30 * 86_400_000, "Г", "forever")
    with pytest.raises(AlarmError, match="end after"):
        manager.add_silence("sensor", "x", T0, T0, "Г", "nothing")


def test_flapping_suppresses_notifications_until_it_settles(manager: AlarmManager) -> None:
    events = []
    for number in range(4):
        events += manager.apply(cond("yellow", T0 + number * 2 * MIN))
        events += manager.apply(cond(None, T0 + number * 2 * MIN + MIN))
    assert "flapping" in kinds(events)
    first_flap = kinds(events).index("flapping")
    # The change that crosses the limit and all after it are recorded but not notified.
    assert all(not e.notify for e in events[first_flap - 1:])
    assert all(e.notify for e in events[:first_flap - 1]) and first_flap - 1 == 5
    assert manager.tick(T0 + 30 * MIN) == []  # still six changes within the hour
    later = manager.tick(T0 + 8 * MIN + 3_600_000)
    assert kinds(later)[0] == "flapping_ended"
    (raised,) = manager.apply(cond("yellow", T0 + 9 * MIN + 3_600_000))
    assert raised.notify


def test_alarms_and_events_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "alarms.sqlite"
    first = AlarmManager(AlarmStore(path))
    (raised,) = first.apply(cond("orange", T0))
    first.acknowledge(raised.alarm.id, "Иван", "on it", T0 + MIN)
    second = AlarmManager(AlarmStore(path))
    (alarm,) = second.open_alarms()
    assert (alarm.id, alarm.state, alarm.acknowledged_by) == (raised.alarm.id, "acknowledged", "Иван")
    (escalated,) = second.apply(cond("red", T0 + 2 * MIN))
    assert escalated.kind == "escalated" and escalated.alarm.id == raised.alarm.id
    stored = AlarmStore(path).events()
    assert [e["kind"] for e in stored] == ["raised", "acknowledged", "escalated"]
    assert AlarmStore(path).audit_trail()[0]["actor"] == "Иван"


levels = st.sampled_from([None, "yellow", "orange", "red"])


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), levels), max_size=40))
def test_never_two_open_alarms_for_one_rule_and_subject(steps: list) -> None:
    manager = AlarmManager(AlarmStore(":memory:"), AlarmSettings(flapping={"high": 1000, "low": 0}))
    alarm_of: dict[str, int] = {}
    for number, (subject, level) in enumerate(steps):
        for event in manager.apply(cond(level, T0 + number * MIN, subject=subject)):
            if event.kind == "raised":
                # A new alarm only when the subject has none open.
                assert subject not in alarm_of
                alarm_of[subject] = event.alarm.id
            else:
                assert event.alarm.id == alarm_of[subject]
        open_keys = [(a.rule, a.subject) for a in manager.open_alarms()]
        assert len(open_keys) == len(set(open_keys))


@given(st.lists(levels, max_size=30))
def test_event_sequence_follows_the_levels(sequence: list) -> None:
    manager = AlarmManager(AlarmStore(":memory:"), AlarmSettings(flapping={"high": 1000, "low": 0}))
    level_now = None
    for number, level in enumerate(sequence):
        events = manager.apply(cond(level, T0 + number * MIN))
        if level == level_now or (level is None and level_now is None):
            assert events == []
        elif level is None:
            assert kinds(events) == ["cleared"]
        elif level_now is None:
            assert kinds(events)[0] in ("raised", "reraised")
        else:
            order = ["yellow", "orange", "red"]
            assert kinds(events) == ["escalated" if order.index(level) > order.index(level_now) else "deescalated"]
        level_now = level


def test_dispatch_publishes_retained_writes_influx_and_notifies_once() -> None:
    manager = AlarmManager(AlarmStore(":memory:"))
    lines: list[str] = []
    published: list[tuple] = []
    notified: list = []

    async def notifier(event) -> None:
        notified.append(event.kind)

    async def broken(event) -> None:
        raise RuntimeError("provider down")

    dispatcher = AlarmDispatcher("kazanlak", "ews/kazanlak", frozenset({"tundzha-1"}), lines.append,
                                 lambda *a: published.append(a), [broken, notifier])
    manager.add_silence("sensor", "eninska-1", T0, T0 + MIN, "Г", "maintenance")
    events = manager.apply(cond("orange", T0))
    events += manager.apply(cond("red", T0 + 1, subject="eninska-1"))
    (ack,) = manager.acknowledge(events[0].alarm.id, "Иван", "ok", T0 + 2)
    events += [ack] + manager.apply(cond(None, T0 + 3))
    asyncio.run(dispatcher.dispatch(events))
    assert notified == ["raised", "acknowledged", "cleared", "closed"]  # the silenced one is not notified
    assert dispatcher.notifier_failures == 4
    first = events[0].alarm.id
    assert [p for p in published if p[0] == f"ews/kazanlak/alarm/{first}"][-1] == (
        f"ews/kazanlak/alarm/{first}", b"", 1, True)
    assert lines[0].startswith("alarm,area=centre,audience=public,hazard=flood,level=orange,rule=river-level,"
                               "sensor=tundzha-1,site=kazanlak,state=active ")
    assert 'event="raised"' in lines[0] and "value=300.0" in lines[0] and "notified=1.0" in lines[0]
    assert "notified=0.0" in lines[1]


def test_alarm_line_for_an_area_subject_has_no_sensor_tag() -> None:
    manager = AlarmManager(AlarmStore(":memory:"))
    (event,) = manager.apply(cond("yellow", T0, subject="kazanlak-centre", area="kazanlak-centre"))
    line = alarm_line(event, "kazanlak", subject_is_sensor=False)
    assert ",sensor=" not in line.split(" ")[0]


def test_silence_added_by_another_process_takes_effect_at_the_next_tick(tmp_path: Path) -> None:
    path = tmp_path / "alarms.sqlite"
    running = AlarmManager(AlarmStore(path))
    other = AlarmManager(AlarmStore(path))  # e.g. `ews silence add` while the hub runs
    other.add_silence("area", "centre", T0, T0 + 60 * MIN, "Георги", "drill in the centre")
    running.tick(T0)
    (raised,) = running.apply(cond("yellow", T0 + MIN))
    assert not raised.notify
