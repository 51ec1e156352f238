"""Message composition: segment counting by the GSM 03.38 / UCS-2 rules, the official Bulgarian
transliteration, and public messages that always fit the configured number of segments for
every area of the Kazanlak site, hazard, level and language."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.config import load_config
from hub.notify.messages import (GSM7_BASIC, GSM7_EXTENSION, MessageInput, MessageStyle, compose, count_segments,
                                 staff_text, transliterate_bg)

KAZANLAK = Path(__file__).resolve().parents[2] / "examples" / "kazanlak" / "site.yaml"
T0_MS = 1_764_072_300_000  # 2025-11-25 12:05 UTC = 14:05 in Sofia


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), [
    ("", "GSM-7", 0, 1),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("€" * 80, "GSM-7", 160, 1),     # extension characters cost two septets
    ("[" * 81, "GSM-7", 162, 2),
    ("я" * 70, "UCS-2", 70, 1),
    ("я" * 71, "UCS-2", 71, 2),
    ("a" * 150 + "ж", "UCS-2", 151, 3),  # one Cyrillic letter makes the whole message UCS-2
    ("я" * 134, "UCS-2", 134, 2),
    ("я" * 135, "UCS-2", 135, 3),
    ("😀" * 35, "UCS-2", 70, 1),     # outside the BMP: two UTF-16 units each
])
def test_segments(text: str, encoding: str, units: int, segments: int) -> None:
    assert count_segments(text) == (count_segments(text).__class__(encoding, units, segments))


@given(st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION) + list("абвгдежзийклмнопрстуфхцчшщъьюя")),
               max_size=600))
def test_segments_by_the_formula(text: str) -> None:
    count = count_segments(text)
    single, multi = (160, 153) if count.encoding == "GSM-7" else (70, 67)
    assert count.segments == (1 if count.units <= single else math.ceil(count.units / multi))
    assert (count.encoding == "UCS-2") == any("а" <= ch <= "я" for ch in text)


@pytest.mark.parametrize(("cyrillic", "latin"), [
    ("Щастливец", "Shtastlivets"), ("Казанлък", "Kazanlak"), ("Шипка", "Shipka"), ("Бузлуджа", "Buzludzha"),
    ("Юлия", "Yulia"), ("София", "Sofia"), ("ЖЪЛТ КОД", "ZHALT KOD"), ("Хаджидимитрово", "Hadzhidimitrovo"),
    ("Енина", "Enina"), ("Крън", "Kran"), ("Копринка", "Koprinka"), ("Ябълка", "Yabalka"), ("Цар", "Tsar"),
    ("Тунджа – Дерелика", "Tundzha - Derelika"), ("синия", "sinia"), ("Ияна", "Iyana"), ("Чешма", "Cheshma"),
    ("Гьоте", "Gyote"), ("Йордан", "Yordan"),
])
def test_official_transliteration(cyrillic: str, latin: str) -> None:
    assert transliterate_bg(cyrillic) == latin


@given(st.text(alphabet=st.sampled_from(list("абвгдежзийклмнопрстуфхцчшщъьюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЬЮЯ .,:–"))))
def test_transliterated_text_is_gsm7(text: str) -> None:
    assert count_segments(transliterate_bg(text)).encoding == "GSM-7"


def _inputs() -> list[tuple[MessageInput, str]]:
    config = load_config(KAZANLAK)
    cases = []
    for area in config.areas:
        for hazard in ("flood", "rain", "dam", "fire", "earthquake", "technical"):
            for level in ("yellow", "orange", "red"):
                for language in ("bg", "en"):
                    name = area.name if language == "bg" else (area.name_en or area.name)
                    cases.append((MessageInput("warning", hazard, level, name, T0_MS,
                                               escalated_from="yellow" if level != "yellow" else None), language))
                    cases.append((MessageInput("all_clear", hazard, level, name, T0_MS), language))
    return cases


@pytest.mark.parametrize("max_segments", [1, 2, 3])
@pytest.mark.parametrize("transliterate", [False, True])
def test_every_public_message_fits_the_limit(max_segments: int, transliterate: bool) -> None:
    style = MessageStyle(max_segments=max_segments, transliterate=transliterate, signature_bg="Община Казанлък",
                         signature_en="Kazanlak Municipality")
    for item, language in _inputs():
        text = compose(item, language, style)  # type: ignore[arg-type]
        assert count_segments(text).segments <= max_segments, text
        assert item.area_name in text or transliterate_bg(item.area_name) in text or text.endswith("…"), text
        if transliterate:
            assert count_segments(text).encoding == "GSM-7" or "–" in item.area_name, text


def test_warning_says_where_what_how_bad_what_to_do_and_when() -> None:
    style = MessageStyle(max_segments=3, signature_bg="Община Казанлък", signature_en="Kazanlak Municipality")
    red = MessageInput("warning", "flood", "red", "Дерелика", T0_MS, escalated_from="orange")
    assert compose(red, "bg", style) == (
        "ЧЕРВЕН КОД (много опасно), повишен от оранжев: Опасност от наводнение – Дерелика, 25.11. в 14:05 ч. "
        "Качете се веднага на по-високо място. Не влизайте във водата. При опасност: 112. Община Казанлък")
    english = MessageInput("warning", "flood", "red", "Derelika", T0_MS)
    assert compose(english, "en", style) == (
        "RED (take action): Flood warning - Derelika, 25 Nov 14:05. Move to higher ground now. "
        "Do not enter flood water. Emergency: 112. Kazanlak Municipality")
    assert count_segments(compose(english, "en", style)).encoding == "GSM-7"
    clear = MessageInput("all_clear", "rain", "orange", "Шипка", T0_MS)
    assert compose(clear, "bg", style) == ("ОТБОЙ за Шипка: край на предупреждението за интензивни валежи "
                                           "(25.11. в 14:05 ч.). Следете указанията на общината. Община Казанлък")
    # One segment: the signature and the long advice give way, the essentials stay.
    short = compose(red, "bg", MessageStyle(max_segments=1, signature_bg="Община Казанлък"))
    assert short == "ЧЕРВЕН КОД: Наводнение, Дерелика. Качете се на високо. 112."
    assert count_segments(short).segments == 1


def test_summer_time_is_used_in_messages() -> None:
    july = 1_783_000_000_000  # 2026-07-02 13:46:40 UTC = 16:46 in Sofia (UTC+3)
    text = compose(MessageInput("warning", "fire", "orange", "Шипка", july), "bg", MessageStyle())
    assert "02.07. в 16:46 ч." in text


def test_staff_text_names_the_alarm() -> None:
    text = staff_text(MessageInput("staff", "technical", "info", "Енина", T0_MS, rule="gauge-silent", alarm_id=12,
                                   event_kind="reminder"), "en", MessageStyle())
    assert text == ("[EWS] INFO alarm #12 NOT ACKNOWLEDGED: gauge-silent (technical), Енина, 25 Nov 14:05 "
                    "Acknowledge in the console.")
