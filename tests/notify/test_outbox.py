"""The outbox and the citizen fan-out without a network: one message per (event, recipient)
whatever happens twice; events the alarm manager stored but that were never fanned out (the hub
died in between) are fanned out at the next start if recent, never twice; the all-clear goes
only to those warned; messages in flight at a crash are settled by asking the provider."""

from __future__ import annotations

from pathlib import Path

from hub.alarms import AlarmManager, AlarmStore
from hub.notify.citizens import CitizenNotifier
from hub.notify.config import SmsConfig
from hub.notify.messages import MessageStyle
from hub.notify.outbox import Outbox
from hub.notify.providers import Receipt
from hub.notify.sender import Sender
from hub.notify.subscribers import Subscriber, SubscriberStore
from hub.types import Condition
from tests.notify.helpers import AREAS, T0_MS, event, phone, population


def parts(tmp_path: Path, now_ms: int = T0_MS) -> tuple[Outbox, SubscriberStore, CitizenNotifier]:
    subscribers = SubscriberStore(tmp_path / "n.sqlite")
    outbox = Outbox(tmp_path / "n.sqlite")
    notifier = CitizenNotifier(outbox, subscribers, AREAS, MessageStyle(), lambda: None, lambda: now_ms)
    return outbox, subscribers, notifier


def condition(level: str | None, ts_ms: int) -> Condition:
    return Condition("centre-river", "1", "centre", "centre", level, "public", "flood", ts_ms)  # type: ignore[arg-type]


def test_fan_out_twice_stores_once_and_all_clear_goes_to_those_warned(tmp_path: Path) -> None:
    outbox, subscribers, notifier = parts(tmp_path)
    subscribers.add_many(population(5))
    assert notifier.fan_out(event(1)) == 5
    assert notifier.fan_out(event(1)) == 0
    subscribers.add(Subscriber(phone(100), ("centre",)))  # joined after the warning
    subscribers.set_opt_in(phone(2), False, "sms:STOP", T0_MS)
    assert outbox.skip_pending(phone(2), T0_MS, "opted out") == 1
    assert notifier.fan_out(event(2, kind="cleared", state="cleared")) == 4
    cleared = [m.phone for m in outbox.messages(event_seq=2)]
    assert cleared == [phone(0), phone(1), phone(3), phone(4)]
    assert notifier.fan_out(event(3, kind="acknowledged")) == 0
    assert notifier.fan_out(event(4, kind="raised", audience="staff")) == 0
    counts = outbox.event_counts()
    assert [(c.event_seq, c.queued, c.failed) for c in counts] == [(1, 5, 0), (2, 4, 0)]


def test_events_stored_but_not_fanned_out_are_caught_up_once(tmp_path: Path) -> None:
    store = AlarmStore(tmp_path / "alarms.sqlite")
    manager = AlarmManager(store)
    old = manager.apply(condition("red", T0_MS - 3_600_000))            # an hour old: let go
    manager.apply(condition(None, T0_MS - 3_500_000))
    recent = manager.apply(condition("orange", T0_MS - 60_000))        # a minute old: sent now
    assert old and recent
    outbox, subscribers, notifier = parts(tmp_path)
    subscribers.add_many(population(3))
    assert notifier.catch_up(store.events(), max_age_s=900) == 3
    assert {m.event_seq for m in outbox.messages()} == {recent[0].seq}
    assert notifier.catch_up(store.events(), max_age_s=900) == 0
    assert outbox.cursor() == store.events()[-1]["seq"]
    # A restart after the fan-out of the next event but before anything else: nothing twice.
    escalated = manager.apply(condition("red", T0_MS - 30_000))
    assert notifier.fan_out(escalated[0]) == 3
    assert notifier.catch_up(store.events(), max_age_s=900) == 0


class Remembering:
    """A provider that has already accepted one of the messages (before the crash)."""

    name = "remembering"

    def __init__(self, known: str):
        self.known = known
        self.sent: list[str] = []

    def send(self, to: str, body: str) -> Receipt:
        self.sent.append(to)
        return Receipt(f"SM{len(self.sent)}", "queued")

    def find_sent(self, to: str, body: str, since_ms: int) -> Receipt | None:
        return Receipt("SMknown", "sent") if to == self.known else None


def test_messages_in_flight_at_a_crash_are_looked_up_not_resent(tmp_path: Path) -> None:
    outbox, subscribers, notifier = parts(tmp_path)
    subscribers.add_many(population(4))
    notifier.fan_out(event(1))
    in_flight = outbox.claim(2, T0_MS)  # then the process died
    assert [m.state for m in outbox.in_flight()] == ["sending", "sending"]
    provider = Remembering(in_flight[0].phone)
    sender = Sender(outbox, provider, SmsConfig(), subscribers, lambda: T0_MS)
    sender.reconcile()
    states = {m.phone: (m.state, m.provider_sid) for m in outbox.messages()}
    assert states[in_flight[0].phone] == ("sent", "SMknown")
    assert states[in_flight[1].phone][0] == "queued"
    assert provider.sent == []
