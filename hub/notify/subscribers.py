"""The registry of citizens who asked for warnings: phone number (validated and normalised to
E.164 with `phonenumbers`, so 0888 123 456 and +359888123456 are one person), the areas and
hazards of interest, the language, and whether they are opted in (with when and by what: the
CLI, an SMS `STOP`, the provider refusing the number). Kept in SQLite (WAL) next to the outbox."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import phonenumbers

Language = Literal["bg", "en"]
LANGUAGES: tuple[str, ...] = ("bg", "en")
CSV_COLUMNS = ("phone", "areas", "hazards", "language", "opted_in", "opt_changed_ms", "opt_source")


class InvalidPhoneError(ValueError):
    """Not a mobile number that can receive SMS."""


class SubscriberError(ValueError):
    """A request about a subscriber that cannot be carried out (unknown area, unknown number)."""


def normalise_phone(text: str, default_region: str = "BG") -> str:
    """The number in E.164 (`+359888123456`); national forms of `default_region` are accepted.
    Raises InvalidPhoneError for anything that is not a valid number able to receive SMS."""
    try:
        number = phonenumbers.parse(text.strip(), default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneError(f"{text!r} is not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneError(f"{text!r} is not a valid phone number")
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise InvalidPhoneError(f"{text!r} is not a mobile number (SMS needs one)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One citizen. `hazards` empty means every hazard. `undeliverable` holds the provider's
    reason when it refused the number permanently (e.g. Twilio 21211 invalid number)."""

    phone: str
    areas: tuple[str, ...]
    hazards: tuple[str, ...] = ()
    language: Language = "bg"
    opted_in: bool = True
    opt_changed_ms: int = 0
    opt_source: str = "cli"
    undeliverable: str | None = None

    def wants(self, area: str, hazard: str) -> bool:
        """True when this person should get warnings of `hazard` for `area`."""
        return (self.opted_in and self.undeliverable is None and area in self.areas
                and (not self.hazards or hazard in self.hazards))


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: rows added or updated, and each bad row with its line and reason."""

    imported: int
    errors: tuple[tuple[int, str], ...]


class SubscriberStore:
    """The SQLite table of subscribers. Safe to use from several threads."""

    def __init__(self, path: Path | str, default_region: str = "BG"):
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self.default_region = default_region
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS subscriber (
                phone TEXT PRIMARY KEY, areas TEXT NOT NULL, hazards TEXT NOT NULL, language TEXT NOT NULL,
                opted_in INTEGER NOT NULL, opt_changed_ms INTEGER NOT NULL, opt_source TEXT NOT NULL,
                undeliverable TEXT);
            CREATE TABLE IF NOT EXISTS subscriber_area (
                area TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (area, phone));
            """
        )

    def add(self, subscriber: Subscriber) -> Subscriber:
        """Insert or replace a subscriber (its number normalised)."""
        phone = normalise_phone(subscriber.phone, self.default_region)
        if not subscriber.areas:
            raise SubscriberError("a subscriber needs at least one area")
        if subscriber.language not in LANGUAGES:
            raise SubscriberError(f"unknown language {subscriber.language!r} (bg or en)")
        stored = replace(subscriber, phone=phone, areas=tuple(dict.fromkeys(subscriber.areas)),
                         hazards=tuple(dict.fromkeys(subscriber.hazards)))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._write(stored)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return stored

    def add_many(self, subscribers: Iterable[Subscriber]) -> int:
        """Insert or replace many already-normalised subscribers in one transaction (imports,
        benchmarks); returns how many."""
        count = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for subscriber in subscribers:
                    self._write(subscriber)
                    count += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return count

    def _write(self, s: Subscriber) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO subscriber VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (s.phone, json.dumps(list(s.areas)), json.dumps(list(s.hazards)), s.language, int(s.opted_in),
             s.opt_changed_ms, s.opt_source, s.undeliverable),
        )
        self._db.execute("DELETE FROM subscriber_area WHERE phone = ?", (s.phone,))
        self._db.executemany("INSERT INTO subscriber_area VALUES (?, ?)", [(a, s.phone) for a in s.areas])

    def remove(self, phone: str) -> None:
        """Delete a subscriber entirely (the person asked to be forgotten)."""
        number = normalise_phone(phone, self.default_region)
        with self._lock:
            removed = self._db.execute("DELETE FROM subscriber WHERE phone = ?", (number,)).rowcount
            self._db.execute("DELETE FROM subscriber_area WHERE phone = ?", (number,))
        if not removed:
            raise SubscriberError(f"no subscriber {number}")

    def get(self, phone: str) -> Subscriber | None:
        """One subscriber by number (any accepted form), or None."""
        try:
            number = normalise_phone(phone, self.default_region)
        except InvalidPhoneError:
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM subscriber WHERE phone = ?", (number,)).fetchone()
        return _from_row(row) if row else None

    def all(self) -> list[Subscriber]:
        """Every subscriber, by number."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM subscriber ORDER BY phone").fetchall()
        return [_from_row(row) for row in rows]

    def recipients(self, area: str, hazard: str) -> list[Subscriber]:
        """Subscribers who want warnings of `hazard` for `area`, opted in and deliverable."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.* FROM subscriber_area a JOIN subscriber s ON s.phone = a.phone "
                "WHERE a.area = ? AND s.opted_in = 1 AND s.undeliverable IS NULL ORDER BY s.phone", (area,)
            ).fetchall()
        return [s for s in map(_from_row, rows) if s.wants(area, hazard)]

    def set_opt_in(self, phone: str, opted_in: bool, source: str, now_ms: int) -> Subscriber:
        """Record an opt-in or opt-out (STOP/START by SMS, the CLI, the provider)."""
        current = self.get(phone)
        if current is None:
            raise SubscriberError(f"no subscriber {phone}")
        changed = replace(current, opted_in=opted_in, opt_changed_ms=now_ms, opt_source=source)
        with self._lock:
            self._db.execute("UPDATE subscriber SET opted_in = ?, opt_changed_ms = ?, opt_source = ? WHERE phone = ?",
                             (int(opted_in), now_ms, source, changed.phone))
        return changed

    def mark_undeliverable(self, phone: str, reason: str) -> None:
        """The provider refused the number for good: no further messages until it is re-added."""
        with self._lock:
            self._db.execute("UPDATE subscriber SET undeliverable = ? WHERE phone = ?", (reason, phone))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _from_row(row: Sequence) -> Subscriber:
    return Subscriber(phone=row[0], areas=tuple(json.loads(row[1])), hazards=tuple(json.loads(row[2])),
                      language=row[3], opted_in=bool(row[4]), opt_changed_ms=row[5], opt_source=row[6],
                      undeliverable=row[7])


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").replace(";", ",").replace(" ", ",").split(",") if part.strip())


