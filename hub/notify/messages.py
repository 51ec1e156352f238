"""Message composition, pure: the text of a public warning, an all-clear and a staff alert from
an alarm and the area's names, in Bulgarian or English; SMS segment counting (GSM 03.38 7-bit
alphabet vs UCS-2, 3GPP TS 23.038 / 23.040: 160/153 septets or 70/67 UTF-16 units a segment);
transliteration of Bulgarian to Latin by the official system (Закон за транслитерацията, ДВ бр.
19/2009: щ→sht, ъ→a, ю→yu, я→ya, word-final -ия→ia). A public message is shortened step by step
(signature, then the advice) until it fits the configured number of segments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

Language = Literal["bg", "en"]
MessageKind = Literal["warning", "all_clear", "staff"]

# GSM 03.38 default alphabet and its extension table (an extension character costs two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """How an SMS text travels: its encoding, its length in that encoding's units (septets or
    UTF-16 code units) and the number of segments it takes."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    segments: int


def count_segments(text: str) -> SegmentCount:
    """Segments of `text`: GSM-7 when every character is in the GSM 03.38 alphabet (160 septets
    in one segment, 153 a segment when concatenated), otherwise UCS-2 (70 / 67 UTF-16 units).
    Any Cyrillic letter therefore makes the whole message UCS-2."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
        encoding = "UCS-2"
    segments = 1 if units <= single else math.ceil(units / multi)
    return SegmentCount(encoding, units, segments)


_TRANSLIT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i", "й": "y",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sht", "ъ": "a", "ь": "y", "ю": "yu", "я": "ya",
}
# Punctuation outside GSM-7 that would make a transliterated message UCS-2 again.
_PUNCTUATION = {"–": "-", "—": "-", "„": '"', "“": '"', "”": '"', "’": "'", "…": "...", "№": "No."}


def transliterate_bg(text: str) -> str:
    """Bulgarian Cyrillic to Latin by the official system of the Transliteration Act (2009):
    `Щастливец` → `Shtastlivets`, `България` → `Bulgaria`, `ЖЪЛТ` → `ZHALT`. Other characters pass."""
    out: list[str] = []
    for index, ch in enumerate(text):
        lower = ch.lower()
        if lower in _TRANSLIT:
            latin = _TRANSLIT[lower]
            # -ия at the end of a word is written -ia (България → Bulgaria).
            if lower == "я" and index > 0 and text[index - 1].lower() == "и" \
                    and (index + 1 == len(text) or not text[index + 1].isalpha()):
                latin = "a"
            if ch != lower:
                neighbours = text[max(0, index - 1):index] + text[index + 1:index + 2]
                all_caps = any(n.isalpha() and n.isupper() for n in neighbours)
                latin = latin.upper() if all_caps else latin.capitalize()
            out.append(latin)
        else:
            out.append(_PUNCTUATION.get(ch, ch))
    return "".join(out)


LEVEL_WORDS: dict[Language, dict[str, str]] = {
    "bg": {"yellow": "ЖЪЛТ КОД (потенциално опасно)", "orange": "ОРАНЖЕВ КОД (опасно)",
           "red": "ЧЕРВЕН КОД (много опасно)", "info": "ТЕХНИЧЕСКА"},
    "en": {"yellow": "YELLOW (be aware)", "orange": "ORANGE (be prepared)", "red": "RED (take action)",
           "info": "TECHNICAL"},
}
LEVEL_SHORT: dict[Language, dict[str, str]] = {
    "bg": {"yellow": "ЖЪЛТ КОД", "orange": "ОРАНЖЕВ КОД", "red": "ЧЕРВЕН КОД", "info": "ИНФО"},
    "en": {"yellow": "YELLOW", "orange": "ORANGE", "red": "RED", "info": "INFO"},
}
HAZARD_WORDS: dict[Language, dict[str, str]] = {
    "bg": {"flood": "опасност от наводнение", "rain": "интензивни валежи", "dam": "опасност от язовира",
           "fire": "горски пожар", "earthquake": "земетресение", "": "опасност"},
    "en": {"flood": "flood warning", "rain": "heavy rain", "dam": "dam hazard", "fire": "wildfire",
           "earthquake": "earthquake", "": "warning"},
}
# What to do, per hazard and level: (full advice, short advice used when the full one is too long).
ADVICE: dict[Language, dict[str, dict[str, tuple[str, str]]]] = {
    "bg": {
        "flood": {
            "yellow": ("Следете нивото на реката и указанията на общината.", "Следете реката."),
            "orange": ("Стойте далеч от реката. Преместете колите и ценностите на високо.", "Стойте далеч от реката."),
            "red": ("Качете се веднага на по-високо място. Не влизайте във водата. При опасност: 112.",
                    "Качете се на високо. 112."),
        },
        "rain": {
            "yellow": ("Внимавайте край реки, дерета и подлези.", "Внимавайте край реки."),
            "orange": ("Избягвайте ниските места, реките и подлезите. Не паркирайте до дерета.",
                       "Избягвайте ниските места."),
            "red": ("Останете на по-високо място и не пътувайте. При опасност: 112.", "Не пътувайте. 112."),
        },
        "dam": {
            "yellow": ("Следете указанията на общината.", "Следете указанията."),
            "orange": ("Подгответе се за извеждане: документи, лекарства, вода.", "Подгответе се за извеждане."),
            "red": ("Напуснете веднага ниските места към по-високо. При опасност: 112.", "Към по-високо веднага. 112."),
        },
        "fire": {
            "yellow": ("Не палете огън в гората и край нея.", "Не палете огън."),
            "orange": ("Не влизайте в гората. При дим затворете прозорците.", "Не влизайте в гората."),
            "red": ("Напуснете района по указание на властите. При опасност: 112.", "Напуснете района. 112."),
        },
        "earthquake": {
            "yellow": ("Проверете за щети и пазете се от падащи предмети.", "Пазете се от падащи предмети."),
            "orange": ("Излезте на открито, далеч от сгради и стълбове. При нужда: 112.", "Излезте на открито. 112."),
            "red": ("Излезте на открито, далеч от сгради и стълбове. При нужда: 112.", "Излезте на открито. 112."),
        },
        "": {
            "yellow": ("Следете указанията на общината.", "Следете указанията."),
            "orange": ("Следете указанията на общината. При опасност: 112.", "При опасност: 112."),
            "red": ("Следвайте указанията на властите. При опасност: 112.", "При опасност: 112."),
        },
    },
    "en": {
        "flood": {
            "yellow": ("Watch the river and follow the municipality's advice.", "Watch the river."),
            "orange": ("Keep away from the river. Move cars and valuables to higher ground.", "Keep away from the river."),
            "red": ("Move to higher ground now. Do not enter flood water. Emergency: 112.", "Move to higher ground. 112."),
        },
        "rain": {
            "yellow": ("Take care near rivers, gullies and underpasses.", "Take care near rivers."),
            "orange": ("Avoid low ground, rivers and underpasses. Do not park by gullies.", "Avoid low ground."),
            "red": ("Stay on higher ground and do not travel. Emergency: 112.", "Do not travel. 112."),
        },
        "dam": {
            "yellow": ("Follow the municipality's advice.", "Follow official advice."),
            "orange": ("Be ready to leave: documents, medicines, water.", "Be ready to leave."),
            "red": ("Leave low ground for higher ground now. Emergency: 112.", "Go to higher ground now. 112."),
        },
        "fire": {
            "yellow": ("Do not light fires in or near the forest.", "No fires."),
            "orange": ("Do not enter the forest. Close windows if there is smoke.", "Keep out of the forest."),
            "red": ("Leave the area as the authorities direct. Emergency: 112.", "Leave the area. 112."),
        },
        "earthquake": {
            "yellow": ("Check for damage and beware of falling objects.", "Beware of falling objects."),
            "orange": ("Go outside, away from buildings and poles. Emergency: 112.", "Go outside. 112."),
            "red": ("Go outside, away from buildings and poles. Emergency: 112.", "Go outside. 112."),
        },
        "": {
            "yellow": ("Follow the municipality's advice.", "Follow official advice."),
            "orange": ("Follow the municipality's advice. Emergency: 112.", "Emergency: 112."),
            "red": ("Follow the authorities' instructions. Emergency: 112.", "Emergency: 112."),
        },
    },
}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class MessageInput:
    """Everything a message says, as plain values (taken from an alarm event by the caller)."""

    kind: MessageKind
    hazard: str
    level: str
    area_name: str
    ts_ms: int
    escalated_from: str | None = None
    rule: str = ""
    alarm_id: int = 0
    event_kind: str = ""


@dataclass(frozen=True, slots=True)
class MessageStyle:
    """How messages are written for a site: its time zone, segment limit, transliteration and the
    signature per language (e.g. `Община Казанлък`)."""

    timezone: str = "Europe/Sofia"
    max_segments: int = 3
    transliterate: bool = False
    signature_bg: str = ""
    signature_en: str = ""


def local_time(ts_ms: int, timezone: str, language: Language) -> str:
    """`25.11. в 14:05 ч.` / `25 Nov 14:05`, in the site's local time."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(ZoneInfo(timezone))
    if language == "bg":
        return f"{moment:%d.%m.} в {moment:%H:%M} ч."
    return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment:%H:%M}"


