"""The subscriber registry and its CLI: numbers validated and normalised to E.164 (Bulgarian
national forms accepted), recipients chosen by area, hazard and opt-in, a CSV import that reports
each bad row and keeps the good ones, an export that imports back unchanged; and the `notify:`
section of a site config."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli import main
from hub.config import parse_config
from hub.configbase import ConfigError
from hub.notify.subscribers import (InvalidPhoneError, Subscriber, SubscriberStore, normalise_phone, parse_csv,
                                    to_csv)

KAZANLAK = Path(__file__).resolve().parents[2] / "examples" / "kazanlak" / "site.yaml"


@pytest.mark.parametrize(("text", "e164"), [
    ("0888 123 456", "+359888123456"), ("0888123456", "+359888123456"), ("+359 888 123 456", "+359888123456"),
    ("00359888123456", "+359888123456"), ("(0898) 12-34-56", "+359898123456"), ("+44 7911 123456", "+447911123456"),
])
def test_numbers_are_normalised(text: str, e164: str) -> None:
    assert normalise_phone(text) == e164


@pytest.mark.parametrize("text", ["", "12345", "0888 1", "hello", "+359 2 987 6543", "0888 123 456 789"])
def test_bad_numbers_are_refused(text: str) -> None:
    with pytest.raises(InvalidPhoneError):
        normalise_phone(text)  # a Sofia landline (+359 2 …) cannot receive SMS


def test_recipients_by_area_hazard_and_opt_in(tmp_path: Path) -> None:
    store = SubscriberStore(tmp_path / "n.sqlite")
    store.add(Subscriber("0888 000 001", ("enina", "kran")))
    store.add(Subscriber("0888 000 002", ("enina",), ("fire",), "en"))
    store.add(Subscriber("0888 000 003", ("kran",)))
    store.add(Subscriber("0888 000 004", ("enina",)))
    store.set_opt_in("0888000004", False, "sms:STOP", 5)
    assert [s.phone for s in store.recipients("enina", "flood")] == ["+359888000001"]
    assert [s.phone for s in store.recipients("enina", "fire")] == ["+359888000001", "+359888000002"]
    store.mark_undeliverable("+359888000001", "provider:21211")
    assert [s.phone for s in store.recipients("kran", "flood")] == ["+359888000003"]
    # Re-adding replaces, it does not duplicate.
    store.add(Subscriber("+359888000003", ("enina",)))
    assert [s.phone for s in store.recipients("kran", "flood")] == []
    assert len(store.all()) == 4
    stopped = store.get("0888 000 004")
    assert stopped is not None and (stopped.opted_in, stopped.opt_changed_ms, stopped.opt_source) == (
        False, 5, "sms:STOP")


def test_csv_import_reports_each_bad_row_and_keeps_the_good() -> None:
    text = ("phone,areas,hazards,language\n"
            "0888 123 456,enina;kran,flood,bg\n"
            "12345,kran,,bg\n"
            "0888 111 222,nowhere,,bg\n"
            "0899 000 111,kran,,de\n"
            "+359 87 765 4321,kran,,en\n"
            "0888 222 333,,,bg\n")
    good, errors = parse_csv(text, frozenset(("enina", "kran")))
    assert [(s.phone, s.areas, s.hazards, s.language) for s in good] == [
        ("+359888123456", ("enina", "kran"), ("flood",), "bg"), ("+359877654321", ("kran",), (), "en")]
    assert [line for line, _ in errors] == [3, 4, 5, 7]
    assert "not a valid phone number" in errors[0][1] and "nowhere" in errors[1][1]
    assert "'de'" in errors[2][1] and "no area" in errors[3][1]
    assert parse_csv("number;area\n1;2\n", frozenset())[1][0][0] == 1
    again, problems = parse_csv(to_csv(good), frozenset(("enina", "kran")))
    assert again == good and problems == []


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(KAZANLAK.read_text())
    rows = tmp_path / "people.csv"
    rows.write_text("phone,areas,language\n0888 123 456,enina,bg\nnot a number,enina,bg\n0877 000 111,kran,en\n")
    assert main(["subscribers", "import", str(rows), "-c", str(config)]) == 1
    captured = capsys.readouterr()
    assert f"{rows}:3: 'not a number' is not a phone number" in captured.err
    assert "imported 2 subscriber(s); 1 row(s) refused" in captured.out
    assert main(["subscribers", "add", "0899 555 666", "--areas", "shipka,kran", "--hazards", "fire",
                 "--language", "en", "-c", str(config)]) == 0
    assert main(["subscribers", "add", "0899 555 667", "--areas", "atlantis", "-c", str(config)]) == 2
    assert main(["subscribers", "remove", "+359888123456", "-c", str(config)]) == 0
    assert main(["subscribers", "remove", "+359888123456", "-c", str(config)]) == 1
    capsys.readouterr()
    assert main(["subscribers", "list", "--area", "kran", "-c", str(config)]) == 0
    listing = capsys.readouterr().out
    assert "+359877000111  en  opted-in" in listing and "+359899555666" in listing and "2 subscriber(s)" in listing
    assert main(["subscribers", "export", "-c", str(config)]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert exported[0] == "phone,areas,hazards,language,opted_in,opt_changed_ms,opt_source"
    assert [line.split(",")[:4] for line in exported[1:]] == [["+359877000111", "kran", "", "en"],
                                                               ["+359899555666", "shipka;kran", "fire", "en"]]
    assert (tmp_path / "var" / "notify.sqlite").exists()


def test_notify_config_is_validated() -> None:
    base = "site: {id: s, name: S}\nareas: [{id: a, name: А, type: town}]\n"
    config = parse_config(base + """notify:
  sms:
    provider: {kind: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token_env: TWILIO_TOKEN,
               from_number: "+359888000000", validity_period_s: 600}
  staff: {on_call: [{name: Мария, phone: 0888 000 001}], escalate_after_min: 5}
""")
    assert config.notify.sms is not None and config.notify.sms.provider.kind == "twilio"
    assert parse_config(base).notify.sms is None
    with pytest.raises(ConfigError) as refused:
        parse_config(base + """notify:
  sms:
    provider: {kind: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token: secret}
    rate_per_s: 0
""")
    text = str(refused.value)
    assert "notify.sms.provider.twilio: 'auth_token' must not be written in the config file" in text
    assert "notify.sms.rate_per_s" in text
    with pytest.raises(ConfigError) as both:
        parse_config(base + """notify:
  sms:
    provider: {kind: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token_env: T,
               from_number: "+359888000000", messaging_service_sid: MG0123456789abcdef0123456789abcdef}
""")
    assert "exactly one of 'messaging_service_sid' and 'from_number'" in str(both.value)