def parse_csv(text: str, known_areas: frozenset[str], default_region: str = "BG",
              now_ms: int = 0, source: str = "import") -> tuple[list[Subscriber], list[tuple[int, str]]]:
    """Subscribers from CSV text with a header row (`phone,areas[,hazards][,language]`; lists
    separated by `;` or spaces). Returns the good rows and, for each bad row, its line number
    and reason: a bad row never keeps the good ones out."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "phone" not in reader.fieldnames or "areas" not in reader.fieldnames:
        return [], [(1, "the first line must name the columns, with at least 'phone' and 'areas'")]
    good: dict[str, Subscriber] = {}
    errors: list[tuple[int, str]] = []
    for row in reader:
        line = reader.line_num
        try:
            phone = normalise_phone(row.get("phone") or "", default_region)
        except InvalidPhoneError as error:
            errors.append((line, str(error)))
            continue
        areas = _split(row.get("areas"))
        unknown = [a for a in areas if a not in known_areas]
        if not areas or unknown:
            errors.append((line, f"unknown area(s) {', '.join(unknown)}" if unknown else "no area given"))
            continue
        language = (row.get("language") or "bg").strip().lower()
        if language not in LANGUAGES:
            errors.append((line, f"unknown language {language!r} (bg or en)"))
            continue
        opted = (row.get("opted_in") or "1").strip().lower() not in ("0", "false", "no")
        good[phone] = Subscriber(phone, areas, _split(row.get("hazards")), language, opted,  # type: ignore[arg-type]
                                 int(row.get("opt_changed_ms") or now_ms), (row.get("opt_source") or source).strip())
    return list(good.values()), errors


def to_csv(subscribers: Iterable[Subscriber]) -> str:
    """CSV text that `parse_csv` reads back unchanged."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in subscribers:
        writer.writerow([s.phone, ";".join(s.areas), ";".join(s.hazards), s.language, int(s.opted_in),
                         s.opt_changed_ms, s.opt_source])
    return out.getvalue()