LEVEL_COLOUR: dict[Language, dict[str, str]] = {
    "bg": {"yellow": "жълт", "orange": "оранжев", "red": "червен", "info": "технически"},
    "en": {"yellow": "yellow", "orange": "orange", "red": "red", "info": "info"},
}
HAZARD_SHORT: dict[Language, dict[str, str]] = {
    "bg": {"flood": "Наводнение", "rain": "Силни валежи", "dam": "Язовир", "fire": "Пожар",
           "earthquake": "Земетресение", "": "Опасност"},
    "en": {"flood": "Flood", "rain": "Heavy rain", "dam": "Dam", "fire": "Wildfire", "earthquake": "Earthquake",
           "": "Hazard"},
}
# The warning an all-clear ends: "край на предупреждението за наводнение".
HAZARD_ENDED: dict[Language, dict[str, str]] = {
    "bg": {"flood": "наводнение", "rain": "интензивни валежи", "dam": "опасност от язовира",
           "fire": "горски пожар", "earthquake": "земетресение", "": "опасност"},
    "en": {"flood": "flood", "rain": "heavy rain", "dam": "dam", "fire": "wildfire", "earthquake": "earthquake",
           "": "hazard"},
}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _candidates(item: MessageInput, language: Language, style: MessageStyle) -> list[str]:
    """The message from fullest to shortest; the caller takes the first that fits."""
    hazard = item.hazard if item.hazard in HAZARD_WORDS[language] else ""
    when = local_time(item.ts_ms, style.timezone, language)
    signature = style.signature_bg if language == "bg" else style.signature_en
    # English stays in the GSM-7 alphabet (a hyphen, not a dash): one segment is 160 characters.
    dash = "–" if language == "bg" else "-"
    if item.kind == "all_clear":
        ended = HAZARD_ENDED[language][hazard]
        if language == "bg":
            body = [f"ОТБОЙ за {item.area_name}: край на предупреждението за {ended} ({when}).",
                    "Следете указанията на общината."]
        else:
            body = [f"ALL CLEAR for {item.area_name}: the {ended} warning has ended ({when}).",
                    "Keep following official advice."]
        variants = [body + [signature], body, body[:1]]
    else:
        level = item.level if item.level in ("yellow", "orange", "red") else "yellow"
        full, short = ADVICE[language][hazard][level]
        what = _capital(HAZARD_WORDS[language][hazard])
        raised = ""
        if item.escalated_from in LEVEL_COLOUR[language]:
            word = "повишен от" if language == "bg" else "raised from"
            raised = f", {word} {LEVEL_COLOUR[language][item.escalated_from]}"
        place = f"{item.area_name}, {when}" + ("" if language == "bg" else ".")
        head = f"{LEVEL_WORDS[language][level]}{raised}: {what} {dash} {place}"
        head_short = f"{LEVEL_SHORT[language][level]}{raised}: {what} {dash} {place}"
        # The last resort drops the time and the escalation note: level, hazard, place, advice.
        bare = f"{LEVEL_SHORT[language][level]}: {HAZARD_SHORT[language][hazard]}, {item.area_name}."
        variants = [[head, full, signature], [head, full], [head, short], [head_short, short], [bare, short]]
    return [" ".join(part for part in parts if part) for parts in variants]


