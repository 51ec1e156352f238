"""An alarm for an area with 1,000 subscribers gives exactly one message each, in the right
language, through the real `twilio` SDK against the local Twilio stand-in, which checks every
request (path, basic auth, form fields); its signed status callbacks flow back through the
hub's webhooks into the outbox. Permanent errors mark the recipient, transient ones are retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.notify.subscribers import Subscriber
from tests.conftest import wait_until
from tests.notify.helpers import (TOKEN_ENV, RunningService, event, free_port, phone, population,
                                  twilio_notify_config)
from tests.notify.twilio_server import AUTH_TOKEN, SERVICE_SID, Behaviour, FakeTwilio


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, AUTH_TOKEN)


def test_one_message_each_in_their_language_and_delivery_reports_flow_back(tmp_path: Path) -> None:
    port = free_port()
    behaviour = Behaviour(expect_service_sid=SERVICE_SID, expect_validity_period="3600",
                          expect_status_callback=f"http://127.0.0.1:{port}/twilio/status")
    fake = FakeTwilio(behaviour).start()
    try:
        with RunningService(twilio_notify_config(fake.base_url, port), tmp_path) as running:
            service = running.service
            citizens = population(1000)
            service.subscribers.add_many(citizens)
            # Not for this alarm: another area, and someone who only wants fire warnings.
            service.subscribers.add_many([Subscriber(phone(5000 + i), ("shipka",)) for i in range(20)])
            service.subscribers.add(Subscriber(phone(6000), ("centre",), ("fire",)))
            raised = event(1)
            running.call(lambda: service.citizens(raised))
            wait_until(lambda: service.outbox.state_counts().get("delivered", 0) == 1000, timeout_s=30,
                       what="1000 delivery reports")
            # The same event again (a retried dispatch, a replay): nothing new.
            running.call(lambda: service.citizens(raised))
            wait_until(lambda: running.service.write_counts() == 0 and any("sms," in l for l in running.lines),
                       what="counts written")

        assert fake.problems == []
        assert fake.callback_failures == []
        sent = fake.to_numbers()
        assert sent == {s.phone: 1 for s in citizens}
        for received in fake.accepted:
            language = "en" if int(received.form["To"][-7:]) % 3 == 0 else "bg"
            if language == "bg":
                assert received.form["Body"].startswith("ЧЕРВЕН КОД (много опасно): Опасност от наводнение – Център")
            else:
                assert received.form["Body"].startswith("RED (take action): Flood warning - Centre")
        assert service.webhooks is not None and service.webhooks.refused == 0
        assert service.webhooks.status_reports == 2000
        last = [line for line in running.lines if line.startswith("sms,")][-1]
        assert last.startswith("sms,area=centre,rule=centre-river,site=test ")
        assert "queued=1000.0,sent=1000.0,delivered=1000.0,failed=0.0" in last
    finally:
        fake.stop()


def test_permanent_errors_mark_the_recipient_and_transient_ones_are_retried(tmp_path: Path) -> None:
    port = free_port()
    invalid, unsubscribed, throttled, erroring = phone(1), phone(2), phone(3), phone(4)
    behaviour = Behaviour(invalid={invalid}, unsubscribed={unsubscribed}, throttle_first={throttled: 2},
                          error_first={erroring: 1}, callbacks=False, expect_validity_period="3600",
                          expect_status_callback=f"http://127.0.0.1:{port}/twilio/status")
    fake = FakeTwilio(behaviour).start()
    try:
        with RunningService(twilio_notify_config(fake.base_url, port), tmp_path) as running:
            service = running.service
            service.subscribers.add_many(population(10, english_every=100))
            running.call(lambda: service.citizens(event(1)))
            wait_until(lambda: service.outbox.state_counts() == {"sent": 8, "rejected": 2}, what="outcomes")
            assert service.subscribers.get(invalid).undeliverable.startswith("provider:21211")
            opted_out = service.subscribers.get(unsubscribed)
            assert not opted_out.opted_in and opted_out.opt_source == "provider:21610"
            # Neither gets the all-clear or the next warning; the throttled ones did get theirs.
            running.call(lambda: service.citizens(event(2, kind="cleared", state="cleared")))
            running.call(lambda: service.citizens(event(3, alarm_id=2)))
            wait_until(lambda: service.outbox.state_counts().get("sent") == 24, what="all-clear and next warning")
        counts = fake.to_numbers()
        assert counts[throttled] == 3 and counts[erroring] == 3
        assert invalid not in counts and unsubscribed not in counts
        assert [r[:2] for r in fake.refusals].count((429, 20429)) == 2
        assert fake.problems == []
    finally:
        fake.stop()
