"""The Twilio webhooks on the hub's HTTP server: requests without Twilio's signature or with a
forged one are refused and change nothing; a signed STOP (or СТОП) stops further messages to that
number, with a reply in the person's language; START (СТАРТ) resumes them; delivery reports
move a message's state forward only."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.conftest import wait_until
from tests.notify.helpers import TOKEN_ENV, RunningService, event, free_port, phone, population, twilio_notify_config
from tests.notify.twilio_server import AUTH_TOKEN, Behaviour, FakeTwilio


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, AUTH_TOKEN)


def signed_post(url: str, data: dict[str, str], token: str = AUTH_TOKEN) -> requests.Response:
    signature = RequestValidator(token).compute_signature(url, data)
    return requests.post(url, data=data, headers={"X-Twilio-Signature": signature}, timeout=10)


def reply_text(response: requests.Response) -> str:
    assert response.headers["content-type"].startswith("text/xml")
    return ElementTree.fromstring(response.content).findtext("Message") or ""


def test_forged_and_unsigned_requests_are_refused(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with RunningService(twilio_notify_config("http://127.0.0.1:9", port), tmp_path) as running:
        service = running.service
        service.subscribers.add_many(population(3))
        wait_until(lambda: service.http is not None and service.http.port == port, what="HTTP server")
        stop = {"From": phone(1), "Body": "STOP", "To": "+35924000000", "MessageSid": "SM" + "1" * 32}
        unsigned = requests.post(f"{base}/twilio/inbound", data=stop, timeout=10)
        forged = signed_post(f"{base}/twilio/inbound", stop, token="0" * 32)
        tampered_sig = RequestValidator(AUTH_TOKEN).compute_signature(f"{base}/twilio/inbound", stop)
        tampered = requests.post(f"{base}/twilio/inbound", data=stop | {"From": phone(2)},
                                 headers={"X-Twilio-Signature": tampered_sig}, timeout=10)
        status = signed_post(f"{base}/twilio/status", {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"},
                             token="0" * 32)
        assert [r.status_code for r in (unsigned, forged, tampered, status)] == [403, 403, 403, 403]
        assert service.webhooks.refused == 4
        assert all(s.opted_in for s in service.subscribers.all())
        assert requests.get(f"{base}/twilio/inbound", timeout=10).status_code == 405
        assert requests.post(f"{base}/other", timeout=10).status_code == 404


def test_stop_stops_further_messages_and_start_resumes(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fake = FakeTwilio(Behaviour(expect_validity_period="3600",
                                expect_status_callback=f"{base}/twilio/status")).start()
    try:
        with RunningService(twilio_notify_config(fake.base_url, port), tmp_path) as running:
            service = running.service
            service.subscribers.add_many(population(6))  # 0 and 3 English, the rest Bulgarian
            wait_until(lambda: service.http is not None and service.http.port == port, what="HTTP server")
            running.call(lambda: service.citizens(event(1)))
            wait_until(lambda: service.outbox.state_counts().get("delivered") == 6, what="first warning delivered")

            bulgarian = signed_post(f"{base}/twilio/inbound", {"From": phone(1), "Body": "стоп", "To": "+35924000000"})
            english = signed_post(f"{base}/twilio/inbound", {"From": phone(3), "Body": " Stop ", "To": "+35924000000"})
            assert bulgarian.status_code == english.status_code == 200
            assert reply_text(bulgarian) == "Спряхте предупрежденията. За подновяване изпратете СТАРТ."
            assert reply_text(english) == "You will get no more warnings. Send START to resume."
            stopped = service.subscribers.get(phone(1))
            assert not stopped.opted_in and stopped.opt_source == "sms:СТОП"

            running.call(lambda: service.citizens(event(2, kind="cleared", state="cleared")))
            running.call(lambda: service.citizens(event(3, alarm_id=2, level="orange")))
            wait_until(lambda: service.outbox.state_counts().get("delivered") == 14, what="all-clear and warning")
            assert fake.to_numbers()[phone(1)] == 1 and fake.to_numbers()[phone(3)] == 1
            assert fake.to_numbers()[phone(2)] == 3

            again = signed_post(f"{base}/twilio/inbound", {"From": "0880000001", "Body": "СТАРТ", "To": "+35924000000"})
            assert reply_text(again) == "Предупрежденията са подновени. За спиране изпратете СТОП."
            running.call(lambda: service.citizens(event(4, alarm_id=3, level="yellow")))
            wait_until(lambda: service.outbox.state_counts().get("delivered") == 19, what="next warning")
            assert fake.to_numbers()[phone(1)] == 2 and fake.to_numbers()[phone(3)] == 1

            unknown = signed_post(f"{base}/twilio/inbound", {"From": "+359899999999", "Body": "STOP", "To": "+3592"})
            assert reply_text(unknown).startswith("This number is not subscribed")
            help_reply = signed_post(f"{base}/twilio/inbound", {"From": phone(2), "Body": "какво е това?"})
            assert "СТОП" in reply_text(help_reply)
        assert fake.problems == [] and fake.callback_failures == []
    finally:
        fake.stop()


def test_delivery_reports_never_move_a_message_back(tmp_path: Path) -> None:
    from hub.notify.outbox import Outbox, OutgoingMessage

    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.enqueue(1, 0, 1, "r", "raised", [OutgoingMessage("1:+1", 1, 1, "r", "a", "warning", "+1", "bg", "x", 1)], 0)
    # The delivery report overtakes the answer to the request itself.
    [message] = outbox.claim(10, 0)
    assert outbox.apply_status("SMX", "delivered", None, 1) is False
    outbox.mark_sent(message, "SMX", "queued", 2)
    assert outbox.messages()[0].state == "delivered"
    assert outbox.apply_status("SMX", "sent", None, 3) is True
    assert outbox.messages()[0].state == "delivered"
    assert outbox.event_counts()[0].delivered == 1