def compose(item: MessageInput, language: Language, style: MessageStyle) -> str:
    """The SMS text for a citizen: the fullest variant within `style.max_segments`, transliterated
    when the style asks for it and the language is Bulgarian. Staff messages are never shortened."""
    if item.kind == "staff":
        return staff_text(item, language, style)
    candidates = _candidates(item, language, style)
    if style.transliterate and language == "bg":
        candidates = [transliterate_bg(text) for text in candidates]
    for text in candidates:
        if count_segments(text).segments <= style.max_segments:
            return text
    # The shortest variant is over the limit only with a very long area name: cut the text itself.
    text = candidates[-1]
    while count_segments(text + "…").segments > style.max_segments:
        text = text[:-1]
    return text + "…"


_STAFF_EVENT_WORDS: dict[Language, dict[str, str]] = {
    "bg": {"raised": "вдигната", "reraised": "отново активна", "escalated": "повишена", "deescalated": "понижена",
           "cleared": "отминала", "acknowledged": "потвърдена", "reminder": "НЕПОТВЪРДЕНА", "closed": "затворена"},
    "en": {"raised": "raised", "reraised": "active again", "escalated": "escalated", "deescalated": "lowered",
           "cleared": "cleared", "acknowledged": "acknowledged", "reminder": "NOT ACKNOWLEDGED",
           "closed": "closed"},
}


def staff_text(item: MessageInput, language: Language, style: MessageStyle) -> str:
    """A staff alert: level, what happened, rule, area, alarm number and local time."""
    level = LEVEL_SHORT[language].get(item.level, item.level.upper())
    event = _STAFF_EVENT_WORDS[language].get(item.event_kind, item.event_kind)
    when = local_time(item.ts_ms, style.timezone, language)
    if language == "bg":
        text = (f"[EWS] {level} аларма #{item.alarm_id} {event}: {item.rule} ({item.hazard}), {item.area_name}, "
                f"{when} Потвърдете в конзолата.")
    else:
        text = (f"[EWS] {level} alarm #{item.alarm_id} {event}: {item.rule} ({item.hazard}), {item.area_name}, "
                f"{when} Acknowledge in the console.")
    return transliterate_bg(text) if style.transliterate and language == "bg" else text
